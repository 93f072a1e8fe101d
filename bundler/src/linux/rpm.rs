//! `.rpm`, built in-process with the `rpm` crate (no rpmbuild). `source_date` fixes build time and file mtimes;
//! the build host is a constant, so two runs with the same `SOURCE_DATE_EPOCH` give the same bytes.
//! `Requires` are the binaries' sonames in rpm's own notation (`libc.so.6()(64bit)`, `libc.so.6(GLIBC_2.34)(64bit)`),
//! which every rpm-based distribution resolves to its own package names. A soname cannot carry a version, so
//! `min-webview-version` adds a requirement on the package that ships WebKitGTK ([`webkitgtk_requirement`]).

use std::collections::BTreeSet;

use crate::Arch;
use crate::config::{App, ScriptKind};
use crate::error::{Error, Result};
use crate::tree::Tree;

/// Payload compression: zstd (what Fedora and RHEL use; rpm >= 4.14 reads it). Level 12 compresses a typical app
/// nearly as well as level 19 in a fraction of the time.
const ZSTD_LEVEL: i32 = 12;

/// The rpm form of a semantic version: pre-releases use `~` (sorts before the release), no `-` allowed.
pub fn rpm_version(v: &semver::Version) -> String {
    let mut s = format!("{}.{}.{}", v.major, v.minor, v.patch);
    if !v.pre.is_empty() {
        s += &format!("~{}", v.pre.as_str().replace('-', "_"));
    }
    if !v.build.is_empty() {
        s += &format!("+{}", v.build.as_str().replace('-', "_"));
    }
    s
}

fn release(app: &App) -> String {
    app.config.rpm.release.clone().unwrap_or_else(|| "1".into())
}

/// `NAME-VERSION-RELEASE.ARCH.rpm`.
pub fn file_name(app: &App, arch: Arch) -> String {
    format!("{}-{}-{}.{}.rpm", app.package_name, rpm_version(&app.version), release(app), arch.rpm())
}

/// Builds the package bytes.
pub fn build(app: &App, tree: &Tree, requires: &BTreeSet<String>, arch: Arch, epoch: u64) -> Result<Vec<u8>> {
    let fail = |e: rpm::Error| Error::Package { format: "rpm", message: e.to_string() };
    let license = app.license.as_deref().unwrap_or("LicenseRef-unknown");
    let version = rpm_version(&app.version);
    let timestamp = u32::try_from(epoch).map_err(|_| Error::Usage {
        message: format!("SOURCE_DATE_EPOCH={epoch} does not fit the rpm format (2106 or later)"),
    })?;
    let config = rpm::BuildConfig::v4().compression(rpm::CompressionWithLevel::Zstd(ZSTD_LEVEL)).source_date(timestamp);
    let mut builder = rpm::PackageBuilder::new(&app.package_name, &version, license, arch.rpm(), &app.description);
    builder
        .using_config(config)
        .release(release(app))
        .description(app.long_description.clone().unwrap_or_else(|| app.description.clone()))
        .packager(app.maintainer.clone())
        .build_host("millennium-bundler");
    if let Some(home) = &app.homepage {
        builder.url(home.clone());
    }
    let own_dir = format!("usr/lib/{}", app.package_name);
    for dir in tree.dirs() {
        if dir == own_dir || dir.starts_with(&format!("{own_dir}/")) {
            builder.with_dir_entry(rpm::FileOptions::dir(format!("/{dir}")).permissions(0o755)).map_err(fail)?;
        }
    }
    for file in &tree.files {
        let options = rpm::FileOptions::new(format!("/{}", file.path)).permissions(file.mode as u16);
        builder.with_file_contents(file.data.clone(), options).map_err(fail)?;
    }
    for link in &tree.symlinks {
        builder.with_symlink(rpm::FileOptions::symlink(format!("/{}", link.path), &link.target)).map_err(fail)?;
    }
    for req in requires {
        builder.requires(rpm::Dependency::any(req.clone()));
    }
    for (kind, text) in &app.scripts {
        let script = rpm::Scriptlet::new(text.clone());
        match kind {
            ScriptKind::PreInstall => builder.pre_install_script(script),
            ScriptKind::PostInstall => builder.post_install_script(script),
            ScriptKind::PreRemove => builder.pre_uninstall_script(script),
            ScriptKind::PostRemove => builder.post_uninstall_script(script),
        };
    }
    let package = builder.build().map_err(fail)?;
    let mut out = Vec::new();
    package.write(&mut out).map_err(fail)?;
    Ok(out)
}

/// The soname of WebKitGTK 4.1, as it starts its computed `Requires` (`libwebkit2gtk-4.1.so.0()(64bit)`).
const WEBKITGTK_SONAME: &str = "libwebkit2gtk-4.1.so.0(";

/// The requirement that raises WebKitGTK to `min`, the rpm counterpart of the deb's `libwebkit2gtk-4.1-0 (>= min)`.
///
/// The package holding the library has a different name per distribution (Fedora and RHEL: `webkit2gtk4.1`;
/// openSUSE: `libwebkit2gtk-4_1-0`), so it is a rich dependency naming both; rpm adds
/// `rpmlib(RichDependencies)` for it, which rpm 4.13 and later (Fedora 26+, RHEL 8+, openSUSE Leap 15+) have.
pub fn webkitgtk_requirement(min: &str) -> String {
    format!("(webkit2gtk4.1 >= {min} or libwebkit2gtk-4_1-0 >= {min})")
}

/// `Requires` entries: the configured override, or the computed ones plus `rpm.extra-requires`, with WebKitGTK
/// raised to `min-webview-version` when the binaries link it (as the deb's `Depends` are).
pub fn requires(app: &App, computed: BTreeSet<String>) -> BTreeSet<String> {
    match &app.config.rpm.requires {
        Some(list) => list.iter().cloned().collect(),
        None => {
            let links_webkitgtk = computed.iter().any(|r| r.starts_with(WEBKITGTK_SONAME));
            let webview = app
                .min_webview
                .get(millennium_webview_probe::Backend::Webkitgtk)
                .filter(|_| links_webkitgtk)
                .map(ToString::to_string);
            computed
                .into_iter()
                .chain(webview.as_deref().map(webkitgtk_requirement))
                .chain(app.config.rpm.extra_requires.iter().cloned())
                .collect()
        }
    }
}
