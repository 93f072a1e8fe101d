//! The updater's delta path against a scripted server, for the failures a real server does not produce on demand:
//! every one ends in the full download and a correct install. (The delta path with the real server and its delta job:
//! `tests/tests/it/delta_updates.rs`.)

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use millennium_delta::{MakeOptions, Outcome};
use millennium_testing::app::{Fixture, write_exe};
use millennium_testing::http::{MockServer, Reply, serve_file};
use millennium_testing::keys::Keys;
use millennium_testing::rust_builds::{self, Builds};
use millennium_update_protocol::delta::{Blake2b256, DeltaOffer};
use millennium_update_protocol::metadata::blake2b_256_hex;
use millennium_update_protocol::tauri::{Artifact, ArtifactUrl, DynamicResponse, SignatureText};
use millennium_updater::Transfer;

use crate::support::{CHECK, builder, release};

/// What the scripted server does with the delta request.
#[derive(Clone)]
enum DeltaReply {
    /// Serves these bytes, announced as `size` with hash `hash`.
    Bytes { data: Vec<u8>, size: u64, hash: String },
    /// Answers 404.
    NotFound,
}

fn make(base: &Path, new: &Path, dir: &Path) -> Vec<u8> {
    let out = dir.join("made.delta");
    let outcome = millennium_delta::make(base, new, &out, &MakeOptions::default()).unwrap();
    assert!(matches!(outcome, Outcome::Kept(_)), "{outcome:?}");
    std::fs::read(out).unwrap()
}

fn announced(data: Vec<u8>) -> DeltaReply {
    let (size, hash) = (data.len() as u64, blake2b_256_hex(&data));
    DeltaReply::Bytes { data, size, hash }
}

/// A server offering 2.0.0 (`v2`, signed by `keys`) with a delta from `from` answered by `reply`.
async fn server(keys: &Keys, v2: Vec<u8>, from: &[u8], reply: DeltaReply) -> MockServer {
    let signature = keys.sign(&v2, Some("2.0.0"));
    let json = Arc::new(OnceLock::<String>::new());
    let served = json.clone();
    let delta = reply.clone();
    let server = MockServer::start(move |req| {
        if req.path.starts_with("/update/") {
            Reply::json(served.get().unwrap().clone())
        } else if req.path == "/artifact" {
            serve_file(req, &v2, "\"v2\"")
        } else if req.path == "/delta" {
            match &delta {
                DeltaReply::Bytes { data, .. } => Reply::bytes(data.clone()),
                DeltaReply::NotFound => Reply::status(404),
            }
        } else {
            Reply::status(404)
        }
    })
    .await;
    let (size, hash) = match &reply {
        DeltaReply::Bytes { size, hash, .. } => (*size, hash.clone()),
        DeltaReply::NotFound => (1000, "00".repeat(32)),
    };
    let offer = DeltaOffer {
        from: Blake2b256::parse_hex(&blake2b_256_hex(from), "from").unwrap(),
        url: ArtifactUrl::parse(&server.url("/delta")).unwrap(),
        size,
        blake2b_256: Blake2b256::parse_hex(&hash, "hash").unwrap(),
        encoder: "bsdiff".into(),
        alternatives: Vec::new(),
    };
    let artifact = Artifact::new(
        ArtifactUrl::parse(&server.url("/artifact")).unwrap(),
        SignatureText::from_signature(signature).unwrap(),
    );
    let response = DynamicResponse::new(release("2.0.0"), artifact).unwrap().with_deltas(vec![offer]).unwrap();
    json.set(response.to_json()).unwrap();
    server
}

/// Installs `builds.v1` as the app, updates from `server`, and checks that the delta was tried, failed, and the full
/// download installed exactly `v2`.
async fn falls_back(fx: &Fixture, keys: &Keys, builds: &Builds, server: &MockServer) {
    let v1 = std::fs::read(&builds.v1).unwrap();
    let v2 = std::fs::read(&builds.asset).unwrap();
    let updater = builder(fx, keys, &[server.url(CHECK)]).build().unwrap();
    let update = updater.check().await.unwrap().expect("an update");
    let check = &server.requests_to("/update/")[0];
    assert_eq!(check.header("X-Millennium-Installed"), Some(format!("blake2b-256:{}", blake2b_256_hex(&v1)).as_str()));
    assert!(update.uses_delta(), "the delta from the installed binary is planned");
    let mut transfers = Vec::new();
    update.download_and_install(|p| millennium_testing::push_change(&mut transfers, p.transfer)).await.unwrap();
    assert_eq!(
        transfers,
        [Transfer::Delta, Transfer::DeltaFailed, Transfer::Full][usize::from(transfers[0] != Transfer::Delta)..]
    );
    assert_eq!(std::fs::read(&fx.app).unwrap(), v2, "the full artifact is installed");
    assert_eq!(server.requests_to("/delta").len(), 1, "the delta was asked for once");
    assert_eq!(server.requests_to("/artifact").len(), 1, "then the full artifact");
    assert!(fx.downloads().is_empty(), "nothing left behind: {:?}", fx.downloads());
}

fn setup() -> (Fixture, Keys, Builds) {
    let fx = Fixture::new();
    let builds = rust_builds::builds(Path::new(env!("CARGO_TARGET_TMPDIR")));
    write_exe(&fx.app, &std::fs::read(&builds.v1).unwrap());
    (fx, Keys::generate(), builds)
}

#[tokio::test]
async fn a_delta_that_answers_404_falls_back_to_the_full_download() {
    let (fx, keys, b) = setup();
    let (v1, v2) = (std::fs::read(&b.v1).unwrap(), std::fs::read(&b.asset).unwrap());
    let server = server(&keys, v2, &v1, DeltaReply::NotFound).await;
    falls_back(&fx, &keys, &b, &server).await;
}

#[tokio::test]
async fn a_delta_whose_result_is_not_the_signed_artifact_falls_back_to_the_full_download() {
    let (fx, keys, b) = setup();
    let (v1, v2) = (std::fs::read(&b.v1).unwrap(), std::fs::read(&b.asset).unwrap());
    // A sound delta from the installed binary, to another build: it applies, and the signature check refuses the result.
    let delta = make(&b.v1, &b.function, b.dir.path());
    let server = server(&keys, v2, &v1, announced(delta)).await;
    falls_back(&fx, &keys, &b, &server).await;
}

#[tokio::test]
async fn a_delta_for_another_base_falls_back_to_the_full_download() {
    let (fx, keys, b) = setup();
    let (v1, v2) = (std::fs::read(&b.v1).unwrap(), std::fs::read(&b.asset).unwrap());
    // Offered as from the installed binary, made from another one.
    let delta = make(&b.function, &b.asset, b.dir.path());
    let server = server(&keys, v2, &v1, announced(delta)).await;
    falls_back(&fx, &keys, &b, &server).await;
}

#[tokio::test]
async fn a_corrupt_delta_with_a_consistent_announcement_falls_back_to_the_full_download() {
    let (fx, keys, b) = setup();
    let (v1, v2) = (std::fs::read(&b.v1).unwrap(), std::fs::read(&b.asset).unwrap());
    let mut delta = make(&b.v1, &b.asset, b.dir.path());
    let last = delta.len() - 1;
    delta[last] ^= 0xff;
    // The announced hash is the damaged file's: its decoder or the result's hash refuses it.
    let server = server(&keys, v2, &v1, announced(delta)).await;
    falls_back(&fx, &keys, &b, &server).await;
}

#[tokio::test]
async fn a_delta_larger_than_announced_is_cut_off_and_the_full_download_follows() {
    let (fx, keys, b) = setup();
    let (v1, v2) = (std::fs::read(&b.v1).unwrap(), std::fs::read(&b.asset).unwrap());
    let mut data = make(&b.v1, &b.asset, b.dir.path());
    let (size, hash) = (data.len() as u64, blake2b_256_hex(&data));
    data.extend(std::iter::repeat_n(0u8, 1 << 20));
    let server = server(&keys, v2, &v1, DeltaReply::Bytes { data, size, hash }).await;
    falls_back(&fx, &keys, &b, &server).await;
}
