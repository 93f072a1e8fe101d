//! Text forms of keys and signatures.
//!
//! minisign stores every object as lines of text: an `untrusted comment:` line followed by base64 payload lines (a
//! signature adds a `trusted comment:` line and a second payload). Tauri takes that whole text and base64-encodes it
//! once more, so it fits in a JSON string or an environment variable. Every reader here accepts both forms; writers pick
//! one with [`Format`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, Object, Result};

pub(crate) const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
pub(crate) const TRUSTED_PREFIX: &str = "trusted comment: ";

/// Largest key or signature text we accept. minisign caps comments at 1 KiB (untrusted) and 8 KiB (trusted); Tauri's
/// base64 wrapping adds a third.
pub(crate) const MAX_TEXT_LEN: usize = 16 * 1024;

/// How keys and signatures are written out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Format {
    /// The text files the `minisign` tool reads and writes (the default).
    #[default]
    Minisign,
    /// The minisign text, base64-encoded once more: what `tauri signer` writes and Tauri configs and update JSON hold.
    Tauri,
}

impl Format {
    /// Encodes minisign text in this format.
    pub fn encode(self, minisign_text: &str) -> String {
        match self {
            Format::Minisign => minisign_text.to_owned(),
            Format::Tauri => STANDARD.encode(minisign_text),
        }
    }
}

/// Returns the minisign text of `text`, unwrapping Tauri's extra base64 layer when present.
pub(crate) fn unwrap_text(object: Object, text: &str) -> Result<String> {
    if text.len() > MAX_TEXT_LEN {
        return Err(Error::malformed(object, format!("{} bytes is longer than any valid {object}", text.len())));
    }
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(Error::malformed(object, "the text is empty"));
    }
    if trimmed.starts_with(UNTRUSTED_PREFIX.trim_end()) {
        return Ok(trimmed.to_owned());
    }
    // Tauri's form: one base64 token (possibly wrapped over lines) whose decoding is minisign text.
    let compact: String = trimmed.split_whitespace().collect();
    let decoded = STANDARD.decode(compact.as_bytes()).map_err(|e| {
        Error::malformed(
            object,
            format!("expected minisign text starting with `untrusted comment:` or its base64 (Tauri) form, but base64 decoding failed: {e}"),
        )
    })?;
    let inner = String::from_utf8(decoded)
        .map_err(|_| Error::malformed(object, "the base64 (Tauri) form does not decode to text"))?;
    let inner = inner.trim();
    if !inner.starts_with(UNTRUSTED_PREFIX.trim_end()) {
        return Err(Error::malformed(object, "the base64 (Tauri) form does not contain minisign text"));
    }
    Ok(inner.to_owned())
}

/// Decodes one base64 payload line into exactly `N` bytes.
pub(crate) fn decode_exact<const N: usize>(object: Object, what: &str, line: &str) -> Result<[u8; N]> {
    let bytes = STANDARD
        .decode(line.trim().as_bytes())
        .map_err(|e| Error::malformed(object, format!("the {what} is not valid base64: {e}")))?;
    bytes.as_slice().try_into().map_err(|_| {
        Error::malformed(
            object,
            format!("the {what} decodes to {} bytes, expected {N} (truncated or corrupt?)", bytes.len()),
        )
    })
}

pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Strips `prefix` from a comment line, with a clear error when the line is something else.
pub(crate) fn comment<'a>(object: Object, line: Option<&'a str>, prefix: &str) -> Result<&'a str> {
    let line = line.ok_or_else(|| Error::malformed(object, format!("missing the `{}` line", prefix.trim_end())))?;
    // minisign ignores any trailing CR (files edited on Windows); so must we, or a comment would look tampered.
    let line = line.trim_end_matches('\r');
    // minisign writes `untrusted comment: x`; accept a bare `untrusted comment:` for an empty comment.
    line.strip_prefix(prefix)
        .or_else(|| (line == prefix.trim_end()).then_some(""))
        .ok_or_else(|| Error::malformed(object, format!("expected a line starting with `{}`", prefix.trim_end())))
}

/// The next non-comment payload line.
pub(crate) fn payload<'a>(object: Object, line: Option<&'a str>, what: &str) -> Result<&'a str> {
    let line = line.map(str::trim).filter(|l| !l.is_empty());
    line.ok_or_else(|| Error::malformed(object, format!("missing the {what} line (truncated?)")))
}
