//! The release signing key, opened once per run: from `--key`, else `MILLENNIUM_SIGNING_PRIVATE_KEY` (or Tauri's
//! variables), as `millennium-sign` reads it; its password from `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD` (or Tauri's),
//! else a prompt on a terminal, else the empty password (as Tauri does).
//!
//! The bundler opens the key itself from its environment function; [`bundler_env`] hands it this opened key as
//! unencrypted text that exists only in memory, so the password is asked and the (deliberately slow) scrypt run once.

use std::io::IsTerminal;
use std::path::Path;

use millennium_sign::env::{
    PRIVATE_KEY, PRIVATE_KEY_PASSWORD, TAURI_PRIVATE_KEY, TAURI_PRIVATE_KEY_PASSWORD, TAURI_PRIVATE_KEY_PATH,
};
use millennium_sign::{Error as SignError, KdfParams, SecretKey};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The signing key, or `None` when none is given anywhere.
///
/// # Errors
///
/// [`Error::Key`] when a key is given but cannot be read or opened (wrong password, malformed).
pub fn open(path: Option<&Path>) -> Result<Option<SecretKey>> {
    let given = |var: &str| process_env(var).is_some_and(|v| !v.trim().is_empty());
    if path.is_none() && ![PRIVATE_KEY, TAURI_PRIVATE_KEY, TAURI_PRIVATE_KEY_PATH].into_iter().any(given) {
        return Ok(None);
    }
    let unusable = |origin: String, source: SignError| {
        let hint = match source {
            SignError::WrongPassword | SignError::PasswordRequired => {
                "set `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD` to the key's password"
            }
            _ => "pass the key made by `millennium sign generate` with `--key FILE`",
        };
        Error::Key { origin, hint, source }
    };
    let fallback_origin = || path.map_or_else(|| format!("${PRIVATE_KEY}"), |p| format!("`{}`", p.display()));
    let (sealed, origin) =
        millennium_sign::env::secret_key(path, process_env).map_err(|e| unusable(fallback_origin(), e))?;
    let password = match millennium_sign::env::password(process_env) {
        Some(password) => Some(password),
        None if sealed.is_encrypted() && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => {
            let prompt = format!("Password of the signing key {origin}: ");
            Some(Zeroizing::new(rpassword::prompt_password(&prompt).map_err(|e| Error::Io {
                action: "read",
                path: "the password".into(),
                source: e,
            })?))
        }
        None => None,
    };
    let key = sealed.open(password.as_deref().map(String::as_str)).map_err(|e| unusable(origin.to_string(), e))?;
    Ok(Some(key))
}

/// The environment the bundler sees: the process's, except that the signing key is `key`, unencrypted, in memory.
pub fn bundler_env(key: Option<&SecretKey>) -> Result<impl Fn(&str) -> Option<String>> {
    let text = match key {
        Some(key) => Some(
            key.seal(None, KdfParams::MINISIGN)
                .map_err(|source| Error::Key { origin: "in memory".into(), hint: "report this bug", source })?
                .to_text(millennium_sign::Format::Minisign),
        ),
        None => None,
    };
    Ok(move |name: &str| match (&text, name) {
        (Some(text), PRIVATE_KEY) => Some(text.to_string()),
        (Some(_), TAURI_PRIVATE_KEY | TAURI_PRIVATE_KEY_PATH | PRIVATE_KEY_PASSWORD | TAURI_PRIVATE_KEY_PASSWORD) => {
            None
        }
        _ => process_env(name),
    })
}
