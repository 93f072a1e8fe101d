//! Updater artifacts: a `.sig` next to each installer, made with `millennium-sign` (Tauri's base64 form, which Tauri
//! updaters and ours read; the trusted comment carries the file name and version), and a manifest fragment built with
//! `millennium-update-protocol`'s Tauri static manifest builder, so its keys (`linux-x86_64-deb`, …) and checks are the
//! protocol crate's, not re-implemented here. The installers themselves are what the update server serves: Tauri v2
//! updaters install `.AppImage`, `.deb` and `.rpm` files directly, and replace a macOS app with the `.app` inside
//! `Product.app.tar.gz`.

use millennium_sign::{SecretKey, Signature, TrustedComment};
use millennium_update_protocol::tauri::{self, ArtifactUrl, ReleaseInfo, SignatureText, StaticManifest};
use millennium_update_protocol::{BundleType, Os, Target, Version};

use crate::artifact::{Artifact, Contents, Format, Platform, Role};
use crate::config::App;
use crate::error::{Error, Result};
use crate::pipeline::Context;
use crate::{Arch, arch_label};

/// Loads the signing key from `MILLENNIUM_SIGNING_PRIVATE_KEY` (or Tauri's variables) and its password.
pub fn load_key(env: &dyn Fn(&str) -> Option<String>) -> Result<SecretKey> {
    let sign_err = |source| Error::Sign { file: "updater artifacts".into(), source };
    let (boxed, _origin) = millennium_sign::env::secret_key(None, env).map_err(sign_err)?;
    let password = millennium_sign::env::password(env);
    boxed.open(password.as_deref().map(|p| p.as_str())).map_err(sign_err)
}

/// Signs every artifact the updater installs ([`Artifact::update_bundle`]) and builds the manifest listing them.
/// Returns a `.sig` artifact for each, then the manifest, `PKG_VERSION_ARCH.update.json`: named after the target
/// architecture, or after the macOS app's (`universal` for both) when no Linux format is built. The manifest needs to
/// know where the files will be (`updater.artifact-base-url`); without it only the signatures are made, as for a
/// publish to an update server, which serves its own manifest.
pub(crate) fn sign_artifacts(ctx: &Context, key: &SecretKey, artifacts: &[Artifact]) -> Result<Vec<Artifact>> {
    let (app, epoch) = (ctx.app, ctx.epoch);
    let version = app.version.to_string();
    let has_nsis = artifacts.iter().any(|a| a.update_bundle() == Some(BundleType::Nsis));
    let mut out = Vec::new();
    let mut signed = Vec::new();
    let mut arches: Vec<Arch> = Vec::new();
    for artifact in artifacts {
        let (Some(bundle), Contents::File(bytes)) = (artifact.update_bundle(), &artifact.contents) else {
            continue;
        };
        // As from Tauri, clients that send no bundle type get the AppImage, the app, and the NSIS installer (the MSI
        // when there is none).
        let plain = match bundle {
            BundleType::Deb | BundleType::Rpm => false,
            BundleType::Msi => !has_nsis,
            _ => true,
        };
        // Signed when its format finished it (`Context::finished`).
        let early = ctx.signatures.borrow().get(&artifact.name).cloned();
        let signature = match early {
            Some(signature) => signature,
            None => sign(key, &artifact.name, bytes, &version, epoch)?,
        };
        let sig = sig_text(&signature).into_bytes();
        let name = format!("{}.sig", artifact.name);
        out.push(Artifact::file(Format::Updater, Role::Signature, name, sig, artifact.arches.clone()));
        signed.push((targets(bundle, &artifact.arches, plain)?, artifact.name.clone(), signature));
        for arch in &artifact.arches {
            if !arches.contains(arch) {
                arches.push(*arch);
            }
        }
    }
    if app.config.updater.as_ref().and_then(|u| u.artifact_base_url.as_ref()).is_none() {
        return Ok(out);
    }
    let mac_arches = artifacts.iter().find(|a| a.role == Role::UpdateArchive).map(|a| a.arches.as_slice());
    let label = match mac_arches {
        Some(mac) if !ctx.builds(Platform::Linux) => arch_label(mac),
        _ => ctx.arch.as_str(),
    };
    let name = format!("{}_{}_{label}.update.json", app.package_name, version);
    let manifest = manifest(app, epoch, &signed)?.into_bytes();
    out.push(Artifact::file(Format::Updater, Role::Manifest, name, manifest, arches));
    Ok(out)
}

/// Signs one installer; returns the signature.
pub fn sign(key: &SecretKey, file_name: &str, data: &[u8], version: &str, epoch: u64) -> Result<Signature> {
    let err = |source| Error::Sign { file: file_name.to_owned(), source };
    let comment = TrustedComment::tauri(epoch, file_name, Some(version)).map_err(err)?;
    Signature::sign(key, data, &comment).map_err(err)
}

/// The `.sig` file text.
pub fn sig_text(signature: &Signature) -> String {
    signature.to_text(millennium_sign::Format::Tauri)
}

/// The manifest keys an artifact serves: `{os}-{arch}-{bundle}` for each architecture it holds, plus the plain
/// `{os}-{arch}` for clients that send no bundle type (Tauri gives those the AppImage on Linux and the app on macOS).
///
/// `plain`: also list the artifact under the key without a bundle type (`linux-x86_64`, `windows-x86_64`,
/// `darwin-aarch64`), which clients that send no bundle type look up: as with Tauri, the AppImage, the `.app`, and the
/// NSIS installer (the MSI when there is none).
pub fn targets(bundle: BundleType, arches: &[Arch], plain: bool) -> Result<Vec<Target>> {
    let manifest_err = |source| Error::Manifest { source };
    let os = match bundle {
        BundleType::App => Os::Darwin,
        BundleType::Msi | BundleType::Nsis => Os::Windows,
        _ => Os::Linux,
    };
    let mut out = Vec::new();
    for arch in arches {
        out.push(Target::new(os, arch.protocol(), Some(bundle)).map_err(manifest_err)?);
        if plain {
            out.push(Target::new(os, arch.protocol(), None).map_err(manifest_err)?);
        }
    }
    Ok(out)
}

/// Builds the manifest fragment for the signed artifacts: `(manifest keys, file name, signature)`.
pub fn manifest(app: &App, epoch: u64, signed: &[(Vec<Target>, String, Signature)]) -> Result<String> {
    let manifest_err = |source| Error::Manifest { source };
    let base =
        app.config.updater.as_ref().and_then(|u| u.artifact_base_url.clone()).ok_or_else(|| Error::InvalidValue {
            file: app.source.file().to_owned(),
            key: "updater.artifact-base-url".into(),
            message: "missing: the `updater` format needs the URL the artifacts will be published under\nhint: add \
                      `[updater]` with `pubkey` and `artifact-base-url = \"https://releases.example.com/app/\"`"
                .into(),
        })?;
    let version = Version::parse(&app.version.to_string()).map_err(manifest_err)?;
    let date = time::OffsetDateTime::from_unix_timestamp(epoch as i64)
        .map_err(|e| Error::Usage { message: format!("SOURCE_DATE_EPOCH={epoch} is not a usable date: {e}") })?;
    let release = ReleaseInfo::new(version).with_pub_date(date).map_err(manifest_err)?;
    // Each platform entry carries its own backend's minimum.
    let mut builder = StaticManifest::builder(release).min_webview_versions(app.min_webview.clone());
    let sep = if base.ends_with('/') { "" } else { "/" };
    for (targets, file, signature) in signed {
        // File names may hold spaces (`Hello App.app.tar.gz`): the URL carries them percent-encoded.
        let url = ArtifactUrl::parse(&format!("{base}{sep}{}", file.replace(' ', "%20"))).map_err(manifest_err)?;
        let sig = SignatureText::from_signature(signature.clone()).map_err(manifest_err)?;
        for target in targets {
            builder = builder.platform(*target, tauri::Artifact::new(url.clone(), sig.clone()));
        }
    }
    Ok(builder.build().map_err(manifest_err)?.to_json())
}
