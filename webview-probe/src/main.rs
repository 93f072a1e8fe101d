//! `millennium-webview-probe`: reports the system webview (present? version? recent enough?) and how to install it
//! here; `launch` starts an app only when its webview is usable, so that an app whose binary links WebKitGTK gets a
//! clear message instead of the dynamic loader's error when the library is missing.
//!
//! Exit codes: `0` the webview is usable (or `launch` started the app, whose code it then is), `69` it is missing or
//! too old, `2` bad usage. With `check --json`, a refused command line is also reported on stdout as
//! `{"error": {"code", "message", "hint"}}` (`hint` may be null; `docs/conventions.md`); the codes are stable:
//! `invalid_webview_version` and `invalid_webview_minimums` for a `--min` that does not parse ([`Error::code`]),
//! `usage` for anything else clap refuses (its `tip:` lines as the hint).

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};
use millennium_report::Report;
use millennium_webview_probe::distro::{OsRelease, Provisioning};
use millennium_webview_probe::guard::{self, Interaction};
use millennium_webview_probe::{Backend, Error, Probe, WebviewMinimums, WebviewVersion};
use serde_json::json;

/// Exit code when the webview is missing or too old (`EX_UNAVAILABLE` of sysexits.h).
const EXIT_UNAVAILABLE: u8 = 69;

/// Exit code of a command line clap refuses (clap's own).
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Report the webview and, on Linux, the package and command that install it here. Exits 0 when the webview is
    /// usable, 69 when it is missing or older than `--min`.
    Check {
        /// The minimum version the app needs: a version of this platform's webview (e.g. `2.44` for WebKitGTK), or
        /// minimums per backend (`webkitgtk=2.44,webview2=124.0`) of which this platform's entry counts.
        #[arg(long, value_name = "VERSION", value_parser = parse_minimum)]
        min: Option<Minimum>,
        /// Print JSON (backend, version, header, verdict, distribution, package, install command; a refused command
        /// line as `{"error": {"code", "message", "hint"}}`).
        #[arg(long)]
        json: bool,
        /// What the next app launch gets (matters only when the library is already loaded in this process).
        #[arg(long)]
        fresh: bool,
        /// Read the distribution from this file instead of /etc/os-release.
        #[arg(long, value_name = "PATH")]
        os_release: Option<PathBuf>,
    },
    /// Start PROGRAM when the webview is usable; otherwise show the message (and dialog), offer to install the
    /// webview, and exit 69 (or start PROGRAM when the install made the webview usable).
    Launch {
        /// The minimum version the app needs (as for `check`).
        #[arg(long, value_name = "VERSION", value_parser = parse_minimum)]
        min: Option<Minimum>,
        /// The app's name, for messages.
        #[arg(long, default_value = "This app")]
        app_name: String,
        /// Never ask (no dialog, no prompt): only print the message.
        #[arg(long)]
        no_prompt: bool,
        /// The app and its arguments.
        #[arg(required = true, trailing_var_arg = true, value_name = "PROGRAM")]
        program: Vec<String>,
    },
}

/// A `--min` argument: this platform's minimum, if it has one.
#[derive(Debug, Clone)]
struct Minimum(Option<WebviewVersion>);

fn parse_minimum(text: &str) -> Result<Minimum, Error> {
    Ok(Minimum(WebviewMinimums::parse_for(text, Backend::current())?))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return refused(&error),
    };
    match cli.command {
        Commands::Check { min, json, fresh, os_release } => {
            check(min.and_then(|m| m.0).as_ref(), json, fresh, os_release)
        }
        Commands::Launch { min, app_name, no_prompt, program } => {
            launch(min.and_then(|m| m.0).as_ref(), &app_name, no_prompt, &program)
        }
    }
}

/// A command line clap refused: its text on stderr as `Cli::parse` prints it and, with `--json`, the JSON error on
/// stdout (see the crate docs). `--help` and `--version` are not refusals: clap prints them and exits 0.
fn refused(error: &clap::Error) -> ExitCode {
    if !error.use_stderr() {
        error.exit();
    }
    // Read from the raw arguments: clap did not get as far as the flag. Only those before `--` are options.
    if std::env::args_os().skip(1).take_while(|arg| arg != "--").any(|arg| arg == "--json") {
        let json = match std::error::Error::source(error).and_then(|e| e.downcast_ref::<Error>()) {
            // `--min` does not parse: the library's error.
            Some(error) => Report::new(error).to_json(error.code()),
            None => Report::new(&Usage::new(error)).to_json("usage"),
        };
        println!("{json}");
    }
    let _ = error.print();
    ExitCode::from(EXIT_USAGE)
}

/// What clap says of a command line it refuses, as an error: its first line, and its `tip:` lines as hints.
#[derive(Debug)]
struct Usage(String);

impl Usage {
    fn new(error: &clap::Error) -> Self {
        let text = error.to_string();
        let mut lines = text.lines().map(str::trim);
        let mut message = lines.next().unwrap_or_default().trim_start_matches("error: ").to_owned();
        for tip in lines.filter_map(|line| line.strip_prefix("tip: ")) {
            message.push_str("\nhint: ");
            message.push_str(tip);
        }
        Self(message)
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn check(min: Option<&WebviewVersion>, json: bool, fresh: bool, os_release: Option<PathBuf>) -> ExitCode {
    let probe = if fresh { Probe::detect_fresh() } else { Probe::detect() };
    let verdict = probe.check(min);
    let provisioning = (probe.backend == Backend::Webkitgtk).then(|| {
        let os = match &os_release {
            Some(path) => OsRelease::read(path),
            None => OsRelease::system(),
        };
        Provisioning::for_os(os.as_ref())
    });
    if json {
        let report = json!({
            "backend": probe.backend,
            "version": probe.version,
            "error": probe.error,
            "header": probe.header_value(),
            "minimum": min,
            "verdict": verdict,
            "distribution": provisioning.as_ref().map(|p| &p.distribution),
            "family": provisioning.as_ref().map(|p| p.family),
            "package": provisioning.as_ref().and_then(|p| p.package),
            "install_commands": provisioning.as_ref().map(|p| &p.commands),
            "install_command": provisioning.as_ref().and_then(|p| p.command_line(guard::is_root())),
            "unsupported": provisioning.as_ref().and_then(|p| p.unsupported.as_ref()),
        });
        println!("{report}");
    } else if verdict.is_ok() {
        println!("{}: {}", probe.backend, probe.version.as_ref().map(ToString::to_string).unwrap_or_default());
    } else {
        println!("{}", guard::message("The app", &probe, &verdict, provisioning.as_ref(), guard::is_root()));
    }
    if verdict.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_UNAVAILABLE) }
}

fn launch(min: Option<&WebviewVersion>, app_name: &str, no_prompt: bool, program: &[String]) -> ExitCode {
    let interaction = if no_prompt { Interaction::Never } else { Interaction::Ask };
    if let Err(refusal) = guard::enforce(app_name, min, Probe::detect(), interaction) {
        // Installed just now: this process has not loaded the library, so a fresh look tells whether to go on.
        if !(refusal.installed && Probe::detect_fresh().check(min).is_ok()) {
            return ExitCode::from(EXIT_UNAVAILABLE);
        }
    }
    let (name, args) = program.split_first().expect("clap requires PROGRAM");
    let mut command = Command::new(name);
    command.args(args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = command.exec();
        eprintln!("error: cannot start `{name}`: {error}");
        ExitCode::from(127)
    }
    #[cfg(not(unix))]
    match command.status() {
        Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1)),
        Err(error) => {
            eprintln!("error: cannot start `{name}`: {error}");
            ExitCode::from(127)
        }
    }
}
