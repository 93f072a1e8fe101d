//! `millennium dev`: the app running with its page served from disk, reloaded when a file under the asset directory
//! changes, and rebuilt and restarted when its Rust code changes.
//!
//! The app is built with cargo's `dev` profile and the framework's `dev` feature (`--features millennium/dev`) and
//! started with `MILLENNIUM_DEV_DIST=<asset dir>`: the framework then serves the page from that directory through the
//! same protocol handler, path checks, MIME types, CSP and bootstrap as the embedded assets (see the framework's
//! `dev` module). With `--dev-url http://localhost:5173` (Vite and the like) it is started with
//! `MILLENNIUM_DEV_URL` instead, and the framework fetches each request from that server, again with the production
//! CSP and bridge. Release builds never have the feature.
//!
//! A watcher (`notify`: inotify, FSEvents, ReadDirectoryChangesW) reports changes under the asset directory, `src/`,
//! `Cargo.toml` and `build.rs`. Changes are gathered for [`SETTLE`] (an editor's save is often several events), then:
//! a page change is one `reload` line on the app's stdin (the framework reloads every window); a Rust change stops the
//! app, rebuilds and starts it again (a failed build leaves the app stopped until the next change). When the app
//! exits by itself (its window closed), `millennium dev` exits with its code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use clap::Args;
use notify::{RecursiveMode, Watcher};

use crate::cargo;
use crate::error::{Error, Result};

/// How long changes are gathered before acting on them.
pub const SETTLE: Duration = Duration::from_millis(60);

/// The framework's variable naming the asset directory to serve (`millennium::dev::DIST_ENV`).
pub const DIST_ENV: &str = "MILLENNIUM_DEV_DIST";
/// The framework's variable naming a dev server to serve from (`millennium::dev::URL_ENV`).
pub const URL_ENV: &str = "MILLENNIUM_DEV_URL";

/// Options of `millennium dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// The app's `Cargo.toml` (or its directory).
    #[arg(long, default_value = "Cargo.toml")]
    pub manifest_path: PathBuf,
    /// The asset directory (what `build.rs` embeds), relative to the app's directory.
    #[arg(long, default_value = "dist")]
    pub dist: PathBuf,
    /// Serve the page from a JavaScript dev server on loopback instead (e.g. Vite's `http://localhost:5173`), through
    /// the same CSP and bridge; the asset directory, when there is one, is still watched for reloads.
    #[arg(long, value_name = "URL")]
    pub dev_url: Option<String>,
    /// Arguments for the app.
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Something under the asset directory: reload the page.
    Page,
    /// Rust code or the build: rebuild and restart.
    Code,
}

/// Whether `url` is plain http to a loopback host, as the framework requires of `MILLENNIUM_DEV_URL` (it would
/// ignore any other and serve the embedded page, so `dev` refuses it up front): the host is exactly `localhost`,
/// `127.0.0.1` or `[::1]`, followed by nothing, a port, a path, a query or a fragment.
fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    ["localhost", "127.0.0.1", "[::1]"].iter().any(|host| {
        rest.strip_prefix(host).is_some_and(|after| match after.strip_prefix(':') {
            Some(port) => port.split(['/', '?', '#']).next().is_some_and(|p| p.parse::<u16>().is_ok()),
            None => after.is_empty() || after.starts_with(['/', '?', '#']),
        })
    })
}

/// Runs the dev loop until the app exits by itself; returns its exit code.
///
/// # Errors
///
/// No `Cargo.toml` or asset directory, a first build that fails, a watcher that cannot start.
pub fn run(args: &DevArgs) -> Result<u8> {
    let manifest =
        std::path::absolute(cargo::manifest_of(&args.manifest_path)).map_err(Error::io("find", &args.manifest_path))?;
    let root = manifest.parent().map(Path::to_owned).unwrap_or_default();
    if !manifest.is_file() {
        return Err(Error::usage(format!(
            "no `{}`\nhint: run in the app's directory, or pass `--manifest-path PATH/Cargo.toml`",
            manifest.display()
        )));
    }
    let dist = root.join(&args.dist);
    if !dist.is_dir() && args.dev_url.is_none() {
        return Err(Error::usage(format!(
            "no asset directory `{}`\nhint: pass the directory `build.rs` embeds with `--dist DIR`, or a dev server with `--dev-url`",
            dist.display()
        )));
    }
    if let Some(url) = &args.dev_url
        && !is_loopback_http(url)
    {
        return Err(Error::usage(format!(
            "`--dev-url {url}` is not a dev server on this machine\nhint: use plain http on loopback, e.g. `http://localhost:5173`"
        )));
    }
    let dist = dist.canonicalize().unwrap_or(dist);
    let package = cargo::package_name(&manifest)?;
    let build = cargo::Build {
        manifest_path: manifest.clone(),
        debug: true,
        target: None,
        features: vec!["millennium/dev".to_owned()],
        target_dir: None,
    };

    let (events, changes) = mpsc::channel();
    let mut watcher =
        notify::recommended_watcher(events).map_err(|source| Error::Watch { path: root.clone(), source })?;
    let watch = |watcher: &mut notify::RecommendedWatcher, path: &Path, mode| {
        watcher.watch(path, mode).map_err(|source| Error::Watch { path: path.to_owned(), source })
    };
    if dist.is_dir() {
        watch(&mut watcher, &dist, RecursiveMode::Recursive)?;
    }
    let src = root.join("src");
    if src.is_dir() {
        watch(&mut watcher, &src, RecursiveMode::Recursive)?;
    }
    // The app's directory itself, not recursively (its `target/` changes all the time): `Cargo.toml`, `build.rs`.
    watch(&mut watcher, &root, RecursiveMode::NonRecursive)?;
    let classify = |path: &Path| {
        if path.starts_with(&dist) {
            Some(Change::Page)
        } else if path.starts_with(&src)
            || path.file_name().is_some_and(|n| n == "Cargo.toml" || n == "build.rs" || n == "Cargo.lock")
        {
            Some(Change::Code)
        } else {
            None
        }
    };

    let start = |binary: &Path| -> Result<Child> {
        let mut command = Command::new(binary);
        command.args(&args.args).stdin(Stdio::piped());
        match &args.dev_url {
            Some(url) => command.env(URL_ENV, url),
            None => command.env(DIST_ENV, &dist),
        };
        command.spawn().map_err(|source| Error::App { action: "start", program: binary.to_owned(), source })
    };
    let binary = build_app(&build, &package)?;
    match &args.dev_url {
        Some(url) => eprintln!("dev: serving the page from `{url}`; watching for changes (ctrl-c stops)"),
        None => eprintln!("dev: serving `{}` from disk; watching for changes (ctrl-c stops)", dist.display()),
    }
    let mut app = Some((start(&binary)?, binary));
    loop {
        if let Some((child, binary)) = &mut app
            && let Some(status) =
                child.try_wait().map_err(|source| Error::App { action: "wait for", program: binary.clone(), source })?
        {
            return Ok(exit_code(status));
        }
        let first = match changes.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
        };
        let mut batch = vec![first];
        while let Ok(event) = changes.recv_timeout(SETTLE) {
            batch.push(event);
        }
        let mut page = None;
        let mut code = None;
        for event in batch.into_iter().flatten() {
            if matches!(event.kind, notify::EventKind::Access(_)) {
                continue;
            }
            for path in event.paths {
                match classify(&path) {
                    Some(Change::Page) => page = Some(path),
                    Some(Change::Code) => code = Some(path),
                    None => {}
                }
            }
        }
        if let Some(path) = code {
            eprintln!("dev: `{}` changed: rebuilding", path.display());
            if let Some((mut child, binary)) = app.take() {
                stop(&mut child, &binary)?;
            }
            match build_app(&build, &package) {
                Ok(binary) => app = Some((start(&binary)?, binary)),
                Err(error) => {
                    eprintln!("error: {}\ndev: waiting for the next change", millennium_report::Report::new(&error))
                }
            }
        } else if let (Some(path), Some((child, _))) = (page, &mut app) {
            eprintln!("dev: `{}` changed: reloading", path.display());
            if let Some(stdin) = child.stdin.as_mut() {
                // The app may just be exiting; the next turn of the loop sees that.
                let _ = stdin.write_all(b"reload\n").and_then(|()| stdin.flush());
            }
        }
    }
}

/// Builds the app with the framework's `dev` feature; returns its binary.
fn build_app(build: &cargo::Build, package: &str) -> Result<PathBuf> {
    cargo::main_binary(&build.run()?.executables, package, None)
}

/// Stops our app (the child we started) and reaps it.
fn stop(child: &mut Child, binary: &Path) -> Result<()> {
    let failed = |source| Error::App { action: "stop", program: binary.to_owned(), source };
    if child.try_wait().map_err(failed)?.is_none() {
        child.kill().map_err(failed)?;
        child.wait().map_err(failed)?;
    }
    Ok(())
}

/// The app's exit code (128 + the signal for a killed app, as shells report it).
fn exit_code(status: ExitStatus) -> u8 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return u8::try_from(128 + signal).unwrap_or(u8::MAX);
        }
    }
    status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::is_loopback_http;

    #[test]
    fn only_plain_http_on_loopback_is_accepted_as_a_dev_server() {
        for url in ["http://localhost:5173", "http://127.0.0.1:8080/app/", "http://[::1]:3000", "http://localhost"] {
            assert!(is_loopback_http(url), "{url}");
        }
        for url in ["https://localhost:5173", "http://localhost.evil:80", "http://localhost:x", "http://example.com"] {
            assert!(!is_loopback_http(url), "{url}");
        }
    }
}
