//! Signed metadata on the server (`docs/protocol.md` §7): roots, online keys and release documents administered with
//! the real CLI (run in-process) against a server on loopback, and every document the server serves checked with
//! the protocol crate's client-side [`TrustState`], as `millennium-updater` checks it. Runs against SQLite + files,
//! or PostgreSQL + S3 under `scripts/with-server-backends`.

// Helpers outside `#[test]` functions state their expectations with `unwrap()` too.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use millennium_sign::{Format, PublicKey, SecretKey, SecretKeyBox, Signature, TrustedComment};
use millennium_testing::keys::write_key;
use millennium_testing::metadata::release_document;
use millennium_testing::server::{ADMIN_TOKEN, Backend, RegisteredApp, TestServer};
use millennium_update_admin::api::{Promote, PublishRequest, Scope};
use millennium_update_admin::client::UploadArtifact;
use millennium_update_protocol::metadata::{ArtifactInfo, Envelope, Freshness, Kind, Release, Root, TrustState};
use millennium_update_protocol::{Target, Version};
use millennium_update_server::names::AppId;
use millennium_update_server::server::metadata;
use millennium_update_server::{AppState, ServerConfig, cli};
use serde_json::Value;
use time::OffsetDateTime;

const APP: &str = "demo";
const TARGET: &str = "linux-x86_64";

/// A server on the test backend with `demo` registered, and the app admin's release key and token.
struct Ctx {
    server: TestServer,
    app: RegisteredApp,
    /// Root keys a, b and c of the recommended setup (2 of 3), each with its key and public key files.
    root_keys: Vec<(SecretKey, PathBuf, PathBuf)>,
}

/// A typed answer as the JSON it is sent as.
fn json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

impl Ctx {
    async fn new() -> Ctx {
        Self::with_lifetime(std::time::Duration::from_secs(3600)).await
    }

    async fn with_lifetime(lifetime: std::time::Duration) -> Ctx {
        Self::with_config(|mut config| {
            config.freshness_lifetime = lifetime;
            config
        })
        .await
    }

    async fn with_config(configure: impl FnOnce(ServerConfig) -> ServerConfig) -> Ctx {
        let server = TestServer::start_with(Backend::for_dir, configure).await;
        let app = server.register(APP, Scope::Admin).await;
        let root_keys = ["a", "b", "c"]
            .iter()
            .map(|name| {
                let key = SecretKey::generate().unwrap();
                let dir = server.dir.path();
                let (file, public) = (dir.join(format!("root-{name}.key")), dir.join(format!("root-{name}.pub")));
                write_key(&file, &key);
                std::fs::write(&public, key.public_key().to_text(Format::Minisign)).unwrap();
                (key, file, public)
            })
            .collect();
        Ctx { server, app, root_keys }
    }

    /// Root key `i` (0 = a), as a secret key file path.
    fn root_key(&self, i: usize) -> &str {
        self.root_keys[i].1.to_str().unwrap()
    }

    /// Generates an online key through the CLI; its id and a file holding its public key.
    async fn online_key(&self) -> (String, String) {
        let key = self.cli(&["online-key", "generate", "--app", APP]).await.unwrap();
        let id = key["key_id"].as_str().unwrap().to_owned();
        let file = self.server.dir.path().join(format!("online-{id}.pub"));
        std::fs::write(&file, key["public_key"].as_str().unwrap()).unwrap();
        (id, file.to_str().unwrap().to_owned())
    }

    /// Runs a CLI subcommand (in-process, as `--json`) with the app admin token.
    async fn cli(&self, args: &[&str]) -> Result<Value, millennium_update_admin::Error> {
        self.app.cli(args).await
    }

    /// The public key of the server's online key `id`.
    async fn online_public_key(&self, id: &str) -> PublicKey {
        let status = self.server.admin.metadata_status(APP).await.unwrap();
        let key = status.online_keys.iter().find(|k| k.key_id == id).unwrap();
        PublicKey::from_text(&key.public_key).unwrap()
    }

    /// Generates the online key and uploads root 1 of the recommended setup through the CLI: root keys a, b and c,
    /// 2 of them needed (a and b sign), and the release key, which root 1 needs too.
    async fn init_root(&self) -> String {
        let (id, online) = self.online_key().await;
        let mut args = vec!["root", "sign", "--app", APP, "--release-key", self.app.key_file.to_str().unwrap()];
        args.extend(["--root-key", self.root_key(0), "--root-key", self.root_key(1), "--threshold", "2"]);
        for (_, _, public) in &self.root_keys {
            args.extend(["--root-public-key", public.to_str().unwrap()]);
        }
        args.extend(["--online-key", &online]);
        let root = self.cli(&args).await.unwrap();
        assert_eq!((root["version"].clone(), root["uploaded"].clone()), (1.into(), true.into()), "{root}");
        assert_eq!(root["root_threshold"], 2);
        id
    }

    /// An artifact file for `version`, signed with `key`.
    fn artifact(&self, version: &str, key: &SecretKey) -> UploadArtifact {
        self.app.artifact(version, TARGET, format!("#!/bin/sh\necho {version}\n").repeat(300).as_bytes(), key)
    }

    /// Publishes through the CLI (which signs the release document when the app has a root).
    async fn publish(&self, version: &str, extra: &[&str]) -> Result<Value, millennium_update_admin::Error> {
        self.app.cli_publish(version, &[self.artifact(version, &self.app.key)], extra).await
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.server.get(path).await
    }

    async fn document(&self, path: &str) -> Envelope {
        let response = self.get(&format!("/metadata/{APP}/{path}")).await;
        assert_eq!(response.status(), 200, "{path}");
        Envelope::parse(&response.bytes().await.unwrap()).unwrap()
    }

    async fn roots(&self) -> Vec<Envelope> {
        let text = self.get(&format!("/metadata/{APP}/roots.json")).await.text().await.unwrap();
        millennium_update_admin::offline::parse_roots(&text).unwrap()
    }

    /// What a client pinned to the app's first key trusts after reading the served roots, freshness document and the
    /// yank list it pins.
    async fn client_view(&self) -> (TrustState, Freshness) {
        let mut trust = TrustState::bootstrap(APP, &self.app.key.public_key(), &self.roots().await).unwrap();
        let freshness = self.document("freshness.json").await;
        let checked = trust.check_freshness(&freshness, OffsetDateTime::now_utc()).unwrap();
        if trust.needs_yanks(&checked) {
            trust.check_yanks(&checked, &self.document("yanks.json").await).unwrap();
        }
        (trust, checked)
    }

    fn offered(freshness: &Freshness) -> Vec<(String, u8)> {
        freshness
            .channels
            .get("stable")
            .map_or_else(Vec::new, |heads| heads.iter().map(|h| (h.version.to_string(), h.rollout)).collect())
    }
}

#[tokio::test]
async fn signed_metadata_is_administered_through_the_cli_and_verifies_as_clients_check_it() {
    let ctx = Ctx::new().await;
    // No root yet: no signed metadata, and publishing works as it always did (Tauri clients see no change).
    let r = ctx.get(&format!("/metadata/{APP}/roots.json")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "not_found");
    assert_eq!(ctx.get(&format!("/metadata/{APP}/freshness.json")).await.status(), 404);
    ctx.publish("1.0.0", &[]).await.unwrap();
    let err = ctx.publish("1.0.1", &["--release-key", ctx.app.key_file.to_str().unwrap()]).await.unwrap_err();
    assert!(err.to_string().contains("no signed metadata"), "{err}");

    let online = ctx.init_root().await;
    let (trust, freshness) = ctx.client_view().await;
    assert_eq!(trust.root_version, 1);
    assert!(ctx.document("freshness.json").await.signatures[0].len() > 10);
    assert!(Ctx::offered(&freshness).is_empty(), "1.0.0 has no release document: not offered");
    let status = ctx.cli(&["releases", "list", "--app", APP]).await.unwrap();
    assert_eq!(status["releases"].as_array().unwrap().len(), 1);
    let status = json(ctx.server.admin.metadata_status(APP).await.unwrap());
    assert_eq!(status["online_keys"][0]["key_id"], online);
    assert_eq!(status["online_keys"][0]["in_root"], true);

    // With a root, a publish needs the release document; the CLI signs it with the release key.
    let err = ctx.publish("1.1.0", &[]).await.unwrap_err();
    assert!(err.to_string().contains("release key"), "{err}");
    let key = ctx.app.key_file.to_str().unwrap();
    ctx.publish("1.1.0", &["--release-key", key, "--min-webview-version", "webview2=124.0,webkitgtk=2.44"])
        .await
        .unwrap();
    ctx.publish("1.2.0", &["--release-key", ctx.app.key_file.to_str().unwrap(), "--rollout", "30"]).await.unwrap();
    let (trust, freshness) = ctx.client_view().await;
    assert_eq!(Ctx::offered(&freshness), [("1.2.0".to_owned(), 30), ("1.1.0".to_owned(), 100)]);
    let release = ctx.document("channels/stable/releases/1.1.0.json").await;
    let verified = trust.check_release(&freshness, "stable", &release).unwrap();
    assert_eq!(verified.release.sequence, 1);
    // The CLI signs the minimums per backend into the document, as the object form.
    assert!(
        release.payload.contains(r#""min_webview_version":{"webkitgtk":"2.44","webview2":"124.0"}"#),
        "{}",
        release.payload
    );
    assert_eq!(verified.release.min_webview_version.to_string(), "webkitgtk=2.44,webview2=124.0");
    let info = verified.release.artifact(&TARGET.parse::<Target>().unwrap()).unwrap().clone();

    // The artifact under the metadata tree is the download route's: same bytes, ETag and ranges.
    let file_path = format!("/metadata/{APP}/files/1.1.0/{TARGET}/{}", info.file);
    let whole = ctx.get(&file_path).await;
    let etag = whole.headers()["etag"].clone();
    let bytes = whole.bytes().await.unwrap();
    let mut check = verified.artifact_check(&TARGET.parse().unwrap()).unwrap();
    check.update(&bytes).unwrap();
    check.finish().unwrap();
    let download = ctx.get(&format!("/download/{APP}/1.1.0/{TARGET}/{}", info.file)).await;
    assert_eq!(download.headers()["etag"], etag);
    let ranged = reqwest::Client::new()
        .get(format!("{}{file_path}", ctx.server.url))
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await.unwrap(), bytes[10..20]);

    // Promote, rollout change and yank each re-sign the freshness document with a higher sequence.
    ctx.cli(&[
        "promote",
        "--app",
        APP,
        "--version",
        "1.1.0",
        "--to",
        "beta",
        "--release-key",
        ctx.app.key_file.to_str().unwrap(),
    ])
    .await
    .unwrap();
    let (trust, after_promote) = ctx.client_view().await;
    assert!(after_promote.sequence > freshness.sequence);
    let beta = ctx.document("channels/beta/releases/1.1.0.json").await;
    let promoted = trust.check_release(&after_promote, "beta", &beta).unwrap();
    assert_eq!(promoted.release.sequence, 1);
    assert_eq!(promoted.release.min_webview_version, verified.release.min_webview_version, "promote keeps them");

    // A promote document with other minimums than the release's is refused, naming both.
    let mut changed: Release = serde_json::from_str(&beta.payload).unwrap();
    changed.channel = "nightly".into();
    changed.min_webview_version = "webkitgtk=2.44".parse().unwrap();
    let envelope = Envelope::sign(&changed, Kind::Release, &[&ctx.app.key]).unwrap();
    let promote = Promote { to: "nightly".into(), rollout: None, force: false, release_document: Some(envelope) };
    let publisher = ctx.app.client();
    let err = publisher.promote(APP, &Version::parse("1.1.0").unwrap(), &promote).await.unwrap_err().to_string();
    assert!(
        err.contains("minimum webview versions (`webkitgtk=2.44`) differ")
            && err.contains("`webkitgtk=2.44,webview2=124.0`"),
        "{err}"
    );
    ctx.cli(&["rollout", "set", "--app", APP, "--version", "1.2.0", "50"]).await.unwrap();
    let (_, after_rollout) = ctx.client_view().await;
    assert_eq!(Ctx::offered(&after_rollout), [("1.2.0".to_owned(), 50), ("1.1.0".to_owned(), 100)]);
    // The app's root has root keys, so yanking needs the next yank list, signed with the release key: the server
    // refuses it without, and the CLI signs it.
    let err = publisher.yank(APP, &Version::parse("1.1.0").unwrap(), true, None).await.unwrap_err();
    assert_eq!(err.code(), "yank_list_required", "{err}");
    let key = ctx.app.key_file.to_str().unwrap();
    ctx.cli(&["yank", "--app", APP, "--version", "1.1.0", "--release-key", key]).await.unwrap();
    let yanks = ctx.document("yanks.json").await;
    let status = json(ctx.server.admin.metadata_status(APP).await.unwrap());
    assert_eq!((status["yanks"]["sequence"].clone(), status["signed_yanks"].clone()), (1.into(), true.into()));
    let (trust, after_yank) = ctx.client_view().await;
    assert_eq!(after_yank.yanks.as_ref().map(|pin| (pin.sequence, pin.hash.clone())), Some((1, yanks.hash())));
    assert_eq!(trust.yanks.unwrap().versions, [Version::parse("1.1.0").unwrap()]);
    assert_eq!(Ctx::offered(&after_yank), [("1.2.0".to_owned(), 50)], "a yanked release is not offered");
    assert!(after_yank.sequence > after_rollout.sequence);
    assert_eq!(ctx.get(&format!("/metadata/{APP}/channels/stable/releases/1.1.0.json")).await.status(), 410);

    // Unknown documents are 404 with the server's JSON error body.
    for path in
        ["channels/stable/releases/9.9.9.json", "channels/stable/releases/1.2.0", "channels/nope/releases/1.2.0.json"]
    {
        let r = ctx.get(&format!("/metadata/{APP}/{path}")).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "not_found");
    }
    assert_eq!(ctx.get("/metadata/other/roots.json").await.status(), 404);
}

/// A release document made by hand, for the refusals the CLI would never produce.
fn release(channel: &str, version: &str, sequence: u64, artifact: &UploadArtifact, data: &[u8]) -> Release {
    let signature = Signature::from_text(&artifact.signature).unwrap();
    let file = artifact.path.file_name().unwrap().to_str().unwrap();
    let info = ArtifactInfo::describe(artifact.target, file, data, &signature).unwrap();
    release_document(APP, channel, version, sequence, vec![info])
}

/// [`release`], signed by `key`.
fn document(
    key: &SecretKey,
    channel: &str,
    version: &str,
    sequence: u64,
    artifact: &UploadArtifact,
    data: &[u8],
) -> Envelope {
    Envelope::sign(&release(channel, version, sequence, artifact, data), Kind::Release, &[key]).unwrap()
}

#[tokio::test]
async fn publish_refuses_release_documents_that_do_not_vouch_for_the_upload() {
    let ctx = Ctx::new().await;
    ctx.init_root().await;
    let publisher = ctx.app.client();
    let request = PublishRequest::new;
    let artifact = ctx.artifact("2.0.0", &ctx.app.key);
    let data = std::fs::read(&artifact.path).unwrap();
    let stranger = SecretKey::generate().unwrap();
    let mut longer = data.clone();
    longer.push(b'\n');
    let cases: Vec<(&str, Option<Envelope>, &str)> = vec![
        ("no document", None, "bad_request"),
        (
            "signed by a key the root does not list",
            Some(document(&stranger, "stable", "2.0.0", 1, &artifact, &data)),
            "bad_metadata",
        ),
        ("for another channel", Some(document(&ctx.app.key, "beta", "2.0.0", 1, &artifact, &data)), "bad_metadata"),
        ("for another version", Some(document(&ctx.app.key, "stable", "2.0.1", 1, &artifact, &data)), "bad_metadata"),
        (
            "with another hash and size",
            Some(document(&ctx.app.key, "stable", "2.0.0", 1, &artifact, &longer)),
            "bad_metadata",
        ),
        (
            "with a shorter size (endless upload)",
            Some(document(&ctx.app.key, "stable", "2.0.0", 1, &artifact, &data[..100])),
            "bad_metadata",
        ),
        (
            "needing a webview the upload does not declare",
            Some({
                let mut release = release("stable", "2.0.0", 1, &artifact, &data);
                release.min_webview_version = "webkitgtk=2.44".parse().unwrap();
                Envelope::sign(&release, Kind::Release, &[&ctx.app.key]).unwrap()
            }),
            "bad_metadata",
        ),
    ];
    for (case, envelope, code) in cases {
        let err = publisher
            .publish_signed(
                APP,
                &request("2.0.0"),
                envelope.as_ref(),
                std::slice::from_ref(&artifact),
                Arc::new(|_| {}),
            )
            .await
            .unwrap_err();
        match &err {
            millennium_update_admin::Error::Server { code: got, .. } if got == code => {}
            other => panic!("{case}: {other}"),
        }
        assert!(publisher.release(APP, &Version::parse("2.0.0").unwrap()).await.unwrap().is_none(), "{case}");
    }
    // A `.sig` other than the one the document names (validly signed too) is refused.
    let other_sig = ctx.artifact("2.0.0", &ctx.app.key);
    let mut resigned = other_sig.clone();
    resigned.signature =
        Signature::sign(&ctx.app.key, data.as_slice(), &TrustedComment::tauri(7, "x", Some("2.0.0")).unwrap())
            .unwrap()
            .to_text(Format::Tauri);
    let envelope = document(&ctx.app.key, "stable", "2.0.0", 1, &artifact, &data);
    let err = publisher
        .publish_signed(APP, &request("2.0.0"), Some(&envelope), std::slice::from_ref(&resigned), Arc::new(|_| {}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not the signature the release document names"), "{err}");

    // The matching document is accepted; reusing its sequence number for the next release is not.
    publisher
        .publish_signed(APP, &request("2.0.0"), Some(&envelope), std::slice::from_ref(&artifact), Arc::new(|_| {}))
        .await
        .unwrap();
    let next = ctx.artifact("2.1.0", &ctx.app.key);
    let next_data = std::fs::read(&next.path).unwrap();
    let stale = document(&ctx.app.key, "stable", "2.1.0", 1, &next, &next_data);
    let err = publisher
        .publish_signed(APP, &request("2.1.0"), Some(&stale), std::slice::from_ref(&next), Arc::new(|_| {}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, millennium_update_admin::Error::Server { code, .. } if code == "sequence_not_newer"),
        "{err}"
    );
    assert!(publisher.release(APP, &Version::parse("2.1.0").unwrap()).await.unwrap().is_none());
}

#[tokio::test]
async fn roots_of_the_first_format_chain_rotate_revoke_and_move_to_root_keys_through_the_cli() {
    let ctx = Ctx::new().await;
    let upload = |envelope: Envelope| {
        let client = ctx.app.client();
        async move { client.upload_root(APP, &envelope).await }
    };
    let code = |r: Result<_, millennium_update_admin::Error>| match r {
        Err(millennium_update_admin::Error::Server { code, .. }) => code,
        other => panic!("{other:?}"),
    };
    let online = json(ctx.server.admin.generate_online_key(APP).await.unwrap());
    let online_key = PublicKey::from_text(online["public_key"].as_str().unwrap()).unwrap();
    let stranger = SecretKey::generate().unwrap();

    // Root 1 must be signed by the key the app was registered with, be version 1, and list an online key the
    // server holds.
    let by_stranger = Root::new(APP, 1, &[stranger.public_key()], std::slice::from_ref(&online_key));
    assert_eq!(code(upload(Envelope::sign(&by_stranger, Kind::Root, &[&stranger]).unwrap()).await), "bad_metadata");
    let second = Root::new(APP, 2, &[ctx.app.key.public_key()], std::slice::from_ref(&online_key));
    assert_eq!(code(upload(Envelope::sign(&second, Kind::Root, &[&ctx.app.key]).unwrap()).await), "bad_metadata");
    let unknown_online = Root::new(APP, 1, &[ctx.app.key.public_key()], &[stranger.public_key()]);
    assert_eq!(
        code(upload(Envelope::sign(&unknown_online, Kind::Root, &[&ctx.app.key]).unwrap()).await),
        "no_online_key"
    );
    // The CLI starts new apps with root keys; a root 1 of the first format (the release key signs roots) is what apps
    // set up before them hold, and it keeps working.
    let err = ctx.cli(&["root", "sign", "--app", APP, "--release-key", ctx.app.key_file.to_str().unwrap()]).await;
    let err = err.unwrap_err().to_string();
    assert!(err.contains("needs root keys") && err.contains("--threshold 2"), "{err}");
    let first = Root::new(APP, 1, &[ctx.app.key.public_key()], std::slice::from_ref(&online_key));
    let stored = upload(Envelope::sign(&first, Kind::Root, &[&ctx.app.key]).unwrap()).await.unwrap();
    assert_eq!(stored.version, 1);
    assert!(ctx.roots().await.len() == 1);

    // Root 2 signed only by a key root 1 does not list: refused, whatever it claims; a gap in versions too.
    let broken = Root::new(APP, 2, &[stranger.public_key()], std::slice::from_ref(&online_key));
    assert_eq!(code(upload(Envelope::sign(&broken, Kind::Root, &[&stranger]).unwrap()).await), "bad_metadata");
    let gap = Root::new(APP, 3, &[ctx.app.key.public_key()], std::slice::from_ref(&online_key));
    assert_eq!(code(upload(Envelope::sign(&gap, Kind::Root, &[&ctx.app.key]).unwrap()).await), "root_version");
    assert_eq!(code(upload(Envelope { payload: "{".into(), signatures: vec![] }).await), "bad_metadata");
    assert_eq!(ctx.roots().await.len(), 1, "nothing refused was stored");

    // Rotation to a new release key through the CLI: root 2 is signed by both; clients pinned to the old key
    // follow it, and releases signed by the new key are accepted.
    let new_key = SecretKey::generate().unwrap();
    let new_key_file = ctx.server.dir.path().join("new.key");
    write_key(&new_key_file, &new_key);
    let rotated = ctx
        .cli(&[
            "root",
            "sign",
            "--app",
            APP,
            "--release-key",
            ctx.app.key_file.to_str().unwrap(),
            "--new-release-key",
            new_key_file.to_str().unwrap(),
        ])
        .await
        .unwrap();
    assert_eq!(rotated["version"], 2);
    let (trust, _) = ctx.client_view().await;
    assert_eq!(trust.root_version, 2);
    // The old key alone can no longer sign the next root.
    let err = ctx.cli(&["root", "sign", "--app", APP, "--release-key", ctx.app.key_file.to_str().unwrap()]).await;
    assert!(err.is_err());
    let artifact = ctx.artifact("3.0.0", &new_key);
    std::fs::write(format!("{}.sig", artifact.path.display()), &artifact.signature).unwrap();
    let target = format!("{TARGET}={}", artifact.path.display());
    ctx.cli(&[
        "publish",
        "--app",
        APP,
        "--version",
        "3.0.0",
        "--target",
        &target,
        "--release-key",
        new_key_file.to_str().unwrap(),
    ])
    .await
    .unwrap();

    // Revocation of the (leaked) online key: a new one, then root 3 revoking the old one. The server signs with the
    // new key at once; a client refuses anything the old key signs from now on.
    let old_online = online["key_id"].as_str().unwrap().to_owned();
    let (fresh_id, fresh_file) = ctx.online_key().await;
    let new_key_path = new_key_file.to_str().unwrap();
    let revoke = ["root", "sign", "--app", APP, "--release-key", new_key_path, "--revoke", &old_online];
    // The server reports a key the root does not list yet: without a terminal to confirm it, it must be named.
    let err = ctx.cli(&revoke).await.unwrap_err();
    assert_eq!(err.code(), "usage");
    assert!(err.to_string().contains(&fresh_id) && err.to_string().contains("--online-key"), "{err}");
    let revoked = ctx.cli(&[&revoke[..], &["--online-key", &fresh_file]].concat()).await.unwrap();
    assert_eq!(revoked["version"], 3);
    assert_eq!(revoked["revoked_keys"][0], old_online.as_str());
    let (trust, freshness) = ctx.client_view().await;
    assert_eq!(trust.root_version, 3);
    let signed_by = Signature::from_text(&ctx.document("freshness.json").await.signatures[0]).unwrap().key_id();
    assert_eq!(signed_by.to_string(), fresh_id);
    assert_eq!(Ctx::offered(&freshness), [("3.0.0".to_owned(), 100)]);
    let status = json(ctx.server.admin.metadata_status(APP).await.unwrap());
    let old = status["online_keys"].as_array().unwrap().iter().find(|k| k["key_id"] == old_online.as_str()).unwrap();
    assert_eq!(old["revoked"], true);
    assert_eq!((status["root_keys"].clone(), status["root_threshold"].clone()), (json(Vec::<String>::new()), 1.into()));
    assert_eq!(status["signed_yanks"], false, "yanks stay unsigned for roots of the first format");

    // Moving to root keys: root 4, signed by the release key (root 3's root key) and 2 of a, b, c.
    let mut args = vec!["root", "sign", "--app", APP, "--release-key", new_key_path, "--threshold", "2"];
    args.extend(["--root-key", ctx.root_key(0), "--root-key", ctx.root_key(2)]);
    for (_, _, public) in &ctx.root_keys {
        args.extend(["--root-public-key", public.to_str().unwrap()]);
    }
    assert_eq!(ctx.cli(&args).await.unwrap()["version"], 4);
    let (trust, _) = ctx.client_view().await;
    assert_eq!(trust.root_version, 4, "a client pinned to the first key follows");
    assert!(trust.is_revoked(&old_online.parse().unwrap()).unwrap(), "revocations carry over");
    // From now on the release key alone cannot sign a root.
    let err = ctx.cli(&["root", "sign", "--app", APP, "--release-key", new_key_path]).await.unwrap_err();
    assert!(err.to_string().contains("needs 4 more root-key signature(s)"), "{err}");
    assert_eq!(ctx.roots().await.len(), 4);
}

#[tokio::test]
async fn a_root_needs_its_threshold_of_root_keys_and_revocations_stay_in_force() {
    let ctx = Ctx::new().await;
    let first_online = ctx.init_root().await;
    let upload = |envelope: Envelope| {
        let client = ctx.app.client();
        async move { client.upload_root(APP, &envelope).await }
    };
    let refusal = |r: Result<_, millennium_update_admin::Error>| match r {
        Err(millennium_update_admin::Error::Server { code, message, .. }) => format!("{code}: {message}"),
        other => panic!("{other:?}"),
    };
    let [a, b, c] = [0, 1, 2].map(|i| &ctx.root_keys[i].0);
    let root_public: Vec<PublicKey> = [a, b, c].iter().map(|k| k.public_key()).collect();
    let first = ctx.online_public_key(&first_online).await;
    let root = |version: u64, online: &[PublicKey]| {
        Root::new(APP, version, &[ctx.app.key.public_key()], online).with_root_keys(&root_public, 2)
    };

    // Root 2 signed by one root key of 2, or by the release key (CI's) with a key of the thief's as root key.
    let one = Envelope::sign(&root(2, std::slice::from_ref(&first)), Kind::Root, &[a]).unwrap();
    let err = refusal(upload(one).await);
    assert!(err.starts_with("bad_metadata") && err.contains("1 of the 2"), "{err}");
    let thief = SecretKey::generate().unwrap();
    let hijack = Root::new(APP, 2, &[ctx.app.key.public_key()], std::slice::from_ref(&first))
        .with_root_keys(&[thief.public_key()], 1);
    let err = refusal(upload(Envelope::sign(&hijack, Kind::Root, &[&ctx.app.key, &thief]).unwrap()).await);
    assert!(err.starts_with("bad_metadata"), "{err}");
    assert_eq!(ctx.roots().await.len(), 1, "nothing refused was stored");

    // Revocation of the first online key by root keys b and c (no release key needed).
    let (second_online, second_file) = ctx.online_key().await;
    let revoked = ctx
        .cli(&[
            "root",
            "sign",
            "--app",
            APP,
            "--root-key",
            ctx.root_key(1),
            "--root-key",
            ctx.root_key(2),
            "--revoke",
            &first_online,
            "--online-key",
            &second_file,
        ])
        .await
        .unwrap();
    assert_eq!((revoked["version"].clone(), revoked["missing_signatures"].clone()), (2.into(), 0.into()));
    // A careless root 3 lists the revoked key again and revokes nothing: it is accepted (it is validly signed), but
    // the key stays revoked: the server never signs with it, and says so.
    let second = ctx.online_public_key(&second_online).await;
    let careless = Envelope::sign(&root(3, &[first.clone(), second]), Kind::Root, &[a, b]).unwrap();
    upload(careless).await.unwrap();
    let (trust, _) = ctx.client_view().await;
    assert_eq!(trust.root_version, 3);
    assert!(trust.is_revoked(&first.key_id()).unwrap());
    let signed_by = Signature::from_text(&ctx.document("freshness.json").await.signatures[0]).unwrap().key_id();
    assert_eq!(signed_by.to_string(), second_online);
    let status = json(ctx.server.admin.metadata_status(APP).await.unwrap());
    assert_eq!(status["revoked_keys"], json([&first_online]));
    let listed = status["online_keys"].as_array().unwrap().iter().find(|k| k["key_id"] == first_online.as_str());
    assert_eq!((listed.unwrap()["in_root"].clone(), listed.unwrap()["revoked"].clone()), (true.into(), true.into()));
    // A root listing only the revoked key would leave the server nothing to sign with.
    let only_revoked = Envelope::sign(&root(4, std::slice::from_ref(&first)), Kind::Root, &[a, c]).unwrap();
    assert!(refusal(upload(only_revoked).await).starts_with("no_online_key"));
}

#[tokio::test]
async fn yanks_of_an_app_with_root_keys_are_signed_and_an_admin_token_cannot_undo_them() {
    let ctx = Ctx::new().await;
    ctx.init_root().await;
    let key = ctx.app.key_file.to_str().unwrap();
    ctx.publish("1.0.0", &["--release-key", key]).await.unwrap();
    ctx.publish("1.1.0", &["--release-key", key]).await.unwrap();
    let publisher = ctx.app.client();
    let code = |r: Result<_, millennium_update_admin::Error>| match r {
        Err(e) => e.code().to_owned(),
        Ok(_) => "accepted".to_owned(),
    };
    let v110 = Version::parse("1.1.0").unwrap();
    assert_eq!(code(publisher.yank(APP, &v110, true, None).await), "yank_list_required");
    ctx.cli(&["yank", "--app", APP, "--version", "1.1.0", "--release-key", key]).await.unwrap();
    let (_, freshness) = ctx.client_view().await;
    assert_eq!(Ctx::offered(&freshness), [("1.0.0".to_owned(), 100)]);

    // An app admin token (no release key) cannot un-yank: not without a list, not with the stored list again, not
    // with one signed by the server's own online key, and not with one that does not list what is yanked.
    assert_eq!(code(publisher.yank(APP, &v110, false, None).await), "yank_list_required");
    let stored = ctx.document("yanks.json").await;
    assert_eq!(code(publisher.yank(APP, &v110, false, Some(&stored)).await), "sequence_not_newer");
    let row = ctx.server.state.db().online_keys(&AppId::parse(APP).unwrap()).await.unwrap().remove(0);
    let online = SecretKeyBox::from_text(&row.secret_key).unwrap().open(None).unwrap();
    let by_online = millennium_update_admin::offline::yank_list(APP, 2, Vec::new(), &online).unwrap();
    assert_eq!(code(publisher.yank(APP, &v110, false, Some(&by_online)).await), "bad_metadata");
    let wrong = millennium_update_admin::offline::yank_list(APP, 2, Vec::new(), &ctx.app.key).unwrap();
    let v100 = Version::parse("1.0.0").unwrap();
    assert_eq!(code(publisher.yank(APP, &v100, true, Some(&wrong)).await), "bad_metadata");
    let (trust, freshness) = ctx.client_view().await;
    assert_eq!(Ctx::offered(&freshness), [("1.0.0".to_owned(), 100)], "still yanked");
    assert_eq!(trust.yanks.as_ref().map(|y| y.sequence), Some(1));

    // The release-key holder un-yanks with list 2, which no longer lists it.
    ctx.cli(&["yank", "--app", APP, "--version", "1.1.0", "--undo", "--release-key", key]).await.unwrap();
    let (trust, freshness) = ctx.client_view().await;
    assert_eq!(Ctx::offered(&freshness), [("1.1.0".to_owned(), 100)]);
    let yanks = trust.yanks.unwrap();
    assert_eq!((yanks.sequence, yanks.versions.len()), (2, 0));
}

#[tokio::test]
async fn freshness_is_re_signed_before_it_expires_and_after_it_expired() {
    let ctx = Ctx::with_lifetime(std::time::Duration::from_secs(4)).await;
    ctx.init_root().await;
    let (_, first) = ctx.client_view().await;
    // Not yet half-way: the job leaves it.
    millennium_update_server::server::metadata::resign_due(&ctx.server.state).await.unwrap();
    assert_eq!(ctx.client_view().await.1.sequence, first.sequence);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    millennium_update_server::server::metadata::resign_due(&ctx.server.state).await.unwrap();
    let (_, second) = ctx.client_view().await;
    assert!(second.sequence > first.sequence);
    assert!(second.expires > first.expires);
    // With no job running, a request after expiry gets a new, valid document.
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    let (_, third) = ctx.client_view().await;
    assert!(third.sequence > second.sequence);
}

/// With `MILLENNIUM_ONLINE_KEY_PASSWORD`, the online key in the database is encrypted: the server signs with it, and
/// a server given the database without the password (or with another) cannot, and says what to set.
#[tokio::test]
async fn online_keys_are_encrypted_with_the_configured_password() {
    const PASSWORD: &str = "online-key-password-0123456789";
    let ctx = Ctx::with_config(|config| config.with_online_key_password(PASSWORD).unwrap()).await;
    let key_id = ctx.init_root().await;
    let (trust, freshness) = ctx.client_view().await;
    assert_eq!(trust.root_version, 1);
    let app = AppId::parse(APP).unwrap();
    let rows = ctx.server.state.db().online_keys(&app).await.unwrap();
    assert_eq!(rows.len(), 1);
    let sealed = SecretKeyBox::from_text(&rows[0].secret_key).unwrap();
    assert!(sealed.is_encrypted(), "the stored online key is not encrypted");
    assert_eq!(sealed.open(Some(PASSWORD)).unwrap().key_id().to_string(), key_id);

    // The same database, opened without the password and with a wrong one.
    let data = ctx.server.data_dir();
    let storage = Backend::for_dir(&data).storage(&data);
    for (password, says) in [(None, "no password is set"), (Some("another-password-0123456789"), "does not open it")] {
        let mut config = ServerConfig::new(&ctx.server.url, 1024).unwrap();
        if let Some(password) = password {
            config = config.with_online_key_password(password).unwrap();
        }
        let other = AppState::open(&storage, config, Some(ADMIN_TOKEN)).await.unwrap().state;
        let error = metadata::sign_freshness(&other, &app, metadata::Due::Always).await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains(says) && text.contains("MILLENNIUM_ONLINE_KEY_PASSWORD"), "{text}");
        other.db().close().await;
    }
    // Nothing was signed by them: clients still see the document the server with the password signed.
    assert_eq!(ctx.client_view().await.1.sequence, freshness.sequence);
    assert!(ServerConfig::new(&ctx.server.url, 1024).unwrap().with_online_key_password("short").is_err());
}

#[tokio::test]
async fn migrate_copies_the_signed_metadata() {
    let ctx = Ctx::new().await;
    ctx.init_root().await;
    let key = ctx.app.key_file.to_str().unwrap();
    ctx.publish("1.0.0", &["--release-key", key, "--min-webview-version", "webview2=124.0"]).await.unwrap();
    ctx.publish("1.0.1", &["--release-key", key]).await.unwrap();
    ctx.cli(&["yank", "--app", APP, "--version", "1.0.1", "--release-key", key]).await.unwrap();
    let data = ctx.server.data_dir();
    let from = Backend::for_dir(&data).storage(&data);
    let target_dir = ctx.server.dir.path().join("target");
    let to = Backend::local().storage(&target_dir);
    let report = json(millennium_update_server::migrate::migrate(&from, &to).await.unwrap());
    for (table, rows) in
        [("roots", 1), ("release_documents", 2), ("online_keys", 1), ("freshness", 1), ("yank_lists", 1)]
    {
        assert_eq!(report["rows"][table], rows, "{table}: {report}");
    }
    // A server on the copy serves the same signed metadata, and signs freshness with the copied online key.
    let (source, _) = from.open().await.unwrap();
    let (copy, _) = to.open().await.unwrap();
    let app = millennium_update_server::names::AppId::parse(APP).unwrap();
    assert_eq!(copy.roots(&app).await.unwrap(), source.roots(&app).await.unwrap());
    let copied = copy.release(&app, "1.0.0").await.unwrap().unwrap();
    assert_eq!(copied.min_webview_version.as_deref(), Some("webview2=124.0"));
    assert_eq!(
        copy.freshness(&app).await.unwrap().unwrap().envelope,
        source.freshness(&app).await.unwrap().unwrap().envelope
    );
    assert_eq!(copy.yank_list(&app).await.unwrap(), source.yank_list(&app).await.unwrap());
    let config = ServerConfig::new("http://127.0.0.1:9", 1 << 20).unwrap();
    let state = AppState::open(&to, config, Some(ADMIN_TOKEN)).await.unwrap().state;
    let signed = millennium_update_server::server::metadata::sign_freshness(
        &state,
        &app,
        millennium_update_server::server::metadata::Due::Always,
    )
    .await
    .unwrap()
    .unwrap();
    let mut trust = TrustState::bootstrap(APP, &ctx.app.key.public_key(), &ctx.roots().await).unwrap();
    let freshness =
        trust.check_freshness(&Envelope::parse(signed.envelope.as_bytes()).unwrap(), OffsetDateTime::now_utc());
    assert_eq!(Ctx::offered(&freshness.unwrap()), [("1.0.0".to_owned(), 100)]);
}

#[tokio::test]
async fn a_root_can_be_signed_and_co_signed_without_reaching_the_server_and_uploaded_later() {
    let ctx = Ctx::new().await;
    ctx.init_root().await;
    let online = json(ctx.server.admin.generate_online_key(APP).await.unwrap());
    let roots_file = ctx.server.dir.path().join("roots.json");
    std::fs::write(&roots_file, ctx.get(&format!("/metadata/{APP}/roots.json")).await.text().await.unwrap()).unwrap();
    let online_file = ctx.server.dir.path().join("online.pub");
    std::fs::write(&online_file, online["public_key"].as_str().unwrap()).unwrap();
    let out = ctx.server.dir.path().join("root-2.json");
    let offline = |args: &[&str]| {
        let mut argv = vec!["millennium-update-server", "--json", "root"];
        argv.extend_from_slice(args);
        let parsed = <cli::Cli as clap::Parser>::try_parse_from(argv).unwrap();
        async move { cli::run(parsed.command, true).await.map(json) }
    };

    // Root-key holder a signs with the roots and the online key from files only; the server is not told. One of the
    // two signatures root 2 needs (from root 1's root keys, and from its own) is there.
    let (roots, online, output) = (roots_file.to_str().unwrap(), online_file.to_str().unwrap(), out.to_str().unwrap());
    let mut sign = vec!["sign", "--app", APP, "--no-upload", "--root-key", ctx.root_key(0)];
    sign.extend(["--roots", roots, "--online-key", online, "--output", output]);
    let signed = offline(&sign).await.unwrap();
    assert_eq!(
        (signed["version"].clone(), signed["uploaded"].clone(), signed["missing_signatures"].clone()),
        (2.into(), false.into(), 2.into())
    );
    assert_eq!(ctx.roots().await.len(), 1);
    // Uploaded as it is, the server refuses it: 1 of the 2 root keys.
    let err = ctx.cli(&["root", "upload", "--app", APP, output]).await.unwrap_err().to_string();
    assert!(err.contains("1 of the 2"), "{err}");

    // Root-key holder c co-signs on another machine, offline too; then it is complete and uploaded.
    let cosigned = offline(&["cosign", "--app", APP, "--root-key", ctx.root_key(2), "--roots", roots, output]).await;
    let cosigned = cosigned.unwrap();
    assert_eq!(cosigned["missing_signatures"], 0);
    assert_eq!(cosigned["signed_by"].as_array().unwrap().len(), 2);
    let stored = ctx.cli(&["root", "upload", "--app", APP, output]).await.unwrap();
    assert_eq!(stored["version"], 2);
    let (trust, _) = ctx.client_view().await;
    assert_eq!(trust.root_version, 2);
    let root: Root = serde_json::from_str(&ctx.roots().await[1].payload).unwrap();
    assert_eq!(
        root.online_keys,
        [PublicKey::from_text(&std::fs::read_to_string(&online_file).unwrap()).unwrap().to_base64()]
    );
    // Uploading it again is refused: root 2 exists.
    assert!(ctx.cli(&["root", "upload", "--app", APP, output]).await.is_err());
}

/// A rollout the server halts (issue 24) leaves the signed path too: the freshness document is re-signed without the
/// halted release, so Millennium's updater, which reads only signed metadata, is not offered it either; resuming puts
/// it back at its percentage.
#[tokio::test]
async fn a_halted_rollout_leaves_the_signed_freshness_document_until_resumed() {
    let ctx = Ctx::new().await;
    ctx.init_root().await;
    let key = ctx.app.key_file.to_str().unwrap();
    ctx.publish("1.1.0", &["--release-key", key]).await.unwrap();
    ctx.publish("1.2.0", &["--release-key", key, "--rollout", "30"]).await.unwrap();
    let (_, before) = ctx.client_view().await;
    assert_eq!(Ctx::offered(&before), [("1.2.0".to_owned(), 30), ("1.1.0".to_owned(), 100)]);

    let rule = ["--max-failure-percent", "10", "--min-installs", "2"];
    let health = ctx.cli(&[&["halt-rule", "set", "--app", APP, "--version", "1.2.0"][..], &rule[..]].concat()).await;
    assert!(health.unwrap()["halted"].is_null());
    let events: Vec<Value> = ["x-1", "x-2"]
        .iter()
        .flat_map(|id| {
            ["installed", "rolled_back"]
                .map(|kind| serde_json::json!({"kind": kind, "install_id": id, "to": "1.2.0", "target": TARGET}))
        })
        .collect();
    let r = reqwest::Client::new()
        .post(format!("{}/{APP}/events", ctx.server.url))
        .json(&serde_json::json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap(), serde_json::json!({"accepted": 4, "rejected": 0, "duplicates": 0}));

    let (_, halted) = ctx.client_view().await;
    assert!(halted.sequence > before.sequence, "re-signed at the halt");
    assert_eq!(Ctx::offered(&halted), [("1.1.0".to_owned(), 100)], "a halted release is not in the signed metadata");
    let release = ctx.cli(&["releases", "list", "--app", APP]).await.unwrap();
    let v12 = release["releases"].as_array().unwrap().iter().find(|r| r["version"] == "1.2.0").unwrap().clone();
    assert!(v12["halted"]["reason"].as_str().unwrap().contains("2 of 2 installs"), "{v12}");

    ctx.cli(&["rollout", "resume", "--app", APP, "--version", "1.2.0"]).await.unwrap();
    let (_, resumed) = ctx.client_view().await;
    assert_eq!(Ctx::offered(&resumed), [("1.2.0".to_owned(), 30), ("1.1.0".to_owned(), 100)]);

    // `migrate` copies the counters, the rule, the resume baseline and the webhooks (and checks it read them back).
    ctx.cli(&["webhooks", "add", "--app", APP, "--url", "http://127.0.0.1:9/hook"]).await.unwrap();
    let data = ctx.server.data_dir();
    let from = Backend::for_dir(&data).storage(&data);
    let to = Backend::local().storage(&ctx.server.dir.path().join("target"));
    let report = json(millennium_update_server::migrate::migrate(&from, &to).await.unwrap());
    assert_eq!((report["rows"]["health"].clone(), report["rows"]["webhooks"].clone()), (2.into(), 1.into()));
    let (copy, _) = to.open().await.unwrap();
    let app = millennium_update_server::names::AppId::parse(APP).unwrap();
    let release = copy.release(&app, "1.2.0").await.unwrap().unwrap();
    let (rule, source) = copy.halt_rule(&app, release.id).await.unwrap().unwrap();
    assert_eq!((rule.max_failure_percent, rule.min_installs, source), (10, 2, "release"));
    let halt = copy.halt_state(release.id).await.unwrap();
    assert_eq!((halt.halted.is_none(), halt.base_installs, halt.base_failures), (true, 2, 2));
    assert_eq!(copy.health_totals(&app, "1.2.0").await.unwrap().rolled_back, 2);
}
