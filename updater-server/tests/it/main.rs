//! Integration tests of `millennium-update-server`, linked into one test binary: each module was once a file of its own,
//! and one binary links the dependency tree once instead of once per file.

mod api;
mod deltas;
mod e2e;
mod metadata;
