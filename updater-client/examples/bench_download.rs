//! Benchmark helper for `scripts/bench-updater`: download + verify of one large artifact over loopback.
//!
//! ```text
//! bench_download prepare DIR SIZE_MIB    # DIR/artifact.bin (a `#!` script + pseudo-random data), its signature, key
//! bench_download client ENDPOINT DIR     # check + download + verify with the library; prints the seconds taken
//!                                        # and the verified file (left for the script to delete)
//! ```
//!
//! The script publishes the artifact to a real `millennium-update-server` in between; the client runs in its own
//! process so that its peak RSS is measured alone.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use millennium_sign::{Format, SecretKey, Signature, TrustedComment};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["prepare", dir, size] => prepare(Path::new(dir), size.parse()?),
        ["client", endpoint, dir] => client(endpoint, Path::new(dir)),
        _ => Err("usage: bench_download prepare DIR SIZE_MIB | client ENDPOINT DIR".into()),
    }
}

fn prepare(dir: &Path, size_mib: u64) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("artifact.bin");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
    out.write_all(b"#!/bin/sh\necho 2.0.0\nexit 0\n")?;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size_mib << 20;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    drop(out);
    let secret = SecretKey::generate()?;
    let comment = TrustedComment::tauri(1_700_000_000, "artifact.bin", Some("2.0.0"))?;
    let sig = Signature::sign(&secret, std::io::BufReader::new(std::fs::File::open(&path)?), &comment)?;
    std::fs::write(dir.join("artifact.bin.sig"), sig.to_text(Format::Tauri))?;
    std::fs::write(dir.join("key.pub"), secret.public_key().to_text(Format::Tauri))?;
    Ok(())
}

fn client(endpoint: &str, dir: &Path) -> Res<()> {
    let app = dir.join("app");
    if !app.exists() {
        std::fs::write(&app, "#!/bin/sh\necho 1.0.0\n")?;
    }
    let started = Instant::now();
    let updater = millennium_updater::Updater::builder()
        .endpoint(endpoint)
        .pubkey(std::fs::read_to_string(dir.join("key.pub"))?)
        .current_version("1.0.0")
        .executable(&app)
        .bundle_type(None)
        .state_dir(dir.join("state"))
        .build_blocking()?;
    let update = updater.check()?.ok_or("no update offered")?;
    let downloaded = update.download(|_| {})?;
    let secs = started.elapsed().as_secs_f64();
    // The verified file stays for the script to delete outside the measured time, as an app keeps it to install.
    println!("{secs:.3} {}", downloaded.path().display());
    Ok(())
}
