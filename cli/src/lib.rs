//! `millennium`: one command from a new app to a published release.
//!
//! | command | what | built on |
//! |---|---|---|
//! | `new NAME` | a working app from a template ([`new`]) | – |
//! | `dev` | the app with its page served from disk, reloaded on change; Rust changes rebuild and restart ([`dev`]) | `notify`, the framework's `dev` feature |
//! | `icon SOURCE.png` | every icon size, `.ico` and `.icns` ([`icon`]) | the bundler's icon code |
//! | `build` | `cargo build --release` and the bundles, signed when a key is given ([`bundle`]) | the bundler's library |
//! | `sign …` | `millennium-sign`'s commands | `millennium_sign::cli` |
//! | `publish …` | `millennium-update-server publish` | `millennium_update_admin::cli` |
//! | `release` | build + bundle + sign + publish, resumable ([`release`]) | all of the above |
//! | `completions SHELL` | shell completions | `clap_complete` |
//!
//! Output and errors follow `docs/conventions.md` through [`millennium_update_admin::report`]: data on stdout (one
//! JSON document with `--json`), progress and notes on stderr, errors as `error: …` plus `hint:` lines (and
//! `{"error": {"code", "message", "hint"}}` on stdout with `--json`). Exit codes: `0` success, `1` a build that failed
//! or a server that refused or could not be reached, `2` bad usage or unusable local input; `sign` keeps
//! `millennium-sign`'s (`1` a signature that does not verify), `dev` returns the app's.

pub mod bundle;
pub mod cargo;
pub mod dev;
pub mod env_vars;
mod error;
pub mod icon;
mod keys;
pub mod new;
pub mod release;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use millennium_update_admin::cli::{AdminCommand, PublishArgs};
use millennium_update_admin::report::{EXIT_USAGE, ErrorReport, Render, finish};
use serde::Serialize;

pub use error::{Error, Result};

/// Start, run, build, sign and publish Millennium apps.
#[derive(Debug, Parser)]
#[command(name = "millennium", version, max_term_width = 110)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Machine-readable output on stdout: one JSON document, errors included (`{"error": {"code", "message",
    /// "hint"}}`).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new app (Cargo.toml, build.rs, src/main.rs, dist/, Millennium.toml, an icon) that builds and runs as is.
    New(new::NewArgs),
    /// Run the app with its page served from disk: edits under the asset directory reload the page, Rust edits
    /// rebuild and restart it. Same CSP as the release build.
    Dev(dev::DevArgs),
    /// Make every icon the bundles need (PNG sizes, .ico, .icns) from one square PNG.
    Icon(icon::IconArgs),
    /// `cargo build --release`, then bundle (deb, rpm, AppImage; msi, nsis, app, dmg from given binaries), signing the
    /// updater artifacts when a key is given.
    Build(bundle::BuildOptions),
    /// Keys and signatures: `generate`, `sign`, `verify`, `rotate` (the commands of `millennium-sign`).
    Sign {
        #[command(subcommand)]
        command: millennium_sign::cli::Command,
    },
    /// Publish signed artifacts to an update server (the `publish` of `millennium-update-server`).
    Publish(PublishArgs),
    /// Build, bundle, sign and publish in one step; safe to re-run after a failure (nothing is uploaded twice, and a
    /// release is never half published).
    Release(release::ReleaseArgs),
    /// Print shell completions: `millennium completions bash > /etc/bash_completion.d/millennium`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What a command printed.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Output {
    New(new::Created),
    Icons { files: Vec<icon::Written> },
    Built(millennium_bundler::Report),
    Released(Box<release::Summary>),
    Published(millennium_update_admin::cli::Output),
    Completions(String),
}

impl Render for Output {
    fn human(&self, out: &mut dyn Write, notes: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Output::New(created) => {
                writeln!(out, "{}", created.path.display())?;
                writeln!(
                    notes,
                    "created `{}` ({}); next: `cd {}`, `millennium dev`, then `millennium build`",
                    created.name,
                    created.identifier,
                    created.path.display()
                )
            }
            Output::Icons { files } => {
                files.iter().try_for_each(|f| writeln!(out, "{:>9}  {}", f.size, f.path.display()))
            }
            Output::Built(report) => {
                for warning in &report.warnings {
                    writeln!(notes, "warning: {warning}")?;
                }
                report
                    .files
                    .iter()
                    .try_for_each(|f| writeln!(out, "{}  {:>10}  {}", f.sha256, f.size, f.path.display()))
            }
            Output::Released(summary) => summary.human(out, notes),
            Output::Published(output) => output.human(out, notes),
            Output::Completions(script) => out.write_all(script.as_bytes()),
        }
    }
}

/// Runs `millennium` with these arguments (the first is the program name) and returns the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let json = args.iter().any(|a| a == "--json");
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return bad_arguments(&e, json),
    };
    let json = cli.json;
    let outcome = match cli.command {
        Command::Sign { command } => {
            return millennium_sign::cli::finish(millennium_sign::cli::run_command(command, json), json);
        }
        Command::Dev(args) => match dev::run(&args) {
            Ok(code) => return ExitCode::from(code),
            Err(e) => Err(e.report()),
        },
        command => run(command, json),
    };
    finish(outcome, json)
}

fn run(command: Command, json: bool) -> std::result::Result<Output, ErrorReport> {
    let report = |e: Error| e.report();
    match command {
        Command::New(args) => new::run(&args).map(Output::New).map_err(report),
        Command::Icon(args) => icon::run(&args).map(|files| Output::Icons { files }).map_err(report),
        Command::Build(options) => bundle::run(&options, json).map(Output::Built).map_err(report),
        Command::Publish(args) => runtime()
            .map_err(report)?
            .block_on(millennium_update_admin::cli::run(AdminCommand::Publish(args), json))
            .map(Output::Published)
            .map_err(|e| e.report()),
        Command::Release(args) => runtime()
            .map_err(report)?
            .block_on(release::run(args, json))
            .map(|summary| Output::Released(Box::new(summary)))
            .map_err(report),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "millennium", &mut script);
            Ok(Output::Completions(String::from_utf8_lossy(&script).into_owned()))
        }
        Command::Sign { .. } | Command::Dev(_) => Err(Error::usage("handled in `main`").report()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::io("start", "the async runtime"))
}

/// Arguments clap refuses: its own text and exit code, or with `--json` the JSON error shape with code `usage` (its
/// `tip:` lines as the hint). `--help` and `--version` land here too and print as usual.
fn bad_arguments(e: &clap::Error, json: bool) -> ExitCode {
    if !e.use_stderr() || !json {
        let _ = e.print();
        return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim);
    let message = lines.next().unwrap_or_default().trim_start_matches("error: ").to_owned();
    let tips: Vec<&str> = lines.filter_map(|l| l.strip_prefix("tip: ")).collect();
    let hint = (!tips.is_empty()).then(|| tips.join("\n"));
    let report = ErrorReport { code: "usage".into(), message, hint, exit_code: EXIT_USAGE };
    finish::<Output>(Err(report), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
