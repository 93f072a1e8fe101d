//! macOS deliverables built on any OS: the `.app` bundle ([`app`]), its `.icns` icon ([`icns`]), universal binaries
//! ([`macho`]), the updater tarball `Product.app.tar.gz` ([`tarball`]), and a `.dmg` disk image ([`dmg`]): a UDIF
//! `UDZO` image ([`udif`]) of an HFS+ volume ([`hfsplus`]) holding the app, a real `/Applications` symlink, the window
//! background and a `.DS_Store` ([`ds_store`]) that lays out the Finder window. Code signing and notarisation drive
//! the `rcodesign` CLI when the credentials are there ([`sign`]); unsigned builds are produced otherwise.
//!
//! # What is checked where
//!
//! On Linux the tests check every output with independent tools: `plistutil` (Info.plist), `icns2png` (icon), `7z`
//! (universal binary slices, the `.dmg`'s partition and HFS+ file system, symlink included), `dmg2img` (UDIF
//! decompression and checksums), `tar` and `minisign` (updater tarball and signature). What only a Mac can confirm
//! is listed in `docs/macos-bundles.md`: Finder mounting the image and honouring the `.DS_Store` window layout and
//! background, Gatekeeper accepting a signed and notarised app, and `fsck_hfs` on the volume.

pub mod app;
pub mod dmg;
pub mod ds_store;
pub mod hfsplus;
pub mod icns;
pub mod macho;
pub mod sign;
pub mod tarball;
pub mod tauri;
pub mod udif;

use crate::Arch;
use crate::config::App;
use crate::error::Result;

pub use app::Bundle;

/// What the macOS formats produce.
#[derive(Debug, Default)]
pub struct Output {
    /// The `.app` directory to write, when the `app` format is requested.
    pub app: Option<Bundle>,
    /// Files: `(format, name, bytes)`.
    pub files: Vec<(&'static str, String, Vec<u8>)>,
    /// The updater tarball's name (among `files`) and the architectures it serves.
    pub updater: Option<(String, Vec<Arch>)>,
}

/// Which macOS outputs to make.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted {
    pub app: bool,
    pub dmg: bool,
    /// `Product.app.tar.gz` for the updater.
    pub tarball: bool,
}

/// Builds the requested macOS outputs. Signing and notarisation run when configured (see [`sign`]); otherwise a
/// "skipped" line is added to `warnings` and the outputs are unsigned.
pub fn build(
    app: &App,
    arch: Arch,
    wanted: Wanted,
    epoch: u64,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<Output> {
    let mut bundle = app::build(app, arch)?;
    let entitlements = app.config.macos.entitlements.as_ref().map(|p| app.root.join(p));
    let signing = sign::Signing::from_env(entitlements, env);
    match &signing {
        Ok(signing) => bundle = sign::sign_app(signing, bundle, warnings)?,
        Err(skipped) => {
            warnings.push(format!("macOS signing skipped: {skipped}"));
            for path in &bundle.unsigned_arm64 {
                warnings.push(format!(
                    "`{}/{path}` has arm64 code without a code signature, which Apple silicon Macs refuse to run: \
                     link it with Apple's or zig's linker (they sign it ad hoc), or sign the app with `rcodesign`",
                    bundle.name
                ));
            }
        }
    }
    let mut out = Output::default();
    if wanted.tarball {
        let name = format!("{}.tar.gz", bundle.name);
        out.files.push(("app", name.clone(), tarball::build(&bundle, epoch)?));
        out.updater = Some((name, bundle.arches.clone()));
    }
    if wanted.dmg {
        let name = dmg::file_name(app, &bundle);
        let mut image = dmg::build(app, &bundle, epoch)?;
        if let Ok(signing) = &signing {
            image = sign::sign_dmg(signing, &name, image)?;
        }
        out.files.push(("dmg", name, image));
    }
    if wanted.app {
        out.app = Some(bundle);
    }
    Ok(out)
}
