// app.js: an Electron-style app's main process (plain Node) that updates its executable with `millennium-updater`.
//
//     update-node ENDPOINT PUBKEY STATE_DIR
//
// The executable is a plain file (in the tests, a launcher script `APP_VERSION=1.0.0 exec node app.js "$@"`, naming
// itself in APP_EXECUTABLE; in an Electron app, process.execPath). Prints its version, does the rollback bookkeeping,
// confirms it works (unless APP_CRASH=1: a broken release that crashes before confirming), checks ENDPOINT for an
// update signed by PUBKEY, downloads, verifies and installs it over the executable, and relaunches it. Exit status: 0,
// or the error's code (e.g. 12 for an update that failed verification).
'use strict';

const { Updater, UpdaterError } = require('millennium-updater');

async function main() {
  const [endpoint, pubkey, stateDir] = process.argv.slice(2);
  if (!stateDir) {
    console.error('usage: update-node ENDPOINT PUBKEY STATE_DIR');
    return 2;
  }
  const version = process.env.APP_VERSION;
  console.log(`update-node ${version}`);
  const updater = new Updater({
    endpoint,
    pubkey,
    stateDir,
    currentVersion: version,
    appId: 'update-node',
    executable: process.env.APP_EXECUTABLE,
    bundleType: 'none',
    requireSignedVersion: true,
  });

  const startup = updater.startup();
  if (startup.status === 'rolled_back') {
    console.log('rolled back; relaunching');
    updater.relaunch();
  }
  if (startup.status === 'pending') {
    console.log(`pending confirmation (start ${startup.start} of ${startup.allowed})`);
    if (process.env.APP_CRASH === '1') {
      console.log('crashing before confirming');
      process.abort();
    }
    // A real app confirms once it knows it works (its window opened, its data loaded...).
    updater.confirmHealthy();
    console.log('confirmed healthy');
  }

  const update = await updater.check();
  if (!update) {
    console.log('up to date');
    return 0;
  }
  console.log(`updating to ${update.version} (${update.notes ?? 'no notes'})`);
  let last = [0, null];
  const download = await update.download((downloaded, total) => {
    last = [downloaded, total];
  });
  console.log(`downloaded ${last[0]} of ${last[1] ?? 0} bytes`);
  await download.install();
  console.log(`installed ${update.version}; relaunching`);
  updater.relaunch(); // does not return
}

main().then(
  (code) => process.exit(code),
  (error) => {
    if (error instanceof UpdaterError) {
      console.error(`error (${error.kind}, ${error.code}): ${error.message}`);
      console.error(`hint from the error: ${error.hint}`);
      process.exit(error.code);
    }
    console.error(error);
    process.exit(1);
  },
);
