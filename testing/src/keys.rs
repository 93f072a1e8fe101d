//! Release keys and what they sign, as a release manager makes them with `millennium-sign`: Tauri-style trusted
//! comments (`timestamp`, `file`, `version`), key files sealed the way the CLIs read them, artifacts with their `.sig`.

use std::path::{Path, PathBuf};

use millennium_sign::{Format, KdfParams, PublicKey, SecretKey, Signature, TrustedComment};

/// The `timestamp:` of every test signature: fixed, so that signatures are reproducible (nothing checks it).
pub const SIGNED_AT: u64 = 1_700_000_000;

/// A signature of `data` by `key`, whose trusted comment names `file` and, when given, `version`.
pub fn sign(key: &SecretKey, file: &str, version: Option<&str>, data: &[u8]) -> Signature {
    let comment = TrustedComment::tauri(SIGNED_AT, file, version).unwrap();
    Signature::sign(key, data, &comment).unwrap()
}

/// Writes `key` to `path` as an unencrypted minisign secret key file (what `--release-key` reads).
pub fn write_key(path: &Path, key: &SecretKey) {
    std::fs::write(path, key.seal(None, KdfParams::INTERACTIVE).unwrap().to_text(Format::Minisign)).unwrap();
}

/// Writes `data` to `dir/name` and its signature for `version`, in `format`, to `dir/name.sig`; returns the file's
/// path.
pub fn write_signed(dir: &Path, name: &str, data: &[u8], key: &SecretKey, version: &str, format: Format) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    std::fs::write(dir.join(format!("{name}.sig")), sign(key, name, Some(version), data).to_text(format)).unwrap();
    path
}

/// Checks with the real `minisign -V` that `signature` (a `.sig` file's text, Tauri's base64 form or minisign's own)
/// is `public`'s signature of `file`, trusted comment included; returns the trusted comment minisign printed.
pub fn minisign_verify(file: &Path, signature: &str, public: &PublicKey) -> String {
    crate::require_tool("minisign", "minisign");
    let dir = tempfile::tempdir().unwrap();
    let (sig, key) = (dir.path().join("file.minisig"), dir.path().join("key.pub"));
    let signature = Signature::from_text(signature).unwrap_or_else(|e| panic!("not a signature ({e}): {signature}"));
    std::fs::write(&sig, signature.to_text(Format::Minisign)).unwrap();
    std::fs::write(&key, public.to_text(Format::Minisign)).unwrap();
    let o = std::process::Command::new("minisign")
        .args(["-V", "-p"])
        .arg(&key)
        .arg("-x")
        .arg(&sig)
        .arg("-m")
        .arg(file)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "minisign refused {}: {out}{}", file.display(), String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("Signature and comment signature verified"), "{out}");
    out.lines().find_map(|l| l.strip_prefix("Trusted comment: ")).unwrap_or_default().to_owned()
}

/// A release key and the public key an app pins, in Tauri's `pubkey` form.
#[derive(Debug)]
pub struct Keys {
    pub secret: SecretKey,
    pub public_text: String,
}

impl Keys {
    pub fn generate() -> Keys {
        let secret = SecretKey::generate().unwrap();
        let public_text = secret.public_key().to_text(Format::Tauri);
        Keys { secret, public_text }
    }

    /// A signature of `data`, with `version:` in the trusted comment when given.
    pub fn sign(&self, data: &[u8], version: Option<&str>) -> Signature {
        sign(&self.secret, "app", version, data)
    }
}
