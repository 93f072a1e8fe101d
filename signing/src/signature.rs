//! Signatures: creating and checking them, streaming.
//!
//! A minisign signature file holds four lines:
//!
//! ```text
//! untrusted comment: <free text, not covered by any signature>
//! base64("ED" | key id (8) | Ed25519(secret key, BLAKE2b-512(file)))       prehashed; legacy "Ed" signs the file itself
//! trusted comment: <text>
//! base64(Ed25519(secret key, signature (64) | trusted comment))           the "global" signature
//! ```
//!
//! Prehashed signatures are made and checked by hashing the input as it streams past, so memory stays flat whatever
//! the artifact size. Legacy signatures need the whole input in memory; they are verified (minisign and old Tauri
//! releases made them) up to a size limit, and never produced.

use std::io::Read;

use ed25519_dalek::Signer;

use crate::encoding::{self, Format, TRUSTED_PREFIX, UNTRUSTED_PREFIX, comment, decode_exact, payload, unwrap_text};
use crate::error::{Error, Object, Result};
use crate::keys::{KeyId, PublicKey, SecretKey};

const SIG_ALG_PREHASHED: [u8; 2] = *b"ED";
const SIG_ALG_LEGACY: [u8; 2] = *b"Ed";
const READ_BUFFER: usize = 256 * 1024;

/// minisign refuses trusted comments longer than this when signing.
pub const MAX_TRUSTED_COMMENT_LEN: usize = 1024;

/// Legacy signatures need the data in memory; we buffer at most this much.
pub const MAX_LEGACY_DATA_LEN: u64 = 1 << 30;

/// How the signed data was fed to Ed25519.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// `ED`: Ed25519 over the BLAKE2b-512 hash of the data. What we always produce.
    Prehashed,
    /// `Ed`: Ed25519 over the data itself (minisign `-l`, rust-minisign before 0.7).
    Legacy,
}

/// A parsed signature file.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    algorithm: Algorithm,
    key_id: KeyId,
    signature: [u8; 64],
    untrusted_comment: String,
    trusted_comment: String,
    global_signature: [u8; 64],
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signature")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .field("trusted_comment", &self.trusted_comment)
            .finish_non_exhaustive()
    }
}

impl Signature {
    /// Parses a `.sig` / `.minisig` file in minisign's text form or Tauri's base64 form (the `signature` field of Tauri
    /// update JSON).
    pub fn from_text(text: &str) -> Result<Self> {
        let text = unwrap_text(Object::Signature, text)?;
        let mut lines = text.lines();
        let untrusted_comment = comment(Object::Signature, lines.next(), UNTRUSTED_PREFIX)?.to_owned();
        let bytes =
            decode_exact::<74>(Object::Signature, "signature", payload(Object::Signature, lines.next(), "signature")?)?;
        let trusted_comment = comment(Object::Signature, lines.next(), TRUSTED_PREFIX)?.to_owned();
        let global_signature = decode_exact::<64>(
            Object::Signature,
            "trusted comment signature",
            payload(Object::Signature, lines.next(), "trusted comment signature")?,
        )?;
        if lines.any(|l| !l.trim().is_empty()) {
            return Err(Error::malformed(Object::Signature, "unexpected text after the trusted comment signature"));
        }
        let algorithm = match [bytes[0], bytes[1]] {
            SIG_ALG_PREHASHED => Algorithm::Prehashed,
            SIG_ALG_LEGACY => Algorithm::Legacy,
            other => {
                return Err(Error::UnsupportedAlgorithm {
                    object: Object::Signature,
                    found: String::from_utf8_lossy(&other).into_owned(),
                });
            }
        };
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&bytes[2..10]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&bytes[10..]);
        Ok(Signature {
            algorithm,
            key_id: KeyId(key_id),
            signature,
            untrusted_comment,
            trusted_comment,
            global_signature,
        })
    }

    /// The signature file contents in the given format.
    pub fn to_text(&self, format: Format) -> String {
        let alg = match self.algorithm {
            Algorithm::Prehashed => SIG_ALG_PREHASHED,
            Algorithm::Legacy => SIG_ALG_LEGACY,
        };
        let mut bytes = Vec::with_capacity(74);
        bytes.extend_from_slice(&alg);
        bytes.extend_from_slice(&self.key_id.0);
        bytes.extend_from_slice(&self.signature);
        format.encode(&format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
            self.untrusted_comment,
            encoding::encode(&bytes),
            self.trusted_comment,
            encoding::encode(&self.global_signature)
        ))
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The trusted comment. Only meaningful after [`Signature::verify`] succeeded.
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }

    /// The trusted comment's `key:value` fields. Only meaningful after [`Signature::verify`] succeeded.
    pub fn trusted_fields(&self) -> TrustedComment<'_> {
        TrustedComment(&self.trusted_comment)
    }

    pub fn untrusted_comment(&self) -> &str {
        &self.untrusted_comment
    }

    /// Signs everything `data` yields, streaming (prehashed), with `trusted_comment` covered by the global signature.
    pub fn sign(secret_key: &SecretKey, data: impl Read, trusted_comment: &str) -> Result<Self> {
        validate_trusted_comment(trusted_comment)?;
        let digest = prehash(data)?;
        let signing_key = secret_key.signing_key();
        let signature = signing_key.sign(&digest).to_bytes();
        let global_signature = signing_key.sign(&global_message(&signature, trusted_comment)).to_bytes();
        Ok(Signature {
            algorithm: Algorithm::Prehashed,
            key_id: secret_key.key_id(),
            signature,
            untrusted_comment: "signature from millennium-sign secret key".to_owned(),
            trusted_comment: trusted_comment.to_owned(),
            global_signature,
        })
    }

    /// Checks this signature over everything `data` yields against `public_key`: the key id, the signature over the
    /// data, then the signature over the trusted comment. Each failure is its own [`Error`] variant.
    pub fn verify(&self, public_key: &PublicKey, data: impl Read) -> Result<()> {
        let mut verifier = self.verifier(public_key)?;
        for_each_chunk(data, |chunk| verifier.update(chunk))?;
        verifier.finish()
    }

    /// Starts checking this signature over data that arrives in pieces, e.g. hashed while it downloads, so the data
    /// is read once and never held in memory. Fails at once if the signature was made by another key.
    pub fn verifier(&self, public_key: &PublicKey) -> Result<Verifier> {
        if self.key_id != public_key.key_id() {
            return Err(Error::WrongKey { signature_key: self.key_id, public_key: public_key.key_id() });
        }
        let data = match self.algorithm {
            Algorithm::Prehashed => Pending::Hash(Box::new(blake2b_simd::State::new())),
            Algorithm::Legacy => Pending::Buffer(Vec::new()),
        };
        Ok(Verifier { signature: self.clone(), public_key: public_key.clone(), data })
    }
}

/// A signature check in progress: feed the data with [`Verifier::update`] (or `std::io::Write`), then
/// [`Verifier::finish`].
pub struct Verifier {
    signature: Signature,
    public_key: PublicKey,
    data: Pending,
}

enum Pending {
    Hash(Box<blake2b_simd::State>),
    Buffer(Vec<u8>),
    TooLarge,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("signature", &self.signature).finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn update(&mut self, chunk: &[u8]) {
        match &mut self.data {
            Pending::Hash(state) => {
                state.update(chunk);
            }
            Pending::Buffer(buffer) if (buffer.len() + chunk.len()) as u64 <= MAX_LEGACY_DATA_LEN => {
                buffer.extend_from_slice(chunk);
            }
            Pending::Buffer(_) => self.data = Pending::TooLarge,
            Pending::TooLarge => {}
        }
    }

    /// Completes the check: the signature over the data, then the one over the trusted comment.
    pub fn finish(self) -> Result<()> {
        let key = self.public_key.verifying_key();
        let sig = &self.signature;
        let signature = ed25519_dalek::Signature::from_bytes(&sig.signature);
        let data_ok = match self.data {
            Pending::Hash(state) => key.verify_strict(state.finalize().as_bytes(), &signature).is_ok(),
            Pending::Buffer(buffer) => key.verify_strict(&buffer, &signature).is_ok(),
            Pending::TooLarge => return Err(Error::LegacyTooLarge { limit: MAX_LEGACY_DATA_LEN }),
        };
        if !data_ok {
            return Err(Error::DataMismatch);
        }
        let global = ed25519_dalek::Signature::from_bytes(&sig.global_signature);
        key.verify_strict(&global_message(&sig.signature, &sig.trusted_comment), &global)
            .map_err(|_| Error::TrustedCommentTampered)
    }
}

impl std::io::Write for Verifier {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn global_message(signature: &[u8; 64], trusted_comment: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(64 + trusted_comment.len());
    message.extend_from_slice(signature);
    message.extend_from_slice(trusted_comment.as_bytes());
    message
}

/// BLAKE2b-512 of the stream, as minisign's prehashed mode computes it.
fn prehash(data: impl Read) -> Result<[u8; 64]> {
    let mut state = blake2b_simd::State::new();
    for_each_chunk(data, |chunk| {
        state.update(chunk);
    })?;
    let mut out = [0u8; 64];
    out.copy_from_slice(state.finalize().as_bytes());
    Ok(out)
}

fn for_each_chunk(mut data: impl Read, mut f: impl FnMut(&[u8])) -> Result<()> {
    let mut buffer = vec![0u8; READ_BUFFER];
    loop {
        match data.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => f(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(Error::Read { source }),
        }
    }
}

fn validate_trusted_comment(comment: &str) -> Result<()> {
    if comment.len() > MAX_TRUSTED_COMMENT_LEN {
        return Err(Error::InvalidTrustedComment {
            reason: format!("{} bytes is over minisign's limit of {MAX_TRUSTED_COMMENT_LEN}", comment.len()),
        });
    }
    if comment.contains(['\n', '\r']) {
        return Err(Error::InvalidTrustedComment { reason: "it contains a line break".into() });
    }
    Ok(())
}

/// The `key:value` fields of a trusted comment, tab-separated, as Tauri writes them
/// (`timestamp:1700000000\tfile:app.AppImage\tversion:1.2.3`).
#[derive(Debug, Clone, Copy)]
pub struct TrustedComment<'a>(&'a str);

impl<'a> TrustedComment<'a> {
    /// Builds the trusted comment Tauri's signer writes, plus `version:` when known (newer Tauri updaters check it).
    pub fn tauri(timestamp: u64, file_name: &str, version: Option<&str>) -> Result<String> {
        for (what, value) in [("file name", Some(file_name)), ("version", version)] {
            if value.is_some_and(|v| v.contains(['\t', '\n', '\r'])) {
                return Err(Error::InvalidTrustedComment {
                    reason: format!("the {what} {value:?} contains a tab or line break"),
                });
            }
        }
        let mut comment = format!("timestamp:{timestamp}\tfile:{file_name}");
        if let Some(version) = version {
            comment.push_str("\tversion:");
            comment.push_str(version);
        }
        validate_trusted_comment(&comment)?;
        Ok(comment)
    }

    /// The value of the first `name:value` field.
    pub fn field(&self, name: &str) -> Option<&'a str> {
        self.0.split('\t').find_map(|part| part.strip_prefix(name)?.strip_prefix(':'))
    }

    pub fn timestamp(&self) -> Option<u64> {
        self.field("timestamp")?.parse().ok()
    }

    pub fn file(&self) -> Option<&'a str> {
        self.field("file")
    }

    pub fn version(&self) -> Option<&'a str> {
        self.field("version")
    }

    /// Checks the signed version, the way Tauri's updater does: when a `version:` field is present it must equal
    /// `expected` (a leading `v` is ignored on both sides); with `required`, a missing field is also an error.
    pub fn check_version(&self, expected: &str, required: bool) -> Result<()> {
        fn strip(v: &str) -> &str {
            v.strip_prefix('v').unwrap_or(v)
        }
        match self.version() {
            Some(signed) if strip(signed) == strip(expected) => Ok(()),
            Some(signed) => Err(Error::VersionMismatch { signed: signed.to_owned(), expected: expected.to_owned() }),
            None if required => {
                Err(Error::VersionMismatch { signed: "(none)".to_owned(), expected: expected.to_owned() })
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn pair() -> (SecretKey, PublicKey) {
        let sk = SecretKey::generate().expect("generate");
        let pk = sk.public_key();
        (sk, pk)
    }

    #[test]
    fn sign_verify_round_trip_in_both_formats() {
        let (sk, pk) = pair();
        let comment = TrustedComment::tauri(1_700_000_000, "app.AppImage", Some("1.2.3")).expect("comment");
        let sig = Signature::sign(&sk, &b"hello"[..], &comment).expect("sign");
        for format in [Format::Minisign, Format::Tauri] {
            let parsed = Signature::from_text(&sig.to_text(format)).expect("parse");
            assert_eq!(parsed, sig);
            parsed.verify(&pk, &b"hello"[..]).expect("verify");
        }
        assert_eq!(sig.trusted_fields().version(), Some("1.2.3"));
        assert_eq!(sig.trusted_fields().file(), Some("app.AppImage"));
        assert_eq!(sig.trusted_fields().timestamp(), Some(1_700_000_000));
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let (sk, pk) = pair();
        let (_, other_pk) = pair();
        let sig = Signature::sign(&sk, &b"hello"[..], "timestamp:1\tfile:x").expect("sign");
        assert!(matches!(sig.verify(&other_pk, &b"hello"[..]), Err(Error::WrongKey { .. })));
        assert!(matches!(sig.verify(&pk, &b"hellO"[..]), Err(Error::DataMismatch)));
        let tampered = Signature::from_text(&sig.to_text(Format::Minisign).replace("file:x", "file:y")).expect("parse");
        assert!(matches!(tampered.verify(&pk, &b"hello"[..]), Err(Error::TrustedCommentTampered)));
    }

    #[test]
    fn incremental_verification_matches_one_shot() {
        let (sk, pk) = pair();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let sig = Signature::sign(&sk, &data[..], "c").expect("sign");
        let mut verifier = sig.verifier(&pk).expect("verifier");
        for chunk in data.chunks(7919) {
            verifier.update(chunk);
        }
        verifier.finish().expect("verify");
        let mut verifier = sig.verifier(&pk).expect("verifier");
        verifier.update(&data[1..]);
        assert!(matches!(verifier.finish(), Err(Error::DataMismatch)));
        let (_, other) = pair();
        assert!(matches!(sig.verifier(&other), Err(Error::WrongKey { .. })));
    }

    #[test]
    fn trusted_comment_rules() {
        assert!(TrustedComment::tauri(1, "a\tb", None).is_err());
        assert!(TrustedComment::tauri(1, "a", Some("1.0\n")).is_err());
        assert!(TrustedComment::tauri(1, &"x".repeat(2000), None).is_err());
        let fields = TrustedComment("timestamp:1\tfile:a\tversion:v1.2.3");
        fields.check_version("1.2.3", true).expect("same version");
        assert!(matches!(fields.check_version("1.2.4", false), Err(Error::VersionMismatch { .. })));
        let no_version = TrustedComment("timestamp:1\tfile:a");
        no_version.check_version("1.2.4", false).expect("optional");
        assert!(no_version.check_version("1.2.4", true).is_err());
    }

    #[test]
    fn malformed_signatures_are_errors_not_panics() {
        let (sk, _) = pair();
        let good = Signature::sign(&sk, &b"x"[..], "c").expect("sign").to_text(Format::Minisign);
        let lines: Vec<&str> = good.lines().collect();
        for bad in [
            String::new(),
            "garbage!!".to_owned(),
            lines[..2].join("\n"),
            lines[..3].join("\n"),
            good.replace(lines[1], &lines[1][..20]),
            good.replacen("trusted comment: ", "trusted: ", 1),
            format!("{good}extra line\n"),
        ] {
            assert!(matches!(Signature::from_text(&bad), Err(Error::Malformed { .. })), "accepted {bad:?}");
        }
    }
}
