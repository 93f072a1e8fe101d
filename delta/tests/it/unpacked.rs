//! The `unpacked` encoder on compressed artifacts made as the bundler makes them: a `.app.tar.gz` (gzip level 9,
//! mtime 0) and a `.deb` (`ar` of `debian-binary`, `control.tar.xz`, `data.tar.xz`; xz preset 6, 4 MiB blocks),
//! each holding the real builds, v2 with one asset changed. The delta is a small fraction of what the plain
//! encoders make of the compressed bytes, and applies to exactly v2. Compressed files this build cannot reproduce
//! byte for byte are left to the other encoders.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::io::Write;
use std::path::Path;

use millennium_delta::{Encoder, MakeOptions, Outcome, apply, make};

use crate::fixtures::builds;

fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_mtime(1_700_000_000);
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip_best(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// xz as `millennium-bundler` writes `.deb` members: multi-threaded liblzma, 4 MiB blocks, preset 6, CRC-64.
fn xz_bundler(data: &[u8]) -> Vec<u8> {
    let stream = liblzma::stream::MtStreamBuilder::new()
        .threads(2)
        .block_size(4 << 20)
        .preset(6)
        .check(liblzma::stream::Check::Crc64)
        .encoder()
        .unwrap();
    let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        out.extend_from_slice(
            format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", 0, 0, 0, 100_644, data.len()).as_bytes(),
        );
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

/// Makes a delta from `v1` to `v2` with every encoder and with each plain one alone; checks that `unpacked` is kept,
/// at most `max_fraction` of the plain encoders' best, and rebuilds `v2` exactly.
fn unpacked_wins(dir: &Path, v1: &[u8], v2: &[u8], max_fraction: f64) -> Vec<u8> {
    let (base, new) = (dir.join("v1"), dir.join("v2"));
    std::fs::write(&base, v1).unwrap();
    std::fs::write(&new, v2).unwrap();
    let delta = dir.join("delta");
    let made = make(&base, &new, &delta, &MakeOptions::default()).unwrap().kept().unwrap();
    assert_eq!(made.header.encoder, Encoder::Unpacked, "{:?}", made.attempts);
    let plain = made.attempts.iter().filter(|a| a.encoder != Encoder::Unpacked).filter_map(|a| a.size).min().unwrap();
    assert!(
        (made.size as f64) < max_fraction * plain as f64,
        "unpacked {} bytes, plain encoders {plain} bytes ({:?})",
        made.size,
        made.attempts
    );
    let out = dir.join("out");
    apply(&base, &delta, &out, v2.len() as u64).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), v2);
    std::fs::read(&delta).unwrap()
}

#[test]
fn an_app_tar_gz_with_one_asset_changed_gets_a_delta_of_its_unpacked_contents() {
    let b = builds();
    let dir = tempfile::tempdir().unwrap();
    let (v1, asset) = (std::fs::read(&b.v1).unwrap(), std::fs::read(&b.asset).unwrap());
    let info = b"<plist><key>CFBundleIdentifier</key><string>com.example.hello</string></plist>";
    let bundle = |exe: &[u8]| {
        gzip_best(&tar(&[("Hello.app/Contents/Info.plist", info), ("Hello.app/Contents/MacOS/hello", exe)]))
    };
    let delta = unpacked_wins(dir.path(), &bundle(&v1), &bundle(&asset), 0.25);
    // Damaged, including "signed" damage that reaches the recipe and the decoders: refused or exact, never a panic.
    crate::refusals::damaged_deltas(&dir.path().join("v1"), &[delta], &bundle(&asset));
}

#[test]
fn a_deb_with_one_asset_changed_gets_a_delta_of_its_unpacked_members() {
    let b = builds();
    let dir = tempfile::tempdir().unwrap();
    let (v1, asset) = (std::fs::read(&b.v1).unwrap(), std::fs::read(&b.asset).unwrap());
    let deb = |exe: &[u8], version: &str| {
        let control = format!("Package: hello\nVersion: {version}\nArchitecture: amd64\nMaintainer: a <a@b>\n");
        let control = xz_bundler(&tar(&[("./control", control.as_bytes())]));
        let data = xz_bundler(&tar(&[("./usr/bin/hello", exe), ("./usr/share/doc/hello/copyright", b"MIT\n")]));
        ar(&[("debian-binary", b"2.0\n"), ("control.tar.xz", &control), ("data.tar.xz", &data)])
    };
    let delta = unpacked_wins(dir.path(), &deb(&v1, "1.0.0"), &deb(&asset, "2.0.0"), 0.25);
    crate::refusals::damaged_deltas(&dir.path().join("v1"), &[delta], &deb(&asset, "2.0.0"));
}

#[test]
fn a_gzip_file_this_build_cannot_reproduce_is_left_to_the_plain_encoders() {
    let b = builds();
    let dir = tempfile::tempdir().unwrap();
    let (v1, asset) = (std::fs::read(&b.v1).unwrap(), std::fs::read(&b.asset).unwrap());
    // GNU gzip's deflate is not this build's: no level the encoder tries gives its bytes.
    millennium_testing::require_tool("gzip", "gzip");
    let gnu = |data: &[u8]| {
        let mut child = std::process::Command::new("gzip")
            .args(["-9n", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = data.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(output.status.success());
        output.stdout
    };
    let (v1, v2) = (gnu(&v1), gnu(&asset));
    let (base, new, delta) = (dir.path().join("v1"), dir.path().join("v2"), dir.path().join("delta"));
    std::fs::write(&base, &v1).unwrap();
    std::fs::write(&new, &v2).unwrap();
    let (attempts, kept) = match make(&base, &new, &delta, &MakeOptions::default()).unwrap() {
        Outcome::Kept(made) => (made.attempts, Some(made.header.encoder)),
        Outcome::NotWorthIt { attempts, .. } => (attempts, None),
    };
    let unpacked = attempts.iter().find(|a| a.encoder == Encoder::Unpacked).unwrap();
    assert_eq!(unpacked.size, None, "{attempts:?}");
    if let Some(encoder) = kept {
        assert_ne!(encoder, Encoder::Unpacked);
        apply(&base, &delta, &dir.path().join("out"), v2.len() as u64).unwrap();
        assert_eq!(std::fs::read(dir.path().join("out")).unwrap(), v2);
    }
}
