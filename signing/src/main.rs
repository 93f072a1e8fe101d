//! `millennium-sign`: the command-line face of the library. Parses arguments, runs one command, maps the outcome to an
//! exit code: 0 success, 1 a signature that does not verify, 2 unusable input (missing file, malformed key, bad usage).
//! The commands live in [`millennium_sign::cli`], which `millennium sign` shares.

use std::process::ExitCode;

use clap::Parser;
use millennium_sign::cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MILLENNIUM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(if args.verbose { "debug" } else { "warn" })),
        )
        .without_time()
        .init();
    let json = args.json;
    cli::finish(cli::run(args), json)
}
