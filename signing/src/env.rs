//! Where keys and passwords come from when not given on the command line.
//!
//! All environment variable names live here. CI systems already configured for Tauri keep working: Tauri's variables
//! are read when Millennium's are unset. The environment is passed in as a function so tests need not touch the
//! process environment.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::SecretKeyBox;

/// Secret key text, or the path of a key file.
pub const PRIVATE_KEY: &str = "MILLENNIUM_SIGNING_PRIVATE_KEY";
/// Password of the secret key (may be empty).
pub const PRIVATE_KEY_PASSWORD: &str = "MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD";
/// Tauri's equivalents, read as a fallback.
pub const TAURI_PRIVATE_KEY: &str = "TAURI_SIGNING_PRIVATE_KEY";
pub const TAURI_PRIVATE_KEY_PATH: &str = "TAURI_SIGNING_PRIVATE_KEY_PATH";
pub const TAURI_PRIVATE_KEY_PASSWORD: &str = "TAURI_SIGNING_PRIVATE_KEY_PASSWORD";

/// Where a secret key was found, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    File(PathBuf),
    /// Key text held directly in an environment variable.
    EnvText(&'static str),
    /// A path held in an environment variable.
    EnvFile(&'static str, PathBuf),
}

impl std::fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyOrigin::File(path) => write!(f, "`{}`", path.display()),
            KeyOrigin::EnvText(var) => write!(f, "${var}"),
            KeyOrigin::EnvFile(var, path) => write!(f, "`{}` (from ${var})", path.display()),
        }
    }
}

/// Loads the secret key from `path` if given, else from `MILLENNIUM_SIGNING_PRIVATE_KEY`, else from Tauri's variables.
pub fn secret_key(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<(SecretKeyBox, KeyOrigin)> {
    let parse = |text: &str, origin: KeyOrigin| {
        SecretKeyBox::from_text(text)
            .map(|key| (key, origin.clone()))
            .map_err(|e| Error::MissingKey(format!("the secret key in {origin} is unusable: {e}")))
    };
    let read = |path: &Path, origin: KeyOrigin| {
        let text =
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::io("read the secret key", path, e))?);
        parse(&text, origin)
    };
    if let Some(path) = path {
        return read(path, KeyOrigin::File(path.to_owned()));
    }
    for var in [PRIVATE_KEY, TAURI_PRIVATE_KEY] {
        let Some(value) = env(var).map(Zeroizing::new).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        // A value that names an existing file is a path; anything else must be the key itself.
        let candidate = Path::new(value.trim());
        if value.len() < 4096 && !value.contains('\n') && candidate.is_file() {
            return read(candidate, KeyOrigin::EnvFile(var, candidate.to_owned()));
        }
        return parse(&value, KeyOrigin::EnvText(var));
    }
    if let Some(path) = env(TAURI_PRIVATE_KEY_PATH).filter(|v| !v.trim().is_empty()) {
        let path = PathBuf::from(path.trim());
        return read(&path, KeyOrigin::EnvFile(TAURI_PRIVATE_KEY_PATH, path.clone()));
    }
    Err(Error::MissingKey(format!(
        "no secret key given\nhint: pass `-k KEY_FILE`, or set `{PRIVATE_KEY}` to the key text or its path"
    )))
}

/// The password from `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD`, else `TAURI_SIGNING_PRIVATE_KEY_PASSWORD`. An empty
/// value is a real (empty) password, as Tauri treats it.
pub fn password(env: impl Fn(&str) -> Option<String>) -> Option<Zeroizing<String>> {
    env(PRIVATE_KEY_PASSWORD).or_else(|| env(TAURI_PRIVATE_KEY_PASSWORD)).map(Zeroizing::new)
}
