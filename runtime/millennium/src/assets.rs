//! The app's web assets, embedded at compile time by `millennium-build` and looked up by URL path.
//!
//! Each asset is stored deflate-compressed and inflated when served. Lookup is an exact match on the normalised URL
//! path against the build-time table, so a request can only ever reach a file that was embedded.

use std::io::Read as _;

use crate::Error;

/// One embedded file. Built by `millennium::include_assets!()`; not usually written by hand.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// URL path, e.g. `/index.html`.
    pub path: &'static str,
    /// `Content-Type` value.
    pub mime: &'static str,
    /// Length in bytes once inflated.
    pub len: usize,
    /// The deflate-compressed contents.
    pub deflated: &'static [u8],
}

/// The table of embedded files, sorted by path.
#[derive(Debug, Clone, Copy)]
pub struct Assets {
    files: &'static [Asset],
}

impl Assets {
    /// Wrap a table sorted by path (as `millennium-build` writes it).
    pub const fn new(files: &'static [Asset]) -> Self {
        Self { files }
    }

    /// No assets at all.
    pub const fn empty() -> Self {
        Self { files: &[] }
    }

    /// The asset at `path` (exact match).
    pub fn get(&self, path: &str) -> Option<&'static Asset> {
        self.files.binary_search_by(|a| a.path.cmp(path)).ok().and_then(|i| self.files.get(i))
    }

    /// Every asset.
    pub fn iter(&self) -> impl Iterator<Item = &'static Asset> {
        self.files.iter()
    }
}

impl Asset {
    /// The inflated contents.
    ///
    /// # Errors
    ///
    /// [`Error::CorruptAsset`] when the embedded data does not inflate.
    pub fn contents(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.len);
        flate2::read::DeflateDecoder::new(self.deflated)
            .read_to_end(&mut out)
            .map_err(|source| Error::CorruptAsset { path: self.path.to_owned(), source })?;
        Ok(out)
    }
}

/// Build `Assets` from the files embedded by `millennium_build::embed_assets` in the crate's `build.rs`.
#[macro_export]
macro_rules! include_assets {
    () => {
        include!(concat!(env!("OUT_DIR"), "/millennium_assets.rs"))
    };
}
