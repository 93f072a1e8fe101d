//! The bundling pipeline: check, build, sign, commit.
//!
//! 1. **Check** ([`Plan::check`]): load and validate the configuration, and everything each requested platform needs
//!    (Windows executable and settings, AppImage runtime, macOS names and icon, the updater's key), so that a mistake
//!    is reported before any long work and before anything is written.
//! 2. **Build**: for each [`Platform`] with a requested format, in [`Platform::ALL`]'s order, its module prepares
//!    the shared input once (the Linux binaries, the Windows payload, the macOS bundle) and builds each requested
//!    format from it ([`linux::build`], [`windows::build`], [`macos::build`]), returning [`Artifact`]s.
//! 3. **Sign**: with the `updater` format, every artifact the updater installs is signed the moment its format has
//!    built it ([`Context::finished`], on the calling thread while the other formats go on), and handed to
//!    [`Progress::finished`]; [`updater::sign_artifacts`] then adds the `.sig` files and the manifest listing them.
//! 4. **Commit** ([`Staging`]): every artifact is written into a hidden staging directory inside the output directory
//!    (files synced), then renamed into place, files first, then directories. On any error before the renames the
//!    staging directory is removed, so no half-written package is ever left in the output directory.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use millennium_sign::{SecretKey, Signature};

use crate::artifact::{Artifact, Contents, Format, Platform};
use crate::config::{self, App};
use crate::error::{Error, Result};
use crate::{Arch, Finished, Options, Pending, Produced, Progress, Report, build_time, linux, macos, updater, windows};

/// What every format's build reads: the validated app and this run's settings.
pub(crate) struct Context<'a> {
    pub app: &'a App,
    pub arch: Arch,
    pub formats: &'a BTreeSet<Format>,
    /// `SOURCE_DATE_EPOCH`, or now.
    pub epoch: u64,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub progress: &'a dyn Progress,
    /// The updater's signing key, with the `updater` format.
    pub key: Option<&'a SecretKey>,
    /// The webview launcher, when the caller is still making it.
    pub launcher: Option<&'a Pending>,
    /// The signature of each finished artifact the updater installs, by name ([`Context::finished`]).
    pub signatures: RefCell<BTreeMap<String, Signature>>,
}

impl Context<'_> {
    /// Whether `format` was requested.
    pub fn wants(&self, format: Format) -> bool {
        self.formats.contains(&format)
    }

    /// Whether any format of `platform` was requested.
    pub fn builds(&self, platform: Platform) -> bool {
        self.formats.iter().any(|f| f.platform() == Some(platform))
    }

    /// A format has built `artifacts`: signs those the updater installs (with the `updater` format) and hands each to
    /// [`Progress::finished`]. Signing now rather than after every format puts it on a core the slower formats leave
    /// idle, and lets the caller use the installer while they are still building.
    pub fn finished(&self, artifacts: &[Artifact]) -> Result<()> {
        for artifact in artifacts {
            let (Some(_), Contents::File(bytes)) = (artifact.update_bundle(), &artifact.contents) else {
                continue;
            };
            let signature = match self.key {
                Some(key) => {
                    let signature =
                        updater::sign(key, &artifact.name, bytes, &self.app.version.to_string(), self.epoch)?;
                    let text = updater::sig_text(&signature);
                    self.signatures.borrow_mut().insert(artifact.name.clone(), signature);
                    Some(text)
                }
                None => None,
            };
            self.progress.finished(&Finished {
                format: artifact.format,
                name: &artifact.name,
                bytes,
                signature: signature.as_deref(),
            });
        }
        Ok(())
    }
}

/// The checked inputs of a run.
struct Plan {
    app: App,
    epoch: u64,
    /// The Windows executable to package (checked only when a Windows format is requested).
    windows_exe: PathBuf,
    /// The updater's signing key, when the `updater` format is requested.
    key: Option<SecretKey>,
}

impl Plan {
    /// Everything that can be checked before building. The order decides which of several problems is reported.
    fn check(options: &Options, env: &dyn Fn(&str) -> Option<String>, progress: &dyn Progress) -> Result<Plan> {
        let formats = &options.formats;
        if formats.is_empty() {
            return Err(Error::Usage { message: "no format requested".into() });
        }
        let epoch = build_time(env)?;
        progress.step("reading configuration");
        let wants = |platform| formats.iter().any(|f| f.platform() == Some(platform));
        let (linux, windows, mac) = (wants(Platform::Linux), wants(Platform::Windows), wants(Platform::Macos));
        // Only installers of given Windows and macOS builds: this machine's build of the app need not exist.
        let given_macos = options.overrides.macos_binary.is_some();
        let overrides =
            config::Overrides { given_binaries_only: !linux && (!mac || given_macos), ..options.overrides.clone() };
        let app = App::load(&options.manifest_path, &overrides)?;
        let windows_exe = windows::binary_path(&app, options.overrides.windows_binary.as_deref());
        if windows {
            windows::validate(&app, options.arch, &windows_exe, env)?;
        }
        let key = if formats.contains(&Format::Updater) {
            if !linux && !windows && !formats.contains(&Format::App) {
                return Err(Error::Usage {
                    message: "the `updater` format signs installers: add `deb`, `rpm`, `appimage`, `msi`, `nsis` or \
                              `app` to `--format`"
                        .into(),
                });
            }
            Some(updater::load_key(env)?)
        } else {
            None
        };
        linux::check(formats, options.arch)?;
        if mac {
            macos::app::validate(&app)?;
            if formats.contains(&Format::Dmg) {
                macos::dmg::validate(&app)?;
            }
        }
        Ok(Plan { app, epoch, windows_exe, key })
    }
}

/// Bundles the app: checks, builds every requested format, signs the updater artifacts, and writes the outputs into
/// `options.out_dir` only when all of them succeeded. `env` supplies environment variables (`SOURCE_DATE_EPOCH`,
/// signing key variables).
pub fn bundle(options: &Options, env: &dyn Fn(&str) -> Option<String>, progress: &dyn Progress) -> Result<Report> {
    let plan = Plan::check(options, env, progress)?;
    let ctx = Context {
        app: &plan.app,
        arch: options.arch,
        formats: &options.formats,
        epoch: plan.epoch,
        env,
        progress,
        key: plan.key.as_ref(),
        launcher: options.launcher.as_ref(),
        signatures: RefCell::default(),
    };
    let staging = Staging::create(&options.out_dir)?;
    let mut warnings = Vec::new();
    let mut artifacts = Vec::new();
    for platform in Platform::ALL.into_iter().filter(|p| ctx.builds(*p)) {
        artifacts.extend(match platform {
            // Hands each format's artifacts to `ctx.finished` as that format finishes.
            Platform::Linux => linux::build(&ctx, &mut warnings)?,
            Platform::Windows => {
                let built = windows::build(&ctx, &plan.windows_exe)?;
                ctx.finished(&built)?;
                built
            }
            Platform::Macos => {
                let built = macos::build(&ctx, &mut warnings)?;
                ctx.finished(&built)?;
                built
            }
        });
    }
    if let Some(key) = &plan.key {
        progress.step("signing updater artifacts");
        let signed = updater::sign_artifacts(&ctx, key, &artifacts)?;
        artifacts.extend(signed);
    }
    progress.step("writing files");
    let files = staging.commit(artifacts, plan.epoch)?;
    Ok(Report { files, warnings })
}

/// A hidden directory inside the output directory that outputs are written to before they are renamed into place;
/// removed when dropped.
struct Staging {
    dir: tempfile::TempDir,
    out_dir: PathBuf,
}

impl Staging {
    /// Creates the output directory if needed, and the staging directory in it (on the same file system, so the
    /// final renames are atomic).
    fn create(out_dir: &Path) -> Result<Staging> {
        std::fs::create_dir_all(out_dir).map_err(Error::io("create the output directory", out_dir))?;
        let dir = tempfile::Builder::new()
            .prefix(".millennium-bundler-")
            .tempdir_in(out_dir)
            .map_err(Error::io("create a staging directory in", out_dir))?;
        Ok(Staging { dir, out_dir: out_dir.to_owned() })
    }

    /// Writes every artifact (syncing files), then renames them into the output directory, files first, then
    /// directories. Returns the report entries in that order.
    fn commit(self, artifacts: Vec<Artifact>, epoch: u64) -> Result<Vec<Produced>> {
        for artifact in &artifacts {
            let path = self.dir.path().join(&artifact.name);
            match &artifact.contents {
                Contents::File(bytes) => write_file(&path, bytes, artifact.is_executable())?,
                Contents::Directory(tree) => tree.write_to(&path)?,
            }
        }
        let (dirs, files): (Vec<Artifact>, Vec<Artifact>) =
            artifacts.into_iter().partition(|a| matches!(a.contents, Contents::Directory(_)));
        let mut produced = Vec::new();
        for artifact in files.iter().chain(&dirs) {
            let from = self.dir.path().join(&artifact.name);
            let to = self.out_dir.join(&artifact.name);
            if matches!(artifact.contents, Contents::Directory(_)) {
                if std::fs::symlink_metadata(&to).is_ok() {
                    // A directory cannot be renamed over a non-empty one: move the old one into the staging
                    // directory, which is removed below.
                    let old = self.dir.path().join(format!("{}.old", artifact.name));
                    std::fs::rename(&to, &old).map_err(Error::io("replace the previous bundle", &to))?;
                }
                std::fs::rename(&from, &to).map_err(Error::io("move the finished bundle to", &to))?;
            } else {
                std::fs::rename(&from, &to).map_err(Error::io("move the finished file to", &to))?;
            }
            produced.push(artifact.produced(to, epoch)?);
        }
        Ok(produced)
    }
}

/// Creates `path` (which must not exist) with `bytes`, mode `0755` or `0644`, and syncs it.
fn write_file(path: &Path, bytes: &[u8], executable: bool) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if executable { 0o755 } else { 0o644 })
        .open(path)
        .map_err(Error::io("create", path))?;
    file.write_all(bytes).map_err(Error::io("write", path))?;
    if executable {
        // The mode given to `open` is reduced by the umask.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o755)).map_err(Error::io("set permissions of", path))?;
    }
    file.sync_all().map_err(Error::io("sync", path))
}
