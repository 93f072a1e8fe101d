//! `millennium-delta`: make, apply and inspect deltas from the command line (the benchmark and debugging; the server
//! and the updater call the library).
//!
//! ```text
//! millennium-delta make [--encoder zstd|bsdiff|unpacked] [--interleaved-diff] [--xxh3-check] [--bounded-window]
//!                        BASE NEW DELTA
//!                                                                 stdout: `kept ENCODER SIZE` or `not-worth-it`,
//!                                                                 then one `tried ENCODER SIZE|skipped` line each
//!                                                                 (`--interleaved-diff`: `MakeOptions::interleaved_diff`,
//!                                                                 `--xxh3-check`: `MakeOptions::xxh3_result_check`,
//!                                                                 `--bounded-window`: `MakeOptions::bounded_window`,
//!                                                                 deltas that appliers before them refuse)
//! millennium-delta apply [--max-size BYTES] BASE DELTA OUTPUT     default cap: the size the delta announces
//! millennium-delta inspect DELTA                                  the header, one `key value` a line
//! ```
//!
//! Exit codes: 0 success (also `not-worth-it`), 1 the delta was refused or could not be made, 2 bad usage.

use std::path::PathBuf;
use std::process::ExitCode;

use millennium_delta::{Encoder, MakeOptions, Outcome};

const USAGE: &str =
    "usage: millennium-delta make [--encoder zstd|bsdiff|unpacked] [--interleaved-diff] [--xxh3-check] [--bounded-window]
                             BASE NEW DELTA
       millennium-delta apply [--max-size BYTES] BASE DELTA OUTPUT
       millennium-delta inspect DELTA";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Stdout(error)) => {
            eprintln!("error: could not write to stdout: {error}");
            ExitCode::from(1)
        }
        Err(Failure::Delta(error)) => {
            eprintln!("error: {}", millennium_report::Report::new(&error));
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Delta(millennium_delta::Error),
    Stdout(std::io::Error),
}

impl From<millennium_delta::Error> for Failure {
    fn from(error: millennium_delta::Error) -> Self {
        Failure::Delta(error)
    }
}

/// A line on stdout; a closed pipe (`| head`) is not an error (docs/conventions.md), so the rest is dropped silently.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*)
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            return Err(Failure::Stdout(e));
        }
    }};
}

fn run(args: &[String]) -> Result<(), Failure> {
    let (command, rest) = args.split_first().ok_or_else(|| Failure::Usage("no command".into()))?;
    let mut positional = Vec::new();
    let mut encoders = Encoder::ALL.to_vec();
    let mut max_size = None;
    let mut interleaved_diff = false;
    let mut xxh3_result_check = false;
    let mut bounded_window = false;
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--encoder" => {
                let name = iter.next().ok_or_else(|| Failure::Usage("`--encoder` needs a value".into()))?;
                let encoder = Encoder::ALL
                    .into_iter()
                    .find(|e| e.name() == name)
                    .ok_or_else(|| Failure::Usage(format!("unknown encoder `{name}`")))?;
                encoders = vec![encoder];
            }
            "--interleaved-diff" => interleaved_diff = true,
            "--xxh3-check" => xxh3_result_check = true,
            "--bounded-window" => bounded_window = true,
            "--max-size" => {
                let value = iter.next().ok_or_else(|| Failure::Usage("`--max-size` needs a value".into()))?;
                max_size = Some(value.parse::<u64>().map_err(|_| Failure::Usage(format!("`{value}` is not a size")))?);
            }
            flag if flag.starts_with("--") => return Err(Failure::Usage(format!("unknown option `{flag}`"))),
            _ => positional.push(PathBuf::from(arg)),
        }
    }
    match (command.as_str(), positional.as_slice()) {
        ("make", [base, new, delta]) => {
            let options =
                MakeOptions { encoders, interleaved_diff, xxh3_result_check, bounded_window, ..MakeOptions::default() };
            let attempts = match millennium_delta::make(base, new, delta, &options)? {
                Outcome::Kept(made) => {
                    out!("kept {} {}", made.header.encoder, made.size);
                    made.attempts
                }
                Outcome::NotWorthIt { attempts, .. } => {
                    out!("not-worth-it");
                    attempts
                }
            };
            for attempt in attempts {
                match attempt.size {
                    Some(size) => out!("tried {} {size}", attempt.encoder),
                    None => out!("tried {} skipped", attempt.encoder),
                }
            }
            Ok(())
        }
        ("apply", [base, delta, output]) => {
            let cap = match max_size {
                Some(cap) => cap,
                None => millennium_delta::inspect(delta)?.result_size,
            };
            millennium_delta::apply(base, delta, output, cap)?;
            Ok(())
        }
        ("inspect", [delta]) => {
            let h = millennium_delta::inspect(delta)?;
            out!("version {}", h.result_check.version());
            out!("encoder {}", h.encoder);
            out!("base_size {}", h.base_size);
            out!("base_blake2b_256 {}", hex::encode(h.base_blake2b_256));
            out!("result_size {}", h.result_size);
            out!("result_check {}", h.result_check);
            out!("payload_size {}", h.payload_size);
            Ok(())
        }
        ("make" | "apply" | "inspect", _) => Err(Failure::Usage(format!("wrong number of arguments to `{command}`"))),
        _ => Err(Failure::Usage(format!("unknown command `{command}`"))),
    }
}
