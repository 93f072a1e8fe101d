//! Linux packages: `.deb` ([`deb`]), `.rpm` ([`rpm`]) and AppImage ([`appimage`], with its [`zsync`] file), all
//! written in-process from one install tree ([`layout`]).
//!
//! The binaries are read once: [`elf`] extracts their `DT_NEEDED` sonames and symbol versions, [`deps`] maps them to
//! Debian packages (as `dpkg-shlibdeps` does) and rpm capabilities; [`licenses`] writes the deb's DEP-5 copyright.

pub mod appimage;
pub mod deb;
pub mod deps;
pub mod elf;
pub mod layout;
pub mod licenses;
pub mod rpm;
pub mod zsync;
