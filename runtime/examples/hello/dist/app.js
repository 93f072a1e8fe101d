"use strict";

function show(id, text) { document.getElementById(id).textContent = text; }

async function greet(name) {
  try {
    const reply = await Millennium.invoke("greet", { name });
    show("reply", reply);
    return reply;
  } catch (e) {
    show("reply", "Error: " + e.message);
    throw e;
  }
}

function welcomeEvent() {
  return new Promise((resolve) => {
    const stop = Millennium.listen("welcome", (payload) => {
      stop();
      show("event", payload.message);
      resolve(payload.message);
    });
  });
}

function callbackCount() {
  return Object.getOwnPropertyNames(window).filter((n) => /^_[0-9a-f]{32}$/.test(n)).length;
}

async function outcome(promise) {
  try { return { ok: true, value: await promise }; } catch (e) { return { ok: false, error: String(e.message || e) }; }
}

function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms))]);
}

// Post a raw invoke (bypassing the bridge) and wait for the rejection sent to our own callback.
function rawInvoke(name, handle) {
  const reply = new Promise((resolve) => {
    Object.defineProperty(window, handle, { configurable: true, value: (ok, text) => { delete window[handle]; resolve({ ok, value: JSON.parse(text) }); } });
  });
  window.ipc.postMessage(JSON.stringify({ page: "raw", seq: 1, body: JSON.stringify({ t: "invoke", cmd: name, cb: handle, args: { name: "raw" } }), mac: null }));
  return withTimeout(reply, 3000).catch((e) => ({ ok: false, value: "no reply: " + e.message }));
}

async function selftest(config) {
  const report = { origin: location.origin };
  const welcome = welcomeEvent();
  Millennium.emit("ready", {});
  const before = callbackCount();
  report.greet = await outcome(greet("Selftest"));
  report.callbacks_left = callbackCount() - before;
  report.empty_name = await outcome(Millennium.invoke("greet", { name: " " }));
  report.event = await outcome(withTimeout(welcome, 5000));
  report.unknown_command = await outcome(Millennium.invoke("no_such_command"));
  report.commands = Millennium.commands.slice().sort();
  report.bridge_frozen = Object.isFrozen(Millennium);
  report.bootstrap_removed = Array.from(document.scripts).every((s) => s.src !== "" || s.textContent.indexOf("Millennium") < 0 || s.textContent.indexOf("inlineScriptRan") >= 0);
  report.inline_script_blocked = window.inlineScriptRan !== true;
  const meta = document.querySelector('meta[http-equiv="Content-Security-Policy"]');
  report.meta_csp = meta ? meta.content : null;
  report.fetch_missing = await outcome(fetch("/missing.txt").then((r) => ({ status: r.status, csp: r.headers.get("content-security-policy") })));

  if (!config.authenticated) {
    // Without authentication the raw channel reaches the name check: guessed and stale names are refused.
    report.guessed_name = await rawInvoke("greet", "_" + "a".repeat(32));
    if (config.stale_name) { report.stale_name = await rawInvoke(config.stale_name, "_" + "b".repeat(32)); }
  }
  if (config.authenticated) {
    // A script in the page calls every handle it can see on `window` with a made-up reply or event: without the
    // session key its MAC fails, so the real reply still settles the call and no forged event is delivered.
    const forgedEvents = [];
    const stopProbe = Millennium.listen("probe", (payload) => forgedEvents.push(payload));
    const pending = Millennium.invoke("greet", { name: "Real" });
    for (const name of Object.getOwnPropertyNames(window).filter((n) => /^_[0-9a-f]{32}$/.test(n))) {
      try { window[name](true, JSON.stringify("forged"), null, "0".repeat(64)); } catch (e) { /* not a callback */ }
      try { window[name]("probe", JSON.stringify("forged"), 1e9, "0".repeat(64)); } catch (e) { /* not a dispatcher */ }
    }
    report.forged_reply = await outcome(withTimeout(pending, 5000));
    await new Promise((resolve) => setTimeout(resolve, 300));
    stopProbe();
    report.forged_events = forgedEvents.length;
  }
  // Built-in APIs: present only when compiled in; otherwise the call is refused.
  report.fs_binding = typeof Millennium.fs;
  if (Millennium.fs) {
    report.fs_read = await outcome(Millennium.fs.readTextFile("note.txt"));
    report.fs_escape = await outcome(Millennium.fs.readTextFile("../../../../etc/passwd"));
  } else {
    report.fs_read = await outcome(Millennium.invoke("millennium:" + "fs.readTextFile", { path: "note.txt" }));
  }
  report.window_binding = typeof Millennium.window;
  if (Millennium.window) {
    report.window_set_title = await outcome(Millennium.window.setTitle("Hello, Millennium (retitled)"));
  } else {
    report.window_set_title = await outcome(Millennium.invoke("millennium:" + "window.setTitle", { title: "x" }));
  }

  // Attacks by a script in the page (attacks.js): read the secrets from the app's pages, forge replies and events with
  // what it found, hook the built-ins the bridge uses, look at the bridge from frames.
  await loadScript("attacks.js");
  const scraped = await Attack.scrape();
  report.attack_scrape = { keys: scraped.keys.length, names: scraped.names.length, bodies: scraped.bodies };
  if (config.authenticated) {
    report.attack_forge = await Attack.forgeIntoPage(scraped.keys);
    report.attack_hooks = await Attack.hookBuiltins();
  }
  const frames = await openFrames();
  report.frames = frames.findings;
  await Millennium.invoke("selftest_report", report);

  // Then the attacks on Rust, judged by the events Rust accepts (it prints them): the raw channel, an unsigned message
  // (an invoke by a guessed name; Rust drops it when authentication is on), events without the session's secrets or
  // with scraped ones, from this page and from the frames.
  window.ipc.postMessage(JSON.stringify({ page: "forged", seq: 1, body: JSON.stringify({ t: "invoke", cmd: "greet", cb: "_" + "0".repeat(32), args: { name: "forged" } }), mac: null }));
  await Attack.rawEmit((text) => window.ipc.postMessage(text), scraped.keys, "raw-emit");
  await frames.post(scraped.keys);
  // The legitimate API, for comparison: this one arrives, after everything above (Rust handles messages in order).
  await Millennium.emit("probe", { via: "api" });
  show("status", "self-test done");
  await Millennium.emit("selftest_done", {});
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error("cannot load " + src));
    document.head.appendChild(script);
  });
}

// The frames of the frame attacks: `frame.html` of the same origin and sandboxed (an opaque origin), a `data:` frame
// (another origin) and an `about:blank` frame that this page reaches into. Each reports what it sees of the bridge
// (a frame that does not load, because the CSP or the navigation rules refuse it, reports nothing); `post` then has
// them post their events to Rust.
async function openFrames() {
  const findings = {};
  const posted = new Set();
  window.addEventListener("message", (event) => {
    const data = event.data || {};
    if (typeof data.frame !== "string") { return; }
    if (data.findings) { findings[data.frame] = data.findings; }
    if (data.posted) { posted.add(data.frame); }
  });
  const frame = (setup) => {
    const element = document.createElement("iframe");
    setup(element);
    document.body.appendChild(element);
    return element;
  };
  const framed = {
    same: frame((f) => { f.src = "frame.html#same"; }),
    sandboxed: frame((f) => { f.sandbox = "allow-scripts"; f.src = "frame.html#sandboxed"; }),
  };
  const dataScript = `var handler = window.webkit && webkit.messageHandlers && webkit.messageHandlers.ipc;
    parent.postMessage({ frame: "data", findings: { origin: self.origin, own_api: typeof window.Millennium,
      ipc_handler: typeof handler } }, "*");
    try { webkit.messageHandlers.ipc.postMessage(JSON.stringify({ page: "data", seq: 1, mac: null,
      body: JSON.stringify({ t: "emit", broker: "probe", payload: { via: "data-raw" } }) })); } catch (e) {}`;
  frame((f) => { f.src = "data:text/html," + encodeURIComponent(`<script>${dataScript}</script>`); });
  const blank = frame(() => {}).contentWindow;
  const blankHandler = blank.webkit && blank.webkit.messageHandlers && blank.webkit.messageHandlers.ipc;
  findings.blank = { own_api: typeof blank.Millennium, ipc: typeof blank.ipc, ipc_handler: typeof blankHandler };
  for (let waited = 0; waited < 3000 && Object.keys(findings).length < 4; waited += 50) { await Attack.sleep(50); }
  return {
    findings,
    async post(keys) {
      if (blankHandler) { await Attack.rawEmit((text) => blankHandler.postMessage(text), keys, "blank-raw"); }
      const loaded = Object.keys(framed).filter((name) => findings[name]);
      for (const name of loaded) { framed[name].contentWindow.postMessage("go", "*"); }
      for (let waited = 0; waited < 3000 && loaded.some((n) => !posted.has(n)); waited += 50) {
        await Attack.sleep(50);
      }
    },
  };
}

document.getElementById("greet").addEventListener("submit", (event) => {
  event.preventDefault();
  greet(document.getElementById("name").value).catch(() => {});
});

(async () => {
  Millennium.listen("welcome", (payload) => show("event", payload.message));
  const config = await Millennium.invoke("config");
  if (config.selftest) {
    await selftest(config);
  } else {
    Millennium.emit("ready", {});
  }
})();
