//! Integration tests of `millennium-updater-capi`, in one test binary. They compile C programs with the system `cc`
//! against `include/millennium_updater.h`, link them to the `cdylib` Cargo built for this test run, and run them
//! against the real update server (`millennium-update-server`'s app, in this process, on loopback).

#![allow(clippy::unwrap_used, reason = "tests state their expectations with unwrap")]
#![cfg(target_os = "linux")] // installs are implemented for Linux only so far

mod example;
mod header;
mod misuse;
mod support;
