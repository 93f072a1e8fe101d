//! The signed-metadata checks, one attack per test: each must be refused with its own error and leave the client's
//! trust state as it was. (The same attacks played through a real server and a malicious mirror belong to the
//! end-to-end suite; these pin down the rules themselves.)

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::collections::BTreeMap;

use millennium_sign::{PublicKey, SecretKey};
use millennium_testing::metadata::{Published, Publisher};
use millennium_update_protocol::metadata::{
    ChannelHead, Envelope, Freshness, Kind, Release, Root, SPEC_VERSION, TrustState, Yanks, YanksPin,
};
use millennium_update_protocol::webview::Backend;
use millennium_update_protocol::{Error, Target, Version};
use time::{Duration, OffsetDateTime};

const APP: &str = "com.example.app";

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn key() -> SecretKey {
    SecretKey::generate().unwrap()
}

/// Builds of `version` for three targets, each with its own bytes.
fn builds(version: &str) -> Vec<(&'static str, Vec<u8>)> {
    ["linux-x86_64-appimage", "linux-x86_64-deb", "windows-x86_64-nsis"]
        .into_iter()
        .map(|target| (target, format!("{target} build of {version}").repeat(500).into_bytes()))
        .collect()
}

fn target(key: &str) -> Target {
    key.parse().unwrap()
}

/// The whole client flow; returns the state after a successful install, or the first error.
fn update(
    state: &mut TrustState,
    freshness: &Envelope,
    release: &Envelope,
    target_key: &str,
    download: &[u8],
) -> Result<(), Error> {
    let mut next = state.clone();
    let fresh = next.check_freshness(freshness, now())?;
    let verified = next.check_release(&fresh, "stable", release)?;
    let mut check = verified.artifact_check(&target(target_key))?;
    for chunk in download.chunks(4096) {
        check.update(chunk)?;
    }
    check.finish()?;
    next.record(&verified);
    *state = next;
    Ok(())
}

#[test]
fn honest_update_passes_and_is_recorded() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let freshness = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let mut state = publisher.trust_state();
    update(&mut state, &freshness, &v2.envelope, "linux-x86_64-deb", &v2.artifacts["linux-x86_64-deb"]).unwrap();
    assert_eq!(state.channels["stable"].sequence, 2);
    // The state survives a round trip through its stored form.
    let stored: TrustState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    assert_eq!(stored, state);
}

#[test]
fn rollback_to_an_older_signed_release_is_refused() {
    let mut publisher = Publisher::new(APP);
    let v1 = publisher.publish("stable", "1.1.0", 1, &builds("1.1.0"), None);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let mut state = publisher.trust_state();
    let fresh = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    update(&mut state, &fresh, &v2.envelope, "linux-x86_64-deb", &v2.artifacts["linux-x86_64-deb"]).unwrap();
    // A compromised online key re-signs freshness pointing at the old, validly signed release.
    let stale = publisher.freshness(&[(&v1, 100)], now(), Duration::days(1));
    let before = state.clone();
    let err =
        update(&mut state, &stale, &v1.envelope, "linux-x86_64-deb", &v1.artifacts["linux-x86_64-deb"]).unwrap_err();
    assert!(matches!(err, Error::Rollback { .. }), "{err}");
    assert_eq!(state, before);
    // A newer sequence that carries an older version is a rollback too.
    let sneaky = publisher.publish("stable", "1.0.0", 3, &builds("1.0.0"), None);
    let fresh = publisher.freshness(&[(&sneaky, 100)], now(), Duration::days(1));
    let err = update(&mut state, &fresh, &sneaky.envelope, "linux-x86_64-deb", &sneaky.artifacts["linux-x86_64-deb"])
        .unwrap_err();
    assert!(matches!(err, Error::Rollback { .. }), "{err}");
}

#[test]
fn freeze_with_expired_freshness_is_refused() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let old = publisher.freshness(&[(&v2, 100)], now() - Duration::days(3), Duration::days(1));
    let mut state = publisher.trust_state();
    let err =
        update(&mut state, &old, &v2.envelope, "linux-x86_64-deb", &v2.artifacts["linux-x86_64-deb"]).unwrap_err();
    assert!(matches!(err, Error::Expired { .. }), "{err}");
    assert!(err.to_string().contains("freeze"));
    // Nor may a freshness document claim months of validity, or come from the future.
    let long = publisher.freshness(&[(&v2, 100)], now(), Duration::days(90));
    assert!(matches!(state.clone().check_freshness(&long, now()), Err(Error::MetadataContent { .. })));
    let future = publisher.freshness(&[(&v2, 100)], now() + Duration::hours(2), Duration::days(1));
    assert!(matches!(state.check_freshness(&future, now()), Err(Error::MetadataContent { .. })));
}

#[test]
fn replay_of_an_older_freshness_document_is_refused() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let first = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let second = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let mut state = publisher.trust_state();
    state.check_freshness(&second, now()).unwrap();
    let err = state.check_freshness(&first, now()).unwrap_err();
    assert!(matches!(err, Error::Replay { seen: 2, offered: 1 }), "{err}");
}

#[test]
fn mix_and_match_is_refused() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let v3 = publisher.publish("stable", "1.3.0", 3, &builds("1.3.0"), None);
    let beta = publisher.publish("beta", "2.0.0-beta.1", 1, &builds("2.0.0-beta.1"), None);
    let fresh = publisher.freshness(&[(&v3, 100), (&beta, 100)], now(), Duration::days(1));
    let mut state = publisher.trust_state();
    // A release document other than the pinned one (both validly signed).
    let err =
        update(&mut state, &fresh, &v2.envelope, "linux-x86_64-deb", &v2.artifacts["linux-x86_64-deb"]).unwrap_err();
    assert!(matches!(err, Error::MixAndMatch { .. }), "{err}");
    // The beta release offered on stable.
    let err = update(&mut state, &fresh, &beta.envelope, "linux-x86_64-deb", &beta.artifacts["linux-x86_64-deb"])
        .unwrap_err();
    assert!(matches!(err, Error::MixAndMatch { .. }), "{err}");
    // v3's metadata with v2's artifact (signed by the same key, but another hash and size).
    let err =
        update(&mut state, &fresh, &v3.envelope, "linux-x86_64-deb", &v2.artifacts["linux-x86_64-deb"]).unwrap_err();
    assert!(matches!(err, Error::TamperedArtifact { .. }), "{err}");
}

#[test]
fn endless_data_is_cut_off_at_the_signed_size() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let fresh = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let mut state = publisher.trust_state();
    let mut data = v2.artifacts["linux-x86_64-deb"].clone();
    data.extend(std::iter::repeat_n(0u8, 1));
    let err = update(&mut state, &fresh, &v2.envelope, "linux-x86_64-deb", &data).unwrap_err();
    assert!(matches!(err, Error::EndlessData { .. }), "{err}");
    // Truncated is refused too.
    let short = &v2.artifacts["linux-x86_64-deb"][..100];
    assert!(matches!(
        update(&mut state, &fresh, &v2.envelope, "linux-x86_64-deb", short),
        Err(Error::TamperedArtifact { .. })
    ));
}

#[test]
fn wrong_target_is_refused() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let fresh = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let mut state = publisher.trust_state();
    // No artifact for this platform.
    let err = update(&mut state, &fresh, &v2.envelope, "darwin-aarch64-app", b"x").unwrap_err();
    assert!(matches!(err, Error::WrongTarget { .. }), "{err}");
    // Another platform's (validly signed) artifact served to a deb install: longer than the deb, it is cut off at the
    // deb's signed size; cut to the deb's size, it fails the deb's hash.
    let nsis = &v2.artifacts["windows-x86_64-nsis"];
    let err = update(&mut state, &fresh, &v2.envelope, "linux-x86_64-deb", nsis).unwrap_err();
    assert!(matches!(err, Error::EndlessData { .. }), "{err}");
    let appimage = &nsis[..v2.artifacts["linux-x86_64-deb"].len()];
    let err = update(&mut state, &fresh, &v2.envelope, "linux-x86_64-deb", appimage).unwrap_err();
    assert!(matches!(err, Error::TamperedArtifact { .. }), "{err}");
}

#[test]
fn tampered_artifact_is_refused() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let fresh = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let mut state = publisher.trust_state();
    let mut data = v2.artifacts["linux-x86_64-deb"].clone();
    data[10] ^= 1;
    let err = update(&mut state, &fresh, &v2.envelope, "linux-x86_64-deb", &data).unwrap_err();
    assert!(matches!(err, Error::TamperedArtifact { .. }), "{err}");
}

#[test]
fn unknown_and_revoked_keys_are_refused() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let mut state = publisher.trust_state();
    // Freshness signed by a key the root does not name.
    let mut impostor = Publisher::new(APP);
    impostor.release_key = publisher.release_key.clone();
    let forged = impostor.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let err = state.check_freshness(&forged, now()).unwrap_err();
    assert!(matches!(err, Error::MetadataSignature { kind: Kind::Freshness, .. }), "{err}");
    // A release signed by the online key (trusted for freshness only).
    let by_online = Envelope::sign(&v2.document, Kind::Release, &[&publisher.online_key]).unwrap();
    let fresh = publisher.freshness(&[(&Published::from_envelope(by_online.clone()), 100)], now(), Duration::days(1));
    let checked = state.check_freshness(&fresh, now()).unwrap();
    let err = state.check_release(&checked, "stable", &by_online).unwrap_err();
    assert!(matches!(err, Error::MetadataSignature { kind: Kind::Release, .. }), "{err}");
    // The release key revokes a leaked online key in root 2: its freshness documents stop being accepted.
    let mut root: Root = serde_json::from_str(&publisher.roots[0].payload).unwrap();
    let new_online = key();
    root.version = 2;
    root.online_keys = vec![new_online.public_key().to_base64()];
    root.revoked_keys = vec![publisher.online_key.key_id().to_string()];
    let root2 = Envelope::sign(&root, Kind::Root, &[&publisher.release_key]).unwrap();
    state.update_root(&root2).unwrap();
    let leaked = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let err = state.check_freshness(&leaked, now()).unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
    // A document signed as one type cannot be passed off as another.
    let as_root = Envelope { payload: leaked.payload.clone(), signatures: root2.signatures.clone() };
    assert!(state.check_freshness(&as_root, now()).is_err());
}

#[test]
fn key_rotation_through_a_valid_chain_is_followed() {
    let mut publisher = Publisher::new(APP);
    let pinned = publisher.release_key.public_key();
    // Root 2 rotates the release key: signed by the old key and the new one.
    publisher.rotate_release_key();
    // An app that pinned the first key follows the chain and accepts releases signed by the new key.
    let mut state = TrustState::bootstrap(APP, &pinned, &publisher.roots).unwrap();
    assert_eq!(state.root_version, 2);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let fresh = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    update(&mut state, &fresh, &v2.envelope, "windows-x86_64-nsis", &v2.artifacts["windows-x86_64-nsis"]).unwrap();
    // An app built after the rotation, pinning the new key, anchors at root 2.
    let state = TrustState::bootstrap(APP, &publisher.release_key.public_key(), &publisher.roots).unwrap();
    assert_eq!(state.root_version, 2);
}

#[test]
fn key_rotation_through_a_broken_chain_is_refused() {
    let publisher = Publisher::new(APP);
    let pinned = publisher.release_key.public_key();
    let attacker = key();
    // Root 2 signed only by the attacker's new key.
    let root2 = Root::new(APP, 2, &[attacker.public_key()], &[attacker.public_key()]);
    let forged = Envelope::sign(&root2, Kind::Root, &[&attacker]).unwrap();
    let err = TrustState::bootstrap(APP, &pinned, &[publisher.roots[0].clone(), forged.clone()]).unwrap_err();
    assert!(matches!(err, Error::RootChain { .. }), "{err}");
    // Signed by the old key only, without proof of the new key.
    let unproven = Envelope::sign(&root2, Kind::Root, &[&publisher.release_key]).unwrap();
    assert!(matches!(publisher.trust_state().update_root(&unproven), Err(Error::RootChain { .. })));
    // A gap in the history.
    let root3 = Root::new(APP, 3, std::slice::from_ref(&pinned), &[]);
    let skipping = Envelope::sign(&root3, Kind::Root, &[&publisher.release_key]).unwrap();
    assert!(matches!(publisher.trust_state().update_root(&skipping), Err(Error::RootChain { .. })));
    // No root signed by the pinned key at all.
    let other: PublicKey = attacker.public_key();
    assert!(matches!(TrustState::bootstrap(APP, &other, &publisher.roots), Err(Error::RootChain { .. })));
}

#[test]
fn malformed_or_truncated_metadata_is_refused() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let fresh = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let json = fresh.to_json();
    for bad in [&json[..json.len() / 2], "", "{}", "[]", "{\"payload\":\"x\",\"signatures\":[],\"extra\":1}"] {
        assert!(Envelope::parse(bad.as_bytes()).is_err(), "accepted {bad:?}");
    }
    // A well-formed envelope whose payload was altered after signing.
    let mut altered = Envelope::parse(json.as_bytes()).unwrap();
    altered.payload = altered.payload.replace("\"sequence\":1", "\"sequence\":99");
    assert!(matches!(publisher.trust_state().check_freshness(&altered, now()), Err(Error::MetadataSignature { .. })));
    // Signed but not a freshness document (unknown field).
    let junk = Envelope::sign(
        &serde_json::json!({"_type": "freshness", "bogus": true}),
        Kind::Freshness,
        &[&publisher.online_key],
    )
    .unwrap();
    assert!(matches!(publisher.trust_state().check_freshness(&junk, now()), Err(Error::InvalidMetadata { .. })));
    // For another app.
    let mut other = Publisher::new(APP);
    let v = other.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let foreign = other.freshness(&[(&v, 100)], now(), Duration::days(1));
    let state = TrustState::bootstrap("com.other.app", &other.release_key.public_key(), &other.roots);
    assert!(state.is_err(), "a root for another app anchored the chain");
    assert!(publisher.trust_state().check_freshness(&foreign, now()).is_err());
}

#[test]
fn a_staged_rollout_offers_the_previous_release_outside_its_share() {
    let mut publisher = Publisher::new(APP);
    let v1 = publisher.publish("stable", "1.1.0", 1, &builds("1.1.0"), None);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    // Both heads in one channel, the newest at 30 %.
    let envelope = publisher.freshness(&[(&v2, 30), (&v1, 100)], now(), Duration::days(1));
    let mut doc: Freshness = serde_json::from_str(&envelope.payload).unwrap();

    let offered: Vec<String> =
        (0..1000).map(|i| doc.offer("stable", Some(&format!("install-{i}"))).unwrap().version.to_string()).collect();
    let newest = offered.iter().filter(|v| *v == "1.2.0").count();
    assert!((250..=350).contains(&newest), "{newest} of 1000 installs offered the staged release");
    assert_eq!(doc.offer("stable", None).unwrap().version.to_string(), "1.1.0", "no install id: full rollouts only");
    assert!(doc.offer("beta", Some("install-1")).is_none());

    // Whichever release an install is offered, its document checks against the same freshness document.
    for published in [&v1, &v2] {
        let mut state = publisher.trust_state();
        let fresh = state.check_freshness(&envelope, now()).unwrap();
        state.check_release(&fresh, "stable", &published.envelope).unwrap();
    }
    // A rollout share over 100 % is refused.
    doc.channels.get_mut("stable").unwrap()[0].rollout = 101;
    let bad = Envelope::sign(&doc, Kind::Freshness, &[&publisher.online_key]).unwrap();
    let err = publisher.trust_state().check_freshness(&bad, now()).unwrap_err();
    assert!(matches!(err, Error::MetadataContent { .. }), "{err}");
}

#[test]
fn signed_minimum_webview_versions_reach_the_client_per_backend() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), Some("webview2=124.0,webkitgtk=2.44"));
    assert!(
        v2.envelope.payload.contains(r#""min_webview_version":{"webkitgtk":"2.44","webview2":"124.0"}"#),
        "{}",
        v2.envelope.payload
    );
    let freshness = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let mut state = publisher.trust_state();
    let fresh = state.check_freshness(&freshness, now()).unwrap();
    let verified = state.check_release(&fresh, "stable", &v2.envelope).unwrap();
    let minimums = &verified.release.min_webview_version;
    assert_eq!(minimums.get(Backend::Webkitgtk), Some(&"2.44.0".parse().unwrap()));
    assert_eq!(minimums.get(Backend::Webview2), Some(&"124.0".parse().unwrap()));
    assert_eq!(minimums.get(Backend::Wkwebview), None);

    // Without a minimum the field is not written, so documents signed before it existed read the same.
    let v3 = publisher.publish("stable", "1.3.0", 3, &builds("1.3.0"), None);
    assert!(!v3.envelope.payload.contains("min_webview_version"), "{}", v3.envelope.payload);
    let freshness = publisher.freshness(&[(&v3, 100)], now(), Duration::days(1));
    let fresh = state.check_freshness(&freshness, now()).unwrap();
    assert!(state.check_release(&fresh, "stable", &v3.envelope).unwrap().release.min_webview_version.is_empty());

    // Signs v3's document as 1.N.0 with another `min_webview_version` and has the client check it.
    let mut sequence = 3;
    let mut check = |state: &mut TrustState, value: serde_json::Value| {
        sequence += 1;
        let version = format!("1.{sequence}.0");
        let mut doc: serde_json::Value = serde_json::from_str(&v3.envelope.payload).unwrap();
        doc["min_webview_version"] = value;
        doc["sequence"] = serde_json::json!(sequence);
        doc["version"] = serde_json::json!(version);
        let envelope = Envelope::sign(&doc, Kind::Release, &[&publisher.release_key]).unwrap();
        let head = ChannelHead {
            release_sequence: sequence,
            version: Version::parse(&version).unwrap(),
            release_hash: envelope.hash(),
            rollout: 100,
        };
        let channels = BTreeMap::from([("stable".to_owned(), vec![head])]);
        let freshness = publisher.sign_freshness(channels, now(), Duration::days(1));
        let fresh = state.check_freshness(&freshness, now()).unwrap();
        state.check_release(&fresh, "stable", &envelope).map(|verified| verified.release.min_webview_version.clone())
    };

    // A malformed minimum in a validly signed document is refused like any malformed field.
    for bad in [
        serde_json::json!("2.x"),
        serde_json::json!(" 2.44"),
        serde_json::json!(2.44),
        serde_json::json!(""),
        serde_json::json!({"gecko": "120"}),
        serde_json::json!({"webkitgtk": "2.x"}),
        serde_json::json!({"webkitgtk": 2.44}),
        serde_json::json!(["webkitgtk", "2.44"]),
    ] {
        let before = state.clone();
        let err = check(&mut state, bad.clone()).unwrap_err();
        assert!(matches!(err, Error::InvalidMetadata { kind: Kind::Release, .. }), "{bad}: {err}");
        let message = err.to_string();
        assert!(message.contains("webview") || message.contains("invalid type"), "{bad}: {message}");
        assert_eq!(state.channels, before.channels);
    }

    // A plain string, the form from before minimums were per backend (only Linux bundles made one), is WebKitGTK's.
    let legacy = check(&mut state, serde_json::json!("2.40")).unwrap();
    assert_eq!(legacy, "webkitgtk=2.40".parse().unwrap());
    assert_eq!(check(&mut state, serde_json::json!({"wkwebview": "13.0"})).unwrap().to_string(), "wkwebview=13.0");
}
/// Signs `root` (the next one) with `keys` and adds it to the publisher's history.
fn push_root(publisher: &mut Publisher, root: &Root, keys: &[&SecretKey]) -> Envelope {
    let envelope = Envelope::sign(root, Kind::Root, keys).unwrap();
    publisher.roots.push(envelope.clone());
    envelope
}

/// Root `version` of the publisher's app with root keys `root_keys` (`threshold` of them), its release key and
/// `online` as online key.
fn root_with_keys(
    publisher: &Publisher,
    version: u64,
    root_keys: &[&SecretKey],
    threshold: u32,
    online: &PublicKey,
) -> Root {
    let public: Vec<PublicKey> = root_keys.iter().map(|k| k.public_key()).collect();
    Root::new(APP, version, &[publisher.release_key.public_key()], std::slice::from_ref(online))
        .with_root_keys(&public, threshold)
}

#[test]
fn a_root_needs_a_threshold_of_root_keys_and_the_release_key_alone_cannot_replace_it() {
    let mut publisher = Publisher::new(APP);
    let (a, b, c) = (key(), key(), key());
    let online = publisher.online_key.public_key();
    // Root 2 moves the app from the first format (release key = root key) to root keys a, b, c, 2 of them needed:
    // signed by the release key (root 1's root key) and by 2 of its own.
    let root2 = root_with_keys(&publisher, 2, &[&a, &b, &c], 2, &online);
    let only_one = Envelope::sign(&root2, Kind::Root, &[&publisher.release_key, &a]).unwrap();
    let err = publisher.trust_state().update_root(&only_one).unwrap_err();
    assert!(matches!(err, Error::RootChain { .. }) && err.to_string().contains("1 of the 2"), "{err}");
    let signatures = publisher.trust_state().root_signatures(&only_one).unwrap();
    assert_eq!((signatures.own.missing(), signatures.previous.as_ref().unwrap().missing()), (1, 0));
    assert!(!signatures.is_complete());
    // Co-signed on another machine: complete.
    let mut cosigned = only_one.clone();
    cosigned.add_signatures(Kind::Root, &[&c, &a]).unwrap();
    assert_eq!(cosigned.signatures.len(), 3, "a key that signed already does not sign twice");
    assert!(publisher.trust_state().root_signatures(&cosigned).unwrap().is_complete());
    publisher.roots.push(cosigned);
    let mut state = publisher.trust_state();
    assert_eq!(state.root_version, 2);

    // From now on the release key (CI's) cannot replace the root, alone or with a key of its own.
    let thief = key();
    let hijack = Root::new(APP, 3, &[publisher.release_key.public_key()], std::slice::from_ref(&online))
        .with_root_keys(&[thief.public_key()], 1);
    for signers in [vec![&publisher.release_key], vec![&publisher.release_key, &thief]] {
        let forged = Envelope::sign(&hijack, Kind::Root, &signers).unwrap();
        let err = state.clone().update_root(&forged).unwrap_err();
        assert!(matches!(err, Error::RootChain { .. }), "{err}");
    }
    // One root key is not enough either, even with the new key's consent; two are.
    let one = Envelope::sign(&hijack, Kind::Root, &[&a, &thief]).unwrap();
    assert!(matches!(state.clone().update_root(&one), Err(Error::RootChain { .. })));
    let root3 = root_with_keys(&publisher, 3, &[&a, &b, &c], 2, &online);
    state.update_root(&Envelope::sign(&root3, Kind::Root, &[&b, &c]).unwrap()).unwrap();
    assert_eq!(state.root_version, 3);
    // Release documents are still signed by the release key, and root keys cannot sign them.
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let fresh = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    update(&mut state, &fresh, &v2.envelope, "linux-x86_64-deb", &v2.artifacts["linux-x86_64-deb"]).unwrap();
    let release: Release = serde_json::from_str(&v2.envelope.payload).unwrap();
    let by_root_key = Envelope::sign(&release, Kind::Release, &[&a]).unwrap();
    assert!(matches!(
        state.check_release_document("stable", &by_root_key),
        Err(Error::MetadataSignature { kind: Kind::Release, .. })
    ));
}

#[test]
fn a_root_whose_keys_cannot_work_is_refused() {
    let publisher = Publisher::new(APP);
    let (a, b) = (key(), key());
    let online = publisher.online_key.public_key();
    let unusable = [
        (root_with_keys(&publisher, 2, &[&a, &b], 3, &online), "lists only 2"),
        (root_with_keys(&publisher, 2, &[&a, &b], 0, &online), "not between 1"),
        // The release key as a root key: CI alone could replace the root.
        (
            Root::new(APP, 2, &[publisher.release_key.public_key()], std::slice::from_ref(&online))
                .with_root_keys(&[publisher.release_key.public_key(), a.public_key()], 1),
            "also a release or online key",
        ),
        (Root { root_threshold: None, ..root_with_keys(&publisher, 2, &[&a], 1, &online) }, "go together"),
    ];
    for (root, says) in unusable {
        let envelope = Envelope::sign(&root, Kind::Root, &[&publisher.release_key, &a, &b]).unwrap();
        let err = publisher.trust_state().update_root(&envelope).unwrap_err();
        assert!(err.to_string().contains(says), "{says}: {err}");
    }
}

#[test]
fn revocations_are_cumulative_across_roots() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let (a, b) = (key(), key());
    let leaked = publisher.online_key.clone();
    let replacement = key();
    // Root 2 revokes the leaked online key.
    let mut root2 = root_with_keys(&publisher, 2, &[&a, &b], 2, &replacement.public_key());
    root2.revoked_keys = vec![leaked.key_id().to_string()];
    let release_key = publisher.release_key.clone();
    push_root(&mut publisher, &root2, &[&release_key, &a, &b]);
    // Root 3, signed carelessly, lists the leaked key as an online key again and revokes nothing.
    let root3 = root_with_keys(&publisher, 3, &[&a, &b], 2, &leaked.public_key());
    push_root(&mut publisher, &root3, &[&a, &b]);
    let mut state = publisher.trust_state();
    assert_eq!(state.root_version, 3);
    assert!(state.is_revoked(&leaked.key_id()).unwrap());
    let forged = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let err = state.check_freshness(&forged, now()).unwrap_err();
    assert!(matches!(err, Error::MetadataSignature { .. }) && err.to_string().contains("revoked"), "{err}");
    // The state remembers it across a store and reload, and a root that re-lists a revoked key as a root key
    // cannot count its signature.
    let stored: TrustState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    assert_eq!(stored.revoked().unwrap(), [leaked.key_id()]);
    let root4 = root_with_keys(&publisher, 4, &[&a, &leaked], 1, &replacement.public_key());
    let err = stored.clone().update_root(&Envelope::sign(&root4, Kind::Root, &[&a, &b, &leaked]).unwrap());
    assert!(err.is_ok(), "a (unrevoked) signed it, and the re-listed key is simply not trusted: {err:?}");
}

#[test]
fn a_trust_state_stored_before_root_keys_and_yank_lists_still_loads() {
    let publisher = Publisher::new(APP);
    let state = publisher.trust_state();
    let mut stored: serde_json::Value = serde_json::to_value(&state).unwrap();
    let object = stored.as_object_mut().unwrap();
    assert!(!object.contains_key("revoked_keys") && !object.contains_key("yanks"), "new fields written when empty");
    object.remove("revoked_keys");
    let loaded: TrustState = serde_json::from_value(stored).unwrap();
    assert_eq!(loaded, state);
}

#[test]
fn freshness_fast_forward_is_bounded_and_undone_by_a_root_that_revokes_the_key() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let mut state = publisher.trust_state();
    let stolen = publisher.online_key.clone();
    let sign = |sequence: u64, key: &SecretKey| {
        let doc = Freshness {
            kind: Kind::Freshness,
            spec_version: SPEC_VERSION,
            app: APP.into(),
            sequence,
            issued: now(),
            expires: now() + Duration::days(1),
            channels: BTreeMap::new(),
            yanks: None,
        };
        Envelope::sign(&doc, Kind::Freshness, &[key]).unwrap()
    };
    // Near 2⁶⁴: beyond anything an honest server can have numbered by now.
    let err = state.check_freshness(&sign(u64::MAX - 1, &stolen), now()).unwrap_err();
    assert!(matches!(err, Error::FastForward { offered, .. } if offered == u64::MAX - 1), "{err}");
    assert_eq!(state.freshness_sequence, 0);
    // As far as the bound allows (ten minutes ahead): accepted, and the server's next document is a replay ...
    let limit = millennium_update_protocol::metadata::freshness_sequence_at(now() + Duration::minutes(10));
    state.check_freshness(&sign(limit, &stolen), now()).unwrap();
    assert!(state.check_freshness(&sign(limit + 1, &stolen), now()).is_err(), "one past the bound");
    let honest = millennium_update_protocol::metadata::freshness_sequence_at(now());
    assert!(matches!(state.check_freshness(&sign(honest, &stolen), now()), Err(Error::Replay { .. })));
    // ... until a root revokes the stolen key: the sequence starts again, and the new key's documents pass.
    let replacement = key();
    let mut root2 = Root::new(APP, 2, &[publisher.release_key.public_key()], &[replacement.public_key()]);
    root2.revoked_keys = vec![stolen.key_id().to_string()];
    state.update_root(&Envelope::sign(&root2, Kind::Root, &[&publisher.release_key]).unwrap()).unwrap();
    assert_eq!(state.freshness_sequence, 0);
    state.check_freshness(&sign(honest, &replacement), now()).unwrap();

    // A root that only adds an online key keeps the sequence (nothing could have been forged with a key it stops
    // trusting); one that rotates the release key forgets the channels' release sequences too.
    publisher.online_key = replacement.clone();
    publisher.freshness_sequence = honest;
    let fresh = publisher.freshness(&[(&v2, 100)], now(), Duration::days(1));
    let mut fresh_state = state.clone();
    let checked = fresh_state.check_freshness(&fresh, now()).unwrap();
    let verified = fresh_state.check_release(&checked, "stable", &v2.envelope).unwrap();
    fresh_state.record(&verified);
    let more =
        Root::new(APP, 3, &[publisher.release_key.public_key()], &[replacement.public_key(), key().public_key()]);
    let mut added = fresh_state.clone();
    added.update_root(&Envelope::sign(&more, Kind::Root, &[&publisher.release_key]).unwrap()).unwrap();
    assert_eq!((added.freshness_sequence, added.channels.len()), (fresh_state.freshness_sequence, 1));
    let new_release = key();
    let rotated = Root::new(APP, 3, &[new_release.public_key()], &[replacement.public_key()]);
    let mut rotated_state = fresh_state.clone();
    rotated_state
        .update_root(&Envelope::sign(&rotated, Kind::Root, &[&publisher.release_key, &new_release]).unwrap())
        .unwrap();
    assert!(rotated_state.channels.is_empty(), "release sequences vouched for by a key no longer trusted");
    assert_eq!(rotated_state.freshness_sequence, 0, "the old release key could sign freshness too");
}

/// A yank list of `versions`, numbered `sequence`, signed by `key`.
fn yanks(key: &SecretKey, sequence: u64, versions: &[&str]) -> Envelope {
    let versions = versions.iter().map(|v| Version::parse(v).unwrap()).collect();
    Envelope::sign(&Yanks::new(APP, sequence, versions), Kind::Yanks, &[key]).unwrap()
}

#[test]
fn a_yanked_release_is_refused_once_a_signed_yank_list_was_seen() {
    let mut publisher = Publisher::new(APP);
    let v2 = publisher.publish("stable", "1.2.0", 2, &builds("1.2.0"), None);
    let v3 = publisher.publish("stable", "1.3.0", 3, &builds("1.3.0"), None);
    let pin = |envelope: &Envelope, sequence: u64| YanksPin { sequence, hash: envelope.hash() };
    let freshness = |publisher: &mut Publisher, head: &Published, yanks: Option<YanksPin>| {
        let envelope = publisher.freshness(&[(head, 100)], now(), Duration::days(1));
        let mut doc: Freshness = serde_json::from_str(&envelope.payload).unwrap();
        doc.yanks = yanks;
        Envelope::sign(&doc, Kind::Freshness, &[&publisher.online_key]).unwrap()
    };
    let mut state = publisher.trust_state();
    // The publisher yanks 1.3.0 (list 1, signed offline); the server offers 1.2.0 and pins the list.
    let list1 = yanks(&publisher.release_key, 1, &["1.3.0"]);
    let honest = freshness(&mut publisher, &v2, Some(pin(&list1, 1)));
    let checked = state.check_freshness(&honest, now()).unwrap();
    assert!(state.needs_yanks(&checked));
    // Its release document cannot be checked before the list.
    assert!(matches!(state.check_release(&checked, "stable", &v2.envelope), Err(Error::MixAndMatch { .. })));
    // A list other than the pinned one, or signed by the online key, is refused.
    let other = yanks(&publisher.release_key, 1, &[]);
    assert!(matches!(state.clone().check_yanks(&checked, &other), Err(Error::MixAndMatch { .. })));
    let by_online = yanks(&publisher.online_key, 1, &["1.3.0"]);
    let bad_pin = freshness(&mut publisher, &v2, Some(pin(&by_online, 1)));
    let mut bad_state = publisher.trust_state();
    let bad_checked = bad_state.check_freshness(&bad_pin, now()).unwrap();
    assert!(matches!(
        bad_state.check_yanks(&bad_checked, &by_online),
        Err(Error::MetadataSignature { kind: Kind::Yanks, .. })
    ));
    state.check_yanks(&checked, &list1).unwrap();
    assert!(!state.needs_yanks(&checked));
    state.check_release(&checked, "stable", &v2.envelope).unwrap();

    // Whoever holds the online key offers 1.3.0 again: pinning the list, it is refused as yanked; pinning an older
    // list, or none, it is refused as a rollback of the list.
    let again = freshness(&mut publisher, &v3, Some(pin(&list1, 1)));
    let checked = state.check_freshness(&again, now()).unwrap();
    let err = state.check_release(&checked, "stable", &v3.envelope).unwrap_err();
    assert!(matches!(&err, Error::Yanked { version } if version == "1.3.0"), "{err}");
    let unpinned = freshness(&mut publisher, &v3, None);
    let err = state.clone().check_freshness(&unpinned, now()).unwrap_err();
    assert!(matches!(err, Error::YanksRollback { seen: 1, offered: None }), "{err}");
    let list2 = yanks(&publisher.release_key, 2, &[]);
    let newer = freshness(&mut publisher, &v3, Some(pin(&list2, 2)));
    let mut unyanked = state.clone();
    let checked = unyanked.check_freshness(&newer, now()).unwrap();
    unyanked.check_yanks(&checked, &list2).unwrap();
    unyanked.check_release(&checked, "stable", &v3.envelope).unwrap();
    let older = freshness(&mut publisher, &v3, Some(pin(&list1, 1)));
    let err = unyanked.check_freshness(&older, now()).unwrap_err();
    assert!(matches!(err, Error::YanksRollback { seen: 2, offered: Some(1) }), "{err}");
}
