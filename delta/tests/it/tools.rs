//! Cross-checks with the real tools: our payloads are what `zstd` and Debian's `bspatch` apply, and their patches are
//! what our applier applies.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::process::Command;

use millennium_delta::{Encoder, MakeOptions, apply, blake2b_256, make};
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
fn a_bsdiff_delta_container_included_is_no_larger_than_debian_bsdiffs_patch() {
    require_tool("bsdiff", "bsdiff");
    let b = builds();
    for new in [&b.asset, &b.function] {
        let delta = b.path("b.delta");
        let made = make(&b.v1, new, &delta, &only(Encoder::Bsdiff)).unwrap().kept().unwrap();
        let patch = b.path("debian.patch");
        run(Command::new("bsdiff").arg(&b.v1).arg(new).arg(&patch));
        let debian = std::fs::metadata(&patch).unwrap().len();
        assert!(made.size <= debian, "{}: ours {} B, Debian's bsdiff {debian} B", new.display(), made.size);
    }
}

#[test]
fn a_patch_made_by_debian_bsdiff_is_applied_by_ours() {
    require_tool("bsdiff", "bsdiff");
    let b = builds();
    let patch = b.path("debian.patch");
    run(Command::new("bsdiff").arg(&b.v1).arg(&b.function).arg(&patch));
    let delta = b.path("wrapped");
    std::fs::write(&delta, wrap(Encoder::Bsdiff40, &b.v1, &b.function, &std::fs::read(&patch).unwrap())).unwrap();
    let out = b.path("out");
    apply(&b.v1, &delta, &out, u64::MAX).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&b.function).unwrap());
}

#[test]
fn a_version_1_delta_as_the_first_servers_made_them_is_still_applied() {
    require_tool("bsdiff", "bsdiff");
    let b = builds();
    let patch = b.path("debian-v1.patch");
    run(Command::new("bsdiff").arg(&b.v1).arg(&b.asset).arg(&patch));
    let payload = std::fs::read(&patch).unwrap();
    let (base, result) = (std::fs::read(&b.v1).unwrap(), std::fs::read(&b.asset).unwrap());
    // Version 1's fixed 140-byte header, written out field by field.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0x184D_2A5Eu32.to_le_bytes());
    bytes.extend_from_slice(&132u32.to_le_bytes());
    bytes.extend_from_slice(b"MLNDELTA");
    bytes.extend_from_slice(&[1, Encoder::Bsdiff40.id(), 0, 0]);
    for data in [&base, &result, &payload] {
        bytes.extend_from_slice(&(data.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&blake2b_256(data));
    }
    bytes.extend_from_slice(&payload);
    let delta = b.path("v1.delta");
    std::fs::write(&delta, &bytes).unwrap();
    let out = b.path("v1.out");
    apply(&b.v1, &delta, &out, u64::MAX).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), result);
    // Its payload hash is still checked.
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&delta, &bytes).unwrap();
    let error = apply(&b.v1, &delta, &out, u64::MAX).unwrap_err();
    assert_eq!(error.code(), "corrupt", "{error}");
    assert!(error.to_string().contains("does not match its hash"), "{error}");
}
