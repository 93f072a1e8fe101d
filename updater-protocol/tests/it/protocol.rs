//! The wire format end to end, through the public API only: target names, versions, and Tauri documents as real
//! servers and tools write them.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use millennium_update_protocol::tauri::{
    Artifact, ArtifactUrl, DynamicResponse, NO_UPDATE_STATUS, PackagerFormat, ReleaseInfo, SignatureText,
    StaticManifest, TauriResponse, offers_update,
};
use millennium_update_protocol::webview::WebviewMinimums;
use millennium_update_protocol::{Arch, BundleType, Error, Os, Target, Version, limits};
use proptest::prelude::*;

/// `tauri signer sign` output for `app_1.2.3_amd64.AppImage`, without a `version:` in the trusted comment.
const SIG_PLAIN: &str = "dW50cnVzdGVkIGNvbW1lbnQ6IHNpZ25hdHVyZSBmcm9tIHRhdXJpIHNlY3JldCBrZXkKUlVUVGZQUWQrbUR3WWlLRC9YaUQvQU5zUUhoRU5XbTdnT0txTytvSUxsY3JpSmVCK2dSYkRYT2ZZaTFTQVRpTDB3bjJROUh6TWNXZDZaVUw1UTdPbG4reGFXSU0wWEN1bEFJPQp0cnVzdGVkIGNvbW1lbnQ6IHRpbWVzdGFtcDoxNzk1NjE2MDI2CWZpbGU6YXBwXzEuMi4zX2FtZDY0LkFwcEltYWdlCkJNcllkVTRuaG5QN0lPalU3MEsySVZhYy91cDE1K3pUUXByaHZPdTNndExpYkJIMlZsRnN3ZmFseDNxSngxM29PZ200b0tHOXFJNjlCZHRhRVhxVUJRPT0K";

/// `tauri signer sign` output whose trusted comment ends in `\tversion:1.2.3`.
const SIG_V123: &str = "dW50cnVzdGVkIGNvbW1lbnQ6IHNpZ25hdHVyZSBmcm9tIHRhdXJpIHNlY3JldCBrZXkKUlVTUXZ2QTQwd1YrSWtLT1d0eE16ZFg4ZlByT1gxWDJlZFNGUGpYWWZ1RHhZTzI2TkF6clRJS3R0b3R2NHBUM0s4emI2d3JvQ2JDWU1peitubURVTXEvK3lKS0VHdi9nMkFvPQp0cnVzdGVkIGNvbW1lbnQ6IHRpbWVzdGFtcDoxNzk1NjE2MDk1CWZpbGU6YXJ0aWZhY3QuYmluCXZlcnNpb246MS4yLjMKN3U0RUtLOFJPZkxwa0dJL2l3eTNTL2tvdk5kL01HRkhTMHVuZDhSMnp4YllQTER4R3pGZHlVb2hiUzdNOFRVd1FKWVNHTnBGMm9VZDN4eUpheXlxRFE9PQo=";

/// The same signature as [`SIG_PLAIN`], as the minisign `.sig` text (not base64): Tauri clients cannot decode it.
const SIG_PLAIN_MINISIGN: &str = "untrusted comment: signature from tauri secret key\nRUTTfPQd+mDwYiKD/XiD/ANsQHhENWm7gOKqO+oILlcriJeB+gRbDXOfYi1SATiL0wn2Q9HzMcWd6ZUL5Q7Oln+xaWIM0XCulAI=\ntrusted comment: timestamp:1795616026\tfile:app_1.2.3_amd64.AppImage\nBMrYdU4nhnP7IOjU70K2IVac/up15+zTQprhvOu3gtLibBH2VlFswfalx3qJx13oOgm4oKG9qI69BdtaEXqUBQ==\n";

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn t(s: &str) -> Target {
    s.parse().unwrap()
}

fn artifact(url: &str) -> Artifact {
    Artifact::new(ArtifactUrl::parse(url).unwrap(), SignatureText::parse(SIG_PLAIN).unwrap())
}

fn parse(json: &str) -> Result<TauriResponse, Error> {
    TauriResponse::parse(json.as_bytes())
}

fn dynamic_doc(fields: &str) -> String {
    format!(r#"{{"version":"1.2.3","url":"https://example.com/app.AppImage","signature":"{SIG_PLAIN}"{fields}}}"#)
}

// ---------------------------------------------------------------- targets

#[test]
fn every_target_key_round_trips() {
    let mut count = 0;
    for os in Os::ALL {
        for arch in Arch::ALL {
            let bundles = std::iter::once(None).chain(os.bundle_types().iter().copied().map(Some));
            for bundle in bundles {
                let target = Target::new(os, arch, bundle).unwrap();
                let key = target.to_string();
                assert_eq!(key.parse::<Target>().unwrap(), target, "{key}");
                let via_request =
                    Target::from_request_vars(os.as_str(), arch.as_str(), bundle.map(BundleType::as_str)).unwrap();
                assert_eq!(via_request, target);
                count += 1;
            }
        }
    }
    assert_eq!(count, 45);
}

#[test]
fn target_aliases_and_lookup_order() {
    assert_eq!(t("macos-aarch64"), t("darwin-aarch64"));
    assert_eq!(t("macos-aarch64").to_string(), "darwin-aarch64");
    assert_eq!(t("macos-aarch64-app").lookup_keys(), ["darwin-aarch64-app", "darwin-aarch64"]);
    assert_eq!(t("linux-x86_64-deb").lookup_keys(), ["linux-x86_64-deb", "linux-x86_64"]);
    assert_eq!(t("linux-x86_64").lookup_keys(), ["linux-x86_64"]);
    assert_eq!(t("darwin-x86_64-app").cargo_packager_key(), "macos-x86_64");
    assert_eq!(Target::from_request_vars("macos", "aarch64", None).unwrap(), t("darwin-aarch64"));
    assert_eq!(Target::from_request_vars("linux", "riscv64", Some("unknown")).unwrap(), t("linux-riscv64"));
}

#[test]
fn invalid_target_combinations() {
    for key in ["windows-x86_64-deb", "windows-x86_64-app", "linux-aarch64-msi", "darwin-aarch64-rpm"] {
        assert!(matches!(key.parse::<Target>(), Err(Error::BundleNotForOs { .. })), "{key}");
    }
    assert!(matches!(
        Target::new(Os::Windows, Arch::X86_64, Some(BundleType::Deb)),
        Err(Error::BundleNotForOs { os: Os::Windows, bundle: BundleType::Deb })
    ));
}

// ---------------------------------------------------------------- versions

#[test]
fn version_precedence_table() {
    let table = [
        // (remote, current, offered)
        ("1.0.0", "1.0.0-rc.1", true),
        ("1.0.0-rc.1", "1.0.0", false),
        ("1.0.0-rc.2", "1.0.0-rc.1", true),
        ("1.0.0+b", "1.0.0+a", false),
        ("1.0.0+a", "1.0.0", false),
        ("v1.0.1", "1.0.0", true),
        ("1.0.0", "v1.0.0", false),
        ("0.9.0", "1.0.0", false),
        ("2.0.0", "10.0.0", false),
    ];
    for (remote, current, expected) in table {
        assert_eq!(v(remote).is_update_over(&v(current)), expected, "{remote} over {current}");
    }
}

#[test]
fn version_errors() {
    assert!(matches!(Version::parse(&format!("1.0.0-{}", "x".repeat(123))), Err(Error::VersionTooLong { .. })));
    for garbage in ["", "one", "1.0", "vv1.0.0", "1.0.0.0", "-1.0.0", "1.0.0-", "v 1.0.0"] {
        assert!(matches!(Version::parse(garbage), Err(Error::InvalidVersion { .. })), "{garbage:?}");
    }
    assert_eq!(Version::from_request_segment("1.0.0-beta.1%2Bbuild.5").unwrap(), v("1.0.0-beta.1+build.5"));
    assert_eq!(Version::from_request_segment("1.0.0-beta.1+build.5").unwrap(), v("1.0.0-beta.1+build.5"));
    assert!(matches!(Version::from_request_segment("1.0.0%E2%82"), Err(Error::InvalidPercentEncoding { .. })));
    assert!(matches!(Version::from_request_segment("1.0.0%"), Err(Error::InvalidPercentEncoding { .. })));
}

// ---------------------------------------------------------------- real-world documents

#[test]
fn tauri_docs_dynamic_example() {
    // The shape of the "dynamic update server" example in Tauri's updater documentation.
    let doc = format!(
        r#"{{
          "version": "0.2.0",
          "pub_date": "2020-09-18T12:29:53+01:00",
          "url": "https://mycompany.example.com/myapp/releases/myrelease.tar.gz",
          "signature": "{SIG_PLAIN}",
          "notes": "These are some release notes"
        }}"#
    );
    let TauriResponse::Dynamic(r) = parse(&doc).unwrap() else { panic!("not dynamic") };
    assert_eq!(r.release().version(), &v("0.2.0"));
    assert_eq!(r.release().notes(), Some("These are some release notes"));
    let date = r.release().pub_date().unwrap();
    assert_eq!(date.unix_timestamp(), 1_600_428_593);
    assert_eq!(r.artifact().url().as_str(), "https://mycompany.example.com/myapp/releases/myrelease.tar.gz");
    assert_eq!(r.artifact().signature().as_str(), SIG_PLAIN);
    assert_eq!(r.artifact().format(), None);
    assert!(r.extra().is_empty());
}

#[test]
fn tauri_action_latest_json() {
    // What tauri-action uploads as `latest.json`: leading `v`, one entry per `{os}-{arch}`.
    let doc = format!(
        r#"{{
          "version": "v1.0.0",
          "notes": "Test version",
          "pub_date": "2020-06-22T19:25:57Z",
          "platforms": {{
            "darwin-x86_64": {{"signature": "{SIG_PLAIN}", "url": "https://github.com/user/repo/releases/download/v1.0.0/app-x86_64.app.tar.gz"}},
            "darwin-aarch64": {{"signature": "{SIG_PLAIN}", "url": "https://github.com/user/repo/releases/download/v1.0.0/app-aarch64.app.tar.gz"}},
            "linux-x86_64": {{"signature": "{SIG_PLAIN}", "url": "https://github.com/user/repo/releases/download/v1.0.0/app-amd64.AppImage"}},
            "windows-x86_64": {{"signature": "{SIG_PLAIN}", "url": "https://github.com/user/repo/releases/download/v1.0.0/app-x64-setup.exe"}}
          }}
        }}"#
    );
    let TauriResponse::Static(m) = parse(&doc).unwrap() else { panic!("not static") };
    assert_eq!(m.release().version().to_string(), "1.0.0");
    assert_eq!(m.platforms().count(), 4);
    let (key, entry) = m.select(&t("darwin-aarch64-app")).unwrap();
    assert_eq!(key, "darwin-aarch64");
    assert!(entry.artifact().url().as_str().ends_with("app-aarch64.app.tar.gz"));
    let (key, _) = m.select(&t("windows-x86_64-nsis")).unwrap();
    assert_eq!(key, "windows-x86_64");
    // tauri-action does not write `format`: cargo-packager-updater could not read this.
    assert!(!m.is_cargo_packager_compatible());
}

#[test]
fn tauri_plugin_test_server_shape() {
    // tauri-plugin-updater's own integration test serves `date` (not `pub_date`) and an extra platform field;
    // both are unknown fields that Tauri ignores.
    let doc = format!(
        r#"{{"version":"1.0.0","date":"2024-01-01T00:00:00Z","platforms":{{"linux-x86_64-appimage":{{"signature":"{SIG_PLAIN}","url":"http://localhost:3007/download","with_elevated_task":false}}}}}}"#
    );
    let TauriResponse::Static(m) = parse(&doc).unwrap() else { panic!("not static") };
    assert_eq!(m.release().pub_date(), None);
    assert_eq!(m.extra()["date"], "2024-01-01T00:00:00Z");
    let (key, entry) = m.select(&t("linux-x86_64-appimage")).unwrap();
    assert_eq!(key, "linux-x86_64-appimage");
    assert_eq!(entry.extra()["with_elevated_task"], false);
    // A plain binary looks up only `linux-x86_64`, which this manifest lacks.
    assert!(matches!(m.select(&t("linux-x86_64")), Err(Error::TargetNotFound { tried }) if tried == ["linux-x86_64"]));
    // Unknown fields survive a round trip.
    let again = StaticManifest::parse(m.to_json().as_bytes()).unwrap();
    assert_eq!(again, m);
}

#[test]
fn cargo_packager_shapes() {
    let doc = format!(
        r#"{{"version":"0.2.0","pub_date":"2020-09-18T12:29:53+01:00","url":"https://example.com/r.tar.gz","signature":"{SIG_PLAIN}","format":"app","notes":"n"}}"#
    );
    let r = DynamicResponse::parse(doc.as_bytes()).unwrap();
    assert_eq!(r.artifact().format(), Some(PackagerFormat::App));

    let doc = format!(
        r#"{{"version":"v1.0.0","platforms":{{
            "macos-aarch64":{{"signature":"{SIG_PLAIN}","url":"https://example.com/a.app.tar.gz","format":"app"}},
            "linux-x86_64":{{"signature":"{SIG_PLAIN}","url":"https://example.com/a.AppImage","format":"appimage"}},
            "windows-x86_64":{{"signature":"{SIG_PLAIN}","url":"https://example.com/a.msi","format":"wix"}}}}}}"#
    );
    let m = StaticManifest::parse(doc.as_bytes()).unwrap();
    assert!(m.is_cargo_packager_compatible());
    assert_eq!(m.get("macos-aarch64").unwrap().target(), &t("darwin-aarch64"));
    // A Tauri client on macOS looks up `darwin-*` only, and finds nothing here.
    assert!(matches!(m.select(&t("darwin-aarch64-app")), Err(Error::TargetNotFound { .. })));
}

#[test]
fn optional_fields_and_aliases() {
    // `name` for `version`, nulls for optional fields, a fractional-second date.
    let doc = format!(
        r#"{{"name":"v2.0.0-rc.1","notes":null,"pub_date":"2024-05-01T12:00:00.123456789-07:00","url":"https://example.com/a","signature":"{SIG_PLAIN}","platforms":null}}"#
    );
    let r = DynamicResponse::parse(doc.as_bytes()).unwrap();
    assert_eq!(r.release().version(), &v("2.0.0-rc.1"));
    assert_eq!(r.release().notes(), None);
    assert_eq!(r.release().pub_date().unwrap().nanosecond(), 123_456_789);
    // Re-written with `version`, the date as written.
    let out = r.to_json_value();
    assert_eq!(out["version"], "2.0.0-rc.1");
    assert_eq!(out["pub_date"], "2024-05-01T12:00:00.123456789-07:00");
    assert!(out.get("name").is_none());
}

#[test]
fn signed_version_must_match() {
    let doc = format!(r#"{{"version":"1.2.3","url":"https://example.com/a","signature":"{SIG_V123}"}}"#);
    let r = DynamicResponse::parse(doc.as_bytes()).unwrap();
    assert_eq!(r.artifact().signature().signed_version(), Some("1.2.3"));

    let doc = format!(r#"{{"version":"v1.2.3","url":"https://example.com/a","signature":"{SIG_V123}"}}"#);
    assert!(DynamicResponse::parse(doc.as_bytes()).is_ok());

    let doc = format!(r#"{{"version":"1.2.4","url":"https://example.com/a","signature":"{SIG_V123}"}}"#);
    match DynamicResponse::parse(doc.as_bytes()) {
        Err(Error::SignedVersionMismatch { field, signed, announced }) => {
            assert_eq!((field.as_str(), signed.as_str(), announced.as_str()), ("signature", "1.2.3", "1.2.4"));
        }
        other => panic!("{other:?}"),
    }

    let sig = SignatureText::parse(SIG_V123).unwrap();
    let art = Artifact::new(ArtifactUrl::parse("https://example.com/a").unwrap(), sig);
    assert!(DynamicResponse::new(ReleaseInfo::new(v("1.2.3")), art.clone()).is_ok());
    assert!(matches!(
        DynamicResponse::new(ReleaseInfo::new(v("9.9.9")), art.clone()),
        Err(Error::SignedVersionMismatch { .. })
    ));
    let built = StaticManifest::builder(ReleaseInfo::new(v("9.9.9"))).platform(t("linux-x86_64"), art).build();
    assert!(
        matches!(built, Err(Error::SignedVersionMismatch { ref field, .. }) if field == "platforms.linux-x86_64.signature")
    );
}

// ---------------------------------------------------------------- producing

fn sample_manifest() -> StaticManifest {
    let release = ReleaseInfo::new(v("1.4.0"))
        .with_notes("Faster start-up.")
        .unwrap()
        .with_pub_date(time::OffsetDateTime::from_unix_timestamp(1_714_564_800).unwrap())
        .unwrap();
    StaticManifest::builder(release)
        .platform(t("linux-x86_64"), artifact("https://dl.example.com/1.4.0/app_amd64.AppImage"))
        .platform(t("linux-x86_64-appimage"), artifact("https://dl.example.com/1.4.0/app_amd64.AppImage"))
        .platform(t("linux-x86_64-deb"), artifact("https://dl.example.com/1.4.0/app_amd64.deb"))
        .platform(t("darwin-aarch64-app"), artifact("https://dl.example.com/1.4.0/app_aarch64.app.tar.gz"))
        .platform(t("windows-x86_64-nsis"), artifact("https://dl.example.com/1.4.0/app_x64-setup.exe"))
        .platform(
            t("windows-x86_64"),
            artifact("https://dl.example.com/1.4.0/app_x64-setup.exe").with_format(PackagerFormat::Nsis),
        )
        .build()
        .unwrap()
}

#[test]
fn produced_manifest_reparses_and_selects() {
    let built = sample_manifest();
    let json = built.to_json();
    let m = StaticManifest::parse(json.as_bytes()).unwrap();
    assert_eq!(m, built);

    let keys: Vec<&str> = m.platforms().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "darwin-aarch64-app",
            "linux-x86_64",
            "linux-x86_64-appimage",
            "linux-x86_64-deb",
            "macos-aarch64",
            "windows-x86_64",
            "windows-x86_64-nsis"
        ]
    );

    let (key, e) = m.select(&t("linux-x86_64-deb")).unwrap();
    assert_eq!(key, "linux-x86_64-deb");
    assert!(e.artifact().url().as_str().ends_with(".deb"));
    assert_eq!(e.artifact().format(), None);

    // A plain binary (no bundle): `{{bundle_type}}` is `unknown`.
    let plain = Target::from_request_vars("linux", "x86_64", Some("unknown")).unwrap();
    let (key, e) = m.select(&plain).unwrap();
    assert_eq!(key, "linux-x86_64");
    assert_eq!(e.artifact().format(), Some(PackagerFormat::AppImage));

    // An rpm install falls back to the bundle-less key, as Tauri does.
    assert_eq!(m.select(&t("linux-x86_64-rpm")).unwrap().0, "linux-x86_64");

    let (key, e) = m.select(&t("darwin-aarch64-app")).unwrap();
    assert_eq!(key, "darwin-aarch64-app");
    assert_eq!(e.artifact().format(), Some(PackagerFormat::App));

    // Via the alias: cargo-packager-updater's request variable, and its own key.
    let (key, _) = m.select(&Target::from_request_vars("macos", "aarch64", Some("app")).unwrap()).unwrap();
    assert_eq!(key, "darwin-aarch64-app");
    let twin = m.get(&t("macos-aarch64").cargo_packager_key()).unwrap();
    assert_eq!(twin.artifact().url().as_str(), "https://dl.example.com/1.4.0/app_aarch64.app.tar.gz");
    assert_eq!(twin.artifact().format(), Some(PackagerFormat::App));
    assert_eq!(twin.target(), &t("darwin-aarch64"));

    assert_eq!(m.select(&t("windows-x86_64-msi")).unwrap().0, "windows-x86_64");
    assert!(matches!(
        m.select(&t("darwin-x86_64-app")),
        Err(Error::TargetNotFound { tried }) if tried == ["darwin-x86_64-app", "darwin-x86_64"]
    ));

    // deb has no cargo-packager format: this manifest is for Tauri clients.
    assert!(!m.is_cargo_packager_compatible());
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["platforms"]["windows-x86_64-nsis"]["format"], "nsis");
    assert_eq!(json["platforms"]["linux-x86_64"]["format"], "appimage");
    assert!(json["platforms"]["linux-x86_64-deb"].get("format").is_none());
    assert_eq!(json["pub_date"], "2024-05-01T12:00:00Z");
    assert_eq!(json["version"], "1.4.0");
}

#[test]
fn produced_manifest_for_both_clients() {
    let m = StaticManifest::builder(ReleaseInfo::new(v("2.0.0")))
        .platform(t("darwin-aarch64"), artifact("https://dl.example.com/a.app.tar.gz"))
        .platform(t("darwin-aarch64-app"), artifact("https://dl.example.com/b.app.tar.gz"))
        .platform(t("linux-x86_64"), artifact("https://dl.example.com/a.AppImage"))
        .platform(t("windows-x86_64"), artifact("https://dl.example.com/a.msi").with_format(PackagerFormat::Wix))
        .build()
        .unwrap();
    assert!(m.is_cargo_packager_compatible());
    // The twin copies the bundle-less entry when there is one.
    assert_eq!(m.get("macos-aarch64").unwrap().artifact().url().as_str(), "https://dl.example.com/a.app.tar.gz");
    assert_eq!(StaticManifest::parse(m.to_json().as_bytes()).unwrap(), m);
}

#[test]
fn produced_dynamic_response_reparses() {
    let release = ReleaseInfo::new(v("v3.1.0-beta.2")).with_notes("ünïcödé \"notes\"\n").unwrap();
    let r = DynamicResponse::new(
        release,
        artifact("https://dl.example.com/app.msi?token=a%20b#frag").with_format(PackagerFormat::Wix),
    )
    .unwrap();
    let again = DynamicResponse::parse(r.to_json().as_bytes()).unwrap();
    assert_eq!(again, r);
    assert_eq!(again.release().version().to_string(), "3.1.0-beta.2");
    let value = TauriResponse::Dynamic(r).to_json_value();
    assert_eq!(value["format"], "wix");
    assert_eq!(value["signature"], SIG_PLAIN);
}

#[test]
fn offer_decision() {
    assert_eq!(NO_UPDATE_STATUS, 204);
    let r = TauriResponse::Static(sample_manifest());
    assert!(offers_update(&v("1.3.9"), &r));
    assert!(offers_update(&v("1.4.0-rc.1"), &r));
    assert!(!offers_update(&v("1.4.0"), &r));
    assert!(!offers_update(&v("1.4.0+other-build"), &r));
    assert!(!offers_update(&v("1.5.0"), &r));
    assert!(r.artifact_for(&t("linux-x86_64-deb")).unwrap().url().as_str().ends_with(".deb"));
}

// ---------------------------------------------------------------- every error path

#[test]
fn document_errors() {
    let sig = SIG_PLAIN;
    let url = "https://example.com/a";
    type Case = (String, fn(&Error) -> bool);
    let cases: Vec<Case> = vec![
        ("[]".into(), |e| matches!(e, Error::WrongType { field, .. } if field == "(document)")),
        ("{".into(), |e| matches!(e, Error::InvalidJson { .. })),
        (
            r#"{"version":"1.0.0","version":"2.0.0"}"#.into(),
            |e| matches!(e, Error::DuplicateKey { key } if key == "version"),
        ),
        (
            format!(r#"{{"url":"{url}","signature":"{sig}"}}"#),
            |e| matches!(e, Error::MissingField { field } if field == "version"),
        ),
        (
            format!(r#"{{"version":null,"url":"{url}","signature":"{sig}"}}"#),
            |e| matches!(e, Error::MissingField { field } if field == "version"),
        ),
        (
            format!(r#"{{"version":1,"url":"{url}","signature":"{sig}"}}"#),
            |e| matches!(e, Error::WrongType { field, .. } if field == "version"),
        ),
        (format!(r#"{{"version":"1.0.0","name":"1.0.0","url":"{url}","signature":"{sig}"}}"#), |e| {
            matches!(e, Error::VersionAndName)
        }),
        (
            format!(r#"{{"version":"1.0","url":"{url}","signature":"{sig}"}}"#),
            |e| matches!(e, Error::InvalidFieldVersion { field, source } if field == "version" && matches!(**source, Error::InvalidVersion { .. })),
        ),
        (
            format!(r#"{{"name":"x1.0.0","url":"{url}","signature":"{sig}"}}"#),
            |e| matches!(e, Error::InvalidFieldVersion { field, .. } if field == "name"),
        ),
        (
            format!(r#"{{"version":"1.0.0-{}","url":"{url}","signature":"{sig}"}}"#, "a".repeat(200)),
            |e| matches!(e, Error::InvalidFieldVersion { source, .. } if matches!(**source, Error::VersionTooLong { .. })),
        ),
        (dynamic_doc(r#","notes":5"#), |e| matches!(e, Error::WrongType { field, .. } if field == "notes")),
        (
            dynamic_doc(&format!(r#","notes":"{}""#, "n".repeat(limits::MAX_NOTES_LEN + 1))),
            |e| matches!(e, Error::FieldTooLong { field, max, .. } if field == "notes" && *max == limits::MAX_NOTES_LEN),
        ),
        (
            dynamic_doc(r#","pub_date":"2020-06-22 19:25:57""#),
            |e| matches!(e, Error::InvalidPubDate { field, .. } if field == "pub_date"),
        ),
        (dynamic_doc(r#","pub_date":"yesterday""#), |e| matches!(e, Error::InvalidPubDate { .. })),
        (dynamic_doc(r#","pub_date":"2020-02-30T00:00:00Z""#), |e| matches!(e, Error::InvalidPubDate { .. })),
        (
            dynamic_doc(r#","pub_date":1592853957"#),
            |e| matches!(e, Error::WrongType { field, .. } if field == "pub_date"),
        ),
        (
            dynamic_doc(&format!(r#","pub_date":"{}""#, "9".repeat(100))),
            |e| matches!(e, Error::FieldTooLong { field, .. } if field == "pub_date"),
        ),
        (
            dynamic_doc(r#","format":"msi""#),
            |e| matches!(e, Error::UnknownFormat { field, value } if field == "format" && value == "msi"),
        ),
        (dynamic_doc(r#","format":true"#), |e| matches!(e, Error::WrongType { field, .. } if field == "format")),
        (dynamic_doc(r#","platforms":{}"#), |e| matches!(e, Error::AmbiguousShape { field: "url" })),
        (
            format!(r#"{{"version":"1.0.0","signature":"{sig}"}}"#),
            |e| matches!(e, Error::MissingField { field } if field == "url"),
        ),
        (
            format!(r#"{{"version":"1.0.0","url":"{url}"}}"#),
            |e| matches!(e, Error::MissingField { field } if field == "signature"),
        ),
        (
            format!(r#"{{"version":"1.0.0","url":"{url}","signature":null}}"#),
            |e| matches!(e, Error::MissingField { field } if field == "signature"),
        ),
        (
            format!(r#"{{"version":"1.0.0","url":"app.tar.gz","signature":"{sig}"}}"#),
            |e| matches!(e, Error::InvalidUrl { field, .. } if field == "url"),
        ),
        (
            format!(r#"{{"version":"1.0.0","url":"file:///tmp/app","signature":"{sig}"}}"#),
            |e| matches!(e, Error::UrlNotHttp { field, scheme } if field == "url" && scheme == "file"),
        ),
        (
            format!(r#"{{"version":"1.0.0","url":"https://e.com/{}","signature":"{sig}"}}"#, "a".repeat(3000)),
            |e| matches!(e, Error::FieldTooLong { field, .. } if field == "url"),
        ),
        (
            format!(r#"{{"version":"1.0.0","url":"{url}","signature":["x"]}}"#),
            |e| matches!(e, Error::WrongType { field, .. } if field == "signature"),
        ),
        (
            format!(
                r#"{{"version":"1.0.0","url":"{url}","signature":"{}"}}"#,
                SIG_PLAIN_MINISIGN.replace('\n', "\\n").replace('\t', "\\t")
            ),
            |e| matches!(e, Error::SignatureNotBase64 { field } if field == "signature"),
        ),
        (
            format!(r#"{{"version":"1.0.0","url":"{url}","signature":"aGVsbG8="}}"#),
            |e| matches!(e, Error::InvalidSignature { field, .. } if field == "signature"),
        ),
        (
            format!(r#"{{"version":"1.0.0","url":"{url}","signature":"{}"}}"#, "A".repeat(5000)),
            |e| matches!(e, Error::FieldTooLong { field, .. } if field == "signature"),
        ),
        (
            r#"{"version":"1.0.0","platforms":[]}"#.into(),
            |e| matches!(e, Error::WrongType { field, .. } if field == "platforms"),
        ),
        (r#"{"version":"1.0.0","platforms":{}}"#.into(), |e| matches!(e, Error::NoPlatforms)),
        (
            format!(
                r#"{{"version":"1.0.0","platforms":{{"linux-x86_64":{{"url":"{url}","signature":"{sig}"}}}},"format":"app"}}"#
            ),
            |e| matches!(e, Error::AmbiguousShape { field: "format" }),
        ),
        (
            format!(
                r#"{{"version":"1.0.0","platforms":{{"darwin-universal":{{"url":"{url}","signature":"{sig}"}}}}}}"#
            ),
            |e| matches!(e, Error::InvalidPlatformKey { key, source } if key == "darwin-universal" && matches!(**source, Error::UnknownArch { .. })),
        ),
        (
            format!(
                r#"{{"version":"1.0.0","platforms":{{"windows-x86_64-deb":{{"url":"{url}","signature":"{sig}"}}}}}}"#
            ),
            |e| matches!(e, Error::InvalidPlatformKey { source, .. } if matches!(**source, Error::BundleNotForOs { .. })),
        ),
        (
            format!(r#"{{"version":"1.0.0","platforms":{{"linux-x86_64":"{url}"}}}}"#),
            |e| matches!(e, Error::WrongType { field, .. } if field == "platforms.linux-x86_64"),
        ),
        (
            format!(r#"{{"version":"1.0.0","platforms":{{"linux-x86_64":{{"signature":"{sig}"}}}}}}"#),
            |e| matches!(e, Error::MissingField { field } if field == "platforms.linux-x86_64.url"),
        ),
        (
            format!(
                r#"{{"version":"1.0.0","platforms":{{"linux-x86_64":{{"url":"ftp://x/y","signature":"{sig}"}}}}}}"#
            ),
            |e| matches!(e, Error::UrlNotHttp { field, .. } if field == "platforms.linux-x86_64.url"),
        ),
        (
            format!(r#"{{"version":"1.0.0","platforms":{{"linux-x86_64":{{"url":"{url}","signature":"bm9wZQ=="}}}}}}"#),
            |e| matches!(e, Error::InvalidSignature { field, .. } if field == "platforms.linux-x86_64.signature"),
        ),
        (
            format!(
                r#"{{"version":"1.0.0","platforms":{{"linux-x86_64":{{"url":"{url}","signature":"{sig}","format":"nsis"}}}}}}"#
            ),
            |e| matches!(e, Error::FormatNotForTarget { target, format: "nsis" } if target == "linux-x86_64"),
        ),
        (
            format!(
                r#"{{"version":"1.0.0","platforms":{{"linux-x86_64":{{"url":"{url}","signature":"{sig}","format":"zip"}}}}}}"#
            ),
            |e| matches!(e, Error::UnknownFormat { field, .. } if field == "platforms.linux-x86_64.format"),
        ),
        (
            format!(
                r#"{{"version":"1.0.0","platforms":{{"linux-x86_64":{{"url":"{url}","url":"{url}","signature":"{sig}"}}}}}}"#
            ),
            |e| matches!(e, Error::DuplicateKey { key } if key == "url"),
        ),
    ];
    for (doc, check) in cases {
        match parse(&doc) {
            Err(e) => {
                assert!(check(&e), "{doc:.200}\n  gave {e:?}");
                let msg = e.to_string();
                assert!(msg.starts_with(|c: char| !c.is_uppercase()), "message not lowercase: {msg}");
            }
            Ok(r) => panic!("{doc:.200}\n  parsed: {r:?}"),
        }
    }
}

#[test]
fn size_limits() {
    let too_many: Vec<String> = (0..=limits::MAX_PLATFORMS).map(|i| format!(r#""linux-x86_64-x{i}":{{}}"#)).collect();
    let doc = format!(r#"{{"version":"1.0.0","platforms":{{{}}}}}"#, too_many.join(","));
    assert!(matches!(parse(&doc), Err(Error::TooManyPlatforms { count: 65, max: 64 })));

    let pad = "x".repeat(limits::MAX_DOCUMENT_LEN);
    let doc = dynamic_doc(&format!(r#","padding":"{pad}""#));
    assert!(matches!(parse(&doc), Err(Error::DocumentTooLarge { .. })));

    // A big but legal document is fine, and its unknown fields are kept.
    let pad = "x".repeat(limits::MAX_DOCUMENT_LEN - 2000);
    let doc = dynamic_doc(&format!(r#","padding":"{pad}""#));
    let r = DynamicResponse::parse(doc.as_bytes()).unwrap();
    assert_eq!(r.extra()["padding"].as_str().map(str::len), Some(pad.len()));
}

#[test]
fn builder_errors() {
    let release = || ReleaseInfo::new(v("1.0.0"));
    assert!(matches!(StaticManifest::builder(release()).build(), Err(Error::NoPlatforms)));
    let dup = StaticManifest::builder(release())
        .platform(t("linux-x86_64"), artifact("https://e.com/a"))
        .platform(t("linux-x86_64"), artifact("https://e.com/b"))
        .build();
    assert!(matches!(dup, Err(Error::DuplicatePlatform { key }) if key == "linux-x86_64"));
    let wrong = StaticManifest::builder(release())
        .platform(t("darwin-aarch64"), artifact("https://e.com/a").with_format(PackagerFormat::Wix))
        .build();
    assert!(matches!(wrong, Err(Error::FormatNotForTarget { format: "wix", .. })));
    let mut many = StaticManifest::builder(release());
    for os in Os::ALL {
        for arch in Arch::ALL {
            for &bundle in os.bundle_types() {
                many = many.platform(Target::new(os, arch, Some(bundle)).unwrap(), artifact("https://e.com/a"));
            }
            many = many.platform(Target::new(os, arch, None).unwrap(), artifact("https://e.com/a"));
        }
    }
    // 45 targets plus 5 macOS twins fit.
    let m = many.clone().build().unwrap();
    assert_eq!(m.platforms().count(), 50);
    assert!(matches!(
        ReleaseInfo::new(v("1.0.0")).with_notes("n".repeat(limits::MAX_NOTES_LEN + 1)),
        Err(Error::FieldTooLong { .. })
    ));
    assert!(matches!(ArtifactUrl::parse("data:text/plain,hi"), Err(Error::UrlNotHttp { .. })));
    assert!(matches!(SignatureText::parse(SIG_PLAIN_MINISIGN), Err(Error::SignatureNotBase64 { .. })));
}

#[test]
fn wrong_shape() {
    let m = sample_manifest().to_json();
    assert!(matches!(
        DynamicResponse::parse(m.as_bytes()),
        Err(Error::WrongShape { expected: "dynamic", found: "static" })
    ));
    assert!(matches!(
        StaticManifest::parse(dynamic_doc("").as_bytes()),
        Err(Error::WrongShape { expected: "static", found: "dynamic" })
    ));
}

#[test]
fn untrusted_text_in_messages_is_cut_and_escaped() {
    let key = format!("linux-{}\u{1b}[31m", "x".repeat(300));
    let doc = format!(r#"{{"version":"1.0.0","platforms":{{"{key}":{{}}}}}}"#).replace('\u{1b}', "\\u001b");
    let msg = parse(&doc).unwrap_err().to_string();
    assert!(msg.len() < 300, "{msg}");
    assert!(!msg.contains('\u{1b}'));
}

// ---------------------------------------------------------------- properties

fn arb_target() -> impl Strategy<Value = Target> {
    (0..3usize, 0..5usize, 0..4usize).prop_map(|(o, a, b)| {
        let os = Os::ALL[o];
        let bundle = os.bundle_types().get(b).copied();
        Target::new(os, Arch::ALL[a], bundle).unwrap()
    })
}

proptest! {
    #[test]
    fn target_display_from_str_round_trip(target in arb_target()) {
        prop_assert_eq!(target.to_string().parse::<Target>().unwrap(), target);
        let alias = target.to_string().replace("darwin", "macos");
        prop_assert_eq!(alias.parse::<Target>().unwrap(), target);
    }

    #[test]
    fn version_display_parse_round_trip(
        major in 0u64..1_000_000, minor in 0u64..1000, patch in 0u64..1000,
        pre in proptest::option::of("[a-z]{1,8}(\\.(0|[1-9][0-9]{0,2}))?"),
        build in proptest::option::of("[a-z0-9]{1,8}"),
    ) {
        let mut text = format!("{major}.{minor}.{patch}");
        if let Some(pre) = pre { text = format!("{text}-{pre}"); }
        if let Some(build) = build { text = format!("{text}+{build}"); }
        let parsed = Version::parse(&text).unwrap();
        prop_assert_eq!(parsed.to_string(), text.clone());
        prop_assert_eq!(Version::from_request_segment(&parsed.to_request_segment()).unwrap(), parsed.clone());
        prop_assert!(!parsed.is_update_over(&parsed));
    }

    #[test]
    fn parsers_never_panic_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = TauriResponse::parse(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = text.parse::<Target>();
        let _ = Version::parse(&text);
        let _ = Version::from_request_segment(&text);
    }

    #[test]
    fn parser_never_panics_on_near_valid_documents(
        version in "v?[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-[a-z.0-9]{0,6})?",
        key in "(linux|darwin|macos|windows|x)-(x86_64|aarch64|i686|y)(-(deb|app|nsis|msi|unknown))?",
        url in "(https?|ftp)://[a-z.]{0,10}/[ -~]{0,20}",
        date in prop_oneof![
            "20[0-9]{2}-0[1-9]-[12][0-9]T[01][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]0[0-9]:[03]0)",
            "[0-9T:Z+.-]{0,30}",
        ],
        sig in prop_oneof![Just(SIG_PLAIN.to_string()), "[A-Za-z0-9+/=]{0,40}"],
    ) {
        let doc = serde_json::json!({
            "version": version, "pub_date": date,
            "platforms": { key: { "url": url, "signature": sig } },
        });
        if let Ok(TauriResponse::Static(m)) = TauriResponse::parse(doc.to_string().as_bytes()) {
            // Whatever parses, re-parses to the same value.
            prop_assert_eq!(StaticManifest::parse(m.to_json().as_bytes()).unwrap(), m);
        }
    }
}

// ---------------------------------------------------------------- fuzz seeds

/// The fuzzers' seed documents are valid: a seed the parser rejects would only fuzz the error path.
#[test]
fn fuzz_seeds_parse() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    for (dir, want_static) in [("tauri_dynamic", false), ("tauri_static", true)] {
        let mut count = 0;
        for entry in std::fs::read_dir(seeds.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let parsed = TauriResponse::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(matches!(parsed, TauriResponse::Static(_)), want_static, "{}", path.display());
            count += 1;
        }
        assert!(count >= 3, "{dir}");
    }
    for entry in std::fs::read_dir(seeds.join("version")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for part in text.split(' ') {
            assert!(Version::from_request_segment(part).is_ok(), "{part}");
        }
    }
}

#[test]
fn min_webview_version_is_read_written_and_validated() {
    let response = parse(&dynamic_doc(r#","min_webview_version":"2.44.1""#)).unwrap();
    assert_eq!(response.release().min_webview_version().map(ToString::to_string).as_deref(), Some("2.44.1"));
    let plain = parse(&dynamic_doc("")).unwrap();
    assert_eq!(plain.release().min_webview_version(), None);
    let null = parse(&dynamic_doc(r#","min_webview_version":null"#)).unwrap();
    assert_eq!(null.release().min_webview_version(), None);

    for bad in [r#""2.x""#, r#""""#, r#""1.2.3.4.5""#, r#""2..4""#, r#""99999999999""#, r#"" 2.44""#] {
        let error = parse(&dynamic_doc(&format!(r#","min_webview_version":{bad}"#))).unwrap_err().to_string();
        assert!(error.contains("`min_webview_version` is not a webview version"), "{bad}: {error}");
    }
    let error = parse(&dynamic_doc(r#","min_webview_version":2.44"#)).unwrap_err().to_string();
    assert!(error.contains("min_webview_version"), "{error}");

    let release = ReleaseInfo::new(v("1.2.3")).with_min_webview_version("124.0.2478.80".parse().unwrap());
    let written =
        DynamicResponse::new(release.clone(), artifact("https://example.com/app.AppImage")).unwrap().to_json();
    let value: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(value["min_webview_version"], "124.0.2478.80");
    assert_eq!(parse(&written).unwrap().release(), &release);
    // A static manifest serves many backends: the release-wide value would be ambiguous, so the builder refuses it.
    let refused = StaticManifest::builder(release)
        .platform(t("linux-x86_64"), artifact("https://example.com/app.AppImage"))
        .build()
        .unwrap_err();
    assert!(matches!(refused, Error::MinWebviewNotPerPlatform), "{refused}");
    assert!(matches!(
        "v2".parse::<millennium_update_protocol::webview::WebviewVersion>(),
        Err(millennium_update_protocol::webview::Error::InvalidVersion { .. })
    ));
}

#[test]
fn static_manifests_state_the_minimum_webview_version_per_platform() {
    let minimums: WebviewMinimums = "webkitgtk=2.44,webview2=124.0".parse().unwrap();
    let manifest = StaticManifest::builder(ReleaseInfo::new(v("1.2.3")))
        .platform(t("linux-x86_64"), artifact("https://example.com/app.AppImage"))
        .platform(t("linux-x86_64-deb"), artifact("https://example.com/app.deb"))
        .platform(t("windows-x86_64-nsis"), artifact("https://example.com/app-setup.exe"))
        .platform(t("darwin-aarch64"), artifact("https://example.com/app.app.tar.gz"))
        .min_webview_versions(minimums)
        .build()
        .unwrap();
    let value = manifest.to_json_value();
    assert!(value.get("min_webview_version").is_none(), "{value}");
    let platforms = &value["platforms"];
    assert_eq!(platforms["linux-x86_64"]["min_webview_version"], "2.44");
    assert_eq!(platforms["linux-x86_64-deb"]["min_webview_version"], "2.44");
    assert_eq!(platforms["windows-x86_64-nsis"]["min_webview_version"], "124.0");
    // No macOS minimum: the entries have none (nor does the cargo-packager twin).
    assert!(platforms["darwin-aarch64"].get("min_webview_version").is_none(), "{value}");
    assert!(platforms["macos-aarch64"].get("min_webview_version").is_none(), "{value}");

    // What is written re-parses to the same, and each client finds its own backend's minimum.
    let parsed = parse(&manifest.to_json()).unwrap();
    assert_eq!(parsed, TauriResponse::Static(manifest.clone()));
    let min = |target: &str| parsed.min_webview_version_for(&t(target)).map(ToString::to_string);
    assert_eq!(min("linux-x86_64-appimage").as_deref(), Some("2.44"));
    assert_eq!(min("windows-x86_64-nsis").as_deref(), Some("124.0"));
    assert_eq!(min("darwin-aarch64-app"), None);
    assert_eq!(min("linux-aarch64"), None, "no entry, no minimum");
    assert_eq!(parsed.release().min_webview_version(), None);

    // Malformed entries are refused, naming the entry.
    for bad in [r#""2.x""#, r#""""#, r#""webkitgtk=2.44""#, "2.44", r#"{"webkitgtk":"2.44"}"#] {
        let doc = format!(
            r#"{{"version":"1.2.3","platforms":{{"linux-x86_64":{{"url":"https://example.com/a","signature":"{SIG_PLAIN}","min_webview_version":{bad}}}}}}}"#
        );
        let error = parse(&doc).unwrap_err().to_string();
        assert!(error.contains("platforms.linux-x86_64.min_webview_version"), "{bad}: {error}");
    }
}

#[test]
fn a_legacy_top_level_minimum_in_a_static_manifest_is_the_webkitgtk_one() {
    // Written before minimums were per backend, when only Linux bundles declared one.
    let doc = format!(
        r#"{{"version":"1.2.3","min_webview_version":"2.40","platforms":{{
            "linux-x86_64":{{"url":"https://example.com/a","signature":"{SIG_PLAIN}"}},
            "linux-aarch64":{{"url":"https://example.com/b","signature":"{SIG_PLAIN}","min_webview_version":"2.42"}},
            "windows-x86_64":{{"url":"https://example.com/c","signature":"{SIG_PLAIN}"}}}}}}"#
    );
    let parsed = parse(&doc).unwrap();
    let min = |target: &str| parsed.min_webview_version_for(&t(target)).map(ToString::to_string);
    assert_eq!(min("linux-x86_64").as_deref(), Some("2.40"));
    assert_eq!(min("linux-aarch64").as_deref(), Some("2.42"), "an entry's own value wins");
    assert_eq!(min("windows-x86_64"), None, "a WebKitGTK number says nothing about WebView2");
    let written = parsed.to_json_value();
    assert!(written.get("min_webview_version").is_none(), "{written}");
    assert_eq!(written["platforms"]["linux-x86_64"]["min_webview_version"], "2.40");
    assert_eq!(parse(&written.to_string()).unwrap(), parsed);
    let bad = doc.replace(r#""min_webview_version":"2.40""#, r#""min_webview_version":"2.x""#);
    assert!(parse(&bad).unwrap_err().to_string().contains("`min_webview_version` is not a webview version"));
}

#[test]
fn dynamic_answers_carry_the_minimum_of_the_requested_target() {
    let parsed = parse(&dynamic_doc(r#","min_webview_version":"124.0""#)).unwrap();
    assert_eq!(parsed.min_webview_version_for(&t("windows-x86_64")).map(ToString::to_string).as_deref(), Some("124.0"));
    assert_eq!(parse(&dynamic_doc("")).unwrap().min_webview_version_for(&t("windows-x86_64")), None);
    // Tauri's own files have none of this and still parse.
    let tauri = format!(
        r#"{{"version":"1.2.3","notes":"n","pub_date":"2024-01-01T00:00:00Z","platforms":{{"linux-x86_64":{{"url":"https://example.com/a","signature":"{SIG_PLAIN}"}}}}}}"#
    );
    assert_eq!(parse(&tauri).unwrap().min_webview_version_for(&t("linux-x86_64")), None);
}

// ---------------------------------------------------------------- delta offers

const HASH_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const HASH_B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn delta_json(fields: &str) -> String {
    format!(
        r#"{{"from":"{HASH_A}","url":"https://example.com/d","size":1234,"blake2b_256":"{HASH_B}","encoder":"bsdiff"{fields}}}"#
    )
}

#[test]
fn an_answer_without_deltas_is_written_exactly_as_before() {
    use millennium_update_protocol::delta::{Blake2b256, DeltaOffer};
    let plain =
        DynamicResponse::new(ReleaseInfo::new(v("1.2.3")), artifact("https://example.com/app.AppImage")).unwrap();
    let before = plain.to_json();
    assert!(!before.contains("deltas"), "{before}");
    let empty = plain.clone().with_deltas(Vec::new()).unwrap();
    assert_eq!(empty.to_json(), before, "an empty list is not written");
    let offer = DeltaOffer {
        from: Blake2b256::parse_hex(HASH_A, "from").unwrap(),
        url: ArtifactUrl::parse("https://example.com/delta").unwrap(),
        size: 10_092,
        blake2b_256: Blake2b256::parse_hex(HASH_B, "hash").unwrap(),
        encoder: "bsdiff".into(),
        alternatives: Vec::new(),
    };
    let with = plain.with_deltas(vec![offer.clone()]).unwrap();
    let text = with.to_json();
    let back = DynamicResponse::parse(text.as_bytes()).unwrap();
    assert_eq!(back.deltas(), &[offer][..]);
    assert!(back.extra().is_empty(), "`deltas` is a known field, not an unknown one: {:?}", back.extra());
}

#[test]
fn a_dynamic_answer_with_a_malformed_delta_list_is_refused_with_the_field_named() {
    let cases = [
        (r#","deltas":{}"#.to_owned(), "deltas"),
        (format!(r#","deltas":[{}]"#, delta_json(r#","size":-1"#).replace(r#""size":1234,"#, "")), "deltas[0].size"),
        (format!(r#","deltas":[{}]"#, delta_json("").replace(HASH_A, "abc")), "deltas[0].from"),
        (
            format!(r#","deltas":[{}]"#, delta_json("").replace("https://example.com/d", "file:///etc/passwd")),
            "deltas[0].url",
        ),
        (format!(r#","deltas":[{}]"#, delta_json("").replace("bsdiff", "BS DIFF")), "deltas[0].encoder"),
        (format!(r#","deltas":[{}]"#, vec![delta_json(""); 9].join(",")), "deltas"),
    ];
    for (fields, field) in cases {
        let error = parse(&dynamic_doc(&fields)).unwrap_err().to_string();
        assert!(error.contains(field), "{field}: {error}");
    }
    let ok = parse(&dynamic_doc(&format!(r#","deltas":[{}]"#, delta_json("")))).unwrap();
    let TauriResponse::Dynamic(ok) = ok else { panic!("dynamic") };
    assert_eq!(ok.deltas().len(), 1);
    assert_eq!(ok.deltas()[0].size, 1234);
}
