"""A Python app that updates itself with the `millennium-updater` package (the Python twin of the C example).

    python3 app.pyz ENDPOINT PUBKEY STATE_DIR

Packed as a zipapp (`python3 -m zipapp`) together with `build_info.py`, which sets VERSION and CRASH_BEFORE_CONFIRMING
(a broken release: it crashes before confirming). Prints its version, does the rollback bookkeeping, confirms it works,
checks ENDPOINT for an update signed by PUBKEY, downloads, verifies and installs it over its own zipapp, and relaunches
into it. Exit status: 0, or the error's code (e.g. 12 for an update that failed verification).
"""

import os
import sys

import millennium_updater as mu

from build_info import CRASH_BEFORE_CONFIRMING, VERSION


def main():
    if len(sys.argv) != 4:
        print(f"usage: {sys.argv[0]} ENDPOINT PUBKEY STATE_DIR", file=sys.stderr)
        return 2
    endpoint, pubkey, state_dir = sys.argv[1:]
    print(f"update-py {VERSION}", flush=True)
    try:
        # The zipapp (sys.argv[0]) is what an update replaces, as a plain file.
        updater = mu.Updater(endpoint=endpoint, pubkey=pubkey, state_dir=state_dir, current_version=VERSION,
                             app_id="update-py", require_signed_version=True)
        startup = updater.startup()
        if startup.status == "rolled_back":
            print("rolled back; relaunching", flush=True)
            updater.relaunch()
        if startup.status == "pending":
            print(f"pending confirmation (start {startup.start} of {startup.allowed})", flush=True)
            if CRASH_BEFORE_CONFIRMING:
                print("crashing before confirming", flush=True)
                os.abort()
            # A real app confirms once it knows it works (its window opened, its data loaded...).
            updater.confirm_healthy()
            print("confirmed healthy", flush=True)

        update = updater.check()
        if update is None:
            print("up to date", flush=True)
            return 0
        print(f"updating to {update.version} ({update.notes or 'no notes'})", flush=True)
        seen = []
        download = update.download(progress=lambda downloaded, total: seen.append((downloaded, total)))
        downloaded, total = seen[-1]
        print(f"downloaded {downloaded} of {total or 0} bytes", flush=True)
        download.install()
        print(f"installed {update.version}; relaunching", flush=True)
        updater.relaunch()  # does not return
    except mu.UpdaterError as e:
        print(f"error ({e.kind}, {e.code}): {e}", file=sys.stderr)
        print(f"hint from the exception: {e.hint}", file=sys.stderr)
        return e.code


sys.exit(main())
