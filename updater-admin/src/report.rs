//! How a CLI reports the outcome of a command, the same way for every command of `millennium-update-server` (and of
//! any CLI built on this crate):
//!
//! - Data goes to stdout: text for a person, or with `--json` one JSON document (keys sorted). Notes for the person
//!   (`no releases`, `shown only this once`) go to stderr, so stdout can be piped.
//! - An error goes to stderr as `error: MESSAGE` and, when the user can act, `hint: HINT`; with `--json` stdout also
//!   gets `{"error": {"code", "message", "hint"}}` (`hint` is `null` when there is none). `code` is stable.
//! - The exit code is [`EXIT_SUCCESS`], [`EXIT_FAILED`] or [`EXIT_USAGE`]. A broken pipe on stdout (`| head`) is not a
//!   failure.
//!
//! An error's message and hint are what [`millennium_report::Report`] makes of its `source` chain, as for every
//! Millennium CLI (`docs/conventions.md`).

use std::io::Write;
use std::process::ExitCode;

use millennium_report::Report;
use serde::Serialize;

/// Exit code: the command did what was asked.
pub const EXIT_SUCCESS: u8 = 0;
/// Exit code: the server refused, could not be reached, or something failed that is not the caller's input.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad usage or unusable local input (a missing file, a malformed version, no token).
pub const EXIT_USAGE: u8 = 2;

/// A command's result that can be shown to a person, or as JSON (its serde form).
pub trait Render: Serialize {
    /// Writes the result for a person: data on `out` (stdout), notes on `notes` (stderr).
    fn human(&self, out: &mut dyn Write, notes: &mut dyn Write) -> std::io::Result<()>;
}

/// Nothing to print (`serve`).
impl Render for () {
    fn human(&self, _: &mut dyn Write, _: &mut dyn Write) -> std::io::Result<()> {
        Ok(())
    }
}

/// An error as a CLI reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// Stable machine-readable name.
    pub code: String,
    /// What went wrong, with its causes.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The exit code.
    #[serde(skip)]
    pub exit_code: u8,
}

impl ErrorReport {
    /// The report of `error`: its message and causes, its hint lines split off.
    pub fn new(code: impl Into<String>, error: &(dyn std::error::Error + 'static), exit_code: u8) -> Self {
        let report = Report::new(error);
        Self { code: code.into(), message: report.message().to_owned(), hint: report.hint(), exit_code }
    }

    /// `{"error": {"code", "message", "hint"}}`, in this order: the shape `millennium-report` writes for every CLI.
    pub fn to_json(&self) -> String {
        Report::from_parts(self.message.as_str(), self.hint.iter().flat_map(|hint| hint.lines())).to_json(&self.code)
    }
}

/// An error's text with its causes and hints, for logs.
pub fn display_chain(error: &(dyn std::error::Error + 'static)) -> String {
    Report::new(error).to_string()
}

/// Prints `outcome` as the module documentation says and returns the exit code.
pub fn finish<T: Render>(outcome: std::result::Result<T, ErrorReport>, json: bool) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let printed = match &outcome {
        Ok(value) if json => match serde_json::to_value(value) {
            // Through `Value`, whose keys are sorted, as this output always was.
            Ok(serde_json::Value::Null) => Ok(()),
            Ok(value) => writeln!(stdout, "{value}"),
            Err(e) => Err(std::io::Error::other(e)),
        },
        Ok(value) => value.human(&mut stdout, &mut stderr),
        Err(report) => {
            if json {
                let _ = writeln!(stdout, "{}", report.to_json());
            }
            let _ = writeln!(stderr, "error: {}", report.message);
            // Several hints are one a line, each a `hint:` line of its own.
            for hint in report.hint.iter().flat_map(|hint| hint.lines()) {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            Ok(())
        }
    };
    if let Err(e) = printed
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        let _ = writeln!(stderr, "error: could not write the output: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    match outcome {
        Ok(_) => ExitCode::from(EXIT_SUCCESS),
        Err(report) => ExitCode::from(report.exit_code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("could not read `x`\nhint: check the path")]
    struct Read {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_report_lists_causes_before_the_hint_and_never_repeats_one() {
        let error = Read { source: std::io::Error::other("disk on fire") };
        let report = ErrorReport::new("io", &error, EXIT_USAGE);
        assert_eq!(report.message, "could not read `x`: disk on fire");
        assert_eq!(report.hint.as_deref(), Some("check the path"));

        #[derive(Debug, thiserror::Error)]
        #[error("wrapped: {source}")]
        struct Quoting {
            source: std::io::Error,
        }
        let quoting = Quoting { source: std::io::Error::other("inner") };
        assert_eq!(display_chain(&quoting), "wrapped: inner");
    }

    #[test]
    fn the_json_error_shape_always_has_a_hint_field() {
        let report = ErrorReport { code: "usage".into(), message: "no".into(), hint: None, exit_code: EXIT_USAGE };
        assert_eq!(report.to_json(), r#"{"error":{"code":"usage","message":"no","hint":null}}"#);
    }
}
