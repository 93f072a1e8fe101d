//! Built-in APIs, each behind its own Cargo feature (the compile-time allow-list).
//!
//! An API is a set of commands named `millennium:<group>.<function>` (randomised per session like every command)
//! plus a JavaScript binding added to the bootstrap script (`Millennium.<group>`). Both live in the API's module,
//! which is compiled only with its feature: without it neither the Rust code nor the binding's text is in the binary,
//! and a call from the page matches no command and is refused.

#[cfg(feature = "api-fs")]
pub(crate) mod fs;
#[cfg(feature = "api-updater")]
pub mod updater;
#[cfg(feature = "api-window")]
pub(crate) mod window;

use crate::bridge::{FirstMessageFn, Handler};

/// Settings the built-in APIs read.
#[derive(Debug, Default, Clone)]
pub(crate) struct ApiConfig {
    #[cfg(feature = "api-fs")]
    pub fs_scope: Option<std::path::PathBuf>,
    #[cfg(feature = "api-updater")]
    pub updater: Option<millennium_updater::UpdaterBuilder>,
    #[cfg(feature = "api-updater")]
    pub update_checks: updater::UpdateChecks,
}

/// What the compiled-in APIs add to the bridge.
#[derive(Default)]
pub(crate) struct Builtins {
    pub commands: Vec<(String, Handler)>,
    /// JavaScript that adds the bindings to the page's `Millennium` object.
    pub bindings: String,
    pub on_first_message: Option<FirstMessageFn>,
    /// Run once the window exists, before the event loop starts (background work of an API).
    pub setup: Option<crate::SetupFn>,
    /// Run after the last window is gone, before the process exits.
    pub on_exit: Option<millennium_runtime::ExitHook>,
}

/// The commands and JavaScript bindings of the APIs compiled in.
#[allow(unused_mut, unused_variables)]
pub(crate) fn builtins(config: &ApiConfig) -> Result<Builtins, crate::Error> {
    let mut out = Builtins::default();
    let Builtins { commands, bindings, .. } = &mut out;
    #[cfg(feature = "api-fs")]
    {
        commands.push((fs::COMMAND.to_owned(), Handler::Background(fs::command(config.fs_scope.clone()))));
        bindings.push_str(fs::BINDING);
    }
    #[cfg(feature = "api-window")]
    {
        commands.push((window::COMMAND.to_owned(), Handler::Inline(window::command())));
        bindings.push_str(window::BINDING);
    }
    #[cfg(feature = "api-updater")]
    {
        // Without `Builder::updater` the binding is there but every call says what is missing.
        match &config.updater {
            Some(builder) => {
                let api = updater::UpdaterApi::start(builder.clone())?;
                commands.extend(api.commands());
                out.on_first_message = Some(api.confirm_on_first_message());
                // The checking thread stops when `stop` is dropped, in the exit hook, before the install.
                let (stop, stopped) = std::sync::mpsc::channel::<()>();
                let checks = config.update_checks.clone();
                let checking = api.clone();
                out.setup = Some(Box::new(move |app| checking.start_checks(checks, app, stopped)));
                out.on_exit = Some(Box::new(move |_code| {
                    drop(stop);
                    api.install_scheduled_on_exit();
                }));
            }
            None => {
                let missing: crate::bridge::CommandFn =
                    std::sync::Arc::new(|_, _, _| Err("no updater configured (`Builder::updater`)".to_owned()));
                for name in [updater::CHECK, updater::INSTALL, updater::INSTALL_ON_EXIT, updater::RELAUNCH] {
                    commands.push((name.to_owned(), Handler::Inline(missing.clone())));
                }
            }
        }
        out.bindings.push_str(updater::BINDING);
    }
    Ok(out)
}
