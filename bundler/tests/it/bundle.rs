//! End-to-end tests: a real (tiny) app is bundled by the CLI and every output is checked with the real tools
//! (`dpkg-deb`, `lintian`, `dpkg --root`, `dpkg-shlibdeps`, `rpm`, `unsquashfs`, `desktop-file-validate`, running
//! the AppImage), then bad inputs, reproducibility and updater artifacts.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use millennium_testing::{listing, require_tool};

#[test]
fn deb_passes_dpkg_deb_and_lintian() {
    require_tool("dpkg-deb", "dpkg");
    require_tool("lintian", "lintian");
    let app = TestApp::new();
    let out = app.path().join("out");
    app.bundle_ok(&out, "deb", &[]);
    let deb = find(&out, ".deb");
    assert_eq!(deb.file_name().unwrap(), "hello-app_1.2.3_amd64.deb");
    let deb = deb.to_str().unwrap();

    let info = run("dpkg-deb", &["--info", deb]);
    for field in ["Package: hello-app", "Version: 1.2.3", "Architecture: amd64", "Installed-Size: ", "Maintainer: Test"]
    {
        assert!(info.contains(field), "missing `{field}` in:\n{info}");
    }
    assert!(info.contains("md5sums"), "{info}");
    let depends = run("dpkg-deb", &["--field", deb, "Depends"]);
    assert!(depends.contains("libc6 (>= "), "{depends}");
    assert!(depends.contains("zlib1g"), "{depends}");

    let contents = run("dpkg-deb", &["--contents", deb]);
    for path in [
        "./usr/bin/hello",
        "./usr/lib/hello-app/assets/data.txt",
        "./usr/lib/hello-app/assets/sub/more.txt",
        "./usr/share/applications/hello-app.desktop",
        "./usr/share/icons/hicolor/16x16/apps/hello-app.png",
        "./usr/share/icons/hicolor/128x128/apps/hello-app.png",
        "./usr/share/doc/hello-app/copyright",
        "./usr/share/doc/hello-app/changelog.gz",
        "./usr/share/man/man1/hello.1.gz",
        "./usr/share/metainfo/com.example.hello.metainfo.xml",
    ] {
        assert!(contents.contains(path), "missing {path} in:\n{contents}");
    }
    assert!(!contents.contains("256x256"), "no upscaled icons: {contents}");
    for line in contents.lines() {
        assert!(line.contains(" root/root "), "not root-owned: {line}");
        assert!(line.contains("2023-11-14 22:13"), "mtime is not SOURCE_DATE_EPOCH: {line}");
    }

    // lintian: no errors (exit 0 with --fail-on error), and only the warnings we accept.
    let out = Command::new("lintian").args(["--fail-on", "error", "--tag-display-limit", "0", deb]).output().unwrap();
    let report = stdout(&out);
    assert!(out.status.success(), "lintian failed:\n{report}{}", stderr(&out));
    assert!(!report.lines().any(|l| l.starts_with("E:")), "lintian errors:\n{report}");
    assert!(!report.lines().any(|l| l.starts_with("W:")), "lintian warnings:\n{report}");
}

#[test]
fn deb_depends_match_dpkg_shlibdeps() {
    require_tool("dpkg-shlibdeps", "dpkg-dev");
    let app = TestApp::new();
    let out = app.path().join("out");
    app.bundle_ok(&out, "deb", &[]);
    let ours = run("dpkg-deb", &["--field", find(&out, ".deb").to_str().unwrap(), "Depends"]);

    let work = app.path().join("shlibdeps");
    std::fs::create_dir_all(work.join("debian")).unwrap();
    std::fs::write(work.join("debian/control"), "Source: x\nMaintainer: a <a@b.c>\n\nPackage: x\nArchitecture: any\n")
        .unwrap();
    let o = Command::new("dpkg-shlibdeps")
        .arg("-O")
        .arg("-e")
        .arg(app.path().join("hello"))
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let theirs = stdout(&o);
    let theirs = theirs.trim().strip_prefix("shlibs:Depends=").unwrap();
    let set = |s: &str| s.split(',').map(|d| d.trim().to_owned()).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(set(ours.trim()), set(theirs));
}

#[test]
fn deb_installs_into_a_scratch_root() {
    require_tool("dpkg", "dpkg");
    let app = TestApp::new();
    let scripts = app.path().join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::write(
        scripts.join("postinst.sh"),
        "#!/bin/sh\nset -e\necho configured > \"$DPKG_ROOT/var/tmp/hello-app-postinst\"\n",
    )
    .unwrap();
    app.write_config(
        &(app
            .default_config()
            .replace("[binaries]", "[scripts]\npost-install = \"scripts/postinst.sh\"\n\n[binaries]")),
    );
    let out = app.path().join("out");
    app.bundle_ok(&out, "deb", &[]);
    let deb = find(&out, ".deb");
    assert!(run("dpkg-deb", &["--info", deb.to_str().unwrap()]).contains("postinst"));

    let root = app.path().join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    std::fs::create_dir_all(root.join("var/tmp")).unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let root_arg = format!("--root={}", root.display());
    // The scratch root has no libc6/zlib1g packages: `--force-depends` (they are checked by the shlibdeps test).
    run("dpkg", &[&root_arg, "--force-depends", "--force-script-chrootless", "-i", deb.to_str().unwrap()]);
    assert!(run("dpkg", &[&root_arg, "-l", "hello-app"]).contains("ii  hello-app"));
    assert_eq!(std::fs::read_to_string(root.join("var/tmp/hello-app-postinst")).unwrap(), "configured\n");
    let hello = run(root.join("usr/bin/hello").to_str().unwrap(), &[]);
    assert!(hello.starts_with("hello from millennium"), "{hello}");
    assert_eq!(std::fs::read_to_string(root.join("usr/lib/hello-app/assets/data.txt")).unwrap(), "resource\n");
    run("dpkg", &[&root_arg, "--force-script-chrootless", "--purge", "hello-app"]);
    assert!(!root.join("usr/bin/hello").exists());
}

#[test]
fn apt_resolves_the_computed_depends() {
    require_tool("apt-get", "apt");
    let app = TestApp::new();
    let out = app.path().join("out");
    app.bundle_ok(&out, "deb", &[]);
    // A simulation only (`-s`): apt resolves `Depends` against this machine's package database.
    let o = Command::new("apt-get").arg("install").arg("-s").arg(find(&out, ".deb")).output().unwrap();
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(text.contains("Inst hello-app (1.2.3 "), "{text}");
}

#[test]
fn desktop_entry_validates() {
    require_tool("desktop-file-validate", "desktop-file-utils");
    let app = TestApp::new();
    let out = app.path().join("out");
    app.bundle_ok(&out, "deb", &[]);
    let x = app.path().join("x");
    run("dpkg-deb", &["-x", find(&out, ".deb").to_str().unwrap(), x.to_str().unwrap()]);
    let desktop = x.join("usr/share/applications/hello-app.desktop");
    let o = Command::new("desktop-file-validate").arg(&desktop).output().unwrap();
    assert!(o.status.success() && o.stdout.is_empty(), "{}{}", stdout(&o), stderr(&o));
    let text = std::fs::read_to_string(desktop).unwrap();
    assert!(text.contains("MimeType=text/plain;x-scheme-handler/hello;"), "{text}");
    assert!(text.contains("Exec=hello %U"), "{text}");
}

#[test]
fn appstream_metainfo_validates() {
    require_tool("appstreamcli", "appstream");
    let app = TestApp::new();
    let out = app.path().join("out");
    app.bundle_ok(&out, "deb", &[]);
    let x = app.path().join("x");
    run("dpkg-deb", &["-x", find(&out, ".deb").to_str().unwrap(), x.to_str().unwrap()]);
    let metainfo = x.join("usr/share/metainfo/com.example.hello.metainfo.xml");
    let o =
        Command::new("appstreamcli").arg("validate").arg("--no-net").arg("--pedantic").arg(&metainfo).output().unwrap();
    let report = stdout(&o) + &stderr(&o);
    assert!(o.status.success(), "{report}");
    assert!(!report.lines().any(|l| l.starts_with("E:") || l.starts_with("W:")), "{report}");
    let text = std::fs::read_to_string(metainfo).unwrap();
    assert!(text.contains("<release version=\"1.2.3\" date=\"2023-11-14\"/>"), "{text}");
    assert!(text.contains("<launchable type=\"desktop-id\">hello-app.desktop</launchable>"), "{text}");
}

#[test]
fn rpm_verifies_lists_and_installs() {
    require_tool("rpm", "rpm");
    let app = TestApp::new();
    let out = app.path().join("out");
    app.bundle_ok(&out, "rpm", &[]);
    let rpm = find(&out, ".rpm");
    assert_eq!(rpm.file_name().unwrap(), "hello-app-1.2.3-1.x86_64.rpm");
    let rpm = rpm.to_str().unwrap();
    let k = run("rpm", &["-K", rpm]);
    assert!(k.contains("digests OK"), "{k}");
    let list = run("rpm", &["-qpl", rpm]);
    for path in
        ["/usr/bin/hello", "/usr/lib/hello-app/assets/sub/more.txt", "/usr/share/applications/hello-app.desktop"]
    {
        assert!(list.lines().any(|l| l == path), "missing {path}:\n{list}");
    }
    assert!(!list.contains("/usr/share/doc/"), "{list}");
    let info = run("rpm", &["-qpi", rpm]);
    assert!(info.contains("Name        : hello-app") && info.contains("Version     : 1.2.3"), "{info}");
    assert!(info.contains("Build Date  : Tue Nov 14 22:13:20 2023"), "{info}");
    assert_eq!(run("rpm", &["-qp", "--qf", "%{PAYLOADCOMPRESSOR}", rpm]), "zstd");
    let requires = run("rpm", &["-qp", "--requires", rpm]);
    for req in ["libc.so.6()(64bit)", "libz.so.1()(64bit)", "libc.so.6(GLIBC_2.34)(64bit)"] {
        assert!(requires.lines().any(|l| l == req), "missing {req}:\n{requires}");
    }

    let root = app.path().join("rpmroot");
    std::fs::create_dir_all(&root).unwrap();
    run("rpm", &["-i", "--root", root.to_str().unwrap(), "--nodeps", rpm]);
    let q = run("rpm", &["-q", "--root", root.to_str().unwrap(), "hello-app"]);
    assert!(q.starts_with("hello-app-1.2.3-1"), "{q}");
    let hello = run(root.join("usr/bin/hello").to_str().unwrap(), &[]);
    assert!(hello.starts_with("hello from millennium"), "{hello}");
    // rpm -V checks every installed file against the package's digests.
    run("rpm", &["-V", "--root", root.to_str().unwrap(), "--nodeps", "hello-app"]);
}

/// File offset where the squashfs image starts (the runtime's ELF size).
fn appimage_offset(path: &Path) -> String {
    run(&path.to_string_lossy(), &["--appimage-offset"]).trim().to_owned()
}

#[test]
fn appimage_lists_extracts_and_runs_without_fuse() {
    require_tool("unsquashfs", "squashfs-tools");
    let app = TestApp::new();
    let out = app.path().join("out");
    app.bundle_ok(&out, "appimage", &[]);
    let image = find(&out, ".AppImage");
    assert_eq!(image.file_name().unwrap(), "hello-app_1.2.3_x86_64.AppImage");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&image).unwrap().permissions().mode() & 0o777, 0o755);

    let offset = appimage_offset(&image);
    assert_eq!(offset, millennium_bundler::linux::appimage::RUNTIME_X86_64.len().to_string());
    let listing = run("unsquashfs", &["-o", &offset, "-lls", image.to_str().unwrap()]);
    for path in [
        "squashfs-root/AppRun -> usr/bin/hello",
        "squashfs-root/hello-app.desktop",
        "squashfs-root/.DirIcon -> hello-app.png",
        "squashfs-root/hello-app.png",
        "squashfs-root/usr/bin/hello",
        "squashfs-root/usr/lib/hello-app/assets/data.txt",
    ] {
        assert!(listing.contains(path), "missing {path}:\n{listing}");
    }
    for line in listing.lines().filter(|l| l.contains("squashfs-root")) {
        assert!(line.contains(" root/root ") || line.contains(" 0/0 "), "not root-owned: {line}");
    }

    let o = Command::new(&image).arg("one").arg("two").env("APPIMAGE_EXTRACT_AND_RUN", "1").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("hello from millennium, zlib "), "{}", stdout(&o));
    assert!(stdout(&o).contains("2 args"), "{}", stdout(&o));

    let o = Command::new(&image).arg("--appimage-extract-and-run").arg("x").output().unwrap();
    assert!(stdout(&o).contains("1 args"), "{}{}", stdout(&o), stderr(&o));

    let work = app.path().join("extract");
    std::fs::create_dir_all(&work).unwrap();
    let o = Command::new(&image).arg("--appimage-extract").current_dir(&work).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let apprun = work.join("squashfs-root/AppRun");
    assert!(run(apprun.to_str().unwrap(), &[]).starts_with("hello from millennium"));
    let desktop = std::fs::read_to_string(work.join("squashfs-root/hello-app.desktop")).unwrap();
    assert!(desktop.contains("Icon=hello-app"), "{desktop}");
}

#[test]
fn appimage_runs_with_fuse() {
    require_tool("fusermount", "fuse3");
    assert!(
        Path::new("/dev/fuse").exists(),
        "no /dev/fuse: this test mounts the AppImage\nhint: `modprobe fuse`, or a container with `--device /dev/fuse`"
    );
    let app = TestApp::new();
    let out = app.path().join("out");
    app.bundle_ok(&out, "appimage", &[]);
    let image = find(&out, ".AppImage");
    let o = Command::new(&image).arg("a").env_remove("APPIMAGE_EXTRACT_AND_RUN").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("hello from millennium") && stdout(&o).contains("1 args"), "{}", stdout(&o));
}

/// An app linked against its own shared library (`libgreet.so.1`, not from any package): the deb warns that no
/// package provides it, and the AppImage with `bundle-libraries` carries it and runs once the original is gone.
#[test]
fn appimage_bundles_private_libraries() {
    let app = TestApp::new();
    let lib = app.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(app.path().join("greet.c"), "const char *greet(void) { return \"hello from libgreet\"; }\n")
        .unwrap();
    std::fs::write(
        app.path().join("main.c"),
        "#include <stdio.h>\nconst char *greet(void);\nint main(void) { puts(greet()); return 0; }\n",
    )
    .unwrap();
    let dir = app.path().to_str().unwrap().to_owned();
    run(
        "cc",
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libgreet.so.1",
            "-o",
            &format!("{dir}/lib/libgreet.so.1"),
            &format!("{dir}/greet.c"),
        ],
    );
    std::os::unix::fs::symlink("libgreet.so.1", lib.join("libgreet.so")).unwrap();
    run(
        "cc",
        &[
            "-o",
            &format!("{dir}/greeter"),
            &format!("{dir}/main.c"),
            &format!("-L{dir}/lib"),
            "-lgreet",
            "-Wl,-rpath,$ORIGIN/lib",
        ],
    );
    app.write_config(
        &(app.default_config().replace("main = \"hello\"", "main = \"greeter\"")
            + "\n[appimage]\nbundle-libraries = true\n"),
    );
    let out = app.path().join("out");
    let o = app.bundle(&out, &["--format", "deb,appimage"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: deb: no package found for `libgreet.so.1`"), "{}", stderr(&o));
    let image = find(&out, ".AppImage");
    let listing = run("unsquashfs", &["-o", &appimage_offset(&image), "-l", image.to_str().unwrap()]);
    assert!(listing.contains("squashfs-root/usr/lib/libgreet.so.1"), "{listing}");
    assert!(!listing.contains("libc.so"), "{listing}");
    std::fs::remove_dir_all(&lib).unwrap();
    let o = Command::new(&image).env("APPIMAGE_EXTRACT_AND_RUN", "1").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hello from libgreet\n");
}

#[test]
fn appimage_update_information_is_embedded() {
    let app = TestApp::new();
    app.write_config(
        &(app.default_config()
            + "\n[appimage]\nupdate-information = \"zsync|https://example.com/hello-x86_64.AppImage.zsync\"\n"),
    );
    let out = app.path().join("out");
    app.bundle_ok(&out, "appimage", &[]);
    let bytes = std::fs::read(find(&out, ".AppImage")).unwrap();
    let (offset, size) = millennium_bundler::linux::appimage::find_section(&bytes, ".upd_info").unwrap();
    let section = &bytes[offset..offset + size];
    let text = std::str::from_utf8(&section[..section.iter().position(|b| *b == 0).unwrap()]).unwrap();
    assert_eq!(text, "zsync|https://example.com/hello-x86_64.AppImage.zsync");

    // The .zsync file is produced next to it, and the real `zsync` rebuilds the AppImage from it (every block is
    // found in the seed file, so nothing is downloaded) and checks the SHA-1 it names.
    let zsync = out.join("hello-x86_64.AppImage.zsync");
    let text = std::fs::read(&zsync).unwrap();
    assert!(text.starts_with(b"zsync: 0.6.2\nFilename: hello-app_1.2.3_x86_64.AppImage\n"));
    require_tool("zsync", "zsync");
    let rebuilt = app.path().join("rebuilt.AppImage");
    let o = Command::new("zsync")
        .arg("-q")
        .arg("-i")
        .arg(find(&out, ".AppImage"))
        .arg("-o")
        .arg(&rebuilt)
        .arg(&zsync)
        .current_dir(app.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(std::fs::read(&rebuilt).unwrap(), std::fs::read(find(&out, ".AppImage")).unwrap());
}

#[test]
fn outputs_are_reproducible() {
    let app = TestApp::new();
    let a = app.path().join("a");
    let b = app.path().join("b");
    let files_a = app.bundle_ok(&a, "deb,rpm,appimage", &[]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let files_b = app.bundle_ok(&b, "deb,rpm,appimage", &[]);
    assert_eq!(files_a.len(), 3);
    for (fa, fb) in files_a.iter().zip(&files_b) {
        assert_eq!(fa["sha256"], fb["sha256"], "{} differs between runs", fa["path"]);
    }
    for name in listing(&a) {
        assert_eq!(std::fs::read(a.join(&name)).unwrap(), std::fs::read(b.join(&name)).unwrap(), "{name}");
    }
    // A different SOURCE_DATE_EPOCH changes the packages (the time really is embedded).
    let c = app.path().join("c");
    let files_c = app.bundle_ok(&c, "deb", &[("SOURCE_DATE_EPOCH", "1600000000")]);
    assert_ne!(files_a[0]["sha256"], files_c[0]["sha256"]);
}

#[test]
fn json_output_lists_size_and_sha256() {
    let app = TestApp::new();
    let out = app.path().join("out");
    let files = app.bundle_ok(&out, "deb,rpm", &[]);
    assert_eq!(files.len(), 2);
    for f in files {
        let path = Path::new(f["path"].as_str().unwrap());
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(f["size"].as_u64().unwrap(), bytes.len() as u64);
        use sha2::Digest;
        assert_eq!(f["sha256"].as_str().unwrap(), hex::encode(sha2::Sha256::digest(&bytes)));
    }
    // Human output: one line per file with the hash and the path.
    let out2 = app.path().join("out2");
    let o = app.bundle(&out2, &["--format", "deb"], &[]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 1);
    assert!(text.contains("hello-app_1.2.3_amd64.deb") && text.contains("KiB"), "{text}");
}

/// With `--json`, errors are `{"error": {"code", "message", "hint"}}` on stdout (one line; `hint` may be null), with
/// the exit code of the plain output: `2` bad input, `1` a failed build.
#[test]
fn json_errors_have_a_code_a_message_and_a_hint() {
    let app = TestApp::new();
    let out = app.path().join("out");
    let error = |args: &[&str], env: &[(&str, &str)], exit: i32| -> serde_json::Value {
        let o = app.bundle(&out, &[args, &["--json"]].concat(), env);
        assert_eq!(o.status.code(), Some(exit), "{}{}", stdout(&o), stderr(&o));
        assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
        let value: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let fields: Vec<&String> = value["error"].as_object().unwrap().keys().collect();
        assert_eq!(fields, ["code", "hint", "message"], "{value}");
        value["error"].clone()
    };
    assert_eq!(
        error(&["--format", "zip"], &[], 2),
        serde_json::json!({
            "code": "usage",
            "message": "unknown format `zip`",
            "hint": "use one or more of `deb`, `rpm`, `appimage`, `msi`, `nsis`, `app`, `dmg`, `updater`",
        })
    );
    assert_eq!(error(&["--format", "deb", "--bogus"], &[], 2)["code"], "usage");

    app.write_config(&app.default_config().replace("main = \"hello\"", "main = \"target/release/nope\""));
    let missing = error(&["--format", "deb"], &[], 2);
    assert_eq!(missing["code"], "missing_file");
    assert!(missing["message"].as_str().unwrap().ends_with("target/release/nope` does not exist"), "{missing}");
    assert!(missing["hint"].as_str().unwrap().starts_with("build it first"), "{missing}");

    // The cause of an I/O error is in the message, after the path.
    app.write_config(&app.default_config());
    std::fs::write(app.path().join("a-file"), "").unwrap();
    let o = app.bundle(&app.path().join("a-file/out"), &["--format", "deb", "--json"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let io: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(io["error"]["code"], "io");
    assert_eq!(io["error"]["hint"], serde_json::Value::Null);
    let message = io["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("could not create the output directory `") && message.contains("(os error 20)"),
        "{message}"
    );

    let public = millennium_sign::SecretKey::generate().unwrap().public_key();
    app.write_config(&format!(
        "{}\n[updater]\npubkey = \"{}\"\nartifact-base-url = \"https://releases.example.com/\"\n",
        app.default_config(),
        public.to_text(millennium_sign::Format::Minisign).replace('\n', "\\n")
    ));
    let unsigned = error(&["--format", "deb,updater"], &[], 1);
    assert_eq!(unsigned["code"], "signing_failed");
    assert!(unsigned["message"].as_str().unwrap().starts_with("could not sign `updater artifacts`: "), "{unsigned}");
    assert!(unsigned["hint"].as_str().unwrap().contains("MILLENNIUM_SIGNING_PRIVATE_KEY"), "{unsigned}");
    assert!(listing(&out).is_empty(), "{:?}", listing(&out));
}

#[test]
fn config_from_cargo_metadata() {
    let app = TestApp::bare();
    std::fs::write(
        app.path().join("Cargo.toml"),
        "[package]\nname = \"hello_meta\"\nversion = \"0.4.0-rc.1\"\ndescription = \"Hello from metadata\"\n\
         authors = [\"Meta Person <meta@example.com>\"]\nlicense = \"MIT\"\n\n\
         [package.metadata.millennium]\nidentifier = \"org.example.meta\"\nicons = [\"icon.png\"]\n\
         [package.metadata.millennium.binaries]\nmain = \"hello\"\n",
    )
    .unwrap();
    let out = app.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_millennium-bundler"))
        .args(["bundle", "--format", "deb,rpm", "--manifest-path"])
        .arg(app.path().join("Cargo.toml"))
        .arg("--out")
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Crate name and pre-release version carried over in each format's own syntax.
    assert_eq!(listing(&out), ["hello-meta-0.4.0~rc.1-1.x86_64.rpm", "hello-meta_0.4.0~rc.1_amd64.deb"]);
}

#[test]
fn updater_artifacts_are_signed_and_listed() {
    let key = millennium_sign::SecretKey::generate().unwrap();
    let key_text =
        key.seal(None, millennium_sign::KdfParams::INTERACTIVE).unwrap().to_text(millennium_sign::Format::Tauri);
    let public = key.public_key();
    let app = TestApp::new();
    app.write_config(&format!(
        "min-webview-version = {{ webkitgtk = \"2.44.1\", webview2 = \"124.0\" }}\n{}\n[updater]\npubkey = \"{}\"\nendpoints = [\"https://updates.example.com/{{{{target}}}}/{{{{current_version}}}}\"]\n\
         artifact-base-url = \"https://releases.example.com/hello/v1.2.3/\"\n",
        app.default_config(),
        public.to_text(millennium_sign::Format::Tauri)
    ));
    let out = app.path().join("out");
    let files =
        app.bundle_ok(&out, "deb,rpm,appimage,updater", &[("MILLENNIUM_SIGNING_PRIVATE_KEY", key_text.as_str())]);
    assert_eq!(files.len(), 8, "{files:?}");
    assert!(out.join("hello-app-x86_64.AppImage.zsync").is_file());
    for installer in ["hello-app_1.2.3_amd64.deb", "hello-app-1.2.3-1.x86_64.rpm", "hello-app_1.2.3_x86_64.AppImage"] {
        let sig_text = std::fs::read_to_string(out.join(format!("{installer}.sig"))).unwrap();
        let sig = millennium_sign::Signature::from_text(&sig_text).unwrap();
        sig.verify(&public, std::fs::File::open(out.join(installer)).unwrap()).unwrap();
        assert_eq!(sig.trusted_fields().file(), Some(installer));
        assert_eq!(sig.trusted_fields().version(), Some("1.2.3"));
        assert_eq!(sig.trusted_fields().timestamp(), Some(1_700_000_000));
    }
    let manifest = std::fs::read(out.join("hello-app_1.2.3_x86_64.update.json")).unwrap();
    let parsed = millennium_update_protocol::tauri::StaticManifest::parse(&manifest).unwrap();
    let keys: Vec<&str> = parsed.platforms().map(|(k, _)| k).collect();
    assert_eq!(keys, ["linux-x86_64", "linux-x86_64-appimage", "linux-x86_64-deb", "linux-x86_64-rpm"]);
    let deb = parsed.get("linux-x86_64-deb").unwrap();
    assert_eq!(deb.artifact().url().as_str(), "https://releases.example.com/hello/v1.2.3/hello-app_1.2.3_amd64.deb");
    assert_eq!(parsed.release().version().to_string(), "1.2.3");
    // Per platform: each Linux entry carries the WebKitGTK minimum (this build has no Windows entry for WebView2's).
    assert_eq!(parsed.release().min_webview_version(), None);
    for (key, entry) in parsed.platforms() {
        assert_eq!(entry.min_webview_version().map(ToString::to_string).as_deref(), Some("2.44.1"), "{key}");
    }

    // The AppImage's update information points at the "latest" zsync file under the same base URL.
    let bytes = std::fs::read(out.join("hello-app_1.2.3_x86_64.AppImage")).unwrap();
    let (offset, _) = millennium_bundler::linux::appimage::find_section(&bytes, ".upd_info").unwrap();
    assert!(
        bytes[offset..]
            .starts_with(b"zsync|https://releases.example.com/hello/v1.2.3/hello-app-x86_64.AppImage.zsync\0")
    );
}

#[test]
fn updater_without_key_fails_cleanly() {
    let app = TestApp::new();
    let public = millennium_sign::SecretKey::generate().unwrap().public_key();
    app.write_config(&format!(
        "{}\n[updater]\npubkey = \"{}\"\nartifact-base-url = \"https://releases.example.com/\"\n",
        app.default_config(),
        public.to_text(millennium_sign::Format::Minisign).replace('\n', "\\n")
    ));
    let out = app.path().join("out");
    let o = app.bundle(&out, &["--format", "deb,updater"], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("MILLENNIUM_SIGNING_PRIVATE_KEY"), "{}", stderr(&o));
    assert!(listing(&out).is_empty(), "{:?}", listing(&out));
}

fn assert_rejected(app: &TestApp, expected: &[&str]) {
    app.assert_rejected(&["--format", "deb,rpm,appimage"], &[], expected);
}

#[test]
fn rejects_missing_binary() {
    let app = TestApp::new();
    app.write_config(&app.default_config().replace("main = \"hello\"", "main = \"target/release/nope\""));
    assert_rejected(&app, &["binary", "target/release/nope", "does not exist", "hint:"]);
}

#[test]
fn rejects_icon_that_is_not_png() {
    let app = TestApp::new();
    std::fs::write(app.path().join("icon.png"), "<svg/>").unwrap();
    assert_rejected(&app, &["icon", "icon.png", "not a PNG"]);
}

#[test]
fn rejects_icon_that_is_not_square() {
    let app = TestApp::new();
    write_png(&app.path().join("icon.png"), 64, 32);
    assert_rejected(&app, &["icon.png", "64x32, not square"]);
}

#[test]
fn rejects_non_semver_version() {
    let app = TestApp::new();
    app.write_config(&app.default_config().replace("version = \"1.2.3\"", "version = \"1.2\""));
    assert_rejected(&app, &["`version`", "Millennium.toml", "not a semantic version"]);
}

#[test]
fn rejects_invalid_min_webview_version() {
    let app = TestApp::new();
    app.write_config(&format!("min-webview-version = \"2.x\"\n{}", app.default_config()));
    assert_rejected(&app, &["`min-webview-version`", "Millennium.toml", "`2.x` is not a valid webview version"]);
    for (value, says) in [
        ("{ gecko = \"120\" }", "unknown webview backend `gecko`: use `webkitgtk` (Linux)"),
        ("{ webview2 = \"124.x\" }", "`webview2`: `124.x` is not a valid webview version"),
        ("\"webkitgtk=2.44,webkitgtk=2.46\"", "`webkitgtk` is given twice"),
    ] {
        app.write_config(&format!("min-webview-version = {value}\n{}", app.default_config()));
        assert_rejected(&app, &["`min-webview-version`", "Millennium.toml", says]);
    }
}

#[test]
fn rejects_illegal_identifier() {
    let app = TestApp::new();
    app.write_config(&app.default_config().replace("com.example.hello", "com.example.hello world"));
    assert_rejected(&app, &["`identifier`", "Millennium.toml", "illegal character ` `"]);
}

#[test]
fn rejects_resource_glob_matching_nothing() {
    let app = TestApp::new();
    app.write_config(
        &app.default_config()
            .replace("resources = [\"assets/**/*.txt\"]", "resources = [\"assets/*.txt\", \"missing/*.dat\"]"),
    );
    assert_rejected(&app, &["`resources[1]`", "missing/*.dat", "matches no file"]);
}

#[test]
fn rejects_unknown_key() {
    let app = TestApp::new();
    app.write_config(&(app.default_config() + "\n[deb]\ndepend = [\"x\"]\n"));
    assert_rejected(&app, &["Millennium.toml", "deb.depend", "unknown field"]);
}

#[test]
fn rejects_binary_for_another_architecture() {
    let app = TestApp::new();
    let out = app.path().join("out");
    let o = app.bundle(&out, &["--format", "deb", "--target", "aarch64"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not aarch64"), "{}", stderr(&o));
    assert!(listing(&out).is_empty());
}

#[test]
fn import_tauri_then_bundle() {
    let app = TestApp::bare();
    std::fs::write(
        app.path().join("tauri.conf.json"),
        r#"{ "productName": "Tauri Hello", "version": "2.0.1", "identifier": "com.example.tauri-hello",
             "bundle": { "icon": ["icon.png", "icon.icns"], "category": "DeveloperTool", "publisher": "Pub <pub@example.com>",
                         "shortDescription": "Imported from Tauri", "resources": ["assets/data.txt"],
                         "linux": { "deb": { "depends": ["xdg-utils"] } } } }"#,
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_millennium-bundler"))
        .arg("import-tauri")
        .arg(app.path().join("tauri.conf.json"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(app.manifest()).unwrap();
    assert!(text.contains("identifier = \"com.example.tauri-hello\""), "{text}");
    // A second import does not overwrite without --force.
    let again = Command::new(env!("CARGO_BIN_EXE_millennium-bundler"))
        .arg("import-tauri")
        .arg(app.path().join("tauri.conf.json"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));

    // The imported file bundles as is, with the binary given on the command line.
    assert!(text.contains("package-name = \"tauri-hello\""), "{text}");
    let out = app.path().join("out");
    let binary = app.path().join("hello");
    let o = app.bundle(&out, &["--format", "deb", "--binary", binary.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let deb = find(&out, ".deb");
    assert_eq!(deb.file_name().unwrap(), "tauri-hello_2.0.1_amd64.deb");
    let depends = run("dpkg-deb", &["--field", deb.to_str().unwrap(), "Depends"]);
    assert!(depends.contains("xdg-utils") && depends.contains("zlib1g"), "{depends}");
    let contents = run("dpkg-deb", &["--contents", deb.to_str().unwrap()]);
    assert!(contents.contains("./usr/lib/tauri-hello/assets/data.txt"), "{contents}");
}

/// Builds a provider package for an rpm database: `name-version` providing `provides`.
fn provider_rpm(dir: &Path, name: &str, version: &str, provides: &[String]) -> std::path::PathBuf {
    let mut builder = rpm::PackageBuilder::new(name, version, "MIT", "x86_64", "stands in for a system package");
    for p in provides {
        builder.provides(rpm::Dependency::any(p.clone()));
    }
    let path = dir.join(format!("{name}-{version}.rpm"));
    builder.build().expect("a provider package builds").write_file(&path).expect("the provider package is written");
    path
}

/// `min-webview-version` raises the rpm's WebKitGTK requirement the way it raises the deb's `Depends`: a binary
/// linking WebKitGTK gets `(webkit2gtk4.1 >= MIN or libwebkit2gtk-4_1-0 >= MIN)`, which the real `rpm` resolves
/// against Fedora's and openSUSE's package names and refuses to install over an older WebKitGTK.
#[test]
fn rpm_requires_webkitgtk_of_the_minimum_version() {
    require_tool("rpm", "rpm");
    let app = TestApp::linking_webkitgtk();
    // The table form: the rpm takes the WebKitGTK entry (WebView2's means nothing to Linux).
    app.write_config(&format!(
        "min-webview-version = {{ webkitgtk = \"2.44\", webview2 = \"124.0\" }}\n{}",
        app.default_config()
    ));
    let out = app.path().join("out");
    app.bundle_ok(&out, "rpm", &[]);
    let package = find(&out, ".rpm");
    let package = package.to_str().unwrap();
    let requires = run("rpm", &["-qp", "--requires", package]);
    for req in [
        "libwebkit2gtk-4.1.so.0()(64bit)",
        "(webkit2gtk4.1 >= 2.44 or libwebkit2gtk-4_1-0 >= 2.44)",
        "rpmlib(RichDependencies) <= 4.12.0-1",
    ] {
        assert!(requires.lines().any(|l| l == req), "missing {req}:\n{requires}");
    }

    // The requirement as rpm resolves it, in databases holding every other requirement and some WebKitGTK.
    let others: Vec<String> =
        requires.lines().filter(|l| !l.starts_with("rpmlib(") && !l.starts_with('(')).map(str::to_owned).collect();
    let dir = app.path().join("providers");
    std::fs::create_dir_all(&dir).unwrap();
    let base = provider_rpm(&dir, "base-system", "1.0", &others);
    let installable = |webkit: &[(&str, &str)]| -> (bool, String) {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().to_str().unwrap();
        let mut packages = vec![base.clone()];
        packages.extend(webkit.iter().map(|(name, version)| provider_rpm(&dir, name, version, &[])));
        let mut args = vec!["-i", "--justdb", "--nodeps", "--root", root];
        args.extend(packages.iter().map(|p| p.to_str().unwrap()));
        run("rpm", &args);
        let o = Command::new("rpm").args(["-i", "--test", "--root", root, package]).output().unwrap();
        (o.status.success(), stdout(&o) + &stderr(&o))
    };
    let (ok, text) = installable(&[("webkit2gtk4.1", "2.42.5")]);
    assert!(!ok, "installed over WebKitGTK 2.42.5:\n{text}");
    assert!(text.contains("(webkit2gtk4.1 >= 2.44 or libwebkit2gtk-4_1-0 >= 2.44) is needed by hello-app"), "{text}");
    for webkit in [("webkit2gtk4.1", "2.44.0"), ("webkit2gtk4.1", "2.46.1"), ("libwebkit2gtk-4_1-0", "2.44.3")] {
        let (ok, text) = installable(&[webkit]);
        assert!(ok, "{webkit:?}: {text}");
    }
    let (ok, text) = installable(&[("libwebkit2gtk-4_1-0", "2.40.0")]);
    assert!(!ok, "installed over openSUSE's WebKitGTK 2.40:\n{text}");

    // Without a minimum, only the soname is required.
    app.write_config(&app.default_config());
    let plain = app.path().join("plain");
    app.bundle_ok(&plain, "rpm", &[]);
    let requires = run("rpm", &["-qp", "--requires", find(&plain, ".rpm").to_str().unwrap()]);
    assert!(requires.lines().any(|l| l == "libwebkit2gtk-4.1.so.0()(64bit)"), "{requires}");
    assert!(!requires.contains("webkit2gtk4.1"), "{requires}");
}

/// An AppImage of an app that links WebKitGTK starts it through the webview launcher (so that a missing WebKitGTK
/// gives the launcher's clear message, not the loader's error): `AppRun` passes the app name, the minimum and every
/// argument, run by the real AppImage runtime. Without a launcher the bundle is refused; an app that does not link
/// WebKitGTK keeps the plain `AppRun` symlink.
#[test]
fn appimage_starts_a_webkitgtk_app_through_the_webview_launcher() {
    let app = TestApp::linking_webkitgtk();
    app.write_config(&format!("min-webview-version = \"2.44\"\n{}", app.default_config()));
    app.assert_rejected(
        &["--format", "appimage"],
        &[],
        &[
            "webview launcher for the AppImage",
            "millennium-webview-probe",
            "`millennium build` builds it next to the app",
        ],
    );

    // A stand-in launcher that shows how it was called, then runs the app as `launch` does.
    let launcher = app.path().join("millennium-webview-probe");
    std::fs::write(
        &launcher,
        "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done; echo\nwhile [ \"$1\" != -- ]; do shift; done\nshift\nexec \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&launcher, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = app.path().join("out");
    app.bundle_ok(&out, "appimage", &[]);
    let image = find(&out, ".AppImage");
    let o = Command::new(&image).args(["one", "two words"]).env("APPIMAGE_EXTRACT_AND_RUN", "1").output().unwrap();
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    let mut lines = text.lines();
    let call = lines.next().unwrap();
    assert!(call.starts_with("[launch][--app-name][Hello App][--min][2.44][--]["), "{call}");
    assert!(call.ends_with("/usr/bin/hello][one][two words]"), "{call}");
    assert_eq!(lines.next(), Some("web app, WebKitGTK 2, 2 args"));

    // `appimage.webview-launcher` names another file.
    std::fs::rename(&launcher, app.path().join("launcher")).unwrap();
    app.write_config(&format!("{}\n[appimage]\nwebview-launcher = \"launcher\"\n", app.default_config()));
    let other = app.path().join("other");
    app.bundle_ok(&other, "appimage", &[]);
    let o = Command::new(find(&other, ".AppImage")).env("APPIMAGE_EXTRACT_AND_RUN", "1").output().unwrap();
    assert!(stdout(&o).starts_with("[launch][--app-name][Hello App][--]["), "{}", stdout(&o));

    // A launcher built for another architecture is refused.
    let mut foreign = std::fs::read(app.path().join("hello")).unwrap();
    foreign[18..20].copy_from_slice(&183u16.to_le_bytes());
    std::fs::write(app.path().join("launcher"), foreign).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    app.assert_rejected(&["--format", "appimage"], &[], &["launcher", "not x86_64"]);

    // An app without WebKitGTK needs no launcher.
    let plain = TestApp::new();
    let out = plain.path().join("out");
    plain.bundle_ok(&out, "appimage", &[]);
    let listing = run(
        "unsquashfs",
        &["-lls", "-o", &appimage_offset(&find(&out, ".AppImage")), find(&out, ".AppImage").to_str().unwrap()],
    );
    assert!(listing.lines().any(|l| l.contains("squashfs-root/AppRun -> usr/bin/hello")), "{listing}");
}

/// A webview launcher the caller is still making (`Options::launcher`, as `millennium build` compiles it) holds back
/// the AppImage alone: here it appears only once the deb and the rpm are finished, so a bundle that waited for it up
/// front would never get there. The AppImage then contains it. A launcher that will not come fails the bundle with
/// the caller's reason, and nothing is written.
#[test]
fn a_pending_webview_launcher_holds_back_the_appimage_alone() {
    use millennium_bundler::{Arch, Finished, Options, Pending, Progress};
    use std::sync::mpsc;

    /// Sends each finished installer's name.
    struct Finishing(mpsc::Sender<String>);
    impl Progress for Finishing {
        fn step(&self, _message: &str) {}
        fn finished(&self, installer: &Finished<'_>) {
            let _ = self.0.send(installer.name.to_owned());
        }
    }

    let app = TestApp::linking_webkitgtk();
    app.write_config(&app.default_config());
    let env = |name: &str| (name == millennium_bundler::SOURCE_DATE_EPOCH).then(|| EPOCH.to_owned());
    let options = |out: &str, launcher: Pending| Options {
        manifest_path: app.manifest(),
        formats: ["deb", "rpm", "appimage"].iter().map(|f| f.parse().unwrap()).collect(),
        arch: Arch::host().unwrap(),
        out_dir: app.path().join(out),
        overrides: millennium_bundler::config::Overrides::default(),
        launcher: Some(launcher),
    };

    let (pending, resolver) = Pending::new();
    let (sender, finished) = mpsc::channel();
    let launcher = app.path().join("millennium-webview-probe");
    let (report, before_launcher) = std::thread::scope(|scope| {
        let maker = scope.spawn(move || {
            let mut before: Vec<String> =
                (0..2).map_while(|_| finished.recv_timeout(Duration::from_secs(30)).ok()).collect();
            before.sort();
            std::fs::write(&launcher, "#!/bin/sh\n").unwrap();
            resolver.resolve(Ok(()));
            before
        });
        let report = millennium_bundler::bundle(&options("out", pending), &env, &Finishing(sender));
        (report, maker.join().unwrap())
    });
    let report = report.unwrap_or_else(|e| panic!("{}", e.report()));
    assert_eq!(
        before_launcher,
        ["hello-app-1.2.3-1.x86_64.rpm", "hello-app_1.2.3_amd64.deb"].map(String::from).to_vec()
    );
    assert!(report.files.iter().any(|f| f.format == "appimage"), "{report:?}");
    let image = find(&app.path().join("out"), ".AppImage");
    let listed = run("unsquashfs", &["-l", "-o", &appimage_offset(&image), image.to_str().unwrap()]);
    assert!(listed.contains("usr/lib/hello-app/millennium-webview-probe"), "{listed}");

    let (pending, resolver) = Pending::new();
    resolver.resolve(Err("cargo could not build it".into()));
    let failed = millennium_bundler::bundle(&options("failed", pending), &env, &millennium_bundler::NoProgress);
    let error = failed.expect_err("bundled without the launcher");
    assert_eq!(error.to_string(), "the webview launcher was not made: cargo could not build it");
    assert!(listing(&app.path().join("failed")).is_empty(), "{:?}", listing(&app.path().join("failed")));
}
