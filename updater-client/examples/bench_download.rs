//! Benchmark helper for `scripts/bench-updater`: download + verify of one large artifact over loopback.
//!
//! ```text
//! bench_download prepare DIR SIZE_MIB   # DIR/artifact.bin (a `#!` script + pseudo-random data), its signature, key
//! bench_download serve DIR              # serves DIR on 127.0.0.1 (prints the port); stops after 10 minutes
//! bench_download client PORT DIR        # check + download + verify with the library; prints the seconds taken
//! ```
//!
//! Server and client are separate processes so that the client's peak RSS is measured alone.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use millennium_sign::{Format, SecretKey, Signature, TrustedComment};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["prepare", dir, size] => prepare(Path::new(dir), size.parse()?),
        ["serve", dir] => tokio::runtime::Runtime::new()?.block_on(serve(PathBuf::from(dir))),
        ["client", port, dir] => client(port.parse()?, Path::new(dir)),
        _ => Err("usage: bench_download prepare DIR SIZE_MIB | serve DIR | client PORT DIR".into()),
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

async fn serve(dir: PathBuf) -> Res<()> {
    use millennium_update_protocol::tauri::{Artifact, ArtifactUrl, DynamicResponse, ReleaseInfo, SignatureText};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let sig = Signature::from_text(&std::fs::read_to_string(dir.join("artifact.bin.sig"))?)?;
    let json = DynamicResponse::new(
        ReleaseInfo::new("2.0.0".parse()?),
        Artifact::new(
            ArtifactUrl::parse(&format!("http://127.0.0.1:{port}/artifact"))?,
            SignatureText::from_signature(sig)?,
        ),
    )?
    .to_json();
    println!("{port}");
    std::io::stdout().flush()?;
    let deadline = tokio::time::sleep(Duration::from_secs(600));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return Ok(()),
            accepted = listener.accept() => {
                let (mut stream, _) = accepted?;
                let (json, path) = (json.clone(), dir.join("artifact.bin"));
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let Ok(n) = stream.read(&mut buf).await else { return };
                    let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let _ = if request.starts_with("GET /artifact") {
                        send_file(&mut stream, &path).await
                    } else {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            json.len()
                        );
                        async { stream.write_all(head.as_bytes()).await?; stream.write_all(json.as_bytes()).await }.await
                    };
                });
            }
        }
    }
}

async fn send_file(stream: &mut tokio::net::TcpStream, path: &Path) -> std::io::Result<()> {
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\nETag: \"bench\"\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}

fn client(port: u16, dir: &Path) -> Res<()> {
    let app = dir.join("app");
    if !app.exists() {
        std::fs::write(&app, "#!/bin/sh\necho 1.0.0\n")?;
    }
    let started = Instant::now();
    let updater = millennium_updater::Updater::builder()
        .endpoint(format!("http://127.0.0.1:{port}/check/{{{{current_version}}}}"))
        .pubkey(std::fs::read_to_string(dir.join("key.pub"))?)
        .current_version("1.0.0")
        .executable(&app)
        .bundle_type(None)
        .state_dir(dir.join("state"))
        .build_blocking()?;
    let update = updater.check()?.ok_or("no update offered")?;
    let downloaded = update.download(|_| {})?;
    let secs = started.elapsed().as_secs_f64();
    std::fs::remove_file(downloaded.path())?;
    println!("{secs:.3}");
    Ok(())
}
