// millennium-updater: the Millennium updater for Node and Electron apps (a napi-rs addon over the Rust library
// `millennium-updater`, the code Rust apps use).
//
//   const { Updater } = require('millennium-updater');
//   const updater = new Updater({ endpoint, pubkey, currentVersion: '1.2.3', executable: process.execPath });
//   if (updater.startup().status === 'rolled_back') updater.relaunch();
//   const update = await updater.check();              // null when up to date
//   if (update) {
//     const download = await update.download((downloaded, total) => { ... });
//     await download.install();
//     updater.relaunch();                              // does not return
//   }
//   updater.confirmHealthy();
//
// check(), download(), install() and applyPendingOnExit() return Promises (the work runs off the main thread); the
// progress callback is called on the main thread. Failures are UpdaterError: `code` (the C ABI's number: 12 for a
// refused update...), `kind` ('verification'...), `hint`, and `message` with the causes and `hint:` lines.
'use strict';

const native = require('./millennium_updater.node');

class UpdaterError extends Error {
  constructor(code, kind, hint, message) {
    super(message);
    this.name = 'UpdaterError';
    this.code = code;
    this.kind = kind;
    this.hint = hint || null;
  }
}

// The addon encodes its errors as MILLENNIUM\x01code\x01kind\x01hint\x01report; anything else passes through.
function convert(error) {
  const parts = error && typeof error.message === 'string' ? error.message.split('\x01') : [];
  if (parts.length === 5 && parts[0] === 'MILLENNIUM') {
    return new UpdaterError(Number(parts[1]), parts[2], parts[3], parts[4]);
  }
  return error;
}

function sync(f) {
  try {
    return f();
  } catch (error) {
    throw convert(error);
  }
}

async function later(promise) {
  try {
    return await promise;
  } catch (error) {
    throw convert(error);
  }
}

const list = (value) => (value === undefined || value === null ? undefined : [].concat(value));

class Download {
  constructor(inner) {
    this._inner = inner;
  }
  // Installs it (atomically; the previous version is kept for a rollback). Once only.
  install() {
    return later(this._inner.install());
  }
  // Installs it when the app quits (Updater.applyPendingOnExit()) instead.
  installOnExit() {
    sync(() => this._inner.installOnExit());
  }
}

class Update {
  constructor(inner) {
    this._inner = inner;
  }
  get version() {
    return this._inner.version;
  }
  get notes() {
    return this._inner.notes ?? null;
  }
  // Bytes, when announced before the download (signed metadata), else null.
  get size() {
    return this._inner.size ?? null;
  }
  // Whether download() will first try a delta from the installed artifact (the server offers one); a delta that
  // fails in any way falls back to the full download.
  get usesDelta() {
    return this._inner.usesDelta;
  }
  // The size of that delta in bytes, else null.
  get deltaSize() {
    return this._inner.deltaSize ?? null;
  }
  // Downloads (resuming an earlier partial download) and verifies; progress(downloaded, total, transfer) after every
  // chunk, counting the bytes of what `transfer` names: 'delta' or 'full' ('delta_failed' once, with nothing
  // downloaded, when the delta could not be used and the full artifact follows).
  async download(progress) {
    // Progress calls are queued for this thread by the download's worker and may arrive after the Promise settles:
    // those are dropped, and the final figures (kept by the addon) reported here if the last call was not them.
    let settled = false;
    let seen = null;
    const callback = progress
      ? (downloaded, total, transfer) => {
          if (!settled) {
            seen = downloaded;
            progress(downloaded, total ?? null, transfer);
          }
        }
      : undefined;
    const inner = await later(this._inner.download(callback));
    settled = true;
    if (progress && inner.downloaded != null && seen !== inner.downloaded) {
      progress(inner.downloaded, inner.total ?? null, inner.transfer);
    }
    return new Download(inner);
  }
}

class Updater {
  // Options: endpoint (string or array) or metadataUrl, pubkey (string or array), currentVersion (required), channel,
  // appId, stateDir, installId, executable (the file an update replaces), bundleType ('none', 'appimage', 'deb'...),
  // headers, rollbackAfterStarts, requireSignedVersion.
  constructor(options) {
    const native_options = { ...options, endpoint: list(options.endpoint), pubkey: list(options.pubkey) };
    this._inner = sync(() => new native.NativeUpdater(native_options));
  }
  get currentVersion() {
    return this._inner.currentVersion;
  }
  // Rollback bookkeeping: call first thing at every start. { status: 'normal' | 'pending' | 'rolled_back', start,
  // allowed, rolledBackFrom, rolledBackTo }
  startup() {
    return sync(() => this._inner.startup());
  }
  // Resolves to the offered Update, or null when up to date.
  async check() {
    const found = await later(this._inner.check());
    return found ? new Update(found) : null;
  }
  // This version works: it will not be rolled back.
  confirmHealthy() {
    sync(() => this._inner.confirmHealthy());
  }
  // Replaces this process with the executable (the updated one) given `args` (default: this script's own,
  // process.argv.slice(2)). Does not return; throws on failure.
  relaunch(args = process.argv.slice(2)) {
    sync(() => this._inner.relaunch(args));
  }
  // From the app's quit path: resolves to whether an update scheduled with installOnExit() was installed.
  applyPendingOnExit() {
    return later(this._inner.applyPendingOnExit());
  }
  // Cancels the calls in progress (check, download) and every later one until resetCancel().
  cancel() {
    this._inner.cancel();
  }
  resetCancel() {
    this._inner.resetCancel();
  }
}

module.exports = { Updater, Update, Download, UpdaterError, version: native.version() };
