//! The probe against this machine's real WebKitGTK (from Debian's `libwebkit2gtk-4.1-0`), cross-checked with
//! `pkg-config`, and the `check` / `launch` commands.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use millennium_webview_probe::distro::Family;
use millennium_webview_probe::linux::{SONAME, package_version};
use millennium_webview_probe::{Probe, Verdict};
use serde_json::Value;

fn probe_cli() -> Command {
    Command::cargo_bin("millennium-webview-probe").unwrap()
}

/// The installed WebKitGTK version as its development files state it.
fn pkg_config_version() -> String {
    let output = Command::new("pkg-config").args(["--modversion", "webkit2gtk-4.1"]).output().unwrap();
    assert!(output.status.success(), "pkg-config: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn probes_the_installed_webkitgtk_in_both_ways() {
    let expected = pkg_config_version();
    // The second and third find it loaded by the first; the fresh one then asks dpkg.
    for probe in [Probe::detect(), Probe::detect_fresh(), Probe::detect_library(SONAME)] {
        assert_eq!(probe.version.as_ref().map(ToString::to_string), Some(expected.clone()), "{probe:?}");
        assert_eq!(probe.header_value(), format!("webkitgtk/{expected}"));
    }
}

#[test]
fn check_json_reports_version_verdict_and_install_command() {
    let expected = pkg_config_version();
    let dir = tempfile::tempdir().unwrap();
    let os_release = dir.path().join("os-release");
    std::fs::write(&os_release, "PRETTY_NAME=\"Fedora Linux 40\"\nID=fedora\n").unwrap();
    let output =
        probe_cli().args(["check", "--json", "--min", "2.0", "--os-release"]).arg(&os_release).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["version"], expected.as_str());
    assert_eq!(report["header"], format!("webkitgtk/{expected}"));
    assert_eq!(report["verdict"]["status"], "ok");
    assert_eq!(report["package"], "webkit2gtk4.1");
    assert!(report["install_command"].as_str().unwrap().ends_with("dnf install -y webkit2gtk4.1"));
}

#[test]
fn check_with_a_newer_minimum_exits_69_with_the_message() {
    let expected = pkg_config_version();
    let output = probe_cli().args(["check", "--min", "99.0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(69), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(&format!("WebKitGTK 4.1 {expected} is installed, but this app needs version 99.0 or newer")),
        "{text}"
    );

    let json = probe_cli().args(["check", "--json", "--fresh", "--min", "99.0"]).output().unwrap();
    assert_eq!(json.status.code(), Some(69));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["verdict"], serde_json::json!({ "status": "too-old", "found": expected, "minimum": "99.0" }));
}

/// One `--min` string for every platform (as `min-webview-version` in `Millennium.toml`): only this platform's entry
/// counts (the tests run on Linux, WebKitGTK).
#[test]
fn per_backend_minimums_apply_this_platforms_entry_only() {
    let output = probe_cli().args(["check", "--min", "webkitgtk=99.0,webview2=1.0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(69), "{output:?}");
    let output = probe_cli().args(["check", "--min", "webkitgtk=2.0,webview2=999.0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let output = probe_cli().args(["check", "--min", "webview2=999.0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "no WebKitGTK minimum: presence is enough; {output:?}");
    let output = probe_cli().args(["check", "--min", "webkitgtk=2.44,webkitgtk=2.46"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("given twice"), "{output:?}");
}

#[test]
fn bad_minimum_is_a_usage_error() {
    let output = probe_cli().args(["check", "--min", "2.x"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`2.x` is not a valid webview version"));
}

/// With `--json` a refused command line is reported on stdout too, as `{"error": {"code", "message", "hint"}}` with a
/// stable code, so that a script piping the output gets JSON either way; stderr keeps the message for people.
#[test]
fn json_errors_have_a_stable_code_a_message_and_a_hint() {
    let json_error = |args: &[&str]| {
        let output = probe_cli().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: "), "{output:?}");
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    assert_eq!(
        json_error(&["check", "--json", "--min", "2.x"]),
        serde_json::json!({ "error": {
            "code": "invalid_webview_version",
            "message": "`2.x` is not a valid webview version: each part must be a number, as in `2.44.1`",
            "hint": "write it as dotted numbers, e.g. `2.44` or `2.44.1`",
        }})
    );
    let twice = json_error(&["check", "--json", "--min", "webkitgtk=2.44,webkitgtk=2.46"]);
    assert_eq!(twice["error"]["code"], "invalid_webview_minimums");
    assert!(
        twice["error"]["message"].as_str().unwrap().ends_with("`webkitgtk` is given twice: give each backend once")
    );
    assert_eq!(twice["error"]["hint"], Value::Null);
    assert_eq!(
        json_error(&["check", "--json", "--jsn"]),
        serde_json::json!({ "error": {
            "code": "usage",
            "message": "unexpected argument '--jsn' found",
            "hint": "a similar argument exists: '--json'",
        }})
    );
    let unknown = json_error(&["check", "--json", "--bogus"]);
    assert_eq!(unknown["error"]["code"], "usage");
    assert_eq!(unknown["error"]["hint"], Value::Null);
    // Without `--json`, stdout stays empty.
    let output = probe_cli().args(["check", "--min", "2.x"]).output().unwrap();
    assert_eq!((output.status.code(), output.stdout.len()), (Some(2), 0), "{output:?}");
}

#[test]
fn launch_starts_the_program_only_when_the_webview_does() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let script = format!("echo \"$@\" > {}", marker.display());

    let refused = probe_cli()
        .args(["launch", "--no-prompt", "--app-name", "Demo", "--min", "99", "--", "sh", "-c", &script, "sh", "x"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(69), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).starts_with("Demo cannot start: WebKitGTK 4.1 "));
    assert!(!marker.exists(), "the app must not start");

    let started =
        probe_cli().args(["launch", "--min", "2.0", "--", "sh", "-c", &script, "sh", "a b"]).output().unwrap();
    assert!(started.status.success(), "{started:?}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "a b\n");
}

#[test]
fn dpkg_agrees_with_the_library() {
    assert_eq!(package_version(Family::Debian).map(|v| v.to_string()), Some(pkg_config_version()));
    assert_eq!(package_version(Family::Alpine), None);
}

#[test]
fn the_verdict_for_the_real_library() {
    let probe = Probe::detect();
    assert_eq!(probe.check(Some(&"2.0".parse().unwrap())), Verdict::Ok);
    assert!(matches!(probe.check(Some(&"99".parse().unwrap())), Verdict::TooOld { .. }));
}
