//! The app's web assets, embedded at compile time by `millennium-build` and looked up by URL path.
//!
//! Each asset is stored as it is or deflate-compressed (inflated when served): `millennium-build` compresses only when
//! that saves more than the inflater costs in code. Lookup is an exact match on the normalised URL path against the
//! build-time table, so a request can only ever reach a file that was embedded.

use crate::Error;

/// One embedded file. Built by `millennium::include_assets!()`; not usually written by hand.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// URL path, e.g. `/index.html`.
    pub path: &'static str,
    /// `Content-Type` value.
    pub mime: &'static str,
    /// Length in bytes of the contents.
    pub len: usize,
    /// The embedded bytes, stored as `encoding` says.
    pub data: &'static [u8],
    /// How `data` is stored.
    pub encoding: Encoding,
}

/// How an asset's bytes are stored: [`Encoding::STORED`] or [`Encoding::DEFLATE`].
///
/// A decoding function rather than an enum, so that an app whose assets are all stored as they are has no reference
/// to the inflater and links none of it.
#[derive(Clone, Copy)]
pub struct Encoding(fn(&'static [u8], usize) -> std::io::Result<Vec<u8>>);

impl Encoding {
    /// The contents as they are.
    pub const STORED: Encoding = Encoding(|data, _| Ok(data.to_vec()));
    /// Raw deflate (RFC 1951).
    pub const DEFLATE: Encoding = Encoding(inflate);
}

impl std::fmt::Debug for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encoding")
    }
}

fn inflate(deflated: &'static [u8], len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::with_capacity(len);
    flate2::read::DeflateDecoder::new(deflated).read_to_end(&mut out)?;
    Ok(out)
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
    /// The contents, decoded.
    ///
    /// # Errors
    ///
    /// [`Error::CorruptAsset`] when the embedded data does not decode.
    pub fn contents(&self) -> Result<Vec<u8>, Error> {
        (self.encoding.0)(self.data, self.len)
            .map_err(|source| Error::CorruptAsset { path: self.path.to_owned(), source })
    }
}

/// Build `Assets` from the files embedded by `millennium_build::embed_assets` in the crate's `build.rs`.
#[macro_export]
macro_rules! include_assets {
    () => {
        include!(concat!(env!("OUT_DIR"), "/millennium_assets.rs"))
    };
}
