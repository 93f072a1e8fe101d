//! Linux packages: `.deb` ([`deb`]), `.rpm` ([`rpm`]) and AppImage ([`appimage`], with its [`zsync`] file), all
//! written in-process from one install tree ([`layout`]).
//!
//! The binaries are read once: [`elf`] extracts their `DT_NEEDED` sonames and symbol versions, [`deps`] maps them to
//! Debian packages (as `dpkg-shlibdeps` does) and rpm capabilities; [`licenses`] writes the deb's DEP-5 copyright.

pub mod appimage;
pub mod deb;
pub mod deps;
pub mod elf;
pub mod layout;
pub mod licenses;
pub mod rpm;
pub mod zsync;

use std::collections::BTreeSet;

use crate::artifact::{Artifact, Format, Role};
use crate::config::App;
use crate::error::{Error, Result};
use crate::pipeline::Context;
use crate::tree::Tree;
use crate::{Arch, Pending};

/// Checks what the Linux formats need before any long work: the AppImage runtime for the target.
pub(crate) fn check(formats: &BTreeSet<Format>, arch: Arch) -> Result<()> {
    if formats.contains(&Format::AppImage) {
        appimage::runtime(arch)?;
    }
    Ok(())
}

/// Builds the requested Linux formats: reads the binaries once, prepares each format's input, then builds the
/// formats in parallel, handing each to [`Context::finished`] as soon as it is built (until one fails). Returns the
/// artifacts in the order deb, rpm, AppImage (and its `.zsync`), and the first failure in that order.
pub(crate) fn build(ctx: &Context, warnings: &mut Vec<String>) -> Result<Vec<Artifact>> {
    ctx.progress.step("reading binaries");
    let binaries = Binaries::read(ctx.app, ctx.arch, warnings)?;
    let mut jobs = Vec::new();
    if ctx.wants(Format::Deb) {
        jobs.push(Job::deb(ctx, &binaries)?);
    }
    if ctx.wants(Format::Rpm) {
        jobs.push(Job::rpm(ctx, &binaries)?);
    }
    if ctx.wants(Format::AppImage) {
        jobs.push(Job::appimage(ctx, &binaries)?);
    }
    let names: Vec<&'static str> = jobs.iter().map(Job::name).collect();
    ctx.progress.step(&format!("building {}", names.join(", ")));
    let (app, arch, epoch) = (ctx.app, ctx.arch, ctx.epoch);
    let mut results: Vec<Option<Result<Built>>> = jobs.iter().map(|_| None).collect();
    let mut finishing = Ok(());
    std::thread::scope(|scope| {
        let (done, finished) = std::sync::mpsc::channel();
        let threads: Vec<_> = jobs
            .into_iter()
            .enumerate()
            .map(|(index, job)| {
                let done = done.clone();
                scope.spawn(move || {
                    // The receiver outlives every thread (the scope joins them before it is dropped).
                    let _ = done.send((index, job.build(app, arch, epoch)));
                })
            })
            .collect();
        drop(done);
        // In the order they finish. A thread that panics sends nothing: its sender is dropped as it unwinds, so this
        // ends when every thread has ended either way.
        for (index, result) in finished {
            let failed = result.is_err() || finishing.is_err() || results.iter().flatten().any(Result::is_err);
            if let (Ok(built), false) = (&result, failed) {
                finishing = ctx.finished(&built.artifacts);
            }
            results[index] = Some(result);
        }
        for (index, thread) in threads.into_iter().enumerate() {
            if let Err(panic) = thread.join() {
                results[index] = Some(Err(Error::Package {
                    format: names[index],
                    message: format!("the build thread panicked: {}", panic_message(&*panic)),
                }));
            }
        }
    });
    let mut artifacts = Vec::new();
    // In the formats' order, whichever finished first.
    for (name, result) in names.into_iter().zip(results) {
        let built = result.unwrap_or_else(|| {
            Err(Error::Package { format: name, message: "the build thread ended without a result".into() })
        })?;
        warnings.extend(built.warnings);
        artifacts.extend(built.artifacts);
    }
    finishing?;
    Ok(artifacts)
}

/// What one format's build made.
struct Built {
    artifacts: Vec<Artifact>,
    /// Warnings found while preparing and building it (the AppImage's private libraries, the deb's unresolved
    /// dependencies).
    warnings: Vec<String>,
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| e.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The app's binaries, read once for every Linux format.
struct Binaries {
    /// Installed name and bytes (stripped unless `binaries.strip = false`), the main binary first.
    files: Vec<(String, Vec<u8>)>,
    /// What each binary needs from the system, in the same order.
    needs: Vec<elf::Needs>,
}

impl Binaries {
    fn read(app: &App, arch: Arch, warnings: &mut Vec<String>) -> Result<Binaries> {
        let mut files = Vec::new();
        let mut needs = Vec::new();
        for path in std::iter::once(&app.main_binary).chain(app.extra_binaries.iter()) {
            let mut data = std::fs::read(path).map_err(Error::io("read", path))?;
            needs.push(elf::read(path, &data, arch)?);
            if app.config.binaries.strip.unwrap_or(true) && elf::has_symtab(&data) {
                match elf::strip(path, &data)? {
                    Some(stripped) => data = stripped,
                    None => warnings.push(format!(
                        "`strip` is not installed: `{}` is packaged with its symbol table (install binutils)",
                        path.display()
                    )),
                }
            }
            files.push((App::binary_name(path), data));
        }
        Ok(Binaries { files, needs })
    }
}

/// One Linux format's input. Everything that talks to the system or warns happens while preparing it, so that
/// building only reads it and the formats can be built in parallel; the exceptions are the deb's dependency look-up,
/// which its build runs while it compresses the payload, and a webview launcher the caller is still making, which the
/// AppImage's build waits for and reads.
enum Job<'a> {
    Deb { tree: Tree, needs: &'a [elf::Needs] },
    Rpm { tree: Tree, requires: BTreeSet<String> },
    AppImage { tree: Tree, with_libraries: bool, launcher: Launcher<'a>, warnings: Vec<String> },
}

/// The AppImage's webview launcher ([`appimage::needs_webview_launcher`]).
enum Launcher<'a> {
    /// The app does not need one.
    None,
    /// In the tree, at this AppDir path.
    Added(String),
    /// To be added to the tree once the caller has made it ([`crate::Options::launcher`]).
    Awaited(&'a Pending),
}

/// Reads the webview launcher into `tree` and returns its AppDir path.
fn add_launcher(tree: &mut Tree, app: &App, arch: Arch) -> Result<String> {
    let data = appimage::webview_launcher(app, arch)?;
    let path = appimage::launcher_path(app);
    tree.file(path.clone(), 0o755, data);
    tree.sort();
    Ok(path)
}

impl<'a> Job<'a> {
    fn deb(ctx: &Context, binaries: &'a Binaries) -> Result<Job<'a>> {
        let tree = layout::install_tree(ctx.app, &binaries.files, layout::Flavour::Deb, ctx.epoch)?;
        Ok(Job::Deb { tree, needs: &binaries.needs })
    }

    fn rpm(ctx: &Context, binaries: &Binaries) -> Result<Job<'a>> {
        let tree = layout::install_tree(ctx.app, &binaries.files, layout::Flavour::Rpm, ctx.epoch)?;
        let computed: BTreeSet<String> = binaries.needs.iter().flat_map(elf::rpm_requires).collect();
        Ok(Job::Rpm { tree, requires: rpm::requires(ctx.app, computed) })
    }

    fn appimage(ctx: &Context<'a>, binaries: &Binaries) -> Result<Job<'a>> {
        let (app, arch) = (ctx.app, ctx.arch);
        let mut warnings = Vec::new();
        let mut tree = layout::install_tree(app, &binaries.files, layout::Flavour::Rpm, ctx.epoch)?;
        let mut with_libraries = false;
        if app.config.appimage.bundle_libraries {
            for (soname, data) in appimage::private_libraries(app, &binaries.needs, arch, &mut warnings)? {
                tree.file(format!("usr/lib/{soname}"), 0o755, data);
                with_libraries = true;
            }
            tree.sort();
        }
        let launcher = match ctx.launcher {
            _ if !appimage::needs_webview_launcher(&binaries.needs) => Launcher::None,
            Some(pending) => Launcher::Awaited(pending),
            None => Launcher::Added(add_launcher(&mut tree, app, arch)?),
        };
        Ok(Job::AppImage { tree, with_libraries, launcher, warnings })
    }

    /// The format's name in messages.
    fn name(&self) -> &'static str {
        match self {
            Job::Deb { .. } => "deb",
            Job::Rpm { .. } => "rpm",
            Job::AppImage { .. } => "AppImage",
        }
    }

    fn build(self, app: &App, arch: Arch, epoch: u64) -> Result<Built> {
        let installer = |format, name, bytes| Artifact::file(format, Role::Installer, name, bytes, vec![arch]);
        match self {
            Job::Deb { tree, needs } => {
                let (bytes, warnings) = deb::build(app, &tree, needs, arch, epoch)?;
                Ok(Built { artifacts: vec![installer(Format::Deb, deb::file_name(app, arch), bytes)], warnings })
            }
            Job::Rpm { tree, requires } => {
                let bytes = rpm::build(app, &tree, &requires, arch, epoch)?;
                Ok(Built {
                    artifacts: vec![installer(Format::Rpm, rpm::file_name(app, arch), bytes)],
                    warnings: vec![],
                })
            }
            Job::AppImage { mut tree, with_libraries, launcher, warnings } => {
                let launcher = match launcher {
                    Launcher::None => None,
                    Launcher::Added(path) => Some(path),
                    Launcher::Awaited(pending) => {
                        pending.wait().map_err(|reason| Error::NotMade { what: "webview launcher", reason })?;
                        Some(add_launcher(&mut tree, app, arch)?)
                    }
                };
                let bytes = appimage::build(app, &tree, arch, epoch, with_libraries, launcher.as_deref())?;
                let name = appimage::file_name(app, arch);
                // The `.zsync` file that the embedded update information points at, for AppImageUpdate.
                let zsync = appimage::update_information(app, arch)
                    .and_then(|info| appimage::zsync_file_name(&info))
                    .map(|zsync_name| {
                        let zsync = zsync::make(&bytes, &name, epoch);
                        Artifact::file(Format::AppImage, Role::Zsync, zsync_name, zsync, vec![arch])
                    });
                let artifacts = std::iter::once(installer(Format::AppImage, name, bytes)).chain(zsync).collect();
                Ok(Built { artifacts, warnings })
            }
        }
    }
}
