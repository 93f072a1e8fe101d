//! Integration tests of `millennium-updater`, linked into one test binary: each module was once a file of its own,
//! and one binary links the dependency tree once instead of once per file.

mod app_bundle;
mod crash_safety;
mod deb_delta;
mod delta;
mod events;
mod example_app;
mod on_exit;
mod secure;
mod support;
mod updater;
mod webview;
mod windows_installers;
