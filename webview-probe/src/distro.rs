//! Which Linux distribution this is (from `os-release`), which package provides WebKitGTK 4.1 there, and the
//! command that installs it.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

/// Where `os-release` lives, in the order the specification says to look.
pub const OS_RELEASE_PATHS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// The fields of `os-release` this crate uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OsRelease {
    /// `ID`, lower case (`debian`, `ubuntu`, `fedora`, `arch`, `opensuse-tumbleweed`, `alpine`...).
    pub id: String,
    /// `ID_LIKE`, the distributions this one derives from.
    pub id_like: Vec<String>,
    /// `PRETTY_NAME`, else `NAME`, else `ID`: for messages.
    pub pretty_name: String,
    /// `VERSION_ID`, when given.
    pub version_id: Option<String>,
}

impl OsRelease {
    /// Parses the text of an `os-release` file (shell-like `KEY=value` lines, values optionally quoted).
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let mut fields = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((key, value)) = line.split_once('=') {
                fields.insert(key.trim().to_owned(), unquote(value.trim()));
            }
        }
        let id = fields.get("ID").map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        let id_like = fields
            .get("ID_LIKE")
            .map(|s| s.split_whitespace().map(str::to_ascii_lowercase).collect())
            .unwrap_or_default();
        let pretty_name = ["PRETTY_NAME", "NAME"]
            .iter()
            .find_map(|key| fields.get(*key).filter(|s| !s.is_empty()).cloned())
            .unwrap_or_else(|| if id.is_empty() { "this Linux distribution".to_owned() } else { id.clone() });
        let version_id = fields.get("VERSION_ID").filter(|s| !s.is_empty()).cloned();
        Self { id, id_like, pretty_name, version_id }
    }

    /// Reads the system's `os-release` (`/etc/os-release`, else `/usr/lib/os-release`); `None` when neither exists.
    #[must_use]
    pub fn system() -> Option<Self> {
        OS_RELEASE_PATHS.iter().find_map(|path| Self::read(Path::new(path)))
    }

    /// Reads the `os-release` file at `path`; `None` when it cannot be read.
    #[must_use]
    pub fn read(path: &Path) -> Option<Self> {
        std::fs::read_to_string(path).ok().map(|text| Self::parse(&text))
    }
}

/// Removes shell quoting: `"..."` with `\"`, `\\`, `\$`, `` \` `` escapes, or `'...'` taken literally.
fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next @ ('"' | '\\' | '$' | '`')) => out.push(next),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The distribution families whose WebKitGTK 4.1 package this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Debian, Ubuntu and their derivatives (apt).
    Debian,
    /// Fedora and its derivatives (dnf).
    Fedora,
    /// Arch Linux and its derivatives (pacman).
    Arch,
    /// openSUSE Tumbleweed and Leap, SUSE (zypper).
    OpenSuse,
    /// Alpine Linux: musl, which Millennium's glibc builds do not run on.
    Alpine,
    /// Anything else.
    Unknown,
}

impl Family {
    /// The family of the distribution `os` describes: its `ID` first, then its `ID_LIKE` in order.
    #[must_use]
    pub fn of(os: &OsRelease) -> Self {
        std::iter::once(&os.id)
            .chain(&os.id_like)
            .map(|id| Self::from_id(id))
            .find(|f| *f != Self::Unknown)
            .unwrap_or(Self::Unknown)
    }

    fn from_id(id: &str) -> Self {
        match id {
            "debian" | "ubuntu" | "linuxmint" | "pop" | "elementary" | "raspbian" | "kali" => Self::Debian,
            "fedora" | "rhel" | "centos" | "rocky" | "almalinux" => Self::Fedora,
            "arch" | "manjaro" | "endeavouros" => Self::Arch,
            "opensuse" | "suse" | "sles" => Self::OpenSuse,
            _ if id.starts_with("opensuse") => Self::OpenSuse,
            "alpine" | "postmarketos" => Self::Alpine,
            _ => Self::Unknown,
        }
    }
}

/// How to provide WebKitGTK 4.1 on a distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provisioning {
    /// The distribution, for messages.
    pub distribution: String,
    /// Its family.
    pub family: Family,
    /// The package that provides `libwebkit2gtk-4.1.so.0`; `None` where this crate cannot name one.
    pub package: Option<&'static str>,
    /// The commands that install it, to run as root, in order; empty where unsupported.
    pub commands: Vec<Vec<String>>,
    /// Why WebKitGTK cannot be provisioned automatically here, when it cannot.
    pub unsupported: Option<String>,
}

impl Provisioning {
    /// How to provide WebKitGTK 4.1 on the distribution `os` describes (`None`: no `os-release` at all).
    #[must_use]
    pub fn for_os(os: Option<&OsRelease>) -> Self {
        let Some(os) = os else {
            return Self::unsupported(
                "this system".to_owned(),
                Family::Unknown,
                "it has no /etc/os-release, so its distribution and package manager are unknown".to_owned(),
            );
        };
        let family = Family::of(os);
        let distribution = os.pretty_name.clone();
        let owned = |args: &[&str]| args.iter().map(|&s| s.to_owned()).collect::<Vec<_>>();
        let (package, commands) = match family {
            Family::Debian => {
                let package = "libwebkit2gtk-4.1-0";
                (package, vec![owned(&["apt-get", "update"]), owned(&["apt-get", "install", "-y", package])])
            }
            Family::Fedora => {
                let package = "webkit2gtk4.1";
                (package, vec![owned(&["dnf", "install", "-y", package])])
            }
            Family::Arch => {
                let package = "webkit2gtk-4.1";
                (package, vec![owned(&["pacman", "-S", "--needed", "--noconfirm", package])])
            }
            Family::OpenSuse => {
                let package = "libwebkit2gtk-4_1-0";
                (package, vec![owned(&["zypper", "--non-interactive", "install", package])])
            }
            Family::Alpine => {
                return Self::unsupported(
                    distribution,
                    family,
                    "Alpine Linux is not supported: it uses musl libc, and Millennium's Linux builds need glibc \
                     (use the app on a glibc distribution such as Debian, Ubuntu or Fedora)"
                        .to_owned(),
                );
            }
            Family::Unknown => {
                let id = if os.id.is_empty() { "none".to_owned() } else { os.id.clone() };
                return Self::unsupported(
                    distribution,
                    family,
                    format!(
                        "Millennium does not know which package provides WebKitGTK 4.1 on this distribution \
                         (os-release ID `{id}`): install the one that contains `libwebkit2gtk-4.1.so.0` with \
                         your package manager"
                    ),
                );
            }
        };
        Self { distribution, family, package: Some(package), commands, unsupported: None }
    }

    fn unsupported(distribution: String, family: Family, reason: String) -> Self {
        Self { distribution, family, package: None, commands: Vec::new(), unsupported: Some(reason) }
    }

    /// The install commands as one shell line for people to copy, prefixed with `sudo` unless `as_root`.
    #[must_use]
    pub fn command_line(&self, as_root: bool) -> Option<String> {
        if self.commands.is_empty() {
            return None;
        }
        let sudo = if as_root { "" } else { "sudo " };
        Some(self.commands.iter().map(|argv| format!("{sudo}{}", argv.join(" "))).collect::<Vec<_>>().join(" && "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_like_a_shell() {
        assert_eq!(unquote(r#""Debian GNU/Linux 12 (bookworm)""#), "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(unquote("'single $quoted'"), "single $quoted");
        assert_eq!(unquote(r#""a \"b\" \\ \$c""#), r#"a "b" \ $c"#);
        assert_eq!(unquote("bare"), "bare");
    }

    #[test]
    fn missing_fields_fall_back() {
        let os = OsRelease::parse("# only a comment\n\nNAME=\"Some OS\"\n");
        assert_eq!(os.pretty_name, "Some OS");
        assert_eq!(os.id, "");
        assert_eq!(Family::of(&os), Family::Unknown);
        let provisioning = Provisioning::for_os(Some(&os));
        assert!(provisioning.unsupported.unwrap().contains("os-release ID `none`"));
    }

    #[test]
    fn no_os_release_is_unsupported_with_a_reason() {
        let provisioning = Provisioning::for_os(None);
        assert_eq!(provisioning.package, None);
        assert!(provisioning.command_line(true).is_none());
        assert!(provisioning.unsupported.unwrap().contains("no /etc/os-release"));
    }

    #[test]
    fn derivatives_are_found_through_id_like() {
        let mint = OsRelease::parse("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n");
        assert_eq!(Family::of(&mint), Family::Debian);
        let neon = OsRelease::parse("ID=neon\nID_LIKE=\"ubuntu debian\"\n");
        assert_eq!(Family::of(&neon), Family::Debian);
        let nobara = OsRelease::parse("ID=nobara\nID_LIKE=\"rhel centos fedora\"\n");
        assert_eq!(Family::of(&nobara), Family::Fedora);
        let garuda = OsRelease::parse("ID=garuda\nID_LIKE=arch\n");
        assert_eq!(Family::of(&garuda), Family::Arch);
    }
}
