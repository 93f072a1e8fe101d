//! The example packaged as its users would get it: millennium-bundler makes the `.deb` of the real `hello` binary
//! from the example's own `Millennium.toml`, and lintian checks it, every tag of severity error or warning failing
//! the test (the bundler's own tests check a synthetic C app; this one checks what a Millennium app really looks
//! like: WebKitGTK dependencies, a dual license, no icon).
//!
//! Needs `lintian` and `dpkg-deb` (packages `lintian`, `dpkg`).

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use millennium_bundler::config::Overrides;
use millennium_bundler::{Arch, Format, NoProgress, Options};

const BIN: &str = env!("CARGO_BIN_EXE_hello");

fn tool(name: &str, package: &str) -> Command {
    let found = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().unwrap();
    assert!(found.status.success(), "`{name}` is missing\nhint: `apt-get install -y {package}`");
    Command::new(name)
}

#[test]
fn example_deb_is_lintian_clean() {
    let out = tempfile::tempdir().unwrap();
    let options = Options {
        manifest_path: Path::new(env!("CARGO_MANIFEST_DIR")).join("Millennium.toml"),
        formats: BTreeSet::from([Format::Deb]),
        arch: Arch::host().expect("a supported host"),
        out_dir: out.path().to_owned(),
        overrides: Overrides { main_binary: Some(BIN.into()), ..Overrides::default() },
        launcher: None,
    };
    // Only the build time: no signing key may leak in from the environment of the test run.
    let env = |name: &str| (name == millennium_bundler::SOURCE_DATE_EPOCH).then(|| "1700000000".to_owned());
    let report = millennium_bundler::bundle(&options, &env, &NoProgress).unwrap();
    let deb = report.files.iter().find(|f| f.format == "deb").expect("a .deb").path.clone();

    let lintian = tool("lintian", "lintian")
        .args(["--fail-on", "error,warning", "--tag-display-limit", "0"])
        .arg(&deb)
        .output()
        .unwrap();
    let tags = String::from_utf8_lossy(&lintian.stdout);
    let failing: Vec<&str> = tags.lines().filter(|l| l.starts_with("E:") || l.starts_with("W:")).collect();
    assert!(
        lintian.status.success() && failing.is_empty(),
        "lintian ({}):\n{tags}{}",
        lintian.status,
        String::from_utf8_lossy(&lintian.stderr)
    );

    let root = out.path().join("root");
    let unpacked = tool("dpkg-deb", "dpkg").arg("-x").arg(&deb).arg(&root).output().unwrap();
    assert!(unpacked.status.success(), "{}", String::from_utf8_lossy(&unpacked.stderr));
    let copyright = std::fs::read_to_string(root.join("usr/share/doc/millennium-hello/copyright")).unwrap();
    // `MIT OR Apache-2.0`: Apache-2.0 by reference to Debian's copy, MIT (Expat) written out.
    assert!(copyright.contains("\nLicense: Expat or Apache-2.0\n"), "{copyright}");
    assert!(copyright.contains("/usr/share/common-licenses/Apache-2.0"), "{copyright}");
    assert!(!copyright.contains("TERMS AND CONDITIONS FOR USE"), "the Apache text is embedded:\n{copyright}");
    assert!(copyright.contains(" Permission is hereby granted, free of charge"), "{copyright}");
}
