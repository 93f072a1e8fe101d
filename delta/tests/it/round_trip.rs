//! make → apply gives back the new build byte for byte, whichever encoder wins.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use millennium_delta::{Encoder, MakeOptions, Outcome, ResultCheck, apply, inspect, make};

use crate::fixtures::builds;

fn only(encoder: Encoder) -> MakeOptions {
    MakeOptions { encoders: vec![encoder], ..MakeOptions::default() }
}

#[test]
fn a_build_with_one_asset_changed_round_trips_through_the_smaller_delta() {
    let b = builds();
    let delta = b.path("v1-asset.delta");
    let made = make(&b.v1, &b.asset, &delta, &MakeOptions::default()).unwrap().kept().unwrap();
    // `unpacked` steps aside for an executable (no size); the others each made a delta.
    let sizes: Vec<u64> = made.attempts.iter().filter_map(|a| a.size).collect();
    assert_eq!(sizes.len(), 2, "{:?}", made.attempts);
    assert_eq!(made.size, *sizes.iter().min().unwrap(), "the smallest delta is kept: {:?}", made.attempts);
    assert_eq!(std::fs::metadata(&delta).unwrap().len(), made.size);
    let full = std::fs::metadata(&b.asset).unwrap().len();
    assert!(made.size * 100 < full, "a one-asset change costs under 1 % of {full} bytes, not {}", made.size);

    let out = b.path("out");
    let applied = apply(&b.v1, &delta, &out, full).unwrap();
    assert_eq!(applied.header, made.header);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&b.asset).unwrap());
}

#[test]
fn a_build_with_one_function_changed_round_trips_with_every_encoder() {
    let b = builds();
    let full = std::fs::read(&b.function).unwrap();
    assert_ne!(std::fs::read(&b.v1).unwrap().len(), 0);
    for encoder in [Encoder::Zstd, Encoder::Bsdiff] {
        let delta = b.path(&format!("{encoder}.delta"));
        let made = make(&b.v1, &b.function, &delta, &only(encoder)).unwrap().kept().unwrap();
        assert_eq!(made.header.encoder, encoder);
        assert_eq!(inspect(&delta).unwrap(), made.header);
        let out = b.path(&format!("{encoder}.out"));
        apply(&b.v1, &delta, &out, full.len() as u64).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), full, "{encoder}");
    }
}

#[test]
fn on_a_function_change_the_interleaved_diff_makes_a_smaller_delta_that_round_trips() {
    let b = builds();
    let full = std::fs::read(&b.function).unwrap();
    let (compatible, interleaved) = (b.path("compatible.delta"), b.path("interleaved.delta"));
    let default = make(&b.v1, &b.function, &compatible, &only(Encoder::Bsdiff)).unwrap().kept().unwrap();
    let options = MakeOptions { interleaved_diff: true, ..only(Encoder::Bsdiff) };
    let made = make(&b.v1, &b.function, &interleaved, &options).unwrap().kept().unwrap();
    // The moved code's diff, as runs with their values in one LZMA2 stream, is smaller than bzip2's dense stream.
    assert!(made.size < default.size, "interleaved {} B, default {} B", made.size, default.size);
    let out = b.path("interleaved.out");
    apply(&b.v1, &interleaved, &out, full.len() as u64).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), full);
}

#[test]
fn the_bounded_window_form_round_trips_with_every_encoder_and_costs_at_most_a_32nd_on_a_function_change() {
    let b = builds();
    let full = std::fs::read(&b.function).unwrap();
    for encoder in [Encoder::Zstd, Encoder::Bsdiff] {
        let (first, bounded) = (b.path(&format!("{encoder}-first.delta")), b.path(&format!("{encoder}-bw.delta")));
        let default = make(&b.v1, &b.function, &first, &only(encoder)).unwrap().kept().unwrap();
        let every =
            MakeOptions { interleaved_diff: true, xxh3_result_check: true, bounded_window: true, ..only(encoder) };
        let made = make(&b.v1, &b.function, &bounded, &every).unwrap().kept().unwrap();
        assert!(made.size <= default.size + default.size / 32, "{encoder}: {} B, first {} B", made.size, default.size);
        let out = b.path(&format!("{encoder}-bw.out"));
        apply(&b.v1, &bounded, &out, full.len() as u64).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), full, "{encoder}");
    }
}

#[test]
fn an_identical_build_makes_a_delta_of_little_more_than_its_header() {
    let b = builds();
    let delta = b.path("same.delta");
    let made = make(&b.v1, &b.v1, &delta, &MakeOptions::default()).unwrap().kept().unwrap();
    assert!(made.size < made.header.encoded_len() as u64 + 200, "{made:?}");
    let out = b.path("out");
    apply(&b.v1, &delta, &out, u64::MAX).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&b.v1).unwrap());
}

#[test]
fn unrelated_files_make_no_delta_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (base, new) = (dir.path().join("base"), dir.path().join("new"));
    // Incompressible and unrelated: no encoder gets under 60 %.
    let noise = |seed: u64| millennium_testing::xorshift64(seed).take(200_000).map(|x| x as u8).collect::<Vec<u8>>();
    std::fs::write(&base, noise(1)).unwrap();
    std::fs::write(&new, noise(2)).unwrap();
    let delta = dir.path().join("delta");
    match make(&base, &new, &delta, &MakeOptions::default()).unwrap() {
        Outcome::NotWorthIt { attempts, target_size } => {
            assert_eq!(target_size, 200_000);
            assert_eq!(attempts.len(), 3);
            // `unpacked` steps aside (neither file is compressed); the others are over 60 %.
            assert!(attempts.iter().all(|a| a.size.is_none_or(|s| s as f64 > 0.6 * 200_000.0)), "{attempts:?}");
            assert_eq!(attempts.iter().filter(|a| a.size.is_none()).count(), 1, "{attempts:?}");
        }
        Outcome::Kept(made) => panic!("kept {made:?}"),
    }
    assert!(!delta.exists());
    assert_eq!(crate::fixtures::listing(dir.path()), ["base", "new"]);
}

#[test]
fn bsdiff_is_skipped_for_a_base_above_its_limit() {
    let b = builds();
    let options = MakeOptions { bsdiff_max_base: 1000, ..MakeOptions::default() };
    let made = make(&b.v1, &b.asset, &b.path("d"), &options).unwrap().kept().unwrap();
    assert_eq!(made.header.encoder, Encoder::Zstd);
    let bsdiff = made.attempts.iter().find(|a| a.encoder == Encoder::Bsdiff).unwrap();
    assert_eq!(bsdiff.size, None);
}

#[test]
fn the_command_line_makes_inspects_and_applies_a_delta() {
    let b = builds();
    let bin = env!("CARGO_BIN_EXE_millennium-delta");
    let delta = b.path("cli.delta");
    let made = std::process::Command::new(bin).arg("make").args([&b.v1, &b.asset, &delta]).output().unwrap();
    assert!(made.status.success(), "{made:?}");
    let stdout = String::from_utf8(made.stdout).unwrap();
    assert!(stdout.starts_with("kept "), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("tried ")).count(), 3, "{stdout}");
    assert!(stdout.contains("\ntried unpacked skipped"), "not compressed: {stdout}");

    let out = b.path("cli.out");
    let applied = std::process::Command::new(bin).arg("apply").args([&b.v1, &delta, &out]).output().unwrap();
    assert!(applied.status.success(), "{applied:?}");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&b.asset).unwrap());

    // Applied to the wrong base: exit code 1 and the hint on stderr.
    let refused =
        std::process::Command::new(bin).arg("apply").args([&b.function, &delta, &b.path("x")]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(stderr.starts_with("error: ") && stderr.contains("is not the base of this delta"), "{stderr}");
    assert!(stderr.contains("\nhint: "), "{stderr}");

    let usage = std::process::Command::new(bin).arg("apply").output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn container_version_3_checks_the_result_by_xxh3_is_24_bytes_smaller_and_round_trips_with_every_encoder() {
    let b = builds();
    let full = std::fs::read(&b.function).unwrap();
    for encoder in [Encoder::Zstd, Encoder::Bsdiff] {
        let (v2, v3) = (b.path(&format!("{encoder}-v2.delta")), b.path(&format!("{encoder}-v3.delta")));
        let first = make(&b.v1, &b.function, &v2, &only(encoder)).unwrap().kept().unwrap();
        let options = MakeOptions { xxh3_result_check: true, ..only(encoder) };
        let made = make(&b.v1, &b.function, &v3, &options).unwrap().kept().unwrap();
        assert_eq!(made.header.result_check, ResultCheck::Xxh3_64(xxhash_rust::xxh3::xxh3_64(&full)));
        assert_eq!((first.header.result_check.version(), made.header.result_check.version()), (2, 3));
        assert_eq!(made.size + 24, first.size, "{encoder}: 8 bytes of XXH3 instead of 32 of BLAKE2b");
        assert_eq!(inspect(&v3).unwrap(), made.header);
        let out = b.path(&format!("{encoder}-v3.out"));
        assert_eq!(apply(&b.v1, &v3, &out, full.len() as u64).unwrap().header, made.header);
        assert_eq!(std::fs::read(&out).unwrap(), full, "{encoder}");
    }
}
