//! Windows installers built on Linux, offline: an `.msi` compiled by `wixl` (msitools) and an NSIS `-setup.exe`
//! compiled by `makensis`, both installing the same payload, provisioning WebView2 and optionally Authenticode-signed.
//!
//! # Why `wixl` and not the `msi` crate
//!
//! An MSI is a relational database with ~30 standard tables whose rows must agree with each other (Directory,
//! Component, File, Feature, Media, the sequence tables with their standard action numbers, Upgrade, Registry,
//! Shortcut, AppSearch, CustomAction …) plus a cabinet stream. The `msi` crate writes tables but knows none of these
//! rules, so every table, action sequence and cabinet would be hand-authored and hand-checked here. `wixl` (Debian
//! `msitools`, maintained with GNOME) compiles the familiar WiX XML subset into a database Windows Installer accepts,
//! fills in the standard sequences and builds the MSZIP cabinet. It covers everything we need: `MajorUpgrade`,
//! `RegistrySearch` (the WebView2 check), file custom actions (running the bootstrapper), `Shortcut`, `Icon`,
//! `RegistryValue`. What it cannot do is custom dialogs (our MSI has the basic progress UI only; the NSIS installer
//! is the one with pages) and `HKMU` registry roots (it writes a wrong root value), so we pick `HKLM`/`HKCU` from the
//! install scope ourselves. WiX 3 itself is Windows-only, which is why Tauri cannot build MSIs on Linux. The `msi`
//! crate is used for the one thing `wixl` gets wrong for us: it writes a random package code and the current time
//! into the summary information, which we replace (derived code, `SOURCE_DATE_EPOCH`), so MSIs reproduce byte for
//! byte like the other formats.
//!
//! # Payload
//!
//! Both installers install into one directory (`Program Files\PRODUCT` per machine, `%LOCALAPPDATA%\Programs\PRODUCT`
//! per user): the app executable, the resources (at their relative paths, as Tauri does), and the fixed WebView2
//! runtime folder when that mode is chosen. The executable must be an x86_64 PE file.

pub mod authenticode;
pub mod config;
pub mod msi;
pub mod nsis;
pub mod webview2;

use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::Arch;
use crate::artifact::{Artifact, Format, Role};
use crate::config::App;
use crate::error::{Error, Result};
use crate::pipeline::Context;

pub use config::{InstallScope, WebviewInstallMode, Windows};

/// Environment variable naming a directory that holds the WebView2 installers (see [`webview2`]).
pub const WEBVIEW2_CACHE_ENV: &str = "MILLENNIUM_WEBVIEW2_CACHE";

/// One file the installers put into the install directory.
#[derive(Debug, Clone)]
pub struct PayloadFile {
    /// Path inside the install directory, `/`-separated, e.g. `assets/data.txt`.
    pub path: String,
    /// Where the file's bytes are on disk (in the work directory).
    pub source: PathBuf,
    pub size: u64,
}

/// Everything both installers are built from, prepared once.
#[derive(Debug)]
pub struct Prepared {
    /// The executable's installed name, e.g. `hello.exe`.
    pub exe_name: String,
    /// Files to install, sorted by path; the executable is first.
    pub files: Vec<PayloadFile>,
    /// The `.ico` file for shortcuts and the uninstall entry.
    pub icon: PathBuf,
    /// The WebView2 installer to embed, with the arguments it runs with.
    pub webview2: webview2::Provision,
    /// `MAJOR.MINOR.BUILD` (MSI's ProductVersion).
    pub msi_version: String,
    /// `MAJOR.MINOR.PATCH.N` (PE/NSIS version resource).
    pub four_part_version: String,
    /// Stable across versions: derived from the identifier (or configured).
    pub upgrade_code: String,
    /// New per version and install scope.
    pub product_code: String,
    /// Changes whenever any input changes.
    pub package_code: String,
    /// Where the signer, when configured, lives.
    pub signer: Option<authenticode::Signer>,
    pub work: PathBuf,
}

impl Prepared {
    /// Total installed size in bytes.
    pub fn installed_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// The `[windows]` section (defaults when absent).
pub fn settings(app: &App) -> &Windows {
    &app.config.windows
}

/// The Windows executable to package: the override, `windows.binary`, or the default cross-compilation path.
pub fn binary_path(app: &App, overridden: Option<&Path>) -> PathBuf {
    if let Some(p) = overridden {
        return p.to_owned();
    }
    match &settings(app).binary {
        Some(p) => app.root.join(p),
        None => app.root.join("target/x86_64-pc-windows-msvc/release").join(format!("{}.exe", app.main_binary_name())),
    }
}

/// Checks everything that can be checked without building, so configuration errors come before any work.
pub fn validate(app: &App, arch: Arch, exe: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    if arch != Arch::X86_64 {
        return Err(Error::Usage {
            message: format!(
                "Windows installers are built for x86_64 only, not {}\nhint: pass `--target x86_64`",
                arch.as_str()
            ),
        });
    }
    msi_version(app)?;
    if !exe.is_file() {
        return Err(Error::Missing {
            what: "Windows executable",
            path: exe.to_owned(),
            hint: Some(
                "cross-compile it first (e.g. `cargo xwin build --release --target x86_64-pc-windows-msvc`), or set \
                 `windows.binary`"
                    .into(),
            ),
        });
    }
    let data = std::fs::read(exe).map_err(Error::io("read", exe))?;
    check_pe(exe, &data)?;
    if let Some(code) = &settings(app).upgrade_code {
        parse_guid(code).ok_or_else(|| invalid(app, "windows.upgrade-code", format!("`{code}` is not a GUID")))?;
    }
    for (i, assoc) in settings(app).file_associations.iter().enumerate() {
        let key = format!("windows.file-associations[{i}]");
        assoc.check(&key).map_err(|(key, message)| invalid(app, &key, message))?;
        // Each extension becomes a registry key and part of a ProgID, written into the WiX and NSIS sources.
        if let Some(ext) =
            assoc.extensions.iter().find(|e| !e.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)))
        {
            return Err(invalid(
                app,
                &format!("{key}.extensions"),
                format!("`{ext}` is not a file extension (letters, digits, `-`, `_`, without the dot)"),
            ));
        }
    }
    ico(app)?;
    nsis::languages(app)?;
    webview2::validate(app)?;
    if let Some(signing) = &settings(app).signing {
        authenticode::Signer::from_config(app, signing, env)?;
    }
    Ok(())
}

pub(crate) fn invalid(app: &App, key: &str, message: String) -> Error {
    Error::InvalidValue { file: app.source.file().to_owned(), key: key.to_owned(), message }
}

/// Checks that `data` is an x86_64 Windows PE executable.
pub fn check_pe(path: &Path, data: &[u8]) -> Result<()> {
    let err = |message: &str| Error::Binary { path: path.to_owned(), message: message.to_owned() };
    if !data.starts_with(b"MZ") || data.len() < 0x40 {
        return Err(err("not a Windows executable (no `MZ` header)\nhint: give the `.exe` built for Windows"));
    }
    // The PE header offset is at 0x3c; the header is `PE\0\0`, then the COFF machine type.
    let offset = u32::from_le_bytes([data[0x3c], data[0x3d], data[0x3e], data[0x3f]]) as usize;
    let header = data.get(offset..offset + 6).ok_or_else(|| err("truncated PE header"))?;
    if &header[..4] != b"PE\0\0" {
        return Err(err("not a Windows executable (no PE header)\nhint: give the `.exe` built for Windows"));
    }
    let machine = u16::from_le_bytes([header[4], header[5]]);
    if machine != 0x8664 {
        return Err(err(&format!(
            "the executable is not for x86_64 (PE machine type {machine:#06x})\nhint: build for \
             `x86_64-pc-windows-msvc` or `x86_64-pc-windows-gnu`"
        )));
    }
    Ok(())
}

/// MSI's ProductVersion: `MAJOR.MINOR.BUILD` with major and minor at most 255 and build at most 65535. A purely
/// numeric pre-release (`1.2.3-4`) is kept as a fourth field for the PE version, which MSI ignores when comparing.
pub fn msi_version(app: &App) -> Result<String> {
    let v = &app.version;
    let hint = "\nhint: MSI versions are `MAJOR.MINOR.PATCH` with MAJOR and MINOR at most 255 and PATCH at most 65535";
    if v.major > 255 || v.minor > 255 || v.patch > 65535 {
        return Err(invalid(app, "version", format!("`{v}` does not fit an MSI version{hint}")));
    }
    if !v.pre.is_empty() && v.pre.as_str().parse::<u16>().is_err() {
        return Err(invalid(
            app,
            "version",
            format!(
                "`{v}`: Windows installers cannot express the pre-release `{}`; only a number (`1.2.3-4`) is \
                 allowed{hint}",
                v.pre
            ),
        ));
    }
    Ok(format!("{}.{}.{}", v.major, v.minor, v.patch))
}

fn four_part_version(app: &App) -> String {
    let v = &app.version;
    let build = v.pre.as_str().parse::<u16>().unwrap_or(0);
    format!("{}.{}.{}.{build}", v.major, v.minor, v.patch)
}

/// Namespace of every UUID the bundler derives (a fixed random UUID).
const UUID_NAMESPACE: [u8; 16] =
    [0x6b, 0x2e, 0x51, 0x0f, 0x3c, 0x8a, 0x4d, 0x17, 0x9e, 0x41, 0x25, 0xd6, 0x0a, 0x7c, 0x93, 0xb8];

/// A name-based (version 5, SHA-1) UUID in upper-case registry form, `{XXXXXXXX-...}`.
pub fn uuid_v5(name: &str) -> String {
    let mut hasher = sha1::Sha1::new();
    hasher.update(UUID_NAMESPACE);
    hasher.update(name.as_bytes());
    let hash = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    format_guid(&b)
}

fn format_guid(b: &[u8; 16]) -> String {
    let h = hex::encode_upper(b);
    format!("{{{}-{}-{}-{}-{}}}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Parses a GUID with or without braces; returns it in registry form.
pub fn parse_guid(text: &str) -> Option<String> {
    let t = text.trim().trim_start_matches('{').trim_end_matches('}');
    let parts: Vec<&str> = t.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    if lens != [8, 4, 4, 4, 12] || !parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit())) {
        return None;
    }
    Some(format!("{{{}}}", t.to_ascii_uppercase()))
}

/// A multi-size `.ico` (PNG-compressed entries, which every Windows since Vista reads) from the app icon, or the
/// configured `.ico` checked and used as is.
pub fn ico(app: &App) -> Result<Vec<u8>> {
    if let Some(p) = &settings(app).icon {
        let path = app.root.join(p);
        if !path.is_file() {
            return Err(Error::Missing { what: "icon", path, hint: Some("fix `windows.icon`".into()) });
        }
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ico")) {
            let data = std::fs::read(&path).map_err(Error::io("read", &path))?;
            check_ico(&data).map_err(|message| Error::Icon { path: path.clone(), message })?;
            return Ok(data);
        }
        return png_to_ico(&crate::icons::Icon::load(&path)?);
    }
    match &app.icon {
        Some(icon) => png_to_ico(icon),
        None => Err(invalid(
            app,
            "icons",
            "Windows installers need an icon\nhint: add a square PNG to `icons`, or set `windows.icon`".into(),
        )),
    }
}

/// Sizes in the generated `.ico`: what Explorer, the Start menu and the uninstall list pick from.
pub const ICO_SIZES: [u32; 6] = [16, 24, 32, 48, 64, 256];

/// A multi-size `.ico` of `icon` (16 to 256 px, those not larger than it; `millennium icon` writes it too).
pub fn png_to_ico(icon: &crate::icons::Icon) -> Result<Vec<u8>> {
    let mut images = Vec::new();
    for size in ICO_SIZES.into_iter().filter(|s| *s <= icon.size().max(16)) {
        images.push((size, icon.png(size)?));
    }
    let mut out = Vec::new();
    out.extend_from_slice(&[0, 0, 1, 0]);
    out.extend_from_slice(&(images.len() as u16).to_le_bytes());
    let mut offset = 6 + 16 * images.len() as u32;
    for (size, png) in &images {
        // A width/height byte of 0 means 256.
        let dim = if *size >= 256 { 0 } else { *size as u8 };
        out.extend_from_slice(&[dim, dim, 0, 0]);
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&32u16.to_le_bytes());
        out.extend_from_slice(&(png.len() as u32).to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset += png.len() as u32;
    }
    for (_, png) in images {
        out.extend_from_slice(&png);
    }
    Ok(out)
}

/// Checks the `.ico` container: header, directory, and every image inside the file as a PNG or a BMP DIB.
fn check_ico(data: &[u8]) -> std::result::Result<(), String> {
    if data.len() < 6 || data[0..4] != [0, 0, 1, 0] {
        return Err("not an .ico file (bad header)".into());
    }
    let count = u16::from_le_bytes([data[4], data[5]]) as usize;
    if count == 0 {
        return Err("the .ico holds no image".into());
    }
    for i in 0..count {
        let entry = data.get(6 + 16 * i..6 + 16 * (i + 1)).ok_or("the .ico directory is truncated")?;
        let len = u32::from_le_bytes([entry[8], entry[9], entry[10], entry[11]]) as usize;
        let off = u32::from_le_bytes([entry[12], entry[13], entry[14], entry[15]]) as usize;
        let image = data.get(off..off.saturating_add(len)).ok_or(format!("image {i} lies outside the file"))?;
        if !(image.starts_with(b"\x89PNG\r\n\x1a\n") || image.starts_with(&40u32.to_le_bytes())) {
            return Err(format!("image {i} is neither a PNG nor a bitmap"));
        }
    }
    Ok(())
}

/// Prepares the payload and metadata shared by both installers in `work`.
pub fn prepare(
    app: &App,
    exe: &Path,
    work: &Path,
    epoch: u64,
    env: &dyn Fn(&str) -> Option<String>,
    progress: &dyn crate::Progress,
) -> Result<Prepared> {
    let w = settings(app);
    let payload = work.join("payload");
    let mut files = Vec::new();
    let mut add = |path: String, data: &[u8]| -> Result<()> {
        let source = payload.join(&path);
        if let Some(parent) = source.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
        }
        std::fs::write(&source, data).map_err(Error::io("write", &source))?;
        set_mtime(&source, epoch)?;
        files.push(PayloadFile { path, source, size: data.len() as u64 });
        Ok(())
    };
    let exe_name = exe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.to_ascii_lowercase().ends_with(".exe"))
        .ok_or_else(|| Error::Binary {
            path: exe.to_owned(),
            message: "the Windows executable's name must end with `.exe`".into(),
        })?;
    let exe_data = std::fs::read(exe).map_err(Error::io("read", exe))?;
    check_pe(exe, &exe_data)?;
    add(exe_name.clone(), &exe_data)?;
    for (src, rel) in &app.resources {
        let data = std::fs::read(src).map_err(Error::io("read", src))?;
        add(rel.clone(), &data)?;
    }
    if let WebviewInstallMode::FixedRuntime(dir) = &w.webview_install_mode {
        let root = app.root.join(dir);
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "WebView2".into());
        for (source, rel) in walk(&root)? {
            let data = std::fs::read(&source).map_err(Error::io("read", &source))?;
            add(format!("{name}/{rel}"), &data)?;
        }
    }
    files[1..].sort_by(|a, b| a.path.cmp(&b.path));

    let signer = match &w.signing {
        Some(s) => Some(authenticode::Signer::from_config(app, s, env)?),
        None => None,
    };
    if let Some(signer) = &signer {
        progress.step("signing the Windows executable");
        signer.sign(&files[0].source, app, epoch, work)?;
        files[0].size = std::fs::metadata(&files[0].source).map_err(Error::io("read", &files[0].source))?.len();
        set_mtime(&files[0].source, epoch)?;
    }

    let icon = work.join("app.ico");
    std::fs::write(&icon, ico(app)?).map_err(Error::io("write", &icon))?;
    set_mtime(&icon, epoch)?;

    let webview2 = webview2::provision(app, work, env, progress)?;

    let msi_version = msi_version(app)?;
    let scope = match w.install_scope {
        InstallScope::PerMachine => "per-machine",
        InstallScope::PerUser => "per-user",
    };
    let upgrade_code = match &w.upgrade_code {
        Some(code) => parse_guid(code).ok_or_else(|| invalid(app, "windows.upgrade-code", "not a GUID".into()))?,
        None => uuid_v5(&format!("upgrade-code:{}", app.identifier)),
    };
    let product_code = uuid_v5(&format!("product-code:{}:{}:{scope}", app.identifier, app.version));
    // The package code identifies this exact package: a digest of everything that goes into it. The configuration's
    // `Debug` text is part of it, so changing how the configuration types print changes every MSI.
    let mut digest = sha2::Sha256::new();
    digest.update(format!("{:?}\n{}\n{scope}\n", app.config, app.version));
    for f in &files {
        digest.update(f.path.as_bytes());
        digest.update(std::fs::read(&f.source).map_err(Error::io("read", &f.source))?);
    }
    let package_code = uuid_v5(&format!("package-code:{}", hex::encode(digest.finalize())));
    Ok(Prepared {
        exe_name,
        files,
        icon,
        webview2,
        msi_version,
        four_part_version: four_part_version(app),
        upgrade_code,
        product_code,
        package_code,
        signer,
        work: work.to_owned(),
    })
}

/// Files under `root`, recursively: (path, `/`-separated path relative to `root`), sorted.
fn walk(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    if !root.is_dir() {
        return Err(Error::Missing {
            what: "fixed WebView2 runtime folder",
            path: root.to_owned(),
            hint: Some("extract the fixed-version runtime `.cab` there, or fix `windows.webview-install-mode`".into()),
        });
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(Error::io("read", &dir))? {
            let path = entry.map_err(Error::io("read", &dir))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                out.push((path, rel));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// Sets a file's modification time (cabinet and NSIS archive entries carry it).
pub(crate) fn set_mtime(path: &Path, epoch: u64) -> Result<()> {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(time))
        .map_err(Error::io("set the modification time of", path))
}

/// Runs an external tool; a missing tool is an error that names the Debian package.
pub(crate) fn run_tool(format: &'static str, cmd: &mut std::process::Command, package: &str) -> Result<String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let output = cmd.output().map_err(|e| Error::Package {
        format,
        message: if e.kind() == std::io::ErrorKind::NotFound {
            format!("`{program}` is not installed\nhint: `apt-get install {package}`")
        } else {
            format!("could not run `{program}`: {e}")
        },
    })?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(Error::Package {
            format,
            message: format!("`{program}` failed ({}):\n{}", output.status, text.trim()),
        });
    }
    Ok(text)
}

/// Builds the requested Windows installers (`msi`, `nsis`) from one prepared payload.
pub(crate) fn build(ctx: &Context, exe: &Path) -> Result<Vec<Artifact>> {
    let (app, epoch) = (ctx.app, ctx.epoch);
    let work = tempfile::Builder::new()
        .prefix("millennium-windows-")
        .tempdir()
        .map_err(Error::io("create a work directory in", std::env::temp_dir()))?;
    let prepared = prepare(app, exe, work.path(), epoch, ctx.env, ctx.progress)?;
    let installer = |format, name, bytes| Artifact::file(format, Role::Installer, name, bytes, vec![ctx.arch]);
    let mut out = Vec::new();
    if ctx.wants(Format::Msi) {
        ctx.progress.step("building the MSI (wixl)");
        out.push(installer(Format::Msi, msi::file_name(app), msi::build(app, &prepared, epoch)?));
    }
    if ctx.wants(Format::Nsis) {
        ctx.progress.step("building the NSIS installer (makensis)");
        out.push(installer(Format::Nsis, nsis::file_name(app), nsis::build(app, &prepared, epoch)?));
    }
    Ok(out)
}

/// Escapes text for XML attribute values.
pub(crate) fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v5_is_stable_and_well_formed() {
        let a = uuid_v5("upgrade-code:com.example.hello");
        assert_eq!(a, uuid_v5("upgrade-code:com.example.hello"));
        assert_ne!(a, uuid_v5("upgrade-code:com.example.other"));
        assert_eq!(parse_guid(&a).as_deref(), Some(a.as_str()));
        assert_eq!(&a[15..16], "5", "{a}");
        assert!("89AB".contains(&a[20..21]), "{a}");
    }

    #[test]
    fn guid_parsing() {
        assert_eq!(
            parse_guid("6b2e510f-3c8a-4d17-9e41-25d60a7c93b8").as_deref(),
            Some("{6B2E510F-3C8A-4D17-9E41-25D60A7C93B8}")
        );
        assert!(parse_guid("not-a-guid").is_none());
        assert!(parse_guid("{6b2e510f-3c8a-4d17-9e41-25d60a7c93bx}").is_none());
    }

    #[test]
    fn pe_check() {
        let p = Path::new("x.exe");
        assert!(check_pe(p, b"\x7fELF....").unwrap_err().to_string().contains("no `MZ` header"));
        let mut pe = vec![0u8; 0x100];
        pe[0..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        pe[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
        check_pe(p, &pe).unwrap();
        pe[0x84..0x86].copy_from_slice(&0xaa64u16.to_le_bytes());
        assert!(check_pe(p, &pe).unwrap_err().to_string().contains("not for x86_64"));
    }

    #[test]
    fn ico_check() {
        assert!(check_ico(b"\x89PNG").is_err());
        assert!(check_ico(&[0, 0, 1, 0, 0, 0]).is_err());
        let mut one = vec![0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0];
        one.extend_from_slice(&8u32.to_le_bytes());
        one.extend_from_slice(&22u32.to_le_bytes());
        one.extend_from_slice(b"\x89PNG\r\n\x1a\n");
        check_ico(&one).unwrap();
        one.truncate(one.len() - 1);
        assert!(check_ico(&one).unwrap_err().contains("outside"));
    }
}
