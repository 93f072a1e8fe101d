//! `millennium release`: build, bundle, sign and publish in one step, closing the seams where releases usually break
//! (a signature not picked up, the wrong file listed for a platform, a half-published release).
//!
//! The order is chosen so that a mistake costs nothing:
//!
//! 1. **Local checks**: the configuration, the signing key (opened once: a wrong password fails here), the token.
//! 2. **Server checks**, while cargo builds: the server is reachable, the token may publish the app (a dry-run
//!    publish), the key is one the app's updates verify against. A version that exists already is noted. A failed
//!    check kills cargo and is reported at once, so a mistake costs no build; a warm build (cargo finds everything
//!    up to date) hides the round trips.
//! 3. **Build and bundle** (cargo, then the bundler's library while the AppImage's launcher is built: only the
//!    AppImage waits for it), every installer signed in the same pass. A receipt (`.millennium-release.json` in the
//!    output directory) records what was built from which inputs; a re-run with the same inputs reuses those files
//!    instead of bundling again.
//! 4. **Publish**: one upload that the server commits atomically, so a release is never half published. A new
//!    release is uploaded *while it is bundled* (`Streaming`): the upload starts with the bundling, and each
//!    installer, signed the moment its format finished it, is verified locally and sent while the other formats are
//!    still being built and the files are written. The upload is ended (which is what makes the server commit) only
//!    once every format succeeded, the files are in the output directory, the receipt is written and every uploaded
//!    installer and signature is checked to be byte for byte the file the bundler wrote; any failure before that
//!    aborts the request mid-body and the server keeps nothing. This is the overlap the separate commands cannot
//!    have: `publish` can only start once `bundle` has written its last file. Apps with signed metadata, and a
//!    re-run that reuses its bundles, publish with `millennium-update-admin`'s publish (the same code as `millennium
//!    publish`: signatures verified locally, then one upload), since a release document lists every artifact.
//!    A re-run after a failure resumes: when the server already has this version with exactly these files (same
//!    targets and SHA-256), nothing is uploaded again and the run succeeds; with other files it fails, because a
//!    published release never changes.
//!
//! The summary (`--json`) lists every file with its SHA-256, target, signature and download URL, and the channel's
//! manifest URL (`SERVER/APP/CHANNEL/latest.json`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use std::cell::RefCell;

use clap::Args;
use millennium_bundler::{Finished, Produced, Progress};
use millennium_update_admin::api::{PublishRequest, Release};
use millennium_update_admin::cli::{AdminCommand, Output, PublishArgs};
use millennium_update_admin::client::{Client, StreamedArtifact, StreamedPart};
use millennium_update_admin::env_vars;
use millennium_update_admin::report::Render;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bundle::{self, BuildOptions, Prepared, Spinner};
use crate::error::{Error, Result};

/// Options of `millennium release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub build: BuildOptions,
    /// The update server's base URL.
    #[arg(long, env = env_vars::SERVER)]
    pub server: String,
    /// The channel to publish to.
    #[arg(long, default_value = "stable")]
    pub channel: String,
    /// The app's id on the server [default: `identifier` from `Millennium.toml`].
    #[arg(long)]
    pub app: Option<String>,
    /// Publish token (default: `MILLENNIUM_PUBLISH_TOKEN`, else `MILLENNIUM_TOKEN`).
    #[arg(long, hide_env_values = true)]
    pub token: Option<String>,
    /// Release notes file (Markdown).
    #[arg(long)]
    pub notes_file: Option<PathBuf>,
    /// Initial rollout percentage.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub rollout: u8,
}

/// What `release` did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The app on the server.
    pub app: String,
    /// The released version.
    pub version: String,
    /// The channel.
    pub channel: String,
    /// The server.
    pub server: String,
    /// The channel's static manifest, which lists this release.
    pub manifest_url: String,
    /// `false` when the server already had exactly these files (a resumed run): nothing was uploaded.
    pub uploaded: bool,
    /// `true` when the bundles of an earlier run with the same inputs were reused.
    pub reused_bundles: bool,
    /// Every file produced, installers first.
    pub files: Vec<SummaryFile>,
    /// Warnings of the bundler.
    pub warnings: Vec<String>,
}

/// One produced file.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryFile {
    /// The bundler's format (`deb`, `appimage`, `updater` for signatures, …).
    pub format: String,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// The update target it is published as (`linux-x86_64-appimage`), for installers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Its signature file, for installers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<PathBuf>,
    /// Where clients download it, for installers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Render for Summary {
    fn human(&self, out: &mut dyn Write, notes: &mut dyn Write) -> std::io::Result<()> {
        for warning in &self.warnings {
            writeln!(notes, "warning: {warning}")?;
        }
        for file in self.files.iter().filter(|f| f.target.is_some()) {
            writeln!(out, "{}  {}  {}", file.sha256, file.target.as_deref().unwrap_or_default(), file.path.display())?;
            if let Some(url) = &file.url {
                writeln!(out, "    {url}")?;
            }
        }
        let what = if self.uploaded { "published" } else { "was already published (nothing uploaded)" };
        writeln!(notes, "{} {} {what} in `{}`", self.app, self.version, self.channel)?;
        writeln!(out, "{}", self.manifest_url)
    }
}

/// What the server said before the build.
enum Existing {
    /// The version is new.
    New,
    /// The version exists with these files.
    Published(Box<Release>),
}

/// Runs the release.
///
/// # Errors
///
/// See the module documentation; nothing is published unless every step before the upload succeeded.
pub async fn run(args: ReleaseArgs, json: bool) -> Result<Summary> {
    // 1. Local checks.
    let key = crate::keys::open(args.build.key.as_deref())?.ok_or(Error::NoKey)?;
    let prepared = args.build.prepare(true)?;
    let app_id = args.app.clone().unwrap_or_else(|| prepared.app.identifier.clone());
    let version = prepared.app.version.to_string();
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var(env_vars::PUBLISH_TOKEN).ok().filter(|t| !t.is_empty()))
        .or_else(|| std::env::var(env_vars::TOKEN).ok().filter(|t| !t.is_empty()))
        .ok_or_else(|| {
            Error::usage(format!(
                "no publish token given\nhint: set `{}` to a token from `millennium-update-server tokens create --app {app_id} --scope publish`, or pass `--token`",
                env_vars::PUBLISH_TOKEN
            ))
        })?;
    let client = Client::new(&args.server, &token)?;
    let refused = |source| refusal(&args.server, &app_id, source);

    let notes = args
        .notes_file
        .as_deref()
        .map(|path| std::fs::read_to_string(path).map_err(Error::io("read", path)))
        .transpose()?;

    // 2. Server checks, before the build.
    let min_webview = prepared.app.min_webview.clone();
    let check = PublishRequest {
        version: version.clone(),
        channel: Some(args.channel.clone()),
        notes,
        min_webview_version: (!min_webview.is_empty()).then(|| min_webview.to_string()),
        rollout: Some(args.rollout),
        force: false,
        total_size: None,
        dry_run: true,
    };
    // Both questions at once: over a real network each is a round trip. Both answers are awaited, so which problem
    // is reported does not depend on which answer came first.
    let existing = async {
        match client.publish_check(&app_id, &check).await {
            Ok(_) => Ok(Existing::New),
            Err(millennium_update_admin::Error::Server { code, .. }) if code == "duplicate_version" => {
                let parsed = millennium_update_protocol::Version::parse(&version)
                    .map_err(|e| Error::usage(format!("version `{version}`: {e}")))?;
                let release = client.release(&app_id, &parsed).await.map_err(refused)?;
                Ok(release.map_or(Existing::New, |r| Existing::Published(Box::new(r))))
            }
            Err(e) => Err(refused(e)),
        }
    };
    let key_check = async {
        check_key(&client, &app_id, &key).await.map_err(|e| match e {
            Error::Admin(source) => refused(source),
            other => other,
        })
    };
    let checks = async {
        let (existing, signed_metadata) = tokio::join!(existing, key_check);
        Ok::<_, Error>((existing?, signed_metadata?))
    };
    // 3. Build (cargo runs while the server answers: a failed check stops it) and bundle (or reuse the bundles of an
    // earlier run with the same inputs). A new release of an app without signed metadata is uploaded while it is
    // bundled.
    let stop = crate::cargo::Stop::default();
    let (checked, compiled) = tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let compiling = scope.spawn(|| bundle::compile(&args.build, &prepared, &stop));
            let checked = tokio::runtime::Handle::current().block_on(checks);
            if checked.is_err() {
                stop.stop();
            }
            let compiled = compiling.join().unwrap_or_else(|_| Err(Error::usage("the thread running cargo panicked")));
            (checked, compiled)
        })
    });
    // A refusal first: it is why cargo was stopped.
    let (existing, signed_metadata) = checked?;
    let compiled = compiled?;
    let binary = compiled.main.as_deref();
    let receipt_path = prepared.out.join(RECEIPT);
    let stream = matches!(existing, Existing::New) && !signed_metadata;
    let mut streaming: Option<Streaming> = None;
    // The AppImage's launcher is built meanwhile (the bundler and the fingerprint wait for it where they read it).
    let bundled = tokio::task::block_in_place(|| {
        bundle::while_launcher_builds(&compiled, |launcher| {
            std::thread::scope(|scope| {
                // Hashing the inputs (the binaries) takes a while. Without a receipt to compare it with, the
                // fingerprint is only written down after bundling, so it is computed meanwhile, on a core the bundler
                // leaves idle part of the time.
                let hashing = scope.spawn(|| fingerprint(&args.build, &prepared, binary, launcher, &key));
                let joined = |hashing: std::thread::ScopedJoinHandle<'_, Result<String>>| {
                    hashing.join().unwrap_or_else(|_| Err(Error::usage("hashing the release's inputs panicked")))
                };
                let mut bundle_now = || {
                    let spinner = Spinner::new(json);
                    if stream {
                        let request = PublishRequest { dry_run: false, ..check.clone() };
                        streaming = Some(Streaming::start(&client, &app_id, request, &key, prepared.arch, &spinner));
                    }
                    let progress = ReleaseProgress { spinner: &spinner, streaming: streaming.as_ref() };
                    let main = binary.map(Path::to_owned);
                    let report = bundle::bundle(&args.build, &prepared, main, launcher, Some(&key), &progress);
                    spinner.finish();
                    report
                };
                let (report, fingerprint) = if receipt_path.is_file() {
                    let fingerprint = joined(hashing)?;
                    if let Some(report) = Receipt::load(&receipt_path, &fingerprint) {
                        return Ok((report, true));
                    }
                    (bundle_now()?, fingerprint)
                } else {
                    let report = bundle_now()?;
                    (report, joined(hashing)?)
                };
                // Before the upload is ended: a re-run after any later failure finds these bundles, and the server
                // either has exactly them or nothing.
                Receipt::from_report(fingerprint, &report).save(&receipt_path)?;
                Ok::<_, Error>((report, false))
            })
        })
    });
    let (report, reused) = match bundled {
        Ok(bundled) => bundled,
        Err(e) => return Err(abandon(streaming, e).await),
    };
    let installers = match installers(&report.files, prepared.arch) {
        Ok(installers) => installers,
        Err(e) => return Err(abandon(streaming, e).await),
    };

    // 4. Publish, or find it published already.
    let (release, uploaded) = match (existing, streaming) {
        (_, Some(streaming)) => (
            streaming.complete(&installers).await.map_err(|e| match e {
                Error::Admin(source) => refused(source),
                other => other,
            })?,
            true,
        ),
        (Existing::Published(release), None) => {
            same_files(&release, &installers, &args.channel, &app_id, &version)?;
            (*release, false)
        }
        (Existing::New, None) => {
            let publish = PublishArgs {
                server: args.server.clone(),
                token: Some(token.clone()),
                app: app_id.clone(),
                channel: args.channel.clone(),
                version: version.clone(),
                notes_file: args.notes_file.clone(),
                min_webview_version: if min_webview.is_empty() { Vec::new() } else { vec![min_webview] },
                rollout: args.rollout,
                force: false,
                // Apps with signed metadata: the release document is signed with the same key.
                release_key: if signed_metadata { args.build.key.clone() } else { None },
                targets: installers.iter().map(|(target, file)| format!("{target}={}", file.path.display())).collect(),
                artifacts: Vec::new(),
            };
            match millennium_update_admin::cli::run(AdminCommand::Publish(publish), json).await {
                Ok(Output::Release(release)) => (release, true),
                Ok(_) => return Err(Error::usage("the server's answer to the publish is not a release")),
                Err(e) => return Err(refused(e)),
            }
        }
    };

    // 5. The summary.
    let urls: BTreeMap<&str, &str> = release.artifacts.iter().map(|a| (a.target.as_str(), a.url.as_str())).collect();
    let mut files: Vec<SummaryFile> = Vec::new();
    for (target, file) in &installers {
        let target = target.to_string();
        files.push(SummaryFile {
            format: file.format.to_owned(),
            path: file.path.clone(),
            size: file.size,
            sha256: file.sha256.clone(),
            url: urls.get(target.as_str()).map(|u| (*u).to_owned()),
            signature: Some(sig_path(&file.path)),
            target: Some(target),
        });
    }
    let others: Vec<&Produced> =
        report.files.iter().filter(|f| !installers.iter().any(|(_, i)| i.path == f.path)).collect();
    for file in others {
        files.push(SummaryFile {
            format: file.format.to_owned(),
            path: file.path.clone(),
            size: file.size,
            sha256: file.sha256.clone(),
            target: None,
            signature: None,
            url: None,
        });
    }
    Ok(Summary {
        manifest_url: format!("{}/{app_id}/{}/latest.json", args.server.trim_end_matches('/'), args.channel),
        app: app_id,
        version,
        channel: args.channel,
        server: args.server,
        uploaded,
        reused_bundles: reused,
        files,
        warnings: report.warnings,
    })
}

/// A server error with a hint about this release (the admin client's own hint, for a server that cannot be reached).
fn refusal(server: &str, app: &str, source: millennium_update_admin::Error) -> Error {
    let code = source.code().to_owned();
    let token_hint = format!("make one with `millennium-update-server tokens create --app {app} --scope publish`");
    let hint = match code.as_str() {
        "unauthorized" => {
            format!("the token is not valid on this server (mistyped, revoked, or from another one): {token_hint}")
        }
        "forbidden" => format!("the token may not publish `{app}`: use a `publish` token of this app; {token_hint}"),
        "not_found" => format!(
            "the server has no app `{app}`: register it with `millennium-update-server apps create --id {app} --public-key release.key.pub`, or pass `--app`"
        ),
        "version_not_newer" => "the channel has a newer release: bump `version` in `Cargo.toml`".to_owned(),
        "bad_signature" => "sign with the key the app was registered with (`apps set-key` replaces it)".to_owned(),
        "payload_too_large" => "raise the server's `--max-upload-size`, or publish fewer formats".to_owned(),
        _ => return Error::Admin(source),
    };
    Error::Refused { server: server.to_owned(), hint, source }
}

/// Refuses a key the app's updates would not verify, before anything is built. Returns whether the app has signed
/// metadata (a root).
async fn check_key(client: &Client, app: &str, key: &millennium_sign::SecretKey) -> Result<bool> {
    let status = client.metadata_status(app).await?;
    let signed_metadata = status.root_version.is_some();
    let keys = match status.release_keys {
        Some(keys) => keys,
        None => vec![client.app(app).await?.public_key],
    };
    let ours = key.key_id();
    if keys.iter().filter_map(|k| millennium_sign::PublicKey::from_text(k).ok()).any(|k| k.key_id() == ours) {
        return Ok(signed_metadata);
    }
    Err(Error::Admin(millennium_update_admin::Error::SignatureRejected {
        target: "every file".to_owned(),
        reason: format!(
            "the signing key {ours} is not a release key of app `{app}`\nhint: sign with the key the app was registered with, or replace it with `millennium-update-server apps set-key`"
        ),
    }))
}

/// `FILE.sig`.
fn sig_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// The installers among the produced files (those with a signature), with the target each is published as.
fn installers(
    files: &[Produced],
    arch: millennium_bundler::Arch,
) -> Result<Vec<(millennium_update_protocol::Target, &Produced)>> {
    let mut out = Vec::new();
    for file in files {
        let sig = sig_path(&file.path);
        if !files.iter().any(|f| f.path == sig) {
            continue;
        }
        let name = file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out.push((target_of(&name, arch)?, file));
    }
    if out.is_empty() {
        return Err(Error::usage(
            "nothing to publish: no format the updater installs was built\nhint: `--format deb,rpm,appimage` (and `msi`, `nsis`, `app` with their binaries)",
        ));
    }
    Ok(out)
}

/// The update target an installer named `name` is published as.
fn target_of(name: &str, arch: millennium_bundler::Arch) -> Result<millennium_update_protocol::Target> {
    if name.ends_with(".app.tar.gz") {
        // `Product Name.app.tar.gz` names no architecture: it is the macOS build's.
        return millennium_update_protocol::Target::new(
            millennium_update_protocol::Os::Darwin,
            arch.protocol(),
            Some(millennium_update_protocol::BundleType::App),
        )
        .map_err(|e| Error::usage(format!("`{name}`: {e}")));
    }
    Ok(millennium_update_admin::infer::target_from_file_name(name)?)
}

/// The upload of a new release while it is bundled (see the module documentation): started with the bundling, fed
/// by [`ReleaseProgress`] with each installer as the bundler finishes it, ended by [`Streaming::complete`] once
/// everything is on disk, or abandoned (the request aborted mid-body, so the server keeps nothing).
struct Streaming {
    /// The upload's parts; dropping it without [`StreamedPart::Complete`] aborts the upload.
    parts: tokio::sync::mpsc::UnboundedSender<StreamedPart>,
    /// The request, running on the async runtime while the bundler blocks this thread.
    upload: tokio::task::JoinHandle<millennium_update_admin::Result<Release>>,
    /// What was sent, in the order it was.
    sent: RefCell<Vec<Sent>>,
    /// The first installer that could not be sent, and why: it fails the release.
    problem: RefCell<Option<Error>>,
    /// The key the installers must verify with (checked against the server's before the build).
    public_key: millennium_sign::PublicKey,
    version: String,
    arch: millennium_bundler::Arch,
    /// Bytes queued and sent, under the bundler's spinner (hidden when it is).
    bar: indicatif::ProgressBar,
}

/// An installer [`Streaming`] sent.
struct Sent {
    name: String,
    target: millennium_update_protocol::Target,
    sha256: String,
    signature: String,
}

impl Streaming {
    /// Starts the request (its `release` part goes out at once).
    fn start(
        client: &Client,
        app: &str,
        request: PublishRequest,
        key: &millennium_sign::SecretKey,
        arch: millennium_bundler::Arch,
        spinner: &Spinner,
    ) -> Streaming {
        let (parts, receiver) = tokio::sync::mpsc::unbounded_channel();
        let version = request.version.clone();
        let bar = spinner.bytes_bar("uploading");
        let progress_bar = bar.clone();
        let (client, app) = (client.clone(), app.to_owned());
        let upload = tokio::spawn(async move {
            let progress = std::sync::Arc::new(move |n| progress_bar.inc(n));
            client.publish_streamed(&app, &request, receiver, progress).await
        });
        Streaming {
            parts,
            upload,
            sent: RefCell::default(),
            problem: RefCell::default(),
            public_key: key.public_key(),
            version,
            arch,
            bar,
        }
    }

    /// Verifies a finished installer's signature, as a publish does, and sends it. The first problem stops sending.
    fn send(&self, installer: &Finished<'_>) {
        if self.problem.borrow().is_some() {
            return;
        }
        match self.check(installer) {
            Ok((target, signature)) => {
                let sha256 = hex::encode(Sha256::digest(installer.bytes));
                self.sent.borrow_mut().push(Sent {
                    name: installer.name.to_owned(),
                    target,
                    sha256,
                    signature: signature.clone(),
                });
                self.bar.inc_length(installer.bytes.len() as u64);
                let artifact = StreamedArtifact {
                    target,
                    file_name: installer.name.to_owned(),
                    bytes: installer.bytes.to_vec(),
                    signature,
                };
                // Fails only when the request has ended already (the server refused it): awaiting it says why.
                let _ = self.parts.send(StreamedPart::Artifact(artifact));
            }
            Err(e) => *self.problem.borrow_mut() = Some(e),
        }
    }

    /// The installer's target and signature text, once the signature verifies over its bytes with the release key and
    /// signs this version.
    fn check(&self, installer: &Finished<'_>) -> Result<(millennium_update_protocol::Target, String)> {
        let target = target_of(installer.name, self.arch)?;
        let rejected = |reason: String| {
            Error::Admin(millennium_update_admin::Error::SignatureRejected { target: target.to_string(), reason })
        };
        let text = installer.signature.ok_or_else(|| rejected("the bundler did not sign it".into()))?;
        let signature = millennium_sign::Signature::from_text(text).map_err(|e| rejected(e.to_string()))?;
        signature.verify(&self.public_key, installer.bytes).map_err(|e| rejected(e.to_string()))?;
        signature.trusted_fields().check_version(&self.version, true).map_err(|e| rejected(e.to_string()))?;
        Ok((target, text.to_owned()))
    }

    /// Ends the upload once every installer the bundler wrote was sent as written (same bytes, same signature), and
    /// returns the release the server committed; otherwise abandons it.
    async fn complete(self, installers: &[(millennium_update_protocol::Target, &Produced)]) -> Result<Release> {
        if let Some(problem) = self.problem.take() {
            return Err(self.abandon(problem).await);
        }
        if let Err(e) = self.same_as_written(installers) {
            return Err(self.abandon(e).await);
        }
        self.bar.set_message("publishing");
        // Sending fails only when the request has ended already; its result says why.
        let _ = self.parts.send(StreamedPart::Complete);
        let Streaming { parts, upload, bar, .. } = self;
        drop(parts);
        let release = upload.await.map_err(|e| Error::usage(format!("the upload task failed: {e}")));
        bar.finish_and_clear();
        Ok(release??)
    }

    /// Whether what was sent is exactly what the bundler wrote: the same installers, bytes and signatures.
    fn same_as_written(&self, installers: &[(millennium_update_protocol::Target, &Produced)]) -> Result<()> {
        let sent = self.sent.borrow();
        let mismatch = |file: &str, what: &str| Error::UploadMismatch { file: file.to_owned(), what: what.to_owned() };
        for (target, file) in installers {
            let name = file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let Some(sent) = sent.iter().find(|s| s.name == name) else {
                return Err(mismatch(&name, "it was never uploaded"));
            };
            if sent.target != *target {
                return Err(mismatch(&name, "uploaded under another target"));
            }
            if sent.sha256 != file.sha256 {
                return Err(mismatch(&name, "other bytes were uploaded"));
            }
            let sig = sig_path(&file.path);
            let written = std::fs::read_to_string(&sig).map_err(Error::io("read", &sig))?;
            if written != sent.signature {
                return Err(mismatch(&name, "another signature was uploaded"));
            }
        }
        if let Some(extra) = sent.iter().find(|s| !installers.iter().any(|(_, f)| f.path.ends_with(&s.name))) {
            return Err(mismatch(&extra.name, "the bundler did not write it"));
        }
        Ok(())
    }

    /// Aborts the upload (the request ends mid-body: the server keeps nothing) and returns `error`.
    async fn abandon(self, error: Error) -> Error {
        let Streaming { parts, upload, bar, .. } = self;
        drop(parts);
        // Waited for, so the server has seen the upload fail before this run reports and exits.
        let _ = upload.await;
        bar.finish_and_clear();
        error
    }
}

/// Abandons the upload, when one was started, and returns `error`.
async fn abandon(streaming: Option<Streaming>, error: Error) -> Error {
    match streaming {
        Some(streaming) => streaming.abandon(error).await,
        None => error,
    }
}

/// The bundler's progress for `release`: its steps on the spinner, and each finished installer to the upload.
struct ReleaseProgress<'a> {
    spinner: &'a Spinner,
    streaming: Option<&'a Streaming>,
}

impl Progress for ReleaseProgress<'_> {
    fn step(&self, message: &str) {
        self.spinner.step(message);
    }

    fn finished(&self, installer: &Finished<'_>) {
        if let Some(streaming) = self.streaming {
            streaming.send(installer);
        }
    }
}

/// Succeeds when the published release has exactly these files (a resumed run), else fails: it never changes.
fn same_files(
    release: &Release,
    installers: &[(millennium_update_protocol::Target, &Produced)],
    channel: &str,
    app: &str,
    version: &str,
) -> Result<()> {
    let published: BTreeMap<&str, &str> =
        release.artifacts.iter().map(|a| (a.target.as_str(), a.sha256.as_str())).collect();
    let mut differ = Vec::new();
    for (target, file) in installers {
        let target = target.to_string();
        if published.get(target.as_str()) != Some(&file.sha256.as_str()) {
            differ.push(target);
        }
    }
    for target in published.keys() {
        if !installers.iter().any(|(t, _)| t.to_string() == *target) {
            differ.push(format!("{target} (published, not built now)"));
        }
    }
    if !release.channels.iter().any(|c| c.channel == channel) {
        differ.push(format!("it is not in channel `{channel}`"));
    }
    if differ.is_empty() {
        return Ok(());
    }
    Err(Error::AlreadyPublished { app: app.to_owned(), version: version.to_owned(), differ: differ.join(", ") })
}

/// The receipt's file name in the output directory.
pub const RECEIPT: &str = ".millennium-release.json";

/// What an earlier run built, and from which inputs.
#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    /// SHA-256 of the inputs (see [`fingerprint`]).
    fingerprint: String,
    /// The files it produced.
    files: Vec<ReceiptFile>,
    /// The bundler's warnings.
    warnings: Vec<String>,
}

/// [`Produced`] as stored (its `format` is a `&'static str`).
#[derive(Debug, Serialize, Deserialize)]
struct ReceiptFile {
    format: String,
    path: PathBuf,
    size: u64,
    sha256: String,
}

impl Receipt {
    /// The earlier run's report, when its inputs were the same and every file is still there, unchanged.
    fn load(path: &Path, fingerprint: &str) -> Option<millennium_bundler::Report> {
        let receipt: Receipt = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        if receipt.fingerprint != fingerprint {
            return None;
        }
        let mut files = Vec::new();
        for file in receipt.files {
            let format = FORMATS.iter().find(|f| **f == file.format)?;
            if file.path.is_file() && sha256_file(&file.path).ok()? != file.sha256 {
                return None;
            }
            if !file.path.exists() {
                return None;
            }
            files.push(Produced { format, path: file.path, size: file.size, sha256: file.sha256 });
        }
        Some(millennium_bundler::Report { files, warnings: receipt.warnings })
    }

    /// Writes it (after the bundles, so a receipt never names files that are not there).
    fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::usage(format!("receipt: {e}")))?;
        std::fs::write(path, text).map_err(Error::io("write", path))
    }

    fn from_report(fingerprint: String, report: &millennium_bundler::Report) -> Receipt {
        Receipt {
            fingerprint,
            files: report
                .files
                .iter()
                .map(|f| ReceiptFile {
                    format: f.format.to_owned(),
                    path: f.path.clone(),
                    size: f.size,
                    sha256: f.sha256.clone(),
                })
                .collect(),
            warnings: report.warnings.clone(),
        }
    }
}

/// The bundler's format names (a [`Produced`]'s `format`).
const FORMATS: &[&str] = &["deb", "rpm", "appimage", "msi", "nsis", "app", "dmg", "updater"];

/// SHA-256 of everything a bundle is made from: the binaries, the configuration and the files it names, the formats,
/// the target, the version and the signing key's id.
fn fingerprint(
    options: &BuildOptions,
    prepared: &Prepared,
    binary: Option<&Path>,
    launcher: Option<&millennium_bundler::Pending>,
    key: &millennium_sign::SecretKey,
) -> Result<String> {
    let mut hash = Sha256::new();
    let mut add = |label: &str, bytes: &[u8]| {
        hash.update((label.len() as u64).to_le_bytes());
        hash.update(label.as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    add("version", prepared.app.version.to_string().as_bytes());
    add("arch", prepared.arch.as_str().as_bytes());
    add("key", key.key_id().to_string().as_bytes());
    let formats: Vec<String> = prepared.formats.iter().map(|f| format!("{f:?}")).collect();
    add("formats", formats.join(",").as_bytes());
    add("epoch", std::env::var(millennium_bundler::SOURCE_DATE_EPOCH).unwrap_or_default().as_bytes());
    let mut inputs: Vec<PathBuf> = binary.iter().map(|b| b.to_path_buf()).collect();
    inputs.extend([prepared.manifest.clone(), prepared.app.source.file().to_owned()]);
    inputs.extend(options.windows_binary.iter().cloned());
    inputs.extend(options.macos_binary.iter().cloned());
    inputs.extend(prepared.app.extra_binaries.iter().cloned());
    inputs.extend(prepared.app.resources.iter().map(|(path, _)| path.clone()));
    if let Some(icon) = &prepared.app.icon {
        inputs.push(icon.path.clone());
    }
    // The AppImage's webview launcher, when one goes in: not a `millennium-webview-probe` that merely lies next to
    // the binary (another build may replace it at any time, and this bundle would not contain it).
    let launcher_path = match &prepared.app.config.appimage.webview_launcher {
        Some(path) if prepared.formats.contains(&millennium_bundler::Format::AppImage) => {
            Some(prepared.app.root.join(path))
        }
        _ if bundle::builds_launcher(prepared) => binary.map(|binary| binary.with_file_name(bundle::LAUNCHER)),
        _ => None,
    };
    let mut add_file = |path: &Path| -> Result<()> {
        add("path", path.to_string_lossy().as_bytes());
        add("sha256", sha256_file(path)?.as_bytes());
        Ok(())
    };
    for path in &inputs {
        add_file(path)?;
    }
    // Hashed last, once built: the rest is hashed while its cargo run goes on. That run's own error is the one
    // reported ([`bundle::while_launcher_builds`]).
    if let Some(pending) = launcher {
        pending.wait().map_err(|reason| millennium_bundler::Error::NotMade { what: "webview launcher", reason })?;
    }
    if let Some(path) = launcher_path.filter(|p| p.is_file()) {
        add_file(&path)?;
    }
    Ok(hex::encode(hash.finalize()))
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(Error::io("read", path))?;
    let mut hash = Sha256::new();
    std::io::copy(&mut file, &mut hash).map_err(Error::io("read", path))?;
    Ok(hex::encode(hash.finalize()))
}
