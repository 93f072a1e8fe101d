//! `.deb` by delta, from the real server's delta job to the real updater installing with the real `dpkg` into a
//! scratch root (`DPKG_ROOT`): packages made by `millennium-bundler` from real builds; the update to v2 is a full
//! download (an install from a website has no copy of its package), after which the updater keeps the verified v2
//! package as the base of the next delta; the update to v3 downloads only the delta (made between the unpacked
//! packages), rebuilds the bundler's v3 package byte for byte, and `dpkg` installs it.
//!
//! The updater runs in its own process (`examples/update_once.rs`), the way an app does, so that `DPKG_ROOT` reaches
//! `dpkg` without changing this test process's environment.

#![allow(clippy::unwrap_used)] // tests state expectations with unwrap
#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use millennium_sign::Format;
use millennium_testing::require_tool;
use millennium_testing::server::TestServer;
use millennium_update_admin::api::{PublishRequest, Scope};

const APP: &str = "hello-deb";

/// The `.deb` of version `version` with `binary` as its program, made by the bundler in `dir`.
fn deb(dir: &Path, version: &str, binary: &Path) -> Vec<u8> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("Millennium.toml"),
        format!(
            r#"product-name = "Hello Deb"
package-name = "hello-deb"
identifier = "com.example.hellodeb"
version = "{version}"
description = "Test app for delta updates of packages"
authors = ["Test Person <test@example.com>"]
license = "MIT"

# The scratch root has no packages: nothing to depend on.
[deb]
depends = []
"#
        ),
    )
    .unwrap();
    let options = millennium_bundler::Options {
        manifest_path: dir.join("Millennium.toml"),
        formats: BTreeSet::from([millennium_bundler::Format::Deb]),
        arch: millennium_bundler::Arch::host().unwrap(),
        out_dir: dir.join("out"),
        overrides: millennium_bundler::config::Overrides { main_binary: Some(binary.to_owned()), ..Default::default() },
        launcher: None,
    };
    let env = |name: &str| (name == millennium_bundler::SOURCE_DATE_EPOCH).then(|| "1700000000".to_owned());
    let report = millennium_bundler::bundle(&options, &env, &millennium_bundler::NoProgress).unwrap();
    std::fs::read(&report.files.iter().find(|f| f.format == "deb").unwrap().path).unwrap()
}

/// `examples/update_once`, which Cargo builds beside the test binary.
fn update_once() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("examples/update_once");
    assert!(path.exists(), "no {} (built by `cargo test` with this crate's examples)", path.display());
    path
}

/// Runs one update of the `.deb` install (current version `current`) in its own process with `dpkg` acting on
/// `root`; returns how the bytes came (`delta` or `full`) and how many.
fn update(endpoint: &str, key: &Path, state: &Path, root: &Path, current: &str) -> (String, u64) {
    let output = Command::new(update_once())
        .args(["update", endpoint])
        .arg(key)
        .arg(state)
        .args(["--bundle", "deb", "--current", current, "--install"])
        .env("DPKG_ROOT", root)
        .output()
        .unwrap();
    millennium_testing::app::check(&output, "update_once");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    (fields[1].to_owned(), fields[2].parse().unwrap())
}

/// What `dpkg` in `root` says of the package: its status line and version.
fn installed(root: &Path) -> String {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f", "${Status} ${Version}", "hello-deb"])
        .env("DPKG_ROOT", root)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deb_install_updates_by_delta_from_the_kept_copy_of_the_package_it_installed() {
    require_tool("dpkg", "dpkg");
    require_tool("dpkg-query", "dpkg");
    let mut server = TestServer::start().await;
    server.start_jobs();
    let app = server.register(APP, Scope::Publish).await;
    let work = tempfile::tempdir().unwrap();
    let builds = millennium_testing::rust_builds::builds(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let debs: Vec<Vec<u8>> = [("1.0.0", &builds.v1), ("2.0.0", &builds.asset), ("3.0.0", &builds.function)]
        .iter()
        .map(|(version, binary)| deb(&work.path().join(version), version, binary))
        .collect();
    let target = format!("linux-{}-deb", std::env::consts::ARCH);
    let publish = |i: usize, version: &'static str| {
        let artifact = app.artifact(version, &target, &debs[i], &app.key);
        let app = &app;
        async move { app.publish(&PublishRequest::new(version), &[artifact]).await }
    };
    let key = work.path().join("key.pub");
    std::fs::write(&key, app.key.public_key().to_text(Format::Tauri)).unwrap();
    let endpoint =
        format!("{}/{APP}/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}/{{{{bundle_type}}}}", server.url);
    let (state, root) = (work.path().join("state"), work.path().join("root"));
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let kept = state.join("delta-base/artifact");

    publish(1, "2.0.0").await;
    let (how, bytes) = tokio::task::spawn_blocking({
        let (endpoint, key, state, root) = (endpoint.clone(), key.clone(), state.clone(), root.clone());
        move || update(&endpoint, &key, &state, &root, "1.0.0")
    })
    .await
    .unwrap();
    assert_eq!((how.as_str(), bytes), ("full", debs[1].len() as u64), "no copy of a package yet: a full download");
    assert_eq!(installed(&root), "install ok installed 2.0.0");
    assert_eq!(std::fs::read(&kept).unwrap(), debs[1], "the v2 package is kept");

    publish(2, "3.0.0").await;
    server.wait_for_deltas(APP, 1).await;
    let (how, bytes) = tokio::task::spawn_blocking({
        let (endpoint, key, state, root) = (endpoint.clone(), key.clone(), state.clone(), root.clone());
        move || update(&endpoint, &key, &state, &root, "2.0.0")
    })
    .await
    .unwrap();
    assert_eq!(how, "delta");
    assert!(bytes * 4 < debs[2].len() as u64, "a delta of {bytes} bytes for a {} bytes package", debs[2].len());
    assert_eq!(installed(&root), "install ok installed 3.0.0");
    assert_eq!(std::fs::read(&kept).unwrap(), debs[2], "the kept copy is the v3 package, byte for byte");
    assert_eq!((server.downloads(APP, "delta").await, server.downloads(APP, "full").await), (1, 1));
    // The program dpkg installed is v3's.
    let list = std::fs::read_to_string(root.join("var/lib/dpkg/info/hello-deb.list")).unwrap();
    let program = list.lines().find(|l| l.starts_with("/usr/bin/") && root.join(&l[1..]).is_file()).unwrap();
    assert_eq!(std::fs::read(root.join(&program[1..])).unwrap(), std::fs::read(&builds.function).unwrap());
}
