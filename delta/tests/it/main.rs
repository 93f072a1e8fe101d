//! The integration tests of `millennium-delta`, on real builds: small Rust programs compiled here with `rustc`, in
//! pairs that differ by one embedded asset or one function, as a release of an app does.

mod fixtures;
mod refusals;
mod round_trip;
mod tools;
mod unpacked;
