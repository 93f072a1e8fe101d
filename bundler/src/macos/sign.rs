//! Code signing and notarisation from any OS through the `rcodesign` CLI (from the `apple-codesign` project), the way
//! Tauri reads its credentials:
//!
//! - `APPLE_CERTIFICATE`: the Developer ID Application certificate and key as a base64 `.p12`, with
//!   `APPLE_CERTIFICATE_PASSWORD`. Without it, or without `rcodesign` on `PATH` (or at `RCODESIGN`), signing is
//!   skipped with a message and unsigned outputs are produced.
//! - `APPLE_API_ISSUER`, `APPLE_API_KEY` (key ID) and `APPLE_API_KEY_PATH` (the `AuthKey_<ID>.p8` file): an App
//!   Store Connect API key. With it, the signed `.app` is notarised and the ticket stapled; without it, notarisation
//!   is skipped with a message.
//!
//! The `.app` is signed with the hardened runtime (and `macos.entitlements` when set), notarised and stapled before
//! the updater tarball and the disk image are made from it; the `.dmg` is then signed too.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::error::{Error, Result};
use crate::macos::Bundle;
use crate::tree::Tree;

/// Credentials and tool found in the environment.
#[derive(Debug)]
pub struct Signing {
    rcodesign: PathBuf,
    /// Holds the `.p12` and password files for the duration of the run.
    dir: tempfile::TempDir,
    entitlements: Option<PathBuf>,
    notary: std::result::Result<ApiKey, String>,
}

/// An App Store Connect API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub issuer: String,
    pub key_id: String,
    pub p8: PathBuf,
}

fn on_path(program: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let paths = env("PATH")?;
    std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.is_file())
}

impl Signing {
    /// Reads the credentials. `Err` holds why signing is skipped; a certificate that is present but unusable is
    /// reported as a skip reason too, naming the variable, since unsigned outputs are still valid builds.
    pub fn from_env(
        entitlements: Option<PathBuf>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<Signing, String> {
        let Some(certificate) = env("APPLE_CERTIFICATE").filter(|c| !c.trim().is_empty()) else {
            return Err("no certificate: set `APPLE_CERTIFICATE` (base64 of a Developer ID Application .p12) and \
                        `APPLE_CERTIFICATE_PASSWORD` to sign"
                .into());
        };
        let rcodesign = match env("RCODESIGN") {
            Some(p) => PathBuf::from(p),
            None => on_path("rcodesign", env).ok_or(
                "`rcodesign` is not installed: install it with `cargo install apple-codesign` (or set `RCODESIGN` to \
                 its path) to sign from this machine",
            )?,
        };
        let p12 = base64::engine::general_purpose::STANDARD
            .decode(certificate.split_whitespace().collect::<String>())
            .map_err(|e| format!("`APPLE_CERTIFICATE` is not base64 ({e}): encode the .p12 with `base64 -w0`"))?;
        let dir = tempfile::tempdir().map_err(|e| format!("could not create a temporary directory: {e}"))?;
        std::fs::write(dir.path().join("certificate.p12"), p12).map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("password"), env("APPLE_CERTIFICATE_PASSWORD").unwrap_or_default())
            .map_err(|e| e.to_string())?;
        if let Some(path) = &entitlements
            && !path.is_file()
        {
            return Err(format!("`macos.entitlements` file `{}` does not exist", path.display()));
        }
        let notary = match (env("APPLE_API_ISSUER"), env("APPLE_API_KEY"), env("APPLE_API_KEY_PATH")) {
            (Some(issuer), Some(key_id), Some(p8)) => Ok(ApiKey { issuer, key_id, p8: PathBuf::from(p8) }),
            _ => Err("no App Store Connect API key: set `APPLE_API_ISSUER`, `APPLE_API_KEY` and `APPLE_API_KEY_PATH` \
                      to notarise"
                .into()),
        };
        Ok(Signing { rcodesign, dir, entitlements, notary })
    }

    fn p12(&self) -> PathBuf {
        self.dir.path().join("certificate.p12")
    }

    fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }
}

/// `rcodesign sign` arguments for a bundle or disk image at `path`.
pub fn sign_args(p12: &Path, password_file: &Path, entitlements: Option<&Path>, path: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["sign".into(), "--p12-file".into(), p12.into()];
    args.extend(["--p12-password-file".into(), password_file.into()]);
    let is_app = path.extension().is_some_and(|e| e == "app");
    if is_app {
        // The hardened runtime is required for notarisation.
        args.extend(["--code-signature-flags".into(), "runtime".into()]);
        if let Some(e) = entitlements {
            args.extend(["--entitlements-xml-file".into(), e.into()]);
        }
    }
    args.push(path.into());
    args
}

/// `rcodesign encode-app-store-connect-api-key` arguments: writes the JSON key file `notary-submit` reads.
pub fn encode_key_args(key: &ApiKey, json: &Path) -> Vec<OsString> {
    vec![
        "encode-app-store-connect-api-key".into(),
        "--output-path".into(),
        json.into(),
        key.issuer.clone().into(),
        key.key_id.clone().into(),
        key.p8.clone().into(),
    ]
}

/// `rcodesign notary-submit` arguments: upload, wait and staple the ticket.
pub fn notarize_args(json: &Path, path: &Path) -> Vec<OsString> {
    vec!["notary-submit".into(), "--api-key-path".into(), json.into(), "--staple".into(), path.into()]
}

fn run(signing: &Signing, args: &[OsString], what: &str) -> Result<()> {
    let output = std::process::Command::new(&signing.rcodesign).args(args).output().map_err(|e| Error::Package {
        format: "app",
        message: format!("could not run `{}` to {what}: {e}", signing.rcodesign.display()),
    })?;
    if !output.status.success() {
        return Err(Error::Package {
            format: "app",
            message: format!(
                "`rcodesign` failed to {what} ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(())
}

/// Signs (and, with an API key, notarises and staples) the bundle; returns the bundle as `rcodesign` left it.
pub fn sign_app(signing: &Signing, bundle: Bundle, warnings: &mut Vec<String>) -> Result<Bundle> {
    let work = tempfile::tempdir().map_err(Error::io("create a temporary directory in", std::env::temp_dir()))?;
    let path = work.path().join(&bundle.name);
    bundle.tree.write_to(&path)?;
    run(
        signing,
        &sign_args(&signing.p12(), &signing.password_file(), signing.entitlements.as_deref(), &path),
        "sign the app",
    )?;
    match &signing.notary {
        Ok(key) => {
            let json = signing.dir.path().join("api-key.json");
            run(signing, &encode_key_args(key, &json), "read the App Store Connect API key")?;
            run(signing, &notarize_args(&json, &path), "notarise the app")?;
        }
        Err(skipped) => warnings.push(format!("macOS notarisation skipped: {skipped}")),
    }
    Ok(Bundle { tree: Tree::read_from(&path)?, unsigned_arm64: Vec::new(), ..bundle })
}

/// Signs a disk image; returns the signed bytes.
pub fn sign_dmg(signing: &Signing, name: &str, image: Vec<u8>) -> Result<Vec<u8>> {
    let work = tempfile::tempdir().map_err(Error::io("create a temporary directory in", std::env::temp_dir()))?;
    let path = work.path().join(name);
    std::fs::write(&path, image).map_err(Error::io("write", &path))?;
    run(signing, &sign_args(&signing.p12(), &signing.password_file(), None, &path), "sign the disk image")?;
    std::fs::read(&path).map_err(Error::io("read", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn app_is_signed_with_hardened_runtime_and_entitlements() {
        let args = sign_args(
            Path::new("/t/c.p12"),
            Path::new("/t/pw"),
            Some(Path::new("/app/entitlements.plist")),
            Path::new("/w/Hello App.app"),
        );
        assert_eq!(
            strings(&args),
            [
                "sign",
                "--p12-file",
                "/t/c.p12",
                "--p12-password-file",
                "/t/pw",
                "--code-signature-flags",
                "runtime",
                "--entitlements-xml-file",
                "/app/entitlements.plist",
                "/w/Hello App.app"
            ]
        );
    }

    #[test]
    fn dmg_is_signed_without_runtime_flags() {
        let args = sign_args(Path::new("c.p12"), Path::new("pw"), Some(Path::new("e.plist")), Path::new("x.dmg"));
        assert_eq!(strings(&args), ["sign", "--p12-file", "c.p12", "--p12-password-file", "pw", "x.dmg"]);
    }

    #[test]
    fn notarisation_encodes_the_key_then_submits_and_staples() {
        let key = ApiKey { issuer: "69a6de7e-0000".into(), key_id: "ABC123".into(), p8: "/k/AuthKey_ABC123.p8".into() };
        assert_eq!(
            strings(&encode_key_args(&key, Path::new("/t/key.json"))),
            [
                "encode-app-store-connect-api-key",
                "--output-path",
                "/t/key.json",
                "69a6de7e-0000",
                "ABC123",
                "/k/AuthKey_ABC123.p8"
            ]
        );
        assert_eq!(
            strings(&notarize_args(Path::new("/t/key.json"), Path::new("/w/A.app"))),
            ["notary-submit", "--api-key-path", "/t/key.json", "--staple", "/w/A.app"]
        );
    }

    #[test]
    fn skips_without_certificate_or_rcodesign() {
        let none = Signing::from_env(None, &env_with(&[("PATH", "/usr/bin")])).unwrap_err();
        assert!(none.starts_with("no certificate: set `APPLE_CERTIFICATE`"), "{none}");
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().display().to_string();
        let no_tool =
            Signing::from_env(None, &env_with(&[("APPLE_CERTIFICATE", "MIIC"), ("PATH", &path)])).unwrap_err();
        assert!(no_tool.contains("`rcodesign` is not installed") && no_tool.contains("cargo install apple-codesign"));
    }

    fn env_with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| vars.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn certificate_must_be_base64_and_notarisation_needs_the_whole_key() {
        let bad = Signing::from_env(None, &env_with(&[("APPLE_CERTIFICATE", "not base64!"), ("RCODESIGN", "/x")]))
            .unwrap_err();
        assert!(bad.contains("`APPLE_CERTIFICATE` is not base64"), "{bad}");
        let partial =
            [("APPLE_CERTIFICATE", "MIIC"), ("RCODESIGN", "/x"), ("APPLE_API_ISSUER", "i"), ("APPLE_API_KEY", "k")];
        let signing = Signing::from_env(None, &env_with(&partial)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read(signing.p12()).unwrap_or_default(), [0x30, 0x82, 0x02]);
        assert!(signing.notary.as_ref().unwrap_err().contains("APPLE_API_KEY_PATH"));
        let full = [
            ("APPLE_CERTIFICATE", "MIIC"),
            ("RCODESIGN", "/x"),
            ("APPLE_API_ISSUER", "i"),
            ("APPLE_API_KEY", "k"),
            ("APPLE_API_KEY_PATH", "/k.p8"),
        ];
        let signing = Signing::from_env(None, &env_with(&full)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(signing.notary, Ok(ApiKey { issuer: "i".into(), key_id: "k".into(), p8: "/k.p8".into() }));
    }
}
