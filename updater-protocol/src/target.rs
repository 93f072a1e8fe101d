//! Platform target names: which build of a release a client needs.
//!
//! A client names its platform with up to three words: the operating system ([`Os`]), the CPU architecture ([`Arch`])
//! and, when the app was installed from a package, the bundle type ([`BundleType`]). Tauri sends them as three
//! request variables (`{{target}}`, `{{arch}}`, `{{bundle_type}}`) and joins them with `-` to look up a static
//! manifest: first `{os}-{arch}-{bundle}`, then `{os}-{arch}` (see [`Target::lookup_keys`]). An app that runs as a
//! plain binary has no bundle type (Tauri sends `unknown`), so only `{os}-{arch}` is looked up for it.
//!
//! Spellings: the canonical macOS name is `darwin` (Tauri); `macos` is accepted as an alias because
//! cargo-packager-updater sends and looks up `macos`. [`Target`]'s `Display` always writes the canonical key.
//! Parsing is exact: lowercase only, no whitespace, no other aliases.
//!
//! Which bundle types exist on which operating system is checked here (`deb` on Windows is an error); how each one
//! is installed is the updater's business, not this crate's.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result, snippet};

/// An operating system, as named in update requests and manifest keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Os {
    /// `linux`
    Linux,
    /// `darwin` (alias `macos`)
    Darwin,
    /// `windows`
    Windows,
}

impl Os {
    /// Every operating system, in canonical order.
    pub const ALL: [Os; 3] = [Os::Linux, Os::Darwin, Os::Windows];

    /// The canonical (Tauri) name: `linux`, `darwin` or `windows`.
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Darwin => "darwin",
            Os::Windows => "windows",
        }
    }

    /// The name cargo-packager-updater uses: the same, except `macos` for [`Os::Darwin`].
    pub fn cargo_packager_name(self) -> &'static str {
        match self {
            Os::Darwin => "macos",
            other => other.as_str(),
        }
    }

    /// The bundle types that exist on this operating system.
    pub fn bundle_types(self) -> &'static [BundleType] {
        match self {
            Os::Linux => &[BundleType::AppImage, BundleType::Deb, BundleType::Rpm],
            Os::Darwin => &[BundleType::App],
            Os::Windows => &[BundleType::Msi, BundleType::Nsis],
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Os {
    type Err = Error;

    /// Parses `linux`, `darwin`, `macos` (alias of `darwin`) or `windows`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linux" => Ok(Os::Linux),
            "darwin" | "macos" => Ok(Os::Darwin),
            "windows" => Ok(Os::Windows),
            _ => Err(Error::UnknownOs { value: snippet(s) }),
        }
    }
}

/// A CPU architecture, as named in update requests and manifest keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// `x86_64`
    X86_64,
    /// `i686`
    I686,
    /// `aarch64`
    Aarch64,
    /// `armv7`
    Armv7,
    /// `riscv64`
    Riscv64,
}

impl Arch {
    /// Every architecture.
    pub const ALL: [Arch; 5] = [Arch::X86_64, Arch::I686, Arch::Aarch64, Arch::Armv7, Arch::Riscv64];

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I686 => "i686",
            Arch::Aarch64 => "aarch64",
            Arch::Armv7 => "armv7",
            Arch::Riscv64 => "riscv64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Arch {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Arch::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| Error::UnknownArch { value: snippet(s) })
    }
}

/// How an app was installed, as far as the updater is concerned.
///
/// Tauri also sends `unknown` for `{{bundle_type}}` when the app runs as a plain binary. That is not a bundle type and
/// has no variant here, so it can never end up in a manifest key: [`BundleType::from_request_var`] maps it to `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BundleType {
    /// `appimage` (Linux)
    AppImage,
    /// `deb` (Linux)
    Deb,
    /// `rpm` (Linux)
    Rpm,
    /// `app` (macOS; also used for apps shipped in a DMG)
    App,
    /// `msi` (Windows, WiX)
    Msi,
    /// `nsis` (Windows)
    Nsis,
}

impl BundleType {
    /// Every bundle type.
    pub const ALL: [BundleType; 6] =
        [BundleType::AppImage, BundleType::Deb, BundleType::Rpm, BundleType::App, BundleType::Msi, BundleType::Nsis];

    /// What Tauri sends as `{{bundle_type}}` when the app was not installed from a bundle.
    pub const UNKNOWN_REQUEST_VALUE: &'static str = "unknown";

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            BundleType::AppImage => "appimage",
            BundleType::Deb => "deb",
            BundleType::Rpm => "rpm",
            BundleType::App => "app",
            BundleType::Msi => "msi",
            BundleType::Nsis => "nsis",
        }
    }

    /// The operating system this bundle type belongs to.
    pub fn os(self) -> Os {
        match self {
            BundleType::AppImage | BundleType::Deb | BundleType::Rpm => Os::Linux,
            BundleType::App => Os::Darwin,
            BundleType::Msi | BundleType::Nsis => Os::Windows,
        }
    }

    /// Parses the `{{bundle_type}}` request variable: a bundle type, or `unknown` (no bundle) as `None`.
    pub fn from_request_var(s: &str) -> Result<Option<Self>> {
        if s == Self::UNKNOWN_REQUEST_VALUE { Ok(None) } else { s.parse().map(Some) }
    }
}

impl fmt::Display for BundleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BundleType {
    type Err = Error;

    /// Parses a bundle type name; `unknown` is rejected (see [`BundleType::from_request_var`]).
    fn from_str(s: &str) -> Result<Self> {
        BundleType::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| Error::UnknownBundleType { value: snippet(s) })
    }
}

/// A platform: operating system, architecture and optional bundle type.
///
/// The bundle type, when present, always belongs to the operating system (checked on construction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    os: Os,
    arch: Arch,
    bundle: Option<BundleType>,
}

impl Target {
    /// Makes a target, checking that the bundle type exists on the operating system.
    pub fn new(os: Os, arch: Arch, bundle: Option<BundleType>) -> Result<Self> {
        if let Some(bundle) = bundle
            && bundle.os() != os
        {
            return Err(Error::BundleNotForOs { os, bundle });
        }
        Ok(Self { os, arch, bundle })
    }

    /// Builds a target from Tauri's three request variables: `{{target}}` (`linux`, `darwin`, `macos`, `windows`),
    /// `{{arch}}` and `{{bundle_type}}` (`None` when the endpoint does not use it or the client is older than
    /// tauri-plugin-updater 2.10; `unknown` also means no bundle).
    pub fn from_request_vars(target: &str, arch: &str, bundle_type: Option<&str>) -> Result<Self> {
        let os = target.parse()?;
        let arch = arch.parse()?;
        let bundle = match bundle_type {
            Some(b) => BundleType::from_request_var(b)?,
            None => None,
        };
        Self::new(os, arch, bundle)
    }

    /// The operating system.
    pub fn os(&self) -> Os {
        self.os
    }

    /// The architecture.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The bundle type, if the app was installed from one.
    pub fn bundle(&self) -> Option<BundleType> {
        self.bundle
    }

    /// The same platform without a bundle type (`linux-x86_64-deb` → `linux-x86_64`).
    pub fn without_bundle(&self) -> Self {
        Self { bundle: None, ..*self }
    }

    /// The keys a Tauri client looks up in a static manifest, in order: `{os}-{arch}-{bundle}` (if it has a bundle
    /// type), then `{os}-{arch}`. Always in the canonical (`darwin`) spelling, which is what Tauri looks up.
    pub fn lookup_keys(&self) -> Vec<String> {
        let mut keys = Vec::with_capacity(2);
        if self.bundle.is_some() {
            keys.push(self.to_string());
        }
        keys.push(self.without_bundle().to_string());
        keys
    }

    /// The key cargo-packager-updater looks up: `{os}-{arch}` with `macos` for macOS, never a bundle type.
    pub fn cargo_packager_key(&self) -> String {
        format!("{}-{}", self.os.cargo_packager_name(), self.arch)
    }
}

impl fmt::Display for Target {
    /// Writes the canonical key, e.g. `darwin-aarch64-app` (never `macos-…`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.os, self.arch)?;
        if let Some(bundle) = self.bundle {
            write!(f, "-{bundle}")?;
        }
        Ok(())
    }
}

impl FromStr for Target {
    type Err = Error;

    /// Parses `{os}-{arch}` or `{os}-{arch}-{bundle}`; `macos` is accepted for the operating system.
    fn from_str(s: &str) -> Result<Self> {
        let mut parts = s.split('-');
        let (Some(os), Some(arch), bundle, None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(Error::MalformedTarget { value: snippet(s) });
        };
        let os = os.parse()?;
        let arch = arch.parse()?;
        let bundle = bundle.map(str::parse).transpose()?;
        Self::new(os, arch, bundle)
    }
}

macro_rules! serde_via_str {
    ($($ty:ty),*) => {$(
        impl serde::Serialize for $ty {
            fn serialize<S>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error>
            where
                S: serde::Serializer,
            {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D>(deserializer: D) -> std::result::Result<Self, D::Error>
            where
                D: serde::Deserializer<'de>,
            {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_via_str!(Os, Arch, BundleType, Target);

#[cfg(test)]
mod tests {
    use super::*;

    fn all_targets() -> Vec<Target> {
        let mut out = Vec::new();
        for os in Os::ALL {
            for arch in Arch::ALL {
                out.push(Target { os, arch, bundle: None });
                for &bundle in os.bundle_types() {
                    out.push(Target { os, arch, bundle: Some(bundle) });
                }
            }
        }
        out
    }

    #[test]
    fn every_key_round_trips() {
        let all = all_targets();
        assert_eq!(all.len(), 5 * (3 + 1) + 5 * (1 + 1) + 5 * (2 + 1));
        for target in all {
            let key = target.to_string();
            assert_eq!(key.parse::<Target>().unwrap(), target, "{key}");
        }
    }

    #[test]
    fn macos_is_an_alias_of_darwin() {
        let t: Target = "macos-aarch64".parse().unwrap();
        assert_eq!(t, Target::new(Os::Darwin, Arch::Aarch64, None).unwrap());
        assert_eq!(t.to_string(), "darwin-aarch64");
        assert_eq!(t.cargo_packager_key(), "macos-aarch64");
        let t: Target = "macos-x86_64-app".parse().unwrap();
        assert_eq!(t.to_string(), "darwin-x86_64-app");
    }

    #[test]
    fn lookup_order_is_bundle_first() {
        let t: Target = "windows-x86_64-nsis".parse().unwrap();
        assert_eq!(t.lookup_keys(), ["windows-x86_64-nsis", "windows-x86_64"]);
        let t: Target = "linux-x86_64".parse().unwrap();
        assert_eq!(t.lookup_keys(), ["linux-x86_64"]);
        let t: Target = "macos-aarch64-app".parse().unwrap();
        assert_eq!(t.lookup_keys(), ["darwin-aarch64-app", "darwin-aarch64"]);
    }

    #[test]
    fn invalid_combinations_are_rejected() {
        for (key, os, bundle) in [
            ("windows-x86_64-deb", Os::Windows, BundleType::Deb),
            ("darwin-aarch64-msi", Os::Darwin, BundleType::Msi),
            ("linux-x86_64-app", Os::Linux, BundleType::App),
            ("macos-aarch64-nsis", Os::Darwin, BundleType::Nsis),
        ] {
            match key.parse::<Target>() {
                Err(Error::BundleNotForOs { os: o, bundle: b }) => {
                    assert_eq!((o, b), (os, bundle), "{key}")
                }
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_keys_are_rejected_with_the_right_variant() {
        for key in ["", "linux", "linux-x86_64-deb-extra", "linux--deb", "-", "linux-x86_64-"] {
            let err = key.parse::<Target>().unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::MalformedTarget { .. }
                        | Error::UnknownOs { .. }
                        | Error::UnknownArch { .. }
                        | Error::UnknownBundleType { .. }
                ),
                "{key}: {err:?}"
            );
        }
        assert!(matches!("linux".parse::<Target>(), Err(Error::MalformedTarget { .. })));
        assert!(matches!("a-b-c-d".parse::<Target>(), Err(Error::MalformedTarget { .. })));
        assert!(matches!("Linux-x86_64".parse::<Target>(), Err(Error::UnknownOs { .. })));
        assert!(matches!("freebsd-x86_64".parse::<Target>(), Err(Error::UnknownOs { .. })));
        assert!(matches!("linux-amd64".parse::<Target>(), Err(Error::UnknownArch { .. })));
        assert!(matches!("darwin-universal".parse::<Target>(), Err(Error::UnknownArch { .. })));
        assert!(matches!("linux-x86_64-unknown".parse::<Target>(), Err(Error::UnknownBundleType { .. })));
        assert!(matches!("linux-x86_64-snap".parse::<Target>(), Err(Error::UnknownBundleType { .. })));
        assert!(matches!(" linux-x86_64".parse::<Target>(), Err(Error::UnknownOs { .. })));
    }

    #[test]
    fn request_variables() {
        let t = Target::from_request_vars("darwin", "aarch64", Some("app")).unwrap();
        assert_eq!(t.to_string(), "darwin-aarch64-app");
        let t = Target::from_request_vars("macos", "aarch64", None).unwrap();
        assert_eq!(t.to_string(), "darwin-aarch64");
        let t = Target::from_request_vars("linux", "x86_64", Some("unknown")).unwrap();
        assert_eq!(t.to_string(), "linux-x86_64");
        assert_eq!(t.bundle(), None);
        assert!(matches!(
            Target::from_request_vars("windows", "x86_64", Some("deb")),
            Err(Error::BundleNotForOs { .. })
        ));
        assert!(matches!(
            Target::from_request_vars("linux", "x86_64", Some("Unknown")),
            Err(Error::UnknownBundleType { .. })
        ));
        assert!(matches!("unknown".parse::<BundleType>(), Err(Error::UnknownBundleType { .. })));
    }

    #[test]
    fn serde_uses_the_key() {
        let t: Target = "linux-x86_64-deb".parse().unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"linux-x86_64-deb\"");
        let back: Target = serde_json::from_str("\"macos-aarch64\"").unwrap();
        assert_eq!(back.to_string(), "darwin-aarch64");
        assert!(serde_json::from_str::<Target>("\"windows-x86_64-deb\"").is_err());
    }
}
