//! `millennium-webview-probe`: reports the system webview (present? version? recent enough?) and how to install it
//! here; `launch` starts an app only when its webview is usable, so that an app whose binary links WebKitGTK gets a
//! clear message instead of the dynamic loader's error when the library is missing.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};
use millennium_webview_probe::distro::{OsRelease, Provisioning};
use millennium_webview_probe::guard::{self, Interaction};
use millennium_webview_probe::{Backend, Probe, WebviewMinimums, WebviewVersion};
use serde_json::json;

/// Exit code when the webview is missing or too old (`EX_UNAVAILABLE` of sysexits.h).
const EXIT_UNAVAILABLE: u8 = 69;

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
        /// Print JSON (backend, version, header, verdict, distribution, package, install command).
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

fn parse_minimum(text: &str) -> Result<Minimum, String> {
    WebviewMinimums::parse_for(text, Backend::current()).map(Minimum).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Commands::Check { min, json, fresh, os_release } => {
            check(min.and_then(|m| m.0).as_ref(), json, fresh, os_release)
        }
        Commands::Launch { min, app_name, no_prompt, program } => {
            launch(min.and_then(|m| m.0).as_ref(), &app_name, no_prompt, &program)
        }
    }
}

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
