//! Binary deltas for Millennium's delta updates: make one from the release a user has to the new one, and apply it.
//!
//! - [`make`] runs every [`Encoder`] on a pair and keeps the smallest result, or nothing when even that is larger than
//!   [`MakeOptions::max_ratio`] of the new file (a delta that saves little is not worth a second code path).
//! - [`apply`] refuses a base of the wrong size before any decoding, refuses a result larger than the caller's cap
//!   before writing a byte and stops the decoder the moment it exceeds the size it announced, writes to a temporary
//!   file beside the output, and only renames it into place when its size and hash are the promised ones (a base with
//!   the wrong BLAKE2b-256 is named as the cause when they are not). What the updater trusts is still the signed full
//!   artifact: it checks the result like a full download.
//! - [`inspect`] reads a delta's [`Header`] alone, e.g. to see which base it needs.
//!
//! The container (`format` module) is a zstd *skippable frame* holding `MLNDELTA`, the version, the encoder, the size
//! and BLAKE2b-256 of the base and of the result, and the payload's size; the payload follows. Skippable frames are ignored by
//! zstd decoders, so a delta made by the zstd encoder is also a plain `.zst` file that
//! `zstd -d --patch-from=BASE --long=31` decodes (the tests check this with the real `zstd`).
//!
//! The encoders and their costs are measured in `README.md` (`scripts/bench-delta`).

mod bsdiff;
mod error;
mod format;
mod unpacked;

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use error::{Error, Result};
pub use format::{Header, MAX_HEADER_LEN, ResultCheck, VERSION, blake2b_256};

/// A way of encoding the difference between two files. The id is stored in the container and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoder {
    /// zstd with the base as a reference prefix (`zstd --patch-from --long`), level [`MakeOptions::zstd_level`]:
    /// fast and linear in memory, good on large inputs and on moved data.
    Zstd,
    /// bsdiff 4.x patches (`BSDIFF40`: three bzip2 streams, 8-byte controls), as the first version of this crate made
    /// them and Debian's `bsdiff` makes them: applied, no longer made ([`Encoder::Bsdiff`] is smaller).
    Bsdiff40,
    /// For compressed artifacts (`.app.tar.gz`, `.deb`): a zstd or bsdiff delta between the *decompressed* contents,
    /// with the recipe that compresses the result back byte for byte (the `unpacked` module). Steps aside for
    /// anything else.
    Unpacked,
    /// bsdiff's suffix-array matches (via the `qbsdiff` crate), whose "add" stream makes executables with shifted
    /// addresses compress very well, stored compactly: varint controls, each stream with the smallest of bzip2,
    /// LZMA2 and zstd (the `bsdiff` module). Its suffix array costs about 5x the base in memory while making, so it is
    /// skipped for bases above [`MakeOptions::bsdiff_max_base`].
    Bsdiff,
}

impl Encoder {
    /// Every encoder [`make`] can use, in the order it tries them.
    pub const ALL: [Encoder; 3] = [Encoder::Zstd, Encoder::Bsdiff, Encoder::Unpacked];

    /// The id stored in the container.
    pub fn id(self) -> u8 {
        match self {
            Encoder::Zstd => 1,
            Encoder::Bsdiff40 => 2,
            Encoder::Unpacked => 3,
            Encoder::Bsdiff => 4,
        }
    }

    /// The encoder with this container id, including those [`apply`] still reads but [`make`] no longer writes.
    pub fn from_id(id: u8) -> Option<Encoder> {
        [Encoder::Zstd, Encoder::Bsdiff40, Encoder::Unpacked, Encoder::Bsdiff].into_iter().find(|e| e.id() == id)
    }

    /// The lowercase name: `zstd`, `bsdiff40`, `unpacked`, `bsdiff`.
    pub fn name(self) -> &'static str {
        match self {
            Encoder::Zstd => "zstd",
            Encoder::Bsdiff40 => "bsdiff40",
            Encoder::Unpacked => "unpacked",
            Encoder::Bsdiff => "bsdiff",
        }
    }
}

impl std::fmt::Display for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How [`make`] works.
#[derive(Debug, Clone)]
pub struct MakeOptions {
    /// The encoders to try; the smallest delta wins.
    pub encoders: Vec<Encoder>,
    /// The zstd level (1–22). 19 is `zstd -19`, what the published `--patch-from` figures use.
    pub zstd_level: i32,
    /// bsdiff is skipped when the base is larger than this (its suffix array needs ~5x the base in memory, and its
    /// time grows faster than linearly).
    pub bsdiff_max_base: u64,
    /// No delta is kept when the best one is larger than this fraction of the new file.
    pub max_ratio: f64,
    /// Lets the bsdiff encoder store its diff in the interleaved form (diff form 2, the `bsdiff` module), which is
    /// smaller and far cheaper to apply on moved code, when it is the smallest form. Off by default: appliers before
    /// this version refuse it; the server sets it only for the delta it offers to updaters that say they read it
    /// (`X-Millennium-Delta-Forms`, docs/protocol.md §9).
    pub interleaved_diff: bool,
    /// Writes container version 3, whose result check is XXH3-64 instead of BLAKE2b-256 (24 bytes smaller, and about
    /// 30 times cheaper to check). Off by default: appliers before this version refuse version 3 (README, "What the
    /// applier checks").
    pub xxh3_result_check: bool,
    /// Stores every stream of a bsdiff payload with a codec that decodes within a fixed 64 KiB window (LZMA2 with a
    /// bounded dictionary, or stored; no bzip2 or zstd), so that applying costs a fixed amount of memory whatever the
    /// streams' lengths; the example app's dense diff stream grows by 2 % (delta README). Off by default: appliers
    /// before this version refuse it ("unknown stream codec").
    pub bounded_window: bool,
}

impl Default for MakeOptions {
    fn default() -> Self {
        MakeOptions {
            encoders: Encoder::ALL.to_vec(),
            zstd_level: 19,
            bsdiff_max_base: 256 << 20,
            max_ratio: 0.6,
            interleaved_diff: false,
            xxh3_result_check: false,
            bounded_window: false,
        }
    }
}

/// What one encoder gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The encoder.
    pub encoder: Encoder,
    /// The delta's size, container included; `None` when the encoder was skipped (see [`MakeOptions`]).
    pub size: Option<u64>,
}

/// The delta [`make`] kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    /// Its header.
    pub header: Header,
    /// Its size, container included.
    pub size: u64,
    /// Every encoder tried, in order, kept or not.
    pub attempts: Vec<Attempt>,
}

/// What [`make`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The delta was written to the output.
    Kept(Made),
    /// No delta was small enough to be worth it; nothing was written.
    NotWorthIt {
        /// Every encoder tried.
        attempts: Vec<Attempt>,
        /// The new file's size.
        target_size: u64,
    },
}

impl Outcome {
    /// The kept delta, if any.
    pub fn kept(self) -> Option<Made> {
        match self {
            Outcome::Kept(made) => Some(made),
            Outcome::NotWorthIt { .. } => None,
        }
    }
}

/// Makes a delta from `base` to `target` and writes it to `output` (through a temporary file beside it), unless no
/// encoder makes one smaller than [`MakeOptions::max_ratio`] of `target`.
///
/// Both files are read into memory: this runs on the publishing server, once per release pair.
pub fn make(base: &Path, target: &Path, output: &Path, options: &MakeOptions) -> Result<Outcome> {
    let base_data = std::fs::read(base).map_err(|e| Error::io("read the base", base, e))?;
    let target_data = std::fs::read(target).map_err(|e| Error::io("read the new file", target, e))?;
    let base_hash = format::blake2b_256(&base_data);
    let result_check = if options.xxh3_result_check {
        ResultCheck::Xxh3_64(xxhash_rust::xxh3::xxh3_64(&target_data))
    } else {
        ResultCheck::Blake2b256(format::blake2b_256(&target_data))
    };

    let target_size = target_data.len() as u64;
    let header_for = |encoder, payload: &[u8]| Header {
        encoder,
        base_size: base_data.len() as u64,
        base_blake2b_256: base_hash,
        result_size: target_size,
        result_check,
        payload_size: payload.len() as u64,
    };
    let mut attempts = Vec::new();
    let mut best: Option<(Header, Vec<u8>)> = None;
    for &encoder in &options.encoders {
        let payload = match encoder {
            Encoder::Zstd => Some(encode_zstd(&base_data, &target_data, options.zstd_level)?),
            Encoder::Bsdiff if base_data.len() as u64 > options.bsdiff_max_base => None,
            Encoder::Bsdiff => Some(bsdiff::encode(&base_data, &target_data, options)?),
            Encoder::Unpacked => unpacked::encode(&base_data, &target_data, options)?,
            Encoder::Bsdiff40 => {
                return Err(Error::Encode {
                    encoder: "bsdiff40",
                    source: std::io::Error::other("bsdiff40 deltas are no longer made; `bsdiff` replaces them"),
                });
            }
        };
        let Some(payload) = payload else {
            attempts.push(Attempt { encoder, size: None });
            continue;
        };
        let header = header_for(encoder, &payload);
        let size = (header.encoded_len() + payload.len()) as u64;
        attempts.push(Attempt { encoder, size: Some(size) });
        if best.as_ref().is_none_or(|(h, b)| size < (h.encoded_len() + b.len()) as u64) {
            best = Some((header, payload));
        }
    }

    let Some((header, payload)) = best else { return Ok(Outcome::NotWorthIt { attempts, target_size }) };
    let size = (header.encoded_len() + payload.len()) as u64;
    if size as f64 > options.max_ratio * target_size as f64 {
        return Ok(Outcome::NotWorthIt { attempts, target_size });
    }

    let mut temp = temp_beside(output)?;
    let mut writer = BufWriter::new(temp.as_file_mut());
    writer
        .write_all(&header.to_bytes())
        .and_then(|()| writer.write_all(&payload))
        .and_then(|()| writer.flush())
        .map_err(|e| Error::io("write the delta", output, e))?;
    drop(writer);
    temp.persist(output).map_err(|e| Error::io("write the delta", output, e.error))?;
    Ok(Outcome::Kept(Made { header, size, attempts }))
}

/// The zstd window that reaches from the end of the result back to the start of the base, as `zstd --patch-from`
/// chooses it (`highbit(max(base, result)) + 1`), within zstd's limits. The applier uses the same value as the most
/// it accepts, so a forged frame cannot make it allocate more.
fn zstd_window_log(base_size: u64, result_size: u64) -> u32 {
    let max = base_size.max(result_size).max(1);
    (64 - max.leading_zeros() + 1).clamp(10, 31)
}

fn encode_zstd(base: &[u8], target: &[u8], level: i32) -> Result<Vec<u8>> {
    let failed = |source| Error::Encode { encoder: "zstd", source };
    let mut encoder = zstd::stream::write::Encoder::with_ref_prefix(Vec::new(), level, base).map_err(failed)?;
    encoder.window_log(zstd_window_log(base.len() as u64, target.len() as u64)).map_err(failed)?;
    encoder.long_distance_matching(true).map_err(failed)?;
    // The content size and checksum make the payload a complete `.zst` file for the real `zstd` too.
    encoder.include_contentsize(true).map_err(failed)?;
    encoder.include_checksum(true).map_err(failed)?;
    encoder.set_pledged_src_size(Some(target.len() as u64)).map_err(failed)?;
    encoder.write_all(target).map_err(failed)?;
    encoder.finish().map_err(failed)
}

/// Reads the header of the delta at `path` and checks that the file is as long as it says.
pub fn inspect(path: &Path) -> Result<Header> {
    Ok(open(path)?.1.header)
}

/// The delta at `path`, opened, and its header, checked against the file's length.
fn open(path: &Path) -> Result<(File, format::Parsed)> {
    let mut file = File::open(path).map_err(|e| Error::io("open the delta", path, e))?;
    let parsed = Header::read(&mut file, path)?;
    let actual = file.metadata().map_err(|e| Error::io("read the delta", path, e))?.len();
    let expected = (parsed.len as u64).saturating_add(parsed.header.payload_size);
    if actual < expected {
        return Err(Error::Truncated { path: path.into(), expected, actual });
    }
    if actual > expected {
        return Err(Error::Corrupt { path: path.into(), reason: "data after the payload", source: None });
    }
    Ok((file, parsed))
}

/// What [`apply`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The delta's header: the result's size and BLAKE2b-256 are the output's, checked.
    pub header: Header,
}

/// Applies the delta at `delta` to `base` and writes the result to `output`, refusing anything larger than
/// `max_result_size` bytes (for the updater: the signed size of the full artifact).
///
/// Checks, in this order, each a distinct [`Error`]: the container (`not_a_delta`, `unsupported_version`,
/// `unknown_encoder`, `truncated`), the cap (`too_large`), a version-1 delta's payload hash (`corrupt`), the base's size
/// (`wrong_base`); then it decodes to a temporary file beside `output`, stopping as soon as the decoder writes more than
/// the announced size, and checks the result's size and hash (`result_mismatch`) before renaming it to `output`. The
/// base's hash is only computed when that fails: a result with the announced BLAKE2b-256 is the announced file,
/// whatever the base was, and when it is not, a base whose hash is not the header's makes the error `wrong_base`
/// (whatever the decoder did). On any error `output` is untouched and the temporary file is removed.
///
/// Memory: the base is read into memory (the decoders need random access to it and `unsafe` memory maps are not
/// allowed here), plus for zstd a window buffer of up to the result's size, plus for bsdiff the payload and a few
/// buffers of [`CHUNK`] bytes. `scripts/bench-delta` measures the peak.
pub fn apply(base: &Path, delta: &Path, output: &Path, max_result_size: u64) -> Result<Applied> {
    let (mut file, format::Parsed { header, len, payload_blake2b_256 }) = open(delta)?;
    if header.result_size > max_result_size {
        return Err(Error::TooLarge { path: delta.into(), size: header.result_size, limit: max_result_size });
    }
    let read_failed = |e| Error::io("read the delta", delta, e);
    file.seek(SeekFrom::Start(len as u64)).map_err(read_failed)?;
    let payload = match header.encoder {
        // zstd reads its payload as it decodes; the others need it whole.
        Encoder::Zstd => None,
        _ => {
            let mut payload = Vec::with_capacity(header.payload_size as usize);
            (&mut file).take(header.payload_size).read_to_end(&mut payload).map_err(read_failed)?;
            Some(payload)
        }
    };
    if let Some(expected) = payload_blake2b_256 {
        let hash = match &payload {
            Some(payload) => format::blake2b_256(payload),
            None => {
                let mut hasher = format::blake2b_256_state();
                let mut reader = BufReader::new(&mut file).take(header.payload_size);
                while let Ok(chunk) = std::io::BufRead::fill_buf(&mut reader)
                    && !chunk.is_empty()
                {
                    let n = chunk.len();
                    hasher.update(chunk);
                    std::io::BufRead::consume(&mut reader, n);
                }
                file.seek(SeekFrom::Start(len as u64)).map_err(read_failed)?;
                format::finish(&hasher)
            }
        };
        if hash != expected {
            return Err(Error::Corrupt {
                path: delta.into(),
                reason: "the payload does not match its hash",
                source: None,
            });
        }
    }

    let mut base_data = read_base(base, &header)?;
    match decode(&header, file, payload.as_deref(), delta, &mut base_data, output) {
        Ok(temp) => {
            temp.persist(output).map_err(|e| Error::io("write", output, e.error))?;
            Ok(Applied { header })
        }
        Err(e) => match base_data.blake2b_256() {
            Ok(hash) if hash == header.base_blake2b_256 => Err(e),
            Ok(_) => Err(Error::WrongBase {
                path: base.into(),
                reason: format!("its BLAKE2b-256 is not `{}`", hex::encode(header.base_blake2b_256)),
            }),
            Err(read) => Err(Error::io("read the base", base, read)),
        },
    }
}

/// Decodes the payload — `payload`, or for zstd read from `file` (the delta at `delta`, positioned at the payload) —
/// against `base_data` into a temporary file beside `output`, and checks the result's size and hash; the file is
/// returned to be renamed into place.
fn decode(
    header: &Header,
    file: File,
    payload: Option<&[u8]>,
    delta: &Path,
    base_data: &mut BaseData,
    output: &Path,
) -> Result<tempfile::NamedTempFile> {
    let mut temp = temp_beside(output)?;
    let temp_path = temp.path().to_path_buf();
    // A large result checked by BLAKE2b is hashed on a second thread while this one decodes and writes; a small one,
    // or one checked by XXH3 (tens of GB/s), here, which costs less than handing buffers to a thread that a busy
    // machine may not schedule at once.
    let (written, overflow, decoded, finished, hash) = std::thread::scope(|scope| {
        let checker = Checker::new(header.result_check);
        let (hashing, thread) = if header.result_size > HASH_INLINE_MAX && matches!(checker, Checker::Blake2b256(_)) {
            let (to_hasher, chunks) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(2);
            let (give_back, spare) = std::sync::mpsc::channel::<Vec<u8>>();
            let thread = scope.spawn(move || {
                let mut checker = checker;
                for (chunk, filled) in chunks {
                    checker.update(&chunk[..filled]);
                    // The decoder may be gone already; the buffer is then simply freed.
                    let _ = give_back.send(chunk);
                }
                checker.finish()
            });
            (Hashing::Thread { to_hasher, spare }, Some(thread))
        } else {
            (Hashing::Inline(checker), None)
        };
        let mut sink = Sink {
            file: temp.as_file_mut(),
            buffer: vec![0u8; CHUNK],
            filled: 0,
            hashing,
            written: 0,
            limit: header.result_size,
            overflow: false,
        };
        let payload = payload.unwrap_or_default();
        let decoded = match (header.encoder, base_data) {
            (Encoder::Unpacked, BaseData::Memory(base)) => {
                unpacked::apply(base, payload, header.result_size, &mut sink, delta)
            }
            (encoder, base) => {
                let decoded = match base {
                    BaseData::File(base) => bsdiff::apply(base, payload, &mut sink),
                    BaseData::Memory(base) => {
                        let stream = BufReader::new(file.take(header.payload_size));
                        apply_plain(encoder, base, stream, payload, header.result_size, &mut sink)
                    }
                };
                decoded.map_err(|source| Error::Corrupt {
                    path: delta.into(),
                    reason: "the payload does not decode",
                    source: Some(source),
                })
            }
        };
        let finished = sink.flush();
        let (written, overflow) = (sink.written, sink.overflow);
        let inline = match &sink.hashing {
            Hashing::Inline(checker) => Some(checker.finish()),
            Hashing::Thread { .. } => None,
        };
        drop(sink);
        let hash = match thread {
            Some(thread) => thread.join().ok(),
            None => inline,
        };
        (written, overflow, decoded, finished, hash)
    });
    if overflow {
        return Err(Error::ResultMismatch {
            path: delta.into(),
            reason: format!("it writes more than the {} bytes it announces", header.result_size),
        });
    }
    decoded?;
    finished.map_err(|e| Error::io("write", &temp_path, e))?;
    if written != header.result_size {
        return Err(Error::ResultMismatch {
            path: delta.into(),
            reason: format!("{written} bytes written, {} announced", header.result_size),
        });
    }
    if hash != Some(header.result_check) {
        let name = match header.result_check {
            ResultCheck::Blake2b256(_) => "BLAKE2b-256",
            ResultCheck::Xxh3_64(_) => "XXH3-64",
        };
        return Err(Error::ResultMismatch {
            path: delta.into(),
            reason: format!("its {name} is not the one announced"),
        });
    }
    Ok(temp)
}

/// Applies a plain (not `unpacked`) payload to `base`, writing to `out`: zstd decodes from `stream` as it reads,
/// bsdiff and bsdiff40 take the whole payload, `bytes`. `result_size` bounds zstd's window.
pub(crate) fn apply_plain(
    encoder: Encoder,
    base: &[u8],
    stream: impl std::io::BufRead,
    bytes: &[u8],
    result_size: u64,
    out: &mut impl bsdiff::Output,
) -> std::io::Result<()> {
    match encoder {
        Encoder::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_ref_prefix(stream, base)?;
            decoder.window_log_max(zstd_window_log(base.len() as u64, result_size))?;
            std::io::copy(&mut decoder, out).map(drop)
        }
        Encoder::Bsdiff => bsdiff::apply(base, bytes, out),
        Encoder::Bsdiff40 => {
            qbsdiff::Bspatch::new(bytes).and_then(|patch| patch.buffer_size(128 << 10).apply(base, out)).map(drop)
        }
        Encoder::Unpacked => Err(std::io::Error::other("an unpacked delta cannot be nested")),
    }
}

/// The base as the decoder reads it: in memory (zstd and the unpacked form need it whole), or, for bsdiff, the open
/// file, read where the controls say.
enum BaseData {
    Memory(Vec<u8>),
    File(bsdiff::BaseFile),
}

impl BaseData {
    fn blake2b_256(&mut self) -> std::io::Result<[u8; 32]> {
        match self {
            BaseData::Memory(data) => Ok(format::blake2b_256(data)),
            BaseData::File(base) => {
                base.file.seek(SeekFrom::Start(0))?;
                base.position = 0;
                let mut hasher = format::blake2b_256_state();
                let mut buffer = vec![0u8; CHUNK];
                loop {
                    let n = base.file.read(&mut buffer)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buffer[..n]);
                }
                Ok(format::finish(&hasher))
            }
        }
    }
}

/// Opens the base, refusing it by size before reading (its hash is checked by the caller), and reads it into memory
/// unless the encoder reads it from the file.
fn read_base(base: &Path, header: &Header) -> Result<BaseData> {
    let file = File::open(base).map_err(|e| Error::io("open the base", base, e))?;
    let size = file.metadata().map_err(|e| Error::io("read the base", base, e))?.len();
    if size != header.base_size {
        return Err(Error::WrongBase {
            path: base.into(),
            reason: format!("{size} bytes, {} expected", header.base_size),
        });
    }
    if header.encoder == Encoder::Bsdiff {
        return Ok(BaseData::File(bsdiff::BaseFile { file, size, position: 0 }));
    }
    let mut data = Vec::with_capacity(size as usize);
    file.take(size).read_to_end(&mut data).map_err(|e| Error::io("read the base", base, e))?;
    Ok(BaseData::Memory(data))
}

fn temp_beside(output: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tempfile::Builder::new()
        .prefix(".millennium-delta-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))
}

/// The size of the buffers results are written and hashed in: the whole buffer is touched on any result larger than
/// it, so it counts in the apply's peak memory (32 KiB: 32 writes a MiB).
pub const CHUNK: usize = 32 << 10;

/// Results up to this size are hashed on the decoding thread: below it, the thread's stack and buffers are a large part
/// of the apply's memory, and its hashing saves less than a millisecond (BLAKE2b runs at about 1 GB/s here).
const HASH_INLINE_MAX: u64 = 1 << 20;

/// The running check of a result, of the kind its header announces.
enum Checker {
    // Both boxed: the states are 224 and ~600 bytes.
    Blake2b256(Box<blake2b_simd::State>),
    Xxh3_64(Box<xxhash_rust::xxh3::Xxh3>),
}

impl Checker {
    fn new(kind: ResultCheck) -> Self {
        match kind {
            ResultCheck::Blake2b256(_) => Checker::Blake2b256(Box::new(format::blake2b_256_state())),
            ResultCheck::Xxh3_64(_) => Checker::Xxh3_64(Box::default()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Checker::Blake2b256(state) => {
                state.update(data);
            }
            Checker::Xxh3_64(state) => state.update(data),
        }
    }

    fn finish(&self) -> ResultCheck {
        match self {
            Checker::Blake2b256(state) => ResultCheck::Blake2b256(format::finish(state)),
            Checker::Xxh3_64(state) => ResultCheck::Xxh3_64(state.digest()),
        }
    }
}

/// How a [`Sink`] checks what it writes.
enum Hashing {
    Inline(Checker),
    /// Full buffers go to the hashing thread with their filled length, and it hands them back to be filled again.
    Thread {
        to_hasher: std::sync::mpsc::SyncSender<(Vec<u8>, usize)>,
        spare: std::sync::mpsc::Receiver<Vec<u8>>,
    },
}

/// Where a decoder writes: buffers, counts, and refuses to go past the announced size (the output cap), so that a
/// forged payload cannot fill the disk; each full buffer is written to `file`, then hashed. The buffer is always
/// [`CHUNK`] bytes long, `filled` of them the result's next bytes, so that it can be lent to the bsdiff applier to
/// build the result in place ([`bsdiff::Output`]) instead of copying it in.
struct Sink<'a> {
    file: &'a mut File,
    buffer: Vec<u8>,
    filled: usize,
    hashing: Hashing,
    written: u64,
    limit: u64,
    overflow: bool,
}

impl Sink<'_> {
    /// Where the next 1 to `want` (> 0) bytes go in the buffer, flushing it first when it is full; refuses anything past
    /// the announced size.
    fn room(&mut self, want: usize) -> std::io::Result<std::ops::Range<usize>> {
        if self.written + want as u64 > self.limit {
            self.overflow = true;
            return Err(std::io::Error::other("the result is larger than announced"));
        }
        if self.filled == CHUNK {
            self.flush()?;
        }
        Ok(self.filled..self.filled + want.min(CHUNK - self.filled))
    }

    fn take(&mut self, n: usize) {
        self.filled += n;
        self.written += n as u64;
    }
}

impl bsdiff::Output for Sink<'_> {
    fn fill_next(
        &mut self,
        max: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> std::io::Result<()>,
    ) -> std::io::Result<usize> {
        let room = self.room(max)?;
        let n = room.len();
        fill(&mut self.buffer[room])?;
        self.take(n);
        Ok(n)
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let room = self.room(buf.len())?;
        let n = room.len();
        self.buffer[room].copy_from_slice(&buf[..n]);
        self.take(n);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        self.file.write_all(&self.buffer[..self.filled])?;
        let filled = std::mem::take(&mut self.filled);
        match &mut self.hashing {
            Hashing::Inline(checker) => {
                checker.update(&self.buffer[..filled]);
                Ok(())
            }
            Hashing::Thread { to_hasher, spare } => {
                let next = spare.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
                let full = std::mem::replace(&mut self.buffer, next);
                to_hasher.send((full, filled)).map_err(|_| std::io::Error::other("the hashing thread stopped"))
            }
        }
    }
}
