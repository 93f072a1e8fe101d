//! The `millennium-sign` binary against the real `minisign` tool (Debian's package, installed by `scripts/test`), the
//! vectors made by the real `tauri signer`, and every bad input we can think of.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use millennium_testing::{listing, require_tool};
use tempfile::TempDir;

const PASSWORD: &str = "correct horse battery staple";

struct Ctx {
    dir: TempDir,
}

impl Ctx {
    fn new() -> Self {
        Ctx { dir: TempDir::new().expect("temp dir") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write");
        path
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read")
    }

    /// `millennium-sign` with a clean environment (no inherited keys or passwords), run in the temp dir.
    fn ours(&self) -> Command {
        let mut cmd = Command::cargo_bin("millennium-sign").expect("binary");
        cmd.current_dir(self.dir.path()).stdin(Stdio::null());
        for var in [
            "MILLENNIUM_SIGNING_PRIVATE_KEY",
            "MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD",
            "MILLENNIUM_SIGNING_NEW_PRIVATE_KEY_PASSWORD",
            "TAURI_SIGNING_PRIVATE_KEY",
            "TAURI_SIGNING_PRIVATE_KEY_PATH",
            "TAURI_SIGNING_PRIVATE_KEY_PASSWORD",
            "SOURCE_DATE_EPOCH",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// A low-cost encrypted key pair (`name`, `name.pub`).
    fn keypair(&self, name: &str) {
        let out = run(self
            .ours()
            .args(["generate", "--kdf-cost", "low", "-w", name])
            .env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD));
        assert_success(&out);
    }

    fn sign(&self, key: &str, file: &str) -> Output {
        run(self.ours().args(["sign", "-k", key, file]).env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD))
    }

    fn verify(&self, public: &str, file: &str) -> Output {
        run(self.ours().args(["verify", "-p", public, file]))
    }

    fn minisign(&self) -> Command {
        require_tool("minisign", "minisign");
        let mut cmd = Command::new("minisign");
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn files(&self) -> Vec<String> {
        listing(self.dir.path())
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e} (run ./scripts/test to install the tools)"))
}

/// Runs with `input` on stdin (minisign reads passwords from stdin when it has no terminal).
fn run_with_input(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e} (run ./scripts/test to install the tools)"));
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_success(out: &Output) {
    assert!(out.status.success(), "expected success, got {}", text(out));
}

/// Asserts the exit code and that stderr mentions `needle`.
fn assert_fails(out: &Output, code: i32, needle: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.to_lowercase().contains(&needle.to_lowercase()), "stderr lacks {needle:?}: {}", text(out));
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/tauri")
}

// --- interop with the real minisign CLI -------------------------------------------------------------------------

#[test]
fn minisign_verifies_our_signatures() {
    let ctx = Ctx::new();
    ctx.keypair("ours.key");
    ctx.write("app.AppImage", vec![7u8; 300_000]);
    assert_success(&run(ctx
        .ours()
        .args(["sign", "-k", "ours.key", "--version", "1.2.3", "app.AppImage"])
        .env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD)));
    let out = run(ctx.minisign().args(["-V", "-p", "ours.key.pub", "-m", "app.AppImage", "-x", "app.AppImage.sig"]));
    assert_success(&out);
    assert!(stdout(&out).contains("file:app.AppImage\tversion:1.2.3"), "{}", text(&out));
    // And minisign notices a modified file.
    ctx.write("app.AppImage", vec![8u8; 300_000]);
    let out = run(ctx.minisign().args(["-V", "-p", "ours.key.pub", "-m", "app.AppImage", "-x", "app.AppImage.sig"]));
    assert!(!out.status.success(), "minisign accepted a modified file: {}", text(&out));
}

#[test]
fn we_verify_minisign_prehashed_and_legacy_signatures() {
    let ctx = Ctx::new();
    assert_success(&run(ctx.minisign().args(["-G", "-W", "-p", "m.pub", "-s", "m.key"])));
    ctx.write("data.bin", b"some release artifact\n".repeat(1000));
    assert_success(&run(ctx.minisign().args(["-S", "-s", "m.key", "-m", "data.bin", "-x", "hashed.sig"])));
    assert_success(&run(ctx.minisign().args(["-S", "-l", "-s", "m.key", "-m", "data.bin", "-x", "legacy.sig"])));
    for (sig, algorithm) in [("hashed.sig", "prehashed"), ("legacy.sig", "legacy")] {
        let out = run(ctx.ours().args(["--json", "verify", "-p", "m.pub", "-x", sig, "data.bin"]));
        assert_success(&out);
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        assert_eq!(json["algorithm"], algorithm);
        assert_eq!(json["signed_file_name"], "data.bin");
    }
    // The `.minisig` suffix minisign uses by default is found without `-x`.
    assert_success(&run(ctx.minisign().args(["-S", "-s", "m.key", "-m", "data.bin"])));
    assert_success(&ctx.verify("m.pub", "data.bin"));
}

#[test]
fn password_protected_minisign_key_signs_with_ours() {
    let ctx = Ctx::new();
    let out =
        run_with_input(ctx.minisign().args(["-G", "-p", "m.pub", "-s", "m.key"]), &format!("{PASSWORD}\n{PASSWORD}\n"));
    assert_success(&out);
    ctx.write("data.bin", b"payload");
    assert_success(&ctx.sign("m.key", "data.bin"));
    assert_success(&run(ctx.minisign().args(["-V", "-p", "m.pub", "-m", "data.bin"]).arg("-x").arg("data.bin.sig")));
    // A wrong password is refused with a clear message, and no signature is written.
    std::fs::remove_file(ctx.path("data.bin.sig")).expect("rm");
    let out = run(ctx
        .ours()
        .args(["sign", "-k", "m.key", "data.bin"])
        .env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", "nope"));
    assert_fails(&out, 2, "wrong password");
    assert!(!ctx.path("data.bin.sig").exists());
}

#[test]
fn minisign_signs_with_our_password_protected_key() {
    // Default (high) scrypt cost, exactly what `minisign -G` writes.
    let ctx = Ctx::new();
    let out =
        run(ctx.ours().args(["generate", "-w", "ours.key"]).env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD));
    assert_success(&out);
    ctx.write("data.bin", b"payload");
    let out = run_with_input(
        ctx.minisign().args(["-S", "-s", "ours.key", "-m", "data.bin", "-x", "data.bin.sig"]),
        &format!("{PASSWORD}\n"),
    );
    assert_success(&out);
    assert_success(&ctx.verify("ours.key.pub", "data.bin"));
    // An unencrypted key of ours works in minisign too.
    assert_success(&run(ctx.ours().args(["generate", "--no-password", "-w", "plain.key"])));
    assert_success(&run(ctx.minisign().args(["-S", "-s", "plain.key", "-m", "data.bin", "-x", "plain.sig"])));
    assert_success(&run(ctx.ours().args(["verify", "-p", "plain.key.pub", "-x", "plain.sig", "data.bin"])));
}

// --- unencrypted keys, as every writer makes them ------------------------------------------------------------------

/// The payload line of a minisign secret key file (text form), decoded.
fn key_bytes(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    let line = text.lines().nth(1).expect("a key line");
    base64::engine::general_purpose::STANDARD.decode(line.trim()).expect("base64")
}

/// A minisign secret key file (text form) with its payload replaced.
fn key_text(comment_line: &str, bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!("{comment_line}\n{}\n", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Regression: keys made by `minisign -G -W` (the usual choice for CI) were refused as corrupt, because minisign 0.11
/// leaves their checksum zeroed; directly and through `TAURI_SIGNING_PRIVATE_KEY`.
#[test]
fn unencrypted_minisign_keys_sign_and_minisign_verifies() {
    let ctx = Ctx::new();
    assert_success(&run(ctx.minisign().args(["-G", "-W", "-p", "m.pub", "-s", "m.key"])));
    let bytes = key_bytes(&ctx.read("m.key"));
    assert_eq!(&bytes[2..4], [0, 0], "an unencrypted key");
    assert_eq!(&bytes[126..], [0; 32], "minisign 0.11 writes no checksum: the premise of this test changed");
    ctx.write("app.AppImage", b"release artifact\n".repeat(100));
    let minisign_verifies = |sig: &str| {
        let out = run(ctx.minisign().args(["-V", "-p", "m.pub", "-m", "app.AppImage", "-x", sig]));
        assert_success(&out);
        assert!(stdout(&out).contains("\tfile:app.AppImage"), "{}", text(&out));
    };

    assert_success(&run(ctx.ours().args(["sign", "-k", "m.key", "-x", "by-path.sig", "app.AppImage"])));
    minisign_verifies("by-path.sig");
    // The CI route: the key text in TAURI_SIGNING_PRIVATE_KEY, as minisign wrote it and wrapped the way Tauri stores
    // keys; no password anywhere.
    let tauri_form = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(ctx.read("m.key"))
    };
    for (name, value) in [("env-text.sig", ctx.read("m.key")), ("env-tauri.sig", tauri_form)] {
        let out = run(ctx.ours().args(["sign", "-x", name, "app.AppImage"]).env("TAURI_SIGNING_PRIVATE_KEY", value));
        assert_success(&out);
        minisign_verifies(name);
    }
    assert_success(&run(ctx.ours().args(["verify", "-p", "m.pub", "-x", "by-path.sig", "app.AppImage"])));
}

#[test]
fn damaged_unencrypted_keys_are_still_refused() {
    let ctx = Ctx::new();
    assert_success(&run(ctx.minisign().args(["-G", "-W", "-p", "m.pub", "-s", "m.key"])));
    assert_success(&run(ctx.ours().args(["generate", "--no-password", "-w", "ours.key"])));
    ctx.write("data.bin", b"payload");
    let damaged = |source: &str, offset: usize| {
        let text = ctx.read(source);
        let mut bytes = key_bytes(&text);
        bytes[offset] ^= 0x01;
        key_text(text.lines().next().expect("comment"), &bytes)
    };
    // Offsets: key id 54..62, seed 62..94, public key 94..126, checksum 126..158.
    let cases = [
        ("m.key", 70, "its public key is not the one its seed derives"),
        ("m.key", 100, "its public key is not the one its seed derives"),
        ("m.key", 140, "its checksum does not match its contents"),
        ("ours.key", 56, "its checksum does not match its contents"),
        ("ours.key", 70, "its checksum does not match its contents"),
    ];
    for (source, offset, reason) in cases {
        let key = ctx.write("damaged.key", damaged(source, offset));
        let out = run(ctx.ours().args(["sign", "-k"]).arg(&key).arg("data.bin"));
        assert_fails(&out, 2, &format!("the secret key is corrupt: {reason}"));
        assert_fails(&out, 2, "restore the key file from your backup");
        assert!(!ctx.path("data.bin.sig").exists(), "signed with a damaged key ({source} byte {offset})");
        let out = run(ctx.ours().args(["sign", "data.bin"]).env("TAURI_SIGNING_PRIVATE_KEY", damaged(source, offset)));
        assert_fails(
            &out,
            2,
            &format!("cannot use the secret key $TAURI_SIGNING_PRIVATE_KEY: the secret key is corrupt: {reason}"),
        );
    }
}

/// One key of tests/vectors/keys (see its README): made by another minisign-compatible tool without a password.
#[derive(serde::Deserialize)]
struct KeyVector {
    writer: String,
    secret_key: String,
    public_key: String,
    key_id: String,
    kdf: String,
    checksum: String,
}

#[test]
fn passwordless_keys_of_every_writer_sign_and_minisign_verifies() {
    let ctx = Ctx::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/keys");
    let vectors: Vec<KeyVector> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"))
            .expect("json");
    let writers: Vec<&str> = vectors.iter().map(|v| v.writer.as_str()).collect();
    for writer in ["minisign", "rsign2", "tauri-cli"] {
        assert!(writers.iter().any(|w| w.starts_with(writer)), "no vector from {writer}: {writers:?}");
    }
    ctx.write("artifact.bin", b"artifact\n".repeat(50));
    for v in &vectors {
        // The recorded layout is what the file holds (kdf `none` or `scrypt`; checksum `zero` or `blake2b`).
        let key_file = std::fs::read_to_string(dir.join(&v.secret_key)).expect("key");
        let key_file = if key_file.starts_with("untrusted comment:") { key_file } else { decode_tauri(&key_file) };
        let bytes = key_bytes(&key_file);
        assert_eq!(v.kdf, if bytes[2..4] == [0, 0] { "none" } else { "scrypt" }, "{}", v.secret_key);
        if v.kdf == "none" {
            assert_eq!(v.checksum, if bytes[126..] == [0; 32] { "zero" } else { "blake2b" }, "{}", v.secret_key);
        }
        // No password variable and no terminal: an unencrypted key just works, an encrypted one is tried with the
        // empty password (what these writers used).
        let sig = format!("{}.sig", v.secret_key);
        let out =
            run(ctx.ours().args(["--json", "sign", "-x", &sig, "-k"]).arg(dir.join(&v.secret_key)).arg("artifact.bin"));
        assert_success(&out);
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        assert_eq!(json[0]["key_id"], v.key_id.as_str(), "{}", v.secret_key);
        // minisign reads the public key in its text form only.
        let public = std::fs::read_to_string(dir.join(&v.public_key)).expect("pub");
        let public = if public.starts_with("untrusted comment:") { public } else { decode_tauri(&public) };
        ctx.write("vector.pub", public);
        let out = run(ctx.minisign().args(["-V", "-p", "vector.pub", "-m", "artifact.bin", "-x", &sig]));
        assert!(out.status.success(), "{} ({}): {}", v.secret_key, v.writer, text(&out));
    }
}

// --- Tauri ---------------------------------------------------------------------------------------------------------
//
// The vectors in tests/vectors/tauri/ were made once with the real Tauri signer, tauri-cli 2.12.5 (the binary in the
// npm package `@tauri-apps/cli@2.12.5`); tests/vectors/tauri/README.md has the full script. The key commands:
//
//   tauri signer generate -w encrypted.key --password 'correct horse battery staple' --ci
//   tauri signer generate -w nopassword.key --password '' --ci
//   tauri signer sign -f encrypted.key -p 'correct horse battery staple' artifact.bin          (and -p '' for the other)
//   tauri signer sign -f encrypted.key -p 'correct horse battery staple' --app-version 1.2.3 artifact.bin
//   TAURI_SIGNING_PRIVATE_KEY="$(cat encrypted.key)" TAURI_SIGNING_PRIVATE_KEY_PASSWORD=... tauri signer sign app.AppImage

#[derive(serde::Deserialize)]
struct Vector {
    signature: String,
    artifact: String,
    public_key: String,
    secret_key: String,
    password: String,
    key_id: String,
    trusted_comment: String,
}

fn tauri_vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(vectors().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("vectors")
}

#[test]
fn tauri_signer_vectors_verify() {
    let ctx = Ctx::new();
    let vectors = tauri_vectors();
    assert!(vectors.len() >= 4);
    for v in &vectors {
        let dir = self::vectors();
        let out = run(ctx
            .ours()
            .arg("--json")
            .arg("verify")
            .arg("-p")
            .arg(dir.join(&v.public_key))
            .arg("-x")
            .arg(dir.join(&v.signature))
            .arg(dir.join(&v.artifact)));
        assert_success(&out);
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        assert_eq!(json["key_id"], v.key_id.as_str(), "{}", v.signature);
        assert_eq!(json["trusted_comment"], v.trusted_comment.as_str(), "{}", v.signature);
        // The Tauri `pubkey` config value (file contents) works inline too.
        let pubkey = std::fs::read_to_string(dir.join(&v.public_key)).expect("pub");
        let out = run(ctx
            .ours()
            .args(["verify", "-p", pubkey.trim()])
            .arg("-x")
            .arg(dir.join(&v.signature))
            .arg(dir.join(&v.artifact)));
        assert_success(&out);
        // And another file is refused.
        let other = ctx.write("other", b"not the artifact");
        let out = run(ctx
            .ours()
            .arg("verify")
            .arg("-p")
            .arg(dir.join(&v.public_key))
            .arg("-x")
            .arg(dir.join(&v.signature))
            .arg(other));
        assert_fails(&out, 1, "does not match");
    }
}

#[test]
fn tauri_keys_sign_with_ours_and_tauris_verifier_accepts_the_result() {
    let ctx = Ctx::new();
    let dir = vectors();
    for v in tauri_vectors()
        .iter()
        .filter(|v| v.signature.ends_with(".encrypted.sig") || v.signature.ends_with(".nopassword.sig"))
    {
        let artifact = ctx.write("artifact.bin", format!("artifact for {}", v.secret_key));
        let mut cmd = ctx.ours();
        cmd.args(["sign", "--format", "tauri", "--version", "2.0.0", "-k"]).arg(dir.join(&v.secret_key)).arg(&artifact);
        // Tauri keys made without a password are encrypted with the empty one: they must sign with no password set.
        if !v.password.is_empty() {
            cmd.env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", &v.password);
        }
        assert_success(&run(&mut cmd));
        // tauri-plugin-updater verifies with the minisign-verify crate, after undoing the base64 wrapping.
        let public = decode_tauri(&std::fs::read_to_string(dir.join(&v.public_key)).expect("pub"));
        let signature = decode_tauri(&ctx.read("artifact.bin.sig"));
        let public = minisign_verify::PublicKey::decode(&public).expect("tauri public key");
        let signature = minisign_verify::Signature::decode(&signature).expect("our signature");
        public
            .verify(&std::fs::read(&artifact).expect("artifact"), &signature, false)
            .expect("tauri's verifier accepts");
        assert!(
            signature.trusted_comment().ends_with("\tfile:artifact.bin\tversion:2.0.0"),
            "{}",
            signature.trusted_comment()
        );
    }
}

fn decode_tauri(text: &str) -> String {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}

#[test]
fn tauri_ci_environment_variables_work_unchanged() {
    let ctx = Ctx::new();
    let dir = vectors();
    let key_text = std::fs::read_to_string(dir.join("encrypted.key")).expect("key");
    ctx.write("app.AppImage", b"app");
    // Key text in TAURI_SIGNING_PRIVATE_KEY, password in TAURI_SIGNING_PRIVATE_KEY_PASSWORD.
    let out = run(ctx
        .ours()
        .args(["sign", "app.AppImage"])
        .env("TAURI_SIGNING_PRIVATE_KEY", &key_text)
        .env("TAURI_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD));
    assert_success(&out);
    assert_success(&run(ctx.ours().arg("verify").arg("-p").arg(dir.join("encrypted.key.pub")).arg("app.AppImage")));
    // Millennium's variables win over Tauri's; a path works as well as the text.
    let out = run(ctx
        .ours()
        .args(["sign", "app.AppImage"])
        .env("MILLENNIUM_SIGNING_PRIVATE_KEY", dir.join("nopassword.key"))
        .env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", "")
        .env("TAURI_SIGNING_PRIVATE_KEY", &key_text));
    assert_success(&out);
    assert_success(&run(ctx.ours().arg("verify").arg("-p").arg(dir.join("nopassword.key.pub")).arg("app.AppImage")));
    // TAURI_SIGNING_PRIVATE_KEY_PATH is honoured too.
    let out = run(ctx
        .ours()
        .args(["sign", "app.AppImage"])
        .env("TAURI_SIGNING_PRIVATE_KEY_PATH", dir.join("nopassword.key")));
    assert_success(&out);
    // No key anywhere: a hint, not a panic.
    assert_fails(&run(ctx.ours().args(["sign", "app.AppImage"])), 2, "MILLENNIUM_SIGNING_PRIVATE_KEY");
}

// --- the commands themselves -------------------------------------------------------------------------------------

#[test]
fn generate_protects_and_never_clobbers_keys() {
    let ctx = Ctx::new();
    ctx.keypair("k.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ctx.path("k.key")).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let before = (ctx.read("k.key"), ctx.read("k.key.pub"));
    let out = run(ctx.ours().args(["generate", "--no-password", "-w", "k.key"]));
    assert_fails(&out, 2, "already exists");
    assert_eq!((ctx.read("k.key"), ctx.read("k.key.pub")), before);
    // Only the public key existing also blocks, and nothing is half-written.
    std::fs::remove_file(ctx.path("k.key")).expect("rm");
    assert_fails(&run(ctx.ours().args(["generate", "--no-password", "-w", "k.key"])), 2, "already exists");
    assert!(!ctx.path("k.key").exists());
    assert_success(&run(ctx.ours().args(["generate", "--no-password", "--force", "-w", "k.key"])));
    assert_ne!(ctx.read("k.key.pub"), before.1);
    // Without a terminal or a password variable, an encrypted key cannot be made: say how.
    let out = run(ctx.ours().args(["generate", "-w", "new.key"]));
    assert_fails(&out, 2, "--no-password");
    // An empty password from the environment would make a key labelled "encrypted" that protects nothing.
    for var in ["MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", "TAURI_SIGNING_PRIVATE_KEY_PASSWORD"] {
        let out = run(ctx.ours().args(["generate", "-w", "new.key"]).env(var, ""));
        assert_fails(&out, 2, "set but empty");
        assert!(!ctx.path("new.key").exists());
    }
    // The nested default directory is created.
    assert_success(&run(ctx.ours().args(["generate", "--no-password", "-w", "a/b/c.key"])));
    assert_eq!(ctx.files(), ["a", "k.key", "k.key.pub"]);
}

#[test]
fn generate_json_and_tauri_format() {
    let ctx = Ctx::new();
    let out = run(ctx.ours().args(["--json", "generate", "--no-password", "--format", "tauri", "-w", "t.key"]));
    assert_success(&out);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["encrypted"], false);
    assert_eq!(json["format"], "tauri");
    // The Tauri form is one base64 line, like `tauri signer generate` writes.
    let public = ctx.read("t.key.pub");
    assert!(!public.trim().contains('\n') && !public.starts_with("untrusted"));
    assert_eq!(decode_tauri(&public), decode_tauri(json["public_key_tauri"].as_str().expect("str")));
    ctx.write("f", b"x");
    let out = run(ctx.ours().args(["--json", "sign", "--format", "tauri", "-k", "t.key", "f"]));
    assert_success(&out);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json[0]["signature"].as_str().expect("sig"), ctx.read("f.sig"));
    assert_success(&ctx.verify("t.key.pub", "f"));
}

#[test]
fn verify_reports_each_failure_distinctly() {
    let ctx = Ctx::new();
    ctx.keypair("a.key");
    ctx.keypair("b.key");
    ctx.write("f1", b"first file");
    ctx.write("f2", b"second file");
    assert_success(&ctx.sign("a.key", "f1"));
    assert_success(&ctx.sign("a.key", "f2"));
    let good = ctx.verify("a.key.pub", "f1");
    assert_success(&good);
    assert!(stdout(&good).starts_with("timestamp:"), "{}", text(&good));

    // Wrong public key.
    assert_fails(&ctx.verify("b.key.pub", "f1"), 1, "made by key");
    // Signature of another file.
    assert_fails(&run(ctx.ours().args(["verify", "-p", "a.key.pub", "-x", "f2.sig", "f1"])), 1, "does not match");
    // Modified file.
    ctx.write("f1", b"first filE");
    assert_fails(&ctx.verify("a.key.pub", "f1"), 1, "modified");
    ctx.write("f1", b"first file");
    // Tampered trusted comment.
    let sig = ctx.read("f1.sig");
    ctx.write("f1.sig", sig.replace("file:f1", "file:f9"));
    assert_fails(&ctx.verify("a.key.pub", "f1"), 1, "trusted comment was tampered");
    // Garbage base64 in the signature line.
    let lines: Vec<&str> = sig.lines().collect();
    ctx.write("f1.sig", sig.replace(lines[1], "RUQ!!!notbase64!!!"));
    assert_fails(&ctx.verify("a.key.pub", "f1"), 2, "not a valid signature");
    // Truncated signature file.
    ctx.write("f1.sig", &sig[..sig.len() / 2]);
    assert_fails(&ctx.verify("a.key.pub", "f1"), 2, "not a valid signature");
    // Empty signature file.
    ctx.write("f1.sig", "");
    assert_fails(&ctx.verify("a.key.pub", "f1"), 2, "empty");
    // Missing signature, missing file, unusable public key.
    std::fs::remove_file(ctx.path("f1.sig")).expect("rm");
    assert_fails(&ctx.verify("a.key.pub", "f1"), 2, "f1.sig");
    ctx.write("f1.sig", &sig);
    assert_fails(&ctx.verify("a.key.pub", "nope"), 2, "nope");
    assert_fails(&ctx.verify("RWQgarbage", "f1"), 2, "public key");
    // --json carries the kind of failure as `error.code`.
    ctx.write("f1", b"tampered");
    let out = run(ctx.ours().args(["--json", "verify", "-p", "a.key.pub", "f1"]));
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["error"]["code"], "data_mismatch");
    assert_eq!(json["error"]["hint"], serde_json::Value::Null);
}

/// The I/O cause is the error's `source()`, not part of its message: the CLI must still print it (issue 19).
#[test]
fn io_failure_shows_the_path_and_the_cause() {
    let ctx = Ctx::new();
    ctx.keypair("k.key");
    ctx.write("app", b"app");
    let sign = |json: bool| {
        let mut cmd = ctx.ours();
        cmd.args(json.then_some("--json")).args(["sign", "-k", "k.key", "-x", "no-such-dir/app.sig", "app"]);
        run(cmd.env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD))
    };
    let out = sign(false);
    assert_fails(&out, 2, "error: could not create a temporary file in `no-such-dir`: No such file or directory");
    let out = sign(true);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["error"]["code"], "io");
    let message = json["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("could not create a temporary file in `no-such-dir`: No such file"), "{message}");
    // Hints are a field of their own.
    let out = run(ctx.ours().args(["--json", "sign", "-k", "k.key", "app"]));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(json["error"]["code"], "password_required");
    let hint = json["error"]["hint"].as_str().expect("hint");
    assert!(hint.starts_with("set `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD`"), "{hint}");
    assert!(!json["error"]["message"].as_str().expect("message").contains("hint"), "{json}");
}

#[test]
fn signed_version_is_checked() {
    let ctx = Ctx::new();
    ctx.keypair("k.key");
    ctx.write("app", b"app");
    assert_success(&run(ctx
        .ours()
        .args(["sign", "-k", "k.key", "--version", "1.2.3", "app"])
        .env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD)));
    assert_success(&run(ctx.ours().args(["verify", "-p", "k.key.pub", "--version", "1.2.3", "app"])));
    assert_fails(
        &run(ctx.ours().args(["verify", "-p", "k.key.pub", "--version", "1.2.4", "app"])),
        1,
        "version 1.2.3, not 1.2.4",
    );
    assert_success(&ctx.sign("k.key", "app"));
    assert_success(&run(ctx.ours().args(["verify", "-p", "k.key.pub", "--version", "1.2.4", "app"])));
    assert_fails(
        &run(ctx.ours().args(["verify", "-p", "k.key.pub", "--version", "1.2.4", "--require-version", "app"])),
        1,
        "version",
    );
}

#[test]
fn bad_signing_input_leaves_nothing_behind() {
    let ctx = Ctx::new();
    ctx.keypair("k.key");
    ctx.write("empty", b"");
    ctx.write("app", b"app");
    ctx.write("app.sig", b"previous signature, must survive a failed run");
    // Empty artifact.
    assert_fails(&ctx.sign("k.key", "empty"), 2, "empty");
    // Missing artifact: nothing is signed, even the files that exist.
    assert_fails(
        &run(ctx
            .ours()
            .args(["sign", "-k", "k.key", "app", "missing"])
            .env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD)),
        2,
        "missing",
    );
    // Wrong password.
    assert_fails(
        &run(ctx.ours().args(["sign", "-k", "k.key", "app"]).env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", "wrong")),
        2,
        "wrong password",
    );
    // Encrypted key, no password source at all.
    assert_fails(&run(ctx.ours().args(["sign", "-k", "k.key", "app"])), 2, "MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD");
    // Truncated and garbage keys.
    let key = ctx.read("k.key");
    ctx.write("trunc.key", &key[..key.len() - 20]);
    assert_fails(&ctx.sign("trunc.key", "app"), 2, "secret key");
    ctx.write("garbage.key", "untrusted comment: x\n@@@@\n");
    assert_fails(&ctx.sign("garbage.key", "app"), 2, "base64");
    ctx.write("empty.key", "");
    assert_fails(&ctx.sign("empty.key", "app"), 2, "empty");
    assert_fails(&ctx.sign("missing.key", "app"), 2, "missing.key");
    // A directory is not an artifact.
    std::fs::create_dir(ctx.path("dir")).expect("mkdir");
    assert_fails(&ctx.sign("k.key", "dir"), 2, "not a regular file");

    assert_eq!(ctx.read("app.sig"), "previous signature, must survive a failed run");
    assert_eq!(
        ctx.files(),
        ["app", "app.sig", "dir", "empty", "empty.key", "garbage.key", "k.key", "k.key.pub", "trunc.key"]
    );
}

#[test]
fn rotation_chain_from_the_command_line() {
    let ctx = Ctx::new();
    ctx.keypair("k1.key");
    for (old, new) in [("k1.key", "k2.key"), ("k2.key", "k3.key")] {
        let out = run(ctx
            .ours()
            .args(["rotate", "--kdf-cost", "low", "-k", old, "-w", new, "--chain", "keys.chain"])
            .env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD)
            .env("MILLENNIUM_SIGNING_NEW_PRIVATE_KEY_PASSWORD", PASSWORD));
        assert_success(&out);
    }
    ctx.write("app", b"release signed by the newest key");
    assert_success(&ctx.sign("k3.key", "app"));
    // Pinned to the first key, the chain leads to the third.
    assert_success(&run(ctx.ours().args(["verify", "-p", "k1.key.pub", "--chain", "keys.chain", "app"])));
    assert_fails(&ctx.verify("k1.key.pub", "app"), 1, "made by key");
    // Rotating from a key that is not the chain's newest is refused.
    let out = run(ctx
        .ours()
        .args(["rotate", "--no-password", "-k", "k1.key", "-w", "k4.key", "--chain", "keys.chain"])
        .env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD));
    assert_fails(&out, 2, "not at the key being rotated");
    assert!(!ctx.path("k4.key").exists());
    // A chain with a statement removed no longer leads anywhere.
    let chain = ctx.read("keys.chain");
    let second_start = chain.match_indices("untrusted comment:").nth(1).expect("two statements").0;
    ctx.write("broken.chain", &chain[second_start..]);
    assert_fails(
        &run(ctx.ours().args(["verify", "-p", "k1.key.pub", "--chain", "broken.chain", "app"])),
        1,
        "rotation chain rejected",
    );
    // minisign itself can check a statement: it signs the domain prefix followed by the new key's binary form.
    let k2 = std::fs::read_to_string(ctx.path("k2.key.pub")).expect("pub");
    let k2_bytes = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(k2.lines().nth(1).expect("line")).expect("b64")
    };
    let mut message = b"millennium-sign key rotation v1\n".to_vec();
    message.extend_from_slice(&k2_bytes);
    ctx.write("statement.msg", message);
    ctx.write("statement.sig", &chain[..second_start]);
    assert_success(&run(ctx.minisign().args(["-V", "-p", "k1.key.pub", "-m", "statement.msg", "-x", "statement.sig"])));
}

#[test]
fn source_date_epoch_makes_signatures_reproducible() {
    let ctx = Ctx::new();
    ctx.keypair("k.key");
    ctx.write("app", b"reproducible");
    let sign = |out: &str| {
        run(ctx
            .ours()
            .args(["sign", "-k", "k.key", "-x", out, "app"])
            .env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", PASSWORD)
            .env("SOURCE_DATE_EPOCH", "1700000000"))
    };
    assert_success(&sign("one.sig"));
    assert_success(&sign("two.sig"));
    assert_eq!(ctx.read("one.sig"), ctx.read("two.sig"));
    assert!(ctx.read("one.sig").contains("timestamp:1700000000\tfile:app"));
}

#[test]
fn help_explains_the_commands() {
    let ctx = Ctx::new();
    let out = run(ctx.ours().arg("--help"));
    assert_success(&out);
    for word in ["generate", "sign", "verify", "rotate", "--json"] {
        assert!(stdout(&out).contains(word), "--help lacks {word}");
    }
    let out = run(ctx.ours().args(["sign", "--help"]));
    assert!(stdout(&out).contains("TAURI_SIGNING_PRIVATE_KEY"));
    assert_fails(&run(ctx.ours().arg("frobnicate")), 2, "unrecognized subcommand");
}

#[test]
fn passwords_are_asked_for_in_a_terminal() {
    // `script` gives the command a real pseudo-terminal; the typed lines are buffered by it until the prompt reads them.
    let ctx = Ctx::new();
    ctx.write("app", b"app");
    let bin = assert_cmd::cargo::cargo_bin("millennium-sign");
    let in_terminal = |command: String, typed: &str| {
        let script = format!("(sleep 0.5; printf '{typed}'; sleep 4) | script -qec '{command}' /dev/null");
        run(Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(ctx.dir.path())
            .env_remove("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD"))
    };
    let out = in_terminal(format!("{} generate --kdf-cost low -w t.key", bin.display()), "s3cret\\ns3cret\\n");
    assert!(stdout(&out).contains("Password (again)"), "{}", text(&out));
    assert!(ctx.path("t.key").exists(), "{}", text(&out));
    let out = in_terminal(format!("{} sign -k t.key app", bin.display()), "s3cret\\n");
    assert!(stdout(&out).contains("Password for the secret key"), "{}", text(&out));
    assert_success(&ctx.verify("t.key.pub", "app"));
    // Mismatched confirmation: no key is written.
    let out = in_terminal(format!("{} generate --kdf-cost low -w u.key", bin.display()), "one\\ntwo\\n");
    assert!(stdout(&out).contains("do not match"), "{}", text(&out));
    assert!(!ctx.path("u.key").exists());
}
