//! `Millennium.fs.readTextFile(path)` (feature `api-fs`): read a UTF-8 text file inside the app's scope directory.
//!
//! The scope is set with `Builder::fs_scope`; without one every read is refused. Relative paths are taken from the
//! scope. The path is canonicalised (resolving `..` and symlinks) and must still be inside the canonical scope, so
//! neither `../` nor a symlink can lead out of it. Files over 16 MiB are refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::bridge::CommandFn;

pub(crate) const COMMAND: &str = "millennium:fs.readTextFile";
pub(crate) const BINDING: &str = "api.fs = Object.freeze({ readTextFile: function (path) { \
    return invoke(\"millennium:fs.readTextFile\", { path: String(path) }); } });\n";
const MAX_LEN: u64 = 16 << 20;

#[derive(Deserialize)]
struct Args {
    path: String,
}

pub(crate) fn command(scope: Option<PathBuf>) -> CommandFn {
    Arc::new(move |_app, _window, args| {
        let Args { path } = serde_json::from_value(args).map_err(|e| format!("invalid arguments: {e}"))?;
        let scope = scope.as_deref().ok_or("no file system scope configured")?;
        millennium_api_fs_read_text_file(scope, &path).map(Value::String)
    })
}

/// Read `path` (absolute, or relative to `scope`) if it lies inside `scope`.
#[inline(never)]
pub(crate) fn millennium_api_fs_read_text_file(scope: &Path, path: &str) -> Result<String, String> {
    let scope = scope.canonicalize().map_err(|e| format!("scope `{}` is unusable: {e}", scope.display()))?;
    let target = scope.join(path).canonicalize().map_err(|_| format!("`{path}` not found"))?;
    if !target.starts_with(&scope) {
        tracing::warn!(%path, "fs.readTextFile outside the scope refused");
        return Err(format!("`{path}` is outside the allowed scope"));
    }
    let metadata = std::fs::metadata(&target).map_err(|e| format!("`{path}`: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("`{path}` is not a file"));
    }
    if metadata.len() > MAX_LEN {
        return Err(format!("`{path}` is larger than 16 MiB"));
    }
    std::fs::read_to_string(&target).map_err(|e| format!("`{path}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_the_scope_only() {
        let root = tempfile::tempdir().unwrap();
        let scope = root.path().join("scope");
        std::fs::create_dir(&scope).unwrap();
        std::fs::write(scope.join("a.txt"), "inside").unwrap();
        std::fs::write(root.path().join("secret.txt"), "outside").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.path().join("secret.txt"), scope.join("link.txt")).unwrap();

        assert_eq!(millennium_api_fs_read_text_file(&scope, "a.txt").unwrap(), "inside");
        let absolute = scope.join("a.txt");
        assert_eq!(millennium_api_fs_read_text_file(&scope, absolute.to_str().unwrap()).unwrap(), "inside");
        for escape in ["../secret.txt", "link.txt", "/etc/hostname", "missing.txt", "."] {
            assert!(millennium_api_fs_read_text_file(&scope, escape).is_err(), "{escape}");
        }
    }
}
