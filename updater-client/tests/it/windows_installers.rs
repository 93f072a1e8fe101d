//! Windows installer-driven updates under Wine, with the real installers `millennium-bundler` makes: v1 installed by
//! its NSIS `-setup.exe`, then the updater's installer step for v2 — the verified setup and the exact command line
//! [`DownloadedUpdate::installer_command`](millennium_updater::DownloadedUpdate::installer_command) builds, executed
//! through `wine` — after which the app in the prefix reports v2, was relaunched by the installer (`/R`), has one
//! uninstall entry, and the user's file in its directory survived (`/UPDATE` does not uninstall first). An update
//! that needs WebView2 where it is missing relies on the installer's own WebView2 step (what
//! `WebviewPolicy::Provision` does for NSIS and MSI installs): v2's setup embeds the bootstrapper (a stand-in that
//! registers the runtime as the real one does), and the update runs it before replacing the app.
//!
//! Fails (does not skip) without `wine`, `makensis` or mingw-w64.

#![allow(clippy::unwrap_used)] // tests state expectations with unwrap

use std::path::{Path, PathBuf};

use millennium_sign::Format;
use millennium_testing::keys::Keys;
use millennium_testing::png::write_png;
use millennium_testing::require_tool;
use millennium_testing::wine::{Wine, mingw_exe, standin_webview2};
use millennium_updater::{BundleType, InstallScope, InstallerUi, Updater};

/// The app's Windows executable: prints `hello-win VERSION` and appends `VERSION` to `C:\hello-launches.log`, so a
/// relaunch by the installer can be seen.
fn windows_exe(dir: &Path, version: &str) -> PathBuf {
    let source = format!(
        "#include <stdio.h>\nint main(void) {{ FILE *f = fopen(\"C:\\\\hello-launches.log\", \"ab\"); \
         if (f) {{ fprintf(f, \"{version}\\n\"); fclose(f); }} printf(\"hello-win {version}\\n\"); return 0; }}\n"
    );
    mingw_exe(dir, "hello", &source)
}

/// Version `version` of the app's NSIS installer (per user), built with the real bundler; `webview` is its
/// `webview-install-mode` (`embed-bootstrapper` embeds the stand-in bootstrapper).
fn nsis_setup(dir: &Path, version: &str, webview: &str) -> PathBuf {
    require_tool("makensis", "nsis");
    bundle_windows(dir, version, "per-user", webview, millennium_bundler::Format::Nsis);
    dir.join("out").join(format!("hello-app_{version}_x64-setup.exe"))
}

/// Version `version` of the app's MSI (per machine, no WebView2 step), built with the real bundler.
fn msi_package(dir: &Path, version: &str) -> PathBuf {
    require_tool("wixl", "wixl");
    bundle_windows(dir, version, "per-machine", "skip", millennium_bundler::Format::Msi);
    dir.join("out").join(format!("hello-app_{version}_x64_en-US.msi"))
}

fn bundle_windows(dir: &Path, version: &str, scope: &str, webview: &str, format: millennium_bundler::Format) {
    std::fs::create_dir_all(dir).unwrap();
    let cache = dir.join("webview2-cache");
    standin_webview2(&cache.join(millennium_updater::WEBVIEW2_BOOTSTRAPPER));
    windows_exe(dir, version);
    write_png(&dir.join("icon.png"), 32, 32);
    std::fs::write(
        dir.join("Millennium.toml"),
        format!(
            r#"product-name = "Hello App"
package-name = "hello-app"
identifier = "com.example.hello"
version = "{version}"
description = "Test app for Windows updates"
authors = ["Test Person <test@example.com>"]
license = "MIT"
icons = ["icon.png"]

[binaries]
main = "hello"

[windows]
binary = "hello.exe"
install-scope = "{scope}"
webview-install-mode = "{webview}"
"#
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let options = millennium_bundler::Options {
        manifest_path: dir.join("Millennium.toml"),
        formats: [format].into(),
        arch: millennium_bundler::Arch::X86_64,
        out_dir: out.clone(),
        overrides: millennium_bundler::config::Overrides { given_binaries_only: true, ..Default::default() },
        launcher: None,
    };
    let env = |name: &str| match name {
        "SOURCE_DATE_EPOCH" => Some("1700000000".to_owned()),
        "MILLENNIUM_WEBVIEW2_CACHE" => Some(cache.to_string_lossy().into_owned()),
        _ => None,
    };
    millennium_bundler::bundle(&options, &env, &millennium_bundler::NoProgress).unwrap();
}

#[test]
fn an_nsis_install_is_updated_under_wine_by_the_command_line_the_updater_builds() {
    let work = tempfile::tempdir().unwrap();
    let setup1 = nsis_setup(&work.path().join("v1"), "1.0.0", "skip");
    let setup2 = nsis_setup(&work.path().join("v2"), "2.0.0", "embed-bootstrapper");
    let wine = Wine::new();
    wine.run_ok(&[setup1.to_str().unwrap(), "/S"]);
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let dir = wine.drive_c().join(format!("users/{user}/AppData/Local/Programs/Hello App"));
    assert!(dir.join("hello.exe").is_file(), "v1 not installed");
    std::fs::write(dir.join("settings.ini"), "user data\n").unwrap();
    let _ = std::fs::remove_file(wine.drive_c().join("hello-launches.log"));

    // The updater verifies v2's installer as it would after downloading it, then builds the command line.
    let keys = Keys::generate();
    let bytes = std::fs::read(&setup2).unwrap();
    let signature = keys.sign(&bytes, Some("2.0.0")).to_text(Format::Tauri).to_string();
    let updater = Updater::builder()
        .endpoint("http://127.0.0.1:9/unused")
        .pubkey(&keys.public_text)
        .current_version("1.0.0")
        .bundle_type(Some(BundleType::Nsis))
        .windows_installer(InstallerUi::Quiet, InstallScope::PerUser)
        .state_dir(work.path().join("state"))
        .build()
        .unwrap();
    assert_eq!(updater.target().to_string(), "windows-x86_64-nsis");
    let verified = updater.verify_local_file(&setup2, &signature, "2.0.0").unwrap();
    let command = verified.installer_command().expect("an NSIS install has an installer command");
    let args: Vec<String> = command.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    assert_eq!(command.program, setup2.as_os_str());
    assert_eq!(args, ["/UPDATE", "/S", "/R"]);

    let mut wine_args = vec![command.program.to_string_lossy().into_owned()];
    wine_args.extend(args);
    wine.run_ok(&wine_args.iter().map(String::as_str).collect::<Vec<_>>());

    let launches = std::fs::read_to_string(wine.drive_c().join("hello-launches.log")).unwrap_or_default();
    assert_eq!(launches, "2.0.0\n", "the installer relaunched v2 (`/R`)");
    let exe = format!("C:\\users\\{user}\\AppData\\Local\\Programs\\Hello App\\hello.exe");
    assert!(wine.run_ok(&[&exe]).starts_with("hello-win 2.0.0"));
    assert_eq!(wine.uninstall_entries("HKCU", "Hello App"), 1);
    assert_eq!(wine.display_versions("HKCU"), ["2.0.0"]);
    assert_eq!(std::fs::read_to_string(dir.join("settings.ini")).unwrap(), "user data\n", "/UPDATE kept user data");
    // WebView2 was missing (v1 skipped it): v2's installer ran its bootstrapper, once, silently, and the runtime is
    // now registered where the app's start-up check looks.
    let standin = std::fs::read_to_string(wine.drive_c().join("webview2-standin.log")).unwrap_or_default();
    assert_eq!(standin, "/silent /install\n", "the installer's WebView2 step");
    let runtime = wine
        .reg_query(r"HKLM\SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}");
    assert!(runtime.contains("120.0.0.0"), "{runtime}");
}

/// MSI: v1 installed by `msiexec`, then the updater's installer step for v2 (`msiexec /i … /quiet /norestart
/// ALLUSERS=1`, then the app started again) run by `cmd.exe` exactly as the updater hands it over on Windows (the
/// line in a batch file, since Wine cannot pass a raw command line from Linux). The one change: the package's Linux
/// path becomes Wine's `Z:` path.
#[test]
fn an_msi_install_is_upgraded_under_wine_by_the_command_line_the_updater_builds() {
    let work = tempfile::tempdir().unwrap();
    let msi1 = msi_package(&work.path().join("v1"), "1.0.0");
    let msi2 = msi_package(&work.path().join("v2"), "2.0.0");
    let wine = Wine::new();
    wine.run_ok(&["msiexec", "/i", &Wine::z(&msi1), "/qn"]);
    let exe = r"C:\Program Files\Hello App\hello.exe";
    assert!(wine.run_ok(&[exe]).starts_with("hello-win 1.0.0"));
    let _ = std::fs::remove_file(wine.drive_c().join("hello-launches.log"));

    let keys = Keys::generate();
    let bytes = std::fs::read(&msi2).unwrap();
    let signature = keys.sign(&bytes, Some("2.0.0")).to_text(Format::Tauri).to_string();
    let updater = Updater::builder()
        .endpoint("http://127.0.0.1:9/unused")
        .pubkey(&keys.public_text)
        .current_version("1.0.0")
        .bundle_type(Some(BundleType::Msi))
        .executable(exe)
        .windows_installer(InstallerUi::Quiet, InstallScope::PerMachine)
        .state_dir(work.path().join("state"))
        .build()
        .unwrap();
    assert_eq!(updater.target().to_string(), "windows-x86_64-msi");
    let verified = updater.verify_local_file(&msi2, &signature, "2.0.0").unwrap();
    let command = verified.installer_command().unwrap();
    let args: Vec<String> = command.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    assert_eq!(command.program, "cmd.exe");
    assert_eq!(args[..3], ["/d", "/s", "/c"]);
    let line = args[3].replace(msi2.to_str().unwrap(), &Wine::z(&msi2));
    assert!(
        line.starts_with("msiexec.exe \"/i\" \"Z:") && line.ends_with(&format!("&& start \"\" \"{exe}\"")),
        "{line}"
    );
    let batch = work.path().join("update.bat");
    std::fs::write(&batch, format!("@{line}\r\n")).unwrap();
    wine.run_ok(&["cmd.exe", "/d", "/c", &Wine::z(&batch)]);

    assert!(wine.run_ok(&[exe]).starts_with("hello-win 2.0.0"));
    let launches = std::fs::read_to_string(wine.drive_c().join("hello-launches.log")).unwrap_or_default();
    assert!(launches.starts_with("2.0.0\n"), "relaunched after msiexec succeeded: {launches:?}");
    assert_eq!(wine.uninstall_entries("HKLM", "Hello App"), 1);
    assert_eq!(wine.display_versions("HKLM"), ["2.0.0"]);
}
