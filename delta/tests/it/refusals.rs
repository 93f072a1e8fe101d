//! Every way a delta is refused: each one a distinct error code, the output untouched and no temporary file left.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::path::Path;

use millennium_delta::{Error, MakeOptions, ResultCheck, apply, inspect, make};

use crate::fixtures::{Builds, builds, edit_header, listing};

/// v1 → asset delta, its bytes, and the size of the result.
fn delta(b: &Builds) -> (Vec<u8>, u64) {
    let path = b.path("good.delta");
    make(&b.v1, &b.asset, &path, &MakeOptions::default()).unwrap().kept().unwrap();
    (std::fs::read(&path).unwrap(), std::fs::metadata(&b.asset).unwrap().len())
}

/// Applies `bytes` as a delta to `base` in a fresh directory whose output already exists, and checks that the refusal
/// left the output as it was and nothing else behind.
fn refused(base: &Path, bytes: &[u8], cap: u64) -> Error {
    let dir = tempfile::tempdir().unwrap();
    let (delta, out) = (dir.path().join("d"), dir.path().join("out"));
    std::fs::write(&delta, bytes).unwrap();
    std::fs::write(&out, b"the previous file").unwrap();
    let error = apply(base, &delta, &out, cap).unwrap_err();
    assert_eq!(std::fs::read(&out).unwrap(), b"the previous file", "{error}");
    assert_eq!(listing(dir.path()), ["d", "out"], "{error}");
    error
}

#[test]
fn a_delta_with_one_payload_byte_flipped_is_refused_by_its_decoder_or_by_the_results_hash() {
    let b = builds();
    let (bytes, full) = delta(&b);
    // The last byte (the extra stream's) and one in the middle: nothing hashes the payload itself since version 2.
    for at in [bytes.len() - 1, bytes.len() - bytes.len() / 3] {
        let mut bytes = bytes.clone();
        bytes[at] ^= 0x40;
        let error = refused(&b.v1, &bytes, full);
        assert!(["corrupt", "result_mismatch"].contains(&error.code()), "byte {at}: {error}");
        assert!(error.to_string().contains("\nhint: download the full artifact"), "{error}");
    }
}

#[test]
fn a_payload_the_decoder_rejects_is_refused_as_corrupt_with_the_decoders_error() {
    let b = builds();
    for encoder in millennium_delta::Encoder::ALL {
        // A consistent header around garbage: only the decoder can tell.
        let bytes = crate::fixtures::wrap(encoder, &b.v1, &b.asset, b"this is no zstd frame nor a bsdiff patch");
        let error = refused(&b.v1, &bytes, u64::MAX);
        assert_eq!(error.code(), "corrupt", "{encoder}: {error}");
        // `unpacked` refuses the recipe in front of the inner delta itself, before any decoder runs.
        if encoder != millennium_delta::Encoder::Unpacked {
            assert!(std::error::Error::source(&error).is_some(), "{encoder}: {error}");
        }
    }
}

#[test]
fn a_base_of_another_size_is_refused_before_decoding() {
    let b = builds();
    let (bytes, full) = delta(&b);
    let other = b.path("other");
    std::fs::write(&other, b"not the base").unwrap();
    let error = refused(&other, &bytes, full);
    assert_eq!(error.code(), "wrong_base", "{error}");
    assert!(error.to_string().contains("12 bytes"), "{error}");
}

#[test]
fn a_base_of_the_same_size_with_one_byte_changed_is_refused_by_its_hash() {
    let b = builds();
    let (bytes, full) = delta(&b);
    let mut base = std::fs::read(&b.v1).unwrap();
    base[1000] ^= 1;
    let other = b.path("patched");
    std::fs::write(&other, &base).unwrap();
    let error = refused(&other, &bytes, full);
    assert_eq!(error.code(), "wrong_base", "{error}");
    assert!(error.to_string().contains("BLAKE2b-256"), "{error}");
}

#[test]
fn a_delta_cut_short_is_refused_as_truncated() {
    let b = builds();
    let (bytes, full) = delta(&b);
    let header_len = inspect(&b.path("good.delta")).unwrap().encoded_len();
    for len in [bytes.len() - 1, header_len, header_len - 1, 10] {
        let error = refused(&b.v1, &bytes[..len], full);
        assert_eq!(error.code(), "truncated", "cut to {len}: {error}");
    }
    // Bytes after the payload are no better.
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(refused(&b.v1, &longer, full).code(), "corrupt");
}

#[test]
fn a_result_larger_than_the_cap_is_refused_before_anything_is_written() {
    let b = builds();
    let (bytes, full) = delta(&b);
    let error = refused(&b.v1, &bytes, full - 1);
    assert_eq!(error.code(), "too_large", "{error}");
    assert!(matches!(error, Error::TooLarge { size, limit, .. } if size == full && limit == full - 1));
}

#[test]
fn a_header_that_understates_the_result_size_stops_the_decoder_at_that_size() {
    let b = builds();
    let (bytes, full) = delta(&b);
    // A forged header announces a small result to pass the cap, then the payload writes more. The sink stops at the
    // announced size.
    let bytes = edit_header(&bytes, |h| h.result_size = 1000);
    let error = refused(&b.v1, &bytes, full);
    assert_eq!(error.code(), "result_mismatch", "{error}");
    assert!(error.to_string().contains("more than the 1000 bytes it announces"), "{error}");
}

#[test]
fn a_result_whose_check_is_not_the_announced_one_is_refused_in_both_container_versions() {
    let b = builds();
    let (bytes, full) = delta(&b);
    let bytes = edit_header(&bytes, |h| match &mut h.result_check {
        ResultCheck::Blake2b256(hash) => hash[0] ^= 1,
        ResultCheck::Xxh3_64(_) => panic!("a default delta is version 2"),
    });
    let error = refused(&b.v1, &bytes, full);
    assert_eq!(error.code(), "result_mismatch", "{error}");
    assert!(error.to_string().contains("BLAKE2b-256"), "{error}");

    let path = b.path("xxh3.delta");
    make(&b.v1, &b.asset, &path, &MakeOptions { xxh3_result_check: true, ..MakeOptions::default() }).unwrap();
    let bytes = edit_header(&std::fs::read(&path).unwrap(), |h| match &mut h.result_check {
        ResultCheck::Xxh3_64(hash) => *hash ^= 1,
        ResultCheck::Blake2b256(_) => panic!("`xxh3_result_check` writes version 3"),
    });
    let error = refused(&b.v1, &bytes, full);
    assert_eq!(error.code(), "result_mismatch", "{error}");
    assert!(error.to_string().contains("XXH3-64"), "{error}");
    // The wrong base is still named as the cause: its BLAKE2b-256 is in the header of both versions.
    let error = refused(&b.function, &std::fs::read(&path).unwrap(), full);
    assert_eq!(error.code(), "wrong_base", "{error}");
}

#[test]
fn a_file_that_is_not_a_delta_is_refused_by_its_magic() {
    let b = builds();
    let error = refused(&b.v1, b"<html><body>502 Bad Gateway</body></html>", u64::MAX);
    assert_eq!(error.code(), "not_a_delta", "{error}");
    let error = refused(&b.v1, &std::fs::read(&b.asset).unwrap(), u64::MAX);
    assert_eq!(error.code(), "not_a_delta", "{error}");
}

#[test]
fn a_delta_of_an_unknown_version_or_encoder_is_refused() {
    let b = builds();
    let (bytes, full) = delta(&b);
    let mut version = bytes.clone();
    version[16] = millennium_delta::VERSION + 1;
    assert_eq!(refused(&b.v1, &version, full).code(), "unsupported_version");
    // A version-2 header relabelled 3: its fields do not fill the length version 3 reads (8 bytes of check, not 32).
    let mut relabelled = bytes.clone();
    relabelled[16] = 3;
    assert_eq!(refused(&b.v1, &relabelled, full).code(), "corrupt");
    let mut encoder = bytes.clone();
    encoder[17] = 9;
    assert_eq!(refused(&b.v1, &encoder, full).code(), "unknown_encoder");
    // A header length (the skippable frame's) that its fields do not fill.
    let mut length = bytes;
    length[4] += 1;
    assert_eq!(refused(&b.v1, &length, full).code(), "corrupt");
}

#[test]
fn randomly_damaged_deltas_are_refused_or_give_exactly_the_promised_file_and_never_panic() {
    let b = builds();
    let expected = std::fs::read(&b.function).unwrap();
    let mut originals = Vec::new();
    // `unpacked` steps aside for executables: its damaged deltas are `unpacked::` tests, through `damaged_deltas`.
    for encoder in [millennium_delta::Encoder::Zstd, millennium_delta::Encoder::Bsdiff] {
        let path = b.path(&format!("{encoder}.delta"));
        let options = MakeOptions { encoders: vec![encoder], ..MakeOptions::default() };
        make(&b.v1, &b.function, &path, &options).unwrap().kept().unwrap();
        originals.push(std::fs::read(&path).unwrap());
    }
    damaged_deltas(&b.v1, &originals, &expected);
}

/// 400 rounds of damage to `originals` (deltas from `base` to `expected`): each damaged delta is refused, or gives
/// exactly `expected`, and never panics or leaves a temporary file.
pub fn damaged_deltas(base: &std::path::Path, originals: &[Vec<u8>], expected: &[u8]) {
    // Deterministic damage: flipped bytes anywhere (header included), and cuts.
    let mut noise = millennium_testing::xorshift64(0x2545_f491_4f6c_dd1d);
    let mut next = move || noise.next().unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let (delta, out) = (dir.path().join("d"), dir.path().join("out"));
    let headers: Vec<_> = originals
        .iter()
        .map(|bytes| {
            std::fs::write(&delta, bytes).unwrap();
            inspect(&delta).unwrap()
        })
        .collect();
    let mut refusals = std::collections::BTreeMap::<&str, usize>::new();
    for round in 0..400 {
        let mut bytes = originals[round % originals.len()].clone();
        for _ in 0..1 + next() % 3 {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] ^= 1 << (next() % 8);
        }
        if round % 5 == 0 {
            bytes.truncate((next() % bytes.len() as u64) as usize);
        }
        // Every other round the damage gets a valid header with the payload size it now has, as a hostile server would
        // write it, so that it reaches the decoders instead of stopping at the container.
        let header = &headers[round % originals.len()];
        if round % 2 == 1 && bytes.len() >= header.encoded_len() {
            let payload = &bytes[header.encoded_len()..];
            let sized = millennium_delta::Header { payload_size: payload.len() as u64, ..header.clone() };
            bytes = [sized.to_bytes().as_slice(), payload].concat();
        }
        std::fs::write(&delta, &bytes).unwrap();
        match apply(base, &delta, &out, expected.len() as u64) {
            Ok(_) => assert_eq!(std::fs::read(&out).unwrap(), expected, "round {round}: accepted a wrong result"),
            Err(e) => *refusals.entry(e.code()).or_default() += 1,
        }
    }
    assert!(refusals.values().sum::<usize>() > 300, "{refusals:?}");
    assert!(refusals.get("corrupt").is_some_and(|&n| n > 50), "the decoders were reached: {refusals:?}");
    assert_eq!(listing(dir.path()).len(), 1 + usize::from(out.exists()), "a temporary file was left behind");
}
