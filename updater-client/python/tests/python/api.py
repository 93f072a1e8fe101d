"""The Python API's behaviour beyond the example app, run by the Rust test `api::` with the wheel installed.

    python api.py SILENT_PORT ENDPOINT PUBKEY STATE_DIR TARGET_FILE

SILENT_PORT: a loopback port that accepts connections and never answers. ENDPOINT offers 2.0.0 (signed by PUBKEY).
TARGET_FILE: the "executable" the update replaces. Prints one line per check; any failure is an exception (exit 1).
"""

import sys
import threading
import time

import millennium_updater as mu

silent_port, endpoint, pubkey, state_dir, target = sys.argv[1:]


def updater(endpoint, **extra):
    options = dict(endpoint=endpoint, pubkey=pubkey, current_version="1.0.0", state_dir=state_dir, executable=target,
                   bundle_type="none")
    return mu.Updater(**{**options, **extra})


# 1. check() releases the GIL while it blocks, and cancel() from another thread stops it: the main thread keeps
# running Python (it could not while a thread in native code held the GIL) and cancels after 0.3 s; the check,
# stuck on a server that never answers, ends at once with CancelledError.
silent = updater(f"http://127.0.0.1:{silent_port}/{{{{target}}}}/{{{{current_version}}}}")
outcome = {}


def blocked_check():
    try:
        silent.check()
        outcome["result"] = "returned"
    except mu.UpdaterError as e:
        outcome["result"] = (type(e).__name__, e.code, e.kind)


thread = threading.Thread(target=blocked_check)
start = time.monotonic()
thread.start()
ticks = 0
while time.monotonic() - start < 0.3:
    ticks += 1
silent.cancel()
thread.join(10)
elapsed = time.monotonic() - start
assert not thread.is_alive(), "the check did not stop"
assert outcome["result"] == ("CancelledError", 5, "cancelled"), outcome
assert ticks > 1000 and elapsed < 5, (ticks, elapsed)
print("check released the GIL and was cancelled from another thread")
try:
    silent.check()
    raise AssertionError("a cancelled updater checked")
except mu.CancelledError as e:
    assert e.hint and "reset_cancel" in e.hint, e.hint
silent.reset_cancel()
print("cancel is sticky until reset_cancel()")

# 2. Configuration errors are ConfigError (code 10) with the library's message; bad values are refused.
try:
    mu.Updater(current_version="1.0.0", executable=target, pubkey=pubkey)
    raise AssertionError("an updater without an endpoint was built")
except mu.ConfigError as e:
    assert (e.code, e.kind) == (10, "config") and "no update endpoint" in str(e), (e.code, e.kind, str(e))
try:
    updater(endpoint, rollback_after_starts=3, bundle_type="floppy")
    raise AssertionError("an unknown bundle type was accepted")
except mu.UpdaterError as e:
    assert e.code == 2 and "floppy" in str(e), (e.code, str(e))
print("configuration errors carry their code")

# 3. An exception raised by the progress callback stops the download and is what download() raises; the next
# download resumes and succeeds; a downloaded update installs once (then UpdaterError code 4).
online = updater(endpoint, require_signed_version=True, headers={"x-test": "1"})
update = online.check()
assert update is not None and update.version == "2.0.0" and update.notes == "update-py-api 2.0.0", update
assert update.size is None  # a Tauri endpoint does not announce it before the download


class Stop(Exception):
    pass


def stop_at_once(downloaded, total):
    raise Stop(downloaded, total)


try:
    update.download(progress=stop_at_once)
    raise AssertionError("the download went on")
except Stop as e:
    assert e.args[1] is not None, e.args  # the server announced the size
calls = []
download = update.download(progress=lambda downloaded, total: calls.append((downloaded, total)))
assert calls and calls[-1][0] == calls[-1][1], calls
download.install()
try:
    download.install()
    raise AssertionError("installed twice")
except mu.UpdaterError as e:
    assert (e.code, e.kind) == (4, "consumed"), (e.code, e.kind)
print("a raising progress callback stops the download; install works once")
print(f"startup after install: {online.startup().status}")
