//! The GitHub composite action (`action.yml` at the repository's root), run as GitHub runs it: every `run:` step with
//! `bash --noprofile --norc -eo pipefail`, in its `working-directory`, with its `env:` after GitHub's substitution of
//! `${{ inputs.* }}` (defaults included) and `${{ github.action_path }}`, and `GITHUB_OUTPUT` collected. `uses:`
//! steps (the cache) are GitHub's own and are skipped; `millennium` is on `PATH` as a cache hit would leave it, so the
//! install step takes its "already installed" branch; the cache key step hashes this checkout for real. The release
//! goes to the real `millennium-update-server` binary serving on loopback, and the updater library then installs what
//! it published.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use millennium_testing::require_tool;
use millennium_testing::server::{ServerBinary, free_loopback_port};
use millennium_update_admin::api::Scope;
use serde_json::Value;

use crate::common::{checkout, installed_appimage, millennium, run, run_appimage, show, tiny_app};

const APP: &str = "com.example.tiny-action";

/// `action.yml` as JSON, through PyYAML (the YAML reader of GitHub's own tooling's ecosystem; the test needs no YAML
/// crate). `scripts/test` installs it into the build directory and names it in `MILLENNIUM_TEST_PYTHONPATH`.
fn action() -> Value {
    require_tool("python3", "python3");
    let path = checkout().join("action.yml");
    let output = Command::new("python3")
        .args(["-c", "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)"])
        .arg(&path)
        .env("PYTHONPATH", std::env::var("MILLENNIUM_TEST_PYTHONPATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python3 with PyYAML reads action.yml (`pip install --target DIR PyYAML` and MILLENNIUM_TEST_PYTHONPATH=DIR, as \
         scripts/test does): {}",
        show(&output)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Replaces each `${{ … }}` with what GitHub would: an input's value (or its default), the action's path.
fn substitute(text: &str, inputs: &BTreeMap<String, String>, action_path: &Path) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").map(|e| start + e).expect("closed expression");
        let expression = rest[start + 3..end].trim();
        let value = if let Some(name) = expression.strip_prefix("inputs.") {
            inputs.get(name).cloned().unwrap_or_else(|| panic!("no input `{name}` in action.yml"))
        } else if expression == "github.action_path" {
            action_path.display().to_string()
        } else {
            panic!("expression `{expression}` in a `run:` step's settings: add it to this test")
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actions_run_steps_publish_a_release_that_an_updater_installs() {
    let dir = tempfile::tempdir().unwrap();
    let root = tiny_app(dir.path(), "tiny-action", "3.1.0");
    // `serve` waits for health with a blocking client, which must not run on the runtime's own thread.
    let server = tokio::task::block_in_place(|| {
        ServerBinary::beside_tests().serve(
            &dir.path().join("data"),
            free_loopback_port(),
            &dir.path().join("server.log"),
        )
    });
    let app = server.register(dir.path(), APP, Scope::Publish).await;

    let action = action();
    let mut inputs: BTreeMap<String, String> = BTreeMap::new();
    for (name, spec) in action["inputs"].as_object().unwrap() {
        inputs.insert(name.clone(), spec.get("default").and_then(Value::as_str).unwrap_or_default().to_owned());
    }
    let given = [
        ("server", server.url.clone()),
        ("channel", "beta".to_owned()),
        ("formats", "deb,appimage".to_owned()),
        ("app-path", root.display().to_string()),
        ("signing-key", std::fs::read_to_string(&app.key_file).unwrap()),
        ("publish-token", app.token.clone()),
    ];
    for (name, value) in given {
        assert!(inputs.contains_key(name), "action.yml has no input `{name}`");
        inputs.insert(name.to_owned(), value);
    }

    // `millennium` on PATH (as the cache step restores it), with the environment the other tests give it.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_millennium"), bin.join("millennium")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let github_output = dir.path().join("github-output");
    std::fs::write(&github_output, "").unwrap();

    let steps = action["runs"]["steps"].as_array().unwrap();
    assert_eq!(action["runs"]["using"], "composite");
    let mut ran = 0;
    for step in steps {
        let Some(script) = step["run"].as_str() else {
            assert!(step["uses"].is_string(), "a step is `run` or `uses`: {step}");
            continue;
        };
        assert_eq!(step["shell"], "bash", "{step}");
        assert!(!script.contains("${{"), "inputs reach scripts through `env`, never `${{{{ }}}}`: {script}");
        let script_file = dir.path().join(format!("step-{ran}.sh"));
        std::fs::write(&script_file, script).unwrap();
        let template = millennium();
        let mut command = Command::new("bash");
        command.args(["--noprofile", "--norc", "-eo", "pipefail"]).arg(&script_file);
        command.envs(template.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))));
        for (k, _) in template.get_envs().filter(|(_, v)| v.is_none()) {
            command.env_remove(k);
        }
        command.env("PATH", &path).env("GITHUB_OUTPUT", &github_output).env("CI", "true");
        if let Some(env) = step["env"].as_object() {
            for (name, value) in env {
                command.env(name, substitute(value.as_str().unwrap(), &inputs, &checkout()));
            }
        }
        let directory = step["working-directory"].as_str().map(|d| substitute(d, &inputs, &checkout()));
        command.current_dir(directory.map_or_else(|| dir.path().to_owned(), PathBuf::from));
        let output = run(command).await;
        assert!(output.status.success(), "step {:?}: {}", step["name"], show(&output));
        ran += 1;
    }
    assert_eq!(ran, 3, "the cache key, install and release steps ran");

    // The outputs, as `${{ steps.release.outputs.* }}` would give them.
    let written = std::fs::read_to_string(&github_output).unwrap();
    let outputs: BTreeMap<&str, &str> = written.lines().filter_map(|l| l.split_once('=')).collect();
    assert!(outputs["key"].len() == 32 && outputs["key"].bytes().all(|b| b.is_ascii_hexdigit()), "{written}");
    let summary: Value = serde_json::from_str(outputs["summary"]).unwrap();
    let manifest_url = format!("{}/{APP}/beta/latest.json", server.url);
    assert_eq!(outputs["manifest-url"], manifest_url);
    assert_eq!(summary["manifest_url"], manifest_url.as_str());
    for (name, spec) in action["outputs"].as_object().unwrap() {
        let value = spec["value"].as_str().unwrap();
        assert_eq!(value, format!("${{{{ steps.release.outputs.{name} }}}}"), "output `{name}`");
        assert!(outputs.contains_key(name.as_str()), "output `{name}` not written");
    }

    // A real updater installs the release the action published.
    let (installed, updater) = installed_appimage(dir.path(), &app, "3.0.0", Some("beta"));
    let update = updater.check().await.unwrap().expect("3.1.0 is offered");
    update.download_and_install(|_| {}).await.unwrap();
    assert_eq!(run_appimage(&installed), "3.1.0");
    tokio::task::block_in_place(|| server.stop());
}
