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
  // The raw channel: an unsigned message (guessed name, forged) must be dropped by Rust when authentication is on.
  window.ipc.postMessage(JSON.stringify({ page: "forged", seq: 1, body: JSON.stringify({ t: "invoke", cmd: "greet", cb: "_" + "0".repeat(32), args: { name: "forged" } }), mac: null }));

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
  show("status", "self-test done");
  await Millennium.invoke("selftest_report", report);
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
