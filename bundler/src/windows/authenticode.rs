//! Authenticode signing: built in with `osslsigncode` (certificate and key from files, or a PKCS#12 bundle), or a
//! user command for cloud signers (Azure Trusted Signing, KMS-backed tools, ...).
//!
//! Every signature goes through one generated shell script, `sign.sh FILE`, which signs `FILE` in place. The bundler
//! runs it on the app executable before packaging and on each installer after building; `makensis` runs it on the
//! uninstaller through `!uninstfinalize`, before the uninstaller is compressed into the installer. With osslsigncode
//! the signing time is `SOURCE_DATE_EPOCH`, so signing without a timestamp server is reproducible.

use std::path::{Path, PathBuf};

use super::{invalid, run_tool};
use crate::config::App;
use crate::error::{Error, Result};

/// Certificate path variable (used when `windows.signing.certificate` is not set).
pub const CERTIFICATE_ENV: &str = "MILLENNIUM_WINDOWS_CERTIFICATE";
/// Private key path variable (used when `windows.signing.key` is not set).
pub const KEY_ENV: &str = "MILLENNIUM_WINDOWS_CERTIFICATE_KEY";
/// Password of the key or PKCS#12 bundle.
pub const PASSWORD_ENV: &str = "MILLENNIUM_WINDOWS_CERTIFICATE_PASSWORD";

/// How files are signed.
#[derive(Debug, Clone)]
pub enum Signer {
    /// `osslsigncode sign`.
    Osslsigncode {
        certificate: PathBuf,
        /// `None` for a PKCS#12 bundle.
        key: Option<PathBuf>,
        password: Option<String>,
        timestamp_url: Option<String>,
    },
    /// A shell command with `{path}`.
    Command(String),
}

impl Signer {
    /// Reads and checks `windows.signing` (and the certificate variables).
    pub fn from_config(
        app: &App,
        signing: &super::config::Signing,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Signer> {
        if let Some(command) = &signing.sign_command {
            if signing.certificate.is_some() || signing.key.is_some() {
                return Err(invalid(
                    app,
                    "windows.signing.sign-command",
                    "set either `sign-command` or `certificate`/`key`, not both".into(),
                ));
            }
            if !command.contains("{path}") {
                return Err(invalid(
                    app,
                    "windows.signing.sign-command",
                    format!("`{command}` does not contain `{{path}}`, the file to sign"),
                ));
            }
            return Ok(Signer::Command(command.clone()));
        }
        let path = |configured: &Option<String>, var: &str| {
            configured
                .as_ref()
                .map(|p| app.root.join(p))
                .or_else(|| env(var).filter(|v| !v.is_empty()).map(PathBuf::from))
        };
        let certificate = path(&signing.certificate, CERTIFICATE_ENV).ok_or_else(|| {
            invalid(
                app,
                "windows.signing.certificate",
                format!("missing: set it, or `{CERTIFICATE_ENV}`, or use `sign-command`"),
            )
        })?;
        if !certificate.is_file() {
            return Err(Error::Missing {
                what: "signing certificate",
                path: certificate,
                hint: Some("fix `windows.signing.certificate`".into()),
            });
        }
        let pkcs12 =
            certificate.extension().is_some_and(|e| e.eq_ignore_ascii_case("pfx") || e.eq_ignore_ascii_case("p12"));
        let key = path(&signing.key, KEY_ENV);
        match &key {
            None if !pkcs12 => {
                return Err(invalid(
                    app,
                    "windows.signing.key",
                    format!("missing: a PEM/DER certificate needs its private key (or `{KEY_ENV}`); or give a .pfx"),
                ));
            }
            Some(k) if !k.is_file() => {
                return Err(Error::Missing {
                    what: "signing key",
                    path: k.clone(),
                    hint: Some("fix `windows.signing.key`".into()),
                });
            }
            _ => {}
        }
        if let Some(url) = &signing.timestamp_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(app, "windows.signing.timestamp-url", format!("`{url}` is not an http(s) URL")));
        }
        Ok(Signer::Osslsigncode {
            certificate,
            key: if pkcs12 { None } else { key },
            password: env(PASSWORD_ENV).filter(|p| !p.is_empty()),
            timestamp_url: signing.timestamp_url.clone(),
        })
    }

    /// Writes (once) the `sign.sh` script into `work` and returns its path.
    pub fn script(&self, app: &App, epoch: u64, work: &Path) -> Result<PathBuf> {
        let script = work.join("sign.sh");
        if script.is_file() {
            return Ok(script);
        }
        let body = match self {
            Signer::Command(command) => command.replace("{path}", "\"$1\""),
            Signer::Osslsigncode { certificate, key, password, timestamp_url } => {
                let mut args = Vec::new();
                match key {
                    Some(key) => {
                        args.extend(["-certs".into(), quote(&certificate.to_string_lossy())]);
                        args.extend(["-key".into(), quote(&key.to_string_lossy())]);
                    }
                    None => args.extend(["-pkcs12".into(), quote(&certificate.to_string_lossy())]),
                }
                if let Some(password) = password {
                    // The password goes through a private file, never the command line.
                    let file = work.join("sign.pass");
                    write_private(&file, password.as_bytes())?;
                    args.extend(["-readpass".into(), quote(&file.to_string_lossy())]);
                }
                args.extend(["-h".into(), "sha256".into(), "-n".into(), quote(&app.product_name)]);
                if let Some(home) = &app.homepage {
                    args.extend(["-i".into(), quote(home)]);
                }
                if let Some(url) = timestamp_url {
                    args.extend(["-ts".into(), quote(url)]);
                }
                args.extend(["-time".into(), epoch.to_string()]);
                format!(
                    "rm -f \"$1.signed\"\nosslsigncode sign {} -in \"$1\" -out \"$1.signed\" >/dev/null\nmv \"$1.signed\" \"$1\"",
                    args.join(" ")
                )
            }
        };
        let text = format!("#!/bin/sh\n# Signs \"$1\" in place.\nset -e\n{body}\n");
        write_private(&script, text.as_bytes())?;
        Ok(script)
    }

    /// Signs `file` in place.
    pub fn sign(&self, file: &Path, app: &App, epoch: u64, work: &Path) -> Result<()> {
        let script = self.script(app, epoch, work)?;
        let package = match self {
            Signer::Osslsigncode { .. } => "osslsigncode",
            Signer::Command(_) => "the signing tool of `windows.signing.sign-command`",
        };
        run_tool("Authenticode signature", std::process::Command::new("sh").arg(&script).arg(file), package).map_err(
            |e| match e {
                Error::Package { format, message } => {
                    Error::Package { format, message: format!("signing `{}`: {message}", file.display()) }
                }
                other => other,
            },
        )?;
        Ok(())
    }
}

/// Single-quotes for `sh`.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o700)
        .open(path)
        .map_err(Error::io("create", path))?;
    file.write_all(data).map_err(Error::io("write", path))
}
