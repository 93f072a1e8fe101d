//! The `.app` bundle: `Product.app/Contents/{Info.plist, PkgInfo, MacOS/<bin>, Resources/AppIcon.icns,
//! Resources/<resources>, Frameworks/}`, built in memory as a [`Tree`] so every later stage (directory, updater tarball,
//! disk image) serialises the same bytes.

use std::path::{Path, PathBuf};

use plist::{Dictionary, Value};

use crate::Arch;
use crate::config::App;
use crate::error::{Error, Result};
use crate::macos::{hfsplus, icns, macho};
use crate::tree::Tree;

/// The icon's file name in `Contents/Resources`.
pub const ICON_FILE: &str = "AppIcon.icns";

/// Default `LSMinimumSystemVersion`: what Rust's `*-apple-darwin` targets support.
pub const DEFAULT_MINIMUM_SYSTEM_VERSION: &str = "10.13";

/// A built `.app`.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// `Product Name.app`.
    pub name: String,
    /// Entries relative to the bundle directory (`Contents/Info.plist`, ...), sorted.
    pub tree: Tree,
    /// Architectures of the main executable.
    pub arches: Vec<Arch>,
    /// Executables (path in the bundle) with arm64 code that carries no code signature.
    pub unsigned_arm64: Vec<String>,
}

impl Bundle {
    /// `universal`, or the single architecture's name.
    pub fn arch_label(&self) -> &'static str {
        crate::arch_label(&self.arches)
    }
}

/// Apple's `LSApplicationCategoryType` values.
const CATEGORIES: [&str; 42] = [
    "business",
    "developer-tools",
    "education",
    "entertainment",
    "finance",
    "games",
    "action-games",
    "adventure-games",
    "arcade-games",
    "board-games",
    "card-games",
    "casino-games",
    "dice-games",
    "educational-games",
    "family-games",
    "kids-games",
    "music-games",
    "puzzle-games",
    "racing-games",
    "role-playing-games",
    "simulation-games",
    "sports-games",
    "strategy-games",
    "trivia-games",
    "word-games",
    "graphics-design",
    "healthcare-fitness",
    "lifestyle",
    "medical",
    "music",
    "news",
    "photography",
    "productivity",
    "reference",
    "social-networking",
    "sports",
    "travel",
    "utilities",
    "video",
    "weather",
    "books",
    "navigation",
];

/// The smallest icon accepted for macOS: Finder shows 128-point icons in disk image windows.
pub const MIN_ICON_SIZE: u32 = 128;

fn invalid(app: &App, key: &str, message: String) -> Error {
    Error::InvalidValue { file: app.source.file().to_owned(), key: app.source.key(key), message }
}

/// `1`, `1.2` or `1.2.3`: what Apple accepts as a bundle version or system version.
fn is_dotted_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() <= 3 && parts.iter().all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks the macOS settings; called before anything is built.
pub fn validate(app: &App) -> Result<()> {
    let mac = &app.config.macos;
    if let Some(v) = &mac.minimum_system_version
        && !is_dotted_version(v)
    {
        return Err(invalid(app, "macos.minimum-system-version", format!("`{v}` is not a version like `11.0`")));
    }
    if let Some(v) = &mac.bundle_version
        && !is_dotted_version(v)
    {
        return Err(invalid(
            app,
            "macos.bundle-version",
            format!("`{v}` must be one to three dot-separated integers, e.g. `1.2.3` or `42`"),
        ));
    }
    if let Some(category) = &mac.category {
        let known = category.strip_prefix("public.app-category.").is_some_and(|c| CATEGORIES.contains(&c));
        if !known {
            return Err(invalid(
                app,
                "macos.category",
                format!(
                    "`{category}` is not an Apple app category\nhint: use one of `public.app-category.{}`",
                    CATEGORIES.join("`, `public.app-category.")
                ),
            ));
        }
    }
    if !(mac.universal.is_empty() || mac.universal.len() == 2) {
        return Err(invalid(
            app,
            "macos.universal",
            format!("lists {} binaries; it takes exactly two: an x86_64 build and an arm64 build", mac.universal.len()),
        ));
    }
    for (i, assoc) in mac.file_associations.iter().enumerate() {
        assoc.check(&format!("macos.file-associations[{i}]")).map_err(|(key, message)| invalid(app, &key, message))?;
    }
    hfsplus::check_name(&bundle_name(app)).map_err(|m| {
        invalid(app, "product-name", format!("`{}` cannot be a macOS file name: {m}", app.product_name))
    })?;
    if let Some(icon) = &app.icon
        && icon.size() < MIN_ICON_SIZE
    {
        return Err(Error::Icon {
            path: icon.path.clone(),
            message: format!(
                "it is {0}x{0}; macOS needs at least {MIN_ICON_SIZE}x{MIN_ICON_SIZE} (1024x1024 is best)",
                icon.size()
            ),
        });
    }
    Ok(())
}

/// `Product Name.app`.
pub fn bundle_name(app: &App) -> String {
    format!("{}.app", app.product_name)
}

/// MAJOR.MINOR.PATCH: Apple's version keys take no pre-release or build suffix.
fn short_version(app: &App) -> String {
    format!("{}.{}.{}", app.version.major, app.version.minor, app.version.patch)
}

/// The main executable's path (the first one for `macos.universal`) and the extra binaries' paths for macOS.
fn binary_paths(app: &App) -> (PathBuf, Vec<PathBuf>) {
    let mac = &app.config.macos;
    let main = match (mac.universal.first(), &mac.binary) {
        (Some(p), _) | (None, Some(p)) => app.root.join(p),
        (None, None) => return (app.main_binary.clone(), app.extra_binaries.clone()),
    };
    (main, mac.extra_binaries.iter().map(|p| app.root.join(p)).collect())
}

/// Reads, checks and (for `macos.universal`) merges the main executable.
fn main_executable(app: &App, path: &Path, arch: Arch) -> Result<(Vec<u8>, macho::Executable)> {
    let universal = &app.config.macos.universal;
    if !universal.is_empty() {
        let mut inputs = Vec::new();
        for p in universal {
            let path = app.root.join(p);
            inputs.push((path.clone(), std::fs::read(&path).map_err(Error::io("read", &path))?));
        }
        let refs: Vec<(&Path, &[u8])> = inputs.iter().map(|(p, b)| (p.as_path(), b.as_slice())).collect();
        let merged = macho::merge(&refs)?;
        let exe = macho::inspect(&inputs[0].0, &merged)?;
        return Ok((merged, exe));
    }
    if !path.is_file() {
        return Err(Error::Missing {
            what: "binary",
            path: path.to_owned(),
            hint: Some(
                "build it with `cargo build --release --target aarch64-apple-darwin`, or fix `macos.binary`".into(),
            ),
        });
    }
    let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
    let exe = macho::inspect(path, &bytes)?;
    if !exe.universal && exe.arches != [arch] {
        return Err(Error::Binary {
            path: path.to_owned(),
            message: format!(
                "built for {}, not {}\nhint: pass `--target {}`, or list an x86_64 and an arm64 build in \
                 `macos.universal` for a universal app",
                macho::apple_name(exe.arches[0]),
                macho::apple_name(arch),
                exe.arches[0].as_str()
            ),
        });
    }
    Ok((bytes, exe))
}

/// Builds the bundle in memory.
pub fn build(app: &App, arch: Arch) -> Result<Bundle> {
    validate(app)?;
    let (main_path, extra_paths) = binary_paths(app);
    let (main, main_exe) = main_executable(app, &main_path, arch)?;
    let arches = main_exe.arches.clone();
    let exe_name = App::binary_name(&main_path);
    let mut tree = Tree::default();
    let mut unsigned_arm64 = Vec::new();
    if main_exe.unsigned.contains(&Arch::Aarch64) {
        unsigned_arm64.push(format!("Contents/MacOS/{exe_name}"));
    }
    tree.file(format!("Contents/MacOS/{exe_name}"), 0o755, main);
    for path in &extra_paths {
        if !path.is_file() {
            return Err(Error::Missing {
                what: "binary",
                path: path.clone(),
                hint: Some("fix `macos.extra-binaries`".into()),
            });
        }
        let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
        let exe = macho::inspect(path, &bytes)?;
        if let Some(missing) = arches.iter().find(|a| !exe.arches.contains(a)) {
            return Err(Error::Binary {
                path: path.clone(),
                message: format!("it has no {} code, which the main executable has", macho::apple_name(*missing)),
            });
        }
        if exe.unsigned.contains(&Arch::Aarch64) {
            unsigned_arm64.push(format!("Contents/MacOS/{}", App::binary_name(path)));
        }
        tree.file(format!("Contents/MacOS/{}", App::binary_name(path)), 0o755, bytes);
    }
    tree.file("Contents/Info.plist", 0o644, info_plist(app, &exe_name)?);
    tree.file("Contents/PkgInfo", 0o644, b"APPL????".to_vec());
    if let Some(icon) = &app.icon {
        tree.file(format!("Contents/Resources/{ICON_FILE}"), 0o644, icns::from_icon(icon)?);
    }
    for (src, rel) in &app.resources {
        let data = std::fs::read(src).map_err(Error::io("read", src))?;
        let path = format!("Contents/Resources/{rel}");
        if tree.files.iter().any(|f| f.path == path) {
            return Err(Error::Usage { message: format!("resource `{rel}` would replace the app icon; rename it") });
        }
        tree.file(path, 0o644, data);
    }
    for (i, p) in app.config.macos.frameworks.iter().enumerate() {
        let path = app.root.join(p);
        let key = format!("macos.frameworks[{i}]");
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return Err(invalid(app, &key, format!("`{p}` has no file name")));
        };
        if !(name.ends_with(".framework") || name.ends_with(".dylib")) {
            return Err(invalid(app, &key, format!("`{p}` is neither a `.framework` directory nor a `.dylib`")));
        }
        if !path.exists() {
            return Err(Error::Missing { what: "framework", path, hint: Some(format!("fix `{key}`")) });
        }
        copy_into(&path, &format!("Contents/Frameworks/{name}"), &mut tree)?;
    }
    for entry in tree.files.iter().map(|f| &f.path).chain(tree.symlinks.iter().map(|s| &s.path)) {
        for component in entry.split('/') {
            hfsplus::check_name(component).map_err(|m| Error::Usage {
                message: format!("`{entry}` cannot be stored in a macOS bundle: `{component}` {m}"),
            })?;
        }
    }
    tree.sort();
    Ok(Bundle { name: bundle_name(app), tree, arches, unsigned_arm64 })
}

/// Copies a file or directory (keeping symlinks, as frameworks need `Versions/Current`) into the tree.
fn copy_into(src: &Path, dest: &str, tree: &mut Tree) -> Result<()> {
    let meta = std::fs::symlink_metadata(src).map_err(Error::io("read", src))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(src).map_err(Error::io("read the link", src))?;
        tree.symlink(dest, target.to_string_lossy().into_owned());
    } else if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(src)
            .map_err(Error::io("read", src))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .map_err(Error::io("read", src))?;
        entries.sort();
        for entry in entries {
            let name = entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            copy_into(&entry, &format!("{dest}/{name}"), tree)?;
        }
    } else {
        use std::os::unix::fs::PermissionsExt;
        let data = std::fs::read(src).map_err(Error::io("read", src))?;
        let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
        tree.file(dest, mode, data);
    }
    Ok(())
}

fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

/// The `Info.plist` (XML).
pub fn info_plist(app: &App, exe_name: &str) -> Result<Vec<u8>> {
    let mac = &app.config.macos;
    let mut d = Dictionary::new();
    d.insert("CFBundleDevelopmentRegion".into(), string("en"));
    d.insert("CFBundleDisplayName".into(), string(&app.product_name));
    d.insert("CFBundleExecutable".into(), string(exe_name));
    if app.icon.is_some() {
        d.insert("CFBundleIconFile".into(), string(ICON_FILE));
    }
    d.insert("CFBundleIdentifier".into(), string(&app.identifier));
    d.insert("CFBundleInfoDictionaryVersion".into(), string("6.0"));
    d.insert("CFBundleName".into(), string(&app.product_name));
    d.insert("CFBundlePackageType".into(), string("APPL"));
    d.insert("CFBundleShortVersionString".into(), string(short_version(app)));
    d.insert("CFBundleSignature".into(), string("????"));
    d.insert("CFBundleVersion".into(), string(mac.bundle_version.clone().unwrap_or_else(|| short_version(app))));
    d.insert("CFBundleSupportedPlatforms".into(), Value::Array(vec![string("MacOSX")]));
    if let Some(category) = &mac.category {
        d.insert("LSApplicationCategoryType".into(), string(category));
    }
    d.insert(
        "LSMinimumSystemVersion".into(),
        string(mac.minimum_system_version.as_deref().unwrap_or(DEFAULT_MINIMUM_SYSTEM_VERSION)),
    );
    d.insert("NSHighResolutionCapable".into(), Value::Boolean(true));
    if let Some(copyright) = &mac.copyright {
        d.insert("NSHumanReadableCopyright".into(), string(copyright));
    }
    let schemes = &app.config.desktop.deep_link_schemes;
    if !schemes.is_empty() {
        let mut url = Dictionary::new();
        url.insert("CFBundleURLName".into(), string(&app.identifier));
        url.insert("CFBundleURLSchemes".into(), Value::Array(schemes.iter().map(string).collect()));
        d.insert("CFBundleURLTypes".into(), Value::Array(vec![Value::Dictionary(url)]));
    }
    if !mac.file_associations.is_empty() {
        let types = mac
            .file_associations
            .iter()
            .map(|assoc| {
                let mut t = Dictionary::new();
                t.insert("CFBundleTypeExtensions".into(), Value::Array(assoc.extensions.iter().map(string).collect()));
                if !assoc.mime_types.is_empty() {
                    t.insert(
                        "CFBundleTypeMIMETypes".into(),
                        Value::Array(assoc.mime_types.iter().map(string).collect()),
                    );
                }
                let name =
                    assoc.name.clone().unwrap_or_else(|| format!("{} document", assoc.extensions[0].to_uppercase()));
                t.insert("CFBundleTypeName".into(), string(name));
                t.insert("CFBundleTypeRole".into(), string(assoc.role.as_deref().unwrap_or("Editor")));
                if app.icon.is_some() {
                    t.insert("CFBundleTypeIconFile".into(), string(ICON_FILE));
                }
                Value::Dictionary(t)
            })
            .collect();
        d.insert("CFBundleDocumentTypes".into(), Value::Array(types));
    }
    let mut out = Vec::new();
    Value::Dictionary(d)
        .to_writer_xml(&mut out)
        .map_err(|e| Error::Package { format: "app", message: format!("could not write Info.plist: {e}") })?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_versions() {
        for ok in ["10.13", "11", "1.2.3", "0.0.1"] {
            assert!(is_dotted_version(ok), "{ok}");
        }
        for bad in ["", "1.2.3.4", "1.x", "1..2", "1.2-rc", "v1"] {
            assert!(!is_dotted_version(bad), "{bad}");
        }
    }
}
