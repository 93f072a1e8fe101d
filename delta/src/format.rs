//! The container: a header of 56–100 bytes, then the encoder's payload.
//!
//! Version 2, written by default, and version 3, written on request ([`crate::MakeOptions::xxh3_result_check`]):
//!
//! ```text
//! offset size
//!      0    4  0x184D2A5E, little-endian: a zstd skippable frame, so zstd decoders step over the header
//!      4    4  the skippable frame's length: the header's length - 8, little-endian
//!      8    8  `MLNDELTA`
//!     16    1  container version (2 or 3)
//!     17    1  encoder id (1 zstd, 2 bsdiff40, 3 unpacked, 4 bsdiff)
//!     18       varint base size, base BLAKE2b-256 (32 bytes),
//!              varint result size, result check: version 2 BLAKE2b-256 (32 bytes), version 3 XXH3-64 (8 bytes, LE),
//!              varint payload size                                  (varints: 7 bits a byte, low first)
//!              payload
//! ```
//!
//! Version 3 differs only in the result's check: XXH3-64, a non-cryptographic checksum like the XXH64 `zstd -d` checks,
//! about 30 times cheaper than BLAKE2b. The header is written by the same server as the payload, so its check never
//! protected against a forger (who writes a matching one); it catches accidents (a wrong base, a damaged delta, a
//! decoder fault), for which 64 bits suffice. What the updater trusts is the result's signature and signed hash, which
//! it checks on every result (README, "What the applier checks").
//! Version 1 (read, never written) had a fixed 140-byte header: after byte 17, two zero bytes, then base, result and
//! payload each as an 8-byte little-endian size and a BLAKE2b-256, the payload's hash checked before decoding.
//! Version 2 drops that hash (32 bytes of every delta): it only told a damaged payload apart early, and a damaged
//! payload is refused anyway, by its decoder or by the result's hash, which is what protects the output.
//!
//! BLAKE2b-256 because it is the hash the signed metadata already records for every artifact
//! (`millennium-update-protocol`), so the result hash can be compared with it directly.

use std::io::Read;
use std::path::Path;

use crate::{Encoder, Error, Result};

/// The newest container version this build reads and writes (it writes version 2 unless asked for 3; it also reads
/// version 1).
pub const VERSION: u8 = 3;
/// The longest header of any version: what a reader reads before it knows the actual length.
pub const MAX_HEADER_LEN: usize = 140;

const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
const MAGIC: &[u8; 8] = b"MLNDELTA";
const V1_LEN: usize = 140;

/// What a delta says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The encoder of the payload.
    pub encoder: Encoder,
    /// The size of the file the delta applies to.
    pub base_size: u64,
    /// Its BLAKE2b-256.
    pub base_blake2b_256: [u8; 32],
    /// The size of the file it produces.
    pub result_size: u64,
    /// What the applier checks it by; also decides the container version.
    pub result_check: ResultCheck,
    /// The size of the payload after the header.
    pub payload_size: u64,
}

/// How a delta's result is checked, and the container version that records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCheck {
    /// BLAKE2b-256 (container versions 1 and 2): also the hash signed release documents record.
    Blake2b256([u8; 32]),
    /// XXH3-64 with seed 0 (container version 3): a checksum against accidents, as `zstd`'s frames carry.
    Xxh3_64(u64),
}

impl ResultCheck {
    /// The container version that records it.
    pub fn version(self) -> u8 {
        match self {
            ResultCheck::Blake2b256(_) => 2,
            ResultCheck::Xxh3_64(_) => 3,
        }
    }
}

impl std::fmt::Display for ResultCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResultCheck::Blake2b256(hash) => write!(f, "blake2b-256 {}", hex::encode(hash)),
            ResultCheck::Xxh3_64(hash) => write!(f, "xxh3-64 {hash:016x}"),
        }
    }
}

/// A header as read, with what depends on its version.
pub(crate) struct Parsed {
    pub header: Header,
    /// Where the payload starts.
    pub len: usize,
    /// Version 1's payload hash.
    pub payload_blake2b_256: Option<[u8; 32]>,
}

pub(crate) fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

impl Header {
    /// The header's bytes: version 2 or 3, as [`Header::result_check`] says.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(MAX_HEADER_LEN);
        b.extend_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(MAGIC);
        b.push(self.result_check.version());
        b.push(self.encoder.id());
        push_varint(&mut b, self.base_size);
        b.extend_from_slice(&self.base_blake2b_256);
        push_varint(&mut b, self.result_size);
        match self.result_check {
            ResultCheck::Blake2b256(hash) => b.extend_from_slice(&hash),
            ResultCheck::Xxh3_64(hash) => b.extend_from_slice(&hash.to_le_bytes()),
        }
        push_varint(&mut b, self.payload_size);
        let frame = (b.len() - 8) as u32;
        b[4..8].copy_from_slice(&frame.to_le_bytes());
        b
    }

    /// The length of [`Header::to_bytes`]: where the payload starts.
    pub fn encoded_len(&self) -> usize {
        self.to_bytes().len()
    }

    /// Reads a header from the start of `reader`, which is left anywhere; `path` names the delta in errors.
    pub(crate) fn read(reader: &mut impl Read, path: &Path) -> Result<Parsed> {
        let mut b = [0u8; MAX_HEADER_LEN];
        let mut got = 0;
        while got < MAX_HEADER_LEN {
            match reader.read(&mut b[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("read the delta", path, e)),
            }
        }
        let b = &b[..got];
        let truncated =
            |expected: usize| Error::Truncated { path: path.into(), expected: expected as u64, actual: got as u64 };
        // The magic first, so that an HTML error page is "not a delta" rather than "truncated".
        let mut magic = [0u8; 16];
        magic[0..4].copy_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
        magic[8..16].copy_from_slice(MAGIC);
        let magic_ok = |n: usize| (0..n).all(|i| (4..8).contains(&i) || b[i] == magic[i]);
        if got < 18 {
            return Err(if got > 0 && magic_ok(got.min(16)) {
                truncated(18)
            } else {
                Error::NotADelta { path: path.into() }
            });
        }
        if !magic_ok(16) {
            return Err(Error::NotADelta { path: path.into() });
        }
        let frame = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let encoder = || Encoder::from_id(b[17]).ok_or(Error::UnknownEncoder { path: path.into(), id: b[17] });
        let corrupt = |reason| Error::Corrupt { path: path.into(), reason, source: None };
        match b[16] {
            1 => {
                if frame != V1_LEN - 8 {
                    return Err(corrupt("the header's length is not its version's"));
                }
                if got < V1_LEN {
                    return Err(truncated(V1_LEN));
                }
                let encoder = encoder()?;
                if b[18..20] != [0, 0] {
                    return Err(corrupt("reserved header bytes are not zero"));
                }
                let field = |i: usize| {
                    let at = 20 + i * 40;
                    let mut size = [0u8; 8];
                    size.copy_from_slice(&b[at..at + 8]);
                    let mut hash = [0u8; 32];
                    hash.copy_from_slice(&b[at + 8..at + 40]);
                    (u64::from_le_bytes(size), hash)
                };
                let ((base_size, base_blake2b_256), (result_size, result_blake2b_256), (payload_size, payload_hash)) =
                    (field(0), field(1), field(2));
                let result_check = ResultCheck::Blake2b256(result_blake2b_256);
                let header = Header { encoder, base_size, base_blake2b_256, result_size, result_check, payload_size };
                Ok(Parsed { header, len: V1_LEN, payload_blake2b_256: Some(payload_hash) })
            }
            version @ (2 | 3) => {
                let len = frame + 8;
                if !(18..=MAX_HEADER_LEN).contains(&len) {
                    return Err(corrupt("the header's length is not its version's"));
                }
                if got < len {
                    return Err(truncated(len));
                }
                let encoder = encoder()?;
                let b = &b[..len];
                let mut at = 18;
                let hash = |at: &mut usize| {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(b.get(*at..*at + 32)?);
                    *at += 32;
                    Some(h)
                };
                let fields = (|| {
                    let base_size = take_varint(b, &mut at)?;
                    let base_blake2b_256 = hash(&mut at)?;
                    let result_size = take_varint(b, &mut at)?;
                    let result_check = if version == 2 {
                        ResultCheck::Blake2b256(hash(&mut at)?)
                    } else {
                        let bytes = b.get(at..at + 8)?;
                        at += 8;
                        ResultCheck::Xxh3_64(u64::from_le_bytes(bytes.try_into().ok()?))
                    };
                    let payload_size = take_varint(b, &mut at)?;
                    Some(Header { encoder, base_size, base_blake2b_256, result_size, result_check, payload_size })
                })();
                match fields {
                    Some(header) if at == len => Ok(Parsed { header, len, payload_blake2b_256: None }),
                    _ => Err(corrupt("the header's fields do not fill its length")),
                }
            }
            version => Err(Error::UnsupportedVersion { path: path.into(), version, supported: VERSION }),
        }
    }
}

pub(crate) fn blake2b_256_state() -> blake2b_simd::State {
    blake2b_simd::Params::new().hash_length(32).to_state()
}

/// The BLAKE2b-256 of `data`, the hash a [`Header`] records (and the signed metadata records for every artifact).
pub fn blake2b_256(data: &[u8]) -> [u8; 32] {
    let mut state = blake2b_256_state();
    state.update(data);
    finish(&state)
}

pub(crate) fn finish(state: &blake2b_simd::State) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(state.finalize().as_bytes());
    out
}
