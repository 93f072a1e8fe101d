//! The one error type of the bundler. Messages are lowercase, quote paths and keys, and end with a `hint:` line when
//! the user can act on them. A variant that wraps another error keeps it as its `#[source]` and does not repeat it:
//! [`Error::report`] writes the whole chain, as the CLI prints it, and [`Error::code`] names the kind of error for
//! scripts (`--json`).

use std::path::PathBuf;

use millennium_report::Report;

/// Result with the bundler's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while bundling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No configuration file was found next to the app.
    #[error(
        "no bundler configuration in `{dir}`\nhint: create `Millennium.toml` there, or add \
         `[package.metadata.millennium]` to its `Cargo.toml`"
    )]
    NoConfig { dir: PathBuf },

    /// The configuration file does not parse, or has an unknown key or a value of the wrong type.
    #[error("invalid configuration in `{file}`: {message}")]
    ConfigSyntax { file: PathBuf, message: String },

    /// A configuration value parses but is not acceptable.
    #[error("invalid value for `{key}` in `{file}`: {message}")]
    InvalidValue { file: PathBuf, key: String, message: String },

    /// A file named by the configuration does not exist.
    #[error("{what} `{path}` does not exist{}", hint_line(hint))]
    Missing { what: &'static str, path: PathBuf, hint: Option<String> },

    /// A file the caller was still making ([`crate::Pending`]) will not come; the caller says why.
    #[error("the {what} was not made: {reason}")]
    NotMade { what: &'static str, reason: String },

    /// An icon could not be used.
    #[error(
        "icon `{path}` is unusable: {message}\nhint: icons must be square PNG files; the largest one (512x512 or more is best) is scaled down to every hicolor size"
    )]
    Icon { path: PathBuf, message: String },

    /// A binary is not an ELF file for the requested architecture.
    #[error("binary `{path}` is unusable: {message}")]
    Binary { path: PathBuf, message: String },

    /// An I/O error on a named path.
    #[error("could not {action} `{path}`")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A package builder failed.
    #[error("could not build the {format}: {message}")]
    Package { format: &'static str, message: String },

    /// Signing failed (no key, wrong password, ...).
    #[error("could not sign `{file}`")]
    Sign {
        file: String,
        #[source]
        source: millennium_sign::Error,
    },

    /// The update manifest fragment could not be built.
    #[error("could not build the update manifest")]
    Manifest {
        #[source]
        source: millennium_update_protocol::Error,
    },

    /// Bad command-line use, or an environment the bundler cannot work with.
    #[error("{message}")]
    Usage { message: String },
}

fn hint_line(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!("\nhint: {h}")).unwrap_or_default()
}

impl Error {
    /// A stable name for the kind of error: the `code` of the CLI's `--json` errors (listed in the README).
    pub fn code(&self) -> &'static str {
        match self {
            Error::NoConfig { .. } => "no_config",
            Error::ConfigSyntax { .. } => "invalid_config",
            Error::InvalidValue { .. } => "invalid_value",
            Error::Missing { .. } => "missing_file",
            Error::NotMade { .. } => "not_made",
            Error::Icon { .. } => "unusable_icon",
            Error::Binary { .. } => "unusable_binary",
            Error::Io { .. } => "io",
            Error::Package { .. } => "build_failed",
            Error::Sign { .. } => "signing_failed",
            Error::Manifest { .. } => "manifest_failed",
            Error::Usage { .. } => "usage",
        }
    }

    /// Whether the user's input is at fault (usage, configuration, a missing or unusable file) rather than the
    /// build: the CLI exits with `2` for these, `1` for the others.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::Usage { .. }
                | Error::NoConfig { .. }
                | Error::ConfigSyntax { .. }
                | Error::InvalidValue { .. }
                | Error::Missing { .. }
                | Error::Icon { .. }
                | Error::Binary { .. }
        )
    }

    /// The message followed by its causes, `: `-separated, then its `hint:` lines: what the CLI prints after
    /// `error: ` ([`millennium_report::Report`], as every Millennium CLI).
    pub fn report(&self) -> Report {
        Report::new(self)
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }

    pub(crate) fn package(format: &'static str) -> impl FnOnce(String) -> Error {
        move |message| Error::Package { format, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_name_their_cause_once_after_the_path() {
        let error = Error::io("read", "/a/b")(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        assert_eq!(error.to_string(), "could not read `/a/b`");
        assert_eq!(error.report().to_string(), "could not read `/a/b`: gone");
        let report = error.report();
        assert_eq!((report.message(), report.hint()), ("could not read `/a/b`: gone", None));
        assert_eq!(error.code(), "io");
        assert!(!error.is_bad_input());
    }

    #[test]
    fn a_cause_that_repeats_its_own_cause_is_written_once() {
        // The protocol's version error repeats semver's message and keeps it as its source too.
        let source = millennium_update_protocol::Version::parse("1.x").unwrap_err();
        let semver = std::error::Error::source(&source).map(ToString::to_string).unwrap_or_default();
        assert!(!semver.is_empty());
        let report = Error::Manifest { source }.report().to_string();
        assert!(report.starts_with("could not build the update manifest: invalid version `1.x`: "), "{report}");
        assert_eq!(report.matches(&semver).count(), 1, "{report}");
    }

    #[test]
    fn hints_are_split_from_the_message() {
        let error = Error::Missing { what: "icon", path: "i.png".into(), hint: Some("fix `icons[0]`".into()) };
        assert_eq!(error.report().to_string(), "icon `i.png` does not exist\nhint: fix `icons[0]`");
        let report = error.report();
        assert_eq!(
            (report.message(), report.hint().as_deref()),
            ("icon `i.png` does not exist", Some("fix `icons[0]`"))
        );
        assert_eq!(error.code(), "missing_file");
        assert!(error.is_bad_input());
    }
}
