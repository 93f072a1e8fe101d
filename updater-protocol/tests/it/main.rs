//! Integration tests of `millennium-update-protocol`, linked into one test binary: each module was once a file of its own,
//! and one binary links the dependency tree once instead of once per file.

mod events;
mod metadata;
mod protocol;
