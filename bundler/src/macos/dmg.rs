//! The disk image: an HFS+ volume holding the `.app`, an `Applications` symlink to `/Applications`, the window
//! background in a hidden `.background` folder (a PNG, or with a 2x picture a two-resolution TIFF as `tiffutil
//! -cathidpicheck` makes, so Retina screens get the sharp one), the app icon as the volume icon, and a `.DS_Store`
//! that sizes the window and places the two icons; wrapped as a zlib-compressed UDIF image.

use sha2::Digest;

use crate::config::App;
use crate::error::{Error, Result};
use crate::macos::hfsplus::{self, Entry, FINDER_HAS_CUSTOM_ICON, FINDER_INVISIBLE, Kind};
use crate::macos::{Bundle, app, ds_store, udif};

/// Window size without a background.
pub const DEFAULT_WINDOW: [u32; 2] = [660, 400];
const DEFAULT_POSITION: [u32; 2] = [200, 120];
const DEFAULT_ICON_SIZE: u32 = 128;

/// `Product Name_1.2.3_aarch64.dmg` (`universal` for a universal app).
pub fn file_name(app: &App, bundle: &Bundle) -> String {
    format!("{}_{}_{}.dmg", app.product_name, app.version, bundle.arch_label())
}

fn invalid(app: &App, key: &str, message: String) -> Error {
    Error::InvalidValue { file: app.source.file().to_owned(), key: app.source.key(key), message }
}

/// A background picture: its file bytes and size.
struct Picture {
    bytes: Vec<u8>,
    image: image::RgbaImage,
}

fn picture(app: &App, key: &str, path: &str) -> Result<Picture> {
    let full = app.root.join(path);
    if !full.is_file() {
        return Err(Error::Missing { what: "background picture", path: full, hint: Some(format!("fix `{key}`")) });
    }
    let bytes = std::fs::read(&full).map_err(Error::io("read", &full))?;
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .map_err(|e| invalid(app, key, format!("`{path}` is not a readable PNG: {e}")))?
        .to_rgba8();
    Ok(Picture { bytes, image })
}

/// The settings, checked and with defaults filled in.
struct Layout {
    volume_name: String,
    window: [u32; 2],
    position: [u32; 2],
    icon_size: u32,
    app: [u32; 2],
    applications: [u32; 2],
    background: Option<(Picture, Option<Picture>)>,
}

fn layout(app: &App) -> Result<Layout> {
    let dmg = &app.config.dmg;
    let volume_name = dmg.volume_name.clone().unwrap_or_else(|| app.product_name.clone());
    hfsplus::check_name(&volume_name).map_err(|m| invalid(app, "dmg.volume-name", format!("`{volume_name}` {m}")))?;
    let background = match (&dmg.background, &dmg.background_2x) {
        (None, Some(_)) => {
            return Err(invalid(app, "dmg.background-2x", "needs `dmg.background` (the 1x picture) too".into()));
        }
        (None, None) => None,
        (Some(one), two) => {
            let one = picture(app, "dmg.background", one)?;
            let two = match two {
                Some(p) => {
                    let two = picture(app, "dmg.background-2x", p)?;
                    if two.image.dimensions() != (one.image.width() * 2, one.image.height() * 2) {
                        return Err(invalid(
                            app,
                            "dmg.background-2x",
                            format!(
                                "is {}x{}; it must be twice `dmg.background` ({}x{}), i.e. {}x{}",
                                two.image.width(),
                                two.image.height(),
                                one.image.width(),
                                one.image.height(),
                                one.image.width() * 2,
                                one.image.height() * 2
                            ),
                        ));
                    }
                    Some(two)
                }
                None => None,
            };
            Some((one, two))
        }
    };
    // The background is found through a Finder alias, whose volume name field holds 27 bytes.
    if background.is_some() && volume_name.len() > 27 {
        return Err(invalid(
            app,
            "dmg.volume-name",
            format!(
                "`{volume_name}` is longer than 27 bytes, the most the Finder alias of the background holds\nhint: set a \
                 shorter `dmg.volume-name`"
            ),
        ));
    }
    let window = dmg.window_size.unwrap_or_else(|| match &background {
        Some((one, _)) => [one.image.width(), one.image.height()],
        None => DEFAULT_WINDOW,
    });
    if window[0] < 200 || window[1] < 150 {
        return Err(invalid(app, "dmg.window-size", format!("{window:?} is too small; use at least [200, 150]")));
    }
    let icon_size = dmg.icon_size.unwrap_or(DEFAULT_ICON_SIZE);
    if !(16..=512).contains(&icon_size) {
        return Err(invalid(app, "dmg.icon-size", format!("{icon_size} is not between 16 and 512")));
    }
    let default_y = window[1] / 2 - window[1] / 14;
    let app_pos = dmg.app_position.unwrap_or([window[0] / 4, default_y]);
    let apps_pos = dmg.applications_position.unwrap_or([window[0] * 3 / 4, default_y]);
    for (key, p) in [("dmg.app-position", app_pos), ("dmg.applications-position", apps_pos)] {
        if p[0] >= window[0] || p[1] >= window[1] {
            return Err(invalid(app, key, format!("{p:?} is outside the {}x{} window", window[0], window[1])));
        }
    }
    Ok(Layout {
        volume_name,
        window,
        position: dmg.window_position.unwrap_or(DEFAULT_POSITION),
        icon_size,
        app: app_pos,
        applications: apps_pos,
        background,
    })
}

/// Checks the disk image settings; called before anything is built.
pub fn validate(app: &App) -> Result<()> {
    layout(app).map(|_| ())
}

/// Builds the `.dmg` bytes.
pub fn build(app: &App, bundle: &Bundle, epoch: u64) -> Result<Vec<u8>> {
    let layout = layout(app)?;
    let hidden = |path: &str, kind: Kind| Entry { path: path.into(), kind, finder_flags: FINDER_INVISIBLE };
    let mut entries = Vec::new();
    // The background folder and picture come first: the `.DS_Store` alias needs their catalog node IDs, which
    // follow the entries' order.
    let mut alias = None;
    if let Some((one, two)) = &layout.background {
        let (name, bytes) = match two {
            Some(two) => ("background.tiff", tiff(&[(&one.image, 72), (&two.image, 144)])),
            None => ("background.png", one.bytes.clone()),
        };
        entries.push(hidden(".background", Kind::Dir));
        entries.push(hidden(&format!(".background/{name}"), Kind::File { data: bytes, mode: 0o644 }));
        let created = hfsplus::hfs_date(epoch);
        alias = Some(ds_store::alias(&ds_store::AliasTarget {
            volume_name: &layout.volume_name,
            volume_created: created,
            folder_id: hfsplus::cnid(0),
            file_id: hfsplus::cnid(1),
            folder_name: ".background",
            file_name: name,
            file_created: created,
        }));
    }
    let mut records = ds_store::window(layout.position, layout.window, layout.icon_size, alias)?;
    records.push(ds_store::icon_location(&bundle.name, layout.app[0], layout.app[1]));
    records.push(ds_store::icon_location("Applications", layout.applications[0], layout.applications[1]));
    entries.push(hidden(".DS_Store", Kind::File { data: ds_store::write(records)?, mode: 0o644 }));
    let mut root_flags = 0;
    if let Some(icon) = bundle.tree.files.iter().find(|f| f.path == format!("Contents/Resources/{}", app::ICON_FILE)) {
        entries.push(hidden(".VolumeIcon.icns", Kind::File { data: icon.data.clone(), mode: 0o644 }));
        root_flags = FINDER_HAS_CUSTOM_ICON;
    }
    entries.push(Entry { path: "Applications".into(), kind: Kind::Symlink("/Applications".into()), finder_flags: 0 });

    let root = &bundle.name;
    let mut items: Vec<Entry> = std::iter::once(root.clone())
        .chain(bundle.tree.dirs().into_iter().map(|d| format!("{root}/{d}")))
        .map(|path| Entry { path, kind: Kind::Dir, finder_flags: 0 })
        .collect();
    items.extend(bundle.tree.files.iter().map(|f| Entry {
        path: format!("{root}/{}", f.path),
        kind: Kind::File { data: f.data.clone(), mode: f.mode },
        finder_flags: 0,
    }));
    items.extend(bundle.tree.symlinks.iter().map(|s| Entry {
        path: format!("{root}/{}", s.path),
        kind: Kind::Symlink(s.target.clone()),
        finder_flags: 0,
    }));
    // Parents before children.
    items.sort_by(|a, b| a.path.cmp(&b.path));
    entries.extend(items);

    let options = hfsplus::Options { volume_name: layout.volume_name.clone(), epoch, root_finder_flags: root_flags };
    let volume = hfsplus::build(&options, &entries)?;
    let digest = sha2::Sha256::digest(&volume.bytes);
    let mut segment_id = [0u8; 16];
    segment_id.copy_from_slice(&digest[..16]);
    udif::udzo(&volume.bytes, "Apple_HFSX", segment_id)
}

/// A big-endian TIFF with one uncompressed RGBA image per `(picture, dpi)`, all the same size in points: what
/// `tiffutil -cathidpicheck` makes and what Finder reads as a multi-resolution image.
pub fn tiff(images: &[(&image::RgbaImage, u32)]) -> Vec<u8> {
    const ENTRIES: u16 = 14;
    let ifd_len = 2 + 12 * ENTRIES as usize + 4;
    let mut out = b"MM\0\x2a".to_vec();
    out.extend_from_slice(&8u32.to_be_bytes());
    for (i, (image, dpi)) in images.iter().enumerate() {
        let ifd_at = out.len();
        let extra_at = ifd_at + ifd_len; // bits per sample (8 bytes), x and y resolution (8 each)
        let pixels_at = extra_at + 24;
        let pixels = image.as_raw();
        let next = if i + 1 < images.len() { (pixels_at + pixels.len()) as u32 } else { 0 };
        let mut ifd = Vec::with_capacity(ifd_len);
        ifd.extend_from_slice(&ENTRIES.to_be_bytes());
        let mut entry = |tag: u16, kind: u16, count: u32, value: u32| {
            ifd.extend_from_slice(&tag.to_be_bytes());
            ifd.extend_from_slice(&kind.to_be_bytes());
            ifd.extend_from_slice(&count.to_be_bytes());
            ifd.extend_from_slice(&value.to_be_bytes());
        };
        const SHORT: u16 = 3;
        const LONG: u16 = 4;
        const RATIONAL: u16 = 5;
        entry(256, LONG, 1, image.width());
        entry(257, LONG, 1, image.height());
        entry(258, SHORT, 4, extra_at as u32); // 8 bits per sample
        entry(259, SHORT, 1, 1 << 16); // no compression
        entry(262, SHORT, 1, 2 << 16); // RGB
        entry(273, LONG, 1, pixels_at as u32);
        entry(277, SHORT, 1, 4 << 16);
        entry(278, LONG, 1, image.height());
        entry(279, LONG, 1, pixels.len() as u32);
        entry(282, RATIONAL, 1, extra_at as u32 + 8);
        entry(283, RATIONAL, 1, extra_at as u32 + 16);
        entry(284, SHORT, 1, 1 << 16); // chunky
        entry(296, SHORT, 1, 2 << 16); // inches
        entry(338, SHORT, 1, 2 << 16); // unassociated alpha
        ifd.extend_from_slice(&next.to_be_bytes());
        out.extend_from_slice(&ifd);
        for _ in 0..4 {
            out.extend_from_slice(&8u16.to_be_bytes());
        }
        for _ in 0..2 {
            out.extend_from_slice(&dpi.to_be_bytes());
            out.extend_from_slice(&1u32.to_be_bytes());
        }
        out.extend_from_slice(pixels);
    }
    out
}
