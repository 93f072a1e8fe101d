//! The release signing key, opened once per run with `millennium-sign`'s own loader: from `--key`, else
//! `MILLENNIUM_SIGNING_PRIVATE_KEY` (or Tauri's variables); its password from `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD`
//! (or Tauri's), else a prompt on a terminal, else the empty password (as Tauri does).
//!
//! The bundler opens the key itself from its environment function; [`bundler_env`] hands it this opened key as
//! unencrypted text that exists only in memory, so the password is asked and the (deliberately slow) scrypt run once.

use std::path::Path;

use millennium_sign::env::{
    PRIVATE_KEY, PRIVATE_KEY_PASSWORD, TAURI_PRIVATE_KEY, TAURI_PRIVATE_KEY_PASSWORD, TAURI_PRIVATE_KEY_PATH,
};
use millennium_sign::{Error as SignError, KdfParams, SecretKey};

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
    millennium_sign::cli::load_secret_key(path).map(Some).map_err(|error| {
        let message = error.to_string();
        match error.downcast::<SignError>() {
            Ok(source) => {
                let hint = match source {
                    SignError::WrongPassword | SignError::PasswordRequired => {
                        "set `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD` to the key's password"
                    }
                    _ => "pass the key `millennium sign generate` wrote with `--key FILE`",
                };
                Error::Key { message, hint, source }
            }
            Err(other) => Error::usage(millennium_report::Report::new(other.as_ref()).to_string()),
        }
    })
}

/// The environment the bundler sees: the process's, except that the signing key is `key`, unencrypted, in memory.
///
/// # Errors
///
/// When the key cannot be sealed (it can, for a key that was opened).
pub fn bundler_env(key: Option<&SecretKey>) -> Result<impl Fn(&str) -> Option<String>> {
    let text = match key {
        Some(key) => Some(
            key.seal(None, KdfParams::INTERACTIVE)
                .map_err(|source| Error::Key {
                    message: "could not hand the key to the bundler".into(),
                    hint: "report this bug",
                    source,
                })?
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
