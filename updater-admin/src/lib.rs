//! `millennium-update-admin`: everything that talks to a running Millennium update server from the outside, as a
//! library: the typed API, the HTTP client, the offline signing of signed metadata, and the admin commands.
//!
//! - [`api`]: the request and response bodies of `/api/v1`, shared with the server, which generates its OpenAPI
//!   document from them.
//! - [`client`]: [`client::Client`], one server and one token; uploads stream from disk.
//! - [`offline`]: what the release-key holder signs on their own machine (roots, release documents); the key never
//!   leaves the process.
//! - [`cli`]: the admin subcommands (`apps`, `tokens`, `publish`, `releases`, `promote`, `rollout`, `yank`,
//!   `online-key`, `root`) as a `clap` [`cli::AdminCommand`] any binary can embed; `millennium-update-server` does.
//! - [`report`]: how a CLI prints results and errors (`--json`, `{"error": {"code", "message", "hint"}}`) and its exit
//!   codes; [`Error`] is this crate's error.
//!
//! The update-check wire format and the signed documents belong to `millennium-update-protocol`; keys and signatures
//! to `millennium-sign`.

pub mod api;
pub mod cli;
pub mod client;
pub mod env_vars;
mod error;
pub mod infer;
pub mod offline;
pub mod report;

pub use error::{Error, Result};
