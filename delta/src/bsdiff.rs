//! The `bsdiff` encoder: bsdiff's suffix-array matches, stored more compactly than `BSDIFF40`.
//!
//! # The matches
//!
//! bsdiff describes the new file as a list of controls `(add, extra, seek)`: take `add` bytes of the base from the
//! current position and add a "diff" byte to each (wrapping), then take `extra` bytes as they are, then move the base
//! position by `seek`. Where code moved, the diff bytes are mostly zero with small values where addresses changed,
//! which compresses far better than the changed bytes themselves. The match search is `qbsdiff`'s (one chunk: the
//! parallel search finds less); this module only re-encodes the controls it finds.
//!
//! # The streams
//!
//! `BSDIFF40` stores three bzip2 streams with 8-byte control integers. Here the controls are varints (zigzag for the
//! signed seek), and every stream is stored with whichever of bzip2 -9, raw LZMA2 (xz's `-9e` without the xz
//! container, with xz's literal model or with none), zstd -19 or no compression is the smallest for it: bzip2's BWT or
//! LZMA2 without a literal model suit the dense diff stream of a moved executable (the latter decodes several times
//! faster), LZMA2 the extra bytes, and a few dozen bytes of controls are smaller stored. The diff stream may also be
//! *sparse*: the lengths of its alternating zero and non-zero runs (varints) and the non-zero bytes, two streams; it is
//! kept when smaller, and it is also the fast form to apply, since a zero run is the base copied as it is. With the
//! smaller container, `scripts/bench-delta`'s deltas are 4–22 % smaller than the `BSDIFF40` ones of the same matches.
//!
//! Form 2, *interleaved*, is the sparse form in one stream: each pair of run lengths followed by that run's non-zero
//! bytes. The coder then sees a moved executable's diff as ~6 % of its length (27.5 KB of 447 KB on
//! `scripts/bench-delta`'s rust-function), and its matches span a run's position and its values together, so it is
//! also smaller there than the dense form (3,631 B against bzip2's 3,712 B): decoding it costs a fraction of
//! decoding the dense stream. Clients before it refuse form 2 ("unknown diff form"), so [`crate::make`] only writes it
//! when [`crate::MakeOptions::interleaved_diff`] says so; every applier since reads it.
//!
//! ```text
//! payload  := stream(controls) form:u8 (stream(diff) if form == 0 | stream(runs) stream(values) if form == 1
//!             | stream(interleaved) if form == 2) stream(extra)
//! stream   := codec:u8 (0 stored, 1 bzip2, 2 LZMA2, 3 zstd, 4 LZMA2 within 64 KiB) varint(unpacked length)
//!             varint(packed length) bytes
//! controls := (varint(add) varint(extra) varint(zigzag(seek)))*
//! runs     := (varint(zero run) varint(non-zero run))*
//! interleaved := (varint(zero run) varint(non-zero run) bytes(non-zero run))*
//! ```
//!
//! # Applying
//!
//! The base is read from its file where the controls say, a 16 KiB chunk at a time, so it never has to be in memory:
//! applying costs a few buffers and the decoders' state (bzip2's block, an LZMA2 dictionary or zstd window of at most
//! 8 MiB; 64 KiB in the bounded window, below), whatever the size of the file. Each stream is decoded as it is read,
//! bounded by its stated unpacked length. Every control must produce at least one byte and stay inside the base, so a
//! forged payload can neither loop without output nor read outside the base; the caller's writer refuses anything
//! past the announced result size.
//!
//! # The bounded window
//!
//! liblzma's decoder writes every byte it decodes through its dictionary, so a dense diff stream of 1.45 MB, coded
//! with a dictionary as large as it, makes the applier touch 1.45 MB more memory (the example app's function change:
//! a 4.4 MiB process for a 1.5 MB file). A payload made with [`crate::MakeOptions::bounded_window`] stores every stream
//! stored or as codec 4, LZMA2 whose dictionary is at most [`BOUNDED_WINDOW`] whatever the stream's length (the decoder
//! sets it, and refuses matches that reach further back); bzip2 and zstd, whose decoders need more, are not used.
//! Appliers before codec 4 refuse it ("unknown stream codec").

use std::io::{BufRead, Read, Write};

use crate::format::push_varint;
use crate::{Error, Result};

/// The largest LZMA2 dictionary, for making and, whatever a forged stream length asks, for applying (LZMA2's own
/// default at `-9`: longer distances bring nothing on diff streams, which are mostly zero runs).
const LZMA2_MAX_DICT: u32 = 8 << 20;
/// The LZMA2 dictionary of a bounded-window stream ([`Codec::Lzma2Bounded`], [`crate::MakeOptions::bounded_window`]):
/// the decoder writes every byte through its dictionary, so it touches as many pages as the stream is long up to this
/// size. 64 KiB makes the dense diff stream of `scripts/bench-delta`'s hello-function 2 % larger than with 8 MiB
/// (30,171 B against 29,573 B; 128 KiB: 29,993 B) and keeps the applier's process under twice its 1.5 MB base.
const BOUNDED_WINDOW: u32 = 64 << 10;
/// The size of the buffers the base is read and added in (each one is memory the apply touches; 16 KiB costs no more
/// instructions than 64 KiB on `scripts/bench-delta`'s pairs).
const CHUNK: usize = 16 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Stored = 0,
    Bzip2 = 1,
    Lzma2 = 2,
    Zstd = 3,
    /// LZMA2 whose dictionary is at most [`BOUNDED_WINDOW`], whatever the stream's stated length: the only codec, with
    /// `Stored`, of a bounded-window payload. Appliers before it refuse it ("unknown stream codec").
    Lzma2Bounded = 4,
}

impl Codec {
    fn from_u8(b: u8) -> Option<Codec> {
        [Codec::Stored, Codec::Bzip2, Codec::Lzma2, Codec::Zstd, Codec::Lzma2Bounded]
            .into_iter()
            .find(|c| *c as u8 == b)
    }

    /// The LZMA2 dictionary of a stream of this codec that unpacks to `len` bytes, for making and applying: no larger
    /// than needed, nor than the codec's largest, whatever a forged length asks.
    fn lzma2_dict(self, len: u64) -> u32 {
        let max = if self == Codec::Lzma2Bounded { BOUNDED_WINDOW } else { LZMA2_MAX_DICT };
        len.clamp(4096, u64::from(max)).next_power_of_two() as u32
    }
}

/// Reads a varint from `reader`; `Ok(None)` at a clean end of the stream.
fn read_varint(reader: &mut (impl BufRead + ?Sized)) -> std::io::Result<Option<u64>> {
    // From the buffer when the varint is whole in it: the runs of a sparse diff are thousands of varints, and a call
    // through the reader for each byte costs more than decoding them.
    let buffered = reader.fill_buf()?;
    if let Some(&byte) = buffered.first()
        && byte < 0x80
    {
        reader.consume(1);
        return Ok(Some(u64::from(byte)));
    }
    let mut value = 0u64;
    for (i, byte) in buffered.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            reader.consume(i + 1);
            return Ok(Some(value));
        }
    }
    if buffered.len() >= 10 {
        return Err(invalid("a varint is longer than 64 bits"));
    }
    // Across the end of the buffer, or at the end of the stream: a byte at a time.
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8];
        if reader.read(&mut byte)? == 0 {
            return if shift == 0 { Ok(None) } else { Err(invalid("a varint is cut short")) };
        }
        value |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(invalid("a varint is longer than 64 bits"))
}

fn invalid(what: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// How LZMA2 models literals: context bits from the previous byte (`lc`), from the position (`lp`), and position bits
/// of the match/literal decisions (`pb`).
#[derive(Debug, Clone, Copy)]
struct LiteralModel {
    lc: u32,
    lp: u32,
    pb: u32,
}

/// The literal models a stream is compressed with, the smaller kept: xz's default, for text and code, and none at all,
/// which suits a diff stream (mostly zero, its non-zero bytes hardly depend on the byte before or on the position):
/// on the example app's code change it is 2 % smaller than bzip2 there and decodes about 4x faster. The decoder needs
/// no setting: LZMA2 carries them in the stream.
const LZMA2_MODELS: [LiteralModel; 2] = [LiteralModel { lc: 3, lp: 0, pb: 2 }, LiteralModel { lc: 0, lp: 0, pb: 0 }];

/// The LZMA2 settings of a stream of `codec` (`Lzma2` or `Lzma2Bounded`) that unpacks to `len` bytes: `-9e` with the
/// codec's dictionary ([`Codec::lzma2_dict`]).
fn lzma2_filters(codec: Codec, len: u64, model: LiteralModel) -> std::io::Result<liblzma::stream::Filters> {
    let mut options = liblzma::stream::LzmaOptions::new_preset(9 | liblzma::stream::PRESET_EXTREME)?;
    options.dict_size(codec.lzma2_dict(len));
    options.literal_context_bits(model.lc).literal_position_bits(model.lp).position_bits(model.pb);
    let mut filters = liblzma::stream::Filters::new();
    filters.lzma2(&options);
    Ok(filters)
}

/// Every way [`push_stream`] may store `data`, as (codec, bytes), the fastest to decode first; `bounded`: only those
/// that decode within [`BOUNDED_WINDOW`] (bzip2's decoder needs ~400 KB+ whatever its level, and zstd's a window plus
/// two blocks and its tables).
fn candidates(data: &[u8], bounded: bool) -> std::io::Result<Vec<(Codec, Vec<u8>)>> {
    let mut found = vec![(Codec::Stored, data.to_vec())];
    if !bounded {
        found.push((Codec::Zstd, zstd::bulk::compress(data, 19)?));
    }
    let lzma2 = if bounded { Codec::Lzma2Bounded } else { Codec::Lzma2 };
    for model in LZMA2_MODELS {
        let stream = liblzma::stream::Stream::new_raw_encoder(&lzma2_filters(lzma2, data.len() as u64, model)?)?;
        let mut encoder = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
        encoder.write_all(data)?;
        found.push((lzma2, encoder.finish()?));
    }
    if !bounded {
        let mut bzip2 = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        bzip2.write_all(data)?;
        found.push((Codec::Bzip2, bzip2.finish()?));
    }
    Ok(found)
}

/// `data` as a stream, with whichever codec makes it smallest (of equals, the faster to decode); `bounded`: of those
/// that decode within [`BOUNDED_WINDOW`].
fn push_stream(out: &mut Vec<u8>, data: &[u8], bounded: bool) -> std::io::Result<()> {
    let best = candidates(data, bounded)?
        .into_iter()
        .reduce(|best, next| if next.1.len() < best.1.len() { next } else { best })
        .expect("stored is always a candidate");
    out.push(best.0 as u8);
    push_varint(out, data.len() as u64);
    push_varint(out, best.1.len() as u64);
    out.extend_from_slice(&best.1);
    Ok(())
}

struct Control {
    add: u64,
    extra: u64,
    seek: i64,
}

/// qbsdiff's controls for `base` → `target`, read back from the `BSDIFF40` patch it writes (its search is not public
/// on its own); bzip2 level 1, since only the controls are kept.
fn controls(base: &[u8], target: &[u8]) -> std::io::Result<Vec<Control>> {
    let mut patch = Vec::new();
    qbsdiff::Bsdiff::new(base, target)
        .parallel_scheme(qbsdiff::ParallelScheme::Never)
        .compression_level(1)
        .compare(&mut patch)?;
    let int = |b: &[u8]| {
        let mut le = [0u8; 8];
        le.copy_from_slice(&b[..8]);
        let magnitude = (u64::from_le_bytes(le) & (u64::MAX >> 1)) as i64;
        if b[7] & 0x80 != 0 { -magnitude } else { magnitude }
    };
    if patch.len() < 32 || &patch[..8] != b"BSDIFF40" {
        return Err(std::io::Error::other("qbsdiff wrote no BSDIFF40 patch"));
    }
    let control_len = usize::try_from(int(&patch[8..16])).map_err(|_| std::io::Error::other("bad BSDIFF40 header"))?;
    let packed = patch.get(32..32 + control_len).ok_or_else(|| std::io::Error::other("bad BSDIFF40 header"))?;
    let mut raw = Vec::new();
    bzip2::read::BzDecoder::new(packed).read_to_end(&mut raw)?;
    Ok(raw
        .chunks_exact(24)
        .map(|c| Control { add: int(&c[0..8]) as u64, extra: int(&c[8..16]) as u64, seek: int(&c[16..24]) })
        .collect())
}

/// The `bsdiff` payload from `base` to `target`, in the forms `options` allows: the interleaved diff (form 2) and the
/// bounded window (see the module's overview).
pub(crate) fn encode(base: &[u8], target: &[u8], options: &crate::MakeOptions) -> Result<Vec<u8>> {
    encode_io(base, target, options.interleaved_diff, options.bounded_window)
        .map_err(|source| Error::Encode { encoder: "bsdiff", source })
}

fn encode_io(base: &[u8], target: &[u8], interleaved: bool, bounded: bool) -> std::io::Result<Vec<u8>> {
    let controls = controls(base, target)?;
    let (mut control_bytes, mut diff, mut extra) = (Vec::new(), Vec::with_capacity(target.len()), Vec::new());
    let (mut s, mut t) = (0usize, 0usize);
    for c in &controls {
        // qbsdiff emits no empty controls when searching in one chunk; the applier refuses them.
        if c.add == 0 && c.extra == 0 {
            s = s.wrapping_add_signed(c.seek as isize);
            continue;
        }
        push_varint(&mut control_bytes, c.add);
        push_varint(&mut control_bytes, c.extra);
        push_varint(&mut control_bytes, ((c.seek << 1) ^ (c.seek >> 63)) as u64);
        let (add, more) = (c.add as usize, c.extra as usize);
        let (Some(from), Some(to)) = (s.checked_add(add).and_then(|end| base.get(s..end)), target.get(t..t + add))
        else {
            return Err(std::io::Error::other("qbsdiff made a control outside the files"));
        };
        diff.extend(to.iter().zip(from).map(|(n, o)| n.wrapping_sub(*o)));
        t += add;
        extra.extend_from_slice(target.get(t..t + more).ok_or_else(|| std::io::Error::other("bad control"))?);
        t += more;
        s = (s + add).wrapping_add_signed(c.seek as isize);
    }
    if t != target.len() {
        return Err(std::io::Error::other("qbsdiff's controls do not cover the new file"));
    }

    let mut payload = Vec::new();
    push_stream(&mut payload, &control_bytes, bounded)?;
    let mut dense = vec![0u8];
    push_stream(&mut dense, &diff, bounded)?;
    let (runs, values) = sparse(&diff, false);
    let mut split = vec![1u8];
    push_stream(&mut split, &runs, bounded)?;
    push_stream(&mut split, &values, bounded)?;
    let mut best = if split.len() <= dense.len() { split } else { dense };
    if interleaved {
        let mut one = vec![2u8];
        push_stream(&mut one, &sparse(&diff, true).0, bounded)?;
        // Of equals, the interleaved form: it is the cheapest to decode.
        if one.len() <= best.len() {
            best = one;
        }
    }
    payload.extend_from_slice(&best);
    push_stream(&mut payload, &extra, bounded)?;
    Ok(payload)
}

/// The diff stream as alternating zero and non-zero run lengths, and the non-zero bytes; `interleaved`: each run's
/// bytes right after its lengths, in the first vector.
fn sparse(diff: &[u8], interleaved: bool) -> (Vec<u8>, Vec<u8>) {
    let (mut runs, mut values) = (Vec::new(), Vec::new());
    let mut rest = diff;
    while !rest.is_empty() {
        let zeros = rest.iter().position(|b| *b != 0).unwrap_or(rest.len());
        let nonzero = rest[zeros..].iter().position(|b| *b == 0).unwrap_or(rest.len() - zeros);
        push_varint(&mut runs, zeros as u64);
        push_varint(&mut runs, nonzero as u64);
        let bytes = &rest[zeros..zeros + nonzero];
        if interleaved {
            runs.extend_from_slice(bytes)
        } else {
            values.extend_from_slice(bytes)
        }
        rest = &rest[zeros + nonzero..];
    }
    (runs, values)
}

/// One stream of a payload, decoded as it is read and held to its stated length.
fn open_stream<'a>(payload: &mut &'a [u8]) -> std::io::Result<Box<dyn BufRead + 'a>> {
    let codec = payload.first().and_then(|b| Codec::from_u8(*b)).ok_or_else(|| invalid("unknown stream codec"))?;
    *payload = &payload[1..];
    let unpacked = read_varint(payload)?.ok_or_else(|| invalid("a stream is cut short"))?;
    let packed = read_varint(payload)?.ok_or_else(|| invalid("a stream is cut short"))?;
    let packed =
        usize::try_from(packed).ok().filter(|p| *p <= payload.len()).ok_or_else(|| invalid("a stream is cut short"))?;
    let (data, rest) = payload.split_at(packed);
    *payload = rest;
    // The bufread decoders read the payload in place, with no buffer of their own.
    let reader: Box<dyn Read + 'a> = match codec {
        Codec::Stored => Box::new(data),
        Codec::Bzip2 => Box::new(bzip2::bufread::BzDecoder::new(data)),
        Codec::Lzma2 | Codec::Lzma2Bounded => Box::new(liblzma::bufread::XzDecoder::new_stream(
            data,
            // The literal model is read from the stream; only the dictionary size matters here, and it is the
            // decoder's: a stream whose matches reach further back is refused ("corrupt"), it cannot ask for more.
            liblzma::stream::Stream::new_raw_decoder(&lzma2_filters(codec, unpacked, LZMA2_MODELS[0])?)?,
        )),
        Codec::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(data)?;
            // zstd -19's largest window: a forged frame cannot ask for more.
            decoder.window_log_max(23)?;
            Box::new(decoder)
        }
    };
    // Buffered: varints are read a byte at a time, and each read of a decoder is a call into it. 8 KiB: a larger buffer
    // saves no measurable calls, and each of the four is memory the apply touches.
    Ok(Box::new(std::io::BufReader::with_capacity(8 << 10, Exact { inner: reader.take(unpacked), left: unpacked })))
}

/// A decoder that must give exactly its stated length: a short stream is an error, not an early end.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(invalid("a stream is shorter than it says"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Where the applier reads the base: a file, read where the controls say (the base need not be in memory), or bytes.
pub(crate) trait Base {
    /// Fills `buf` with the base's bytes from `at`.
    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl Base for &[u8] {
    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let from = usize::try_from(at)
            .ok()
            .and_then(|at| self.get(at..at.checked_add(buf.len())?))
            .ok_or_else(|| invalid("a control reaches outside the base"))?;
        buf.copy_from_slice(from);
        Ok(())
    }
}

/// A base file and where its cursor is, so that reading on from the last read needs no seek.
pub(crate) struct BaseFile {
    pub file: std::fs::File,
    pub size: u64,
    pub position: u64,
}

impl Base for &mut BaseFile {
    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if at.checked_add(buf.len() as u64).is_none_or(|end| end > self.size) {
            return Err(invalid("a control reaches outside the base"));
        }
        if at != self.position {
            std::io::Seek::seek(&mut self.file, std::io::SeekFrom::Start(at))?;
        }
        self.file.read_exact(buf)?;
        self.position = at + buf.len() as u64;
        Ok(())
    }
}

/// The diff stream, dense or as runs.
enum Diff<'a> {
    Dense(Box<dyn BufRead + 'a>),
    /// Form 1, or with no `values` form 2, where each run's values follow its lengths in `runs`.
    Sparse {
        runs: Box<dyn BufRead + 'a>,
        values: Option<Box<dyn BufRead + 'a>>,
        zeros: u64,
        nonzero: u64,
    },
}

/// Where the applier writes the result: a writer that can also lend it the space for the next bytes, which it reads the
/// base into and adds the diff to in place, so that the result is not copied once more into the writer's buffer.
pub(crate) trait Output: Write {
    /// Lends `fill` the space for the next 1 to `max` bytes of the result (`max` > 0), all of which it must fill, and
    /// takes them as written; returns their number. Refuses, like `write`, to go past what the writer accepts.
    fn fill_next(
        &mut self,
        max: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> std::io::Result<()>,
    ) -> std::io::Result<usize>;
}

impl Diff<'_> {
    /// Writes the `len` bytes of the base from `at`, plus the next `len` diff bytes, to `out`.
    fn add(
        &mut self,
        base: &mut impl Base,
        mut at: u64,
        len: u64,
        diff: &mut [u8],
        out: &mut impl Output,
    ) -> std::io::Result<()> {
        let mut left = len;
        while left > 0 {
            let max = left.min(diff.len() as u64) as usize;
            let n = out.fill_next(max, &mut |from| {
                base.read_at(at, from)?;
                self.add_to(from, diff)
            })?;
            at += n as u64;
            left -= n as u64;
        }
        Ok(())
    }

    /// Adds the next `from.len()` diff bytes to `from`, with `scratch` (at least as long) to read them into.
    fn add_to(&mut self, from: &mut [u8], scratch: &mut [u8]) -> std::io::Result<()> {
        match self {
            Diff::Dense(reader) => {
                let diff = &mut scratch[..from.len()];
                reader.read_exact(diff)?;
                // Whole slices, so that the compiler vectorises the add.
                for (b, d) in from.iter_mut().zip(diff.iter()) {
                    *b = b.wrapping_add(*d);
                }
            }
            Diff::Sparse { runs, values, zeros, nonzero } => {
                let mut rest = from;
                while !rest.is_empty() {
                    if *zeros == 0 && *nonzero == 0 {
                        *zeros = read_varint(runs)?.ok_or_else(|| invalid("the diff runs end early"))?;
                        *nonzero = read_varint(runs)?.ok_or_else(|| invalid("the diff runs end early"))?;
                        if *zeros == 0 && *nonzero == 0 {
                            return Err(invalid("an empty diff run"));
                        }
                    }
                    // A zero run is the base as it is.
                    let k = (*zeros).min(rest.len() as u64) as usize;
                    *zeros -= k as u64;
                    rest = &mut rest[k..];
                    let k = (*nonzero).min(rest.len() as u64) as usize;
                    let values_now = &mut scratch[..k];
                    values.as_mut().unwrap_or(runs).read_exact(values_now).map_err(|e| {
                        if e.kind() == std::io::ErrorKind::UnexpectedEof {
                            invalid("the diff values end early")
                        } else {
                            e
                        }
                    })?;
                    for (b, d) in rest[..k].iter_mut().zip(values_now.iter()) {
                        *b = b.wrapping_add(*d);
                    }
                    *nonzero -= k as u64;
                    rest = &mut rest[k..];
                }
            }
        }
        Ok(())
    }
}

/// Applies a `bsdiff` payload to `base`, writing the result to `out` (which enforces the announced size).
pub(crate) fn apply(mut base: impl Base, mut payload: &[u8], out: &mut impl Output) -> std::io::Result<()> {
    let mut controls = open_stream(&mut payload)?;
    let form = *payload.first().ok_or_else(|| invalid("the payload is cut short"))?;
    payload = &payload[1..];
    let mut diff = match form {
        0 => Diff::Dense(open_stream(&mut payload)?),
        1 => {
            let runs = open_stream(&mut payload)?;
            Diff::Sparse { runs, values: Some(open_stream(&mut payload)?), zeros: 0, nonzero: 0 }
        }
        2 => Diff::Sparse { runs: open_stream(&mut payload)?, values: None, zeros: 0, nonzero: 0 },
        _ => return Err(invalid("unknown diff form")),
    };
    let mut extra = open_stream(&mut payload)?;
    if !payload.is_empty() {
        return Err(invalid("data after the last stream"));
    }

    let mut scratch = vec![0u8; CHUNK];
    let mut at = 0u64;
    while let Some(add) = read_varint(&mut controls)? {
        let more = read_varint(&mut controls)?.ok_or_else(|| invalid("a control is cut short"))?;
        let seek = read_varint(&mut controls)?.ok_or_else(|| invalid("a control is cut short"))?;
        let seek = (seek >> 1) as i64 ^ -((seek & 1) as i64);
        if add == 0 && more == 0 {
            return Err(invalid("an empty control"));
        }
        diff.add(&mut base, at, add, &mut scratch, out)?;
        let copied = std::io::copy(&mut (&mut extra).take(more), out)?;
        if copied != more {
            return Err(invalid("the extra stream ends early"));
        }
        at = at
            .checked_add(add)
            .and_then(|end| end.checked_add_signed(seek))
            .ok_or_else(|| invalid("a control seeks outside the base"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

    use super::*;

    /// Marsaglia's xorshift64 (`millennium_testing::xorshift64`, which unit tests do not link): deterministic noise.
    fn xorshift64(seed: u64) -> impl Iterator<Item = u64> {
        let mut x = seed;
        std::iter::repeat_with(move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
    }

    /// Bytes shaped like the diff stream of a moved executable: mostly zero, small values every few dozen bytes.
    fn diff_like() -> Vec<u8> {
        xorshift64(0x2545_f491_4f6c_dd1d)
            .take(200_000)
            .map(|x| if x.is_multiple_of(37) { (x >> 32) as u8 & 0x1f } else { 0 })
            .collect()
    }

    /// A writer for the applier in tests.
    impl Output for Vec<u8> {
        fn fill_next(
            &mut self,
            max: usize,
            fill: &mut dyn FnMut(&mut [u8]) -> std::io::Result<()>,
        ) -> std::io::Result<usize> {
            let at = self.len();
            self.resize(at + max, 0);
            fill(&mut self[at..])?;
            Ok(max)
        }
    }

    fn stored(data: &[u8]) -> Vec<u8> {
        let mut stream = vec![Codec::Stored as u8];
        push_varint(&mut stream, data.len() as u64);
        push_varint(&mut stream, data.len() as u64);
        stream.extend_from_slice(data);
        stream
    }

    /// A base and a new file that differs from it by small values every few dozen bytes, as code that moved does: the
    /// gaps and values follow the base's bytes (as a call's displacement follows its instruction), so they repeat.
    fn moved_pair() -> (Vec<u8>, Vec<u8>) {
        let base: Vec<u8> = xorshift64(0x9e37_79b9_7f4a_7c15).take(64 << 10).map(|x| (x >> 24) as u8).collect();
        let mut target = base.clone();
        let mut at = 0;
        while at + 4 < target.len() {
            // A 4-byte displacement grows by 0x40 where the base has an even byte, shrinks by 0x10 elsewhere.
            let step: u32 = if base[at].is_multiple_of(2) { 0x40 } else { 0xffff_fff0 };
            let old = u32::from_le_bytes([base[at], base[at + 1], base[at + 2], base[at + 3]]);
            target[at..at + 4].copy_from_slice(&old.wrapping_add(step).to_le_bytes());
            at += 24 + usize::from(base[at] % 4) * 8;
        }
        (base, target)
    }

    /// A payload of one control (the whole base, added to) with the diff in `form`, every stream stored.
    fn one_control_payload(base: &[u8], target: &[u8], form: u8) -> Vec<u8> {
        let diff: Vec<u8> = target.iter().zip(base).map(|(n, o)| n.wrapping_sub(*o)).collect();
        let mut controls = Vec::new();
        push_varint(&mut controls, base.len() as u64);
        push_varint(&mut controls, 0);
        push_varint(&mut controls, 0);
        let mut payload = stored(&controls);
        payload.push(form);
        match form {
            0 => payload.extend(stored(&diff)),
            1 => {
                let (runs, values) = sparse(&diff, false);
                payload.extend(stored(&runs));
                payload.extend(stored(&values));
            }
            _ => payload.extend(stored(&sparse(&diff, true).0)),
        }
        payload.extend(stored(&[]));
        payload
    }

    /// The diff form of a payload: the byte after its controls stream.
    fn form_of(payload: &[u8]) -> u8 {
        let mut rest = payload;
        drop(open_stream(&mut rest).unwrap());
        rest[0]
    }

    #[test]
    fn every_diff_form_applies_to_the_same_result() {
        let (base, target) = moved_pair();
        for form in [0, 1, 2] {
            let mut out = Vec::new();
            apply(&base[..], &one_control_payload(&base, &target, form), &mut out).unwrap();
            assert!(out == target, "form {form}");
        }
    }

    #[test]
    fn the_interleaved_form_is_written_only_when_allowed_and_kept_only_when_smallest() {
        let (base, target) = moved_pair();
        let compatible = encode(&base, &target, &crate::MakeOptions::default()).unwrap();
        assert_ne!(form_of(&compatible), 2, "clients before form 2 must be able to apply a default delta");
        // On this pair the dense form is smaller, so it stays (on a real build's moved code the interleaved form wins:
        // the integration tests); allowed or not, the payload applies.
        let allowed =
            encode(&base, &target, &crate::MakeOptions { interleaved_diff: true, ..crate::MakeOptions::default() })
                .unwrap();
        assert_eq!(allowed, compatible);
        let mut out = Vec::new();
        apply(&base[..], &allowed, &mut out).unwrap();
        assert!(out == target);
    }

    #[test]
    fn an_interleaved_diff_cut_short_or_an_unknown_form_is_refused_with_what_is_wrong() {
        let (base, target) = moved_pair();
        let diff: Vec<u8> = target.iter().zip(&base).map(|(n, o)| n.wrapping_sub(*o)).collect();
        let interleaved = sparse(&diff, true).0;
        let whole = one_control_payload(&base, &target, 2);
        // The same payload with the interleaved stream cut right after the first run's lengths (its values missing),
        // or one byte into them (the second length missing).
        let mut first = &interleaved[..];
        read_varint(&mut first).unwrap();
        let second_at = interleaved.len() - first.len();
        read_varint(&mut first).unwrap();
        let values_at = interleaved.len() - first.len();
        for (cut, expected) in [(values_at, "the diff values end early"), (second_at, "the diff runs end early")] {
            let at = whole.len() - stored(&[]).len() - stored(&interleaved).len();
            let mut short = whole[..at].to_vec();
            short.extend(stored(&interleaved[..cut]));
            short.extend(stored(&[]));
            assert_eq!(apply(&base[..], &short, &mut Vec::new()).unwrap_err().to_string(), expected);
        }

        let mut unknown = whole.clone();
        let form_at = stored(&[0u8; 4]).len() - 4 + {
            let mut controls = Vec::new();
            push_varint(&mut controls, base.len() as u64);
            controls.len() + 2
        };
        assert_eq!(unknown[form_at], 2);
        unknown[form_at] = 3;
        assert_eq!(apply(&base[..], &unknown, &mut Vec::new()).unwrap_err().to_string(), "unknown diff form");
    }

    #[test]
    fn varints_read_alike_whole_in_the_buffer_split_across_its_end_or_too_long() {
        let values = [0u64, 1, 127, 128, 300, 16_383, 16_384, 1 << 35, u64::MAX];
        let mut bytes = Vec::new();
        for v in values {
            push_varint(&mut bytes, v);
        }
        // A 3-byte buffer splits most of the longer varints across its end.
        for capacity in [3, 64] {
            let mut reader = std::io::BufReader::with_capacity(capacity, &bytes[..]);
            let back: Vec<u64> = std::iter::from_fn(|| read_varint(&mut reader).unwrap()).collect();
            assert_eq!(back, values, "buffer of {capacity}");
        }
        let too_long = [0x80u8; 11];
        for capacity in [3, 64] {
            let error = read_varint(&mut std::io::BufReader::with_capacity(capacity, &too_long[..])).unwrap_err();
            assert_eq!(error.to_string(), "a varint is longer than 64 bits", "buffer of {capacity}");
        }
        let cut = read_varint(&mut &[0x80u8, 0x80][..]).unwrap_err();
        assert_eq!(cut.to_string(), "a varint is cut short");
    }

    #[test]
    fn a_stream_of_every_lzma2_literal_model_reads_back_through_the_one_decoder() {
        let data = diff_like();
        for model in LZMA2_MODELS {
            let filters = lzma2_filters(Codec::Lzma2, data.len() as u64, model).unwrap();
            let stream = liblzma::stream::Stream::new_raw_encoder(&filters);
            let mut encoder = liblzma::write::XzEncoder::new_stream(Vec::new(), stream.unwrap());
            encoder.write_all(&data).unwrap();
            let packed = encoder.finish().unwrap();
            let mut stream = vec![Codec::Lzma2 as u8];
            push_varint(&mut stream, data.len() as u64);
            push_varint(&mut stream, packed.len() as u64);
            stream.extend_from_slice(&packed);
            let mut back = Vec::new();
            open_stream(&mut &stream[..]).unwrap().read_to_end(&mut back).unwrap();
            assert!(back == data, "{model:?}");
        }
    }

    /// `data` as one raw LZMA2 stream of `codec`'s dictionary, its header saying `label` and `unpacked` bytes.
    fn lzma2_stream(codec: Codec, data: &[u8], label: Codec, unpacked: u64) -> Vec<u8> {
        let filters = lzma2_filters(codec, data.len() as u64, LZMA2_MODELS[1]).unwrap();
        let mut encoder = liblzma::write::XzEncoder::new_stream(
            Vec::new(),
            liblzma::stream::Stream::new_raw_encoder(&filters).unwrap(),
        );
        encoder.write_all(data).unwrap();
        let packed = encoder.finish().unwrap();
        let mut stream = vec![label as u8];
        push_varint(&mut stream, unpacked);
        push_varint(&mut stream, packed.len() as u64);
        stream.extend_from_slice(&packed);
        stream
    }

    /// The codecs of every stream of a `bsdiff` payload, in order.
    fn codecs_of(payload: &[u8]) -> Vec<u8> {
        let mut rest = payload;
        let mut codecs = Vec::new();
        let mut stream = |rest: &mut &[u8]| {
            codecs.push(rest[0]);
            drop(open_stream(rest).unwrap());
        };
        stream(&mut rest);
        let form = rest[0];
        rest = &rest[1..];
        for _ in 0..if form == 1 { 3 } else { 2 } {
            stream(&mut rest);
        }
        assert!(rest.is_empty());
        codecs
    }

    #[test]
    fn a_bounded_window_payload_has_only_stored_and_bounded_lzma2_streams_and_applies() {
        // A diff stream of 600 KB, so that an unbounded dictionary would be 1 MiB.
        let base: Vec<u8> = xorshift64(7).take(600_000).map(|x| (x >> 24) as u8).collect();
        let target: Vec<u8> = base.iter().zip(diff_like().iter().cycle()).map(|(b, d)| b.wrapping_add(*d)).collect();
        for interleaved in [false, true] {
            let options = crate::MakeOptions { interleaved_diff: interleaved, ..crate::MakeOptions::default() };
            let unbounded = encode(&base, &target, &options).unwrap();
            assert!(codecs_of(&unbounded).contains(&(Codec::Lzma2 as u8)), "{:?}", codecs_of(&unbounded));
            let bounded = encode(&base, &target, &crate::MakeOptions { bounded_window: true, ..options }).unwrap();
            let codecs = codecs_of(&bounded);
            assert!(codecs.iter().all(|c| [Codec::Stored as u8, Codec::Lzma2Bounded as u8].contains(c)), "{codecs:?}");
            assert!(codecs.contains(&(Codec::Lzma2Bounded as u8)), "{codecs:?}");
            let mut out = Vec::new();
            apply(&base[..], &bounded, &mut out).unwrap();
            assert!(out == target, "interleaved: {interleaved}");
        }
    }

    #[test]
    fn a_bounded_lzma2_stream_gets_a_64_kib_dictionary_whatever_length_it_states_and_further_matches_are_refused() {
        assert_eq!(Codec::Lzma2Bounded.lzma2_dict(u64::MAX), 64 << 10);
        assert_eq!(Codec::Lzma2Bounded.lzma2_dict(1_000), 4096);
        assert_eq!(Codec::Lzma2.lzma2_dict(u64::MAX), 8 << 20);
        // 200 KB of noise twice: the second copy is one match 200 KB back, beyond the bounded window.
        let noise: Vec<u8> = xorshift64(11).take(25_000).flat_map(u64::to_le_bytes).collect();
        let data = [noise.as_slice(), &noise].concat();
        let far = lzma2_stream(Codec::Lzma2, &data, Codec::Lzma2, data.len() as u64);
        let mut back = Vec::new();
        open_stream(&mut &far[..]).unwrap().read_to_end(&mut back).unwrap();
        assert!(back == data);
        // The same stream labelled bounded, stating a terabyte so as to ask for the largest dictionary: its decoder
        // has 64 KiB and refuses the match before the 400 KB are out.
        let forged = lzma2_stream(Codec::Lzma2, &data, Codec::Lzma2Bounded, 1 << 40);
        let mut reader = open_stream(&mut &forged[..]).unwrap();
        let error = reader.read_exact(&mut vec![0; data.len()]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{error}");
        assert_ne!(error.to_string(), "a stream is shorter than it says");
        // Made within the window, it reads back (the second copy then costs nearly its size again).
        let bounded = lzma2_stream(Codec::Lzma2Bounded, &data, Codec::Lzma2Bounded, data.len() as u64);
        assert!(bounded.len() > far.len() + noise.len() / 2, "{} vs {}", bounded.len(), far.len());
        let mut back = Vec::new();
        open_stream(&mut &bounded[..]).unwrap().read_to_end(&mut back).unwrap();
        assert!(back == data);
        // A codec this applier does not know is refused by name, as appliers before codec 4 refuse it.
        let mut unknown = bounded;
        unknown[0] = 5;
        assert_eq!(open_stream(&mut &unknown[..]).err().unwrap().to_string(), "unknown stream codec");
    }

    #[test]
    fn a_stream_is_stored_with_its_smallest_candidate_and_reads_back() {
        let data = diff_like();
        let smallest = candidates(&data, false).unwrap().into_iter().map(|(_, packed)| packed.len()).min().unwrap();
        let mut stream = Vec::new();
        push_stream(&mut stream, &data, false).unwrap();
        let mut header = Vec::new();
        push_varint(&mut header, data.len() as u64);
        push_varint(&mut header, smallest as u64);
        assert_eq!(stream.len(), 1 + header.len() + smallest);
        let mut back = Vec::new();
        open_stream(&mut &stream[..]).unwrap().read_to_end(&mut back).unwrap();
        assert!(back == data);
    }
}
