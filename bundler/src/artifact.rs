//! What the pipeline passes between its stages. Every output is an [`Artifact`]: its name, its bytes (or, for the
//! macOS `.app`, a directory tree), the [`Format`] that made it and its [`Role`]. The role, not the file name, says
//! what happens next: the updater signs the artifacts [`Artifact::update_bundle`] names, the commit stage makes an
//! AppImage executable and writes directories after files.

use millennium_update_protocol::BundleType;

use crate::error::{Error, Result};
use crate::tree::Tree;
use crate::{Arch, Produced};

/// An output format, as `--format` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Deb,
    Rpm,
    AppImage,
    /// macOS `.app` bundle (a directory).
    App,
    /// macOS disk image.
    Dmg,
    /// `.sig` files for the installers and the manifest fragment.
    Updater,
    /// Windows Installer package (built with `wixl`).
    Msi,
    /// NSIS `-setup.exe` (built with `makensis`).
    Nsis,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 8] = [
        Format::Deb,
        Format::Rpm,
        Format::AppImage,
        Format::App,
        Format::Dmg,
        Format::Msi,
        Format::Nsis,
        Format::Updater,
    ];

    /// Name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Deb => "deb",
            Format::Rpm => "rpm",
            Format::AppImage => "appimage",
            Format::App => "app",
            Format::Dmg => "dmg",
            Format::Updater => "updater",
            Format::Msi => "msi",
            Format::Nsis => "nsis",
        }
    }

    /// The platform whose installers the format makes; `None` for `updater`, which signs the others.
    pub(crate) fn platform(self) -> Option<Platform> {
        match self {
            Format::Deb | Format::Rpm | Format::AppImage => Some(Platform::Linux),
            Format::Msi | Format::Nsis => Some(Platform::Windows),
            Format::App | Format::Dmg => Some(Platform::Macos),
            Format::Updater => None,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Format> {
        let hint = "use one or more of `deb`, `rpm`, `appimage`, `msi`, `nsis`, `app`, `dmg`, `updater`";
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s.to_ascii_lowercase())
            .ok_or_else(|| Error::Usage { message: format!("unknown format `{s}`\nhint: {hint}") })
    }
}

/// A group of formats built from one prepared input (the Linux binaries, the Windows payload, the macOS bundle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Platform {
    Linux,
    Windows,
    Macos,
}

impl Platform {
    /// Every platform, in the order the pipeline builds them (which is the order of the report).
    pub const ALL: [Platform; 3] = [Platform::Linux, Platform::Windows, Platform::Macos];
}

/// What an artifact is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// What users download and install: a package, an installer, a disk image, or the `.app` itself.
    Installer,
    /// What the updater installs where users install something else: the macOS `Product.app.tar.gz`.
    UpdateArchive,
    /// The `.zsync` file next to an AppImage, which AppImageUpdate reads.
    Zsync,
    /// The updater signature (`.sig`) of another artifact.
    Signature,
    /// The updater manifest (`PKG_VERSION_ARCH.update.json`).
    Manifest,
}

/// What an artifact holds.
#[derive(Debug, Clone)]
pub(crate) enum Contents {
    /// A file's bytes.
    File(Vec<u8>),
    /// A directory (the macOS `.app`).
    Directory(Tree),
}

/// One output of a bundling run, before it is written.
#[derive(Debug, Clone)]
pub(crate) struct Artifact {
    /// The format that made it (`updater` for signatures and the manifest).
    pub format: Format,
    pub role: Role,
    /// File (or directory) name in the output directory.
    pub name: String,
    pub contents: Contents,
    /// The architectures it serves: the target, or those of the macOS app (both for a universal one); for a
    /// signature, those of its artifact, for the manifest, those of every artifact it lists.
    pub arches: Vec<Arch>,
}

impl Artifact {
    /// A file artifact.
    pub fn file(format: Format, role: Role, name: String, bytes: Vec<u8>, arches: Vec<Arch>) -> Artifact {
        Artifact { format, role, name, contents: Contents::File(bytes), arches }
    }

    /// The bundle type the updater installs this artifact as, when it installs it at all: the Linux and Windows
    /// installers, and the macOS update archive (not the `.app` directory or the disk image).
    pub fn update_bundle(&self) -> Option<BundleType> {
        match (self.format, self.role) {
            (Format::Deb, Role::Installer) => Some(BundleType::Deb),
            (Format::Rpm, Role::Installer) => Some(BundleType::Rpm),
            (Format::AppImage, Role::Installer) => Some(BundleType::AppImage),
            (Format::Msi, Role::Installer) => Some(BundleType::Msi),
            (Format::Nsis, Role::Installer) => Some(BundleType::Nsis),
            (Format::App, Role::UpdateArchive) => Some(BundleType::App),
            _ => None,
        }
    }

    /// Whether the file is a program users run directly (the AppImage), so it is written with mode `0755`.
    pub fn is_executable(&self) -> bool {
        self.format == Format::AppImage && self.role == Role::Installer
    }

    /// The report entry for the artifact once it is at `path`. A directory's SHA-256 is that of its reproducible tar
    /// (the one inside the macOS updater tarball); its size is the sum of its files'.
    pub(crate) fn produced(&self, path: std::path::PathBuf, epoch: u64) -> Result<Produced> {
        use sha2::Digest;
        let (size, sha256) = match &self.contents {
            Contents::File(bytes) => (bytes.len() as u64, sha2::Sha256::digest(bytes)),
            Contents::Directory(tree) => {
                let tar = tree
                    .tar(&format!("{}/", self.name), epoch)
                    .map_err(|e| Error::Package { format: self.format.as_str(), message: e.to_string() })?;
                (tree.size(), sha2::Sha256::digest(&tar))
            }
        };
        Ok(Produced { format: self.format.as_str(), path, size, sha256: hex::encode(sha256) })
    }
}
