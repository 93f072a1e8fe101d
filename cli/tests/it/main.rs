//! Integration tests of `millennium`: one binary, a module per area.
//!
//! - `commands`: the quick commands (`new`, `icon`, `completions`, `sign`, `cargo millennium`);
//! - `release`: `build` and `release` of a small app to a real update server, the resumed re-run, an updater
//!   updating from what was published;
//! - `errors`: every bad input of `release` is one error line with a hint, exit code 1 or 2, and nothing published;
//! - `action`: the GitHub composite action's `run:` steps, run with bash as written, against a real server;
//! - `e2e`: `new` → `build` → `release` of an app on the framework, then the updater, and the app under Xvfb;
//! - `dev`: `millennium dev` under Xvfb: an edited page reloads and reports its new content within 2 s.

#![allow(clippy::unwrap_used, reason = "tests state their expectations with unwrap")]

mod action;
mod commands;
mod common;
mod dev;
mod e2e;
mod errors;
mod release;
