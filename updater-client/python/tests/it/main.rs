//! Integration tests of the Python package `millennium-updater`: the abi3 wheel is built with maturin, installed into
//! a fresh virtualenv, and a small Python app (a zipapp, `examples/app`) updates itself with it from the real update
//! server on loopback (`millennium_testing::server::Offered`, the server's app in this process).

#![allow(clippy::unwrap_used, reason = "tests state their expectations with unwrap")]
#![cfg(target_os = "linux")] // installs are implemented for Linux only so far

mod api;
mod selfupdate;
mod support;
