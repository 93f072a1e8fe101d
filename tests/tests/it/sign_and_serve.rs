//! A release as it travels: signed with `millennium-sign`, described in a Tauri `latest.json` built by the wire-format
//! crate, parsed back the way an app would, and its artifact checked with the pinned key — and with the real
//! `minisign` tool, so the signature in the manifest is not merely something our own code agrees with.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use millennium_sign::{Format, PublicKey, SecretKey, Signature};
use millennium_testing::{keys, require_tool};
use millennium_update_protocol::tauri::{
    Artifact, ArtifactUrl, ReleaseInfo, SignatureText, StaticManifest, TauriResponse, offers_update,
};
use millennium_update_protocol::{Target, Version};

struct Release {
    key: SecretKey,
    artifacts: Vec<(&'static str, &'static str, Vec<u8>)>,
}

impl Release {
    fn new() -> Self {
        let artifacts = vec![
            ("linux-x86_64-appimage", "app_1.3.0_amd64.AppImage", b"appimage bytes".repeat(1000)),
            ("linux-x86_64-deb", "app_1.3.0_amd64.deb", b"deb bytes".repeat(1000)),
            ("linux-x86_64", "app_1.3.0_amd64.AppImage", b"appimage bytes".repeat(1000)),
            ("darwin-aarch64-app", "app.app.tar.gz", b"macos bytes".repeat(1000)),
            ("windows-x86_64-nsis", "app_1.3.0_x64-setup.exe", b"nsis bytes".repeat(1000)),
        ];
        Release { key: SecretKey::generate().unwrap(), artifacts }
    }

    fn sign(&self, file: &str, data: &[u8], version: &str) -> Signature {
        keys::sign(&self.key, file, Some(version), data)
    }

    /// The `latest.json` a server would publish, with each artifact's signature in Tauri's form.
    fn manifest(&self, version: &str) -> String {
        let release = ReleaseInfo::new(Version::parse(version).unwrap()).with_notes("Bug fixes").unwrap();
        let mut builder = StaticManifest::builder(release);
        for (key, file, data) in &self.artifacts {
            let signature = SignatureText::from_signature(self.sign(file, data, version)).unwrap();
            let url = ArtifactUrl::parse(&format!("https://updates.example.test/app/{file}")).unwrap();
            builder = builder.platform(key.parse::<Target>().unwrap(), Artifact::new(url, signature));
        }
        builder.build().unwrap().to_json()
    }

    fn artifact(&self, name: &str) -> &[u8] {
        &self.artifacts.iter().find(|(_, file, _)| file.ends_with(name)).unwrap().2
    }
}

/// What an app does with the manifest: pick its entry, check the offer, verify the download with its pinned key.
fn app_accepts(
    manifest: &str,
    pinned: &PublicKey,
    target: &Target,
    current: &str,
    download: &[u8],
) -> Result<(), String> {
    let response = TauriResponse::parse(manifest.as_bytes()).map_err(|e| e.to_string())?;
    if !offers_update(&Version::parse(current).unwrap(), &response) {
        return Err("no update offered".into());
    }
    let artifact = response.artifact_for(target).map_err(|e| e.to_string())?;
    let signature = artifact.signature().signature();
    signature.verify(pinned, download).map_err(|e| e.to_string())?;
    signature.trusted_fields().check_version(&response.version().to_string(), true).map_err(|e| e.to_string())
}

#[test]
fn every_kind_of_install_gets_its_own_verified_artifact() {
    let release = Release::new();
    let manifest = release.manifest("1.3.0");
    // The app pins the key in Tauri's `pubkey` form.
    let pinned = PublicKey::from_text(&release.key.public_key().to_text(Format::Tauri)).unwrap();
    let cases = [
        (("linux", "x86_64", Some("appimage")), "AppImage"),
        (("linux", "x86_64", Some("deb")), ".deb"),
        (("linux", "x86_64", Some("unknown")), "AppImage"), // a plain binary
        (("darwin", "aarch64", Some("app")), ".app.tar.gz"),
        (("windows", "x86_64", Some("nsis")), "setup.exe"),
    ];
    for ((os, arch, bundle), file) in cases {
        let target = Target::from_request_vars(os, arch, bundle).unwrap();
        app_accepts(&manifest, &pinned, &target, "1.2.9", release.artifact(file))
            .unwrap_or_else(|e| panic!("{os}-{arch}-{bundle:?}: {e}"));
    }
    // cargo-packager-updater looks up the exact key `macos-{arch}`, which the builder adds for it.
    let entry = StaticManifest::parse(manifest.as_bytes()).unwrap();
    let entry = entry.get("macos-aarch64").expect("macos-aarch64 twin");
    entry.artifact().signature().signature().verify(&pinned, release.artifact(".app.tar.gz")).unwrap();
    assert_eq!(entry.artifact().format().map(|f| f.as_str()), Some("app"));
}

#[test]
fn wrong_artifact_wrong_key_and_no_update_are_refused() {
    let release = Release::new();
    let manifest = release.manifest("1.3.0");
    let pinned = release.key.public_key();
    let deb = Target::from_request_vars("linux", "x86_64", Some("deb")).unwrap();
    // A mirror serving the AppImage to a deb install: the deb's signature does not cover it.
    let err = app_accepts(&manifest, &pinned, &deb, "1.2.9", release.artifact("AppImage")).unwrap_err();
    assert!(err.contains("does not match"), "{err}");
    // A manifest signed by someone else's key.
    let attacker = Release::new();
    let err = app_accepts(&attacker.manifest("1.3.0"), &pinned, &deb, "1.2.9", attacker.artifact(".deb")).unwrap_err();
    assert!(err.contains("made by key"), "{err}");
    // Same or newer version installed: no update (build metadata does not make a release newer).
    for current in ["1.3.0", "1.3.0+build.7", "2.0.0-beta.1"] {
        assert_eq!(
            app_accepts(&manifest, &pinned, &deb, current, release.artifact(".deb")).unwrap_err(),
            "no update offered"
        );
    }
    // A platform the release does not have.
    let arm = Target::from_request_vars("linux", "aarch64", None).unwrap();
    assert!(app_accepts(&manifest, &pinned, &arm, "1.0.0", b"").is_err());
}

#[test]
fn a_signature_for_another_version_cannot_be_published_or_replayed() {
    let release = Release::new();
    let (_, file, data) = &release.artifacts[0];
    // The builder refuses to announce 1.3.0 with an artifact signed for 1.2.0...
    let old = SignatureText::from_signature(release.sign(file, data, "1.2.0")).unwrap();
    let url = ArtifactUrl::parse("https://updates.example.test/a").unwrap();
    let built = StaticManifest::builder(ReleaseInfo::new(Version::parse("1.3.0").unwrap()))
        .platform("linux-x86_64".parse().unwrap(), Artifact::new(url, old.clone()))
        .build();
    assert!(built.is_err(), "a mismatched signed version was accepted");
    // ...and a hand-edited manifest doing the same is refused when parsed.
    let manifest = release.manifest("1.3.0").replace(
        release.manifest("1.3.0").split("\"signature\":\"").nth(1).unwrap().split('"').next().unwrap(),
        old.as_str(),
    );
    assert!(TauriResponse::parse(manifest.as_bytes()).is_err());
}

#[test]
fn minisign_verifies_the_signature_carried_in_the_manifest() {
    let release = Release::new();
    let manifest = release.manifest("1.3.0");
    let target = Target::from_request_vars("windows", "x86_64", Some("nsis")).unwrap();
    let response = TauriResponse::parse(manifest.as_bytes()).unwrap();
    let signature = response.artifact_for(&target).unwrap().signature().signature().to_text(Format::Minisign);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, data: &[u8]| std::fs::write(dir.path().join(name), data).unwrap();
    write("setup.exe", release.artifact("setup.exe"));
    write("setup.exe.minisig", signature.as_bytes());
    write("key.pub", release.key.public_key().to_text(Format::Minisign).as_bytes());
    require_tool("minisign", "minisign");
    let out = std::process::Command::new("minisign")
        .args(["-V", "-p", "key.pub", "-m", "setup.exe"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "minisign: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("version:1.3.0"));
}
