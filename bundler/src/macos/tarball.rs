//! `Product.app.tar.gz`, the macOS updater artifact: a gzip'd tar whose first path component is the `.app` (Tauri's
//! updater strips it and replaces the running bundle with the rest). Entries are sorted, root-owned and dated
//! `SOURCE_DATE_EPOCH`; executables keep their `0755` mode and framework symlinks stay symlinks.

use std::io::Write;

use crate::error::{Error, Result};
use crate::macos::Bundle;

/// The uncompressed tar of the bundle `name` (also what the report's SHA-256 of a `.app` directory is taken of).
pub fn tar(name: &str, tree: &crate::tree::Tree, epoch: u64) -> Result<Vec<u8>> {
    tree.tar(&format!("{name}/"), epoch).map_err(|e| Error::Package { format: "app.tar.gz", message: e.to_string() })
}

/// The `.app.tar.gz` bytes (gzip without file name or time, so it reproduces).
pub fn build(bundle: &Bundle, epoch: u64) -> Result<Vec<u8>> {
    let tar = tar(&bundle.name, &bundle.tree, epoch)?;
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar)
        .and_then(|()| gz.finish())
        .map_err(|e| Error::Package { format: "app.tar.gz", message: e.to_string() })
}
