//! A file tree held in memory: what every format serialises. The Linux install tree (`usr/…`, see
//! [`crate::linux::layout`]) becomes a deb's `data.tar`, an rpm's payload and an AppImage's squashfs; a macOS `.app`
//! becomes a directory, the updater tarball and an HFS+ volume.
//!
//! Keeping the tree in memory lets each format read the same bytes, and [`Tree::tar`] makes tar archives that
//! reproduce: entries sorted by path with explicit parent directories, one mtime (`SOURCE_DATE_EPOCH`), owner root.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::{Error, Result};

/// One file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the tree's root, without leading slash, e.g. `usr/bin/hello`.
    pub path: String,
    /// Permission bits (`0o755`, `0o644`).
    pub mode: u32,
    pub data: Vec<u8>,
}

/// A symbolic link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symlink {
    pub path: String,
    pub target: String,
}

/// A sorted file tree.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub files: Vec<FileEntry>,
    pub symlinks: Vec<Symlink>,
}

impl Tree {
    /// Adds a file.
    pub fn file(&mut self, path: impl Into<String>, mode: u32, data: Vec<u8>) {
        self.files.push(FileEntry { path: path.into(), mode, data });
    }

    /// Adds a symlink.
    pub fn symlink(&mut self, path: impl Into<String>, target: impl Into<String>) {
        self.symlinks.push(Symlink { path: path.into(), target: target.into() });
    }

    /// Sorts entries by path.
    pub fn sort(&mut self) {
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        self.symlinks.sort_by(|a, b| a.path.cmp(&b.path));
    }

    /// Every directory that contains an entry, parents first, sorted.
    pub fn dirs(&self) -> Vec<String> {
        let mut dirs = BTreeSet::new();
        for path in self.files.iter().map(|f| &f.path).chain(self.symlinks.iter().map(|s| &s.path)) {
            let mut p = path.as_str();
            while let Some(i) = p.rfind('/') {
                p = &p[..i];
                dirs.insert(p.to_owned());
            }
        }
        dirs.into_iter().collect()
    }

    /// Total size of the files in bytes.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.data.len() as u64).sum()
    }

    /// An uncompressed GNU tar of the tree with every name under `prefix` (`./` for a deb, `Product.app/` for the
    /// macOS updater tarball): the prefix directory first, then directories, files and symlinks sorted by name.
    pub fn tar(&self, prefix: &str, epoch: u64) -> std::io::Result<Vec<u8>> {
        enum Item<'a> {
            Dir,
            File(u32, &'a [u8]),
            Link(&'a str),
        }
        let mut items: Vec<(String, Item)> =
            self.dirs().into_iter().map(|d| (format!("{prefix}{d}/"), Item::Dir)).collect();
        items.extend(self.files.iter().map(|f| (format!("{prefix}{}", f.path), Item::File(f.mode, &f.data))));
        items.extend(self.symlinks.iter().map(|s| (format!("{prefix}{}", s.path), Item::Link(&s.target))));
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let mut tar = TarWriter::new(epoch);
        tar.dir(prefix)?;
        for (path, item) in items {
            match item {
                Item::Dir => tar.dir(&path)?,
                Item::File(mode, data) => tar.file(&path, mode, data)?,
                Item::Link(target) => tar.symlink(&path, target)?,
            }
        }
        tar.finish()
    }

    /// Writes the tree under `root` (files with their mode, symlinks as symlinks).
    pub fn write_to(&self, root: &Path) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for dir in std::iter::once(String::new()).chain(self.dirs()) {
            let path = root.join(&dir);
            std::fs::create_dir_all(&path).map_err(Error::io("create", &path))?;
        }
        for file in &self.files {
            let path = root.join(&file.path);
            std::fs::write(&path, &file.data).map_err(Error::io("write", &path))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file.mode))
                .map_err(Error::io("set permissions of", &path))?;
        }
        for link in &self.symlinks {
            let path = root.join(&link.path);
            std::os::unix::fs::symlink(&link.target, &path).map_err(Error::io("create the symlink", &path))?;
        }
        Ok(())
    }

    /// Reads a directory back into a sorted tree (an executable bit makes a file `0755`, else `0644`).
    pub fn read_from(root: &Path) -> Result<Tree> {
        use std::os::unix::fs::PermissionsExt;
        let mut tree = Tree::default();
        let mut stack = vec![root.to_owned()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).map_err(Error::io("read", &dir))? {
                let path = entry.map_err(Error::io("read", &dir))?.path();
                let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
                let meta = std::fs::symlink_metadata(&path).map_err(Error::io("read", &path))?;
                if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&path).map_err(Error::io("read the link", &path))?;
                    tree.symlink(rel, target.to_string_lossy().into_owned());
                } else if meta.is_dir() {
                    stack.push(path);
                } else {
                    let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
                    tree.file(rel, mode, std::fs::read(&path).map_err(Error::io("read", &path))?);
                }
            }
        }
        tree.sort();
        Ok(tree)
    }
}

/// A GNU tar writer that keeps names exactly as given (`./usr/`), with fixed owner and time.
pub(crate) struct TarWriter {
    builder: tar::Builder<Vec<u8>>,
    epoch: u64,
}

impl TarWriter {
    pub(crate) fn new(epoch: u64) -> TarWriter {
        TarWriter { builder: tar::Builder::new(Vec::new()), epoch }
    }

    fn header(&mut self, name: &str, kind: tar::EntryType, mode: u32, size: u64) -> std::io::Result<tar::Header> {
        let mut header = tar::Header::new_gnu();
        let bytes = name.as_bytes();
        if bytes.len() >= 100 {
            // GNU long name: a `././@LongLink` entry holding the name, then the real header.
            let mut long = tar::Header::new_gnu();
            long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            long.set_entry_type(tar::EntryType::GNULongName);
            long.set_mode(0o644);
            long.set_uid(0);
            long.set_gid(0);
            long.set_mtime(0);
            let mut data = bytes.to_vec();
            data.push(0);
            long.set_size(data.len() as u64);
            long.set_cksum();
            self.builder.append(&long, &data[..])?;
        }
        let n = bytes.len().min(99);
        header.as_old_mut().name[..n].copy_from_slice(&bytes[..n]);
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("root")?;
        header.set_groupname("root")?;
        header.set_mtime(self.epoch);
        header.set_size(size);
        Ok(header)
    }

    pub(crate) fn dir(&mut self, name: &str) -> std::io::Result<()> {
        let mut h = self.header(name, tar::EntryType::Directory, 0o755, 0)?;
        h.set_cksum();
        self.builder.append(&h, std::io::empty())
    }

    pub(crate) fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> std::io::Result<()> {
        let mut h = self.header(name, tar::EntryType::Regular, mode, data.len() as u64)?;
        h.set_cksum();
        self.builder.append(&h, data)
    }

    pub(crate) fn symlink(&mut self, name: &str, target: &str) -> std::io::Result<()> {
        let mut h = self.header(name, tar::EntryType::Symlink, 0o777, 0)?;
        h.set_link_name(target)?;
        h.set_cksum();
        self.builder.append(&h, std::io::empty())
    }

    pub(crate) fn finish(self) -> std::io::Result<Vec<u8>> {
        self.builder.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_round_trips_through_a_directory() {
        let mut tree = Tree::default();
        tree.file("Contents/MacOS/hello", 0o755, b"bin".to_vec());
        tree.file("Contents/Info.plist", 0o644, b"<plist/>".to_vec());
        tree.symlink("Contents/Frameworks/X.framework/X", "Versions/Current/X");
        tree.sort();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        tree.write_to(&dir.path().join("A.app")).unwrap_or_else(|e| panic!("{e}"));
        let back = Tree::read_from(&dir.path().join("A.app")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.files, tree.files);
        assert_eq!(back.symlinks, tree.symlinks);
    }
}
