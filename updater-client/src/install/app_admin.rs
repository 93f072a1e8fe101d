//! The administrator path for a macOS `.app` this user cannot replace (installed by an administrator in
//! `/Applications`, a directory only admins may write): instead of refusing, the app can ask for an administrator's
//! password and install the update with their rights ([`crate::DownloadedUpdate::install_as_admin`]).
//!
//! # Algorithm
//!
//! 1. As this user, unpack and check the verified archive into the state directory, exactly as the normal path does
//!    (every entry checked, the bytes re-verified while unpacking; [`super::app_bundle::unpack_checked`]). Nothing
//!    privileged has run yet, and nothing privileged ever reads the archive.
//! 2. One shell script, run with the administrator's rights ([`AdminSwap::script`]): copy the unpacked bundle onto the
//!    bundle's own volume beside it (`cp -pR`: modes, times and internal symlinks kept), give it the installed
//!    bundle's owner, replace `<Name>.app.previous`, move the installed bundle there and the new one into place (the
//!    old one is put back if that last move fails).
//! 3. On macOS the script runs through `osascript -e 'do shell script "…" with administrator privileges'`, which shows
//!    the system's own password dialog; elsewhere through `pkexec` (or directly when already root, as in the tests).
//!
//! Every path is passed single-quoted in the script and the script is escaped as an AppleScript string, so no bundle
//! or directory name (quotes, `$(…)`, backslashes, newlines) can run anything. The two moves of step 2 are not one
//! atomic exchange (no shell tool makes one): a crash between them leaves the bundle at `.previous`. An update
//! installed this way is not rolled back automatically, since putting the old bundle back would need the password
//! again at the next start; the old bundle stays at `.previous`.

use std::path::{Path, PathBuf};

use crate::download::DownloadedUpdate;
use crate::error::{Error, Result};
use crate::fs;
use crate::updater::Inner;

/// The privileged copy-and-swap of step 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdminSwap {
    /// The unpacked, checked bundle (in the state directory).
    pub(crate) staged: PathBuf,
    /// The installed bundle.
    pub(crate) bundle: PathBuf,
    /// Where the installed bundle is kept (`<Name>.app.previous`).
    pub(crate) previous: PathBuf,
    /// The installed bundle's owner (user and group ids), given to the new one.
    pub(crate) owner: (u32, u32),
}

impl AdminSwap {
    /// The POSIX shell script of step 2.
    pub(crate) fn script(&self) -> String {
        let parent = fs::parent_dir(&self.bundle);
        let incoming = parent.join(format!(".{}.millennium-admin", super::app_bundle::file_name(&self.bundle)));
        let (uid, gid) = self.owner;
        format!(
            "set -e\n\
             staged={staged}; bundle={bundle}; previous={previous}; incoming={incoming}\n\
             rm -rf -- \"$incoming\"\n\
             cp -pR -- \"$staged\" \"$incoming\"\n\
             chown -R {uid}:{gid} -- \"$incoming\"\n\
             rm -rf -- \"$previous\"\n\
             mv -- \"$bundle\" \"$previous\"\n\
             if ! mv -- \"$incoming\" \"$bundle\"; then mv -- \"$previous\" \"$bundle\"; exit 1; fi\n",
            staged = shell_quote(&self.staged),
            bundle = shell_quote(&self.bundle),
            previous = shell_quote(&self.previous),
            incoming = shell_quote(&incoming),
        )
    }

    /// The AppleScript that runs [`Self::script`] with administrator privileges (macOS asks for the password).
    pub(crate) fn applescript(&self) -> String {
        format!("do shell script {} with administrator privileges", applescript_string(&self.script()))
    }
}

/// `path` as one single-quoted shell word (`'` written as `'\''`).
pub(crate) fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// `text` as an AppleScript string literal: in double quotes, with `\` and `"` escaped.
pub(crate) fn applescript_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', r"\\").replace('"', "\\\""))
}

/// Steps 1–3 of the module docs.
pub(crate) fn install(inner: &Inner, bundle: &Path, update: &DownloadedUpdate) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(bundle).map_err(|e| Error::io("read", bundle, e))?;
    inner.state.ensure()?;
    // The unpacked bundle's own directory (the archive's top-level `Name.app/` is unpacked into it).
    let staging = inner.state.root().join(format!("admin-update-{}", fs::random_suffix()));
    std::fs::create_dir(&staging).map_err(|e| Error::io("create the directory", &staging, e))?;
    let result = (|| {
        super::app_bundle::unpack_checked(inner, update, &staging)?;
        let swap = AdminSwap {
            staged: staging.clone(),
            bundle: bundle.to_owned(),
            previous: crate::rollback::previous_path(bundle),
            owner: (meta.uid(), meta.gid()),
        };
        run_privileged(&swap)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result?;
    tracing::info!(path = %bundle.display(), version = %update.version(), "update installed with administrator rights");
    Ok(())
}

/// Runs the script with an administrator's rights (step 3).
fn run_privileged(swap: &AdminSwap) -> Result<()> {
    let mut command = if cfg!(target_os = "macos") {
        let mut c = std::process::Command::new("/usr/bin/osascript");
        c.arg("-e").arg(swap.applescript());
        c
    } else if millennium_webview_probe::guard::is_root() {
        let mut c = std::process::Command::new("/bin/sh");
        c.arg("-c").arg(swap.script());
        c
    } else {
        let mut c = std::process::Command::new("pkexec");
        c.args(["/bin/sh", "-c"]).arg(swap.script());
        c
    };
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::io("ask for administrator rights to replace", &swap.bundle, e))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    Err(Error::InstallRefused {
        path: swap.bundle.clone(),
        reason: format!("the install with administrator rights did not complete ({}): {stderr}", output.status),
        hint:
            "if the password dialog was cancelled, nothing was changed; otherwise check the app's folder and try again"
                .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_single_words_in_the_script_and_the_applescript() {
        let path = Path::new("/Applications/it's \"$(touch pwned)\" \\ `x`.app");
        let quoted = shell_quote(path);
        assert_eq!(quoted, r#"'/Applications/it'\''s "$(touch pwned)" \ `x`.app'"#);
        // The shell reads it back as the one original word.
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(format!("printf %s {quoted}")).output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), path.to_str().unwrap());
        let literal = applescript_string(r#"say "hi" \ bye"#);
        assert_eq!(literal, r#""say \"hi\" \\ bye""#);
    }
}
