// Calls the Rust command `greet` through Millennium's IPC bridge.
const reply = document.getElementById("reply");
document.getElementById("greet").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    reply.textContent = await Millennium.invoke("greet", document.getElementById("name").value);
  } catch (error) {
    reply.textContent = String(error);
  }
});

// Self-test mode (MILLENNIUM_SELFTEST=1): report what this page shows and that a round trip to Rust works.
(async () => {
  if (await Millennium.invoke("selftest")) {
    const greeting = await Millennium.invoke("greet", "self-test");
    const heading = document.querySelector("h1").textContent;
    await Millennium.invoke("selftest_report", JSON.stringify({ heading, greeting }));
  }
})();
