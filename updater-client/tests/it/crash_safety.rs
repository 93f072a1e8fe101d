//! Crash safety, proved by killing: the install step is `kill -9`ed at random moments, and after every kill the app's
//! path holds the complete old or the complete new program, which runs and prints a valid version.
//!
//! The install step runs in a helper process (`examples/install_step.rs`: verify a local signed file, then install it
//! over the target with the library's real code). The kill moments are spread uniformly over the time an
//! uninterrupted run takes (and a bit beyond), so they land before, during and after each step: staging the copy,
//! linking `.previous`, writing the rollback record, renaming.

#![allow(clippy::unwrap_used)] // tests state expectations with unwrap
#![cfg(target_os = "linux")] // installs are implemented for Linux only so far

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use millennium_testing::app::{script_app, write_exe};
use millennium_testing::keys::Keys;

const TRIALS: usize = 200;

fn helper() -> PathBuf {
    // target/<profile>/deps/crash_safety-… → target/<profile>/examples/install_step
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join("install_step");
    assert!(path.exists(), "{} missing: `cargo test` builds the examples", path.display());
    path
}

/// xorshift64*: reproducible randomness without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Puts v1 back at `target` (atomically, like a fresh install).
fn reset(target: &Path, v1: &[u8]) {
    let tmp = target.with_file_name("reset.tmp");
    write_exe(&tmp, v1);
    std::fs::rename(&tmp, target).unwrap();
}

#[test]
fn kill_9_at_random_moments_never_leaves_a_broken_app() {
    let helper = helper();
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::generate();
    // Large enough that copying takes a measurable while.
    let v1 = script_app("1.0.0", 4 << 20);
    let v2 = script_app("2.0.0", 4 << 20);
    let new = dir.path().join("update.bin");
    std::fs::write(&new, &v2).unwrap();
    let sig = dir.path().join("update.bin.sig");
    std::fs::write(&sig, keys.sign(&v2, Some("2.0.0")).to_text(millennium_sign::Format::Tauri)).unwrap();
    let pubkey = dir.path().join("key.pub");
    std::fs::write(&pubkey, &keys.public_text).unwrap();
    let app_dir = dir.path().join("app");
    std::fs::create_dir(&app_dir).unwrap();
    let target = app_dir.join("app");
    let state = dir.path().join("state");

    let run_helper = || {
        Command::new(&helper)
            .args([&target, &new, &sig, &pubkey])
            .arg("2.0.0")
            .arg(&state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };

    // How long an uninterrupted install takes (the median of three), and a window half as long again, so that kills
    // land over the whole install and some after it, even when the machine is busy.
    let mut times = Vec::new();
    for _ in 0..3 {
        reset(&target, &v1);
        let started = Instant::now();
        assert!(run_helper().wait().unwrap().success());
        times.push(started.elapsed());
        assert_eq!(std::fs::read(&target).unwrap(), v2);
    }
    times.sort();
    let window = times[1].as_micros() as u64 * 3 / 2;

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let (mut old, mut new_seen) = (0, 0);
    for trial in 0..TRIALS {
        reset(&target, &v1);
        let delay = Duration::from_micros(rng.next() % window.max(1));
        let mut child = run_helper();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        let content = std::fs::read(&target).unwrap();
        let expected = if content == v1 {
            old += 1;
            "1.0.0"
        } else if content == v2 {
            new_seen += 1;
            "2.0.0"
        } else {
            panic!("trial {trial} (kill after {delay:?}): the app is neither the old nor the new version");
        };
        let out = Command::new(&target).output().unwrap();
        assert!(out.status.success(), "trial {trial}: the app does not run: {out:?}");
        let printed = String::from_utf8(out.stdout).unwrap();
        assert_eq!(printed.trim(), expected, "trial {trial}");
        assert!(millennium_update_protocol::Version::parse(printed.trim()).is_ok());
    }
    eprintln!("{TRIALS} kills over {window} µs: {old} left the old version, {new_seen} the new one");
    assert_eq!(old + new_seen, TRIALS);
    assert!(old > 0 && new_seen > 0, "the kills should land on both sides of the rename ({old} old, {new_seen} new)");

    // A last, uninterrupted install succeeds and clears the litter of the killed ones.
    reset(&target, &v1);
    assert!(run_helper().wait().unwrap().success());
    assert_eq!(std::fs::read(&target).unwrap(), v2);
    let litter: Vec<_> = std::fs::read_dir(&app_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".millennium-"))
        .collect();
    assert!(litter.is_empty(), "stale temporary files: {litter:?}");
}
