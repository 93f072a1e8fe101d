//! Pairs of real builds (from `millennium-testing`, shared with the updater's delta tests) and helpers of these tests.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::path::Path;

use millennium_delta::{Header, blake2b_256};
pub use millennium_testing::rust_builds::Builds;

/// v1 and its two variants, built once per test run.
pub fn builds() -> Builds {
    millennium_testing::rust_builds::builds(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// Wraps a payload made by a real tool (`bsdiff`, `zstd --patch-from`) in the container, as `make` would.
pub fn wrap(encoder: millennium_delta::Encoder, base: &Path, result: &Path, payload: &[u8]) -> Vec<u8> {
    let (base, result) = (std::fs::read(base).unwrap(), std::fs::read(result).unwrap());
    let header = Header {
        encoder,
        base_size: base.len() as u64,
        base_blake2b_256: blake2b_256(&base),
        result_size: result.len() as u64,
        result_check: millennium_delta::ResultCheck::Blake2b256(blake2b_256(&result)),
        payload_size: payload.len() as u64,
    };
    let mut out = header.to_bytes();
    out.extend_from_slice(payload);
    out
}

/// `delta` (the bytes of a delta `make` wrote) with its header changed by `edit` and written again, the payload kept:
/// what a hostile server can do, since nothing signs the header.
pub fn edit_header(delta: &[u8], edit: impl FnOnce(&mut Header)) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d");
    std::fs::write(&path, delta).unwrap();
    let mut header = millennium_delta::inspect(&path).unwrap();
    let payload = &delta[header.encoded_len()..];
    edit(&mut header);
    let mut out = header.to_bytes();
    out.extend_from_slice(payload);
    out
}

/// The names in `dir`, to check that a refusal left no temporary file behind.
pub fn listing(dir: &Path) -> Vec<String> {
    millennium_testing::listing(dir)
}
