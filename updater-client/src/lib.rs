//! `millennium-updater`: the library a Millennium (or Tauri-served) app calls to update itself.
//!
//! ```no_run
//! # async fn run() -> millennium_updater::Result<()> {
//! use millennium_updater::Updater;
//!
//! let updater = Updater::builder()
//!     .endpoint("https://updates.example.com/my-app/{{target}}/{{arch}}/{{current_version}}")
//!     .pubkey("dW50cnVzdGVkIGNvbW1lbnQ6IG1pbmlzaWduIHB1YmxpYyBrZXk6IC4uLgo=")
//!     .current_version("1.2.3")
//!     .build()?;
//! updater.startup()?; // rollback bookkeeping: call early at every start
//! if let Some(update) = updater.check().await? {
//!     println!("installing {}", update.version());
//!     update.download_and_install(|p| eprintln!("{} / {:?}", p.downloaded, p.total)).await?;
//!     updater.relaunch()?; // does not return on success
//! }
//! updater.confirm_healthy()?; // once the app is known to work
//! # Ok(()) }
//! ```
//!
//! # What happens, and what cannot happen
//!
//! 1. **Check** ([`Updater::check`]): each endpoint (a Tauri URL template) is asked in order; a network error, a
//!    non-2xx status, an HTML page or an invalid document moves on to the next endpoint, a `204` stops. The answer is
//!    parsed by `millennium-update-protocol`, the one place where wire-format rules live. An equal or older version is
//!    "no update". The signature's key id is checked against the pinned keys *before* downloading.
//! 2. **Download** ([`Update::download`]): streamed to a private state directory in constant memory, resumed with
//!    `Range` + `If-Range` after an interruption (also across restarts), restarted cleanly when the server's file
//!    changed or it ignores ranges. The announced size (`Content-Length` / `Content-Range`) is enforced: a server that
//!    keeps sending is cut off. Slow servers are cut off by connect/read timeouts and a minimum-throughput rule. An
//!    https check's download (and every redirect) stays on https, and the app's headers and the install id go only to
//!    the origin of the check that offered it (see `src/http.rs`).
//! 3. **Verify**: the minisign/Tauri signature against the pinned key(s), the signed `version:` against the offered
//!    version, and the artifact's format against this platform (ELF machine, package magic). Anything failing is
//!    deleted. Nothing unverified is ever executed or moved next to the app.
//! 4. **Install** ([`DownloadedUpdate::install`], [`install`]), chosen by the install's bundle type: an atomic rename
//!    over the executable or AppImage (keeping `<exe>.previous`), the system package tool for `.deb`/`.rpm`, an
//!    atomic exchange of a macOS `.app` with its safely unpacked update, the rename-aside of a running Windows `.exe`,
//!    or the NSIS/MSI installer for Windows installs; now, or when the app quits
//!    ([`DownloadedUpdate::install_on_exit`]). Exactly the verified bytes are installed: the install checks what it
//!    copies once more, and a package tool's root side checks its own copy's hash, so a file changed after its
//!    verification is refused.
//! 5. **Relaunch** ([`Updater::relaunch`]) and **rollback** ([`rollback`]): the new version confirms it works; one that
//!    never does within N starts is replaced by the previous version at the next start.
//!
//! All errors are one type, [`Error`], whose messages say what happened and end with a `hint:`.

mod check;
mod delta;
mod download;
pub mod env_vars;
mod error;
pub mod events;
mod fs;
mod http;
pub mod install;
mod metadata;
pub mod rollback;
mod state;
mod updater;
mod verify;
pub mod webview;

pub mod blocking;

pub use download::{DownloadedUpdate, Progress, Transfer};
pub use error::{Error, ErrorKind, Result};
pub use install::{InstallKind, InstallScope, InstallerCommand, InstallerUi};
pub use millennium_webview_probe::HEADER as WEBVIEW_HEADER;
pub use rollback::StartupStatus;
pub use updater::{INSTALL_ID_HEADER, Update, Updater, UpdaterBuilder};
pub use webview::{WEBVIEW2_BOOTSTRAPPER, WebviewPolicy};

/// Shows an [`Error`] with its causes and hints: `eprintln!("error: {}", Report::new(&error))`.
pub use millennium_report::Report;
pub use millennium_update_protocol::{BundleType, Target, Version};
