//! Integration tests of `millennium-sign`, linked into one test binary like every crate's (`tests/it/`).

mod cli;
