//! `millennium-update-server`: parses arguments, sets up logging, runs one command from the library, and prints its
//! outcome with the exit code `millennium_update_admin::report` documents (0 success, 1 the server refused or could
//! not be reached, 2 bad usage or unusable local input).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use millennium_update_admin::report;
use millennium_update_server::cli::{self, Cli, Command, LogFormat};
use millennium_update_server::env_vars;

// glibc's malloc took a tenth of the CPU time of an update check under load; mimalloc's per-thread free lists suit
// the many small, short-lived allocations of a request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Cli::parse();
    let (default_filter, format) = match &args.command {
        Command::Serve(serve) => ("info,tower_http=info,sqlx=warn", serve.log_format),
        _ => ("warn", LogFormat::Text),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env(env_vars::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // Colours only on a terminal, and never with `NO_COLOR` set.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let subscriber = tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(ansi).with_env_filter(filter);
    match format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: could not start the async runtime: {e}");
            return ExitCode::from(report::EXIT_USAGE);
        }
    };
    let json = args.json;
    let result = runtime.block_on(cli::run(args.command, json));
    // Dropping the runtime would wait for every blocking task, and the delta job's can take minutes of CPU on a large
    // artifact: a stopping server would hang on it. By now the requests have drained; what is abandoned is background
    // work that recorded nothing, whose scratch files the next start removes.
    runtime.shutdown_timeout(BLOCKING_WORK_GRACE);
    report::finish(result, json)
}

/// How long a finished command waits for blocking work still running (see `main`).
const BLOCKING_WORK_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
