//! Integration tests of the cross-crate end-to-end suite, linked into one test binary: each module was once a file of its own,
//! and one binary links the dependency tree once instead of once per file.

mod attacks;
mod delta_updates;
mod sign_and_serve;
mod update_end_to_end;
