//! Distribution detection from real `os-release` files (`tests/os-release/`), and what it offers to install.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap; helpers here are not #[test]")]

use std::path::Path;

use millennium_webview_probe::distro::{Family, OsRelease, Provisioning};

fn sample(name: &str) -> OsRelease {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/os-release").join(name);
    OsRelease::read(&path).unwrap_or_else(|| panic!("cannot read {}", path.display()))
}

fn provisioning(name: &str) -> Provisioning {
    Provisioning::for_os(Some(&sample(name)))
}

#[test]
fn debian_and_ubuntu_use_apt_and_libwebkit2gtk_4_1_0() {
    for (name, pretty) in [
        ("debian-12", "Debian GNU/Linux 12 (bookworm)"),
        ("ubuntu-24.04", "Ubuntu 24.04.1 LTS"),
        ("linuxmint-22", "Linux Mint 22"),
    ] {
        let p = provisioning(name);
        assert_eq!(
            (p.family, p.package, p.distribution.as_str()),
            (Family::Debian, Some("libwebkit2gtk-4.1-0"), pretty)
        );
        assert_eq!(p.command_line(true).unwrap(), "apt-get update && apt-get install -y libwebkit2gtk-4.1-0", "{name}");
        assert_eq!(
            p.command_line(false).unwrap(),
            "sudo apt-get update && sudo apt-get install -y libwebkit2gtk-4.1-0"
        );
    }
}

#[test]
fn fedora_uses_dnf_and_webkit2gtk4_1() {
    let p = provisioning("fedora-40");
    assert_eq!((p.family, p.package), (Family::Fedora, Some("webkit2gtk4.1")));
    assert_eq!(p.distribution, "Fedora Linux 40 (Workstation Edition)");
    assert_eq!(p.command_line(true).unwrap(), "dnf install -y webkit2gtk4.1");
}

#[test]
fn arch_uses_pacman_and_webkit2gtk_4_1() {
    let p = provisioning("arch");
    assert_eq!((p.family, p.package), (Family::Arch, Some("webkit2gtk-4.1")));
    assert_eq!(p.command_line(true).unwrap(), "pacman -S --needed --noconfirm webkit2gtk-4.1");
}

#[test]
fn opensuse_uses_zypper_and_libwebkit2gtk_4_1_0() {
    for name in ["opensuse-tumbleweed", "opensuse-leap-15.6"] {
        let p = provisioning(name);
        assert_eq!((p.family, p.package), (Family::OpenSuse, Some("libwebkit2gtk-4_1-0")), "{name}");
        assert_eq!(p.command_line(true).unwrap(), "zypper --non-interactive install libwebkit2gtk-4_1-0");
    }
    assert_eq!(sample("opensuse-tumbleweed").id_like, ["opensuse", "suse"]);
}

#[test]
fn alpine_is_unsupported_with_a_clear_reason() {
    let p = provisioning("alpine-3.20");
    assert_eq!((p.family, p.package), (Family::Alpine, None));
    assert!(p.command_line(true).is_none());
    let reason = p.unsupported.unwrap();
    assert!(reason.contains("Alpine Linux is not supported") && reason.contains("musl") && reason.contains("glibc"));
}

#[test]
fn an_unknown_distribution_is_unsupported_and_named() {
    let p = provisioning("nixos");
    assert_eq!((p.family, p.package), (Family::Unknown, None));
    assert_eq!(p.distribution, "NixOS 24.05 (Uakari)");
    let reason = p.unsupported.unwrap();
    assert!(reason.contains("os-release ID `nixos`") && reason.contains("libwebkit2gtk-4.1.so.0"), "{reason}");
}

#[test]
fn version_id_is_read() {
    assert_eq!(sample("fedora-40").version_id.as_deref(), Some("40"));
    assert_eq!(sample("arch").version_id, None);
}
