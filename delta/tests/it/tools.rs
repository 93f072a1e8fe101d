//! Cross-checks with the real tools: our payloads are what `zstd` and Debian's `bspatch` apply, and their patches are
//! what our applier applies.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::process::Command;

use millennium_delta::{Encoder, HEADER_LEN, MakeOptions, apply, make};
use millennium_testing::require_tool;

use crate::fixtures::{builds, wrap};

fn only(encoder: Encoder) -> MakeOptions {
    MakeOptions { encoders: vec![encoder], ..MakeOptions::default() }
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {output:?}");
}

#[test]
fn a_zstd_delta_is_a_zst_file_that_the_real_zstd_applies_with_patch_from() {
    require_tool("zstd", "zstd");
    let b = builds();
    for new in [&b.asset, &b.function] {
        let delta = b.path("z.delta");
        make(&b.v1, new, &delta, &only(Encoder::Zstd)).unwrap().kept().unwrap();
        // The whole file, header included: the header is a skippable frame.
        let out = b.path("z.out");
        run(Command::new("zstd")
            .args(["-q", "-f", "-d", "--long=31"])
            .arg(format!("--patch-from={}", b.v1.display()))
            .arg(&delta)
            .arg("-o")
            .arg(&out));
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(new).unwrap());
    }
}

#[test]
fn a_patch_made_by_the_real_zstd_with_patch_from_is_applied_by_ours() {
    require_tool("zstd", "zstd");
    let b = builds();
    let patch = b.path("cli.zst");
    run(Command::new("zstd")
        .args(["-q", "-f", "-19", "--long=31"])
        .arg(format!("--patch-from={}", b.v1.display()))
        .arg(&b.function)
        .arg("-o")
        .arg(&patch));
    let delta = b.path("wrapped");
    std::fs::write(&delta, wrap(Encoder::Zstd, &b.v1, &b.function, &std::fs::read(&patch).unwrap())).unwrap();
    let out = b.path("out");
    apply(&b.v1, &delta, &out, u64::MAX).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&b.function).unwrap());
}

#[test]
fn a_bsdiff_payload_is_a_patch_that_debian_bspatch_applies() {
    require_tool("bspatch", "bsdiff");
    let b = builds();
    for new in [&b.asset, &b.function] {
        let delta = b.path("b.delta");
        make(&b.v1, new, &delta, &only(Encoder::Bsdiff)).unwrap().kept().unwrap();
        let patch = b.path("b.patch");
        std::fs::write(&patch, &std::fs::read(&delta).unwrap()[HEADER_LEN..]).unwrap();
        let out = b.path("b.out");
        run(Command::new("bspatch").arg(&b.v1).arg(&out).arg(&patch));
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(new).unwrap());
    }
}

#[test]
fn a_patch_made_by_debian_bsdiff_is_applied_by_ours() {
    require_tool("bsdiff", "bsdiff");
    let b = builds();
    let patch = b.path("debian.patch");
    run(Command::new("bsdiff").arg(&b.v1).arg(&b.function).arg(&patch));
    let delta = b.path("wrapped");
    std::fs::write(&delta, wrap(Encoder::Bsdiff, &b.v1, &b.function, &std::fs::read(&patch).unwrap())).unwrap();
    let out = b.path("out");
    apply(&b.v1, &delta, &out, u64::MAX).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&b.function).unwrap());
}
