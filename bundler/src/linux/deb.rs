//! `.deb`: an `ar` archive of `debian-binary` (`2.0\n`), `control.tar.xz` and `data.tar.xz`.
//!
//! Reproducible the way cargo-deb does it: every tar entry and ar member carries the one timestamp
//! (`SOURCE_DATE_EPOCH`), entries are sorted with explicit parent directories (`./usr/`, trailing `/`), names start
//! with `./`, owner is root (uid/gid 0), and xz uses a fixed block size (same bytes whatever the thread count).

use std::io::Write;

use crate::Arch;
use crate::config::App;
use crate::error::{Error, Result};
use crate::linux::deps;
use crate::linux::elf::Needs;
use crate::tree::{TarWriter, Tree};

/// The Debian form of a semantic version: a pre-release sorts before the release (`1.0.0-rc.1` → `1.0.0~rc.1`).
pub fn deb_version(v: &semver::Version) -> String {
    let mut s = format!("{}.{}.{}", v.major, v.minor, v.patch);
    if !v.pre.is_empty() {
        s += &format!("~{}", v.pre.as_str().replace('-', "."));
    }
    if !v.build.is_empty() {
        s += &format!("+{}", v.build.as_str().replace('-', "."));
    }
    s
}

/// The `.deb` file name: `PKG_VERSION_ARCH.deb`.
pub fn file_name(app: &App, arch: Arch) -> String {
    format!("{}_{}_{}.deb", app.package_name, deb_version(&app.version), arch.deb())
}

/// The `Depends` field: `deb.depends` when set; else what the binaries need, found as `dpkg-shlibdeps` would
/// ([`deps`]), with WebKitGTK raised to `min-webview-version`, plus `deb.extra-depends`. A library that no installed
/// package owns becomes a warning.
pub fn depends(app: &App, needs: &[Needs], arch: Arch, warnings: &mut Vec<String>) -> Vec<String> {
    if let Some(list) = &app.config.deb.depends {
        return list.clone();
    }
    let computed = deps::Dpkg::system(arch).depends(needs, &[]);
    for (soname, reason) in &computed.unresolved {
        warnings
            .push(format!("deb: no package found for `{soname}` ({reason}); list it in `deb.extra-depends` if needed"));
    }
    let webkitgtk = app.min_webview.get(millennium_webview_probe::Backend::Webkitgtk).map(ToString::to_string);
    let computed = computed.depends.into_iter().map(|dep| match &webkitgtk {
        Some(min) => deps::raise_webkitgtk(dep, min),
        None => dep,
    });
    computed.chain(app.config.deb.extra_depends.iter().cloned()).collect()
}

/// Builds the package bytes; returns them with the warnings of [`depends`]. The dependencies are looked up (dpkg,
/// mostly waiting for it to read its database) while the payload is compressed, since only the control file needs
/// them.
pub fn build(app: &App, tree: &Tree, needs: &[Needs], arch: Arch, epoch: u64) -> Result<(Vec<u8>, Vec<String>)> {
    let (data_xz, depends) = std::thread::scope(|scope| {
        let depends = scope.spawn(|| {
            let mut warnings = Vec::new();
            (depends(app, needs, arch, &mut warnings), warnings)
        });
        let data_xz = tree.tar("./", epoch).and_then(|tar| xz(&tar));
        let depends = depends.join().map_err(|_| Error::package("deb")("the dependency look-up panicked".into()));
        (data_xz, depends)
    });
    let data_xz = data_xz.map_err(|e| Error::package("deb")(e.to_string()))?;
    let (depends, warnings) = depends?;
    let control = control_file(app, tree, &depends, arch);
    let control_tar = control_tar(app, tree, &control, epoch).map_err(|e| Error::package("deb")(e.to_string()))?;
    let control_xz = xz(&control_tar).map_err(|e| Error::package("deb")(e.to_string()))?;

    let mut ar = ar::Builder::new(Vec::new());
    for (name, bytes) in
        [("debian-binary", &b"2.0\n"[..]), ("control.tar.xz", &control_xz[..]), ("data.tar.xz", &data_xz[..])]
    {
        let mut header = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
        header.set_mtime(epoch);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mode(0o100644);
        ar.append(&header, bytes).map_err(|e| Error::package("deb")(e.to_string()))?;
    }
    let bytes = ar.into_inner().map_err(|e| Error::package("deb")(e.to_string()))?;
    Ok((bytes, warnings))
}

/// The `control` file.
pub fn control_file(app: &App, tree: &Tree, depends: &[String], arch: Arch) -> String {
    // Like dpkg-gencontrol: KiB per file, rounded up, plus one per directory.
    let installed: u64 = tree.files.iter().map(|f| (f.data.len() as u64).div_ceil(1024)).sum::<u64>()
        + tree.dirs().len() as u64
        + tree.symlinks.len() as u64;
    let deb = &app.config.deb;
    let mut s = format!(
        "Package: {}\nVersion: {}\nArchitecture: {}\n",
        app.package_name,
        deb_version(&app.version),
        arch.deb()
    );
    s += &format!("Maintainer: {}\nInstalled-Size: {installed}\n", app.maintainer);
    if !depends.is_empty() {
        s += &format!("Depends: {}\n", depends.join(", "));
    }
    s += &format!("Section: {}\n", deb.section.as_deref().unwrap_or("utils"));
    s += &format!("Priority: {}\n", deb.priority.as_deref().unwrap_or("optional"));
    if let Some(home) = &app.homepage {
        s += &format!("Homepage: {home}\n");
    }
    s += &format!("Description: {}\n", app.description);
    let long = app.long_description.clone().unwrap_or_else(|| {
        format!("{} is a desktop application ({}), packaged with millennium-bundler.", app.product_name, app.identifier)
    });
    for line in long.trim_end().lines() {
        if line.trim().is_empty() {
            s += " .\n";
        } else {
            for wrapped in wrap(line, 78) {
                s += &format!(" {wrapped}\n");
            }
        }
    }
    s
}

/// Greedy word wrap to `width` columns (long words stay whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && current.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

fn control_tar(app: &App, tree: &Tree, control: &str, epoch: u64) -> std::io::Result<Vec<u8>> {
    let mut md5sums = String::new();
    for f in &tree.files {
        use md5::Digest;
        md5sums += &format!("{}  {}\n", hex::encode(md5::Md5::digest(&f.data)), f.path);
    }
    let mut entries: Vec<(String, u32, Vec<u8>)> =
        vec![("control".into(), 0o644, control.as_bytes().to_vec()), ("md5sums".into(), 0o644, md5sums.into_bytes())];
    for (kind, text) in &app.scripts {
        entries.push((kind.deb_name().into(), 0o755, text.as_bytes().to_vec()));
    }
    entries.sort();
    let mut tar = TarWriter::new(epoch);
    tar.dir("./")?;
    for (name, mode, data) in entries {
        tar.file(&format!("./{name}"), mode, &data)?;
    }
    tar.finish()
}

/// xz block size. liblzma's multi-threaded encoder compresses blocks independently, so its output depends on the
/// block size and preset only, never on the number of threads: packages reproduce on any machine (a unit test checks
/// 1 thread against 4). 4 MiB blocks let two cores share a 10 MiB binary at a cost of about 1% in size.
const XZ_BLOCK_SIZE: u64 = 4 << 20;

/// xz, preset 6, multi-threaded with a fixed block size (deterministic).
pub fn xz(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8) as u32;
    xz_with_threads(data, threads)
}

fn xz_with_threads(data: &[u8], threads: u32) -> std::io::Result<Vec<u8>> {
    let stream = liblzma::stream::MtStreamBuilder::new()
        .threads(threads)
        .block_size(XZ_BLOCK_SIZE)
        .preset(6)
        .check(liblzma::stream::Check::Crc64)
        .encoder()
        .map_err(std::io::Error::other)?;
    let mut enc = liblzma::write::XzEncoder::new_stream(Vec::with_capacity(data.len() / 3), stream);
    enc.write_all(data)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xz_output_does_not_depend_on_thread_count() {
        let data: Vec<u8> = (0..10u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 & 0x3f).collect();
        let one = xz_with_threads(&data, 1).unwrap();
        assert_eq!(one, xz_with_threads(&data, 4).unwrap());
        assert_eq!(one, xz(&data).unwrap());
    }

    #[test]
    fn versions() {
        let v = |s| deb_version(&semver::Version::parse(s).unwrap());
        assert_eq!(v("1.2.3"), "1.2.3");
        assert_eq!(v("1.2.3-rc.1"), "1.2.3~rc.1");
        assert_eq!(v("1.2.3-beta-2+git.abc"), "1.2.3~beta.2+git.abc");
    }
}
