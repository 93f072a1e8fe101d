//! One whole update in its own process (check, download — by delta when the server offers one — and verify, then
//! optionally install), for `scripts/bench-delta` and for the tests that need the updater in a separate process.
//!
//! ```text
//! update_once sign KEY_PUB FILE=VERSION…   # FILE.sig for each FILE, signed by a new key whose public half is KEY_PUB
//! update_once update ENDPOINT KEY_PUB STATE_DIR [--executable PATH] [--bundle TYPE] [--current VERSION] [--install]
//! ```
//!
//! `update` defaults: a plain executable (`--bundle none`), current version 1.0.0, no install. It prints one line:
//! the seconds from the check to the verified download (check, download, apply, verify: the updater's setup, which
//! loads the system's root certificates, comes before), how the bytes came (`delta`, or `full` — also
//! after a failed delta), the bytes transferred, and the verified file (gone once installed).

use std::path::Path;
use std::time::Instant;

use millennium_sign::{Format, PublicKey, SecretKey, Signature, TrustedComment};
use millennium_updater::{BundleType, Progress, Transfer};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str = "usage: update_once sign KEY_PUB FILE=VERSION…
       update_once update ENDPOINT KEY_PUB STATE_DIR [--executable PATH] [--bundle TYPE] [--current VERSION] [--install]";

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["sign", key, files @ ..] if !files.is_empty() => sign(Path::new(key), files),
        ["update", endpoint, key, state, options @ ..] => update(endpoint, Path::new(key), state, options),
        _ => Err(USAGE.into()),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn sign(key: &Path, files: &[&str]) -> Res<()> {
    let secret = SecretKey::generate()?;
    std::fs::write(key, secret.public_key().to_text(Format::Tauri))?;
    for file in files {
        let (file, version) = file.rsplit_once('=').ok_or("expected FILE=VERSION")?;
        let file = Path::new(file);
        let name = file.file_name().ok_or("FILE has no name")?.to_string_lossy();
        let comment = TrustedComment::tauri(1_700_000_000, &name, Some(version))?;
        let sig = Signature::sign(&secret, std::io::BufReader::new(std::fs::File::open(file)?), &comment)?;
        let mut sig_path = file.as_os_str().to_owned();
        sig_path.push(".sig");
        std::fs::write(sig_path, sig.to_text(Format::Tauri))?;
    }
    Ok(())
}

fn update(endpoint: &str, key: &Path, state: &str, options: &[&str]) -> Res<()> {
    let (mut executable, mut bundle, mut current, mut install) = (None, None, "1.0.0", false);
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        let mut value = || rest.next().copied().ok_or_else(|| format!("`{option}` needs a value\n{USAGE}"));
        match *option {
            "--executable" => executable = Some(value()?),
            "--bundle" => {
                let name = value()?;
                bundle = if name == "none" { None } else { Some(name.parse::<BundleType>()?) };
            }
            "--current" => current = value()?,
            "--install" => install = true,
            other => return Err(format!("unknown option `{other}`\n{USAGE}").into()),
        }
    }
    let pubkey = std::fs::read_to_string(key)?;
    PublicKey::from_text(&pubkey)?;
    let mut builder = millennium_updater::Updater::builder()
        .endpoint(endpoint)
        .pubkey(pubkey)
        .current_version(current)
        .bundle_type(bundle)
        .state_dir(state);
    if let Some(path) = executable {
        builder = builder.executable(path);
    }
    let updater = builder.build_blocking()?;
    let started = Instant::now();
    let update = updater.check()?.ok_or("no update offered")?;
    // The last report of each transfer holds its bytes; a failed delta is followed by the full download.
    let (mut kind, mut bytes) = ("none", 0u64);
    let downloaded = update.download(|p: Progress| {
        if p.transfer != Transfer::DeltaFailed {
            kind = if p.transfer == Transfer::Delta { "delta" } else { "full" };
            bytes = p.downloaded;
        }
    })?;
    let secs = started.elapsed().as_secs_f64();
    let path = downloaded.path().display().to_string();
    if install {
        downloaded.install()?;
    }
    println!("{secs:.4} {kind} {bytes} {path}");
    Ok(())
}
