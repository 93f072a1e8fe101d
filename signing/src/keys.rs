//! minisign key pairs: generation, (de)serialisation and password protection.
//!
//! Binary layouts, as the `minisign` tool defines them (all integers little-endian):
//!
//! ```text
//! public key (42 bytes):  "Ed" | key id (8) | Ed25519 public key (32)
//! secret key (158 bytes): "Ed" | kdf "Sc" or 00 00 | "B2" | salt (32) | opslimit (8) | memlimit (8)
//!                         | key id (8) | Ed25519 secret key, seed then public key (64) | checksum (32)
//! ```
//!
//! The last 104 bytes of a secret key are XORed with scrypt(password, salt) when the kdf is `Sc`. The checksum is
//! BLAKE2b-256 over "Ed" | key id | secret key; a mismatch after decryption means a wrong password.
//!
//! Unencrypted keys (kdf `00 00`) come in two kinds. rust-minisign (`rsign generate --unencrypted`) and this crate
//! write the checksum; the minisign C tool writes 32 zero bytes there (`minisign -G -W`, seen with Debian's 0.11),
//! and its own reader never looks at them. A zero checksum in an unencrypted key is therefore accepted, and such a
//! key is checked by what it does carry twice: the Ed25519 public key stored after the seed must be the one the seed
//! derives. Its key id has no second copy in the file, so nothing here can vouch for it; a damaged key id shows up
//! as a key-id mismatch when the signature is verified. Any other checksum must match, so a damaged byte in a
//! checksummed key is still found.

use std::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::{Zeroize, Zeroizing};

use crate::encoding::{self, Format, UNTRUSTED_PREFIX, comment, decode_exact, payload, unwrap_text};
use crate::error::{Error, Object, Result};

pub(crate) const SIG_ALG_ED: [u8; 2] = *b"Ed";
const KDF_SCRYPT: [u8; 2] = *b"Sc";
const KDF_NONE: [u8; 2] = [0, 0];
const CHK_BLAKE2B: [u8; 2] = *b"B2";
const PUBLIC_KEY_LEN: usize = 42;
const SECRET_KEY_LEN: usize = 158;
const ENCRYPTED_LEN: usize = 8 + 64 + 32;

/// The 8-byte identifier minisign stores in keys and signatures, shown as 16 hex digits (as `minisign` prints it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl std::str::FromStr for KeyId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.len() != 16 {
            return Err(Error::malformed(Object::PublicKey, format!("key id {s:?} is not 16 hex digits")));
        }
        u64::from_str_radix(s, 16)
            .map(|n| KeyId(n.to_le_bytes()))
            .map_err(|_| Error::malformed(Object::PublicKey, format!("key id {s:?} is not 16 hex digits")))
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A public key that verifies signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key_id: KeyId,
    key: VerifyingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id)
    }
}

impl PublicKey {
    /// Parses a public key in any of the forms users have: a minisign `.pub` file, its bare base64 line (`RW…`, as given
    /// to `minisign -P`), or Tauri's base64 of the whole `.pub` file (the `pubkey` of a Tauri config).
    pub fn from_text(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        if !trimmed.is_empty() && !trimmed.contains(char::is_whitespace) {
            // A single token: bare minisign key (42 bytes) or Tauri's wrapping (decodes to text).
            if let Ok(bytes) = decode_exact::<PUBLIC_KEY_LEN>(Object::PublicKey, "public key", trimmed) {
                return Self::from_bytes(&bytes);
            }
        }
        let text = unwrap_text(Object::PublicKey, text)?;
        let mut lines = text.lines();
        comment(Object::PublicKey, lines.next(), UNTRUSTED_PREFIX)?;
        let line = payload(Object::PublicKey, lines.next(), "public key")?;
        Self::from_bytes(&decode_exact::<PUBLIC_KEY_LEN>(Object::PublicKey, "public key", line)?)
    }

    fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<Self> {
        check_algorithm(Object::PublicKey, &bytes[..2])?;
        let key_id = KeyId(bytes[2..10].try_into().map_err(|_| Error::malformed(Object::PublicKey, "short key"))?);
        let raw: [u8; 32] = bytes[10..].try_into().map_err(|_| Error::malformed(Object::PublicKey, "short key"))?;
        let key = VerifyingKey::from_bytes(&raw)
            .map_err(|_| Error::malformed(Object::PublicKey, "the Ed25519 public key is not a valid curve point"))?;
        Ok(PublicKey { key_id, key })
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The 42-byte binary form.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        let mut out = [0u8; PUBLIC_KEY_LEN];
        out[..2].copy_from_slice(&SIG_ALG_ED);
        out[2..10].copy_from_slice(&self.key_id.0);
        out[10..].copy_from_slice(self.key.as_bytes());
        out
    }

    /// The bare base64 line (`RW…`), as `minisign -P` takes it.
    pub fn to_base64(&self) -> String {
        encoding::encode(&self.to_bytes())
    }

    /// The `.pub` file contents in the given format.
    pub fn to_text(&self, format: Format) -> String {
        format.encode(&format!("{UNTRUSTED_PREFIX}minisign public key {}\n{}\n", self.key_id, self.to_base64()))
    }
}

/// scrypt cost, stored in the key file as libsodium's `opslimit` / `memlimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub opslimit: u64,
    pub memlimit: u64,
}

impl KdfParams {
    /// What `minisign -G` uses (libsodium's "sensitive" limits: scrypt N=2^20, r=8, p=1, 1 GiB, a few seconds).
    pub const MINISIGN: KdfParams = KdfParams { opslimit: 1 << 25, memlimit: 1 << 30 };
    /// What `tauri signer generate` (rust-minisign) uses: N=2^15, 32 MiB. Cheap; for tests and constrained CI.
    pub const INTERACTIVE: KdfParams = KdfParams { opslimit: 1 << 20, memlimit: 1 << 25 };

    /// The most we agree to spend when reading a key: a crafted key file must not make us allocate or spin without
    /// bound.
    const MAX_OPSLIMIT: u64 = 1 << 28;
    const MAX_MEMLIMIT: u64 = 1 << 30;

    /// Converts libsodium limits into scrypt parameters exactly as libsodium's `pickparams` does, so keys encrypted by
    /// minisign decrypt here and the other way round.
    fn scrypt_params(self) -> Result<scrypt::Params> {
        let too_expensive = || Error::KdfTooExpensive { opslimit: self.opslimit, memlimit: self.memlimit };
        if self.opslimit > Self::MAX_OPSLIMIT || self.memlimit > Self::MAX_MEMLIMIT {
            return Err(too_expensive());
        }
        let opslimit = self.opslimit.max(32768);
        let r: u64 = 8;
        let (log_n, p) = if opslimit < self.memlimit / 32 {
            let max_n = opslimit / (r * 4);
            (first_log2_above(max_n / 2), 1)
        } else {
            let max_n = self.memlimit / (r * 128);
            let log_n = first_log2_above(max_n / 2);
            let max_rp = ((opslimit / 4) / (1u64 << log_n)).min(0x3fff_ffff);
            (log_n, (max_rp / r).max(1))
        };
        let p = u32::try_from(p).map_err(|_| too_expensive())?;
        // The length argument only matters for password-hash strings, not for the raw `scrypt()` output used here.
        scrypt::Params::new(log_n, 8, p, scrypt::Params::RECOMMENDED_LEN).map_err(|_| too_expensive())
    }
}

fn first_log2_above(limit: u64) -> u8 {
    let mut log_n = 1u8;
    while log_n < 63 && (1u64 << log_n) <= limit {
        log_n += 1;
    }
    log_n
}

/// A secret key as stored on disk, possibly still encrypted.
#[derive(Clone)]
pub struct SecretKeyBox {
    bytes: Zeroizing<[u8; SECRET_KEY_LEN]>,
}

impl fmt::Debug for SecretKeyBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKeyBox").field("encrypted", &self.is_encrypted()).finish_non_exhaustive()
    }
}

impl SecretKeyBox {
    /// Parses a secret key file: minisign's text or Tauri's base64 of it. Nothing is decrypted yet.
    pub fn from_text(text: &str) -> Result<Self> {
        let text = Zeroizing::new(unwrap_text(Object::SecretKey, text)?);
        let mut lines = text.lines();
        comment(Object::SecretKey, lines.next(), UNTRUSTED_PREFIX)?;
        let line = payload(Object::SecretKey, lines.next(), "secret key")?;
        let bytes = Zeroizing::new(decode_exact::<SECRET_KEY_LEN>(Object::SecretKey, "secret key", line)?);
        check_algorithm(Object::SecretKey, &bytes[..2])?;
        let kdf = &bytes[2..4];
        if kdf != KDF_SCRYPT && kdf != KDF_NONE {
            return Err(Error::UnsupportedAlgorithm {
                object: Object::SecretKey,
                found: format!("key derivation {}", String::from_utf8_lossy(kdf)),
            });
        }
        if bytes[4..6] != CHK_BLAKE2B {
            return Err(Error::UnsupportedAlgorithm {
                object: Object::SecretKey,
                found: format!("checksum {}", String::from_utf8_lossy(&bytes[4..6])),
            });
        }
        Ok(SecretKeyBox { bytes })
    }

    /// Whether a password is needed to use this key.
    pub fn is_encrypted(&self) -> bool {
        self.bytes[2..4] == KDF_SCRYPT
    }

    pub fn kdf_params(&self) -> KdfParams {
        KdfParams { opslimit: le_u64(&self.bytes[38..46]), memlimit: le_u64(&self.bytes[46..54]) }
    }

    /// Decrypts the key. `password` is ignored for an unencrypted key; an encrypted one without a password is
    /// [`Error::PasswordRequired`].
    pub fn open(&self, password: Option<&str>) -> Result<SecretKey> {
        let mut plain = self.bytes.clone();
        if self.is_encrypted() {
            let password = password.ok_or(Error::PasswordRequired)?;
            let stream = derive_stream(password, &self.bytes[6..38], self.kdf_params())?;
            plain[54..].iter_mut().zip(stream.iter()).for_each(|(b, s)| *b ^= s);
        }
        let expected = checksum(&plain[54..62], &plain[62..126]);
        let stored = &plain[126..158];
        // `minisign -G -W` leaves the checksum of an unencrypted key zeroed (see the module header); the public-half
        // check below is what validates such a key.
        let unchecksummed = !self.is_encrypted() && stored.iter().all(|&b| b == 0);
        if !unchecksummed && !constant_time_eq(&expected, stored) {
            return Err(if self.is_encrypted() {
                Error::WrongPassword
            } else {
                Error::CorruptSecretKey { reason: "its checksum does not match its contents" }
            });
        }
        let corrupt = || Error::CorruptSecretKey { reason: "its public key is not the one its seed derives" };
        // The seed is copied out of `plain` to build the key: that copy is wiped too (`SigningKey` wipes its own).
        let seed = Zeroizing::new(<[u8; 32]>::try_from(&plain[62..94]).map_err(|_| corrupt())?);
        let signing = SigningKey::from_bytes(&seed);
        if signing.verifying_key().as_bytes() != &plain[94..126] {
            return Err(corrupt());
        }
        let key_id = KeyId(plain[54..62].try_into().map_err(|_| corrupt())?);
        Ok(SecretKey { key_id, signing })
    }
}

/// A decrypted secret key, ready to sign. Zeroed on drop.
#[derive(Clone)]
pub struct SecretKey {
    key_id: KeyId,
    signing: SigningKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.key_id)
    }
}

impl SecretKey {
    /// Generates a new key pair from the operating system's random number generator.
    pub fn generate() -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        let mut key_id = [0u8; 8];
        getrandom::fill(seed.as_mut()).map_err(|source| Error::Random { source })?;
        getrandom::fill(&mut key_id).map_err(|source| Error::Random { source })?;
        Ok(SecretKey { key_id: KeyId(key_id), signing: SigningKey::from_bytes(&seed) })
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey { key_id: self.key_id, key: self.signing.verifying_key() }
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Seals the key for storage: scrypt-encrypted with `password` and `kdf`, or in clear when `password` is `None`.
    pub fn seal(&self, password: Option<&str>, kdf: KdfParams) -> Result<SecretKeyBox> {
        let mut bytes = Zeroizing::new([0u8; SECRET_KEY_LEN]);
        bytes[..2].copy_from_slice(&SIG_ALG_ED);
        bytes[4..6].copy_from_slice(&CHK_BLAKE2B);
        bytes[54..62].copy_from_slice(&self.key_id.0);
        bytes[62..94].copy_from_slice(self.signing.as_bytes());
        bytes[94..126].copy_from_slice(self.signing.verifying_key().as_bytes());
        let chk = checksum(&bytes[54..62], &bytes[62..126]);
        bytes[126..].copy_from_slice(&chk);
        match password {
            None => bytes[2..4].copy_from_slice(&KDF_NONE),
            Some(password) => {
                bytes[2..4].copy_from_slice(&KDF_SCRYPT);
                let mut salt = [0u8; 32];
                getrandom::fill(&mut salt).map_err(|source| Error::Random { source })?;
                bytes[6..38].copy_from_slice(&salt);
                bytes[38..46].copy_from_slice(&kdf.opslimit.to_le_bytes());
                bytes[46..54].copy_from_slice(&kdf.memlimit.to_le_bytes());
                let stream = derive_stream(password, &salt, kdf)?;
                bytes[54..].iter_mut().zip(stream.iter()).for_each(|(b, s)| *b ^= s);
            }
        }
        Ok(SecretKeyBox { bytes })
    }
}

impl SecretKeyBox {
    /// The key file contents in the given format.
    pub fn to_text(&self, format: Format) -> Zeroizing<String> {
        let label = if self.is_encrypted() { "encrypted secret key" } else { "secret key (not encrypted)" };
        let mut line = encoding::encode(self.bytes.as_ref());
        let text = Zeroizing::new(format!("{UNTRUSTED_PREFIX}millennium-sign {label}\n{line}\n"));
        line.zeroize();
        Zeroizing::new(format.encode(&text))
    }
}

fn derive_stream(password: &str, salt: &[u8], kdf: KdfParams) -> Result<Zeroizing<[u8; ENCRYPTED_LEN]>> {
    let params = kdf.scrypt_params()?;
    let mut stream = Zeroizing::new([0u8; ENCRYPTED_LEN]);
    scrypt::scrypt(password.as_bytes(), salt, &params, stream.as_mut())
        .map_err(|_| Error::KdfTooExpensive { opslimit: kdf.opslimit, memlimit: kdf.memlimit })?;
    Ok(stream)
}

fn checksum(key_id: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
    state.update(&SIG_ALG_ED).update(key_id).update(secret);
    let mut out = [0u8; 32];
    out.copy_from_slice(state.finalize().as_bytes());
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(bytes);
    u64::from_le_bytes(buf)
}

pub(crate) fn check_algorithm(object: Object, alg: &[u8]) -> Result<()> {
    if alg == SIG_ALG_ED {
        Ok(())
    } else {
        Err(Error::UnsupportedAlgorithm { object, found: String::from_utf8_lossy(alg).into_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdf_params_match_libsodium_pickparams() {
        // minisign -G: N = 2^20, r = 8, p = 1; rust-minisign (tauri): N = 2^15, r = 8, p = 1.
        let sensitive = KdfParams::MINISIGN.scrypt_params().expect("params");
        assert_eq!((sensitive.log_n(), sensitive.r(), sensitive.p()), (20, 8, 1));
        let interactive = KdfParams::INTERACTIVE.scrypt_params().expect("params");
        assert_eq!((interactive.log_n(), interactive.r(), interactive.p()), (15, 8, 1));
    }

    #[test]
    fn absurd_kdf_params_are_refused() {
        let kdf = KdfParams { opslimit: u64::MAX, memlimit: u64::MAX };
        assert!(matches!(kdf.scrypt_params(), Err(Error::KdfTooExpensive { .. })));
    }

    #[test]
    fn seal_and_open_round_trip() {
        let sk = SecretKey::generate().expect("generate");
        let sealed = sk.seal(Some("hunter2"), KdfParams::INTERACTIVE).expect("seal");
        assert!(sealed.is_encrypted());
        let text = sealed.to_text(Format::Tauri);
        let reopened = SecretKeyBox::from_text(&text).expect("parse").open(Some("hunter2")).expect("open");
        assert_eq!(reopened.public_key(), sk.public_key());
        let wrong = SecretKeyBox::from_text(&text).expect("parse").open(Some("hunter3"));
        assert!(matches!(wrong, Err(Error::WrongPassword)));
        assert!(matches!(sealed.open(None), Err(Error::PasswordRequired)));
    }

    /// Made by Debian's `minisign -G -W` (tests/vectors/keys/README.md): unencrypted, checksum all zeros.
    const MINISIGN_W_KEY: &str = include_str!("../tests/vectors/keys/minisign-0.11-W.key");
    const MINISIGN_W_PUB: &str = include_str!("../tests/vectors/keys/minisign-0.11-W.pub");

    fn reencode(text: &str, edit: impl FnOnce(&mut [u8])) -> String {
        let mut lines = text.lines();
        let comment = lines.next().expect("comment");
        let mut bytes =
            encoding::decode_exact::<SECRET_KEY_LEN>(Object::SecretKey, "secret key", lines.next().expect("key"))
                .expect("decode");
        edit(&mut bytes);
        format!("{comment}\n{}\n", encoding::encode(&bytes))
    }

    #[test]
    fn unencrypted_key_without_checksum_opens_by_its_public_half() {
        let sealed = SecretKeyBox::from_text(MINISIGN_W_KEY).expect("parse");
        assert!(!sealed.is_encrypted());
        let key = sealed.open(None).expect("minisign -G -W key");
        assert_eq!(key.public_key(), PublicKey::from_text(MINISIGN_W_PUB).expect("pub"));
    }

    #[test]
    fn damaged_unencrypted_keys_are_refused() {
        // Seed and public half disagree: a damaged byte in either.
        for offset in [62, 93, 94, 125] {
            let text = reencode(MINISIGN_W_KEY, |b| b[offset] ^= 0x80);
            let err = SecretKeyBox::from_text(&text).expect("parse").open(None).expect_err("damaged");
            assert!(matches!(err, Error::CorruptSecretKey { reason } if reason.contains("seed")), "{offset}: {err}");
        }
        // A checksum that is neither zero nor right.
        let text = reencode(MINISIGN_W_KEY, |b| b[157] = 1);
        let err = SecretKeyBox::from_text(&text).expect("parse").open(None).expect_err("damaged");
        assert!(matches!(err, Error::CorruptSecretKey { reason } if reason.contains("checksum")), "{err}");
        // A checksum that decrypts to zeros does not excuse an encrypted key: that is still a wrong password.
        let sealed = SecretKey::generate().expect("key").seal(Some("pw"), KdfParams::INTERACTIVE).expect("seal");
        let stream = derive_stream("pw", &sealed.bytes[6..38], sealed.kdf_params()).expect("stream");
        let text = reencode(&sealed.to_text(Format::Minisign), |b| b[126..].copy_from_slice(&stream[72..]));
        let err = SecretKeyBox::from_text(&text).expect("parse").open(Some("pw")).expect_err("zero checksum");
        assert!(matches!(err, Error::WrongPassword), "{err}");
    }

    #[test]
    fn public_key_forms() {
        let pk = SecretKey::generate().expect("generate").public_key();
        for text in [pk.to_text(Format::Minisign), pk.to_text(Format::Tauri), pk.to_base64()] {
            assert_eq!(PublicKey::from_text(&text).expect("parse"), pk);
        }
        assert_eq!(pk.key_id().to_string().parse::<KeyId>().expect("id"), pk.key_id());
    }
}
