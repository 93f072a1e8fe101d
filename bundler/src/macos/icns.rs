//! `.icns` files from the app's PNG icon, built with the `icns` crate. Every size not larger than the source icon is
//! included, scaled with the same Lanczos filter as the Linux icons: 16, 32, 48 and 128 pixels as run-length encoded
//! RGB with an 8-bit alpha mask (`is32`/`s8mk`, `il32`/`l8mk`, `ih32`/`h8mk`, `it32`/`t8mk`), and 256, 512 and 1024
//! pixels as PNG (`ic08`, `ic09`, `ic10`, the last being 512pt@2x). Every macOS version reads these types, and so
//! does `libicns`, which the tests check the file with.

use icns::{IconElement, IconFamily, IconType, Image, OSType, PixelFormat};

use crate::error::{Error, Result};
use crate::icons::Icon;

/// Sizes stored as RGB + mask, with their icon type.
const MASKED: [(u32, IconType); 4] = [
    (16, IconType::RGB24_16x16),
    (32, IconType::RGB24_32x32),
    (48, IconType::RGB24_48x48),
    (128, IconType::RGB24_128x128),
];

/// Sizes stored as PNG, with their element type.
const PNG: [(u32, &[u8; 4]); 3] = [(256, b"ic08"), (512, b"ic09"), (1024, b"ic10")];

/// The `.icns` bytes for an icon.
pub fn from_icon(icon: &Icon) -> Result<Vec<u8>> {
    let err = |message: String| Error::Icon { path: icon.path.clone(), message };
    let mut family = IconFamily::new();
    for (size, icon_type) in MASKED.into_iter().filter(|(s, _)| *s <= icon.size()) {
        let png = icon.png(size)?;
        let rgba = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .map_err(|e| err(format!("could not scale it to {size}x{size}: {e}")))?
            .to_rgba8()
            .into_raw();
        let image = Image::from_data(PixelFormat::RGBA, size, size, rgba)
            .map_err(|e| err(format!("could not encode the {size}x{size} icon: {e}")))?;
        family.add_icon_with_type(&image, icon_type).map_err(|e| err(format!("could not encode the icon: {e}")))?;
    }
    for (size, ostype) in PNG.into_iter().filter(|(s, _)| *s <= icon.size()) {
        family.elements.push(IconElement::new(OSType(*ostype), icon.png(size)?));
    }
    let mut out = Vec::new();
    family.write(&mut out).map_err(|e| err(format!("could not write the .icns: {e}")))?;
    Ok(out)
}
