//! Integration tests of the example app, linked into one test binary: each module was once a file of its own,
//! and one binary links the dependency tree once instead of once per file.

mod app;
mod attacks;
mod package;
mod updater;
