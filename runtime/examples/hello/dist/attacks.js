"use strict";
// Attacks on the IPC bridge that any script in the page could try: a compromised dependency, an injected third-party
// script, a frame. Self-test only: `app.js` loads this file in self-test mode and `frame.html` (the framed page of the
// frame attacks) loads it too. Each attack reports what it managed to do; `tests/it/attacks.rs` judges the reports and
// the events Rust received. The wire format is public (it is in the framework's source): all an attacker lacks is the
// session's secrets (the message keys, the command names, the event token).

const Attack = (() => {
  const hexOf = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  const randomHex = (n) => hexOf(crypto.getRandomValues(new Uint8Array(n)));
  const bytesOf = (hex) => new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const handles = () => Object.getOwnPropertyNames(window).filter((n) => /^_[0-9a-f]{32}$/.test(n));

  async function hmac(key, text) {
    const bytes = typeof key === "string" ? bytesOf(key) : key;
    const k = await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return hexOf(await crypto.subtle.sign("HMAC", k, new TextEncoder().encode(text)));
  }

  async function outcome(promise) {
    try {
      return { ok: true, value: await promise };
    } catch (e) {
      return { ok: false, error: String(e.message || e) };
    }
  }

  function withTimeout(promise, ms) {
    return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms))]);
  }

  // (a) Read the app's own pages, as any same-origin script can, and search them for the session's secrets: a message
  // key (64 hex digits) and command names (`c` + 24 hex digits, quoted).
  async function scrape() {
    const found = { keys: [], names: [], bodies: [] };
    for (const path of ["/", "/index.html"]) {
      try {
        const body = await (await fetch(path)).text();
        found.bodies.push(body);
        found.keys.push(...Array.from(body.matchAll(/"([0-9a-f]{64})"/g), (m) => m[1]));
        found.names.push(...Array.from(body.matchAll(/"(c[0-9a-f]{24})"/g), (m) => m[1]));
      } catch (e) {
        found.bodies.push("fetch failed: " + e.message);
      }
    }
    found.keys = [...new Set(found.keys)];
    found.names = [...new Set(found.names)];
    return found;
  }

  // (b) Forge a reply and an event from Rust, signed with each scraped key (a random one when none was found), through
  // the functions the bridge leaves on `window`. The genuine reply is held back by wrapping its handle, so the forged
  // one arrives first. Reports what the call resolved to and how many forged events reached a listener.
  async function forgeIntoPage(keys) {
    const candidates = keys.length ? keys : [randomHex(32)];
    const events = [];
    const stop = Millennium.listen("probe", (payload) => events.push(payload));
    const pending = Millennium.invoke("greet", { name: "Real" });
    await sleep(0);
    const held = handles().map((name) => [name, window[name]]);
    for (const [name, genuine] of held) {
      try {
        Object.defineProperty(window, name, {
          configurable: true,
          value: (...args) => setTimeout(() => genuine(...args), 300),
        });
      } catch (e) { /* not redefinable: the event dispatcher */ }
    }
    const text = JSON.stringify("forged");
    for (const key of candidates) {
      for (const [name, fn] of held) {
        const replyMac = await hmac(key, `rust\nreply\n${name}\n1\n\n${text}`);
        const eventMac = await hmac(key, `rust\nevent\n1000000000\nprobe\n${text}`);
        try { fn(true, text, null, replyMac); } catch (e) { /* not a reply callback */ }
        try { fn("probe", text, 1e9, eventMac); } catch (e) { /* not the dispatcher */ }
      }
    }
    const reply = await outcome(withTimeout(pending, 5000));
    await sleep(300);
    stop();
    return { key_source: keys.length ? "scraped" : "guessed", reply, forged_events: events.length };
  }

  // (e) Replace the built-ins a bridge would use after start-up (promises, WebCrypto, text encoding, JSON, array and
  // function methods) with versions that record what passes through them, make every MAC check succeed and turn every
  // `false` a promise settles with into `true`, and add `toJSON` and index setters to the prototypes of objects and
  // arrays (which see what is stored into a plain object or array, or serialised); make the bridge work (a call, an
  // event); then try to forge events with whatever key material went by, and through the dispatcher while the hooks
  // are in place. Also reports whether the page's own event listener went by (a script holding it can call it with
  // anything).
  async function hookBuiltins() {
    const seen = [];
    let recording = true;
    let inRecord = false;
    const record = (value) => {
      if (!recording || inRecord) { return; }
      inRecord = true;
      try { seen[seen.length] = value; } finally { inRecord = false; }
    };
    const hooks = [];
    const hook = (object, name, make) => {
      const original = Object.getOwnPropertyDescriptor(object, name);
      hooks[hooks.length] = [object, name, original];
      const value = make(original && original.value);
      Object.defineProperty(object, name, { configurable: true, writable: true, value });
    };
    const setter = (object, name) => {
      hooks[hooks.length] = [object, name, undefined];
      Object.defineProperty(object, name, {
        configurable: true,
        set(value) {
          record(value);
          Object.defineProperty(this, name, { value, writable: true, enumerable: true, configurable: true });
        },
      });
    };
    const forwarding = (original) => function (...args) {
      record(this);
      for (const arg of args) { record(arg); }
      return Reflect.apply(original, this, args);
    };
    hook(Promise.prototype, "then", (original) => function (onFulfilled, onRejected) {
      const spy = typeof onFulfilled !== "function" ? onFulfilled : (value) => {
        record(value);
        return onFulfilled(value === false ? true : value);
      };
      return Reflect.apply(original, this, [spy, onRejected]);
    });
    hook(SubtleCrypto.prototype, "verify", () => function (...args) {
      for (const arg of args) { record(arg); }
      return Promise.resolve(true);
    });
    hook(SubtleCrypto.prototype, "sign", forwarding);
    hook(SubtleCrypto.prototype, "importKey", forwarding);
    hook(TextEncoder.prototype, "encode", forwarding);
    hook(JSON, "stringify", forwarding);
    hook(JSON, "parse", forwarding);
    hook(String.prototype, "match", forwarding);
    for (const name of ["join", "map", "push", "slice", "forEach", "indexOf", "splice"]) {
      hook(Array.prototype, name, forwarding);
    }
    for (const name of ["call", "apply", "bind"]) { hook(Function.prototype, name, forwarding); }
    hook(Object.prototype, "toJSON", () => function () { record(this); return this; });
    for (let i = 0; i < 8; i += 1) {
      setter(Object.prototype, String(i));
      setter(Array.prototype, String(i));
    }

    const events = [];
    const onProbe = (payload) => events.push(payload);
    const stop = Millennium.listen("probe", onProbe);
    const welcome = new Promise((resolve) => {
      const off = Millennium.listen("welcome", () => { off(); resolve(); });
    });
    const call = await outcome(withTimeout(Millennium.invoke("greet", { name: "Hooked" }), 5000));
    Millennium.emit("ready", {});
    await withTimeout(welcome, 5000).catch(() => {});
    // With every MAC check "passing", a made-up event through anything that looks like the dispatcher.
    for (const name of handles()) {
      try { window[name]("probe", JSON.stringify("hooked"), 2e9, "0".repeat(64)); } catch (e) { /* not a function */ }
    }
    await sleep(300);
    recording = false;
    for (const [object, name, original] of hooks.reverse()) {
      if (original) { Object.defineProperty(object, name, original); } else { delete object[name]; }
    }

    // Command names and event tokens that went by (in strings, or in objects as JSON).
    const asText = (value) => {
      try { return typeof value === "string" ? value : JSON.stringify(value) || ""; } catch (e) { return ""; }
    };
    const namesSeen = seen.filter((value) => /\b[ce][0-9a-f]{24}\b/.test(asText(value))).length;
    // Key material that went by: CryptoKeys, 32 raw bytes, 64 hex digits.
    const keys = seen.filter((v) => v instanceof CryptoKey);
    const raw = [];
    for (const value of seen) {
      if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
        if (value.byteLength !== 32) { continue; }
        raw.push(hexOf(ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, 32) : value));
      } else if (typeof value === "string") {
        raw.push(...Array.from(value.matchAll(/[0-9a-f]{64}/g), (m) => m[0]));
      }
    }
    const candidates = [...new Set(raw)].slice(0, 64);
    const text = JSON.stringify("stolen");
    const forge = (mac) => {
      for (const name of handles()) {
        try { window[name]("probe", text, 3e9, mac); } catch (e) { /* not a function */ }
      }
    };
    for (const key of new Set(keys)) {
      if (!key.usages.includes("sign")) { continue; }
      const signed = new TextEncoder().encode(`rust\nevent\n3000000000\nprobe\n${text}`);
      forge(hexOf(await crypto.subtle.sign("HMAC", key, signed)));
    }
    for (const key of candidates) { forge(await hmac(key, `rust\nevent\n3000000000\nprobe\n${text}`)); }
    await sleep(300);
    stop();
    return {
      call,
      crypto_keys_seen: new Set(keys).size,
      listener_seen: seen.includes(onProbe),
      names_seen: namesSeen,
      signing_keys_seen: [...new Set(keys)].filter((k) => k.usages.includes("sign")).length,
      forged_events: events.length,
    };
  }

  // (c) and (d): an event for the broker `probe` posted straight on an IPC channel (`post`), signed with each key in
  // `keys` (a random one when there is none) and once unsigned, with a made-up event token. Rust prints every `probe`
  // event it accepts; `payload.via` says which attack it came from.
  async function rawEmit(post, keys, via) {
    const body = (variant) => JSON.stringify({
      t: "emit",
      broker: "probe",
      payload: { via, variant },
      token: "e" + randomHex(12),
    });
    const unsigned = body("unsigned");
    post(JSON.stringify({ page: randomHex(16), seq: 1, body: unsigned, mac: null }));
    for (const key of keys.length ? keys : [randomHex(32)]) {
      const page = randomHex(16);
      const signed = body(keys.length ? "scraped-key" : "guessed-key");
      post(JSON.stringify({ page, seq: 1, body: signed, mac: await hmac(key, `${page}\n1\n${signed}`) }));
    }
  }

  // What a frame can see of the bridge, from inside the frame.
  async function frameFindings() {
    const handler = window.webkit && window.webkit.messageHandlers && window.webkit.messageHandlers.ipc;
    let parentApi;
    try { parentApi = typeof parent.Millennium; } catch (e) { parentApi = "blocked"; }
    const scraped = await scrape();
    return {
      origin: self.origin,
      own_api: typeof window.Millennium,
      ipc: typeof window.ipc,
      ipc_handler: typeof handler,
      parent_api: parentApi,
      scraped_keys: scraped.keys,
      scraped_names: scraped.names.length,
    };
  }

  // (c) From inside a frame named `name`: post events on the frame's own IPC handler (with whatever key it scraped),
  // through its own `Millennium` if it has one, and through the parent's if the browser lets it reach it.
  async function postFromFrame(name, findings) {
    const handler = window.webkit && window.webkit.messageHandlers && window.webkit.messageHandlers.ipc;
    if (handler) { await rawEmit((text) => handler.postMessage(text), findings.scraped_keys, `${name}-raw`); }
    if (window.Millennium) { await outcome(Millennium.emit("probe", { via: `${name}-api` })); }
    if (findings.parent_api === "object") {
      await outcome(parent.Millennium.emit("probe", { via: `${name}-parent-api` }));
    }
  }

  return { scrape, forgeIntoPage, hookBuiltins, rawEmit, frameFindings, postFromFrame, outcome, withTimeout, sleep };
})();
