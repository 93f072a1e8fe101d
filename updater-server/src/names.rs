//! Names that end up in URLs, file names or the database: app ids, channel names, artifact file names.
//!
//! Every name from a request is checked here before it is used for anything, so path traversal (`..`, `/`, `\`,
//! percent-encoded or not), control characters and reserved words are a `400` with nothing looked up or written.
//! App ids and channels are `[a-z0-9]` followed by up to 63 of `[a-z0-9._-]`: they cannot start with a dot, so `.`
//! and `..` are impossible, and they never need escaping in a URL. Artifact file names are only used in download
//! URLs and `Content-Disposition` (files are stored by content hash), and are held to a similar rule.

use std::fmt;

use crate::error::{Error, Result};

/// Longest app id or channel name.
pub const MAX_NAME_LEN: usize = 64;

/// Longest artifact file name.
pub const MAX_FILE_NAME_LEN: usize = 200;

/// App ids that would shadow the server's own routes.
const RESERVED_APP_IDS: &[&str] = &["api", "download", "healthz", "metadata", "metrics", "openapi.json"];

/// The default channel.
pub const DEFAULT_CHANNEL: &str = "stable";

fn check_simple(what: &'static str, value: &str) -> Result<()> {
    let invalid = |reason| Error::InvalidName { what, value: snippet(value), reason };
    if value.is_empty() {
        return Err(invalid("it is empty"));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(invalid("it is longer than 64 bytes"));
    }
    let mut bytes = value.bytes();
    if !bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(invalid("it must start with a lowercase letter or digit"));
    }
    if !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')) {
        return Err(invalid("only lowercase letters, digits, `.`, `_` and `-` are allowed"));
    }
    Ok(())
}

/// Shortens and escapes untrusted text quoted in an error message.
pub(crate) fn snippet(value: &str) -> String {
    let mut out: String = value.chars().take(48).flat_map(char::escape_default).collect();
    if value.chars().count() > 48 {
        out.push('…');
    }
    out
}

/// An app id: `[a-z0-9][a-z0-9._-]{0,63}`, not one of the server's route names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct AppId(String);

impl AppId {
    /// Checks an app id.
    pub fn parse(value: &str) -> Result<Self> {
        check_simple("app id", value)?;
        if RESERVED_APP_IDS.contains(&value) {
            return Err(Error::InvalidName {
                what: "app id",
                value: value.to_owned(),
                reason: "it is reserved for the server's own routes",
            });
        }
        Ok(Self(value.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A channel name: `[a-z0-9][a-z0-9._-]{0,63}` (`stable`, `beta`, `nightly`, `2.x`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Channel(String);

impl Channel {
    /// Checks a channel name.
    pub fn parse(value: &str) -> Result<Self> {
        check_simple("channel", value)?;
        Ok(Self(value.to_owned()))
    }

    /// `stable`.
    pub fn stable() -> Self {
        Self(DEFAULT_CHANNEL.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks an artifact file name as sent by the publisher: one path component of ASCII letters, digits, `._-+~` and
/// spaces between words (the bundler names a macOS update `Hello App.app.tar.gz`, as Tauri's does), not starting with
/// a dot, at most [`MAX_FILE_NAME_LEN`] bytes. No `/`, `\`, quotes, `%` or control characters. In URLs the spaces are
/// the only characters that need escaping ([`url_segment`]).
pub fn check_file_name(value: &str) -> Result<()> {
    let invalid = |reason| Error::InvalidName { what: "file name", value: snippet(value), reason };
    if value.is_empty() {
        return Err(invalid("it is empty"));
    }
    if value.len() > MAX_FILE_NAME_LEN {
        return Err(invalid("it is longer than 200 bytes"));
    }
    if value.starts_with('.') {
        return Err(invalid("it must not start with a dot"));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(invalid("it must not start or end with a space"));
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+' | b'~' | b' ')) {
        return Err(invalid("only ASCII letters, digits, spaces, `.`, `_`, `-`, `+` and `~` are allowed"));
    }
    Ok(())
}

/// A checked file name as one URL path segment: of the characters [`check_file_name`] allows, only the space needs
/// percent-encoding.
pub fn url_segment(file_name: &str) -> String {
    file_name.replace(' ', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names() {
        for name in ["demo", "my-app", "com.example.app", "a", "2.x", "app_1"] {
            assert!(AppId::parse(name).is_ok(), "{name}");
            assert!(Channel::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn traversal_and_garbage_are_refused() {
        let long = "a".repeat(65);
        for name in [
            "", ".", "..", "../etc", "a/b", "a\\b", "%2e%2e", "a%2Fb", "-app", ".hidden", "App", "a b", "a\0", &long,
            "é",
        ] {
            assert!(matches!(AppId::parse(name), Err(Error::InvalidName { .. })), "{name:?}");
            assert!(matches!(Channel::parse(name), Err(Error::InvalidName { .. })), "{name:?}");
        }
        assert!(AppId::parse("api").is_err());
        assert!(Channel::parse("api").is_ok());
    }

    #[test]
    fn file_names() {
        for ok in ["app_1.2.3_amd64.AppImage", "Hello App.app.tar.gz", "app-1.0.0+b.x86_64.rpm", "Setup_x64-setup.exe"]
        {
            assert!(check_file_name(ok).is_ok(), "{ok}");
        }
        assert_eq!(url_segment("Hello App.app.tar.gz"), "Hello%20App.app.tar.gz");
        for bad in ["", "..", "../x", "a/b", "a\\b", ".x", " a", "a ", "a\tb", "a\"b", "a%2fb", "a\nb"] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
    }
}
