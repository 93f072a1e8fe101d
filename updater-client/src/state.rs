//! The updater's per-install state directory.
//!
//! One private (`0700`) directory per installed app holds:
//!
//! - `install-id`: a random UUID generated on first use and sent as `Millennium-Install-Id`, so a server can count
//!   installs and roll out gradually without any personal data;
//! - `downloads/`: partial and verified downloads (`*.part` plus a `*.part.json` record of the URL and the server's
//!   validator, used to resume with `Range` + `If-Range`);
//! - `pending-update.json`: the rollback record, written atomically just before a new version is renamed into place
//!   and cleared by [`crate::Updater::confirm_healthy`] (see [`crate::rollback`]).
//!
//! The default location is `$MILLENNIUM_UPDATER_STATE_DIR`, else `$XDG_STATE_HOME/<app id>/updater`, else
//! `~/.local/state/<app id>/updater` (`%LOCALAPPDATA%\<app id>\updater` on Windows).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::{env_vars, fs};

/// The state directory of one install.
#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The default state directory for `app_id` (see the module docs).
    pub(crate) fn default_for(app_id: &str) -> Result<PathBuf> {
        if let Some(dir) = std::env::var_os(env_vars::STATE_DIR).filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        #[cfg(windows)]
        let base = std::env::var_os("LOCALAPPDATA").map(PathBuf::from);
        #[cfg(not(windows))]
        let base = std::env::var_os("XDG_STATE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state")));
        let base = base.ok_or_else(|| Error::InvalidConfig {
            reason: format!("no home directory to keep the updater state in; set `{}`", env_vars::STATE_DIR),
        })?;
        Ok(base.join(app_id).join("updater"))
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn ensure(&self) -> Result<()> {
        fs::create_private_dir(&self.root)
    }

    pub(crate) fn downloads(&self) -> Result<PathBuf> {
        let dir = self.root.join("downloads");
        fs::create_private_dir(&dir)?;
        Ok(dir)
    }

    pub(crate) fn pending_file(&self) -> PathBuf {
        self.root.join("pending-update.json")
    }

    /// The install id, generated and persisted on first use. A missing or corrupt file is replaced.
    pub(crate) fn install_id(&self) -> Result<String> {
        let path = self.root.join("install-id");
        match std::fs::read_to_string(&path) {
            Ok(text) if is_uuid(text.trim()) => return Ok(text.trim().to_owned()),
            Ok(_) => tracing::warn!(path = %path.display(), "install id file is corrupt; generating a new id"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read", &path, e)),
        }
        self.ensure()?;
        let id = new_uuid()?;
        fs::write_atomic(&path, format!("{id}\n").as_bytes())?;
        Ok(id)
    }
}

/// A random (version 4) UUID in its usual text form.
fn new_uuid() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| Error::Io {
        action: "generate an install id with",
        path: PathBuf::from("the system random source"),
        source: std::io::Error::other(e.to_string()),
    })?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_id_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("state"));
        let id = state.install_id().unwrap();
        assert!(is_uuid(&id), "{id}");
        assert_eq!(state.install_id().unwrap(), id);
        assert_eq!(StateDir::new(dir.path().join("state")).install_id().unwrap(), id);
    }

    #[test]
    fn corrupt_install_id_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("install-id"), "garbage").unwrap();
        let id = StateDir::new(dir.path().to_owned()).install_id().unwrap();
        assert!(is_uuid(&id));
    }

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let a = new_uuid().unwrap();
        let b = new_uuid().unwrap();
        assert_ne!(a, b);
        assert_eq!(&a[14..15], "4");
    }
}
