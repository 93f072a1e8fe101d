//! A small self-updating CLI: prints its version, checks the update server, updates itself and relaunches.
//!
//! ```text
//! updatable --version
//! updatable update --endpoint URL_TEMPLATE --pubkey KEY_TEXT_OR_FILE [--state-dir DIR] [--channel NAME] [--report-events]
//! ```
//!
//! `update` prints `updatable <version>`, does the rollback bookkeeping, confirms that this version works, and checks
//! for an update. If there is one it downloads, verifies and installs it, then `exec`s the new version with the same
//! arguments, which prints its own version and finds itself up to date. A version that never confirmed within its
//! starts is rolled back by a later start, which says so and relaunches the restored version.
//!
//! With `--report-events` the updater reports release health to the Millennium update server
//! (`POST {server}/{app}/events`, see `millennium_updater::events`), and before exiting the program waits up to
//! 5 seconds for the queued events to be sent: a CLI is gone before a background sender would have its turn.
//!
//! The version lives in a fixed-size slot in the binary (`MILLENNIUM-UPDATABLE-VERSION:` followed by the version and
//! NUL padding; `UPDATABLE_VERSION` at build time, default `1.0.0`), so a test or a release pipeline can stamp a copy
//! of one build with another version, the way release tooling stamps build numbers. A second slot
//! (`MILLENNIUM-UPDATABLE-BROKEN:` followed by `0` or `1`; `UPDATABLE_BROKEN=1` at build time) makes a broken
//! build: it aborts right after the rollback bookkeeping, before confirming, like a release that crashes on start —
//! to rehearse rollbacks and the server's automatic rollout halt.
//!
//! Exit codes: `0` up to date or updated, `1` the update failed (the current version keeps working), `2` bad usage.

use std::process::ExitCode;

use millennium_updater::{StartupStatus, Updater};

const MARK: &[u8] = b"MILLENNIUM-UPDATABLE-VERSION:";
const SLOT_LEN: usize = 64;
const BROKEN_MARK: &[u8] = b"MILLENNIUM-UPDATABLE-BROKEN:";
/// How long a run waits at exit for its release-health events to be sent.
const EVENTS_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

const fn slot() -> [u8; SLOT_LEN] {
    let version = match option_env!("UPDATABLE_VERSION") {
        Some(v) => v.as_bytes(),
        None => b"1.0.0",
    };
    let mut out = [0u8; SLOT_LEN];
    let mut i = 0;
    while i < MARK.len() {
        out[i] = MARK[i];
        i += 1;
    }
    let mut j = 0;
    while j < version.len() && i + j < SLOT_LEN {
        out[i + j] = version[j];
        j += 1;
    }
    out
}

static VERSION_SLOT: [u8; SLOT_LEN] = slot();

const fn broken_slot() -> [u8; 29] {
    let mut out = [0u8; 29];
    let mut i = 0;
    while i < BROKEN_MARK.len() {
        out[i] = BROKEN_MARK[i];
        i += 1;
    }
    out[i] = match option_env!("UPDATABLE_BROKEN") {
        Some(v) if v.len() == 1 && v.as_bytes()[0] == b'1' => b'1',
        _ => b'0',
    };
    out
}

static BROKEN_SLOT: [u8; 29] = broken_slot();

/// Whether this is a broken build (see the overview).
fn broken() -> bool {
    std::hint::black_box(&BROKEN_SLOT)[BROKEN_MARK.len()] == b'1'
}

fn version() -> String {
    // Read through an opaque reference so the compiler cannot fold the constant: the bytes come from the file.
    let slot: &[u8; SLOT_LEN] = std::hint::black_box(&VERSION_SLOT);
    let value = &slot[MARK.len()..];
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end]).into_owned()
}

struct Options {
    endpoint: String,
    pubkey: String,
    state_dir: Option<String>,
    channel: Option<String>,
    report_events: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut endpoint = None;
    let mut pubkey = None;
    let mut state_dir = None;
    let mut channel = None;
    let mut report_events = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("`{flag}` needs a value"));
        match flag.as_str() {
            "--endpoint" => endpoint = Some(value()?),
            "--pubkey" => pubkey = Some(value()?),
            "--state-dir" => state_dir = Some(value()?),
            "--channel" => channel = Some(value()?),
            "--report-events" => report_events = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let pubkey = pubkey.ok_or("`--pubkey` is required")?;
    // A path to a key file, or the key text itself.
    let pubkey = std::fs::read_to_string(&pubkey).unwrap_or(pubkey);
    Ok(Options { endpoint: endpoint.ok_or("`--endpoint` is required")?, pubkey, state_dir, channel, report_events })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | None => {
            println!("updatable {}", version());
            ExitCode::SUCCESS
        }
        Some("update") => match parse(&args[1..]) {
            Ok(options) => match update(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {}", millennium_updater::Report::new(&e));
                    ExitCode::from(1)
                }
            },
            Err(e) => {
                eprintln!(
                    "error: {e}\nusage: updatable update --endpoint URL --pubkey KEY [--state-dir DIR] [--channel NAME] \
                     [--report-events]"
                );
                ExitCode::from(2)
            }
        },
        Some(other) => {
            eprintln!("error: unknown command `{other}`\nusage: updatable --version | updatable update …");
            ExitCode::from(2)
        }
    }
}

fn update(options: Options) -> millennium_updater::Result<()> {
    let current = version();
    println!("updatable {current}");
    let mut builder = Updater::builder()
        .endpoint(options.endpoint)
        .pubkey(options.pubkey)
        .current_version(current)
        .app_id("updatable")
        .report_events(options.report_events);
    if let Some(dir) = options.state_dir {
        builder = builder.state_dir(dir);
    }
    if let Some(channel) = options.channel {
        builder = builder.channel(channel);
    }
    let updater = builder.build_blocking()?;
    let result = run(&updater);
    if options.report_events && !updater.flush_events(EVENTS_FLUSH) {
        eprintln!("release-health events not sent yet; the next start sends them");
    }
    result
}

fn run(updater: &millennium_updater::blocking::Updater) -> millennium_updater::Result<()> {
    if let StartupStatus::RolledBack { from, to } = updater.startup()? {
        eprintln!("version {from} never confirmed it works; restored {to}, relaunching");
        updater.relaunch()?;
    }
    if broken() {
        eprintln!("this build is broken: crashing before it confirms");
        std::process::abort();
    }
    // A real app confirms once its window is up; this one works as soon as it has started.
    updater.confirm_healthy()?;

    match updater.check()? {
        None => println!("up to date"),
        Some(update) => {
            println!("updating to {}", update.version());
            let mut last = 0;
            update.download_and_install(|p| {
                if let Some(total) = p.total {
                    let percent = p.downloaded * 100 / total.max(1);
                    if percent >= last + 25 {
                        last = percent;
                        eprintln!("downloaded {percent}%");
                    }
                }
            })?;
            println!("installed {}; relaunching", update.version());
            updater.relaunch()?;
        }
    }
    Ok(())
}
