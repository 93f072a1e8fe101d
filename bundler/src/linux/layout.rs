//! The installed file tree of the Linux formats: binaries in `usr/bin`, resources in `usr/lib/PACKAGE`, the desktop
//! entry, AppStream metainfo, hicolor icons, man pages and (deb only) the documentation files. The deb, the rpm and
//! the AppImage each turn this sorted [`Tree`] into their archive.

use crate::config::App;
use crate::error::{Error, Result};
use crate::tree::Tree;

/// Which package the tree is for (the doc files differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Deb,
    Rpm,
}

/// The system-wide install tree (`/usr/...`) of the app.
pub fn install_tree(app: &App, binaries: &[(String, Vec<u8>)], flavour: Flavour, epoch: u64) -> Result<Tree> {
    let pkg = &app.package_name;
    let mut tree = Tree::default();
    for (name, data) in binaries {
        tree.file(format!("usr/bin/{name}"), 0o755, data.clone());
    }
    for (src, rel) in &app.resources {
        let data = std::fs::read(src).map_err(Error::io("read", src))?;
        tree.file(format!("usr/lib/{pkg}/{rel}"), 0o644, data);
    }
    tree.file(format!("usr/share/applications/{pkg}.desktop"), 0o644, desktop_entry(app).into_bytes());
    tree.file(format!("usr/share/metainfo/{}.metainfo.xml", app.identifier), 0o644, metainfo(app, epoch).into_bytes());
    if let Some(icon) = &app.icon {
        for (size, png) in icon.hicolor()? {
            tree.file(format!("usr/share/icons/hicolor/{size}x{size}/apps/{pkg}.png"), 0o644, png);
        }
    }
    for (name, _) in binaries {
        tree.file(format!("usr/share/man/man1/{name}.1.gz"), 0o644, gzip(man_page(app, name).as_bytes())?);
    }
    if flavour == Flavour::Deb {
        tree.file(format!("usr/share/doc/{pkg}/copyright"), 0o644, copyright(app, epoch).into_bytes());
        tree.file(format!("usr/share/doc/{pkg}/changelog.gz"), 0o644, gzip(changelog(app, epoch)?.as_bytes())?);
    }
    tree.sort();
    Ok(tree)
}

/// The freedesktop.org desktop entry.
pub fn desktop_entry(app: &App) -> String {
    let desktop = &app.config.desktop;
    let mut mime: Vec<String> = desktop.mime_types.clone();
    mime.extend(desktop.deep_link_schemes.iter().map(|s| format!("x-scheme-handler/{s}")));
    let categories =
        if desktop.categories.is_empty() { vec!["Utility".to_owned()] } else { desktop.categories.clone() };
    let mut s = String::from("[Desktop Entry]\nType=Application\nVersion=1.4\n");
    s += &format!("Name={}\n", app.product_name);
    s += &format!("Comment={}\n", app.description);
    let field = if mime.is_empty() { "" } else { " %U" };
    s += &format!("Exec={}{field}\n", app.main_binary_name());
    s += &format!("Icon={}\n", app.package_name);
    s += &format!("Terminal={}\n", desktop.terminal);
    s += &format!("Categories={};\n", categories.join(";"));
    if !mime.is_empty() {
        s += &format!("MimeType={};\n", mime.join(";"));
    }
    s
}

/// AppStream metadata, so software centres can list the app.
pub fn metainfo(app: &App, epoch: u64) -> String {
    let x = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let date = time::OffsetDateTime::from_unix_timestamp(epoch as i64)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_else(|_| "1970-01-01".into());
    let long = app
        .long_description
        .clone()
        .unwrap_or_else(|| format!("{} is a desktop application built with Millennium.", app.product_name));
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<component type=\"desktop-application\">\n");
    s += &format!("  <id>{}</id>\n", x(&app.identifier));
    s += "  <metadata_license>CC0-1.0</metadata_license>\n";
    if let Some(license) = &app.license {
        s += &format!("  <project_license>{}</project_license>\n", x(license));
    }
    s += &format!("  <name>{}</name>\n", x(&app.product_name));
    s += &format!("  <summary>{}</summary>\n", x(app.description.trim_end_matches('.')));
    s += "  <description>\n";
    for para in long.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        s += &format!("    <p>{}</p>\n", x(&para.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    s += "  </description>\n";
    s += &format!("  <launchable type=\"desktop-id\">{}.desktop</launchable>\n", x(&app.package_name));
    if let Some(home) = &app.homepage {
        s += &format!("  <url type=\"homepage\">{}</url>\n", x(home));
    }
    s += "  <provides>\n";
    s += &format!("    <binary>{}</binary>\n", x(&app.main_binary_name()));
    s += "  </provides>\n";
    s += &format!("  <releases>\n    <release version=\"{}\" date=\"{date}\"/>\n  </releases>\n", app.version);
    s += "  <content_rating type=\"oars-1.1\"/>\n</component>\n";
    s
}

/// A minimal manual page, so every installed command has one.
fn man_page(app: &App, name: &str) -> String {
    let esc = |s: &str| s.replace('\\', "\\e").replace('-', "\\-");
    format!(
        ".TH {} 1 \"\" \"{} {}\" \"User Commands\"\n.SH NAME\n{} \\- {}\n.SH DESCRIPTION\n\\fB{}\\fR is part of {}.\n",
        esc(&name.to_uppercase()),
        esc(&app.package_name),
        app.version,
        esc(name),
        esc(&app.description),
        esc(name),
        esc(&app.product_name),
    )
}

/// `usr/share/doc/PKG/copyright`, in Debian's machine-readable format ([`crate::linux::licenses`]).
fn copyright(app: &App, epoch: u64) -> String {
    let year = time::OffsetDateTime::from_unix_timestamp(epoch as i64).map(|t| t.year()).unwrap_or(1970);
    crate::linux::licenses::copyright_file(app, year)
}

/// A Debian-format changelog with one entry for this version, dated `SOURCE_DATE_EPOCH`.
fn changelog(app: &App, epoch: u64) -> Result<String> {
    let date = time::OffsetDateTime::from_unix_timestamp(epoch as i64)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc2822).ok())
        .ok_or_else(|| Error::Usage { message: format!("SOURCE_DATE_EPOCH={epoch} is not a usable date") })?;
    Ok(format!(
        "{} ({}) unstable; urgency=medium\n\n  * Release {}.\n\n -- {}  {}\n",
        app.package_name,
        crate::linux::deb::deb_version(&app.version),
        app.version,
        app.maintainer,
        date
    ))
}

/// gzip with no file name and mtime 0, maximum compression (reproducible, what lintian wants).
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut enc = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    enc.write_all(data).map_err(|e| Error::Package { format: "gzip", message: e.to_string() })?;
    enc.finish().map_err(|e| Error::Package { format: "gzip", message: e.to_string() })
}
