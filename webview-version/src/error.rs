//! The one error type of `millennium-webview-version`: one variant per grammar (version, minimums, header).
//!
//! The text being parsed comes from a command line, a manifest or a request header, so it is untrusted: a message
//! quotes at most a few dozen characters of it, escaped (see [`snippet`]), because it may end up in logs.

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A webview version, list of minimums or header value that does not follow its grammar (see the
/// [crate docs](crate)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A webview version is not one to four dot-separated numbers.
    #[error(
        "`{value}` is not a valid webview version: {reason}\nhint: write it as dotted numbers, e.g. `2.44` or `2.44.1`"
    )]
    InvalidVersion {
        /// The text, shortened and escaped.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// An `X-Millennium-Webview` header value does not follow its grammar.
    #[error("`{value}` is not a valid X-Millennium-Webview value: {reason}")]
    InvalidHeader {
        /// The header value, shortened and escaped.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A list of per-backend minimum webview versions (`webkitgtk=2.44,webview2=124.0`) does not follow its grammar.
    #[error("`{value}` is not a list of minimum webview versions: {reason}")]
    InvalidMinimums {
        /// The text, shortened and escaped.
        value: String,
        /// What is wrong with it, and what to write instead.
        reason: String,
    },
}

/// How much untrusted text an error message quotes.
const SNIPPET_CHARS: usize = 64;

/// Cuts untrusted text to [`SNIPPET_CHARS`] characters and escapes control characters, for quoting in messages.
pub(crate) fn snippet(text: &str) -> String {
    let mut out: String = text.chars().take(SNIPPET_CHARS).flat_map(char::escape_debug).collect();
    if text.chars().nth(SNIPPET_CHARS).is_some() {
        out.push('…');
    }
    out
}
