//! App icons: the largest configured PNG is decoded once and scaled down (Lanczos3) to each hicolor theme size not
//! larger than itself. Encoding is deterministic, so icons reproduce byte for byte.

use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, imageops::FilterType};

use crate::error::{Error, Result};

/// hicolor sizes we generate (those not larger than the source icon).
pub const HICOLOR_SIZES: [u32; 8] = [16, 24, 32, 48, 64, 128, 256, 512];

/// A decoded, square PNG icon.
#[derive(Debug, Clone)]
pub struct Icon {
    pub path: PathBuf,
    image: DynamicImage,
    /// The file as given.
    pub bytes: Vec<u8>,
}

impl Icon {
    /// Reads and checks an icon: it must be a PNG, and square.
    pub fn load(path: &Path) -> Result<Icon> {
        let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
        let err = |message: String| Error::Icon { path: path.to_owned(), message };
        if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(err("not a PNG file".into()));
        }
        let image = image::load_from_memory_with_format(&bytes, ImageFormat::Png)
            .map_err(|e| err(format!("the PNG does not decode: {e}")))?;
        if image.width() != image.height() {
            return Err(err(format!("it is {}x{}, not square", image.width(), image.height())));
        }
        if image.width() < 16 {
            return Err(err(format!("it is {}x{}; the smallest usable size is 16x16", image.width(), image.height())));
        }
        Ok(Icon { path: path.to_owned(), image, bytes })
    }

    /// Width (= height) in pixels.
    pub fn size(&self) -> u32 {
        self.image.width()
    }

    /// PNG bytes at `size`x`size` (the original file when it already has that size).
    pub fn png(&self, size: u32) -> Result<Vec<u8>> {
        if size == self.size() {
            return Ok(self.bytes.clone());
        }
        let scaled = self.image.resize_exact(size, size, FilterType::Lanczos3);
        let mut out = std::io::Cursor::new(Vec::new());
        scaled
            .to_rgba8()
            .write_to(&mut out, ImageFormat::Png)
            .map_err(|e| Error::Icon { path: self.path.clone(), message: format!("could not encode: {e}") })?;
        Ok(out.into_inner())
    }

    /// Every hicolor size to install: (size, PNG bytes).
    pub fn hicolor(&self) -> Result<Vec<(u32, Vec<u8>)>> {
        let mut sizes: Vec<u32> = HICOLOR_SIZES.into_iter().filter(|s| *s <= self.size()).collect();
        if !HICOLOR_SIZES.contains(&self.size()) && self.size() < 1024 {
            // A non-standard source size is still a valid hicolor size directory.
            sizes.push(self.size());
        }
        sizes.into_iter().map(|s| Ok((s, self.png(s)?))).collect()
    }
}
