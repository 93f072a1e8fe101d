//! Windows installers built on Linux, checked with the real tools: `msiinfo`/`msiextract` (msitools), `7z`,
//! `osslsigncode verify`, and real installs under Wine (`msiexec /i /qn`, `setup.exe /S`, upgrades in place,
//! uninstalls). The app is a small C program cross-compiled with mingw-w64 that prints its version.
//!
//! Each Wine test uses its own prefix (one `wineboot` each) and runs its install steps in order within it.

#![allow(clippy::unwrap_used)] // test helpers: failures should panic with the error

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;
use millennium_testing::wine::{Wine, mingw_exe, standin_webview2};
use millennium_testing::{listing, require_tool};

/// The test app's Windows executable: prints `hello-win VERSION, N args`.
fn windows_exe(dir: &Path, name: &str, version: &str) -> PathBuf {
    let source = format!(
        "#include <stdio.h>\nint main(int argc, char **argv) {{ printf(\"hello-win {version}, %d args\\n\", argc - 1); return 0; }}\n"
    );
    mingw_exe(dir, name, &source)
}

/// The test app with a Windows executable and a `[windows]` section.
struct WinApp {
    app: TestApp,
    /// The WebView2 cache directory the bundler is pointed at.
    cache: PathBuf,
}

impl WinApp {
    fn new(windows_section: &str) -> WinApp {
        let app = TestApp::new();
        windows_exe(app.path(), "hello", "1.2.3");
        let cache = app.path().join("webview2-cache");
        std::fs::create_dir_all(&cache).unwrap();
        let w = WinApp { app, cache };
        w.configure("1.2.3", windows_section);
        w
    }

    fn configure(&self, version: &str, windows_section: &str) {
        self.app.write_config(&format!(
            "{}\n[windows]\nbinary = \"hello.exe\"\n{windows_section}\n",
            self.app.default_config().replace("version = \"1.2.3\"", &format!("version = \"{version}\""))
        ));
    }

    fn path(&self) -> &Path {
        self.app.path()
    }

    fn bundle(&self, out: &Path, formats: &str, env: &[(&str, &str)]) -> Output {
        let mut all = vec![("MILLENNIUM_WEBVIEW2_CACHE", self.cache.to_str().unwrap())];
        all.extend_from_slice(env);
        self.app.bundle(out, &["--format", formats, "--json"], &all)
    }

    /// Bundles and returns the `--json` report's files.
    fn bundle_ok(&self, out: &Path, formats: &str, env: &[(&str, &str)]) -> Vec<serde_json::Value> {
        let o = self.bundle(out, formats, env);
        assert!(o.status.success(), "bundle failed: {}\n{}", stderr(&o), stdout(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        report["files"].as_array().unwrap().clone()
    }
}

fn msi_table(msi: &Path, table: &str) -> String {
    run("msiinfo", &["export", msi.to_str().unwrap(), table])
}

/// The value of a property in the MSI's `Property` table.
fn msi_property(msi: &Path, name: &str) -> Option<String> {
    msi_table(msi, "Property").lines().find_map(|l| l.strip_prefix(&format!("{name}\t")).map(str::to_owned))
}

#[test]
fn msi_tables_files_and_json() {
    require_tool("msiinfo", "msitools");
    let app = WinApp::new("webview-install-mode = \"skip\"");
    let out = app.path().join("out");
    let files = app.bundle_ok(&out, "msi", &[]);
    let msi = out.join("hello-app_1.2.3_x64_en-US.msi");
    assert_eq!(files.len(), 1, "{files:?}");
    let bytes = std::fs::read(&msi).unwrap();
    assert_eq!(files[0]["format"], "msi");
    assert_eq!(files[0]["path"], msi.to_str().unwrap());
    assert_eq!(files[0]["size"], bytes.len());
    use sha2::Digest;
    assert_eq!(files[0]["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));

    let tables = run("msiinfo", &["tables", msi.to_str().unwrap()]);
    for t in ["Property", "Upgrade", "Shortcut", "File", "Component", "Registry", "Icon", "Media"] {
        assert!(tables.lines().any(|l| l == t), "missing table {t}: {tables}");
    }
    assert_eq!(msi_property(&msi, "ProductName").as_deref(), Some("Hello App"));
    assert_eq!(msi_property(&msi, "ProductVersion").as_deref(), Some("1.2.3"));
    assert_eq!(msi_property(&msi, "Manufacturer").as_deref(), Some("Test Person"));
    assert_eq!(msi_property(&msi, "ALLUSERS").as_deref(), Some("1"));
    assert_eq!(msi_property(&msi, "ARPPRODUCTICON").as_deref(), Some("AppIcon.ico"));
    assert_eq!(msi_property(&msi, "ARPURLINFOABOUT").as_deref(), Some("https://example.com/hello"));
    let upgrade_code = msi_property(&msi, "UpgradeCode").unwrap();
    let product_code = msi_property(&msi, "ProductCode").unwrap();
    assert_eq!(upgrade_code.len(), 38, "{upgrade_code}");

    // Major upgrade: versions below ours are removed, a newer one is detected (downgrade blocked).
    let upgrade = msi_table(&msi, "Upgrade");
    assert!(upgrade.contains(&format!("{upgrade_code}\t\t1.2.3\t\t")), "{upgrade}");
    assert!(upgrade.contains(&format!("{upgrade_code}\t1.2.3\t\t\t2\t\tWIX_DOWNGRADE_DETECTED")), "{upgrade}");
    let launch = msi_table(&msi, "LaunchCondition");
    assert!(
        launch.contains("NOT WIX_DOWNGRADE_DETECTED\tA newer version of Hello App is already installed."),
        "{launch}"
    );
    let shortcut = msi_table(&msi, "Shortcut");
    assert!(shortcut.contains("ProgramMenuFolder\tHello App\t"), "{shortcut}");
    assert!(shortcut.contains("[INSTALLDIR]hello.exe"), "{shortcut}");
    let registry = msi_table(&msi, "Registry");
    assert!(registry.contains("Software\\Classes\\hello\\shell\\open\\command"), "{registry}");
    assert!(registry.contains("\"[INSTALLDIR]hello.exe\" \"%1\""), "{registry}");
    assert!(!msi_table(&msi, "CustomAction").contains("InstallWebView2"), "skip mode has no WebView2 action");

    require_tool("msiextract", "msitools");
    let x = app.path().join("x");
    let listing = run("msiextract", &["-C", x.to_str().unwrap(), msi.to_str().unwrap()]);
    for f in ["Hello App/hello.exe", "Hello App/assets/data.txt", "Hello App/assets/sub/more.txt"] {
        assert!(listing.lines().any(|l| l.ends_with(f)), "missing {f}:\n{listing}");
    }
    assert_eq!(
        std::fs::read(x.join("Hello App/hello.exe")).unwrap(),
        std::fs::read(app.path().join("hello.exe")).unwrap()
    );
    assert_eq!(std::fs::read_to_string(x.join("Hello App/assets/data.txt")).unwrap(), "resource\n");

    require_tool("7z", "p7zip-full");
    let seven = run("7z", &["l", msi.to_str().unwrap()]);
    assert!(seven.contains("app.cab"), "{seven}");

    // v1.3.0: same UpgradeCode, new ProductCode.
    app.configure("1.3.0", "webview-install-mode = \"skip\"");
    let out2 = app.path().join("out2");
    app.bundle_ok(&out2, "msi", &[]);
    let msi2 = out2.join("hello-app_1.3.0_x64_en-US.msi");
    assert_eq!(msi_property(&msi2, "UpgradeCode").unwrap(), upgrade_code);
    assert_ne!(msi_property(&msi2, "ProductCode").unwrap(), product_code);
}

/// `windows.file-associations` entries become `Software\Classes` keys: the extension points at a ProgID that opens
/// the app; the macOS-only fields of the shared type (`name`, `role`) are accepted and play no part.
#[test]
fn msi_registers_file_associations() {
    require_tool("msiinfo", "msitools");
    let app = WinApp::new(
        "webview-install-mode = \"skip\"\n[[windows.file-associations]]\nextensions = [\"hello\", \"hi\"]\n\
         description = \"Hello document\"\nname = \"Hello (Finder)\"\nrole = \"Viewer\"\n\
         [[windows.file-associations]]\nextensions = [\"greet\"]\n",
    );
    let out = app.path().join("out");
    app.bundle_ok(&out, "msi", &[]);
    let registry = msi_table(&out.join("hello-app_1.2.3_x64_en-US.msi"), "Registry");
    for (ext, description) in [("hello", "Hello document"), ("hi", "Hello document"), ("greet", "Hello App file")] {
        let prog_id = format!("com.example.hello.{ext}");
        assert!(registry.contains(&format!("Software\\Classes\\.{ext}\t\t{prog_id}")), "{ext}: {registry}");
        assert!(registry.contains(&format!("Software\\Classes\\{prog_id}\t\t{description}")), "{ext}: {registry}");
        let open = format!("Software\\Classes\\{prog_id}\\shell\\open\\command\t\t\"[INSTALLDIR]hello.exe\" \"%1\"");
        assert!(registry.contains(&open), "{ext}: {registry}");
    }
    assert!(!registry.contains("Finder"), "{registry}");
}

#[test]
fn msi_per_user_installs_under_local_app_data() {
    require_tool("msiinfo", "msitools");
    let app = WinApp::new("webview-install-mode = \"skip\"\ninstall-scope = \"per-user\"");
    let out = app.path().join("out");
    app.bundle_ok(&out, "msi", &[]);
    let msi = out.join("hello-app_1.2.3_x64_en-US.msi");
    assert_eq!(msi_property(&msi, "ALLUSERS"), None);
    let dirs = msi_table(&msi, "Directory");
    assert!(dirs.contains("LocalAppDataFolder"), "{dirs}");
    assert!(msi_table(&msi, "Registry").lines().skip(3).all(|l| l.split('\t').nth(1) == Some("1")), "HKCU only");
}

#[test]
fn nsis_lists_with_7z() {
    require_tool("makensis", "nsis");
    require_tool("7z", "p7zip-full");
    let app = WinApp::new("webview-install-mode = \"skip\"\nlanguages = [\"en\", \"de\"]\ndesktop-shortcut = true");
    let out = app.path().join("out");
    let files = app.bundle_ok(&out, "nsis", &[]);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["format"], "nsis");
    let setup = out.join("hello-app_1.2.3_x64-setup.exe");
    let listing = run("7z", &["l", setup.to_str().unwrap()]);
    for f in ["hello.exe", "assets\\data.txt", "assets\\sub\\more.txt", "uninstall.exe"] {
        assert!(listing.contains(f) || listing.contains(&f.replace('\\', "/")), "missing {f}:\n{listing}");
    }
    assert!(listing.contains("Type = Nsis"), "{listing}");
    let x = app.path().join("x");
    run("7z", &["x", &format!("-o{}", x.display()), setup.to_str().unwrap()]);
    assert_eq!(std::fs::read(x.join("hello.exe")).unwrap(), std::fs::read(app.path().join("hello.exe")).unwrap());
}

#[test]
fn windows_installers_are_reproducible() {
    require_tool("makensis", "nsis");
    require_tool("msiinfo", "msitools");
    // The default WebView2 mode: the MSI has custom actions, whose sequence numbers must be stable too.
    let app = WinApp::new("");
    let a = app.path().join("a");
    let b = app.path().join("b");
    app.bundle_ok(&a, "msi,nsis", &[]);
    // Another second: wixl writes the current time unless it is replaced.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    app.bundle_ok(&b, "msi,nsis", &[]);
    for name in ["hello-app_1.2.3_x64-setup.exe", "hello-app_1.2.3_x64_en-US.msi"] {
        assert!(std::fs::read(a.join(name)).unwrap() == std::fs::read(b.join(name)).unwrap(), "{name} differs");
    }
    let summary = run("msiinfo", &["suminfo", a.join("hello-app_1.2.3_x64_en-US.msi").to_str().unwrap()]);
    assert!(summary.contains("Created: Tue Nov 14 22:13:20 2023"), "{summary}");
    assert!(summary.contains("Last saved: Tue Nov 14 22:13:20 2023"), "{summary}");
}

// ---------------------------------------------------------------------------------------------------------------
// Wine

/// MSI: install v1 (runs, shortcut, one uninstall entry, WebView2 stand-in run once), upgrade to v2 in place (old
/// files gone, one entry, WebView2 not run again), then uninstall (everything gone); a downgrade over a fresh v2
/// install is refused. (Not right after the upgrade: Wine 8 drops the UpgradeCodes registration in that upgrade, so
/// its FindRelatedProducts no longer sees the installed version.)
#[test]
fn wine_msi_installs_upgrades_and_uninstalls() {
    require_tool("msiinfo", "msitools");
    let wine = Wine::new();
    let app = WinApp::new("webview-install-mode = \"embed-bootstrapper\"");
    standin_webview2(&app.cache.join("MicrosoftEdgeWebview2Setup.exe"));
    let out = app.path().join("out1");
    app.bundle_ok(&out, "msi", &[]);
    let msi1 = out.join("hello-app_1.2.3_x64_en-US.msi");

    wine.run_ok(&["msiexec", "/i", &Wine::z(&msi1), "/qn", "/l*v", "C:\\msi-install.log"]);
    let dir = wine.drive_c().join("Program Files/Hello App");
    assert!(
        dir.join("hello.exe").is_file(),
        "not installed: {:?}",
        std::fs::read_dir(wine.drive_c()).unwrap().collect::<Vec<_>>()
    );
    assert_eq!(std::fs::read_to_string(dir.join("assets/sub/more.txt")).unwrap(), "more\n");
    let hello = wine.run_ok(&["C:\\Program Files\\Hello App\\hello.exe", "a"]);
    assert!(hello.starts_with("hello-win 1.2.3, 1 args"), "{hello}");
    let shortcut = wine.start_menu_shortcut("Hello App").expect("no Start menu shortcut");
    assert_eq!(wine.uninstall_entries("HKLM", "Hello App"), 1);
    let entries = wine.reg_query("HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall");
    assert!(entries.contains("InstallLocation    REG_SZ    C:\\Program Files\\Hello App\\"), "{entries}");
    let standin_log = std::fs::read_to_string(wine.drive_c().join("webview2-standin.log")).unwrap_or_else(|e| {
        let log = std::fs::read(wine.drive_c().join("msi-install.log")).unwrap_or_default();
        let log = String::from_utf8_lossy(&log).replace('\0', "");
        let relevant: Vec<&str> = log
            .lines()
            .filter(|l| ["WebView2", "WVRT", "AppSearch", "Return value 3"].iter().any(|k| l.contains(k)))
            .collect();
        panic!("the WebView2 installer did not run ({e}); msiexec log:\n{}", relevant.join("\n"))
    });
    assert_eq!(standin_log, "/silent /install\n");
    let classes = wine.reg_query("HKLM\\Software\\Classes\\hello\\shell\\open\\command");
    assert!(classes.contains("C:\\Program Files\\Hello App\\hello.exe"), "{classes}");

    // v2 drops a resource and upgrades in place.
    windows_exe(app.path(), "hello", "1.3.0");
    std::fs::remove_file(app.path().join("assets/sub/more.txt")).unwrap();
    app.configure("1.3.0", "webview-install-mode = \"embed-bootstrapper\"");
    let out = app.path().join("out2");
    app.bundle_ok(&out, "msi", &[]);
    let msi2 = out.join("hello-app_1.3.0_x64_en-US.msi");
    wine.run_ok(&["msiexec", "/i", &Wine::z(&msi2), "/qn"]);
    let hello = wine.run_ok(&["C:\\Program Files\\Hello App\\hello.exe"]);
    assert!(hello.starts_with("hello-win 1.3.0"), "{hello}");
    assert!(!dir.join("assets/sub/more.txt").exists(), "the old version's file was left behind");
    assert_eq!(wine.uninstall_entries("HKLM", "Hello App"), 1);
    assert_eq!(wine.display_versions("HKLM"), ["1.3.0"]);
    let log = std::fs::read_to_string(wine.drive_c().join("webview2-standin.log")).unwrap();
    assert_eq!(log, "/silent /install\n", "WebView2 was installed again although it is registered");

    wine.run_ok(&["msiexec", "/x", &Wine::z(&msi2), "/qn"]);
    assert!(!dir.join("hello.exe").exists(), "not uninstalled");
    assert!(!shortcut.exists(), "shortcut left behind");
    assert_eq!(wine.uninstall_entries("HKLM", "Hello App"), 0);

    // With v2 freshly installed, v1 is refused and changes nothing.
    wine.run_ok(&["msiexec", "/i", &Wine::z(&msi2), "/qn"]);
    let o = wine.run(&["msiexec", "/i", &Wine::z(&msi1), "/qn"]);
    assert!(!o.status.success(), "downgrade accepted");
    assert!(wine.run_ok(&["C:\\Program Files\\Hello App\\hello.exe"]).starts_with("hello-win 1.3.0"));
    assert_eq!(wine.display_versions("HKLM"), ["1.3.0"]);
}

/// NSIS: silent install, `/UPDATE` in place, a plain silent reinstall of a newer version (old uninstaller first),
/// uninstall; a per-user installer lands in `%LOCALAPPDATA%\Programs` without administrator rights.
#[test]
fn wine_nsis_installs_upgrades_and_uninstalls() {
    require_tool("makensis", "nsis");
    let wine = Wine::new();
    let app = WinApp::new("webview-install-mode = \"embed-bootstrapper\"");
    standin_webview2(&app.cache.join("MicrosoftEdgeWebview2Setup.exe"));
    let out = app.path().join("out1");
    app.bundle_ok(&out, "nsis", &[]);
    let setup1 = out.join("hello-app_1.2.3_x64-setup.exe");

    wine.run_ok(&[setup1.to_str().unwrap(), "/S"]);
    let dir = wine.drive_c().join("Program Files/Hello App");
    assert!(dir.join("hello.exe").is_file(), "not installed");
    assert!(dir.join("uninstall.exe").is_file());
    assert!(wine.run_ok(&["C:\\Program Files\\Hello App\\hello.exe"]).starts_with("hello-win 1.2.3"));
    let shortcut = wine.drive_c().join("ProgramData/Microsoft/Windows/Start Menu/Programs/Hello App.lnk");
    assert!(shortcut.is_file(), "no Start menu shortcut");
    assert_eq!(wine.uninstall_entries("HKLM", "Hello App"), 1);
    let entry = wine.reg_query("HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\com.example.hello");
    for field in ["DisplayIcon", "EstimatedSize", "Publisher    REG_SZ    Test Person", "InstallLocation"] {
        assert!(entry.contains(field), "missing {field}: {entry}");
    }
    assert_eq!(std::fs::read_to_string(wine.drive_c().join("webview2-standin.log")).unwrap(), "/silent /install\n");

    // v1.3.0 as the updater runs it.
    windows_exe(app.path(), "hello", "1.3.0");
    app.configure("1.3.0", "webview-install-mode = \"embed-bootstrapper\"");
    let out = app.path().join("out2");
    app.bundle_ok(&out, "nsis", &[]);
    let setup2 = out.join("hello-app_1.3.0_x64-setup.exe");
    wine.run_ok(&[setup2.to_str().unwrap(), "/S", "/UPDATE"]);
    assert!(wine.run_ok(&["C:\\Program Files\\Hello App\\hello.exe"]).starts_with("hello-win 1.3.0"));
    assert_eq!(wine.display_versions("HKLM"), ["1.3.0"]);

    // v1.4.0 without a resource, silent (not /UPDATE): the old uninstaller runs first, so the stale file goes.
    windows_exe(app.path(), "hello", "1.4.0");
    std::fs::remove_file(app.path().join("assets/sub/more.txt")).unwrap();
    app.configure("1.4.0", "webview-install-mode = \"embed-bootstrapper\"");
    let out = app.path().join("out3");
    app.bundle_ok(&out, "nsis", &[]);
    wine.run_ok(&[out.join("hello-app_1.4.0_x64-setup.exe").to_str().unwrap(), "/S"]);
    assert!(wine.run_ok(&["C:\\Program Files\\Hello App\\hello.exe"]).starts_with("hello-win 1.4.0"));
    assert!(!dir.join("assets/sub/more.txt").exists(), "the old version's file was left behind");
    assert_eq!(wine.display_versions("HKLM"), ["1.4.0"]);
    assert!(shortcut.is_file());
    let log = std::fs::read_to_string(wine.drive_c().join("webview2-standin.log")).unwrap();
    assert_eq!(log, "/silent /install\n", "WebView2 was installed again although it is registered");

    wine.run_ok(&["C:\\Program Files\\Hello App\\uninstall.exe", "/S"]);
    assert!(!dir.exists(), "not uninstalled: {:?}", std::fs::read_dir(&dir).map(|d| d.count()));
    assert!(!shortcut.exists(), "shortcut left behind");
    assert_eq!(wine.uninstall_entries("HKLM", "Hello App"), 0);

    // Per user.
    let app = WinApp::new("webview-install-mode = \"skip\"\ninstall-scope = \"per-user\"");
    let out = app.path().join("out-user");
    app.bundle_ok(&out, "nsis", &[]);
    wine.run_ok(&[out.join("hello-app_1.2.3_x64-setup.exe").to_str().unwrap(), "/S"]);
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let local = wine.drive_c().join(format!("users/{user}/AppData/Local/Programs/Hello App"));
    assert!(local.join("hello.exe").is_file(), "per-user install not in LOCALAPPDATA");
    assert_eq!(wine.uninstall_entries("HKCU", "Hello App"), 1);
    wine.run_ok(&[&format!("{}\\uninstall.exe", Wine::z(&local)), "/S"]);
    assert!(!local.exists());
    assert_eq!(wine.uninstall_entries("HKCU", "Hello App"), 0);
}

/// NSIS passive mode (`/P`, what Tauri's updater passes for `passive`): a window with the progress page only, no
/// question; it needs a display, so the whole run happens under Xvfb.
#[test]
fn wine_nsis_passive_mode_installs_without_questions() {
    require_tool("makensis", "nsis");
    require_tool("xvfb-run", "xvfb");
    require_tool("wine", "wine");
    let app = WinApp::new("webview-install-mode = \"skip\"");
    let out = app.path().join("out");
    app.bundle_ok(&out, "nsis", &[]);
    let prefix = tempfile::Builder::new().prefix("millennium-wine-").tempdir().unwrap();
    let setup = out.join("hello-app_1.2.3_x64-setup.exe");
    let o = Command::new("timeout")
        .args([
            "300",
            "xvfb-run",
            "-a",
            "sh",
            "-c",
            "wineboot -i && wineserver -w && wine \"$1\" /P && wineserver -w",
            "sh",
        ])
        .arg(&setup)
        .env("WINEPREFIX", prefix.path())
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .output()
        .unwrap();
    let _ = Command::new("wineserver").arg("-k").env("WINEPREFIX", prefix.path()).status();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let dir = prefix.path().join("drive_c/Program Files/Hello App");
    assert!(dir.join("hello.exe").is_file() && dir.join("assets/sub/more.txt").is_file(), "not installed");
}

// ---------------------------------------------------------------------------------------------------------------
// WebView2 modes

#[test]
fn webview2_download_mode_checks_registry_then_downloads() {
    require_tool("msiinfo", "msitools");
    require_tool("7z", "p7zip-full");
    // The default mode: nothing is embedded; the installers download Microsoft's bootstrapper when it is missing.
    let app = WinApp::new("");
    let out = app.path().join("out");
    app.bundle_ok(&out, "msi,nsis", &[]);
    let msi = out.join("hello-app_1.2.3_x64_en-US.msi");
    let actions = msi_table(&msi, "CustomAction");
    assert!(actions.contains("InstallWebView2\t3122\tPOWERSHELLEXE\t"), "{actions}");
    assert!(actions.contains("https://go.microsoft.com/fwlink/p/?LinkId=2124703"), "{actions}");
    let sequence = msi_table(&msi, "InstallExecuteSequence");
    assert!(sequence.contains("InstallWebView2\tNOT Installed AND NOT REMOVE AND (NOT WVRTMACHINE"), "{sequence}");
    // Deferred: after the files are installed, inside the install script.
    let number = |action: &str| -> u32 {
        let line = sequence.lines().find(|l| l.starts_with(&format!("{action}\t"))).unwrap();
        line.rsplit('\t').next().unwrap().parse().unwrap()
    };
    assert!(number("InstallFiles") < number("InstallWebView2"), "{sequence}");
    assert!(number("InstallWebView2") < number("InstallFinalize"), "{sequence}");
    assert!(number("SetInstallLocation") < number("RegisterProduct"), "{sequence}");
    let locator = msi_table(&msi, "RegLocator");
    assert!(locator.contains("EdgeUpdate\\Clients\\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}\tpv"), "{locator}");
    let listing = run("7z", &["l", out.join("hello-app_1.2.3_x64-setup.exe").to_str().unwrap()]);
    assert!(!listing.contains("MicrosoftEdgeWebview2Setup.exe"), "{listing}");
}

#[test]
fn webview2_offline_installer_and_fixed_runtime_are_embedded() {
    require_tool("7z", "p7zip-full");
    require_tool("msiextract", "msitools");
    let app = WinApp::new("webview-install-mode = \"offline-installer\"");
    standin_webview2(&app.cache.join("MicrosoftEdgeWebView2RuntimeInstallerX64.exe"));
    let out = app.path().join("out");
    app.bundle_ok(&out, "msi,nsis", &[]);
    let listing = run("7z", &["l", out.join("hello-app_1.2.3_x64-setup.exe").to_str().unwrap()]);
    assert!(listing.contains("MicrosoftEdgeWebView2RuntimeInstallerX64.exe"), "{listing}");
    let x = app.path().join("x");
    let files =
        run("msiextract", &["-C", x.to_str().unwrap(), out.join("hello-app_1.2.3_x64_en-US.msi").to_str().unwrap()]);
    assert!(files.contains("Hello App/MicrosoftEdgeWebView2RuntimeInstallerX64.exe"), "{files}");

    let runtime = app.path().join("webview2-fixed/sub");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::write(runtime.join("msedgewebview2.exe"), b"MZ runtime").unwrap();
    app.configure("1.2.3", "webview-install-mode = { fixed-runtime = \"webview2-fixed\" }");
    let out = app.path().join("out-fixed");
    app.bundle_ok(&out, "msi", &[]);
    let msi = out.join("hello-app_1.2.3_x64_en-US.msi");
    let x = app.path().join("x-fixed");
    let files = run("msiextract", &["-C", x.to_str().unwrap(), msi.to_str().unwrap()]);
    assert!(files.contains("Hello App/webview2-fixed/sub/msedgewebview2.exe"), "{files}");
    assert!(!msi_table(&msi, "CustomAction").contains("InstallWebView2"));
}

#[test]
fn webview2_missing_from_cache_is_a_clear_error() {
    let app = WinApp::new("webview-install-mode = \"embed-bootstrapper\"");
    let out = app.path().join("out");
    let o = app.bundle(&out, "msi", &[]);
    let err = stderr(&o) + &stdout(&o);
    assert!(!o.status.success());
    assert!(err.contains("WebView2 installer") && err.contains("MicrosoftEdgeWebview2Setup.exe"), "{err}");
    assert!(err.contains(app.cache.to_str().unwrap()) && err.contains("bootstrapper-sha256"), "{err}");
    assert!(listing(&out).is_empty(), "{:?}", listing(&out));
}

/// Serves `body` over HTTP on loopback for each request, until dropped.
fn serve(body: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes(),
            );
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}/MicrosoftEdgeWebview2Setup.exe")
}

#[test]
fn webview2_pinned_bootstrapper_is_downloaded_checked_and_cached() {
    require_tool("7z", "p7zip-full");
    use sha2::Digest;
    let app = WinApp::new("");
    let standin = app.path().join("standin.exe");
    standin_webview2(&standin);
    let bytes = std::fs::read(&standin).unwrap();
    let url = serve(bytes.clone());
    let no_proxy = [("NO_PROXY", "127.0.0.1"), ("HTTP_PROXY", ""), ("http_proxy", ""), ("ALL_PROXY", "")];

    // A wrong pin: nothing is cached, nothing is written.
    let wrong = "0".repeat(64);
    app.configure(
        "1.2.3",
        &format!(
            "webview-install-mode = \"embed-bootstrapper\"\n[windows.webview2]\nbootstrapper-url = \"{url}\"\nbootstrapper-sha256 = \"{wrong}\""
        ),
    );
    let out = app.path().join("out-wrong");
    let o = app.bundle(&out, "nsis", &no_proxy);
    assert!(!o.status.success());
    assert!(stdout(&o).contains(&format!("not the pinned {wrong}")), "{}{}", stdout(&o), stderr(&o));
    assert!(!app.cache.join("MicrosoftEdgeWebview2Setup.exe").exists());
    assert!(listing(&out).is_empty());

    let pin = hex::encode(sha2::Sha256::digest(&bytes));
    app.configure(
        "1.2.3",
        &format!(
            "webview-install-mode = \"embed-bootstrapper\"\n[windows.webview2]\nbootstrapper-url = \"{url}\"\nbootstrapper-sha256 = \"{pin}\""
        ),
    );
    let out = app.path().join("out");
    app.bundle_ok(&out, "nsis", &no_proxy);
    assert_eq!(std::fs::read(app.cache.join("MicrosoftEdgeWebview2Setup.exe")).unwrap(), bytes);
    let listing = run("7z", &["l", out.join("hello-app_1.2.3_x64-setup.exe").to_str().unwrap()]);
    assert!(listing.contains("MicrosoftEdgeWebview2Setup.exe"), "{listing}");
}

// ---------------------------------------------------------------------------------------------------------------
// Authenticode

/// A self-signed code-signing certificate and key (PEM) in `dir`.
fn test_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    require_tool("openssl", "openssl");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
            "-subj",
            "/CN=Millennium Test Signing",
            "-days",
            "2",
            "-addext",
            "extendedKeyUsage=codeSigning",
        ],
    );
    (cert, key)
}

fn verify_signed(file: &Path, cert: &Path) {
    let o = Command::new("osslsigncode")
        .args(["verify", "-CAfile", cert.to_str().unwrap(), "-in", file.to_str().unwrap()])
        .output()
        .unwrap();
    let text = stdout(&o) + &stderr(&o);
    assert!(o.status.success() && text.contains("Signature verification: ok"), "{}: {text}", file.display());
}

#[test]
fn authenticode_signs_exe_uninstaller_and_installers() {
    require_tool("osslsigncode", "osslsigncode");
    require_tool("7z", "p7zip-full");
    require_tool("msiextract", "msitools");
    let app = WinApp::new(
        "webview-install-mode = \"skip\"\n[windows.signing]\ncertificate = \"cert.pem\"\nkey = \"key.pem\"",
    );
    let (cert, _) = test_certificate(app.path());
    let out = app.path().join("out");
    app.bundle_ok(&out, "msi,nsis", &[]);
    let msi = out.join("hello-app_1.2.3_x64_en-US.msi");
    let setup = out.join("hello-app_1.2.3_x64-setup.exe");
    verify_signed(&msi, &cert);
    verify_signed(&setup, &cert);
    let x = app.path().join("x");
    run("7z", &["x", &format!("-o{}", x.display()), setup.to_str().unwrap()]);
    verify_signed(&x.join("hello.exe"), &cert);
    verify_signed(&x.join("uninstall.exe"), &cert);
    let xm = app.path().join("xm");
    run("msiextract", &["-C", xm.to_str().unwrap(), msi.to_str().unwrap()]);
    verify_signed(&xm.join("Hello App/hello.exe"), &cert);

    // Signing time is SOURCE_DATE_EPOCH: signed installers still reproduce.
    let again = app.path().join("again");
    app.bundle_ok(&again, "nsis", &[]);
    assert!(std::fs::read(&setup).unwrap() == std::fs::read(again.join("hello-app_1.2.3_x64-setup.exe")).unwrap());
}

#[test]
fn sign_command_is_run_for_every_file() {
    require_tool("7z", "p7zip-full");
    let app = WinApp::new("");
    let log = app.path().join("signed.log");
    // A stand-in cloud signer: records the file and appends a marker, as a signer changes the file in place.
    app.configure(
        "1.2.3",
        &format!(
            "webview-install-mode = \"skip\"\n[windows.signing]\nsign-command = \"basename {{path}} >> '{}' && printf SIGNED >> {{path}}\"",
            log.display()
        ),
    );
    let out = app.path().join("out");
    app.bundle_ok(&out, "msi,nsis", &[]);
    let signed = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = signed.lines().collect();
    assert_eq!(names.len(), 4, "{signed}");
    assert_eq!(names[0], "hello.exe", "{signed}");
    assert!(names.contains(&"app.msi") && names.contains(&"setup.exe"), "{signed}");
    assert!(std::fs::read(out.join("hello-app_1.2.3_x64-setup.exe")).unwrap().ends_with(b"SIGNED"));
    assert!(std::fs::read(out.join("hello-app_1.2.3_x64_en-US.msi")).unwrap().ends_with(b"SIGNED"));
    let x = app.path().join("x");
    run("7z", &["x", &format!("-o{}", x.display()), out.join("hello-app_1.2.3_x64-setup.exe").to_str().unwrap()]);
    assert!(std::fs::read(x.join("uninstall.exe")).unwrap().ends_with(b"SIGNED"), "uninstaller not signed");
    assert!(std::fs::read(x.join("hello.exe")).unwrap().ends_with(b"SIGNED"), "app not signed");
}

// ---------------------------------------------------------------------------------------------------------------
// Updater artifacts

#[test]
fn updater_signs_windows_installers() {
    let key = millennium_sign::SecretKey::generate().unwrap();
    let key_text =
        key.seal(None, millennium_sign::KdfParams::INTERACTIVE).unwrap().to_text(millennium_sign::Format::Tauri);
    let public = key.public_key();
    let app = WinApp::new("");
    app.configure(
        "1.2.3",
        &format!(
            "webview-install-mode = \"skip\"\n\n[updater]\npubkey = \"{}\"\nartifact-base-url = \"https://releases.example.com/hello/\"",
            public.to_text(millennium_sign::Format::Tauri)
        ),
    );
    // `[updater]` after `[windows]` would belong to it: move it to the top level.
    let text = std::fs::read_to_string(app.app.manifest()).unwrap();
    let (head, updater) = text.split_once("\n[updater]").unwrap();
    let (windows_start, _) = head.split_once("\n[windows]").unwrap();
    let windows_part = &head[windows_start.len()..];
    app.app.write_config(&format!("{windows_start}\n[updater]{updater}\n{windows_part}\n"));
    let out = app.path().join("out");
    let files = app.bundle_ok(&out, "msi,nsis,updater", &[("MILLENNIUM_SIGNING_PRIVATE_KEY", key_text.as_str())]);
    assert_eq!(files.len(), 5, "{files:?}");
    for installer in ["hello-app_1.2.3_x64_en-US.msi", "hello-app_1.2.3_x64-setup.exe"] {
        let sig = millennium_sign::Signature::from_text(
            &std::fs::read_to_string(out.join(format!("{installer}.sig"))).unwrap(),
        )
        .unwrap();
        sig.verify(&public, std::fs::File::open(out.join(installer)).unwrap()).unwrap();
        assert_eq!(sig.trusted_fields().file(), Some(installer));
    }
    let manifest = std::fs::read(out.join("hello-app_1.2.3_x86_64.update.json")).unwrap();
    let parsed = millennium_update_protocol::tauri::StaticManifest::parse(&manifest).unwrap();
    let keys: Vec<&str> = parsed.platforms().map(|(k, _)| k).collect();
    assert_eq!(keys, ["windows-x86_64", "windows-x86_64-msi", "windows-x86_64-nsis"]);
    assert_eq!(
        parsed.get("windows-x86_64").unwrap().artifact().url().as_str(),
        "https://releases.example.com/hello/hello-app_1.2.3_x64-setup.exe"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Bad input: exit code 2, a message naming the problem, nothing left in the output directory.

fn assert_rejected(app: &WinApp, formats: &str, expected: &[&str]) {
    let cache = ("MILLENNIUM_WEBVIEW2_CACHE", app.cache.to_str().unwrap());
    app.app.assert_rejected(&["--format", formats], &[cache], expected);
}

#[test]
fn rejects_versions_msi_cannot_hold() {
    let app = WinApp::new("");
    app.configure("256.0.0", "");
    assert_rejected(&app, "msi", &["`version`", "`256.0.0` does not fit an MSI version", "at most 255"]);
    app.configure("1.0.70000", "");
    assert_rejected(&app, "nsis", &["`1.0.70000` does not fit an MSI version"]);
    app.configure("1.2.3-rc.1", "");
    assert_rejected(&app, "msi,nsis", &["pre-release `rc.1`", "hint:"]);
}

#[test]
fn rejects_missing_and_non_pe_executables() {
    let app = WinApp::new("");
    std::fs::remove_file(app.path().join("hello.exe")).unwrap();
    assert_rejected(&app, "msi", &["Windows executable", "hello.exe", "does not exist", "cargo xwin"]);
    // The Linux build of the app where the Windows one belongs.
    std::fs::copy(app.path().join("hello"), app.path().join("hello.exe")).unwrap();
    assert_rejected(&app, "nsis", &["hello.exe", "not a Windows executable"]);
}

#[test]
fn rejects_icons_that_do_not_make_an_ico() {
    let app = WinApp::new("icon = \"broken.ico\"");
    std::fs::write(app.path().join("broken.ico"), b"\x00\x00\x01\x00\x01\x00garbage").unwrap();
    assert_rejected(&app, "msi", &["broken.ico", "truncated"]);
    app.configure("1.2.3", "icon = \"wide.png\"");
    write_png(&app.path().join("wide.png"), 64, 32);
    assert_rejected(&app, "nsis", &["wide.png", "not square"]);
}

#[test]
fn rejects_file_associations_windows_cannot_register() {
    let app = WinApp::new("[[windows.file-associations]]\nextensions = []");
    assert_rejected(&app, "msi", &["`windows.file-associations[0].extensions`", "at least one extension"]);
    app.configure("1.2.3", "[[windows.file-associations]]\nextensions = [\".hello\"]");
    assert_rejected(&app, "msi", &["`windows.file-associations[0].extensions`", "without the dot"]);
    // Fine on macOS, but not as a registry key and ProgID written into the WiX and NSIS sources.
    app.configure("1.2.3", "[[windows.file-associations]]\nextensions = [\"c++\"]");
    assert_rejected(&app, "nsis", &["`windows.file-associations[0].extensions`", "`c++` is not a file extension"]);
    app.configure("1.2.3", "[[windows.file-associations]]\nextensions = [\"hello\"]\nrole = \"Reader\"");
    assert_rejected(&app, "msi", &["`windows.file-associations[0].role`", "`Reader`"]);
}

#[test]
fn rejects_bad_windows_settings() {
    let app = WinApp::new("upgrade-code = \"not-a-guid\"");
    assert_rejected(&app, "msi", &["windows.upgrade-code", "not a GUID"]);
    app.configure("1.2.3", "webview-install-mode = \"sometimes\"");
    assert_rejected(&app, "msi", &["windows.webview-install-mode", "unknown variant"]);
    app.configure("1.2.3", "[windows.signing]\ncertificate = \"missing.pem\"\nkey = \"key.pem\"");
    assert_rejected(&app, "msi", &["signing certificate", "missing.pem", "does not exist"]);
    app.configure("1.2.3", "[windows.signing]\nsign-command = \"signtool sign\"");
    assert_rejected(&app, "nsis", &["windows.signing.sign-command", "{path}"]);
    let o = app.app.bundle(&app.path().join("out"), &["--format", "msi", "--target", "aarch64"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("x86_64 only"), "{}", stderr(&o));
}
