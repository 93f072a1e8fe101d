//! A Wine prefix for tests that install real Windows installers on Linux (the bundler's and the updater's).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::require_tool;

/// A Wine prefix for one test: created with `wineboot`, removed at the end.
#[derive(Debug)]
pub struct Wine {
    pub prefix: tempfile::TempDir,
}

impl Default for Wine {
    fn default() -> Self {
        Self::new()
    }
}

impl Wine {
    pub fn new() -> Wine {
        require_tool("wine", "wine");
        let prefix = tempfile::Builder::new().prefix("millennium-wine-").tempdir().unwrap();
        let wine = Wine { prefix };
        let o = wine.cmd("wineboot").arg("-i").output().unwrap();
        assert!(o.status.success(), "wineboot failed: {}", String::from_utf8_lossy(&o.stderr));
        wine.wait();
        wine
    }

    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("WINEPREFIX", self.prefix.path())
            .env("WINEDEBUG", "-all")
            // No Mono/Gecko install prompts: the tests need neither.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY");
        c
    }

    /// Runs `wine ARGS`, waits for every process it started, and returns the output.
    pub fn run(&self, args: &[&str]) -> Output {
        let o = self.cmd("wine").args(args).output().unwrap();
        self.wait();
        o
    }

    pub fn run_ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        let (out, err) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "`wine {}` failed ({}): {out}{err}", args.join(" "), o.status);
        out
    }

    /// Waits until the prefix's wineserver has no process left (uninstallers re-launch themselves).
    pub fn wait(&self) {
        let _ = self.cmd("wineserver").arg("-w").status();
    }

    /// The Start menu shortcut `NAME.lnk`, if present: all users' folder, or the user's one (Wine's msiexec puts
    /// per-machine shortcuts there, Windows puts them in the all-users folder).
    pub fn start_menu_shortcut(&self, name: &str) -> Option<PathBuf> {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        [
            self.drive_c().join("ProgramData/Microsoft/Windows/Start Menu/Programs"),
            self.drive_c().join(format!("users/{user}/AppData/Roaming/Microsoft/Windows/Start Menu/Programs")),
        ]
        .into_iter()
        .map(|dir| dir.join(format!("{name}.lnk")))
        .find(|p| p.is_file())
    }

    pub fn drive_c(&self) -> PathBuf {
        self.prefix.path().join("drive_c")
    }

    /// A Windows path for a Linux path (Wine maps `/` to `Z:`).
    pub fn z(path: &Path) -> String {
        format!("Z:{}", path.to_str().unwrap().replace('/', "\\"))
    }

    /// `reg query KEY /s` output, with `\n` line ends (empty when the key does not exist).
    ///
    /// `reg` exits 1 for a key that does not exist; any other failure is Wine's own (a machine loaded to several times
    /// its cores makes them likelier), so the query is tried again, three times at most, and then the test fails with
    /// what Wine said.
    pub fn reg_query(&self, key: &str) -> String {
        let mut attempts = Vec::new();
        for _ in 0..3 {
            let o = self.run(&["reg", "query", key, "/s"]);
            let text = String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n");
            if o.status.success() || o.status.code() == Some(1) {
                return text;
            }
            attempts.push(format!("{}: {text}{}", o.status, String::from_utf8_lossy(&o.stderr)));
        }
        panic!("`wine reg query {key} /s` failed three times:\n{}", attempts.join("\n"));
    }

    /// The uninstall entries under `root` (`HKLM`, `HKCU`): for each, its `DisplayName` and `DisplayVersion`, read until
    /// two readings in a row agree. Right after `msiexec` returned, Wine's `reg` has been seen to list an entry in one
    /// reading and not in the next (exit status 1, "no such key", though the key is there), so one reading cannot be
    /// taken for the registry's state.
    fn uninstall_entries_of(&self, root: &str) -> Vec<(String, String)> {
        let mut readings = vec![self.read_uninstall_entries(root)];
        for _ in 0..5 {
            let next = self.read_uninstall_entries(root);
            if readings.last() == Some(&next) {
                return next;
            }
            readings.push(next);
        }
        panic!("the uninstall entries under {root} never read the same twice in a row: {readings:?}");
    }

    fn read_uninstall_entries(&self, root: &str) -> Vec<(String, String)> {
        let text = self.reg_query(&format!("{root}\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall"));
        let value = |line: &str, name: &str| {
            let mut words = line.split_whitespace();
            (words.next() == Some(name)).then(|| words.skip(1).collect::<Vec<_>>().join(" "))
        };
        let mut entries: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.starts_with("HKEY_") {
                entries.push((String::new(), String::new()));
            } else if let Some(entry) = entries.last_mut() {
                if let Some(name) = value(line, "DisplayName") {
                    entry.0 = name;
                } else if let Some(version) = value(line, "DisplayVersion") {
                    entry.1 = version;
                }
            }
        }
        entries.retain(|(name, _)| !name.is_empty());
        entries
    }

    /// Uninstall entries whose display name is `name`.
    pub fn uninstall_entries(&self, root: &str, name: &str) -> usize {
        self.uninstall_entries_of(root).iter().filter(|(n, _)| n == name).count()
    }

    /// The `DisplayVersion`s of the uninstall entries named `Hello App` (the test app of the suites).
    pub fn display_versions(&self, root: &str) -> Vec<String> {
        self.uninstall_entries_of(root).into_iter().filter(|(n, _)| n == "Hello App").map(|(_, v)| v).collect()
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = self.cmd("wineserver").arg("-k").status();
    }
}

/// Compiles the C program `source` into the Windows executable `dir/NAME.exe` with mingw-w64 (stripped, `-O2`): the
/// test apps' Windows binaries, small programs that print their version.
pub fn mingw_exe(dir: &Path, name: &str, source: &str) -> PathBuf {
    require_tool("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64");
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let exe = dir.join(format!("{name}.exe"));
    let o = Command::new("x86_64-w64-mingw32-gcc").arg("-O2").arg("-s").arg("-o").arg(&exe).arg(&src).output().unwrap();
    assert!(
        o.status.success(),
        "mingw-w64 could not compile {}: {}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    exe
}

/// A stand-in for Microsoft's WebView2 installer (bootstrapper or offline installer), compiled to `path` (`….exe`):
/// it logs its arguments to `C:\webview2-standin.log` and registers the runtime the way the real one does (EdgeUpdate
/// client key `pv`, 32-bit view), so a second install skips it.
pub fn standin_webview2(path: &Path) {
    let (dir, name) = (path.parent().unwrap(), path.file_stem().unwrap().to_str().unwrap());
    assert_eq!(path.extension().unwrap(), "exe");
    std::fs::create_dir_all(dir).unwrap();
    mingw_exe(
        dir,
        name,
        r#"#include <windows.h>
#include <stdio.h>
int main(int argc, char **argv) {
    FILE *f = fopen("C:\\webview2-standin.log", "ab");
    if (!f) return 1;
    for (int i = 1; i < argc; i++) fprintf(f, "%s%s", i > 1 ? " " : "", argv[i]);
    fprintf(f, "\n");
    fclose(f);
    HKEY key;
    if (RegCreateKeyExA(HKEY_LOCAL_MACHINE, "SOFTWARE\\Microsoft\\EdgeUpdate\\Clients\\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}",
                        0, NULL, 0, KEY_WRITE | KEY_WOW64_32KEY, NULL, &key, NULL) != ERROR_SUCCESS) return 2;
    RegSetValueExA(key, "pv", 0, REG_SZ, (const BYTE *)"120.0.0.0", 10);
    RegCloseKey(key);
    return 0;
}
"#,
    );
}
