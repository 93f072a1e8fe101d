//! macOS outputs built on Linux, checked with independent tools: `plistutil` (Info.plist), `icns2png` (icon), `7z`
//! (universal binary, disk image, HFS+ volume), `dmg2img` (UDIF), `tar` and `minisign` (updater artifact),
//! ImageMagick's `identify` (the two-resolution background).

#![allow(clippy::unwrap_used)] // test helpers: failures should panic with the error

use std::path::Path;
use std::process::Command;

use crate::common::*;
use millennium_testing::{listing, require_tool};

/// The test app with macOS executables (written by [`macho_executable`]) next to its Linux build.
fn mac_app() -> TestApp {
    let app = TestApp::bare();
    std::fs::write(app.path().join("hello-x86_64"), macho_executable("x86_64", "slice-x86_64")).unwrap();
    std::fs::write(app.path().join("hello-arm64"), macho_executable("arm64", "slice-arm64")).unwrap();
    app.write_config(&mac_config(&app, "main = \"hello-x86_64\""));
    app
}

fn mac_config(app: &TestApp, binaries: &str) -> String {
    app.default_config().replace("main = \"hello\"", binaries)
        + "\n[macos]\nminimum-system-version = \"11.0\"\ncategory = \"public.app-category.developer-tools\"\n\
           copyright = \"© 2023 Test Person\"\n\
           [[macos.file-associations]]\nextensions = [\"hello\", \"hi\"]\nname = \"Hello document\"\nrole = \"Viewer\"\n"
}

fn bundle_mac(app: &TestApp, out: &Path, formats: &str, env: &[(&str, &str)]) -> std::process::Output {
    app.bundle(out, &["--format", formats, "--target", "x86_64", "--json"], env)
}

fn ok(o: &std::process::Output) {
    assert!(o.status.success(), "bundle failed: {}\n{}", stderr(o), stdout(o));
}

fn plist_dict(path: &Path) -> plist::Dictionary {
    plist::Value::from_file(path).unwrap().into_dictionary().unwrap()
}

#[test]
fn app_has_the_bundle_layout_info_plist_and_icns() {
    require_tool("plistutil", "libplist-utils");
    require_tool("icns2png", "icnsutils");
    let app = mac_app();
    let out = app.path().join("out");
    let o = bundle_mac(&app, &out, "app", &[]);
    ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["files"][0]["format"], "app");
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("macOS signing skipped: no certificate: set `APPLE_CERTIFICATE`")),
        "{warnings:?}"
    );

    let bundle = out.join("Hello App.app");
    assert_eq!(listing(&out), ["Hello App.app"]);
    let exe = bundle.join("Contents/MacOS/hello-x86_64");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&exe).unwrap().permissions().mode() & 0o777, 0o755);
    assert_eq!(std::fs::read(&exe).unwrap(), macho_executable("x86_64", "slice-x86_64"));
    assert_eq!(std::fs::read_to_string(bundle.join("Contents/PkgInfo")).unwrap(), "APPL????");
    assert_eq!(std::fs::read_to_string(bundle.join("Contents/Resources/assets/data.txt")).unwrap(), "resource\n");

    // plistutil (libplist) reads it and converts it to the binary form and back.
    let info = bundle.join("Contents/Info.plist");
    let bin = app.path().join("Info.bplist");
    run("plistutil", &["-i", info.to_str().unwrap(), "-o", bin.to_str().unwrap(), "-f", "bin"]);
    assert!(std::fs::read(&bin).unwrap().starts_with(b"bplist00"));
    let d = plist_dict(&bin);
    let s = |k: &str| d.get(k).and_then(|v| v.as_string()).unwrap_or_else(|| panic!("missing {k}: {d:?}")).to_owned();
    assert_eq!(s("CFBundleIdentifier"), "com.example.hello");
    assert_eq!(s("CFBundleExecutable"), "hello-x86_64");
    assert_eq!(s("CFBundleName"), "Hello App");
    assert_eq!(s("CFBundleShortVersionString"), "1.2.3");
    assert_eq!(s("CFBundleVersion"), "1.2.3");
    assert_eq!(s("CFBundlePackageType"), "APPL");
    assert_eq!(s("CFBundleIconFile"), "AppIcon.icns");
    assert_eq!(s("LSMinimumSystemVersion"), "11.0");
    assert_eq!(s("LSApplicationCategoryType"), "public.app-category.developer-tools");
    assert_eq!(s("NSHumanReadableCopyright"), "© 2023 Test Person");
    assert_eq!(d.get("NSHighResolutionCapable").and_then(|v| v.as_boolean()), Some(true));
    let url = &d["CFBundleURLTypes"].as_array().unwrap()[0].as_dictionary().unwrap().clone();
    assert_eq!(url["CFBundleURLSchemes"].as_array().unwrap()[0].as_string(), Some("hello"));
    let doc = d["CFBundleDocumentTypes"].as_array().unwrap()[0].as_dictionary().unwrap().clone();
    assert_eq!(doc["CFBundleTypeRole"].as_string(), Some("Viewer"));
    assert_eq!(doc["CFBundleTypeExtensions"].as_array().unwrap().len(), 2);

    // icns2png (libicns) lists and extracts every size up to the 128x128 source.
    let icns = bundle.join("Contents/Resources/AppIcon.icns");
    let listing_text = run("icns2png", &["-l", icns.to_str().unwrap()]);
    for size in ["16x16", "32x32", "48x48", "128x128"] {
        assert!(listing_text.contains(size), "missing {size}:\n{listing_text}");
    }
    assert!(!listing_text.contains("256x256"), "no upscaled icons:\n{listing_text}");
    let x = app.path().join("icons");
    std::fs::create_dir_all(&x).unwrap();
    run("icns2png", &["-x", "-o", x.to_str().unwrap(), icns.to_str().unwrap()]);
    let pngs = listing(&x);
    assert!(pngs.iter().any(|p| p.ends_with("128x128x32.png")), "{pngs:?}");
    let extracted = image::open(x.join(pngs.iter().find(|p| p.ends_with("128x128x32.png")).unwrap())).unwrap();
    assert_eq!(extracted.to_rgba8(), image::open(app.path().join("icon.png")).unwrap().to_rgba8());
}

#[test]
fn universal_binary_holds_both_slices() {
    require_tool("7z", "7zip");
    let app = mac_app();
    app.write_config(
        &mac_config(&app, "").replace("[macos]\n", "[macos]\nuniversal = [\"hello-arm64\", \"hello-x86_64\"]\n"),
    );
    let out = app.path().join("out");
    let o = bundle_mac(&app, &out, "app", &[]);
    ok(&o);
    // The test's arm64 slice has no code signature, which Apple silicon requires: the run warns.
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("MacOS/hello-arm64` has arm64 code without a code signature")),
        "{warnings:?}"
    );
    let exe = out.join("Hello App.app/Contents/MacOS/hello-arm64");
    let bytes = std::fs::read(&exe).unwrap();
    assert!(bytes.starts_with(&[0xca, 0xfe, 0xba, 0xbe]));
    let inspected = millennium_bundler::macos::macho::inspect(&exe, &bytes).unwrap();
    assert!(inspected.universal);
    assert_eq!(inspected.arches, [millennium_bundler::Arch::X86_64, millennium_bundler::Arch::Aarch64]);

    // 7-Zip's Mach-O universal ("Mub") handler lists and extracts the two slices unchanged.
    let listing_text = run("7z", &["l", exe.to_str().unwrap()]);
    assert!(listing_text.contains("Type = Mub"), "{listing_text}");
    let x = app.path().join("slices");
    run("7z", &["x", "-y", &format!("-o{}", x.display()), exe.to_str().unwrap()]);
    let mut slices: Vec<Vec<u8>> = listing(&x).iter().map(|n| std::fs::read(x.join(n)).unwrap()).collect();
    slices.sort();
    let mut expected = vec![macho_executable("x86_64", "slice-x86_64"), macho_executable("arm64", "slice-arm64")];
    expected.sort();
    assert_eq!(slices, expected);
}

fn signing_key() -> (String, millennium_sign::PublicKey) {
    let key = millennium_sign::SecretKey::generate().unwrap();
    let text = key.seal(None, millennium_sign::KdfParams::INTERACTIVE).unwrap().to_text(millennium_sign::Format::Tauri);
    (text.to_string(), key.public_key())
}

#[test]
fn updater_tarball_is_signed_and_unpacks_to_the_app() {
    require_tool("minisign", "minisign");
    let (key_text, public) = signing_key();
    let app = mac_app();
    app.write_config(&format!(
        "{}\n[updater]\npubkey = \"{}\"\nartifact-base-url = \"https://releases.example.com/hello/v1.2.3/\"\n",
        mac_config(&app, "").replace("[macos]\n", "[macos]\nuniversal = [\"hello-arm64\", \"hello-x86_64\"]\n"),
        public.to_text(millennium_sign::Format::Tauri)
    ));
    let out = app.path().join("out");
    ok(&bundle_mac(&app, &out, "app,updater", &[("MILLENNIUM_SIGNING_PRIVATE_KEY", key_text.as_str())]));
    assert_eq!(
        listing(&out),
        ["Hello App.app", "Hello App.app.tar.gz", "Hello App.app.tar.gz.sig", "hello-app_1.2.3_universal.update.json"]
    );
    let tarball = out.join("Hello App.app.tar.gz");

    // Every entry's first component is the .app, as Tauri's updater expects (it strips it when installing).
    let entries = run("tar", &["-tzvf", tarball.to_str().unwrap()]);
    for line in entries.lines() {
        assert!(line.contains(" Hello App.app/"), "{line}");
        assert!(line.contains("root/root") && line.contains("2023-11-14 22:13"), "{line}");
    }
    assert!(entries.contains("-rwxr-xr-x root/root"), "{entries}");
    let x = app.path().join("unpacked");
    std::fs::create_dir_all(&x).unwrap();
    run("tar", &["-xzf", tarball.to_str().unwrap(), "-C", x.to_str().unwrap()]);
    let diff = Command::new("diff").arg("-r").arg(x.join("Hello App.app")).arg(out.join("Hello App.app")).output();
    assert!(diff.unwrap().status.success());

    // minisign verifies the signature (the .sig is Tauri's base64 of the minisign signature file).
    let sig = std::fs::read_to_string(out.join("Hello App.app.tar.gz.sig")).unwrap();
    let comment = millennium_testing::keys::minisign_verify(&tarball, &sig, &public);
    assert!(comment.contains("file:Hello App.app.tar.gz\tversion:1.2.3"), "{comment}");

    // The manifest serves the universal app to both architectures, with and without a bundle type.
    let manifest = std::fs::read(out.join("hello-app_1.2.3_universal.update.json")).unwrap();
    let parsed = millennium_update_protocol::tauri::StaticManifest::parse(&manifest).unwrap();
    let keys: Vec<&str> = parsed.platforms().map(|(k, _)| k).collect();
    // (`macos-*` keys are for cargo-packager's updater, which the protocol crate serves too.)
    assert_eq!(
        keys,
        ["darwin-aarch64", "darwin-aarch64-app", "darwin-x86_64", "darwin-x86_64-app", "macos-aarch64", "macos-x86_64"]
    );
    let artifact = parsed.get("darwin-aarch64-app").unwrap().artifact();
    assert_eq!(artifact.url().as_str(), "https://releases.example.com/hello/v1.2.3/Hello%20App.app.tar.gz");
}

/// The `dmg2img` and `7z` views of a disk image must agree with the bundle.
fn check_volume(listing_text: &str) {
    for path in [
        "Hello App.app/Contents/Info.plist",
        "Hello App.app/Contents/MacOS/hello-x86_64",
        "Hello App.app/Contents/Resources/AppIcon.icns",
        "Hello App.app/Contents/Resources/assets/sub/more.txt",
        "Applications",
        ".DS_Store",
        ".VolumeIcon.icns",
        ".background/background.tiff",
    ] {
        assert!(listing_text.lines().any(|l| l.ends_with(path)), "missing {path}:\n{listing_text}");
    }
}

#[test]
fn dmg_holds_an_hfs_volume_that_7z_and_dmg2img_read() {
    require_tool("7z", "7zip");
    require_tool("dmg2img", "dmg2img");
    let app = mac_app();
    write_png(&app.path().join("bg.png"), 330, 200);
    write_png(&app.path().join("bg@2x.png"), 660, 400);
    app.write_config(&format!(
        "{}\n[dmg]\nbackground = \"bg.png\"\nbackground-2x = \"bg@2x.png\"\nvolume-name = \"Hello Installer\"\n",
        mac_config(&app, "main = \"hello-x86_64\"")
    ));
    let out = app.path().join("out");
    ok(&bundle_mac(&app, &out, "dmg", &[]));
    assert_eq!(listing(&out), ["Hello App_1.2.3_x86_64.dmg"]);
    let dmg = out.join("Hello App_1.2.3_x86_64.dmg");
    let bytes = std::fs::read(&dmg).unwrap();
    assert_eq!(&bytes[bytes.len() - 512..bytes.len() - 508], b"koly");

    // 7-Zip opens the UDIF image, finds the HFS partition and lists the file system in it.
    let tested = run("7z", &["t", dmg.to_str().unwrap()]);
    assert!(tested.contains("Everything is Ok"), "{tested}");
    let listing_text = run("7z", &["l", dmg.to_str().unwrap()]);
    assert!(listing_text.contains("Type = Dmg"), "{listing_text}");
    assert!(listing_text.contains("Type = HFS"), "{listing_text}");
    check_volume(&listing_text);
    let slt = run("7z", &["l", "-slt", dmg.to_str().unwrap()]);
    let link = slt.split("\n\n").find(|e| e.contains("Path = Hello Installer/Applications\n")).unwrap();
    assert!(link.contains("Mode = lrwxr-xr-x") && link.contains("Size = 13\n"), "{link}");
    let target =
        Command::new("7z").args(["e", "-so", dmg.to_str().unwrap(), "Hello Installer/Applications"]).output().unwrap();
    assert_eq!(target.stdout, b"/Applications");

    let x = app.path().join("x");
    run("7z", &["x", "-snl", "-y", &format!("-o{}", x.display()), dmg.to_str().unwrap()]);
    let x = x.join("Hello Installer");
    // 7-Zip re-roots absolute link targets under the output directory when it extracts them.
    assert!(std::fs::read_link(x.join("Applications")).unwrap().ends_with("Applications"));
    let extracted = x.join("Hello App.app/Contents/MacOS/hello-x86_64");
    assert_eq!(std::fs::read(&extracted).unwrap(), macho_executable("x86_64", "slice-x86_64"));
    let info = std::fs::read(x.join("Hello App.app/Contents/Info.plist")).unwrap();
    assert!(String::from_utf8_lossy(&info).contains("<string>com.example.hello</string>"));
    let ds_store = std::fs::read(x.join(".DS_Store")).unwrap();
    assert_eq!(&ds_store[..8], b"\0\0\0\x01Bud1");
    for name in ["Hello App.app", "Applications"] {
        let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let at = ds_store.windows(utf16.len()).position(|w| w == utf16).unwrap_or_else(|| panic!("no {name} record"));
        assert_eq!(&ds_store[at + utf16.len()..at + utf16.len() + 8], b"Ilocblob");
    }

    // The background is one TIFF holding the 1x picture at 72 dpi and the 2x one at 144 dpi.
    if Command::new("identify").arg("-version").output().is_ok() {
        let frames =
            run("identify", &["-format", "%w %h %x\n", x.join(".background/background.tiff").to_str().unwrap()]);
        let frames: Vec<&str> = frames.lines().collect();
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(frames[0].starts_with("330 200 72") && frames[1].starts_with("660 400 144"), "{frames:?}");
    }

    // dmg2img decompresses the UDIF chunks (checking their CRC-32s) into the raw HFS+ volume, which 7z reads too.
    let raw = app.path().join("volume.img");
    let o = Command::new("dmg2img").arg("-v").arg(&dmg).arg(&raw).output().unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let raw_bytes = std::fs::read(&raw).unwrap();
    assert_eq!(&raw_bytes[1024..1026], b"HX", "HFSX volume header");
    let raw_listing = run("7z", &["l", "-tHFS", raw.to_str().unwrap()]);
    check_volume(&raw_listing);

    // The `hfsplus` crate, which looks paths up through the catalog B-tree, finds the same files; the background's
    // catalog node IDs are the ones the alias in the `.DS_Store` names.
    let mut volume = hfsplus::HfsVolume::open(std::fs::File::open(&raw).unwrap()).unwrap();
    assert_eq!(volume.stat("/.background").unwrap().cnid, 16);
    assert_eq!(volume.stat("/.background/background.tiff").unwrap().cnid, 17);
    assert_eq!(volume.stat("/Applications").unwrap().kind, hfsplus::EntryKind::Symlink);
    assert_eq!(volume.read_file("/Applications").unwrap(), b"/Applications");
    assert_eq!(volume.read_file("/.DS_Store").unwrap(), ds_store);
    assert_eq!(
        volume.read_file("/Hello App.app/Contents/MacOS/hello-x86_64").unwrap(),
        std::fs::read(&extracted).unwrap()
    );

    // The Python `ds_store` and `mac_alias` packages (the reference readers of both formats) read the window
    // layout and resolve the background alias to the picture's catalog node IDs and paths.
    let layout = python_ds_store(&x.join(".DS_Store"));
    assert_eq!(
        layout,
        [
            "bwsp {{200, 120}, {330, 200}} False",
            "icvp 2 128",
            "alias Hello Installer H+ background.tiff 16 17 Hello Installer:.background:background.tiff \
             /.background/background.tiff /Volumes/Hello Installer",
            "vSrn . 1",
            "Iloc Applications 247 86",
            "Iloc Hello App.app 82 86",
        ]
    );
}

/// Reads a `.DS_Store` with the Python `ds_store` package (and the background alias with `mac_alias`); one line per
/// record. `scripts/test` installs both into the build directory and sets `MILLENNIUM_TEST_PYTHONPATH`.
fn python_ds_store(path: &Path) -> Vec<String> {
    const SCRIPT: &str = r#"
import sys
from ds_store import DSStore
from mac_alias import Alias
with DSStore.open(sys.argv[1], "r") as d:
    for e in d:
        if e.code == b"bwsp":
            print("bwsp", e.value["WindowBounds"], e.value["ShowToolbar"])
        elif e.code == b"icvp":
            print("icvp", e.value["backgroundType"], int(e.value["iconSize"]))
            if "backgroundImageAlias" in e.value:
                a = Alias.from_bytes(e.value["backgroundImageAlias"])
                print("alias", a.volume.name, a.volume.fs_type.decode(), a.target.filename, a.target.folder_cnid,
                      a.target.cnid, a.target.carbon_path.decode(), a.target.posix_path, a.volume.posix_path)
        elif e.code == b"Iloc":
            print("Iloc", e.filename, *e.value)
        else:
            print(e.code.decode(), e.filename, e.value)
"#;
    let pythonpath = std::env::var("MILLENNIUM_TEST_PYTHONPATH").unwrap_or_default();
    let o = Command::new("python3").arg("-c").arg(SCRIPT).arg(path).env("PYTHONPATH", &pythonpath).output().unwrap();
    assert!(
        o.status.success(),
        "the Python `ds_store` reader failed (install it with `pip install --target DIR ds-store mac-alias` and set \
         MILLENNIUM_TEST_PYTHONPATH=DIR, as scripts/test does):\n{}",
        stderr(&o)
    );
    stdout(&o).lines().map(str::to_owned).collect()
}

/// A volume big enough for a catalog B-tree with index nodes: every file is found through the index by the
/// `hfsplus` crate and listed by 7-Zip, with mixed-case, decomposed and non-ASCII names.
#[test]
fn hfs_catalog_with_index_nodes_reads_back() {
    use millennium_bundler::macos::hfsplus::{BLOCK_SIZE, Entry, Kind, Options, build};
    use unicode_normalization::UnicodeNormalization;
    require_tool("7z", "7zip");
    let mut entries = Vec::new();
    let names = ["alpha", "Beta", "café", "Ωmega", "zeta", "ZETA", "数据"];
    for (d, dir) in names.iter().enumerate() {
        entries.push(Entry { path: (*dir).into(), kind: Kind::Dir, finder_flags: 0 });
        for i in 0..300 {
            let path = format!("{dir}/file-{i:03}-{}.txt", names[i % names.len()]);
            let data = format!("{d}:{i}\n").repeat(i % 5);
            entries.push(Entry { path, kind: Kind::File { data: data.into_bytes(), mode: 0o644 }, finder_flags: 0 });
        }
        entries.push(Entry { path: format!("{dir}/link"), kind: Kind::Symlink(format!("../{dir}")), finder_flags: 0 });
    }
    let options = Options { volume_name: "Many Files".into(), epoch: 1_700_000_000, root_finder_flags: 0 };
    let image = build(&options, &entries).unwrap();
    // The catalog's first extent (volume header offset 288) and its tree depth (header record, first field).
    let be32 = |at: usize| u32::from_be_bytes(image.bytes[at..at + 4].try_into().unwrap()) as usize;
    let catalog = be32(1024 + 288) * BLOCK_SIZE as usize;
    let depth = u16::from_be_bytes([image.bytes[catalog + 14], image.bytes[catalog + 15]]);
    assert!(depth >= 3, "depth {depth}: the test should need index nodes");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("volume.img");
    std::fs::write(&path, &image.bytes).unwrap();

    let mut volume = hfsplus::HfsVolume::open(std::fs::File::open(&path).unwrap()).unwrap();
    let walked = volume.walk().unwrap();
    assert_eq!(walked.len(), entries.len());
    for (i, entry) in entries.iter().enumerate() {
        // HFS+ stores names decomposed (macOS decomposes names before looking them up); so does this lookup.
        let lookup = format!("/{}", entry.path.nfd().collect::<String>());
        let stat = volume.stat(&lookup).unwrap_or_else(|e| panic!("{lookup}: {e}"));
        assert_eq!(stat.cnid, millennium_bundler::macos::hfsplus::cnid(i), "{lookup}");
        match &entry.kind {
            Kind::File { data, .. } => assert_eq!(&volume.read_file(&lookup).unwrap(), data, "{lookup}"),
            Kind::Symlink(target) => assert_eq!(volume.read_file(&lookup).unwrap(), target.as_bytes()),
            Kind::Dir => assert_eq!(stat.kind, hfsplus::EntryKind::Directory),
        }
    }
    let listing_text = run("7z", &["l", "-tHFS", path.to_str().unwrap()]);
    let files = listing_text.lines().filter(|l| l.contains("/file-")).count();
    assert_eq!(files, names.len() * 300, "{listing_text}");
}

#[test]
fn dmg_and_app_reproduce_byte_for_byte() {
    let app = mac_app();
    let (a, b) = (app.path().join("a"), app.path().join("b"));
    ok(&bundle_mac(&app, &a, "app,dmg", &[]));
    ok(&bundle_mac(&app, &b, "app,dmg", &[]));
    let hash = |dir: &Path| -> serde_json::Value {
        let o = bundle_mac(&app, dir, "app,dmg", &[]);
        ok(&o);
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        report["files"].as_array().unwrap().iter().map(|f| f["sha256"].clone()).collect()
    };
    assert_eq!(hash(&a), hash(&b));
    let name = "Hello App_1.2.3_x86_64.dmg";
    assert_eq!(std::fs::read(a.join(name)).unwrap(), std::fs::read(b.join(name)).unwrap());
}

#[test]
fn ad_hoc_signed_arm64_code_needs_no_warning() {
    let app = mac_app();
    std::fs::write(app.path().join("signed-arm64"), macho_executable_signed("arm64", "signed")).unwrap();
    app.write_config(&mac_config(&app, "main = \"signed-arm64\""));
    let out = app.path().join("out");
    let o = app.bundle(&out, &["--format", "app", "--target", "aarch64", "--json"], &[]);
    ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "only the skipped signing: {warnings:?}");
    let exe = out.join("Hello App.app/Contents/MacOS/signed-arm64");
    let inspected = millennium_bundler::macos::macho::inspect(&exe, &std::fs::read(&exe).unwrap()).unwrap();
    assert!(inspected.unsigned.is_empty() && inspected.arches == [millennium_bundler::Arch::Aarch64]);
}

#[test]
fn one_run_bundles_the_linux_and_the_macos_builds() {
    require_tool("dpkg-deb", "dpkg");
    let (key_text, public) = signing_key();
    let app = mac_app();
    app.write_config(&format!(
        "{}\n[updater]\npubkey = \"{}\"\nartifact-base-url = \"https://releases.example.com/\"\n",
        mac_config(&app, "main = \"hello\"").replace("[macos]\n", "[macos]\nbinary = \"hello-x86_64\"\n"),
        public.to_text(millennium_sign::Format::Tauri)
    ));
    let out = app.path().join("out");
    ok(&bundle_mac(&app, &out, "deb,app,dmg,updater", &[("MILLENNIUM_SIGNING_PRIVATE_KEY", key_text.as_str())]));
    assert_eq!(
        listing(&out),
        [
            "Hello App.app",
            "Hello App.app.tar.gz",
            "Hello App.app.tar.gz.sig",
            "Hello App_1.2.3_x86_64.dmg",
            "hello-app_1.2.3_amd64.deb",
            "hello-app_1.2.3_amd64.deb.sig",
            "hello-app_1.2.3_x86_64.update.json"
        ]
    );
    let contents = run("dpkg-deb", &["--contents", out.join("hello-app_1.2.3_amd64.deb").to_str().unwrap()]);
    assert!(contents.contains("./usr/bin/hello\n"), "{contents}");
    let exe = std::fs::read(out.join("Hello App.app/Contents/MacOS/hello-x86_64")).unwrap();
    assert_eq!(exe, macho_executable("x86_64", "slice-x86_64"));
    // One manifest fragment lists both platforms.
    let manifest = std::fs::read(out.join("hello-app_1.2.3_x86_64.update.json")).unwrap();
    let parsed = millennium_update_protocol::tauri::StaticManifest::parse(&manifest).unwrap();
    let keys: Vec<&str> = parsed.platforms().map(|(k, _)| k).collect();
    assert_eq!(keys, ["darwin-x86_64", "darwin-x86_64-app", "linux-x86_64-deb", "macos-x86_64"]);
}

#[test]
fn frameworks_keep_their_symlinks_in_the_app_and_the_dmg() {
    require_tool("7z", "7zip");
    let app = mac_app();
    let fw = app.path().join("fw/Hello.framework");
    std::fs::create_dir_all(fw.join("Versions/A/Resources")).unwrap();
    std::fs::write(fw.join("Versions/A/Hello"), macho_executable("x86_64", "framework")).unwrap();
    std::fs::write(fw.join("Versions/A/Resources/Info.plist"), "<plist/>").unwrap();
    std::os::unix::fs::symlink("A", fw.join("Versions/Current")).unwrap();
    std::os::unix::fs::symlink("Versions/Current/Hello", fw.join("Hello")).unwrap();
    std::fs::write(app.path().join("fw/libextra.dylib"), b"dylib").unwrap();
    app.write_config(
        &mac_config(&app, "main = \"hello-x86_64\"")
            .replace("[macos]\n", "[macos]\nframeworks = [\"fw/Hello.framework\", \"fw/libextra.dylib\"]\n"),
    );
    let out = app.path().join("out");
    ok(&bundle_mac(&app, &out, "app,dmg", &[]));
    let frameworks = out.join("Hello App.app/Contents/Frameworks");
    assert_eq!(std::fs::read_link(frameworks.join("Hello.framework/Versions/Current")).unwrap(), Path::new("A"));
    assert_eq!(
        std::fs::read(frameworks.join("Hello.framework/Hello")).unwrap(),
        macho_executable("x86_64", "framework")
    );
    assert_eq!(std::fs::read(frameworks.join("libextra.dylib")).unwrap(), b"dylib");

    let dmg = out.join("Hello App_1.2.3_x86_64.dmg");
    let prefix = "Hello App/Hello App.app/Contents/Frameworks/Hello.framework";
    for (link, target) in [("Versions/Current", "A"), ("Hello", "Versions/Current/Hello")] {
        let o =
            Command::new("7z").args(["e", "-so", dmg.to_str().unwrap(), &format!("{prefix}/{link}")]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), target);
    }
    let slt = run("7z", &["l", "-slt", dmg.to_str().unwrap()]);
    let entry = slt.split("\n\n").find(|e| e.contains(&format!("Path = {prefix}/Versions/Current\n"))).unwrap();
    assert!(entry.contains("Mode = lrwxr-xr-x"), "{entry}");
}

/// Bad input: exit code 2, a message naming the problem, and an empty output directory.
fn assert_mac_rejected(app: &TestApp, formats: &str, expected: &[&str]) {
    app.assert_rejected(&["--format", formats, "--target", "x86_64"], &[], expected);
}

#[test]
fn rejects_a_linux_binary() {
    let app = mac_app();
    app.write_config(&mac_config(&app, "main = \"hello\""));
    assert_mac_rejected(&app, "app,dmg", &["binary", "an ELF (Linux) binary, not a macOS executable", "hint:"]);
}

#[test]
fn rejects_a_binary_for_the_other_architecture() {
    let app = mac_app();
    app.write_config(&mac_config(&app, "main = \"hello-arm64\""));
    assert_mac_rejected(&app, "app", &["built for arm64, not x86_64", "--target aarch64"]);
}

#[test]
fn rejects_two_builds_of_one_architecture() {
    let app = mac_app();
    std::fs::write(app.path().join("other-x86_64"), macho_executable("x86_64", "other")).unwrap();
    app.write_config(
        &mac_config(&app, "").replace("[macos]\n", "[macos]\nuniversal = [\"hello-x86_64\", \"other-x86_64\"]\n"),
    );
    assert_mac_rejected(&app, "app", &["other-x86_64", "built for x86_64 like"]);
}

#[test]
fn rejects_an_icon_too_small_for_macos() {
    let app = mac_app();
    write_png(&app.path().join("icon.png"), 64, 64);
    assert_mac_rejected(&app, "app,dmg", &["icon.png", "64x64", "at least 128x128"]);
}

#[test]
fn rejects_an_invalid_identifier() {
    let app = mac_app();
    app.write_config(&mac_config(&app, "main = \"hello-x86_64\"").replace("com.example.hello", "com.example.héllo"));
    assert_mac_rejected(&app, "dmg", &["`identifier`", "illegal character `é`"]);
}

#[test]
fn rejects_a_product_name_hfs_cannot_store() {
    let app = mac_app();
    app.write_config(&mac_config(&app, "main = \"hello-x86_64\"").replace("Hello App", "Hello: The App"));
    assert_mac_rejected(&app, "app,dmg", &["`product-name`", "`:`"]);
}

#[test]
fn rejects_a_resource_name_hfs_cannot_store() {
    let app = mac_app();
    std::fs::write(app.path().join("assets/a\u{1}b.txt"), "x").unwrap();
    assert_mac_rejected(&app, "dmg", &["a\u{1}b.txt", "control character U+0001"]);
}

#[test]
fn rejects_bad_macos_and_dmg_settings() {
    let app = mac_app();
    let base = mac_config(&app, "main = \"hello-x86_64\"");
    app.write_config(&base.replace("public.app-category.developer-tools", "Developer"));
    assert_mac_rejected(&app, "app", &["`macos.category`", "public.app-category.developer-tools"]);
    app.write_config(&base.replace("minimum-system-version = \"11.0\"", "minimum-system-version = \"eleven\""));
    assert_mac_rejected(&app, "app", &["`macos.minimum-system-version`"]);
    write_png(&app.path().join("bg.png"), 300, 200);
    write_png(&app.path().join("bg2.png"), 500, 400);
    app.write_config(&format!("{base}\n[dmg]\nbackground = \"bg.png\"\nbackground-2x = \"bg2.png\"\n"));
    assert_mac_rejected(&app, "dmg", &["`dmg.background-2x`", "must be twice", "600x400"]);
    let long_name = "\nvolume-name = \"A volume name far too long for aliases\"\n";
    app.write_config(&format!("{base}\n[dmg]\nbackground = \"bg.png\"{long_name}"));
    assert_mac_rejected(&app, "dmg", &["`dmg.volume-name`", "longer than 27 bytes"]);
    // Without a background there is no alias, and HFS+ takes the long name.
    app.write_config(&format!("{base}\n[dmg]{long_name}"));
    let out = app.path().join("out");
    ok(&app.bundle(&out, &["--format", "dmg", "--target", "x86_64"], &[]));
    let listing_text = run("7z", &["l", out.join("Hello App_1.2.3_x86_64.dmg").to_str().unwrap()]);
    assert!(listing_text.contains("A volume name far too long for aliases/Hello App.app"), "{listing_text}");
}

#[test]
fn rejects_file_associations_without_extensions_or_with_an_unknown_role() {
    let app = mac_app();
    let base = mac_config(&app, "main = \"hello-x86_64\"");
    app.write_config(&base.replace("extensions = [\"hello\", \"hi\"]", "extensions = []"));
    assert_mac_rejected(&app, "app", &["`macos.file-associations[0].extensions`", "at least one extension"]);
    app.write_config(&base.replace("extensions = [\"hello\", \"hi\"]", "extensions = [\"hello\", \".hi\"]"));
    assert_mac_rejected(&app, "app", &["`macos.file-associations[0].extensions`", "`.hi`", "without the dot"]);
    app.write_config(&base.replace("role = \"Viewer\"", "role = \"Reader\""));
    assert_mac_rejected(&app, "dmg", &["`macos.file-associations[0].role`", "`Reader` is not `Editor`"]);
}
