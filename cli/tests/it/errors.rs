//! Every bad input of `millennium release` is reported as one error line and a hint, with exit code 1 or 2 (and the
//! `--json` error shape on stdout), and nothing is published.

use std::path::Path;
use std::process::Output;

use millennium_update_admin::api::Scope;

use crate::common::{json, millennium, releases, run, server_with, show, tiny_app, write_encrypted_key};

const APP: &str = "com.example.tiny-errors";

/// Checks the error's shape: the last two stderr lines are `error: …` and `hint: …`; stdout is the JSON error with
/// `code`; the exit code is `exit`.
fn assert_refused(output: &Output, exit: i32, code: &str) {
    assert_eq!(output.status.code(), Some(exit), "{}", show(output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let error_at = lines.iter().rposition(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("{}", show(output)));
    let rest = &lines[error_at + 1..];
    assert!(
        !rest.is_empty() && rest.iter().all(|l| l.starts_with("hint: ")),
        "one error line, then hints:\n{}",
        show(output)
    );
    let error = &json(output)["error"];
    assert_eq!(error["code"], code, "{}", show(output));
    assert!(error["hint"].is_string(), "{}", show(output));
}

fn release(root: &Path, server: &str) -> std::process::Command {
    let mut command = millennium();
    command.current_dir(root).args(["release", "--json", "--debug", "--format", "deb", "--server", server]);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_one_error_with_a_hint_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let root = tiny_app(dir.path(), "tiny-errors", "1.0.0");
    let (server, app) = server_with(APP).await;
    let token = &app.token;
    let with_key_and_token = |mut command: std::process::Command| {
        command.arg("--key").arg(&app.key_file).env("MILLENNIUM_PUBLISH_TOKEN", token);
        command
    };

    // No signing key anywhere.
    let mut command = release(&root, &server.url);
    command.env("MILLENNIUM_PUBLISH_TOKEN", token);
    assert_refused(&run(command).await, 2, "no_key");

    // The wrong password for an encrypted key.
    let encrypted = dir.path().join("encrypted.key");
    write_encrypted_key(&app, &encrypted, "right");
    let mut command = release(&root, &server.url);
    command.arg("--key").arg(&encrypted).env("MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD", "wrong");
    command.env("MILLENNIUM_PUBLISH_TOKEN", token);
    assert_refused(&run(command).await, 2, "wrong_password");

    // No Millennium.toml.
    let bare = dir.path().join("bare");
    std::fs::create_dir_all(bare.join("src")).unwrap();
    std::fs::copy(root.join("Cargo.toml"), bare.join("Cargo.toml")).unwrap();
    assert_refused(&run(with_key_and_token(release(&bare, &server.url))).await, 2, "no_config");

    // A server that cannot be reached (a port nothing listens on).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    assert_refused(&run(with_key_and_token(release(&root, &unreachable))).await, 1, "http");

    // A token that may not publish this app (another app's).
    let other = server.register("com.example.other", Scope::Publish).await;
    let mut command = release(&root, &server.url);
    command.arg("--key").arg(&app.key_file).env("MILLENNIUM_PUBLISH_TOKEN", &other.token);
    assert_refused(&run(command).await, 1, "forbidden");
    assert_eq!(releases(&server, APP).await, 0, "nothing published so far");

    // The version exists with other files: published once, then the app changes but not its version.
    let first = run(with_key_and_token(release(&root, &server.url))).await;
    assert!(first.status.success(), "{}", show(&first));
    std::fs::write(root.join("src/main.rs"), "fn main() {\n    println!(\"changed\");\n}\n").unwrap();
    assert_refused(&run(with_key_and_token(release(&root, &server.url))).await, 1, "duplicate_version");
    let published = server.admin.list_releases(APP, None).await.unwrap();
    assert_eq!(published.releases.len(), 1);
    let deb = published.releases[0].artifacts.iter().find(|a| a.target.ends_with("-deb")).unwrap();
    let first_deb =
        json(&first)["files"].as_array().unwrap().iter().find(|f| f["format"] == "deb").unwrap()["sha256"].clone();
    assert_eq!(deb.sha256, first_deb.as_str().unwrap(), "the published release is unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_release_stops_the_build_it_overlaps_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = tiny_app(dir.path(), "tiny-slow-build", "1.0.0");
    // cargo runs while the server is asked; this build would take a minute.
    std::fs::write(
        root.join("build.rs"),
        "fn main() {\n    std::thread::sleep(std::time::Duration::from_secs(60));\n}\n",
    )
    .unwrap();
    let (server, app) = server_with("com.example.tiny-slow-build").await;
    let other = server.register("com.example.other", Scope::Publish).await;

    let mut command = release(&root, &server.url);
    command.arg("--key").arg(&app.key_file).env("MILLENNIUM_PUBLISH_TOKEN", &other.token);
    let started = std::time::Instant::now();
    let refused = run(command).await;
    assert_refused(&refused, 1, "forbidden");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "waited for the build: {:?}", started.elapsed());
    assert_eq!(releases(&server, "com.example.tiny-slow-build").await, 0);
}
