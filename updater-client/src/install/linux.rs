//! Linux: atomic replacement of an executable or AppImage, `dpkg`/`rpm` for packages, `exec` to relaunch.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::download::DownloadedUpdate;
use crate::error::{Error, Result};
use crate::install::{InstallKind, PackageTool, Verified};
use crate::updater::Inner;
use crate::{fs, rollback};

/// How much of a package tool's output goes into an error.
const MAX_TOOL_OUTPUT: usize = 8 * 1024;

/// Steps 1–4 of the module docs of [`crate::install`].
pub(crate) fn replace_executable(inner: &Inner, target: &Path, update: &DownloadedUpdate) -> Result<()> {
    let previous = rollback::previous_path(target);
    fs::remove_stale_temps(target);
    fs::remove_stale_temps(&previous);
    let mode = fs::mode_of(target)?;
    // The copy is what gets installed: its bytes are checked as they are written (see the module docs). It lies
    // beside the target, where only who could replace the target anyway can write.
    let staged = fs::stage_beside_with(target, mode, |out, path| {
        super::recheck(inner, update, |chunk| out.write_all(chunk).map_err(|e| Error::io("write", path, e)))
    })?;
    fs::link_or_copy(target, &previous)?;
    rollback::record_pending(inner, target, &previous, update.version())?;
    fs::persist(staged, target)?;
    tracing::info!(path = %target.display(), version = %update.version(), "update installed");
    Ok(())
}

fn is_root() -> bool {
    // `/proc/self` belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The root side of a package install (see [`crate::install`]), a `/bin/sh -c` script run as root, through `pkexec`
/// when the app is not root: `ROOT_SIDE millennium-updater TOOL SHA256 SIZE PACKAGE COPY_NAME TOOL_ARGS…`. It copies
/// at most `SIZE` bytes of `PACKAGE` (a plain file, not a link) into a new directory only root can enter, installs
/// the copy with `TOOL TOOL_ARGS… COPY` only if its SHA-256 is `SHA256`, else exits with [`CHANGED`], and removes the
/// directory. Every value is an argument, never part of the script's text.
pub(crate) const ROOT_SIDE: &str = r#"set -eu
tool=$1 sha256=$2 size=$3 package=$4 name=$5
shift 5
refuse() {
    echo "millennium-updater: \`$package\` $1; nothing was installed" >&2
    exit 99
}
{ [ -f "$package" ] && [ ! -L "$package" ]; } || refuse "is no longer a plain file"
umask 077
dir=$(mktemp -d)
trap 'rm -rf -- "$dir"' EXIT
head -c "$size" -- "$package" > "$dir/$name"
digest=$(sha256sum < "$dir/$name")
[ "${digest%% *}" = "$sha256" ] || refuse "changed after it was verified"
status=0
"$tool" "$@" "$dir/$name" || status=$?
exit "$status"
"#;

/// The root side's exit status for a package that is not the verified one.
const CHANGED: i32 = 99;

/// Installs `package` with `tool` through the root side, which must find the `verified` bytes; through `pkexec`
/// unless root.
pub(crate) fn install_package(tool: &PackageTool<'_>, package: &Path, verified: &Verified) -> Result<()> {
    install_package_with(!is_root(), tool, package, verified)
}

fn install_package_with(elevate: bool, tool: &PackageTool<'_>, package: &Path, verified: &Verified) -> Result<()> {
    let mut command = package_command(elevate, tool, package, verified);
    let shown = format!(
        "{}{} {} {} (a root-only copy of it)",
        if elevate { "pkexec " } else { "" },
        tool.program,
        tool.args.join(" "),
        package.display()
    );
    let output = command.output().map_err(|e| Error::PackageManager {
        command: shown.clone(),
        status: format!("could not start it: {e}"),
        output: String::new(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    if output.status.code() == Some(CHANGED) {
        tracing::warn!(output = %String::from_utf8_lossy(&output.stderr).trim_end(), "the package tool's root side refused");
        return Err(Error::ChangedAfterVerification { path: package.to_owned(), source: None });
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if text.len() > MAX_TOOL_OUTPUT {
        let mut cut = text.len() - MAX_TOOL_OUTPUT;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text = format!("…{}", &text[cut..]);
    }
    Err(Error::PackageManager { command: shown, status: output.status.to_string(), output: text.trim_end().to_owned() })
}

/// The command running [`ROOT_SIDE`] for `tool` (see there), as root through `pkexec` when `elevate`, else directly.
fn package_command(elevate: bool, tool: &PackageTool<'_>, package: &Path, verified: &Verified) -> Command {
    let mut command = if elevate {
        let mut c = Command::new("pkexec");
        c.arg("/bin/sh");
        c
    } else {
        Command::new("/bin/sh")
    };
    command.args(["-c", ROOT_SIDE, "millennium-updater", tool.program, &verified.sha256, &verified.len.to_string()]);
    command.arg(package).arg(tool.copy_name).args(tool.args);
    command
}

/// The program to start again: the replaced file, else the running executable (for package installs, the path the
/// package manager wrote to; the kernel marks the old, deleted inode ` (deleted)`).
fn relaunch_path(kind: &InstallKind) -> Result<PathBuf> {
    if let Some(path) = kind.replaced_path() {
        return Ok(path.to_owned());
    }
    let exe = std::env::current_exe().map_err(|e| Error::io("find the running executable", "", e))?;
    let text = exe.to_string_lossy();
    Ok(match text.strip_suffix(" (deleted)") {
        Some(stripped) => PathBuf::from(stripped),
        None => exe,
    })
}

pub(crate) fn relaunch(kind: &InstallKind) -> Result<std::convert::Infallible> {
    let path = relaunch_path(kind)?;
    let error = Command::new(&path).args(std::env::args_os().skip(1)).exec();
    Err(Error::Relaunch { path, source: error })
}

/// Windows installers are not run on Linux; [`crate::DownloadedUpdate::installer_command`] gives the command line.
pub(crate) fn run_installer(command: &crate::install::InstallerCommand) -> Result<()> {
    Err(Error::Unsupported { what: format!("running the Windows installer `{}`", command.program.to_string_lossy()) })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests state expectations with unwrap

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn write_script(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Runs `program args…` (a real tool the test needs), failing loudly when it is missing or fails.
    fn run(program: &str, args: &[&str]) -> String {
        let output = Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("`{program}` is needed for this test (apt-get install dpkg): {e}"));
        assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn the_package_tool_runs_through_pkexec_unless_root() {
        let verified = Verified { sha256: "ab".repeat(32), len: 4242 };
        let package = Path::new("/home/u/.local/state/app/updater/downloads/2.0.0.verified");
        let args =
            |command: &Command| -> Vec<String> { command.get_args().map(|a| a.to_str().unwrap().to_owned()).collect() };
        let root_side = [
            "-c",
            ROOT_SIDE,
            "millennium-updater",
            "dpkg",
            &verified.sha256,
            "4242",
            package.to_str().unwrap(),
            "update.deb",
            "-i",
        ];

        let elevated = package_command(true, &PackageTool::DPKG, package, &verified);
        assert_eq!(elevated.get_program(), "pkexec");
        assert_eq!(args(&elevated)[0], "/bin/sh", "pkexec needs the program's absolute path");
        assert_eq!(args(&elevated)[1..], root_side);

        let direct = package_command(false, &PackageTool::RPM, package, &verified);
        assert_eq!(direct.get_program(), "/bin/sh");
        assert_eq!(
            args(&direct)[3..],
            ["rpm", &verified.sha256, "4242", package.to_str().unwrap(), "update.rpm", "-U"]
        );
    }

    /// The pkexec window: the package is swapped after the updater hashed it (while the password prompt is open). The
    /// root side, run here as the user running the tests (root in CI, as after a real `pkexec`), refuses the swapped
    /// file and never runs the tool; the genuine file reaches the tool as a copy in a directory only root can enter.
    #[test]
    fn the_root_side_refuses_a_package_swapped_after_verification() {
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("2.0.0.verified");
        let genuine = b"!<arch>\ndebian-binary   the verified package".repeat(1000);
        let verified = Verified::of(&genuine);
        // The tool records what it was given: the copy's directory (mode, owner) and content.
        let probe = dir.path().join("probe");
        let tool = dir.path().join("tool");
        write_script(
            &tool,
            &format!(
                "#!/bin/sh\nstat -c '%a %u' \"$(dirname \"$2\")\" > '{p}'\ncp \"$2\" '{p}.copy'\necho \"$1 $2\" >> '{p}'\n",
                p = probe.display()
            ),
        );
        let fake = PackageTool { program: tool.to_str().unwrap(), args: &["--install"], copy_name: "update.deb" };

        std::fs::write(&package, b"!<arch>\ndebian-binary   the attacker's package").unwrap();
        let err = install_package_with(false, &fake, &package, &verified).unwrap_err();
        assert!(matches!(err, Error::ChangedAfterVerification { .. }), "{err}");
        assert!(err.to_string().contains("changed after it was verified; nothing was installed"), "{err}");
        assert!(!probe.exists(), "the tool ran on the swapped package");

        // A link to the genuine bytes is refused too: the root side reads plain files only.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, &genuine).unwrap();
        std::fs::remove_file(&package).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &package).unwrap();
        let err = install_package_with(false, &fake, &package, &verified).unwrap_err();
        assert!(matches!(err, Error::ChangedAfterVerification { .. }), "{err}");
        assert!(!probe.exists(), "the tool ran on a link");

        std::fs::remove_file(&package).unwrap();
        std::fs::write(&package, &genuine).unwrap();
        install_package_with(false, &fake, &package, &verified).unwrap();
        let seen = std::fs::read_to_string(&probe).unwrap();
        let mut lines = seen.lines();
        let uid = std::fs::metadata("/proc/self").unwrap().uid();
        assert_eq!(lines.next().unwrap(), format!("700 {uid}"), "the copy's directory is private to the root side");
        let (arg, copy) = lines.next().unwrap().split_once(' ').unwrap();
        assert_eq!(arg, "--install");
        assert!(copy.ends_with("/update.deb") && !copy.starts_with(dir.path().to_str().unwrap()), "{copy}");
        assert!(!Path::new(copy).exists(), "the root side removes its copy");
        assert_eq!(std::fs::read(probe.with_extension("copy")).unwrap(), genuine);
    }

    /// The root side with the real `dpkg` (into a scratch root, as the user running the tests, root in CI): the
    /// verified package is installed; an attacker's valid package swapped in after verification is not.
    #[test]
    fn the_root_side_installs_only_the_verified_package_with_the_real_dpkg() {
        let dir = tempfile::tempdir().unwrap();
        let build = |name: &str, text: &str| {
            let tree = dir.path().join(format!("{name}-tree"));
            std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
            std::fs::create_dir_all(tree.join("opt/demo")).unwrap();
            std::fs::write(
                tree.join("DEBIAN/control"),
                format!("Package: {name}\nVersion: 2.0.0\nArchitecture: all\nMaintainer: t <t@example.com>\nDescription: test\n"),
            )
            .unwrap();
            std::fs::write(tree.join("opt/demo").join(name), text).unwrap();
            let deb = dir.path().join(format!("{name}.deb"));
            run("dpkg-deb", &["--root-owner-group", "--build", tree.to_str().unwrap(), deb.to_str().unwrap()]);
            std::fs::read(deb).unwrap()
        };
        let genuine = build("millennium-demo", "the verified version\n");
        let evil = build("millennium-evil", "the attacker's version\n");

        let root = dir.path().join("root");
        for sub in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        let root_arg = format!("--root={}", root.display());
        let dpkg = PackageTool { program: "dpkg", args: &[&root_arg, "-i"], copy_name: "update.deb" };
        let package = dir.path().join("2.0.0.verified");
        let verified = Verified::of(&genuine);

        std::fs::write(&package, &evil).unwrap();
        let err = install_package_with(false, &dpkg, &package, &verified).unwrap_err();
        assert!(matches!(err, Error::ChangedAfterVerification { .. }), "{err}");
        assert!(!root.join("opt/demo/millennium-evil").exists());

        std::fs::write(&package, &genuine).unwrap();
        install_package_with(false, &dpkg, &package, &verified).unwrap();
        assert_eq!(std::fs::read_to_string(root.join("opt/demo/millennium-demo")).unwrap(), "the verified version\n");
        assert!(run("dpkg", &[&root_arg, "-l", "millennium-demo"]).contains("ii  millennium-demo"));
        assert!(!run("dpkg", &[&root_arg, "-l"]).contains("millennium-evil"));
    }
}
