"use strict";
// Self-test only: the page `app.js` frames `frame.html#<name>` (same origin, and sandboxed: an opaque origin) to see
// what a frame can learn of the bridge and whether it can talk to Rust. It reports its findings to the parent page,
// then, when the parent says `go`, posts its events (see `Attack.postFromFrame`).
(async () => {
  const name = location.hash.slice(1) || "frame";
  const findings = await Attack.frameFindings();
  window.addEventListener("message", async (event) => {
    if (event.data !== "go") { return; }
    await Attack.postFromFrame(name, findings);
    parent.postMessage({ frame: name, posted: true }, "*");
  });
  parent.postMessage({ frame: name, findings }, "*");
})();
