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

use crate::artifact::{Artifact, Contents, Format, Role};
use crate::error::Result;
use crate::pipeline::Context;

pub use app::Bundle;

/// Builds the requested macOS outputs from one `.app`: the bundle itself (`app`), the disk image (`dmg`), and with
/// `app` and `updater` the updater tarball. Signing and notarisation run when configured (see [`sign`]); otherwise a
/// "skipped" line is added to `warnings` and the outputs are unsigned.
pub(crate) fn build(ctx: &Context, warnings: &mut Vec<String>) -> Result<Vec<Artifact>> {
    ctx.progress.step("building the macOS app");
    let (app, epoch) = (ctx.app, ctx.epoch);
    let mut bundle = app::build(app, ctx.arch)?;
    let entitlements = app.config.macos.entitlements.as_ref().map(|p| app.root.join(p));
    let signing = sign::Signing::from_env(entitlements, ctx.env);
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
    let arches = bundle.arches.clone();
    let mut out = Vec::new();
    if ctx.wants(Format::App) && ctx.wants(Format::Updater) {
        let name = format!("{}.tar.gz", bundle.name);
        let tarball = tarball::build(&bundle, epoch)?;
        out.push(Artifact::file(Format::App, Role::UpdateArchive, name, tarball, arches.clone()));
    }
    if ctx.wants(Format::Dmg) {
        let name = dmg::file_name(app, &bundle);
        let mut image = dmg::build(app, &bundle, epoch)?;
        if let Ok(signing) = &signing {
            image = sign::sign_dmg(signing, &name, image)?;
        }
        out.push(Artifact::file(Format::Dmg, Role::Installer, name, image, arches.clone()));
    }
    if ctx.wants(Format::App) {
        let contents = Contents::Directory(bundle.tree);
        out.push(Artifact { format: Format::App, role: Role::Installer, name: bundle.name, contents, arches });
    }
    Ok(out)
}
