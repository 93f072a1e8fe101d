//! What an app does when its webview is missing or too old: say so clearly (terminal, and a native dialog through
//! `zenity` or `kdialog` when there is a display), name the package to install for this distribution, and offer to
//! install it (PackageKit's `pkcon`, or the distribution's tool through `pkexec`, or directly when root).

use std::ffi::OsStr;
use std::fmt;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::distro::{OsRelease, Provisioning};
use crate::{Backend, Error, Probe, Verdict, WebviewVersion};

/// Where to get WebView2 (Microsoft's Evergreen Bootstrapper).
pub const WEBVIEW2_DOWNLOAD_URL: &str = "https://go.microsoft.com/fwlink/p/?LinkId=2124703";

/// May the guard ask the user things (install now?) and show dialogs?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// Dialog when a display and `zenity`/`kdialog` exist, else a prompt when stdin is a terminal, else nothing.
    Ask,
    /// Only print the message (scripts, services, tests).
    Never,
}

/// The webview is missing or too old: what was found and how to fix it.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// What was found.
    pub probe: Probe,
    /// Why it does not do.
    pub verdict: Verdict,
    /// How to install it on this distribution (Linux only).
    pub provisioning: Option<Provisioning>,
    /// The full message shown to the user.
    pub message: String,
    /// Whether the package was installed during [`enforce`] (the app must be started again to use it).
    pub installed: bool,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.verdict.describe(self.probe.backend))?;
        match (&self.provisioning, self.installed) {
            (_, true) => f.write_str("\nhint: it has just been installed: start the app again"),
            (Some(p), false) => match (p.package, p.command_line(is_root())) {
                (Some(package), Some(command)) => write!(f, "\nhint: install `{package}`: {command}"),
                _ => write!(f, "\nhint: {}", p.unsupported.as_deref().unwrap_or("install it")),
            },
            (None, false) => write!(f, "\nhint: {}", platform_fix(self.probe.backend)),
        }
    }
}

impl std::error::Error for Refusal {}

/// Checks `probe` against `minimum`. When the webview does not do, prints the message to stderr, shows it in a
/// dialog and offers to install the package (per `interaction`), and returns the [`Refusal`]: the caller exits
/// non-zero without initialising any GUI toolkit.
///
/// # Errors
///
/// The [`Refusal`] when the webview is missing or too old, even if it was installed meanwhile (this process cannot
/// load the new library: [`Refusal::installed`] says to start again).
pub fn enforce(
    app_name: &str,
    minimum: Option<&WebviewVersion>,
    probe: Probe,
    interaction: Interaction,
) -> Result<(), Box<Refusal>> {
    let verdict = probe.check(minimum);
    if verdict.is_ok() {
        return Ok(());
    }
    let provisioning =
        (probe.backend == Backend::Webkitgtk).then(|| Provisioning::for_os(OsRelease::system().as_ref()));
    let message = message(app_name, &probe, &verdict, provisioning.as_ref(), is_root());
    let mut refusal = Refusal { probe, verdict, provisioning, message, installed: false };
    eprintln!("{}", refusal.message);
    if interaction == Interaction::Ask {
        refusal.installed = offer_install(app_name, &refusal);
    }
    Err(Box::new(refusal))
}

/// The message for people: what is wrong, which package fixes it here, and the command that installs it.
#[must_use]
pub fn message(
    app_name: &str,
    probe: &Probe,
    verdict: &Verdict,
    provisioning: Option<&Provisioning>,
    as_root: bool,
) -> String {
    let mut text = format!(
        "{app_name} cannot start: {}.\n{} is the system webview this app shows its window with.",
        verdict.describe(probe.backend),
        capitalise(probe.backend.display_name()),
    );
    match provisioning {
        Some(p) => match (p.package, p.command_line(as_root), &p.unsupported) {
            (Some(package), Some(command), _) => {
                let verb = if matches!(verdict, Verdict::TooOld { .. }) { "upgrade" } else { "install" };
                text.push_str(&format!(
                    "\nOn {} it is in the package `{package}`; {verb} it with:\n    {command}",
                    p.distribution
                ));
            }
            (_, _, Some(reason)) => text.push_str(&format!("\nOn {}: {reason}.", p.distribution)),
            _ => {}
        },
        None => text.push_str(&format!("\n{}.", capitalise(&platform_fix(probe.backend)))),
    }
    text
}

fn platform_fix(backend: Backend) -> String {
    match backend {
        Backend::Webview2 => format!("install the WebView2 Runtime from {WEBVIEW2_DOWNLOAD_URL}"),
        Backend::Wkwebview => "update macOS in System Settings, General, Software Update".to_owned(),
        Backend::Webkitgtk => "install WebKitGTK 4.1 (libwebkit2gtk-4.1.so.0) with your package manager".to_owned(),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Asks (dialog, else terminal) whether to install, installs, and reports whether the package is now installed.
fn offer_install(app_name: &str, refusal: &Refusal) -> bool {
    let title = format!("{app_name} cannot start");
    let dialog = DialogTool::find();
    let installable = refusal.provisioning.as_ref().filter(|p| p.package.is_some() && !p.commands.is_empty());
    let Some(provisioning) = installable else {
        if let Some(tool) = dialog {
            tool.error(&title, &refusal.message);
        }
        return false;
    };
    let package = provisioning.package.unwrap_or_default();
    let question = format!("{}\n\nInstall {package} now?", refusal.message);
    let yes = match dialog {
        Some(tool) => tool.question(&title, &question, "Install", "Quit"),
        None if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => {
            eprint!("Install {package} now? [y/N] ");
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer).is_ok()
                && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
        }
        None => false,
    };
    if !yes {
        return false;
    }
    match install(provisioning) {
        Ok(()) => {
            eprintln!("{package} is installed: start {app_name} again.");
            if let Some(tool) = dialog {
                tool.info(&title, &format!("{package} is installed. Start {app_name} again."));
            }
            true
        }
        Err(error) => {
            eprintln!("error: {error}");
            if let Some(tool) = dialog {
                tool.error(&title, &error.to_string());
            }
            false
        }
    }
}

/// Installs the webview package: directly when root, else through PackageKit (`pkcon`), else the distribution's tool
/// through `pkexec`. Output goes to this process's stdout/stderr.
///
/// # Errors
///
/// [`Error::CannotInstall`] when this distribution has no known package or no way to become root is available;
/// [`Error::InstallFailed`] when the install command fails.
pub fn install(provisioning: &Provisioning) -> Result<(), Error> {
    let (Some(package), Some(by_hand)) = (provisioning.package, provisioning.command_line(false)) else {
        return Err(Error::CannotInstall {
            reason: provisioning.unsupported.clone().unwrap_or_else(|| "no package is known".to_owned()),
        });
    };
    let failed =
        |reason: String| Error::InstallFailed { package: package.to_owned(), reason, command: by_hand.clone() };
    let run = |program: &OsStr, args: &[String]| -> Result<(), Error> {
        tracing::info!(program = %program.to_string_lossy(), ?args, "installing the webview");
        let status = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| failed(format!("`{}` could not be started: {e}", program.to_string_lossy())))?;
        if status.success() { Ok(()) } else { Err(failed(format!("`{}` exited with {status}", args.join(" ")))) }
    };
    if is_root() {
        for argv in &provisioning.commands {
            let (program, args) = argv.split_first().ok_or_else(|| failed("empty command".to_owned()))?;
            run(OsStr::new(program), args)?;
        }
        return Ok(());
    }
    if let Some(pkcon) = find_program("pkcon") {
        let args = ["install".to_owned(), "--noninteractive".to_owned(), package.to_owned()];
        match run(pkcon.as_os_str(), &args) {
            Ok(()) => return Ok(()),
            // PackageKit may be installed without a running daemon or backend: try pkexec next.
            Err(error) => tracing::warn!(%error, "PackageKit could not install the webview"),
        }
    }
    if let Some(pkexec) = find_program("pkexec") {
        let script = provisioning.command_line(true).unwrap_or_default();
        return run(pkexec.as_os_str(), &["sh".to_owned(), "-c".to_owned(), script]);
    }
    Err(Error::CannotInstall {
        reason: format!("neither PackageKit (`pkcon`) nor `pkexec` is available to become root; run: {by_hand}"),
    })
}

/// Whether this process runs as root (effective uid 0): the owner of `/proc/self` is the effective uid.
#[must_use]
pub fn is_root() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// `program` on `PATH`, when it is there.
#[must_use]
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Whether a graphical session is there to show a dialog on.
#[must_use]
pub fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// A native dialog program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogTool {
    /// GNOME's `zenity`.
    Zenity,
    /// KDE's `kdialog`.
    Kdialog,
}

impl DialogTool {
    /// The dialog program to use: only with a display, `zenity` first, then `kdialog`.
    #[must_use]
    pub fn find() -> Option<Self> {
        if !has_display() {
            return None;
        }
        if find_program("zenity").is_some() {
            Some(Self::Zenity)
        } else if find_program("kdialog").is_some() {
            Some(Self::Kdialog)
        } else {
            None
        }
    }

    /// The command line that shows `kind` of dialog (plain text, no markup).
    #[must_use]
    pub fn command(self, kind: DialogKind, title: &str, text: &str) -> Vec<String> {
        let mut args: Vec<String> = match (self, kind) {
            (Self::Zenity, DialogKind::Error) => vec!["zenity".into(), "--error".into()],
            (Self::Zenity, DialogKind::Info) => vec!["zenity".into(), "--info".into()],
            (Self::Zenity, DialogKind::Question { yes, no }) => {
                vec!["zenity".into(), "--question".into(), format!("--ok-label={yes}"), format!("--cancel-label={no}")]
            }
            (Self::Kdialog, DialogKind::Error) => vec!["kdialog".into(), "--error".into(), text.into()],
            (Self::Kdialog, DialogKind::Info) => vec!["kdialog".into(), "--msgbox".into(), text.into()],
            (Self::Kdialog, DialogKind::Question { yes, no }) => vec![
                "kdialog".into(),
                "--yesno".into(),
                text.into(),
                "--yes-label".into(),
                yes.into(),
                "--no-label".into(),
                no.into(),
            ],
        };
        match self {
            Self::Zenity => {
                args.extend(["--no-markup".into(), "--title".into(), title.into(), "--text".into(), text.into()])
            }
            Self::Kdialog => args.extend(["--title".into(), title.into()]),
        }
        args
    }

    fn run(self, kind: DialogKind, title: &str, text: &str) -> bool {
        let argv = self.command(kind, title, text);
        Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn error(self, title: &str, text: &str) {
        self.run(DialogKind::Error, title, text);
    }

    fn info(self, title: &str, text: &str) {
        self.run(DialogKind::Info, title, text);
    }

    fn question(self, title: &str, text: &str, yes: &str, no: &str) -> bool {
        self.run(DialogKind::Question { yes, no }, title, text)
    }
}

/// The kinds of dialog the guard shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind<'a> {
    /// An error with an OK button.
    Error,
    /// Information with an OK button.
    Info,
    /// A yes/no question; yes exits 0.
    Question {
        /// The yes button's label.
        yes: &'a str,
        /// The no button's label.
        no: &'a str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian() -> Provisioning {
        Provisioning::for_os(Some(&OsRelease::parse("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n")))
    }

    fn missing() -> Probe {
        Probe {
            backend: Backend::Webkitgtk,
            version: None,
            error: Some("libwebkit2gtk-4.1.so.0: cannot open shared object file: No such file or directory".into()),
        }
    }

    #[test]
    fn message_names_package_and_command() {
        let probe = missing();
        let verdict = probe.check(None);
        let text = message("Hello", &probe, &verdict, Some(&debian()), false);
        assert!(
            text.starts_with("Hello cannot start: WebKitGTK 4.1 is not installed (libwebkit2gtk-4.1.so.0"),
            "{text}"
        );
        assert!(text.contains("On Debian GNU/Linux 12 (bookworm) it is in the package `libwebkit2gtk-4.1-0`"));
        assert!(text.ends_with("    sudo apt-get update && sudo apt-get install -y libwebkit2gtk-4.1-0"), "{text}");
        let as_root = message("Hello", &probe, &verdict, Some(&debian()), true);
        assert!(as_root.ends_with("    apt-get update && apt-get install -y libwebkit2gtk-4.1-0"), "{as_root}");
    }

    #[test]
    fn too_old_says_upgrade_and_versions() {
        let probe = Probe { backend: Backend::Webkitgtk, version: Some("2.40.5".parse().unwrap()), error: None };
        let verdict = probe.check(Some(&"2.44".parse().unwrap()));
        let text = message("Hello", &probe, &verdict, Some(&debian()), false);
        assert!(text.contains("WebKitGTK 4.1 2.40.5 is installed, but this app needs version 2.44 or newer"));
        assert!(text.contains("; upgrade it with:"));
    }

    #[test]
    fn unsupported_distribution_says_why() {
        let alpine = Provisioning::for_os(Some(&OsRelease::parse("ID=alpine\nPRETTY_NAME=\"Alpine Linux v3.20\"\n")));
        let probe = missing();
        let text = message("Hello", &probe, &probe.check(None), Some(&alpine), false);
        assert!(text.contains("On Alpine Linux v3.20: Alpine Linux is not supported: it uses musl libc"), "{text}");
        assert!(install(&alpine).unwrap_err().to_string().contains("cannot be installed automatically"));
    }

    #[test]
    fn other_platforms_point_to_their_fix() {
        let probe = Probe { backend: Backend::Webview2, version: None, error: Some("no pv".into()) };
        let text = message("Hello", &probe, &probe.check(None), None, false);
        assert!(text.contains(WEBVIEW2_DOWNLOAD_URL), "{text}");
    }

    #[test]
    fn refusal_display_is_short_with_a_hint() {
        let probe = missing();
        let refusal = Refusal {
            verdict: probe.check(None),
            provisioning: Some(debian()),
            message: String::new(),
            installed: false,
            probe,
        };
        let text = refusal.to_string();
        assert!(text.contains("\nhint: install `libwebkit2gtk-4.1-0`: "), "{text}");
    }

    #[test]
    fn enforce_accepts_a_recent_enough_webview_without_output() {
        let probe = Probe { backend: Backend::Webkitgtk, version: Some("2.44.1".parse().unwrap()), error: None };
        assert!(enforce("Hello", Some(&"2.44".parse().unwrap()), probe, Interaction::Never).is_ok());
    }

    #[test]
    fn dialog_commands_are_plain_text() {
        let zenity = DialogTool::Zenity.command(DialogKind::Question { yes: "Install", no: "Quit" }, "T", "a <b> & c");
        assert_eq!(
            zenity,
            [
                "zenity",
                "--question",
                "--ok-label=Install",
                "--cancel-label=Quit",
                "--no-markup",
                "--title",
                "T",
                "--text",
                "a <b> & c"
            ]
        );
        let kdialog = DialogTool::Kdialog.command(DialogKind::Error, "T", "text");
        assert_eq!(kdialog, ["kdialog", "--error", "text", "--title", "T"]);
    }
}
