//! Shows an error the way every Millennium program does (see `docs/conventions.md`).
//!
//! Error types here keep a foreign cause (an `std::io::Error`, a parser's error) as their `source()` and do not repeat
//! its text in their own message, so a program that prints only `{error}` loses the cause. [`Report`] walks the whole
//! chain instead:
//!
//! - the messages of the error and of each source are joined with `: ` (a source whose text its parent already quotes
//!   is skipped, for errors that still inline it, such as `reqwest`'s);
//! - lines starting with `hint: ` are taken out of every message and put last, so a hint about the outer error is not
//!   followed by the text of its cause.
//!
//! ```
//! # use std::path::PathBuf;
//! #[derive(Debug, thiserror::Error)]
//! #[error("could not read `{path}`\nhint: check the path")]
//! struct ReadError { path: PathBuf, #[source] source: std::io::Error }
//!
//! let error = ReadError { path: "app.key".into(), source: std::io::ErrorKind::NotFound.into() };
//! let report = millennium_report::Report::new(&error);
//! assert_eq!(report.to_string(), "could not read `app.key`: entity not found\nhint: check the path");
//! assert_eq!(report.message(), "could not read `app.key`: entity not found");
//! assert_eq!(report.hint().as_deref(), Some("check the path"));
//! ```

use std::error::Error;
use std::fmt;

/// The prefix of a hint line in an error message.
const HINT: &str = "hint: ";
/// Where a hint line starts, after the first line.
const HINT_LINE: &str = "\nhint: ";

/// An error with its causes, ready to show: [`Display`](fmt::Display) prints the message and then one `hint: ` line per
/// hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    message: String,
    hints: Vec<String>,
}

impl Report {
    /// Collects `error`'s message, its sources' messages and all their hints.
    pub fn new(error: &dyn Error) -> Self {
        let mut report = Report { message: String::new(), hints: Vec::new() };
        report.add(&error.to_string());
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !report.message.contains(text.split('\n').next().unwrap_or_default()) {
                if !report.message.is_empty() {
                    report.message.push_str(": ");
                }
                report.add(&text);
            }
            source = cause.source();
        }
        report
    }

    /// A report made of a message and hints that did not come from an error value (a parser's text split into its
    /// message and its tips, say).
    pub fn from_parts(message: impl Into<String>, hints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Report { message: message.into(), hints: hints.into_iter().map(Into::into).collect() }
    }

    /// Appends one message of the chain: its lines up to the first hint line go to the message, the rest to the hints.
    fn add(&mut self, text: &str) {
        let mut parts = text.split(HINT_LINE);
        let message = parts.next().unwrap_or_default();
        match message.strip_prefix(HINT) {
            // The whole text is a hint.
            Some(hint) => self.hints.push(hint.to_owned()),
            None => self.message.push_str(message),
        }
        self.hints.extend(parts.map(str::to_owned));
    }

    /// The messages of the error and its causes, joined with `: `, without hints.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The hints (without their `hint: ` prefix), one a line; `None` when there are none.
    pub fn hint(&self) -> Option<String> {
        (!self.hints.is_empty()).then(|| self.hints.join("\n"))
    }

    /// The error object every Millennium CLI prints on stdout with `--json`, keys in this order:
    /// `{"error":{"code":CODE,"message":…,"hint":… or null}}`. `code` is a stable snake_case name of the error.
    #[cfg(feature = "json")]
    pub fn to_json(&self, code: &str) -> String {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            error: Fields<'a>,
        }
        #[derive(serde::Serialize)]
        struct Fields<'a> {
            code: &'a str,
            message: &'a str,
            hint: Option<String>,
        }
        let body = Body { error: Fields { code, message: &self.message, hint: self.hint() } };
        serde_json::to_string(&body).unwrap_or_default()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for hint in &self.hints {
            write!(f, "\n{HINT}{hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a message and an optional source.
    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);

    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for E {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    fn chain(texts: &[&'static str]) -> E {
        let mut texts = texts.iter().rev();
        let mut error = E(texts.next().unwrap(), None);
        for text in texts {
            error = E(text, Some(Box::new(error)));
        }
        error
    }

    #[test]
    fn a_lone_error_is_its_message() {
        let report = Report::new(&chain(&["the event loop has already closed"]));
        assert_eq!(report.to_string(), "the event loop has already closed");
        assert_eq!(report.hint(), None);
    }

    #[test]
    fn causes_follow_and_hints_go_last() {
        let error = chain(&[
            "not permitted to replace `/usr/bin/app`\nhint: update it as an administrator",
            "Permission denied (os error 13)",
        ]);
        let report = Report::new(&error);
        assert_eq!(report.message(), "not permitted to replace `/usr/bin/app`: Permission denied (os error 13)");
        assert_eq!(report.hint().as_deref(), Some("update it as an administrator"));
        assert_eq!(
            report.to_string(),
            "not permitted to replace `/usr/bin/app`: Permission denied (os error 13)\nhint: update it as an administrator"
        );
    }

    #[test]
    fn hints_of_every_link_are_kept_in_order() {
        let error = chain(&["outer\nhint: first\nhint: second", "middle", "inner\nhint: third"]);
        let report = Report::new(&error);
        assert_eq!(report.message(), "outer: middle: inner");
        assert_eq!(report.to_string(), "outer: middle: inner\nhint: first\nhint: second\nhint: third");
    }

    #[test]
    fn a_message_that_is_only_a_hint_is_followed_by_its_cause() {
        let report = Report::new(&chain(&["hint: run `scripts/test` first", "no build found"]));
        assert_eq!(report.to_string(), "no build found\nhint: run `scripts/test` first");
    }

    #[test]
    fn multi_line_messages_keep_their_lines() {
        let error =
            chain(&["`dpkg -i` failed (exit status: 1):\nsome output\nhint: the previous version is installed"]);
        assert_eq!(Report::new(&error).message(), "`dpkg -i` failed (exit status: 1):\nsome output");
    }

    #[test]
    fn a_source_the_parent_already_quotes_is_skipped() {
        let error = chain(&["could not reach `http://a`: connection refused", "connection refused"]);
        assert_eq!(Report::new(&error).to_string(), "could not reach `http://a`: connection refused");
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_shape() {
        let report = Report::new(&chain(&["bad\nhint: do this", "cause"]));
        assert_eq!(
            report.to_json("malformed"),
            r#"{"error":{"code":"malformed","message":"bad: cause","hint":"do this"}}"#
        );
        let report = Report::new(&chain(&["bad"]));
        assert_eq!(report.to_json("x"), r#"{"error":{"code":"x","message":"bad","hint":null}}"#);
        let parts = Report::from_parts("bad: cause", ["do this", "or that"]);
        assert_eq!(
            parts.to_json("malformed"),
            r#"{"error":{"code":"malformed","message":"bad: cause","hint":"do this\nor that"}}"#
        );
        assert_eq!(parts.to_string(), "bad: cause\nhint: do this\nhint: or that");
    }
}
