//! Whether the machine is on battery or on a metered connection, as far as the system says, so that background update
//! checks (and their downloads) wait for a better moment ([`super::UpdateChecks::on_battery`],
//! [`super::UpdateChecks::on_metered`]).
//!
//! Linux, from what every desktop exposes without extra crates:
//!
//! - **Battery**: the kernel's `/sys/class/power_supply/*`. Plugged in when any external supply (`type` `Mains`,
//!   `USB`, …) reports `online` 1; otherwise on battery when a `Battery` (with `scope` not `Device`, so not a mouse's)
//!   reports `status` `Discharging`. No supply at all (a desktop, a VM): not on battery.
//! - **Metered**: NetworkManager's `Metered` property (`NMMetered`: 1 yes, 3 guessed yes — a phone's hotspot, a mobile
//!   connection — count as metered; 0 unknown, 2 no, 4 guessed no do not), read with `busctl` (systemd) over the
//!   system bus. No NetworkManager, no `busctl`, or no answer within a second: unknown, which does not hold a check.
//!
//! Elsewhere (Windows, macOS) both are reported unknown: the checks run as configured. `GetSystemPowerStatus` /
//! `INetworkCostManager` and `IOPSCopyPowerSourcesInfo` / `NWPathMonitor.isExpensive` are where that glue would go;
//! no Windows or macOS build can be made or tested on the machines this is developed on.

use std::path::Path;
use std::time::Duration;

/// What the system says about power and network right now; `None` where it says nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Conditions {
    pub(crate) on_battery: Option<bool>,
    pub(crate) metered: Option<bool>,
}

impl Conditions {
    /// Reads them from this machine.
    pub(crate) fn current() -> Self {
        if cfg!(target_os = "linux") {
            Self {
                on_battery: on_battery(Path::new("/sys/class/power_supply")),
                metered: metered_from_network_manager(),
            }
        } else {
            Self::default()
        }
    }
}

/// Whether the machine runs on battery, from a `power_supply` class directory (see the module docs).
pub(crate) fn on_battery(class_dir: &Path) -> Option<bool> {
    let entries = std::fs::read_dir(class_dir).ok()?;
    let read = |dir: &Path, name: &str| std::fs::read_to_string(dir.join(name)).ok().map(|s| s.trim().to_owned());
    let mut discharging = false;
    for entry in entries.flatten() {
        let dir = entry.path();
        match read(&dir, "type").as_deref() {
            Some("Battery") => {
                let device = read(&dir, "scope").as_deref() == Some("Device");
                discharging |= !device && read(&dir, "status").as_deref() == Some("Discharging");
            }
            Some(_) if read(&dir, "online").as_deref() == Some("1") => return Some(false),
            _ => {}
        }
    }
    Some(discharging)
}

/// NetworkManager's `Metered`, through `busctl get-property` (see the module docs).
fn metered_from_network_manager() -> Option<bool> {
    let mut child = std::process::Command::new("busctl")
        .args([
            "--system",
            "get-property",
            "org.freedesktop.NetworkManager",
            "/org/freedesktop/NetworkManager",
            "org.freedesktop.NetworkManager",
            "Metered",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    // A bus that does not answer must not hold the checking thread for long.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let output = child.wait_with_output().ok()?;
    output.status.success().then(|| parse_busctl_metered(&String::from_utf8_lossy(&output.stdout))).flatten()
}

/// `u 4` (busctl's rendering of a `uint32`) → whether that `NMMetered` value means metered.
pub(crate) fn parse_busctl_metered(text: &str) -> Option<bool> {
    let value: u32 = text.trim().strip_prefix("u ")?.trim().parse().ok()?;
    match value {
        1 | 3 => Some(true),
        2 | 4 => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn supply(root: &Path, name: &str, files: &[(&str, &str)]) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), format!("{text}\n")).unwrap();
        }
    }

    #[test]
    fn battery_is_read_from_power_supply_directories_as_the_kernel_lays_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(on_battery(&root.join("missing")), None);
        // A desktop: no supply at all.
        assert_eq!(on_battery(root), Some(false));
        // A laptop unplugged, with a wireless mouse's battery (scope Device) charging.
        supply(root, "AC", &[("type", "Mains"), ("online", "0")]);
        supply(root, "BAT0", &[("type", "Battery"), ("status", "Discharging"), ("scope", "System")]);
        supply(root, "hidpp_battery_0", &[("type", "Battery"), ("status", "Charging"), ("scope", "Device")]);
        assert_eq!(on_battery(root), Some(true));
        // Plugged in (the battery still says Discharging for a moment after plugging in: the supply decides).
        supply(root, "AC", &[("type", "Mains"), ("online", "1")]);
        assert_eq!(on_battery(root), Some(false));
        // Unplugged but full (not discharging yet), and a USB-C supply online instead of Mains.
        supply(root, "AC", &[("type", "Mains"), ("online", "0")]);
        supply(root, "BAT0", &[("type", "Battery"), ("status", "Full")]);
        assert_eq!(on_battery(root), Some(false));
        supply(root, "BAT0", &[("type", "Battery"), ("status", "Discharging")]);
        supply(root, "ucsi-source-psy-USBC000:001", &[("type", "USB"), ("online", "1")]);
        assert_eq!(on_battery(root), Some(false));
        // Only a mouse's battery discharging: not the machine's.
        let mouse_only = tempfile::tempdir().unwrap();
        supply(mouse_only.path(), "hid", &[("type", "Battery"), ("status", "Discharging"), ("scope", "Device")]);
        assert_eq!(on_battery(mouse_only.path()), Some(false));
    }

    #[test]
    fn network_managers_metered_values_are_read_as_documented() {
        assert_eq!(parse_busctl_metered("u 1\n"), Some(true));
        assert_eq!(parse_busctl_metered("u 3\n"), Some(true));
        assert_eq!(parse_busctl_metered("u 2\n"), Some(false));
        assert_eq!(parse_busctl_metered("u 4\n"), Some(false));
        assert_eq!(parse_busctl_metered("u 0\n"), None);
        assert_eq!(parse_busctl_metered("s \"yes\""), None);
        assert_eq!(parse_busctl_metered(""), None);
    }

    #[test]
    fn this_machine_answers_without_hanging() {
        let started = std::time::Instant::now();
        let conditions = Conditions::current();
        assert!(started.elapsed() < Duration::from_secs(3), "{:?} for {conditions:?}", started.elapsed());
    }
}
