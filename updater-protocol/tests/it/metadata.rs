//! The signed-metadata checks, one attack per test: each must be refused with its own error and leave the client's
//! trust state as it was. (The same attacks played through a real server and a malicious mirror belong to the
//! end-to-end suite; these pin down the rules themselves.)

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::collections::BTreeMap;

use millennium_sign::{PublicKey, SecretKey};
use millennium_testing::metadata::{Published, Publisher};
use millennium_update_protocol::metadata::{ChannelHead, Envelope, Freshness, Kind, Root, TrustState};
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
