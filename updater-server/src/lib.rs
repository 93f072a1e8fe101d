//! `millennium-update-server`: the self-hostable, Tauri-compatible update server of Millennium.
//!
//! - [`server`]: the HTTP application ([`server::app`] builds the `Router`, [`server::serve`] runs it).
//! - [`db`] and [`blobs`]: the storage, chosen by URL: SQLite or PostgreSQL, local files or an S3-compatible store.
//! - [`leader`]: singleton jobs that run on one replica at a time; [`migrate`]: copy between backends.
//! - [`tokens`], [`rollout`], [`names`]: the rules for tokens, staged rollouts and names.
//! - [`metrics`]: the Prometheus counters behind `/metrics`.
//! - [`cli`]: the `millennium-update-server` command line: `serve`, `migrate`, `healthcheck`, and the admin
//!   subcommands of `millennium-update-admin`, which also holds the API types, the HTTP client and offline signing.
//!
//! Every wire-format decision (target keys, version comparison, Tauri JSON) is delegated to
//! `millennium-update-protocol`; signatures are checked with `millennium-sign`. The server never holds a release key:
//! its only secrets are the online keys that sign freshness documents ([`server::metadata`]); release documents and
//! roots are signed by the release-key holder on their own machine (`millennium_update_admin::offline`).

pub mod adoption;
pub mod blobs;
pub mod cli;
pub mod db;
pub mod env_vars;
mod error;
pub mod leader;
pub mod metrics;
pub mod migrate;
pub mod names;
pub mod ratelimit;
pub mod rollout;
pub mod server;
pub mod tokens;
pub mod webhooks;

pub use error::{Error, Result};
pub use server::{AppState, DownloadMode, GcConfig, ServerConfig, StorageConfig, app};
