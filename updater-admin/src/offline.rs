//! What the holder of a release key does on their own machine for signed metadata (`docs/protocol.md` §7): sign the
//! next root, and sign release documents at publish and promote time. The server only ever receives the signed
//! envelopes; the release key never leaves this process.

use std::io::IsTerminal;
use std::path::Path;

use millennium_sign::{KeyId, PublicKey, SecretKey, Signature};
use millennium_update_protocol::Version;
use millennium_update_protocol::metadata::{ArtifactInfo, Envelope, Kind, Release, Root, SPEC_VERSION, TrustState};
use millennium_update_protocol::webview::WebviewMinimums;

use crate::client::UploadArtifact;
use crate::env_vars;
use crate::error::{Error, Result};

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn open_key(path: Option<&Path>, password_var: &str, what: &str) -> Result<SecretKey> {
    let (sealed, origin) = millennium_sign::env::secret_key(path, process_env)
        .map_err(|e| Error::usage(format!("{e}\nhint: pass the {what} with `--release-key FILE`")))?;
    if !sealed.is_encrypted() {
        return sealed.open(None).map_err(|e| Error::usage(format!("cannot use the {what} {origin}: {e}")));
    }
    let password = match process_env(password_var).map(zeroize::Zeroizing::new) {
        Some(password) => password,
        None if std::io::stdin().is_terminal() => zeroize::Zeroizing::new(
            rpassword::prompt_password(format!("Password of the {what} {origin}: "))
                .map_err(|e| Error::usage(format!("could not read the password: {e}")))?,
        ),
        None => {
            return Err(Error::usage(format!(
                "the {what} {origin} is encrypted, and `{password_var}` gives no password\nhint: set it, or run in a terminal to be asked"
            )));
        }
    };
    sealed.open(Some(&password)).map_err(|e| Error::usage(format!("cannot use the {what} {origin}: {e}")))
}

/// The release key: from `path`, else `MILLENNIUM_SIGNING_PRIVATE_KEY` (as `millennium-sign` reads it); its password
/// from `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD`, else a terminal prompt.
pub fn release_key(path: Option<&Path>) -> Result<SecretKey> {
    let password_var = millennium_sign::env::PRIVATE_KEY_PASSWORD;
    open_key(path, password_var, "release key")
}

/// The new release key of a rotation, from `path`; its password from `MILLENNIUM_SIGNING_NEW_PRIVATE_KEY_PASSWORD`.
pub fn new_release_key(path: &Path) -> Result<SecretKey> {
    open_key(Some(path), env_vars::NEW_KEY_PASSWORD, "new release key")
}

/// Parses `roots.json` (a JSON array of envelopes).
pub fn parse_roots(text: &str) -> Result<Vec<Envelope>> {
    let items: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| Error::usage(format!("the roots are not a JSON array: {e}")))?;
    items
        .iter()
        .map(|item| {
            Envelope::parse(item.to_string().as_bytes()).map_err(|e| Error::usage(format!("unreadable root: {e}")))
        })
        .collect()
}

/// What goes into the next root besides what the current one says.
#[derive(Debug, Default)]
pub struct RootChange<'a> {
    /// Replaces the release keys (rotation); the root is then signed by the current and the new key.
    pub new_release_key: Option<&'a SecretKey>,
    /// The online keys to list (the server's, usually).
    pub online_keys: Vec<PublicKey>,
    /// Keys to revoke from now on (kept with those already revoked).
    pub revoke: Vec<KeyId>,
}

/// Signs the root that follows `roots` (root 1 when there is none). The existing chain is first verified from
/// `signer` exactly as a client pinned to it would, so a wrong key or a tampered history is refused here.
pub fn next_root(
    app: &str,
    roots: &[Envelope],
    signer: &SecretKey,
    change: &RootChange<'_>,
) -> Result<(Envelope, Root)> {
    let current = if roots.is_empty() {
        None
    } else {
        let trust = TrustState::bootstrap(app, &signer.public_key(), roots).map_err(|e| {
            Error::usage(format!(
                "the app's roots do not chain from the release key {}: {e}\nhint: sign with a release key of the current root",
                signer.key_id()
            ))
        })?;
        Some(trust.current_root().map_err(|e| Error::internal(format!("current root: {e}")))?)
    };
    let version = current.as_ref().map_or(1, |root| root.version + 1);
    let mut revoked: Vec<String> = current.as_ref().map(|root| root.revoked_keys.clone()).unwrap_or_default();
    for id in &change.revoke {
        let id = id.to_string();
        if !revoked.contains(&id) {
            revoked.push(id);
        }
    }
    let is_revoked = |key: &PublicKey| revoked.contains(&key.key_id().to_string());
    let release_keys: Vec<PublicKey> = match (change.new_release_key, &current) {
        (Some(new), _) => vec![new.public_key()],
        (None, Some(root)) => root
            .release_keys
            .iter()
            .map(|k| PublicKey::from_text(k).map_err(|e| Error::internal(format!("current root's key: {e}"))))
            .collect::<Result<_>>()?,
        (None, None) => vec![signer.public_key()],
    };
    let release_keys: Vec<PublicKey> = release_keys.into_iter().filter(|k| !is_revoked(k)).collect();
    let online_keys: Vec<PublicKey> = change.online_keys.iter().filter(|k| !is_revoked(k)).cloned().collect();
    if online_keys.is_empty() {
        return Err(Error::usage(
            "the new root would list no (unrevoked) online key, so the server could not sign freshness documents\nhint: `millennium-update-server online-key generate --app APP` first, or pass `--online-key`",
        ));
    }
    let mut root = Root::new(app, version, &release_keys, &online_keys);
    root.revoked_keys = revoked;
    let mut signers = vec![signer];
    signers.extend(change.new_release_key);
    let envelope =
        Envelope::sign(&root, Kind::Root, &signers).map_err(|e| Error::internal(format!("signing the root: {e}")))?;
    Ok((envelope, root))
}

/// Signs the release document of `version` on `channel` (needing at least `min_webview_version`, per backend) for
/// `artifacts` (each hashed from disk, in constant memory).
pub async fn release_document(
    app: &str,
    channel: &str,
    version: &Version,
    sequence: u64,
    min_webview_version: WebviewMinimums,
    artifacts: &[UploadArtifact],
    key: &SecretKey,
) -> Result<Envelope> {
    let mut infos = Vec::with_capacity(artifacts.len());
    for artifact in artifacts {
        let signature = Signature::from_text(artifact.signature.trim_end_matches(['\r', '\n']))
            .or_else(|_| Signature::from_text(&artifact.signature))
            .map_err(|e| Error::SignatureRejected { target: artifact.target.to_string(), reason: e.to_string() })?;
        let file = artifact
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::usage(format!("`{}` has no usable file name", artifact.path.display())))?
            .to_owned();
        let (target, path) = (artifact.target, artifact.path.clone());
        let info = tokio::task::spawn_blocking(move || -> Result<ArtifactInfo> {
            let data = std::fs::File::open(&path).map_err(|e| Error::io("could not open", &path, e))?;
            ArtifactInfo::describe(target, &file, std::io::BufReader::with_capacity(256 * 1024, data), &signature)
                .map_err(|e| Error::io("could not read", &path, e))
        })
        .await
        .map_err(|e| Error::internal(format!("hash task: {e}")))??;
        infos.push(info);
    }
    let release = Release {
        kind: Kind::Release,
        spec_version: SPEC_VERSION,
        app: app.to_owned(),
        channel: channel.to_owned(),
        version: version.clone(),
        sequence,
        artifacts: infos,
        min_webview_version,
    };
    Envelope::sign(&release, Kind::Release, &[key]).map_err(|e| Error::internal(format!("signing the release: {e}")))
}
