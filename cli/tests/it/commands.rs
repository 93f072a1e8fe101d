//! The quick commands, through the binary.

use crate::common::{json, millennium, show};

#[test]
fn new_makes_an_app_and_prints_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let output = millennium()
        .current_dir(dir.path())
        .args(["new", "my-app", "--framework-path"])
        .arg(crate::common::checkout())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", show(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "my-app");
    let config = std::fs::read_to_string(dir.path().join("my-app/Millennium.toml")).unwrap();
    assert!(config.contains("product-name = \"My App\"") && config.contains("com.example.my-app"), "{config}");

    let again = millennium().current_dir(dir.path()).args(["new", "my-app", "--json"]).output().unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", show(&again));
    let error = &json(&again)["error"];
    assert_eq!(error["code"], "usage");
    assert!(error["hint"].as_str().unwrap().contains("another name"), "{error}");
}

#[test]
fn icon_writes_every_size_from_one_png() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("logo.png");
    std::fs::write(&source, millennium_cli::icon::placeholder().unwrap()).unwrap();
    let output = millennium().current_dir(dir.path()).args(["icon", "logo.png", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", show(&output));
    let names: Vec<String> = json(&output)["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().rsplit('/').next().unwrap().to_owned())
        .collect();
    for name in ["16x16.png", "256x256.png", "512x512.png", "icon.png", "icon.ico", "icon.icns"] {
        assert!(names.contains(&name.to_owned()), "{name} not in {names:?}");
    }
    let missing = millennium().current_dir(dir.path()).args(["icon", "nope.png"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1), "{}", show(&missing));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("nope.png"), "{}", show(&missing));
}

#[test]
fn completions_for_every_shell_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let output = millennium().args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{}", show(&output));
        let script = String::from_utf8_lossy(&output.stdout);
        for command in ["new", "dev", "icon", "build", "sign", "publish", "release"] {
            assert!(script.contains(command), "{shell}: `{command}` missing");
        }
    }
}

#[test]
fn sign_is_millennium_signs_commands_and_cargo_millennium_works_too() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    let generate =
        millennium().args(["sign", "generate", "--no-password", "-w"]).arg(&key).arg("--json").output().unwrap();
    assert!(generate.status.success(), "{}", show(&generate));
    std::fs::write(dir.path().join("file"), b"data").unwrap();
    let sign = millennium()
        .current_dir(dir.path())
        .args(["sign", "sign", "-k", "k.key", "--version", "1.0.0", "file"])
        .output()
        .unwrap();
    assert!(sign.status.success(), "{}", show(&sign));
    std::fs::write(dir.path().join("file"), b"tampered").unwrap();
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-millennium"))
        .current_dir(dir.path())
        .args(["millennium", "sign", "verify", "-p", "k.key.pub", "file", "--json"])
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(1), "{}", show(&verify));
    assert_eq!(json(&verify)["error"]["code"], "data_mismatch");
}

#[test]
fn bad_arguments_are_usage_errors_in_json_too() {
    let output = millennium().args(["release", "--bogus", "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert_eq!(json(&output)["error"]["code"], "usage");
}
