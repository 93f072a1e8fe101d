//! `millennium-update-server`: parses arguments, sets up logging, runs one command from the library, maps the outcome
//! to an exit code: 0 success, 1 the server refused or could not be reached, 2 bad usage or unusable local input.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use millennium_update_server::cli::{self, Cli, Command, LogFormat};
use millennium_update_server::{Error, env_vars};

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
            return ExitCode::from(2);
        }
    };
    let json = args.json;
    let name = cli::command_name(&args.command);
    let result = runtime.block_on(cli::run(args.command, json));
    let mut stdout = std::io::stdout().lock();
    let printed = match &result {
        Ok(serde_json::Value::Null) => Ok(()),
        Ok(value) if json => writeln!(stdout, "{value}"),
        Ok(value) => cli::print_human(name, value, &mut stdout),
        Err(error) => {
            if json {
                let _ = writeln!(stdout, "{}", millennium_update_server::client::error_json(error));
            }
            let _ = writeln!(std::io::stderr(), "error: {error}");
            Ok(())
        }
    };
    // Broken pipe on stdout (`| head`) is not a failure of ours.
    if let Err(e) = printed
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        let _ = writeln!(std::io::stderr(), "error: could not write the output: {e}");
        return ExitCode::from(2);
    }
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(Error::Usage { .. } | Error::Io { .. } | Error::InvalidName { .. } | Error::Protocol { .. }) => {
            ExitCode::from(2)
        }
        Err(_) => ExitCode::from(1),
    }
}
