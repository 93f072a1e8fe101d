//! What the holders of root and release keys do on their own machines for signed metadata (`docs/protocol.md` §7):
//! sign the next root (with several root keys, possibly one machine after the other), sign release documents at
//! publish and promote time, and sign yank lists. The server only ever receives the signed envelopes; the keys never
//! leave this process.

use std::io::IsTerminal;
use std::path::Path;

use millennium_sign::{KeyId, PublicKey, SecretKey, Signature};
use millennium_update_protocol::Version;
use millennium_update_protocol::metadata::{
    ArtifactInfo, Envelope, Kind, Release, Root, RootSignatures, SPEC_VERSION, TrustState, Yanks,
};
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
    open_sealed(sealed, &origin, password_var, what)
}

fn open_sealed(
    sealed: millennium_sign::SecretKeyBox,
    origin: &dyn std::fmt::Display,
    password_var: &str,
    what: &str,
) -> Result<SecretKey> {
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

/// A root key, from `path`; its password from `MILLENNIUM_ROOT_KEY_PASSWORD`, else a terminal prompt.
pub fn root_key(path: &Path) -> Result<SecretKey> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("could not read", path, e))?;
    let sealed = millennium_sign::SecretKeyBox::from_text(&text)
        .map_err(|e| Error::usage(format!("`{}` is not a secret key: {e}", path.display())))?;
    open_sealed(sealed, &format!("`{}`", path.display()), env_vars::ROOT_KEY_PASSWORD, "root key")
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
    /// Replaces the release keys (rotation); the root is then signed by the new key too, so that an app built with it
    /// (which pins it) finds a root it signed to start trusting from. In a root of the first format that signature is
    /// also one of the root's own; with root keys it only anchors.
    pub new_release_key: Option<&'a SecretKey>,
    /// The release keys to list (default: the current root's); required for the first root.
    pub release_keys: Option<Vec<PublicKey>>,
    /// The root keys to list (default: the current root's).
    pub root_keys: Option<Vec<PublicKey>>,
    /// How many root keys must sign (default: the current root's).
    pub threshold: Option<u32>,
    /// The online keys to list.
    pub online_keys: Vec<PublicKey>,
    /// Keys to revoke from now on (kept with those already revoked).
    pub revoke: Vec<KeyId>,
}

/// A root signed here, and what its signatures amount to.
#[derive(Debug, Clone)]
pub struct SignedRoot {
    pub envelope: Envelope,
    pub root: Root,
    pub signatures: RootSignatures,
}

/// The trust a client pinned to one of `keys` would have after reading `roots` (`None` when there is no root yet):
/// the existing chain is verified, so a tampered history or a key it does not lead to is refused here.
pub fn verified_chain(app: &str, roots: &[Envelope], keys: &[PublicKey]) -> Result<Option<TrustState>> {
    if roots.is_empty() {
        return Ok(None);
    }
    let mut first_error = None;
    for key in keys {
        match TrustState::bootstrap(app, key, roots) {
            Ok(trust) => return Ok(Some(trust)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let ids: Vec<String> = keys.iter().map(|k| k.key_id().to_string()).collect();
    Err(Error::usage(format!(
        "the app's roots do not chain from the keys given ({}){}\nhint: sign with root keys of the current root (`--root-key`; the release key, for a root of the first format)",
        ids.join(", "),
        first_error.map(|e| format!(": {e}")).unwrap_or_default()
    )))
}

/// What `envelope` (root 1, or the root after `trust`'s) carries against what it needs.
pub fn root_signatures(app: &str, trust: Option<&TrustState>, envelope: &Envelope) -> Result<RootSignatures> {
    match trust {
        Some(trust) => trust.root_signatures(envelope),
        None => TrustState::first_root_signatures(app, envelope),
    }
    .map_err(|e| Error::usage(format!("the root cannot be accepted: {e}")))
}

/// The root keys and threshold of the root after `current` (root 1 when `None`): those `change` gives, else the
/// current root's; `None` to keep a root of the first format. Fails, saying what to pass, when root 1 would have none
/// or a threshold comes without root keys.
pub fn next_root_keys(current: Option<&Root>, change: &RootChange<'_>) -> Result<Option<(Vec<PublicKey>, u32)>> {
    let current_root_keys = current.filter(|root| root.has_root_keys());
    let keys = match (&change.root_keys, current_root_keys) {
        (Some(keys), _) => keys.clone(),
        (None, Some(root)) => root
            .root_keys
            .iter()
            .map(|k| PublicKey::from_text(k).map_err(|e| Error::internal(format!("current root's root key: {e}"))))
            .collect::<Result<_>>()?,
        (None, None) if current.is_none() => {
            return Err(Error::usage(
                "the first root needs root keys, kept offline apart from the release key CI holds\nhint: generate three with `millennium-sign generate`, then `root sign --release-key RELEASE.key --root-public-key A.pub --root-public-key B.pub --root-public-key C.pub --threshold 2 --root-key A.key --output root-1.json`, `root cosign --root-key B.key root-1.json` on B's machine, and `root upload root-1.json` (one root key: `--threshold 1`)",
            ));
        }
        (None, None) if change.threshold.is_some() => {
            return Err(Error::usage(
                "`--threshold` needs root keys: the current root has none (its release keys sign roots)\nhint: list them with `--root-public-key`",
            ));
        }
        (None, None) => return Ok(None),
    };
    let threshold = change.threshold.or(current_root_keys.and_then(|root| root.root_threshold)).ok_or_else(|| {
        Error::usage("give the number of root keys that must sign with `--threshold` (2 of 3 is the recommended setup)")
    })?;
    Ok(Some((keys, threshold)))
}

/// Signs the root that follows `trust`'s (root 1 when there is none) with `signers`: root keys, and the release key
/// where it signs roots (root 1, which the server wants signed by the key the app was registered with, and roots
/// after one of the first format). Other root-key holders may co-sign the result ([`cosign_root`]).
pub fn next_root(
    app: &str,
    trust: Option<&TrustState>,
    signers: &[&SecretKey],
    change: &RootChange<'_>,
) -> Result<SignedRoot> {
    let current = trust.map(TrustState::current_root).transpose().map_err(|e| Error::internal(format!("{e}")))?;
    let version = current.as_ref().map_or(1, |root| root.version + 1);
    let mut revoked: Vec<String> = match trust {
        Some(trust) => {
            trust.revoked().map_err(|e| Error::internal(format!("{e}")))?.iter().map(ToString::to_string).collect()
        }
        None => Vec::new(),
    };
    for id in &change.revoke {
        let id = id.to_string();
        if !revoked.contains(&id) {
            revoked.push(id);
        }
    }
    let unrevoked = |keys: Vec<PublicKey>| -> Vec<PublicKey> {
        keys.into_iter().filter(|k| !revoked.contains(&k.key_id().to_string())).collect()
    };
    let parse = |list: &[String], what: &str| -> Result<Vec<PublicKey>> {
        list.iter()
            .map(|k| PublicKey::from_text(k).map_err(|e| Error::internal(format!("current root's {what}: {e}"))))
            .collect()
    };
    let release_keys = match (&change.release_keys, change.new_release_key, &current) {
        (Some(keys), _, _) => keys.clone(),
        (None, Some(new), _) => vec![new.public_key()],
        (None, None, Some(root)) => parse(&root.release_keys, "release key")?,
        (None, None, None) => return Err(Error::internal("the first root needs its release keys")),
    };
    let release_keys = unrevoked(release_keys);
    let online_keys = unrevoked(change.online_keys.clone());
    if online_keys.is_empty() {
        return Err(Error::usage(
            "the new root would list no (unrevoked) online key, so the server could not sign freshness documents\nhint: `millennium-update-server online-key generate --app APP` first, or pass `--online-key`",
        ));
    }
    let mut root = Root::new(app, version, &release_keys, &online_keys);
    if let Some((keys, threshold)) = next_root_keys(current.as_ref(), change)? {
        root = root.with_root_keys(&unrevoked(keys), threshold);
    }
    root.revoked_keys = revoked;
    // The new release key signs even where root keys decide: a client pinned to it anchors only at a root it signed
    // (TrustState::bootstrap), and its signature counts towards no threshold.
    let mut signers = signers.to_vec();
    signers.extend(change.new_release_key);
    let envelope =
        Envelope::sign(&root, Kind::Root, &signers).map_err(|e| Error::internal(format!("signing the root: {e}")))?;
    let signatures = root_signatures(app, trust, &envelope)?;
    Ok(SignedRoot { envelope, root, signatures })
}

/// Adds the signatures of `signers` to a root signed elsewhere (`root sign --output`), after checking that it follows
/// `trust`'s root (or is root 1 when `trust` is `None`).
pub fn cosign_root(
    app: &str,
    trust: Option<&TrustState>,
    mut envelope: Envelope,
    signers: &[&SecretKey],
) -> Result<SignedRoot> {
    let root: Root = serde_json::from_str(&envelope.payload)
        .map_err(|e| Error::usage(format!("the file is not a root document: {e}")))?;
    let expected = trust.map_or(1, |t| t.root_version + 1);
    if root.version != expected {
        return Err(Error::usage(format!(
            "this is root {} of app `{}`, but the next root is {expected}\nhint: sign the root that follows the current one",
            root.version, root.app
        )));
    }
    if root.app != app {
        return Err(Error::usage(format!("this root is for app `{}`, not `{app}`", root.app)));
    }
    envelope.add_signatures(Kind::Root, signers).map_err(|e| Error::usage(format!("cannot co-sign the root: {e}")))?;
    let signatures = root_signatures(app, trust, &envelope)?;
    Ok(SignedRoot { envelope, root, signatures })
}

/// Signs the yank list numbered `sequence` of `app`, listing `versions`.
pub fn yank_list(app: &str, sequence: u64, versions: Vec<Version>, key: &SecretKey) -> Result<Envelope> {
    Envelope::sign(&Yanks::new(app, sequence, versions), Kind::Yanks, &[key])
        .map_err(|e| Error::internal(format!("signing the yank list: {e}")))
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
