//! Integration tests of the Node package `millennium-updater`: the addon Cargo built is packed with `npm/` into the
//! npm tarball (`npm pack`), installed offline into an app directory, and an Electron-style app (`examples/app.js`,
//! plain Node) updates its executable with it from the real update server on loopback, run by the machine's `node`.

#![allow(clippy::unwrap_used, reason = "tests state their expectations with unwrap")]
#![cfg(target_os = "linux")] // installs are implemented for Linux only so far

mod delta;
mod selfupdate;
mod support;
