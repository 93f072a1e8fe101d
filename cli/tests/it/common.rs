//! What every test of `millennium` uses: the binary, a real update server on loopback, keys, and small apps.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use millennium_sign::{Format, KdfParams, SecretKey};
use millennium_update_admin::api::Scope;
use millennium_update_admin::client::Client;

/// The `millennium` binary under test.
pub fn millennium() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_millennium"));
    // Builds of test apps go to the workspace's target directory, where their dependencies are already compiled.
    command.env("CARGO_TARGET_DIR", target_dir());
    for var in [
        "MILLENNIUM_SIGNING_PRIVATE_KEY",
        "MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD",
        "TAURI_SIGNING_PRIVATE_KEY",
        "TAURI_SIGNING_PRIVATE_KEY_PATH",
        "TAURI_SIGNING_PRIVATE_KEY_PASSWORD",
        "MILLENNIUM_SERVER",
        "MILLENNIUM_TOKEN",
        "MILLENNIUM_PUBLISH_TOKEN",
        "SOURCE_DATE_EPOCH",
    ] {
        command.env_remove(var);
    }
    command.env("NO_COLOR", "1");
    command
}

/// The target directory this test binary was built into (`…/target/debug/deps/it-…` → `…/target`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

/// The repository's root (a Millennium checkout for `--framework-path`).
pub fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// Runs a command to completion on a blocking thread (the server runs on this test's runtime meanwhile).
pub async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

/// Stdout and stderr, for assertion messages.
pub fn show(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The JSON document on stdout.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", show(output)))
}

/// A release key, written unencrypted to `DIR/release.key` (public key `DIR/release.key.pub`).
pub struct Keys {
    pub secret: SecretKey,
    pub path: PathBuf,
}

impl Keys {
    pub fn generate(dir: &Path) -> Keys {
        let secret = SecretKey::generate().unwrap();
        let path = dir.join("release.key");
        std::fs::write(&path, secret.seal(None, KdfParams::INTERACTIVE).unwrap().to_text(Format::Minisign).as_str())
            .unwrap();
        std::fs::write(dir.join("release.key.pub"), secret.public_key().to_text(Format::Minisign)).unwrap();
        Keys { secret, path }
    }

    /// The same key encrypted with `password`, at `path`.
    pub fn encrypted_copy(&self, path: &Path, password: &str) {
        let sealed = self.secret.seal(Some(password), KdfParams::INTERACTIVE).unwrap();
        std::fs::write(path, sealed.to_text(Format::Minisign).as_str()).unwrap();
    }

    pub fn public_text(&self) -> String {
        self.secret.public_key().to_text(Format::Minisign)
    }
}

pub const ADMIN_TOKEN: &str = "admin-token-for-the-millennium-cli-tests";

/// A real update server (SQLite + files) in this process, on an ephemeral loopback port, until dropped.
pub struct Server {
    pub url: String,
    pub admin: Client,
    _stop: tokio::sync::oneshot::Sender<()>,
    _data: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Server {
        use millennium_update_server::{AppState, ServerConfig, StorageConfig, app, server::serve_on};
        let data = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let config = ServerConfig::new(&url, 512 * 1024 * 1024).unwrap();
        let state = AppState::open(&StorageConfig::local(data.path()), config, Some(ADMIN_TOKEN)).await.unwrap().state;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_on(listener, app(state), async {
            let _ = stopped.await;
        }));
        let admin = Client::new(&url, ADMIN_TOKEN).unwrap();
        Server { url, admin, _stop: stop, _data: data }
    }

    /// Registers `app` with `keys` and returns a publish token for it.
    pub async fn register(&self, app: &str, keys: &Keys) -> String {
        self.admin.create_app(app, &keys.public_text()).await.unwrap();
        self.admin.create_token(app, Scope::Publish, "ci").await.unwrap().token
    }

    /// How many releases `app` has.
    pub async fn releases(&self, app: &str) -> usize {
        self.admin.list_releases(app, None).await.map(|list| list.releases.len()).unwrap_or(0)
    }
}

/// A small app without the framework (it builds in a second): `NAME` printing its version, with a `Millennium.toml`.
pub fn tiny_app(dir: &Path, name: &str, version: &str) -> PathBuf {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2024\"\ndescription = \"A tiny test app\"\nlicense = \"MIT\"\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(root.join("src/main.rs"), "fn main() {\n    println!(\"{}\", env!(\"CARGO_PKG_VERSION\"));\n}\n")
        .unwrap();
    std::fs::write(
        root.join("Millennium.toml"),
        format!(
            "product-name = \"Tiny\"\nidentifier = \"com.example.{name}\"\nauthors = [\"Tiny Developers <dev@example.com>\"]\n"
        ),
    )
    .unwrap();
    root
}

/// The workspace's `[profile.*]` sections: an app built into the workspace's target directory with the same profiles
/// (and the same locked versions) reuses the dependencies the workspace has compiled.
pub fn workspace_profiles() -> String {
    let text = std::fs::read_to_string(checkout().join("Cargo.toml")).unwrap();
    let start = text.find("\n[profile.").map_or(text.len(), |i| i + 1);
    text[start..].to_owned()
}
