//! macOS `.app` updates, run on Linux with the same code macOS runs: a real `Hello App.app` and `.app.tar.gz` made
//! by `millennium-bundler` (with a framework whose `Versions/Current` and top-level entries are symlinks), v2
//! published to a real update server, found, downloaded, verified, unpacked and swapped in by the updater, then rolled
//! back; hostile archives refused with nothing changed; `kill -9` during the install never leaving a half bundle.

#![allow(clippy::unwrap_used)] // tests state expectations with unwrap
#![cfg(unix)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use millennium_sign::{Format, KdfParams, SecretKey};
use millennium_testing::keys::Keys;
use millennium_testing::macos::macho_executable;
use millennium_testing::require_tool;
use millennium_testing::server::TestServer;
use millennium_update_admin::api::{PublishRequest, Scope};
use millennium_update_admin::client::UploadArtifact;
use millennium_updater::{BundleType, Error, StartupStatus, Transfer, Updater};

const BUNDLE: &str = "Hello App.app";

/// One entry of a directory tree, as compared byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File { mode: u32, bytes: Vec<u8> },
    Dir { mode: u32 },
    Symlink(PathBuf),
}

/// Everything under `root` (not following symlinks), by relative path.
fn tree(root: &Path) -> BTreeMap<String, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                out.insert(rel, Node::Symlink(std::fs::read_link(&path).unwrap()));
            } else if meta.is_dir() {
                out.insert(rel, Node::Dir { mode });
                walk(root, &path, out);
            } else {
                out.insert(rel, Node::File { mode, bytes: std::fs::read(&path).unwrap() });
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Builds version `version` of the test app with the real bundler into `dir/out`: `Hello App.app`, its
/// `.app.tar.gz` and `.sig` (signed with `key`, as a release manager's CI does).
fn bundle_app(dir: &Path, version: &str, key: &SecretKey) -> PathBuf {
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("hello-x86_64"), macho_executable("x86_64", &format!("hello {version}"))).unwrap();
    std::fs::write(dir.join("assets/data.txt"), format!("data of {version}\n")).unwrap();
    // A file only v1 has and one only v2 has: the update must remove and add files, not merge trees.
    let only = if version.starts_with('1') { "assets/only-v1.txt" } else { "assets/only-v2.txt" };
    std::fs::write(dir.join(only), "x\n").unwrap();
    // A framework as Xcode lays it out: the version directory, `Current` and the top-level entries as symlinks.
    let fw = dir.join("Hello.framework");
    std::fs::create_dir_all(fw.join("Versions/A/Resources")).unwrap();
    std::fs::write(fw.join("Versions/A/Hello"), format!("framework {version}")).unwrap();
    std::fs::set_permissions(fw.join("Versions/A/Hello"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(fw.join("Versions/A/Resources/Info.plist"), "<plist/>").unwrap();
    std::os::unix::fs::symlink("A", fw.join("Versions/Current")).unwrap();
    std::os::unix::fs::symlink("Versions/Current/Hello", fw.join("Hello")).unwrap();
    std::os::unix::fs::symlink("Versions/Current/Resources", fw.join("Resources")).unwrap();
    let pubkey = key.public_key().to_text(Format::Tauri);
    std::fs::write(
        dir.join("Millennium.toml"),
        format!(
            r#"product-name = "Hello App"
package-name = "hello-app"
identifier = "com.example.hello"
version = "{version}"
description = "Test app for macOS updates"
authors = ["Test Person <test@example.com>"]
license = "MIT"
resources = ["assets/*.txt"]

[binaries]
main = "hello-x86_64"

[macos]
minimum-system-version = "11.0"
frameworks = ["Hello.framework"]

[updater]
pubkey = "{pubkey}"
artifact-base-url = "https://releases.example.com/hello/{version}/"
"#
        ),
    )
    .unwrap();
    let sealed = key.seal(None, KdfParams::INTERACTIVE).unwrap().to_text(Format::Tauri).to_string();
    let out = dir.join("out");
    let options = millennium_bundler::Options {
        manifest_path: dir.join("Millennium.toml"),
        formats: [millennium_bundler::Format::App, millennium_bundler::Format::Updater].into(),
        arch: millennium_bundler::Arch::X86_64,
        out_dir: out.clone(),
        overrides: Default::default(),
        launcher: None,
    };
    let env = |name: &str| match name {
        "SOURCE_DATE_EPOCH" => Some("1700000000".to_owned()),
        "MILLENNIUM_SIGNING_PRIVATE_KEY" => Some(sealed.clone()),
        _ => None,
    };
    millennium_bundler::bundle(&options, &env, &millennium_bundler::NoProgress).unwrap();
    out
}

/// Copies a bundle as Finder would (modes and symlinks kept).
fn install_copy(from: &Path, to: &Path) {
    require_tool("cp", "coreutils");
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(to);
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
}

fn updater(endpoint: &str, pubkey: &str, version: &str, bundle: &Path, state: &Path) -> Updater {
    Updater::builder()
        .endpoint(endpoint)
        .pubkey(pubkey)
        .current_version(version)
        .bundle_type(Some(BundleType::App))
        .executable(bundle.join("Contents/MacOS/hello-x86_64"))
        .state_dir(state)
        .rollback_after_starts(1)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_macos_app_is_updated_through_the_real_server_byte_for_byte_then_rolled_back() {
    let server = TestServer::start().await;
    let app = server.register("hello", Scope::Publish).await;
    let work = tempfile::tempdir().unwrap();
    let key = &app.key;
    let out1 = bundle_app(&work.path().join("v1"), "1.0.0", key);
    let out2 = bundle_app(&work.path().join("v2"), "2.0.0", key);
    let (v1, v2) = (tree(&out1.join(BUNDLE)), tree(&out2.join(BUNDLE)));
    assert_eq!(v2["Contents/Frameworks/Hello.framework/Versions/Current"], Node::Symlink("A".into()));
    assert!(matches!(v2["Contents/MacOS/hello-x86_64"], Node::File { mode: 0o755, .. }));

    // Published under the bundler's own name, space included (the download URL carries it as `%20`).
    let tarball = out2.join(format!("{BUNDLE}.tar.gz"));
    let signature = std::fs::read_to_string(out2.join(format!("{BUNDLE}.tar.gz.sig"))).unwrap();
    let artifact = UploadArtifact { target: "darwin-x86_64-app".parse().unwrap(), path: tarball, signature };
    app.publish(&PublishRequest::new("2.0.0"), &[artifact]).await;

    let applications = work.path().join("Applications");
    let installed = applications.join(BUNDLE);
    install_copy(&out1.join(BUNDLE), &installed);
    assert_eq!(tree(&installed), v1);
    let state = work.path().join("state");
    let endpoint =
        format!("{}/hello/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}/{{{{bundle_type}}}}", server.url);
    let pubkey = key.public_key().to_text(Format::Tauri);

    let u1 = updater(&endpoint, &pubkey, "1.0.0", &installed, &state);
    assert_eq!(u1.target().to_string(), "darwin-x86_64-app");
    let update = u1.check().await.unwrap().expect("2.0.0 is offered");
    assert_eq!(update.version().to_string(), "2.0.0");
    update.download_and_install(|_| {}).await.unwrap();

    // The bundle is v2 exactly (files, bytes, modes, framework symlinks; v1's own file gone), v1 kept beside it.
    assert_eq!(tree(&installed), v2);
    assert_eq!(tree(&applications.join(format!("{BUNDLE}.previous"))), v1);
    let names = millennium_testing::listing(&applications);
    assert_eq!(names, [BUNDLE.to_owned(), format!("{BUNDLE}.previous")], "no unpacking litter");
    let current = installed.join("Contents/Frameworks/Hello.framework/Hello");
    assert_eq!(std::fs::read(current).unwrap(), b"framework 2.0.0", "the framework symlinks resolve inside v2");

    // v2 never confirms: its second start puts v1 back, by swapping the bundles again.
    let u2 = updater(&endpoint, &pubkey, "2.0.0", &installed, &state);
    assert_eq!(u2.startup().unwrap(), StartupStatus::PendingConfirmation { start: 1, allowed: 1 });
    assert_eq!(u2.startup().unwrap(), StartupStatus::RolledBack { from: "2.0.0".into(), to: "1.0.0".into() });
    assert_eq!(tree(&installed), v1);
    assert_eq!(tree(&applications.join(format!("{BUNDLE}.previous"))), v2);
    // And the rolled-back release is not offered again.
    assert!(updater(&endpoint, &pubkey, "1.0.0", &installed, &state).check().await.unwrap().is_none());
}

/// `.app.tar.gz` by delta, from the real server's delta job to the real updater: the update to v2 is a full download
/// (an app installed from a website has no copy of its archive), after which the updater keeps the verified v2
/// archive as the base of the next delta; the job makes the delta from it to v3 (between the unpacked archives), and
/// the update to v3 downloads only that, rebuilds the bundler's v3 archive byte for byte and installs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_macos_app_updates_by_delta_from_the_kept_copy_of_the_archive_it_installed() {
    let mut server = TestServer::start().await;
    server.start_jobs();
    let app = server.register("hello", Scope::Publish).await;
    let work = tempfile::tempdir().unwrap();
    let key = &app.key;
    let outs: Vec<PathBuf> =
        ["1.0.0", "2.0.0", "3.0.0"].iter().map(|v| bundle_app(&work.path().join(v), v, key)).collect();
    let archive = |i: usize| outs[i].join(format!("{BUNDLE}.tar.gz"));
    let publish = |i: usize, version: &'static str| {
        let signature = std::fs::read_to_string(outs[i].join(format!("{BUNDLE}.tar.gz.sig"))).unwrap();
        let artifact = UploadArtifact { target: "darwin-x86_64-app".parse().unwrap(), path: archive(i), signature };
        let app = &app;
        async move { app.publish(&PublishRequest::new(version), &[artifact]).await }
    };
    let applications = work.path().join("Applications");
    let installed = applications.join(BUNDLE);
    install_copy(&outs[0].join(BUNDLE), &installed);
    let state = work.path().join("state");
    let endpoint =
        format!("{}/hello/{{{{target}}}}/{{{{arch}}}}/{{{{current_version}}}}/{{{{bundle_type}}}}", server.url);
    let pubkey = key.public_key().to_text(Format::Tauri);
    let kept = state.join("delta-base/artifact");
    let transfers_of = |update: millennium_updater::Update| async move {
        let mut transfers = Vec::new();
        update.download_and_install(|p| millennium_testing::push_change(&mut transfers, p.transfer)).await.unwrap();
        transfers
    };

    publish(1, "2.0.0").await;
    let update = updater(&endpoint, &pubkey, "1.0.0", &installed, &state).check().await.unwrap().unwrap();
    assert!(!update.uses_delta(), "no copy of an archive yet: no delta");
    assert_eq!(transfers_of(update).await, [Transfer::Full]);
    assert_eq!(std::fs::read(&kept).unwrap(), std::fs::read(archive(1)).unwrap(), "the v2 archive is kept");
    let u2 = updater(&endpoint, &pubkey, "2.0.0", &installed, &state);
    assert_eq!(u2.startup().unwrap(), StartupStatus::PendingConfirmation { start: 1, allowed: 1 });
    u2.confirm_healthy().unwrap();

    publish(2, "3.0.0").await;
    server.wait_for_deltas("hello", 1).await;
    let update = u2.check().await.unwrap().unwrap();
    let v3 = std::fs::read(archive(2)).unwrap();
    let size = update.delta_size().expect("a delta from the kept v2 archive");
    assert!(size * 4 < v3.len() as u64, "a delta of {size} bytes for a {} bytes archive", v3.len());
    assert_eq!(transfers_of(update).await, [Transfer::Delta], "only the delta was downloaded");
    assert_eq!(tree(&installed), tree(&outs[2].join(BUNDLE)), "v3 exactly is installed");
    assert_eq!(std::fs::read(&kept).unwrap(), v3, "the kept copy is the v3 archive, byte for byte");
    assert_eq!((server.downloads("hello", "delta").await, server.downloads("hello", "full").await), (1, 1));
}

// ----- hostile archives -----

/// A raw tar entry: name and link name written as given (the tar crate's safe setters refuse `..`).
struct Raw<'a> {
    name: &'a str,
    kind: tar::EntryType,
    mode: u32,
    link: &'a str,
    data: &'a [u8],
}

fn raw(name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    let gnu = h.as_gnu_mut().unwrap();
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn tar_gz(entries: &[Raw<'_>]) -> Vec<u8> {
    use std::io::Write;
    let mut tar = Vec::new();
    for e in entries {
        let mut block = raw(e.name, e.kind, e.link, e.data);
        if e.mode != 0 {
            let mut h = tar::Header::from_byte_slice(&block[..512]).clone();
            h.set_mode(e.mode);
            h.set_cksum();
            block[..512].copy_from_slice(h.as_bytes());
        }
        tar.extend_from_slice(&block);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw { name, kind: tar::EntryType::Regular, mode: 0, link: "", data }
}

fn entry<'a>(name: &'a str, kind: tar::EntryType, link: &'a str) -> Raw<'a> {
    Raw { name, kind, mode: 0, link, data: b"" }
}

/// A minimal sound bundle's entries, which every hostile archive below starts with.
fn base() -> Vec<Raw<'static>> {
    vec![
        entry("Hello App.app/", tar::EntryType::Directory, ""),
        entry("Hello App.app/Contents/", tar::EntryType::Directory, ""),
        file("Hello App.app/Contents/Info.plist", b"<plist/>"),
    ]
}

/// A directory holding an installed v1 bundle and everything around it, to check that nothing changed.
struct Installed {
    dir: tempfile::TempDir,
    keys: Keys,
}

impl Installed {
    fn new() -> Installed {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("Applications").join(BUNDLE);
        std::fs::create_dir_all(bundle.join("Contents/MacOS")).unwrap();
        std::fs::write(bundle.join("Contents/Info.plist"), "<plist>v1</plist>").unwrap();
        std::fs::write(bundle.join("Contents/MacOS/hello"), "v1").unwrap();
        Installed { dir, keys: Keys::generate() }
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("Applications").join(BUNDLE)
    }

    /// Verifies and installs `archive` as 2.0.0 (it is correctly signed: only its content is hostile).
    fn install(&self, archive: &[u8]) -> Result<(), Error> {
        let path = self.dir.path().join("update.app.tar.gz");
        std::fs::write(&path, archive).unwrap();
        let sig = self.keys.sign(archive, Some("2.0.0")).to_text(Format::Tauri).to_string();
        let updater = Updater::builder()
            .endpoint("http://127.0.0.1:9/unused")
            .pubkey(&self.keys.public_text)
            .current_version("1.0.0")
            .bundle_type(Some(BundleType::App))
            .executable(self.bundle())
            .state_dir(self.dir.path().join("state"))
            .build()
            .unwrap();
        updater.verify_local_file(&path, &sig, "2.0.0")?.install()
    }

    fn snapshot(&self) -> BTreeMap<String, Node> {
        let mut all = tree(&self.dir.path().join("Applications"));
        // Outside the Applications folder too: an escape would land in the temp dir or above.
        for name in millennium_testing::listing(self.dir.path()) {
            if name == "state" || name == "update.app.tar.gz" {
                continue; // the updater's own state and the downloaded file
            }
            all.insert(format!("../{name}"), Node::Dir { mode: 0 });
        }
        all
    }
}

#[test]
fn hostile_archives_are_refused_and_nothing_changes_on_disk() {
    use tar::EntryType::{Block, Char, Directory, Fifo, Link, Regular, Symlink};
    let many: Vec<String> = (0..100_000).map(|i| format!("Hello App.app/Contents/f{i}")).collect();
    let cases: Vec<(&str, Vec<Raw<'_>>, &str)> = vec![
        ("absolute path", vec![file("/tmp/evil", b"x")], "absolute path"),
        ("dot-dot", vec![file("Hello App.app/../../evil", b"x")], "`..` component"),
        ("dot-dot inside", vec![file("Hello App.app/Contents/../../evil", b"x")], "`..` component"),
        ("outside the bundle", vec![file("Other.app/Contents/x", b"x")], "one bundle per archive"),
        ("not a bundle", vec![file("evil.txt", b"x")], "not inside a `.app`"),
        ("symlink out", vec![entry("Hello App.app/Contents/up", Symlink, "../../..")], "outside the bundle"),
        ("absolute symlink", vec![entry("Hello App.app/Contents/etc", Symlink, "/etc")], "absolute path `/etc`"),
        (
            "write through a symlink",
            vec![
                entry("Hello App.app/Contents/d", Symlink, "Resources"),
                entry("Hello App.app/Contents/Resources/", Directory, ""),
                file("Hello App.app/Contents/d/x", b"x"),
            ],
            "through the symlink",
        ),
        (
            "symlink chain escaping physically",
            vec![
                entry("Hello App.app/Contents/a/", Directory, ""),
                entry("Hello App.app/Contents/a/s2", Symlink, "../.."),
                entry("Hello App.app/Contents/s1", Symlink, "a/s2/.."),
            ],
            "resolves outside the bundle",
        ),
        ("hard link", vec![entry("Hello App.app/Contents/passwd", Link, "/etc/passwd")], "hard link"),
        ("char device", vec![entry("Hello App.app/Contents/null", Char, "")], "device or FIFO"),
        ("block device", vec![entry("Hello App.app/Contents/sda", Block, "")], "device or FIFO"),
        ("fifo", vec![entry("Hello App.app/Contents/pipe", Fifo, "")], "device or FIFO"),
        (
            "duplicate",
            vec![file("Hello App.app/Contents/x", b"1"), file("Hello App.app/Contents/x", b"2")],
            "appears twice",
        ),
        (
            "100 000 entries",
            many.iter().map(|n| Raw { name: n, kind: Regular, mode: 0, link: "", data: b"" }).collect(),
            "one entry too many",
        ),
    ];
    for (what, extra, expected) in cases {
        let fx = Installed::new();
        let before = fx.snapshot();
        let mut entries = base();
        entries.extend(extra);
        let err = fx.install(&tar_gz(&entries)).expect_err(what);
        let text = millennium_updater::Report::new(&err).to_string();
        assert!(matches!(err, Error::UnsafeArchive { .. }), "{what}: {text}");
        assert!(text.contains(expected) && text.contains("nothing was changed"), "{what}: {text}");
        assert_eq!(fx.snapshot(), before, "{what}: the disk changed");
        assert!(!fx.dir.path().join("state/pending-update.json").exists(), "{what}");
    }
}

#[test]
fn a_truncated_or_bundle_less_archive_is_refused_and_nothing_changes() {
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let mut entries = base();
    entries.push(file("Hello App.app/Contents/MacOS/hello", &big));
    let whole = tar_gz(&entries);
    for cut in [whole.len() - 4, whole.len() / 2, 40] {
        let fx = Installed::new();
        let before = fx.snapshot();
        let err = fx.install(&whole[..cut]).unwrap_err();
        let text = millennium_updater::Report::new(&err).to_string();
        assert!(matches!(err, Error::UnsafeArchive { .. }), "cut at {cut}: {text}");
        assert!(text.contains("truncated"), "cut at {cut}: {text}");
        assert_eq!(fx.snapshot(), before);
    }
    // A sound archive without `Contents/Info.plist` would replace the app with something that is not one.
    let fx = Installed::new();
    let err = fx.install(&tar_gz(&[file("Hello App.app/Contents/MacOS/hello", b"x")])).unwrap_err();
    assert!(err.to_string().contains("Info.plist` is missing"), "{err}");
    // And the sound archive installs, with its modes.
    let fx = Installed::new();
    let mut entries = base();
    entries.push(Raw {
        name: "Hello App.app/Contents/MacOS/",
        kind: tar::EntryType::Directory,
        mode: 0o755,
        link: "",
        data: b"",
    });
    entries.push(Raw {
        name: "Hello App.app/Contents/MacOS/hello",
        kind: tar::EntryType::Regular,
        mode: 0o4755,
        link: "",
        data: b"v2",
    });
    fx.install(&tar_gz(&entries)).unwrap();
    let hello = fx.bundle().join("Contents/MacOS/hello");
    assert_eq!(std::fs::read(&hello).unwrap(), b"v2");
    assert_eq!(std::fs::metadata(&hello).unwrap().permissions().mode() & 0o7777, 0o755, "set-uid dropped, x kept");
}

/// The verify-then-install race on a `.app`: another program of the user swaps the verified archive (for a sound but
/// different bundle) before the install; the install checks the bytes it unpacks and swaps nothing in.
#[test]
fn an_app_archive_swapped_after_verification_is_never_installed() {
    let fx = Installed::new();
    let before = fx.snapshot();
    let genuine = tar_gz(&base());
    let path = fx.dir.path().join("update.app.tar.gz");
    std::fs::write(&path, &genuine).unwrap();
    let sig = fx.keys.sign(&genuine, Some("2.0.0")).to_text(Format::Tauri).to_string();
    let updater = Updater::builder()
        .endpoint("http://127.0.0.1:9/unused")
        .pubkey(&fx.keys.public_text)
        .current_version("1.0.0")
        .bundle_type(Some(BundleType::App))
        .executable(fx.bundle())
        .state_dir(fx.dir.path().join("state"))
        .build()
        .unwrap();
    let verified = updater.verify_local_file(&path, &sig, "2.0.0").unwrap();
    let mut evil = base();
    evil.push(file("Hello App.app/Contents/MacOS/hello", b"the attacker's program"));
    std::fs::write(&path, tar_gz(&evil)).unwrap();
    let err = verified.install().unwrap_err();
    assert!(matches!(err, Error::ChangedAfterVerification { .. }), "{err}");
    assert_eq!(fx.snapshot(), before, "nothing was swapped in or left behind");
}

/// The app runs from a read-only volume (as when opened straight from its `.dmg`): the install step, run in a private
/// user and mount namespace where the Applications folder is a tmpfs remounted read-only, refuses with what to do and
/// changes nothing. (The mount table and `statvfs` are read for real; on macOS the same check reads `mount`'s output.)
#[test]
fn a_bundle_on_a_read_only_volume_is_refused_with_what_to_do() {
    require_tool("unshare", "util-linux");
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::generate();
    let archive = tar_gz(&base());
    let new = dir.path().join("update.app.tar.gz");
    std::fs::write(&new, &archive).unwrap();
    let sig = dir.path().join("update.sig");
    std::fs::write(&sig, keys.sign(&archive, Some("2.0.0")).to_text(Format::Tauri)).unwrap();
    let pubkey = dir.path().join("key.pub");
    std::fs::write(&pubkey, &keys.public_text).unwrap();
    let volume = dir.path().join("Volumes").join("Hello App");
    std::fs::create_dir_all(&volume).unwrap();
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
        .arg(
            r#"mount -t tmpfs millennium-dmg "$0" && mkdir -p "$0/Hello App.app/Contents" && echo v1 > "$0/Hello App.app/Contents/Info.plist" \
               && mount -o remount,ro "$0" && exec "$@""#,
        )
        .arg(&volume)
        .arg(helper())
        .arg(volume.join(BUNDLE))
        .args([&new, &sig, &pubkey])
        .arg("2.0.0")
        .arg(dir.path().join("state"))
        .arg("app")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = format!("read-only volume `{}`", volume.display());
    assert!(
        stderr.contains(&expected) && stderr.contains("hint: drag the app into the Applications folder"),
        "{stderr}"
    );
    assert!(!dir.path().join("state/pending-update.json").exists());
}

// ----- crash safety -----

fn helper() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("examples").join("install_step");
    assert!(path.exists(), "{} missing: `cargo test` builds the examples", path.display());
    path
}

/// A v1/v2 bundle pair big enough that unpacking takes a measurable while.
fn sized_bundle(version: &str) -> Vec<Raw<'static>> {
    let mut entries = base();
    for i in 0..200 {
        let name: &'static str = Box::leak(format!("Hello App.app/Contents/Resources/r{i}").into_boxed_str());
        let data: &'static [u8] = Box::leak(format!("{version}-{i}-").repeat(2000).into_bytes().into_boxed_slice());
        entries.push(file(name, data));
    }
    entries.push(entry("Hello App.app/Contents/Current", tar::EntryType::Symlink, "Resources"));
    entries
}

#[test]
fn kill_9_during_an_app_install_leaves_the_old_or_the_new_bundle_whole() {
    let helper = helper();
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::generate();
    let (v1_tgz, v2_tgz) = (tar_gz(&sized_bundle("1.0.0")), tar_gz(&sized_bundle("2.0.0")));
    // v1 as installed: unpacked by the updater itself from its own archive, into a reference directory.
    let reference = |tgz: &[u8], name: &str| {
        let fx = Installed::new();
        fx.install(tgz).unwrap();
        let t = tree(&fx.bundle());
        let keep = dir.path().join(name);
        install_copy(&fx.bundle(), &keep);
        (t, keep)
    };
    let (v1, v1_dir) = reference(&v1_tgz, "v1.app");
    let (v2, _) = reference(&v2_tgz, "v2.app");
    let new = dir.path().join("update.app.tar.gz");
    std::fs::write(&new, &v2_tgz).unwrap();
    let sig = dir.path().join("update.sig");
    std::fs::write(&sig, keys.sign(&v2_tgz, Some("2.0.0")).to_text(Format::Tauri)).unwrap();
    let pubkey = dir.path().join("key.pub");
    std::fs::write(&pubkey, &keys.public_text).unwrap();
    let apps = dir.path().join("Applications");
    let bundle = apps.join(BUNDLE);
    let state = dir.path().join("state");
    let run_helper = || {
        Command::new(&helper)
            .arg(&bundle)
            .args([&new, &sig, &pubkey])
            .arg("2.0.0")
            .arg(&state)
            .arg("app")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };

    let mut times = Vec::new();
    for _ in 0..3 {
        install_copy(&v1_dir, &bundle);
        let started = Instant::now();
        let out = run_helper().wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        times.push(started.elapsed());
        assert_eq!(tree(&bundle), v2);
    }
    times.sort();
    let window = times[1].as_micros() as u64 * 3 / 2;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
    let (mut old, mut new_seen) = (0, 0);
    const TRIALS: usize = 40;
    for trial in 0..TRIALS {
        install_copy(&v1_dir, &bundle);
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        let delay = Duration::from_micros(rng.wrapping_mul(0x2545_f491_4f6c_dd1d) % window.max(1));
        let mut child = run_helper();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let now = tree(&bundle);
        if now == v1 {
            old += 1;
        } else if now == v2 {
            new_seen += 1;
        } else {
            panic!("trial {trial} (kill after {delay:?}): the bundle is neither v1 nor v2 whole");
        }
    }
    eprintln!("{TRIALS} kills over {window} µs: {old} left v1, {new_seen} v2");
    assert!(old > 0 && new_seen > 0, "kills should land on both sides of the swap ({old} old, {new_seen} new)");
    // A last install clears the litter of the killed ones.
    install_copy(&v1_dir, &bundle);
    assert!(run_helper().wait().unwrap().success());
    assert_eq!(tree(&bundle), v2);
    let litter: Vec<_> =
        millennium_testing::listing(&apps).into_iter().filter(|n| n.contains(".millennium-")).collect();
    assert!(litter.is_empty(), "stale unpacking directories: {litter:?}");
}

// ----- installed by an administrator -----

/// An app an administrator installed in a folder this user cannot write, whose name holds quotes, `$(…)` and a
/// backslash: the install step run as an unprivileged user (`nobody`, through `setpriv`) refuses with `NeedsAdministrator` and changes nothing. `install_as_admin` then installs v2 with
/// administrator rights (this test runs as root, as CI does, so the privileged script runs directly where macOS
/// runs it through `osascript … with administrator privileges`): v2 in place byte for byte, owned like the bundle it
/// replaced, v1 kept at `.previous`, no litter, and nothing in the hostile name ran.
#[test]
fn an_app_installed_by_an_administrator_is_refused_then_installed_with_administrator_rights() {
    use std::os::unix::fs::MetadataExt;
    require_tool("setpriv", "util-linux");
    assert!(
        std::fs::metadata("/proc/self").unwrap().uid() == 0,
        "this test plays the administrator and must run as root (as CI does)\nhint: sudo scripts/test"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let applications = dir.path().join(r#"Apps 'o"$(touch pwned)"\"#);
    let bundle = applications.join(BUNDLE);
    std::fs::create_dir_all(bundle.join("Contents/MacOS")).unwrap();
    std::fs::write(bundle.join("Contents/Info.plist"), "<plist>v1</plist>").unwrap();
    std::fs::write(bundle.join("Contents/MacOS/hello"), "v1").unwrap();
    std::os::unix::fs::chown(&bundle, Some(4321), Some(4322)).unwrap();
    let v1 = tree(&bundle);

    let keys = Keys::generate();
    let mut v2 = base();
    v2.push(entry("Hello App.app/Contents/MacOS/", tar::EntryType::Directory, ""));
    v2.push(file("Hello App.app/Contents/MacOS/hello", b"v2"));
    let archive = tar_gz(&v2);
    let new = dir.path().join("update.app.tar.gz");
    std::fs::write(&new, &archive).unwrap();
    let sig = keys.sign(&archive, Some("2.0.0")).to_text(Format::Tauri).to_string();
    std::fs::write(dir.path().join("update.sig"), &sig).unwrap();
    std::fs::write(dir.path().join("key.pub"), &keys.public_text).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();

    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(helper())
        .arg(&bundle)
        .args([&new, &dir.path().join("update.sig"), &dir.path().join("key.pub")])
        .arg("2.0.0")
        .arg(&state)
        .arg("app")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("this user cannot write to") && stderr.contains("administrator's password"), "{stderr}");
    assert_eq!(tree(&bundle), v1, "nothing changed");

    let updater = Updater::builder()
        .endpoint("http://127.0.0.1:9/unused")
        .pubkey(&keys.public_text)
        .current_version("1.0.0")
        .bundle_type(Some(BundleType::App))
        .executable(&bundle)
        .state_dir(&state)
        .build()
        .unwrap();
    let verified = updater.verify_local_file(&new, &sig, "2.0.0").unwrap();
    verified.install_as_admin().unwrap();
    assert_eq!(std::fs::read(bundle.join("Contents/MacOS/hello")).unwrap(), b"v2");
    assert_eq!(tree(&applications.join(format!("{BUNDLE}.previous"))), v1);
    let meta = std::fs::metadata(&bundle).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4321, 4322), "the new bundle has the old one's owner");
    let hello = std::fs::metadata(bundle.join("Contents/MacOS/hello")).unwrap();
    assert_eq!((hello.uid(), hello.gid()), (4321, 4322));
    assert_eq!(millennium_testing::listing(&applications), [BUNDLE.to_owned(), format!("{BUNDLE}.previous")]);
    assert!(!millennium_testing::listing(&state).iter().any(|n| n.starts_with("admin-update-")), "staging removed");
    assert!(!Path::new("pwned").exists() && !dir.path().join("pwned").exists() && !applications.join("pwned").exists());
}
