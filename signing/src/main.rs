//! `millennium-sign`: the command-line face of the library. Parses arguments, runs one command, maps the outcome to an
//! exit code: 0 success, 1 a signature that does not verify, 2 unusable input (missing file, malformed key, bad usage).

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

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
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Broken pipe on stdout (`| head`) is not a failure of ours.
            if err.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
                return ExitCode::SUCCESS;
            }
            let sign_error = err.downcast_ref::<millennium_sign::Error>();
            // The whole source chain: I/O causes are sources, not part of the messages.
            let report = millennium_report::Report::new(err.as_ref());
            if json {
                let code = sign_error.map_or("error", millennium_sign::Error::code);
                let _ = writeln!(std::io::stdout(), "{}", report.to_json(code));
            }
            let _ = writeln!(std::io::stderr(), "error: {report}");
            if sign_error.is_some_and(millennium_sign::Error::is_verification_failure) {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}
