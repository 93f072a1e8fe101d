//! Windows installer-driven updates: the command lines that run a verified NSIS `-setup.exe` or `.msi` over the
//! installed app.
//!
//! Ordinary code, built and unit-tested on every OS; only starting the command (and exiting so the installer can
//! replace the running files) is Windows glue. The command lines match what `millennium-bundler`'s installers
//! understand:
//!
//! - **NSIS** (`bundler/src/windows/nsis.rs`): `/UPDATE` installs over the current version in place (no uninstall
//!   first, shortcuts and user data kept), `/S` silent or `/P` passive (progress only), `/R` relaunches the app when
//!   done. Per-machine installers carry `RequestExecutionLevel admin` in their manifest, so Windows asks for elevation
//!   itself when they are started through the shell (`runas`): the per-machine command goes through PowerShell's
//!   `Start-Process -Verb RunAs` (no `unsafe` FFI in this crate), the per-user one starts the installer directly.
//! - **MSI**: `msiexec /i <file> /passive|/quiet /norestart` — the bundler's MSI is a major upgrade, so this replaces
//!   the installed version. `msiexec` has no relaunch of its own: the command runs it through `cmd /c`, then starts
//!   the app again once it succeeded.
//!
//! Rollback for installer-driven updates is the installer's: an MSI major upgrade rolls itself back when it fails
//! midway, and NSIS leaves the previous files where it could not write. Once an installer has succeeded there is no
//! `.previous` to swap back; [`crate::rollback`] cannot undo it (install the previous release's installer instead).

use std::ffi::OsString;
use std::path::Path;

/// How much of the installer the user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InstallerUi {
    /// No window at all (`/S`, `msiexec /quiet`).
    Quiet,
    /// A progress window, no questions (`/P`, `msiexec /passive`). The default.
    #[default]
    Passive,
    /// The installer's full interface.
    Full,
}

/// Who the app was installed for, which decides whether the installer needs elevation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InstallScope {
    /// Installed for the current user (under `%LOCALAPPDATA%`): no elevation. The default.
    #[default]
    PerUser,
    /// Installed for all users (under `Program Files`): the installer is started elevated (UAC prompt).
    PerMachine,
}

/// A program and its arguments, as [`std::process::Command`] would run them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallerCommand {
    pub program: OsString,
    pub args: Vec<OsString>,
}

impl InstallerCommand {
    /// The command, ready to spawn.
    pub fn to_command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(&self.program);
        c.args(&self.args);
        c
    }
}

/// The NSIS installer's arguments for an in-place update.
pub(crate) fn nsis_args(ui: InstallerUi, relaunch: bool) -> Vec<&'static str> {
    let mut args = vec!["/UPDATE"];
    match ui {
        InstallerUi::Quiet => args.push("/S"),
        InstallerUi::Passive => args.push("/P"),
        InstallerUi::Full => {}
    }
    if relaunch {
        args.push("/R");
    }
    args
}

/// Runs the NSIS `installer` over the installed app.
pub(crate) fn nsis_command(installer: &Path, ui: InstallerUi, scope: InstallScope, relaunch: bool) -> InstallerCommand {
    let args = nsis_args(ui, relaunch);
    match scope {
        InstallScope::PerUser => InstallerCommand {
            program: installer.as_os_str().to_owned(),
            args: args.into_iter().map(OsString::from).collect(),
        },
        InstallScope::PerMachine => {
            elevated(installer.as_os_str(), &args.iter().map(|a| (*a).into()).collect::<Vec<_>>())
        }
    }
}

/// Runs `msiexec` on `msi`; `relaunch`: the app to start again once it succeeded.
pub(crate) fn msi_command(
    msi: &Path,
    ui: InstallerUi,
    scope: InstallScope,
    relaunch: Option<&Path>,
) -> InstallerCommand {
    let mut args: Vec<OsString> = vec!["/i".into(), msi.as_os_str().to_owned()];
    match ui {
        InstallerUi::Quiet => args.push("/quiet".into()),
        InstallerUi::Passive => args.push("/passive".into()),
        InstallerUi::Full => {}
    }
    args.push("/norestart".into());
    if scope == InstallScope::PerMachine {
        args.push("ALLUSERS=1".into());
    }
    let Some(app) = relaunch else {
        return InstallerCommand { program: "msiexec.exe".into(), args };
    };
    // `cmd /d /c msiexec … && start "" "<app>"`: the app starts again only when msiexec succeeded. cmd.exe re-parses
    // the line, so every argument is quoted.
    let mut line = OsString::from("msiexec.exe");
    for a in &args {
        line.push(" ");
        line.push(quote_cmd(a));
    }
    line.push(" && start \"\" ");
    line.push(quote_cmd(app.as_os_str()));
    InstallerCommand { program: "cmd.exe".into(), args: vec!["/d".into(), "/s".into(), "/c".into(), line] }
}

/// `"…"` for cmd.exe (paths cannot contain `"` on Windows, so there is nothing to escape inside).
fn quote_cmd(s: &std::ffi::OsStr) -> OsString {
    let mut q = OsString::from("\"");
    q.push(s);
    q.push("\"");
    q
}

/// Starts `program args…` elevated through the shell's `runas` verb, waiting for it (PowerShell `Start-Process`).
fn elevated(program: &std::ffi::OsStr, args: &[OsString]) -> InstallerCommand {
    // PowerShell single-quoted strings: `'` is doubled, nothing else is special.
    let ps = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "''"));
    let list = args.iter().map(|a| ps(a)).collect::<Vec<_>>().join(",");
    let script = format!("Start-Process -FilePath {} -ArgumentList {list} -Verb RunAs -Wait", ps(program));
    InstallerCommand {
        program: "powershell.exe".into(),
        args: ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command", &script]
            .into_iter()
            .map(OsString::from)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(c: &InstallerCommand) -> (String, Vec<String>) {
        (c.program.to_string_lossy().into_owned(), c.args.iter().map(|a| a.to_string_lossy().into_owned()).collect())
    }

    #[test]
    fn nsis_updates_in_place_with_the_chosen_ui_and_relaunches() {
        let setup = Path::new(r"C:\Users\a\AppData\Local\hello\updater\downloads\2.0.0.verified");
        let (program, args) = strings(&nsis_command(setup, InstallerUi::Passive, InstallScope::PerUser, true));
        assert_eq!(program, setup.to_string_lossy());
        assert_eq!(args, ["/UPDATE", "/P", "/R"]);
        assert_eq!(nsis_args(InstallerUi::Quiet, false), ["/UPDATE", "/S"]);
        assert_eq!(nsis_args(InstallerUi::Full, true), ["/UPDATE", "/R"]);
    }

    #[test]
    fn a_per_machine_nsis_update_asks_for_elevation() {
        let setup = Path::new(r"C:\Users\O'Brien\setup.exe");
        let (program, args) = strings(&nsis_command(setup, InstallerUi::Quiet, InstallScope::PerMachine, true));
        assert_eq!(program, "powershell.exe");
        assert_eq!(
            args.last().unwrap(),
            r"Start-Process -FilePath 'C:\Users\O''Brien\setup.exe' -ArgumentList '/UPDATE','/S','/R' -Verb RunAs -Wait"
        );
    }

    #[test]
    fn msi_is_a_major_upgrade_through_msiexec_then_relaunch() {
        let msi = Path::new(r"C:\tmp\hello 2.0.0.msi");
        let (program, args) = strings(&msi_command(msi, InstallerUi::Quiet, InstallScope::PerUser, None));
        assert_eq!(program, "msiexec.exe");
        assert_eq!(args, ["/i", r"C:\tmp\hello 2.0.0.msi", "/quiet", "/norestart"]);
        let app = Path::new(r"C:\Program Files\Hello\hello.exe");
        let (program, args) = strings(&msi_command(msi, InstallerUi::Passive, InstallScope::PerMachine, Some(app)));
        assert_eq!(program, "cmd.exe");
        assert_eq!(
            args,
            [
                "/d",
                "/s",
                "/c",
                r#"msiexec.exe "/i" "C:\tmp\hello 2.0.0.msi" "/passive" "/norestart" "ALLUSERS=1" && start "" "C:\Program Files\Hello\hello.exe""#
            ]
        );
    }
}
