//! The `unpacked` encoder: deltas of compressed artifacts (`.app.tar.gz`, `.deb`) made between their *decompressed*
//! contents, the result compressed again exactly as the release was.
//!
//! # Why
//!
//! A compressor spreads a small change over everything after it (gzip's bit-packed Huffman codes shift, xz's range
//! coder state diverges), so a byte diff of two `.app.tar.gz` or `.deb` files that differ in one file finds almost
//! nothing in common. Their decompressed contents differ only where the files do.
//!
//! # How
//!
//! [`split`] cuts a file into pieces, the same way for the base and the new file:
//!
//! - a gzip file (magic `1f 8b 08`) is one gzip piece, when one gzip member spans the whole file;
//! - an `ar` archive (`!<arch>\n`, a `.deb`): member headers and padding are raw pieces, a member named `*.xz` or
//!   `*.gz` holding that format is an xz or gzip piece, any other member raw;
//! - anything else is not for this encoder.
//!
//! The *unpacked* form is the pieces concatenated, compressed ones decompressed. Making: for every compressed piece of
//! the new file, the encoder finds the settings that compress its contents back to exactly its bytes (gzip: the
//! header kept verbatim, a deflate level 1–9 of this build's `flate2`; xz: the bundler's multi-threaded stream with
//! 4 MiB blocks, or `xz`'s single-threaded default, preset 0–9); a piece no setting reproduces makes the encoder
//! step aside (the other encoders still run on the raw bytes). Then a zstd and a bsdiff delta of the unpacked base to
//! the unpacked new file, the smaller kept.
//!
//! The payload: the inner encoder's id, the recipe (per piece: raw length, or codec, settings and unpacked length),
//! then the inner delta. Applying: unpack the (hash-checked) base, apply the inner delta in memory, bounded by the
//! recipe's total, which is itself bounded ([`max_unpacked`]), then write each piece — raw, or compressed with its
//! settings — to the output, whose size and hash are checked as for any delta. A compressor other than the one the
//! server used (another `flate2` or liblzma version) gives other bytes: the result check refuses them and the updater
//! downloads the full artifact, so nothing depends on it for safety.

use std::io::{Read, Write};
use std::ops::Range;

use crate::{Encoder, Error, MakeOptions, Result};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b, 0x08];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
const AR_MAGIC: &[u8] = b"!<arch>\n";
const AR_HEADER: usize = 60;
/// The bundler's xz block size (`millennium-bundler`'s `.deb`): its output does not depend on the thread count.
const BUNDLER_XZ_BLOCK: u64 = 4 << 20;

/// The most the unpacked form of a result of `result_size` bytes may take: what a forged recipe can make the applier
/// allocate. Real packages unpack to a few times their size; one that unpacks to more simply gets no such delta.
pub(crate) fn max_unpacked(result_size: u64) -> u64 {
    result_size.saturating_mul(16).saturating_add(64 << 20)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Raw,
    Gzip,
    Xz,
}

/// How to compress a piece back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Codec {
    /// The gzip header verbatim, raw deflate at `level`, then the CRC-32 and length trailer.
    Gzip { header: Vec<u8>, level: u8 },
    /// An xz stream with CRC-64 checks at `preset`; `block_size` 0 is liblzma's single-threaded encoder, else the
    /// multi-threaded one with blocks of that size (one thread: the output does not depend on the count).
    Xz { preset: u8, block_size: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Raw { len: u64 },
    Packed { codec: Codec, unpacked_len: u64 },
}

/// Cuts `data` into pieces (see the module docs); `None` when it is neither gzip nor `ar`.
fn split(data: &[u8]) -> Option<Vec<(Kind, Range<usize>)>> {
    if data.starts_with(GZIP_MAGIC) {
        return Some(vec![(Kind::Gzip, 0..data.len())]);
    }
    if !data.starts_with(AR_MAGIC) {
        return None;
    }
    let mut pieces = vec![(Kind::Raw, 0..AR_MAGIC.len())];
    let mut at = AR_MAGIC.len();
    while at < data.len() {
        let header = data.get(at..at + AR_HEADER)?;
        let size: usize = std::str::from_utf8(&header[48..58]).ok()?.trim().parse().ok()?;
        let name = std::str::from_utf8(&header[..16]).ok()?.trim_end().trim_end_matches('/');
        let body = at + AR_HEADER..(at + AR_HEADER).checked_add(size)?;
        let contents = data.get(body.clone())?;
        let kind = if name.ends_with(".xz") && contents.starts_with(XZ_MAGIC) {
            Kind::Xz
        } else if name.ends_with(".gz") && contents.starts_with(GZIP_MAGIC) {
            Kind::Gzip
        } else {
            Kind::Raw
        };
        pieces.push((Kind::Raw, at..at + AR_HEADER));
        pieces.push((kind, body.clone()));
        at = body.end;
        // Members start at even offsets: an odd-sized one is followed by a `\n`.
        if size % 2 == 1 && at < data.len() {
            pieces.push((Kind::Raw, at..at + 1));
            at += 1;
        }
    }
    Some(pieces)
}

/// The length of a gzip member's header (up to the deflate data), or `None` when it is malformed.
fn gzip_header_len(data: &[u8]) -> Option<usize> {
    let flags = *data.get(3)?;
    let mut at = 10;
    if flags & 0x04 != 0 {
        let len = u16::from_le_bytes([*data.get(at)?, *data.get(at + 1)?]) as usize;
        at += 2 + len;
    }
    for bit in [0x08, 0x10] {
        if flags & bit != 0 {
            at += data.get(at..)?.iter().position(|&b| b == 0)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    (at <= data.len()).then_some(at)
}

/// Decompresses one piece, refusing more than `limit` bytes. `None`: not a well-formed single stream spanning the
/// piece.
fn unpack_piece(kind: Kind, data: &[u8], limit: u64) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match kind {
        Kind::Raw => Some(data.to_vec()),
        Kind::Gzip => {
            let header = gzip_header_len(data)?;
            let mut decoder = flate2::bufread::DeflateDecoder::new(&data[header..]);
            (&mut decoder).take(limit + 1).read_to_end(&mut out).ok()?;
            let end = header + usize::try_from(decoder.total_in()).ok()?;
            let trailer = data.get(end..end + 8)?;
            let mut crc = flate2::Crc::new();
            crc.update(&out);
            let ok = end + 8 == data.len()
                && trailer[..4] == crc.sum().to_le_bytes()
                && trailer[4..] == (out.len() as u32).to_le_bytes();
            (ok && out.len() as u64 <= limit).then_some(out)
        }
        Kind::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(u64::MAX, 0).ok()?;
            let mut decoder = liblzma::bufread::XzDecoder::new_stream(data, stream);
            (&mut decoder).take(limit + 1).read_to_end(&mut out).ok()?;
            (decoder.total_in() == data.len() as u64 && out.len() as u64 <= limit).then_some(out)
        }
    }
}

/// Pieces of a file: their kind, where they are in it, and where their contents are in its unpacked form.
type Pieces = Vec<(Kind, Range<usize>, Range<usize>)>;

/// The unpacked form of `data` (see the module docs), at most `limit` bytes, and its pieces.
fn unpack(data: &[u8], limit: u64) -> Option<(Vec<u8>, Pieces)> {
    let mut unpacked = Vec::new();
    let mut pieces = Vec::new();
    for (kind, range) in split(data)? {
        let contents = unpack_piece(kind, &data[range.clone()], limit.saturating_sub(unpacked.len() as u64))?;
        let start = unpacked.len();
        unpacked.extend_from_slice(&contents);
        pieces.push((kind, range, start..unpacked.len()));
    }
    Some((unpacked, pieces))
}

fn compress(codec: &Codec, contents: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    match codec {
        Codec::Gzip { header, level } => {
            out.write_all(header)?;
            let mut encoder =
                flate2::write::DeflateEncoder::new(&mut *out, flate2::Compression::new(u32::from(*level)));
            encoder.write_all(contents)?;
            encoder.finish()?;
            let mut crc = flate2::Crc::new();
            crc.update(contents);
            out.write_all(&crc.sum().to_le_bytes())?;
            out.write_all(&(contents.len() as u32).to_le_bytes())
        }
        Codec::Xz { preset, block_size } => {
            let check = liblzma::stream::Check::Crc64;
            let stream = if *block_size == 0 {
                liblzma::stream::Stream::new_easy_encoder(u32::from(*preset), check)
            } else {
                liblzma::stream::MtStreamBuilder::new()
                    .threads(1)
                    .block_size(*block_size)
                    .preset(u32::from(*preset))
                    .check(check)
                    .encoder()
            }
            .map_err(std::io::Error::other)?;
            let mut encoder = liblzma::write::XzEncoder::new_stream(&mut *out, stream);
            encoder.write_all(contents)?;
            encoder.finish().map(drop)
        }
    }
}

/// The settings that compress `contents` back to exactly `original`, if any.
fn reproduce(kind: Kind, original: &[u8], contents: &[u8]) -> Option<Codec> {
    let candidates: Vec<Codec> = match kind {
        Kind::Raw => return None,
        Kind::Gzip => {
            let header = original[..gzip_header_len(original)?].to_vec();
            // 9 first: the bundler's `Compression::best()`; then gzip's default 6.
            [9, 6, 1, 2, 3, 4, 5, 7, 8].into_iter().map(|level| Codec::Gzip { header: header.clone(), level }).collect()
        }
        Kind::Xz => [6, 9, 0, 1, 2, 3, 4, 5, 7, 8]
            .into_iter()
            .flat_map(|preset| [BUNDLER_XZ_BLOCK, 0].map(|block_size| Codec::Xz { preset, block_size }))
            .collect(),
    };
    candidates.into_iter().find(|codec| {
        let mut matcher = Matcher { expected: original, at: 0 };
        compress(codec, contents, &mut matcher).is_ok() && matcher.at == original.len()
    })
}

/// A writer that accepts exactly a prefix of `expected`: a candidate setting fails at its first differing byte,
/// without compressing the rest.
struct Matcher<'a> {
    expected: &'a [u8],
    at: usize,
}

impl Write for Matcher<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.expected.get(self.at..self.at + buf.len()) != Some(buf) {
            return Err(std::io::Error::other("not the original bytes"));
        }
        self.at += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The `unpacked` payload from `base` to `target`, or `None` when the encoder does not apply: `target` is not gzip or
/// `ar`, a piece of it cannot be compressed back exactly, or the base does not unpack.
pub(crate) fn encode(base: &[u8], target: &[u8], options: &MakeOptions) -> Result<Option<Vec<u8>>> {
    let limit = max_unpacked(target.len() as u64);
    let Some((new_unpacked, pieces)) = unpack(target, limit) else { return Ok(None) };
    if pieces.iter().all(|(kind, _, _)| *kind == Kind::Raw) {
        return Ok(None);
    }
    let mut parts = Vec::with_capacity(pieces.len());
    for (kind, packed, unpacked) in &pieces {
        let contents = &new_unpacked[unpacked.clone()];
        parts.push(match kind {
            Kind::Raw => Part::Raw { len: contents.len() as u64 },
            _ => {
                let Some(codec) = reproduce(*kind, &target[packed.clone()], contents) else { return Ok(None) };
                Part::Packed { codec, unpacked_len: contents.len() as u64 }
            }
        });
    }
    // The base unpacks the same way, or is used as it is (e.g. the first release was not compressed yet).
    let base_unpacked = unpack(base, max_unpacked(base.len() as u64)).map_or_else(|| base.to_vec(), |(u, _)| u);

    let mut inner: Option<(Encoder, Vec<u8>)> = None;
    for &encoder in &[Encoder::Zstd, Encoder::Bsdiff] {
        let payload = match encoder {
            Encoder::Bsdiff if base_unpacked.len() as u64 > options.bsdiff_max_base => continue,
            Encoder::Bsdiff => crate::bsdiff::encode(&base_unpacked, &new_unpacked, options)?,
            _ => crate::encode_zstd(&base_unpacked, &new_unpacked, options.zstd_level)?,
        };
        if inner.as_ref().is_none_or(|(_, best)| payload.len() < best.len()) {
            inner = Some((encoder, payload));
        }
    }
    let Some((encoder, inner)) = inner else { return Ok(None) };

    let mut payload = vec![encoder.id()];
    payload.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    for part in &parts {
        match part {
            Part::Raw { len } => {
                payload.push(0);
                payload.extend_from_slice(&len.to_le_bytes());
            }
            Part::Packed { codec: Codec::Gzip { header, level }, unpacked_len } => {
                payload.push(1);
                payload.extend_from_slice(&unpacked_len.to_le_bytes());
                payload.push(*level);
                payload.extend_from_slice(&(header.len() as u16).to_le_bytes());
                payload.extend_from_slice(header);
            }
            Part::Packed { codec: Codec::Xz { preset, block_size }, unpacked_len } => {
                payload.push(2);
                payload.extend_from_slice(&unpacked_len.to_le_bytes());
                payload.push(*preset);
                payload.extend_from_slice(&block_size.to_le_bytes());
            }
        }
    }
    payload.extend_from_slice(&inner);
    Ok(Some(payload))
}

/// Reads the payload's fields in order; any shortfall or bad value is `corrupt`.
struct Fields<'a> {
    data: &'a [u8],
    path: &'a std::path::Path,
}

impl<'a> Fields<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.data.len() < n {
            return Err(corrupt(self.path, "the recipe is cut short", None));
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.bytes(2)?.try_into().unwrap_or_default()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().unwrap_or_default()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().unwrap_or_default()))
    }
}

fn corrupt(path: &std::path::Path, reason: &'static str, source: Option<std::io::Error>) -> Error {
    Error::Corrupt { path: path.into(), reason, source }
}

/// A `Vec` writer that refuses to grow past `limit`.
struct Bounded {
    data: Vec<u8>,
    limit: usize,
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.data.len() + buf.len() > self.limit {
            return Err(std::io::Error::other("the unpacked result is larger than its recipe says"));
        }
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl crate::bsdiff::Output for Bounded {
    fn fill_next(
        &mut self,
        max: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> std::io::Result<()>,
    ) -> std::io::Result<usize> {
        if self.data.len() + max > self.limit {
            return Err(std::io::Error::other("the unpacked result is larger than its recipe says"));
        }
        let at = self.data.len();
        self.data.resize(at + max, 0);
        fill(&mut self.data[at..]).inspect_err(|_| self.data.truncate(at))?;
        Ok(max)
    }
}

/// Applies an `unpacked` payload to `base` (already checked against the header), writing the result to `out`, which
/// enforces the announced size; `path` names the delta in errors.
pub(crate) fn apply(
    base: &[u8],
    payload: &[u8],
    result_size: u64,
    out: &mut impl Write,
    path: &std::path::Path,
) -> Result<()> {
    let mut fields = Fields { data: payload, path };
    let inner = Encoder::from_id(fields.u8()?)
        .filter(|e| matches!(e, Encoder::Zstd | Encoder::Bsdiff | Encoder::Bsdiff40))
        .ok_or_else(|| corrupt(path, "the inner encoder is unknown", None))?;
    let count = fields.u32()?;
    let limit = max_unpacked(result_size);
    let mut parts = Vec::new();
    let mut total = 0u64;
    for _ in 0..count {
        let kind = fields.u8()?;
        let len = fields.u64()?;
        total = total.saturating_add(len);
        if total > limit {
            return Err(corrupt(path, "the recipe unpacks to more than allowed", None));
        }
        parts.push(match kind {
            0 => Part::Raw { len },
            1 => {
                let level = fields.u8()?;
                let header_len = fields.u16()? as usize;
                let header = fields.bytes(header_len)?.to_vec();
                if !(1..=9).contains(&level) {
                    return Err(corrupt(path, "the recipe names an unknown gzip level", None));
                }
                Part::Packed { codec: Codec::Gzip { header, level }, unpacked_len: len }
            }
            2 => {
                let preset = fields.u8()?;
                let block_size = fields.u64()?;
                // Only the settings `reproduce` tries: a forged block size could ask liblzma for any buffer.
                if preset > 9 || (block_size != 0 && block_size != BUNDLER_XZ_BLOCK) {
                    return Err(corrupt(path, "the recipe names unknown xz settings", None));
                }
                Part::Packed { codec: Codec::Xz { preset, block_size }, unpacked_len: len }
            }
            _ => return Err(corrupt(path, "the recipe names an unknown piece", None)),
        });
    }
    let inner_payload = fields.data;

    let base_unpacked = unpack(base, max_unpacked(base.len() as u64)).map_or_else(|| base.to_vec(), |(u, _)| u);
    let total = usize::try_from(total).map_err(|_| corrupt(path, "the recipe unpacks to more than allowed", None))?;
    let mut unpacked = Bounded { data: Vec::with_capacity(total), limit: total };
    crate::apply_plain(inner, &base_unpacked, inner_payload, inner_payload, total as u64, &mut unpacked)
        .map_err(|e| corrupt(path, "the payload does not decode", Some(e)))?;
    drop(base_unpacked);
    if unpacked.data.len() != total {
        return Err(corrupt(path, "the unpacked result is not as long as its recipe says", None));
    }

    let mut at = 0usize;
    for part in &parts {
        let (len, codec) = match part {
            Part::Raw { len } => (*len, None),
            Part::Packed { codec, unpacked_len } => (*unpacked_len, Some(codec)),
        };
        let contents = &unpacked.data[at..at + len as usize];
        at += len as usize;
        let written = match codec {
            None => out.write_all(contents),
            Some(codec) => compress(codec, contents, out),
        };
        // The output refuses to go past the announced size: that is the caller's `result_mismatch`, not ours.
        written.map_err(|e| Error::io("write the result of", path, e))?;
    }
    Ok(())
}
