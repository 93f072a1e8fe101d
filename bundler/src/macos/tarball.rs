//! `Product.app.tar.gz`, the macOS updater artifact: a gzip'd tar whose first path component is the `.app` (Tauri's
//! updater strips it and replaces the running bundle with the rest). Entries are sorted, root-owned and dated
//! `SOURCE_DATE_EPOCH`; executables keep their `0755` mode and framework symlinks stay symlinks.

use std::io::Write;

use crate::deb::TarWriter;
use crate::error::{Error, Result};
use crate::macos::Bundle;

/// The uncompressed tar of the bundle.
pub fn tar(bundle: &Bundle, epoch: u64) -> Result<Vec<u8>> {
    let err = |e: std::io::Error| Error::Package { format: "app.tar.gz", message: e.to_string() };
    enum Item<'a> {
        Dir,
        File(u32, &'a [u8]),
        Link(&'a str),
    }
    let root = &bundle.name;
    let tree = &bundle.tree;
    let mut items: Vec<(String, Item)> = tree.dirs().into_iter().map(|d| (format!("{root}/{d}/"), Item::Dir)).collect();
    items.extend(tree.files.iter().map(|f| (format!("{root}/{}", f.path), Item::File(f.mode, &f.data))));
    items.extend(tree.symlinks.iter().map(|s| (format!("{root}/{}", s.path), Item::Link(&s.target))));
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut tar = TarWriter::new(epoch);
    tar.dir(&format!("{root}/")).map_err(err)?;
    for (path, item) in items {
        match item {
            Item::Dir => tar.dir(&path),
            Item::File(mode, data) => tar.file(&path, mode, data),
            Item::Link(target) => tar.symlink(&path, target),
        }
        .map_err(err)?;
    }
    tar.finish().map_err(err)
}

/// The `.app.tar.gz` bytes (gzip without file name or time, so it reproduces).
pub fn build(bundle: &Bundle, epoch: u64) -> Result<Vec<u8>> {
    let tar = tar(bundle, epoch)?;
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar)
        .and_then(|()| gz.finish())
        .map_err(|e| Error::Package { format: "app.tar.gz", message: e.to_string() })
}
