//! `millennium-bundler`: thin CLI over the library. Exit codes: `0` success, `1` bundling failed, `2` bad usage or
//! configuration ([`Error::is_bad_input`]). Data (the produced files, `--json`, `--json` errors) goes to stdout;
//! progress and messages to stderr.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use millennium_bundler::{Arch, Error, Format, Options, Progress, Report, config::Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "millennium-bundler",
    version,
    about = "Bundle a Millennium app into .deb, .rpm, AppImage, .msi, NSIS .exe, macOS .app/.dmg and signed updater artifacts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build packages. Honours SOURCE_DATE_EPOCH; signing keys come from MILLENNIUM_SIGNING_PRIVATE_KEY (or Tauri's);
    /// macOS code signing from APPLE_CERTIFICATE(_PASSWORD) and APPLE_API_ISSUER/_KEY/_KEY_PATH, through rcodesign.
    Bundle {
        /// Comma-separated formats: deb, rpm, appimage, msi, nsis, app, dmg, updater.
        #[arg(long, value_delimiter = ',', default_value = "deb,rpm,appimage")]
        format: Vec<String>,
        /// Target architecture: x86_64 or aarch64 (default: this machine's).
        #[arg(long)]
        target: Option<String>,
        /// Output directory.
        #[arg(long, default_value = "target/bundle")]
        out: PathBuf,
        /// The app's Cargo.toml or Millennium.toml (default: ./Cargo.toml).
        #[arg(long, default_value = "Cargo.toml")]
        manifest_path: PathBuf,
        /// Use this main binary instead of the configured one.
        #[arg(long)]
        binary: Option<PathBuf>,
        /// Use this Windows executable (for msi, nsis) instead of `windows.binary`.
        #[arg(long)]
        windows_binary: Option<PathBuf>,
        /// Use this macOS executable (for app, dmg) instead of `macos.binary`.
        #[arg(long)]
        macos_binary: Option<PathBuf>,
        /// Machine-readable output on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Write a Millennium.toml from the `bundle` section of a tauri.conf.json.
    ImportTauri {
        /// Path of tauri.conf.json.
        config: PathBuf,
        /// Where to write (default: Millennium.toml next to it; `-` for stdout).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

struct Spinner(Option<indicatif::ProgressBar>);

impl Progress for Spinner {
    fn step(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_owned());
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return bad_arguments(e),
    };
    let json = matches!(cli.command, Command::Bundle { json: true, .. });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error, json),
    }
}

/// Prints the error, as `{"error": {"code", "message", "hint"}}` on stdout with `--json`, else as `error: ...` on
/// stderr, and returns the exit code: `2` for bad input, `1` for a failed build. A broken pipe on stdout (`| head`)
/// is not a failure.
fn fail(error: &Error, json: bool) -> ExitCode {
    if let Error::Io { source, .. } = error
        && source.kind() == std::io::ErrorKind::BrokenPipe
    {
        return ExitCode::SUCCESS;
    }
    if json {
        print_json_line(&error.report().to_json(error.code()));
    } else {
        eprintln!("error: {}", error.report());
    }
    ExitCode::from(if error.is_bad_input() { 2 } else { 1 })
}

/// Arguments clap rejects: its own text and exit code, or with `--json` the JSON error shape with code `usage` (its
/// `tip:` lines as the hint). `--help` and `--version` land here too and print as usual.
fn bad_arguments(e: clap::Error) -> ExitCode {
    if !e.use_stderr() || !std::env::args_os().any(|a| a == "--json") {
        e.exit();
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim);
    let message = lines.next().unwrap_or_default().trim_start_matches("error: ").to_owned();
    let tips = lines.filter_map(|l| l.strip_prefix("tip: "));
    print_json_line(&millennium_report::Report::from_parts(message, tips).to_json("usage"));
    ExitCode::from(2)
}

/// `{"error": {"code", "message", "hint"}}` ([`millennium_report::Report::to_json`]) on one line of stdout.
fn print_json_line(json: &str) {
    let _ = writeln!(std::io::stdout(), "{json}");
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Bundle { format, target, out, manifest_path, binary, windows_binary, macos_binary, json } => {
            let formats = format.iter().map(|f| f.trim().parse()).collect::<Result<BTreeSet<Format>, _>>()?;
            let arch = match target {
                Some(t) => t.parse()?,
                None => {
                    Arch::host().ok_or_else(|| Error::Usage { message: "unsupported host: pass `--target`".into() })?
                }
            };
            let overrides = Overrides { main_binary: binary, windows_binary, macos_binary, ..Overrides::default() };
            let options = Options { manifest_path, formats, arch, out_dir: out, overrides, launcher: None };
            let show = !json && std::io::stderr().is_terminal();
            let spinner = Spinner(show.then(|| {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.enable_steady_tick(std::time::Duration::from_millis(100));
                bar
            }));
            let env = |k: &str| std::env::var(k).ok();
            let result = millennium_bundler::bundle(&options, &env, &spinner);
            if let Some(bar) = &spinner.0 {
                bar.finish_and_clear();
            }
            print_report(&result?, json)
        }
        Command::ImportTauri { config, output, force } => {
            let text = std::fs::read_to_string(&config).map_err(|source| Error::Io {
                action: "read",
                path: config.clone(),
                source,
            })?;
            let toml = millennium_bundler::tauri_import::convert(&text, &config)?;
            let target = output.unwrap_or_else(|| {
                config.parent().map(|p| p.join("Millennium.toml")).unwrap_or_else(|| PathBuf::from("Millennium.toml"))
            });
            if target.as_os_str() == "-" {
                return write_stdout(&toml);
            }
            if target.exists() && !force {
                return Err(Error::Usage {
                    message: format!("`{}` exists\nhint: pass `--force` to overwrite it", target.display()),
                });
            }
            std::fs::write(&target, toml).map_err(|source| Error::Io {
                action: "write",
                path: target.clone(),
                source,
            })?;
            eprintln!("wrote `{}`", target.display());
            Ok(())
        }
    }
}

fn print_report(report: &Report, json: bool) -> Result<(), Error> {
    if json {
        let text = serde_json::to_string_pretty(report).map_err(|e| Error::Usage { message: e.to_string() })?;
        return write_stdout(&(text + "\n"));
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let mut text = String::new();
    for f in &report.files {
        text += &format!("{}  {:>12}  {}\n", f.sha256, human(f.size), f.path.display());
    }
    write_stdout(&text)
}

fn human(size: u64) -> String {
    match size {
        s if s >= 1 << 20 => format!("{:.1} MiB", s as f64 / (1u64 << 20) as f64),
        s if s >= 1 << 10 => format!("{:.1} KiB", s as f64 / 1024.0),
        s => format!("{s} B"),
    }
}

fn write_stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|source| Error::Io {
        action: "write",
        path: PathBuf::from("<stdout>"),
        source,
    })
}
