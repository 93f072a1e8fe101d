//! Built-in APIs, each behind its own Cargo feature (the compile-time allow-list).
//!
//! An API is a set of commands named `millennium:<group>.<function>` (randomised per session like every command)
//! plus a JavaScript binding added to the bootstrap script (`Millennium.<group>`). Both live in the API's module,
//! which is compiled only with its feature: without it neither the Rust code nor the binding's text is in the binary,
//! and a call from the page matches no command and is refused.

#[cfg(feature = "api-fs")]
pub(crate) mod fs;
#[cfg(feature = "api-window")]
pub(crate) mod window;

use crate::bridge::CommandFn;

/// Settings the built-in APIs read.
#[derive(Debug, Default, Clone)]
pub(crate) struct ApiConfig {
    #[cfg(feature = "api-fs")]
    pub fs_scope: Option<std::path::PathBuf>,
}

/// The commands and JavaScript bindings of the APIs compiled in.
#[allow(unused_mut, unused_variables)]
pub(crate) fn builtins(config: &ApiConfig) -> (Vec<(String, CommandFn)>, String) {
    let mut commands = Vec::new();
    let mut bindings = String::new();
    #[cfg(feature = "api-fs")]
    {
        commands.push((fs::COMMAND.to_owned(), fs::command(config.fs_scope.clone())));
        bindings.push_str(fs::BINDING);
    }
    #[cfg(feature = "api-window")]
    {
        commands.push((window::COMMAND.to_owned(), window::command()));
        bindings.push_str(window::BINDING);
    }
    (commands, bindings)
}
