//! Test helper: performs only the verify + install step of an update, on local files.
//!
//! `install_step TARGET NEW_FILE SIG_FILE PUBKEY_FILE VERSION STATE_DIR [BUNDLE_TYPE]`
//!
//! `BUNDLE_TYPE` `app`: `TARGET` is a macOS `.app` directory and `NEW_FILE` its `.app.tar.gz`.
//!
//! The crash-safety test (`tests/it/crash_safety.rs`) runs it and `kill -9`s it at random moments, then checks that
//! `TARGET` is always the complete old or the complete new program.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (bundle, args) = match args.as_slice() {
        [rest @ .., bundle] if args.len() == 7 => (Some(bundle.as_str()), rest),
        rest => (None, rest),
    };
    let [target, new, sig, pubkey, version, state] = args else {
        eprintln!("usage: install_step TARGET NEW_FILE SIG_FILE PUBKEY_FILE VERSION STATE_DIR [BUNDLE_TYPE]");
        return ExitCode::from(2);
    };
    match run(target, new, sig, pubkey, version, state, bundle) {
        Ok(()) => {
            println!("installed {version}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", millennium_updater::Report::new(&*e));
            ExitCode::FAILURE
        }
    }
}

fn run(
    target: &str,
    new: &str,
    sig: &str,
    pubkey: &str,
    version: &str,
    state: &str,
    bundle: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let bundle = bundle.map(str::parse::<millennium_updater::BundleType>).transpose()?;
    let updater = millennium_updater::Updater::builder()
        .endpoint("http://127.0.0.1:9/unused")
        .pubkey(std::fs::read_to_string(pubkey)?)
        .current_version("1.0.0")
        .executable(PathBuf::from(target))
        .bundle_type(bundle)
        .state_dir(state)
        .install_id("00000000-0000-4000-8000-000000000000")
        .build()?;
    let verified = updater.verify_local_file(new.as_ref(), &std::fs::read_to_string(sig)?, version)?;
    verified.install()?;
    Ok(())
}
