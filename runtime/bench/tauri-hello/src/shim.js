// `Millennium.invoke/listen/emit` for the hello page, over Tauri's IPC (looked up at call time: Tauri's own
// initialisation scripts define `__TAURI_INTERNALS__`).
(() => {
  const core = () => window.__TAURI_INTERNALS__;
  const invoke = (cmd, args) => core().invoke(cmd, args === undefined ? {} : args);
  window.Millennium = Object.freeze({
    invoke,
    emit: (name, payload) => invoke(name, { payload }),
    listen: (event, handler) => {
      const id = invoke("plugin:event|listen", {
        event,
        target: { kind: "Any" },
        handler: core().transformCallback((e) => handler(e.payload)),
      });
      return () => id.then((eventId) => invoke("plugin:event|unlisten", { event, eventId }));
    },
    commands: ["config", "greet", "ready"],
  });
})();
