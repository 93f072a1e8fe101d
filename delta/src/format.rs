//! The container: a 140-byte header, then the encoder's payload.
//!
//! ```text
//! offset size
//!      0    4  0x184D2A5E, little-endian: a zstd skippable frame, so zstd decoders step over the header
//!      4    4  132, little-endian: the skippable frame's length
//!      8    8  `MLNDELTA`
//!     16    1  container version (1)
//!     17    1  encoder id (1 zstd, 2 bsdiff, 3 unpacked)
//!     18    2  zero (reserved; a reader refuses anything else)
//!     20    8  base size, little-endian        28   32  base BLAKE2b-256
//!     60    8  result size, little-endian      68   32  result BLAKE2b-256
//!    100    8  payload size, little-endian    108   32  payload BLAKE2b-256
//!    140       payload
//! ```
//!
//! BLAKE2b-256 because it is the hash the signed metadata already records for every artifact
//! (`millennium-update-protocol`), so the result hash can be compared with it directly.

use std::io::Read;
use std::path::Path;

use crate::{Encoder, Error, Result};

/// The container version this build writes and reads.
pub const VERSION: u8 = 1;
/// The header's length; the payload starts here.
pub const HEADER_LEN: usize = 140;

const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
const MAGIC: &[u8; 8] = b"MLNDELTA";

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
    /// Its BLAKE2b-256.
    pub result_blake2b_256: [u8; 32],
    /// The size of the payload after the header.
    pub payload_size: u64,
    /// Its BLAKE2b-256: a damaged delta is refused before decoding.
    pub payload_blake2b_256: [u8; 32],
}

impl Header {
    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&((HEADER_LEN - 8) as u32).to_le_bytes());
        b[8..16].copy_from_slice(MAGIC);
        b[16] = VERSION;
        b[17] = self.encoder.id();
        let fields = [
            (self.base_size, &self.base_blake2b_256),
            (self.result_size, &self.result_blake2b_256),
            (self.payload_size, &self.payload_blake2b_256),
        ];
        for (i, (size, hash)) in fields.into_iter().enumerate() {
            let at = 20 + i * 40;
            b[at..at + 8].copy_from_slice(&size.to_le_bytes());
            b[at + 8..at + 40].copy_from_slice(hash);
        }
        b
    }

    /// Reads a header from the start of `reader`; `path` names the delta in errors.
    pub fn read(reader: &mut impl Read, path: &Path) -> Result<Header> {
        let mut b = [0u8; HEADER_LEN];
        let mut got = 0;
        while got < HEADER_LEN {
            match reader.read(&mut b[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("read the delta", path, e)),
            }
        }
        // The magic first, so that an HTML error page is "not a delta" rather than "truncated".
        let magic_ok = got >= 16
            && b[0..4] == SKIPPABLE_MAGIC.to_le_bytes()
            && b[4..8] == ((HEADER_LEN - 8) as u32).to_le_bytes()
            && &b[8..16] == MAGIC;
        if !magic_ok {
            let prefix_of_magic = got < 16 && b[..got] == Header::magic_bytes()[..got];
            return Err(if prefix_of_magic && got > 0 {
                Error::Truncated { path: path.into(), expected: HEADER_LEN as u64, actual: got as u64 }
            } else {
                Error::NotADelta { path: path.into() }
            });
        }
        if got < HEADER_LEN {
            return Err(Error::Truncated { path: path.into(), expected: HEADER_LEN as u64, actual: got as u64 });
        }
        if b[16] != VERSION {
            return Err(Error::UnsupportedVersion { path: path.into(), version: b[16], supported: VERSION });
        }
        let encoder = Encoder::from_id(b[17]).ok_or(Error::UnknownEncoder { path: path.into(), id: b[17] })?;
        if b[18..20] != [0, 0] {
            return Err(Error::Corrupt {
                path: path.into(),
                reason: "reserved header bytes are not zero",
                source: None,
            });
        }
        let field = |i: usize| {
            let at = 20 + i * 40;
            let mut size = [0u8; 8];
            size.copy_from_slice(&b[at..at + 8]);
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&b[at + 8..at + 40]);
            (u64::from_le_bytes(size), hash)
        };
        let ((base_size, base_blake2b_256), (result_size, result_blake2b_256), (payload_size, payload_blake2b_256)) =
            (field(0), field(1), field(2));
        Ok(Header {
            encoder,
            base_size,
            base_blake2b_256,
            result_size,
            result_blake2b_256,
            payload_size,
            payload_blake2b_256,
        })
    }

    fn magic_bytes() -> [u8; 16] {
        let mut m = [0u8; 16];
        m[0..4].copy_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
        m[4..8].copy_from_slice(&((HEADER_LEN - 8) as u32).to_le_bytes());
        m[8..16].copy_from_slice(MAGIC);
        m
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
