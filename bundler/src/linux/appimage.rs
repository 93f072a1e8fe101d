//! AppImage (type 2): an ELF runtime followed by a squashfs image of the AppDir.
//!
//! The AppDir is `AppRun` (a symlink to the main binary, or a script, see [`app_run`]), `PKG.desktop`, `PKG.png`
//! and `.DirIcon` at the root, and the same `usr/` tree as the deb/rpm. The squashfs image is written in-process
//! with `backhand` (gzip, all entries root-owned, every mtime and the superblock time set to `SOURCE_DATE_EPOCH`),
//! so no `mksquashfs`, no linuxdeploy and no download happen at bundle time. The runtime is the type-2 runtime
//! shipped inside the published `appimage` crate (see `assets/README.md`); it finds the image at the end of its own
//! ELF image, so the two are concatenated. The runtime's reserved `.upd_info` section (1024 bytes) is patched with
//! the update information (`zsync|URL`) when an update URL is configured, which is what AppImageUpdate reads.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use backhand::compression::Compressor;
use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};
use millennium_webview_probe::Backend;

use crate::Arch;
use crate::config::App;
use crate::error::{Error, Result};
use crate::linux::{deps, elf};
use crate::tree::Tree;

/// The x86_64 type-2 runtime (from the `appimage` crate 0.4.0).
pub static RUNTIME_X86_64: &[u8] = include_bytes!("../../assets/appimage-runtime-x86_64");

/// `PKG_VERSION_ARCH.AppImage`.
pub fn file_name(app: &App, arch: Arch) -> String {
    format!("{}_{}_{}.AppImage", app.package_name, app.version, arch.as_str())
}

/// The runtime for `arch`.
pub fn runtime(arch: Arch) -> Result<&'static [u8]> {
    match arch {
        Arch::X86_64 => Ok(RUNTIME_X86_64),
        Arch::Aarch64 => Err(Error::Package {
            format: "AppImage",
            message: "no aarch64 AppImage runtime is bundled yet\nhint: build the AppImage for `--target x86_64`, \
                      or use `--format deb,rpm` for aarch64"
                .into(),
        }),
    }
}

/// The update information for `.upd_info`: `appimage.update-information`, else derived from
/// `updater.artifact-base-url` (`zsync|BASE/PKG-ARCH.AppImage.zsync`, a version-less "latest" name).
pub fn update_information(app: &App, arch: Arch) -> Option<String> {
    if let Some(info) = &app.config.appimage.update_information {
        return Some(info.clone());
    }
    let base = app.config.updater.as_ref()?.artifact_base_url.as_ref()?;
    let sep = if base.ends_with('/') { "" } else { "/" };
    Some(format!("zsync|{base}{sep}{}-{}.AppImage.zsync", app.package_name, arch.as_str()))
}

/// The file name of the `.zsync` file named by `zsync|URL` update information (its last path segment).
pub fn zsync_file_name(info: &str) -> Option<String> {
    let url = info.strip_prefix("zsync|")?;
    let name = url.rsplit('/').next()?;
    (name.ends_with(".zsync") && name.len() > 6 && !name.contains(['?', '#', '*'])).then(|| name.to_owned())
}

/// Where the webview launcher is put in the AppDir.
pub fn launcher_path(app: &App) -> String {
    format!("usr/lib/{}/millennium-webview-probe", app.package_name)
}

/// The `AppRun` script, or `None` when a symlink to the main binary does: with `with_libraries` (libraries bundled
/// in `usr/lib`) it puts `usr/lib` on `LD_LIBRARY_PATH`; with `launcher` (the AppDir path of
/// `millennium-webview-probe`) it starts the app through `launch`, which checks the webview (and
/// `min-webview-version`) before the dynamic loader ever sees the app's WebKitGTK dependency.
pub fn app_run(app: &App, with_libraries: bool, launcher: Option<&str>) -> Option<String> {
    if !with_libraries && launcher.is_none() {
        return None;
    }
    let mut script = String::from("#!/bin/sh\nHERE=\"$(dirname \"$(readlink -f \"$0\")\")\"\n");
    if with_libraries {
        script += "export LD_LIBRARY_PATH=\"$HERE/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\"\n";
    }
    script += "exec ";
    if let Some(launcher) = launcher {
        script += &format!("\"$HERE/{launcher}\" launch --app-name {}", shell_quote(&app.product_name));
        if let Some(min) = app.min_webview.get(Backend::Webkitgtk) {
            script += &format!(" --min {}", shell_quote(&min.to_string()));
        }
        script += " -- ";
    }
    script += &format!("\"$HERE/usr/bin/{}\" \"$@\"\n", app.main_binary_name());
    Some(script)
}

/// `text` as one single-quoted shell word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The soname a binary needs when it shows its window with WebKitGTK 4.1.
const WEBKITGTK_SONAME: &str = "libwebkit2gtk-4.1.so.0";

/// Whether the AppImage starts the app through the webview launcher: when the main binary links WebKitGTK (an
/// AppImage has no package dependencies, so the launcher is what turns a missing WebKitGTK into a clear message).
pub fn needs_webview_launcher(needs: &[elf::Needs]) -> bool {
    needs.first().is_some_and(|main| main.needed.iter().any(|s| s == WEBKITGTK_SONAME))
}

/// The webview launcher for `AppRun` ([`needs_webview_launcher`]), read: `appimage.webview-launcher`, else
/// `millennium-webview-probe` next to the main binary.
pub fn webview_launcher(app: &App, arch: Arch) -> Result<Vec<u8>> {
    let path = match &app.config.appimage.webview_launcher {
        Some(path) => app.root.join(path),
        None => app.main_binary.with_file_name("millennium-webview-probe"),
    };
    if !path.is_file() {
        return Err(Error::Missing {
            what: "webview launcher for the AppImage",
            path,
            hint: Some(
                "the app links WebKitGTK, so the AppImage starts it through `millennium-webview-probe launch` to \
                 explain a missing WebKitGTK; `millennium build` builds it next to the app (or `cargo build \
                 --release --features cli --manifest-path FRAMEWORK/webview-probe/Cargo.toml --target-dir \
                 APP_TARGET_DIR`), or set `appimage.webview-launcher`"
                    .into(),
            ),
        });
    }
    let mut data = std::fs::read(&path).map_err(Error::io("read", &path))?;
    // A script is a launcher too; an executable must be one for the AppImage's architecture, stripped like the app.
    if data.starts_with(b"\x7fELF") {
        elf::read(&path, &data, arch)?;
        if app.config.binaries.strip.unwrap_or(true)
            && elf::has_symtab(&data)
            && let Some(stripped) = elf::strip(&path, &data)?
        {
            data = stripped;
        }
    }
    Ok(data)
}

/// Core C library sonames: always provided by the system, never bundled.
const NEVER_BUNDLE: [&str; 10] = [
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libresolv.so.2",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "libgcc_s.so.1",
];

/// The shared libraries the binaries need (recursively) that no installed package provides, as (soname, bytes)
/// sorted by soname: found through the binaries' runpath (`$ORIGIN` resolved), or in a library directory without an
/// owning package. A library that is not found is a warning.
pub fn private_libraries(
    app: &App,
    needs: &[elf::Needs],
    arch: Arch,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let dpkg = deps::Dpkg::system(arch);
    let mut queue: Vec<(String, Vec<String>, Option<PathBuf>)> = Vec::new();
    let origins = std::iter::once(&app.main_binary).chain(app.extra_binaries.iter());
    for (need, path) in needs.iter().zip(origins) {
        for soname in &need.needed {
            queue.push((soname.clone(), need.runpaths.clone(), path.parent().map(Path::to_owned)));
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    while let Some((soname, runpaths, origin)) = queue.pop() {
        if NEVER_BUNDLE.contains(&soname.as_str()) || !seen.insert(soname.clone()) {
            continue;
        }
        let Some(path) = dpkg.locate(&soname, &runpaths, origin.as_deref()).into_iter().next() else {
            warnings.push(format!("appimage: `{soname}` was not found, so it is not bundled"));
            continue;
        };
        if dpkg.is_packaged(&path) {
            continue;
        }
        let data = std::fs::read(&path).map_err(Error::io("read", &path))?;
        let lib_needs = elf::read(&path, &data, arch)?;
        for next in &lib_needs.needed {
            queue.push((next.clone(), lib_needs.runpaths.clone(), path.parent().map(Path::to_owned)));
        }
        out.push((soname, data));
    }
    out.sort();
    Ok(out)
}

/// Builds the AppImage bytes from the install tree; `AppRun` as [`app_run`] makes it.
pub fn build(
    app: &App,
    tree: &Tree,
    arch: Arch,
    epoch: u64,
    with_libraries: bool,
    launcher: Option<&str>,
) -> Result<Vec<u8>> {
    let fail = |message: String| Error::Package { format: "AppImage", message };
    let runtime = runtime(arch)?;
    let mut appdir = tree.clone();
    let pkg = &app.package_name;
    match app_run(app, with_libraries, launcher) {
        Some(script) => appdir.file("AppRun", 0o755, script.into_bytes()),
        None => appdir.symlink("AppRun", format!("usr/bin/{}", app.main_binary_name())),
    }
    appdir.file(format!("{pkg}.desktop"), 0o644, crate::linux::layout::desktop_entry(app).into_bytes());
    if let Some(icon) = &app.icon {
        let size = crate::icons::HICOLOR_SIZES.into_iter().filter(|s| *s <= icon.size()).max().unwrap_or(icon.size());
        appdir.file(format!("{pkg}.png"), 0o644, icon.png(size)?);
        appdir.symlink(".DirIcon", format!("{pkg}.png"));
    }
    appdir.sort();
    let squashfs = squashfs(&appdir, epoch).map_err(|e| fail(format!("squashfs: {e}")))?;

    let mut out = runtime.to_vec();
    if let Some(info) = update_information(app, arch) {
        patch_section(&mut out, ".upd_info", info.as_bytes()).map_err(fail)?;
    }
    out.extend_from_slice(&squashfs);
    Ok(out)
}

fn squashfs(tree: &Tree, epoch: u64) -> std::result::Result<Vec<u8>, backhand::BackhandError> {
    let time = u32::try_from(epoch).unwrap_or(u32::MAX);
    let mut fs = FilesystemWriter::default();
    fs.set_time(time);
    fs.set_root_mode(0o755);
    fs.set_root_uid(0);
    fs.set_root_gid(0);
    fs.set_only_root_id();
    fs.set_compressor(FilesystemCompressor::new(Compressor::Gzip, None)?);
    let dir = NodeHeader::new(0o755, 0, 0, time);
    for d in tree.dirs() {
        fs.push_dir(&d, dir)?;
    }
    for f in &tree.files {
        fs.push_file(Cursor::new(f.data.as_slice()), &f.path, NodeHeader::new(f.mode as u16, 0, 0, time))?;
    }
    for l in &tree.symlinks {
        fs.push_symlink(&l.target, &l.path, NodeHeader::new(0o777, 0, 0, time))?;
    }
    let mut out = Cursor::new(Vec::new());
    fs.write(&mut out)?;
    Ok(out.into_inner())
}

/// Writes `data` at the start of the ELF section `name` (zero-filled, must fit with a terminating NUL).
pub fn patch_section(elf: &mut [u8], name: &str, data: &[u8]) -> std::result::Result<(), String> {
    let (offset, size) = find_section(elf, name)?;
    if data.len() >= size {
        return Err(format!("`{name}` holds {} bytes; the value has {}", size - 1, data.len()));
    }
    let section = elf.get_mut(offset..offset + size).ok_or_else(|| format!("`{name}` lies outside the runtime"))?;
    section.fill(0);
    section[..data.len()].copy_from_slice(data);
    Ok(())
}

/// File offset and size of the ELF section `name`.
pub fn find_section(elf: &[u8], name: &str) -> std::result::Result<(usize, usize), String> {
    let parsed = goblin::elf::Elf::parse(elf).map_err(|e| format!("the runtime is not ELF: {e}"))?;
    parsed
        .section_headers
        .iter()
        .find(|s| parsed.shdr_strtab.get_at(s.sh_name) == Some(name))
        .map(|s| (s.sh_offset as usize, s.sh_size as usize))
        .ok_or_else(|| format!("the runtime has no `{name}` section"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn runtime_is_the_published_one() {
        assert_eq!(
            hex::encode(sha2::Sha256::digest(RUNTIME_X86_64)),
            "328e0d745c5c6817048c27bc3e8314871703f8f47ffa81a37cb06cd95a94b323"
        );
        assert_eq!(&RUNTIME_X86_64[8..11], b"AI\x02");
        assert_eq!(find_section(RUNTIME_X86_64, ".upd_info").unwrap().1, 1024);
    }

    #[test]
    fn shell_words_survive_quotes() {
        assert_eq!(shell_quote("Hello App"), "'Hello App'");
        assert_eq!(shell_quote("Bob's $(app)"), "'Bob'\\''s $(app)'");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote("it's \"$HOME\" `x`")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's \"$HOME\" `x`");
    }

    #[test]
    fn patch_upd_info() {
        let mut rt = RUNTIME_X86_64.to_vec();
        patch_section(&mut rt, ".upd_info", b"zsync|https://example.com/a.zsync").unwrap();
        let (off, _) = find_section(&rt, ".upd_info").unwrap();
        assert!(rt[off..].starts_with(b"zsync|https://example.com/a.zsync\0"));
        assert!(patch_section(&mut rt, ".upd_info", &[b'x'; 1024]).is_err());
    }
}
