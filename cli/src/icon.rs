//! `millennium icon SOURCE.png`: every icon file the bundles need, from one square PNG, with the bundler's own code
//! (so what is written here is exactly what `millennium build` would derive): the hicolor PNG sizes Linux packages
//! install (`16x16.png` … `512x512.png`, those not larger than the source), `128x128@2x.png` and `icon.png` (the
//! source, scaled to at most 1024 px), `icon.ico` (16–256 px, for Windows) and `icon.icns` (16–1024 px, for macOS).

use std::path::{Path, PathBuf};

use clap::Args;
use millennium_bundler::icons::{HICOLOR_SIZES, Icon};
use serde::Serialize;

use crate::error::{Error, Result};

/// Options of `millennium icon`.
#[derive(Debug, Args)]
pub struct IconArgs {
    /// A square PNG, ideally 1024x1024 (at least 16x16; macOS bundles need 128x128).
    pub source: PathBuf,
    /// Where to write the icons.
    #[arg(long, short, default_value = "icons")]
    pub out: PathBuf,
}

/// One written icon file.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// Writes every icon; returns them in the order written.
///
/// # Errors
///
/// A source that is not a square PNG, or a file that cannot be written.
pub fn run(args: &IconArgs) -> Result<Vec<Written>> {
    let icon = Icon::load(&args.source)?;
    let largest = icon.size().min(1024);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for size in HICOLOR_SIZES.into_iter().filter(|s| *s <= icon.size()) {
        files.push((format!("{size}x{size}.png"), icon.png(size)?));
    }
    if icon.size() >= 256 {
        files.push(("128x128@2x.png".into(), icon.png(256)?));
    }
    files.push(("icon.png".into(), icon.png(largest)?));
    files.push(("icon.ico".into(), millennium_bundler::windows::png_to_ico(&icon)?));
    files.push(("icon.icns".into(), millennium_bundler::macos::icns::from_icon(&icon)?));
    std::fs::create_dir_all(&args.out).map_err(Error::io("create", &args.out))?;
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = args.out.join(name);
        write_new(&path, &bytes)?;
        written.push(Written { path, size: bytes.len() as u64 });
    }
    Ok(written)
}

/// Writes `bytes` to a temporary file next to `path`, then renames it: a reader never sees half an icon.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(Error::io("create a temporary file in", dir))?;
    std::io::Write::write_all(&mut file, bytes).map_err(Error::io("write", path))?;
    file.persist(path).map_err(|e| Error::Io { action: "write", path: path.to_owned(), source: e.error })?;
    Ok(())
}

/// The icon `millennium new` starts an app with: 512x512, a rounded square in a blue gradient with a light ring.
///
/// # Errors
///
/// When PNG encoding fails (it does not, for an image made here).
pub fn placeholder() -> Result<Vec<u8>> {
    const SIZE: u32 = 512;
    let image = image::RgbaImage::from_fn(SIZE, SIZE, |x, y| {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let (radius, margin) = (96.0_f32, 32.0_f32);
        // Distance outside the rounded square (0 inside).
        let clamp = |v: f32| v.clamp(margin + radius, SIZE as f32 - margin - radius);
        let (dx, dy) = (fx - clamp(fx), fy - clamp(fy));
        let outside = (dx * dx + dy * dy).sqrt() - radius;
        let alpha = (0.5 - outside).clamp(0.0, 1.0);
        let centre = SIZE as f32 / 2.0;
        let ring = ((fx - centre).hypot(fy - centre) - 130.0).abs();
        let t = fy / SIZE as f32;
        let mut rgb = [(40.0 + 30.0 * t) as u8, (90.0 + 60.0 * t) as u8, (200.0 - 40.0 * t) as u8];
        if ring < 18.0 {
            rgb = [235, 240, 255];
        }
        image::Rgba([rgb[0], rgb[1], rgb[2], (alpha * 255.0) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::usage(format!("could not encode the placeholder icon: {e}")))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_ico_and_icns_come_from_one_image() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source.png");
        std::fs::write(&source, placeholder().unwrap()).unwrap();
        let out = dir.path().join("icons");
        let written = run(&IconArgs { source, out: out.clone() }).unwrap();
        let names: Vec<String> =
            written.iter().map(|w| w.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
        for name in ["16x16.png", "32x32.png", "128x128.png", "512x512.png", "128x128@2x.png", "icon.ico", "icon.icns"]
        {
            assert!(names.contains(&name.to_owned()), "{name} missing from {names:?}");
        }
        let ico = std::fs::read(out.join("icon.ico")).unwrap();
        assert_eq!(&ico[..4], &[0, 0, 1, 0]);
        assert_eq!(&std::fs::read(out.join("icon.icns")).unwrap()[..4], b"icns");
        assert_eq!(Icon::load(&out.join("64x64.png")).unwrap().size(), 64);
    }

    #[test]
    fn a_non_square_image_is_refused_with_exit_code_2() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("wide.png");
        image::RgbaImage::new(64, 32).save(&source).unwrap();
        let error = run(&IconArgs { source, out: dir.path().join("icons") }).unwrap_err();
        assert_eq!((error.code(), error.exit_code()), ("unusable_icon", 2));
    }
}
