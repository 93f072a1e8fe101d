//! Integration tests of `millennium-bundler`, linked into one test binary: each module was once a file of its own,
//! and one binary links the dependency tree once instead of once per file.

mod bundle;
mod common;
mod macos;
mod windows;
