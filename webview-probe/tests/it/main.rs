//! Integration tests of `millennium-webview-probe`, linked into one test binary: each module was once a file of its own,
//! and one binary links the dependency tree once instead of once per file.

mod cli;
mod distro;
