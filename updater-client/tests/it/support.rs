//! The Tauri side of the updater's tests: an updater configured for a test, the update answers a Tauri-style server
//! sends (dynamic and static), a scriptable server offering one, and binaries for this platform and another. Servers,
//! keys and the app to update come from `millennium-testing`.

#![allow(clippy::unwrap_used)] // test support: failing loudly is the point

use std::sync::Arc;
use std::time::Duration;

use millennium_sign::Signature;
use millennium_testing::app::Fixture;
use millennium_testing::http::{MockServer, Reply, serve_file};
use millennium_testing::keys::Keys;
use millennium_update_protocol::tauri::{Artifact, ArtifactUrl, DynamicResponse, ReleaseInfo, SignatureText};
use millennium_update_protocol::{Target, Version};
use millennium_updater::{Updater, UpdaterBuilder};

/// The Tauri-style check endpoint template the tests configure.
pub const CHECK: &str = "/update/{{target}}/{{arch}}/{{current_version}}";

/// An updater of `fx`'s app at 1.0.0 pinning `keys`, checking `endpoints` in order, with short timeouts.
pub fn builder(fx: &Fixture, keys: &Keys, endpoints: &[String]) -> UpdaterBuilder {
    let mut b = Updater::builder()
        .pubkey(&keys.public_text)
        .current_version("1.0.0")
        .executable(&fx.app)
        .bundle_type(None)
        .state_dir(&fx.state)
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_secs(2))
        .check_timeout(Duration::from_secs(3));
    for e in endpoints {
        b = b.endpoint(e);
    }
    b
}

/// The release the tests offer: `version`, with notes.
pub fn release(version: &str) -> ReleaseInfo {
    ReleaseInfo::new(Version::parse(version).unwrap()).with_notes("notes for the test").unwrap()
}

/// The dynamic Tauri response for `release` with an artifact at `url` signed by `signature`.
pub fn dynamic_json_for(release: ReleaseInfo, url: &str, signature: Signature) -> String {
    let artifact = Artifact::new(ArtifactUrl::parse(url).unwrap(), SignatureText::from_signature(signature).unwrap());
    DynamicResponse::new(release, artifact).unwrap().to_json()
}

/// The dynamic Tauri response for `version` with an artifact at `url` signed by `signature`.
pub fn dynamic_json(version: &str, url: &str, signature: Signature) -> String {
    dynamic_json_for(release(version), url, signature)
}

/// A server answering every check under `/update/` with `release`, whose artifact `v2` (signed by `keys` for the
/// release's version) it serves at `/artifact` with ranges.
pub async fn offering(keys: &Keys, v2: Vec<u8>, release: ReleaseInfo) -> MockServer {
    let signature = keys.sign(&v2, Some(&release.version().to_string()));
    let json = Arc::new(std::sync::OnceLock::<String>::new());
    let served = json.clone();
    let server = MockServer::start(move |req| {
        if req.path.starts_with("/update/") {
            Reply::json(served.get().unwrap().clone())
        } else if req.path == "/artifact" {
            serve_file(req, &v2, "\"v2\"")
        } else {
            Reply::status(404)
        }
    })
    .await;
    json.set(dynamic_json_for(release, &server.url("/artifact"), signature)).unwrap();
    server
}

/// A static `latest.json` listing `target`.
pub fn static_json(version: &str, target: &str, url: &str, signature: Signature) -> String {
    let release = ReleaseInfo::new(Version::parse(version).unwrap());
    let artifact = Artifact::new(ArtifactUrl::parse(url).unwrap(), SignatureText::from_signature(signature).unwrap());
    millennium_update_protocol::tauri::StaticManifest::builder(release)
        .platform(target.parse::<Target>().unwrap(), artifact)
        .build()
        .unwrap()
        .to_json()
}

/// A fake ELF header for this machine's architecture, padded to `size` with `fill`: passes for an AppImage.
pub fn native_elf(size: usize, fill: u8) -> Vec<u8> {
    let machine: u16 = match std::env::consts::ARCH {
        "x86_64" => 62,
        "aarch64" => 183,
        "riscv64" => 243,
        other => panic!("no ELF machine number for `{other}` in the tests yet"),
    };
    let mut h = vec![fill; size.max(64)];
    h[..20].fill(0);
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[6] = 1;
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h
}

/// A fake ELF header for another architecture (aarch64) padded to `size`.
pub fn foreign_elf(size: usize) -> Vec<u8> {
    let mut h = vec![0u8; size.max(64)];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[6] = 1;
    h[18..20].copy_from_slice(&183u16.to_le_bytes());
    h
}
