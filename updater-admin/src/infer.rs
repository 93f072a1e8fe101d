//! Guessing an artifact's target key from its file name, for `publish ARTIFACT...`.
//!
//! The bundle type comes from the extension (`.AppImage`, `.deb`, `.rpm`, `.app.tar.gz`, `-setup.exe`/`.exe`,
//! `.msi`; Tauri v1's zipped forms `.AppImage.tar.gz`, `.nsis.zip`, `.msi.zip` too), the architecture from a word in
//! the name as the bundlers write it (`amd64`/`x86_64`/`x64`, `arm64`/`aarch64`, `i386`/`i686`/`x86`,
//! `armhf`/`armv7`, `riscv64`). A name that gives no architecture, or an unknown extension, is an error that says to
//! pass `--target KEY=FILE`.

use millennium_update_protocol::{Arch, BundleType, Os, Target};

use crate::error::{Error, Result};

/// The target a file name implies.
pub fn target_from_file_name(name: &str) -> Result<Target> {
    let lower = name.to_ascii_lowercase();
    let bundle = if lower.ends_with(".appimage") || lower.ends_with(".appimage.tar.gz") {
        BundleType::AppImage
    } else if lower.ends_with(".deb") {
        BundleType::Deb
    } else if lower.ends_with(".rpm") {
        BundleType::Rpm
    } else if lower.ends_with(".app.tar.gz") {
        BundleType::App
    } else if lower.ends_with(".msi") || lower.ends_with(".msi.zip") {
        BundleType::Msi
    } else if lower.ends_with(".exe") || lower.ends_with(".nsis.zip") {
        BundleType::Nsis
    } else {
        return Err(Error::usage(format!(
            "cannot tell the platform of `{name}` from its extension\nhint: pass it as `--target KEY={name}`, e.g. `--target linux-x86_64-appimage={name}`"
        )));
    };
    let os: Os = bundle.os();
    let arch = arch_from_name(&lower).ok_or_else(|| {
        Error::usage(format!(
            "cannot tell the architecture of `{name}` from its name\nhint: pass it as `--target {os}-ARCH-{bundle}={name}`, e.g. `--target {os}-aarch64-{bundle}={name}`"
        ))
    })?;
    Target::new(os, arch, Some(bundle)).map_err(Error::protocol)
}

fn arch_from_name(lower: &str) -> Option<Arch> {
    // Split into words at the separators bundlers use; `x86_64` contains `_`, so look for it first.
    if lower.contains("x86_64") || lower.contains("x86-64") {
        return Some(Arch::X86_64);
    }
    let words: Vec<&str> = lower.split(['_', '-', '.', ' ']).collect();
    let has = |w: &[&str]| words.iter().any(|word| w.contains(word));
    if has(&["amd64", "x64"]) {
        Some(Arch::X86_64)
    } else if has(&["aarch64", "arm64"]) {
        Some(Arch::Aarch64)
    } else if has(&["i686", "i386", "x86"]) {
        Some(Arch::I686)
    } else if has(&["armv7", "armhf", "armv7l"]) {
        Some(Arch::Armv7)
    } else if has(&["riscv64"]) {
        Some(Arch::Riscv64)
    } else {
        None
    }
}

/// Parses a `--target KEY=FILE` argument.
pub fn parse_target_arg(arg: &str) -> Result<(Target, std::path::PathBuf)> {
    let (key, file) = arg.split_once('=').ok_or_else(|| {
        Error::usage(format!("`--target {arg}`: expected `KEY=FILE`, e.g. `linux-x86_64-deb=app.deb`"))
    })?;
    let target = key.parse().map_err(Error::protocol)?;
    Ok((target, file.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tauri_bundle_names() {
        for (name, key) in [
            ("my-app_1.2.3_amd64.AppImage", "linux-x86_64-appimage"),
            ("my-app_1.2.3_amd64.deb", "linux-x86_64-deb"),
            ("my-app-1.2.3-1.x86_64.rpm", "linux-x86_64-rpm"),
            ("my-app_1.2.3_arm64.deb", "linux-aarch64-deb"),
            ("my-app-1.2.3-1.aarch64.rpm", "linux-aarch64-rpm"),
            ("my-app_1.2.3_armhf.deb", "linux-armv7-deb"),
            ("my-app_1.2.3_i386.AppImage", "linux-i686-appimage"),
            ("my-app_1.2.3_x64-setup.exe", "windows-x86_64-nsis"),
            ("my-app_1.2.3_x64_en-US.msi", "windows-x86_64-msi"),
            ("my-app_1.2.3_x86-setup.exe", "windows-i686-nsis"),
            ("my-app_1.2.3_arm64-setup.exe", "windows-aarch64-nsis"),
            ("my-app_aarch64.app.tar.gz", "darwin-aarch64-app"),
            ("my-app_x64.app.tar.gz", "darwin-x86_64-app"),
            ("my-app_1.2.3_amd64.AppImage.tar.gz", "linux-x86_64-appimage"),
        ] {
            assert_eq!(target_from_file_name(name).unwrap().to_string(), key, "{name}");
        }
    }

    #[test]
    fn unknown_names_ask_for_target() {
        for name in ["my-app.app.tar.gz", "my-app.zip", "README", "my-app_1.2.3.deb"] {
            let err = target_from_file_name(name).unwrap_err().to_string();
            assert!(err.contains("--target"), "{name}: {err}");
        }
    }

    #[test]
    fn target_args() {
        let (t, f) = parse_target_arg("linux-x86_64=dist/app").unwrap();
        assert_eq!((t.to_string(), f), ("linux-x86_64".to_owned(), "dist/app".into()));
        assert!(parse_target_arg("dist/app").is_err());
        assert!(parse_target_arg("linux-amd64=x").is_err());
    }
}
