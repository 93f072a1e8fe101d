//! An app to update: a shell script that prints its version (the updater installs scripts like any executable, and
//! running one proves which version is in place), and [`Fixture`], a temp dir holding version 1.0.0 of it and the
//! updater's state directory.

use std::path::{Path, PathBuf};

/// A shell-script "app" that prints `version`, padded to `size` bytes so that writing it takes a moment and a download
/// spans many chunks.
pub fn script_app(version: &str, size: usize) -> Vec<u8> {
    let mut s = format!("#!/bin/sh\necho {version}\nexit 0\n").into_bytes();
    let fill = format!("# {version} padding\n").into_bytes();
    while s.len() < size {
        s.extend_from_slice(&fill);
    }
    s.truncate(size.max(30));
    s
}

/// Writes an executable file.
pub fn write_exe(path: &Path, contents: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `command.output()`, tried again while the executable is "busy" (`ETXTBSY`): a file just written in a test is still
/// open for writing in any child another test thread forked meanwhile, until that child execs, and Linux refuses to
/// run a file open for writing.
pub fn output(command: &mut std::process::Command) -> std::io::Result<std::process::Output> {
    let mut tries = 0;
    loop {
        match command.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// Runs `path` and returns its trimmed stdout.
pub fn run(path: &Path) -> String {
    let out = output(&mut std::process::Command::new(path)).unwrap();
    assert!(out.status.success(), "{} failed: {out:?}", path.display());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A temp dir with `app` (the 1.0.0 script) and `state/`, the updater's state directory.
#[derive(Debug)]
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub app: PathBuf,
    pub state: PathBuf,
    pub v1: Vec<u8>,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        let v1 = script_app("1.0.0", 4096);
        write_exe(&app, &v1);
        let state = dir.path().join("state");
        Fixture { dir, app, state, v1 }
    }

    /// The app still holds v1 and runs.
    pub fn assert_untouched(&self) {
        assert_eq!(std::fs::read(&self.app).unwrap(), self.v1, "the app file changed");
        assert_eq!(run(&self.app), "1.0.0");
    }

    /// Puts v1 back, as a user restoring the binary by hand would.
    pub fn reinstall_v1(&self) {
        write_exe(&self.app, &self.v1);
    }

    /// What is left in the state dir's downloads (half-downloaded or unverified files must not be).
    pub fn downloads(&self) -> Vec<String> {
        crate::listing(&self.state.join("downloads"))
    }
}

/// What a program run printed, and how it ended (the self-updating example programs of the C, Python and Node
/// packages report each step as a line).
#[derive(Debug)]
pub struct Run {
    pub output: std::process::Output,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(output: std::process::Output) -> Run {
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            output,
        }
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    /// The signal that ended it, if one did.
    #[cfg(unix)]
    pub fn signal(&self) -> Option<i32> {
        std::os::unix::process::ExitStatusExt::signal(&self.output.status)
    }
}

/// What an example app of `name` prints when v1, installed at `exe` with its updater state in `state`, starts with
/// `v2` offered: it downloads v2 (`downloaded`: its last progress line), installs it, relaunches into it (the same
/// process, by `exec`), and v2 confirms itself; `exe` is then v2 and no download is left behind; the next start is v2,
/// up to date.
#[cfg(unix)]
pub async fn assert_updates_from_v1_to_v2<F: std::future::Future<Output = Run>>(
    name: &str,
    exe: &Path,
    state: &Path,
    v2: &[u8],
    downloaded: &str,
    mut start: impl FnMut() -> F,
) {
    let (v1_says, v2_says) = (format!("{name} 1.0.0"), format!("{name} 2.0.0"));
    let updating = format!("updating to 2.0.0 ({v2_says})");
    let first = start().await;
    assert_eq!(first.code(), Some(0), "{first:#?}");
    assert_eq!(
        first.lines(),
        [
            v1_says.as_str(),
            &updating,
            downloaded,
            "installed 2.0.0; relaunching",
            &v2_says,
            "pending confirmation (start 1 of 3)",
            "confirmed healthy",
            "up to date"
        ],
        "{first:#?}"
    );
    assert!(std::fs::read(exe).unwrap() == v2, "v2 is not in place");
    assert_eq!(crate::listing(&state.join("downloads")), Vec::<String>::new(), "a download was left behind");
    let again = start().await;
    assert_eq!((again.code(), again.lines()), (Some(0), vec![v2_says.as_str(), "up to date"]), "{again:#?}");
}

/// The rollback every binding's self-updating example goes through once the v2 it installed crashes before confirming
/// (`name` is what the example prints before its version; `start` runs the installed app once): the first start
/// installs v2, relaunches it and crashes, two more starts crash, and the fourth puts v1 back, relaunches it, and v1 is
/// not offered the rolled-back 2.0.0 again.
#[cfg(unix)]
pub async fn assert_rolls_back_a_crashing_v2<F: std::future::Future<Output = Run>>(
    name: &str,
    mut start: impl FnMut() -> F,
) {
    let (v1, v2) = (format!("{name} 1.0.0"), format!("{name} 2.0.0"));
    let first = start().await;
    assert_eq!(first.signal(), Some(6), "v2 did not crash (SIGABRT): {first:#?}");
    assert_eq!(
        first.lines()[3..],
        ["installed 2.0.0; relaunching", &v2, "pending confirmation (start 1 of 3)", "crashing before confirming"],
        "{first:#?}"
    );
    for attempt in 2..=3 {
        let crash = start().await;
        assert_eq!(crash.signal(), Some(6), "{crash:#?}");
        let pending = format!("pending confirmation (start {attempt} of 3)");
        assert_eq!(crash.lines(), [&v2, &pending, "crashing before confirming"], "{crash:#?}");
    }
    let rollback = start().await;
    assert_eq!(rollback.code(), Some(0), "{rollback:#?}");
    assert_eq!(rollback.lines(), [&v2, "rolled back; relaunching", &v1, "up to date"], "{rollback:#?}");
}

/// Fails the test unless `output` (of the step named `what`) succeeded, showing what it printed.
pub fn check(output: &std::process::Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
