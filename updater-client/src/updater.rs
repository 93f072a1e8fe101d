//! The configured updater ([`Updater`], built with [`UpdaterBuilder`]) and an offered update ([`Update`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use millennium_sign::PublicKey;
use millennium_update_protocol::events::EventKind;
use millennium_update_protocol::{Arch, BundleType, Os, Target, Version};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use time::OffsetDateTime;

use crate::download::{DownloadedUpdate, Progress};
use crate::error::{Error, Result};
use crate::install::InstallKind;
use crate::rollback;
use crate::rollback::StartupStatus;
use crate::state::StateDir;
use crate::webview::WebviewPolicy;
use millennium_update_protocol::webview::WebviewMinimums;
use millennium_webview_probe::{Backend, Probe, Verdict, WebviewVersion};

/// The header carrying the install id (what the Millennium update server reads for staged rollouts).
pub const INSTALL_ID_HEADER: &str = "Millennium-Install-Id";
const INSTALL_ID_HEADER_LOWER: &str = "millennium-install-id";

/// Configures an [`Updater`]. Only endpoints, a public key and (outside tests) the current version are required.
#[derive(Debug, Clone)]
pub struct UpdaterBuilder {
    endpoints: Vec<String>,
    metadata_url: Option<String>,
    pubkeys: Vec<String>,
    channel: Option<String>,
    current_version: Option<String>,
    app_id: Option<String>,
    state_dir: Option<PathBuf>,
    install_id: Option<String>,
    executable: Option<PathBuf>,
    bundle_type: Option<Option<BundleType>>,
    windows_installer: (crate::install::InstallerUi, crate::install::InstallScope),
    headers: Vec<(String, String)>,
    header_origins: Vec<String>,
    root_certificates: Vec<Vec<u8>>,
    proxy: Option<String>,
    pub(crate) limits: Limits,
    /// `None`: not set by the app; the library default is `false`, a Millennium app's `true`.
    require_signed_version: Option<bool>,
    rollback_after_starts: u32,
    allow_insecure_http: bool,
    webview_policy: WebviewPolicy,
    report_webview: bool,
    /// `None`: not set by the app; the library default is off, a Millennium app's on.
    report_events: Option<bool>,
    events_url: Option<String>,
    event_queue: crate::events::QueueLimits,
    event_backoff: crate::events::Backoff,
}

/// Timeouts and size limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) check_timeout: Duration,
    pub(crate) min_speed_bytes: u64,
    pub(crate) min_speed_window: Duration,
    pub(crate) max_download_size: u64,
    pub(crate) download_attempts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            check_timeout: Duration::from_secs(30),
            min_speed_bytes: 16 * 1024,
            min_speed_window: Duration::from_secs(60),
            max_download_size: 4 << 30,
            download_attempts: 3,
        }
    }
}

impl Default for UpdaterBuilder {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            metadata_url: None,
            pubkeys: Vec::new(),
            channel: None,
            current_version: None,
            app_id: None,
            state_dir: None,
            install_id: None,
            executable: None,
            bundle_type: None,
            windows_installer: Default::default(),
            headers: Vec::new(),
            header_origins: Vec::new(),
            root_certificates: Vec::new(),
            proxy: None,
            limits: Limits::default(),
            require_signed_version: None,
            rollback_after_starts: 3,
            allow_insecure_http: false,
            webview_policy: WebviewPolicy::default(),
            report_webview: true,
            report_events: None,
            events_url: None,
            event_queue: crate::events::QueueLimits::default(),
            event_backoff: crate::events::Backoff::default(),
        }
    }
}

impl UpdaterBuilder {
    /// Adds an update endpoint: a Tauri URL template with `{{target}}`, `{{arch}}`, `{{current_version}}`,
    /// `{{bundle_type}}` (and Millennium's `{{channel}}`), raw or URL-encoded (`%7B%7Btarget%7D%7D`). Endpoints are
    /// tried in the order added.
    pub fn endpoint(mut self, template: impl Into<String>) -> Self {
        self.endpoints.push(template.into());
        self
    }

    /// Pins a public key (minisign text, bare `RW…` line, or Tauri's base64 `pubkey`). Several keys may be pinned
    /// (e.g. during a key rotation): a signature by any of them is accepted.
    /// Checks through Millennium's signed metadata under this base URL (the update server's `/metadata/<app id>`, or
    /// a static mirror of it) instead of Tauri endpoints: rollback, freeze, mix-and-match, endless-data and
    /// wrong-target attacks by the server or a mirror are refused (see the overview of `src/metadata.rs` and
    /// `docs/protocol.md` §7). The pinned key(s) anchor the trust in the app's root document.
    pub fn metadata_url(mut self, base: impl Into<String>) -> Self {
        self.metadata_url = Some(base.into());
        self
    }

    pub fn pubkey(mut self, key: impl Into<String>) -> Self {
        self.pubkeys.push(key.into());
        self
    }

    /// The release channel (`stable` by default on the server). Replaces `{{channel}}` in templates; for a template
    /// without it, sent as the `channel` query parameter.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// The running version (usually `env!("CARGO_PKG_VERSION")`).
    pub fn current_version(mut self, version: impl Into<String>) -> Self {
        self.current_version = Some(version.into());
        self
    }

    /// The app's identifier, naming its default state directory (default: the executable's file stem).
    pub fn app_id(mut self, id: impl Into<String>) -> Self {
        self.app_id = Some(id.into());
        self
    }

    /// Where the install id, downloads and rollback record live (default: see [`crate::env_vars::STATE_DIR`]).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Uses this install id instead of the one generated and persisted in the state directory.
    pub fn install_id(mut self, id: impl Into<String>) -> Self {
        self.install_id = Some(id.into());
        self
    }

    /// The executable to replace (default: the running one, or `$APPIMAGE` for an AppImage).
    pub fn executable(mut self, path: impl Into<PathBuf>) -> Self {
        self.executable = Some(path.into());
        self
    }

    /// How the app was installed: `Some(Deb)`, `Some(Rpm)`, `Some(AppImage)`, or `None` for a plain binary. By
    /// default an AppImage is detected from `$APPIMAGE`, anything else is a plain binary.
    pub fn bundle_type(mut self, bundle: Option<BundleType>) -> Self {
        self.bundle_type = Some(bundle);
        self
    }

    /// For an NSIS or MSI install: how much of the installer the user sees (default passive: progress only) and
    /// whether the app was installed per user or per machine (default per user; per machine asks for elevation).
    pub fn windows_installer(mut self, ui: crate::install::InstallerUi, scope: crate::install::InstallScope) -> Self {
        self.windows_installer = (ui, scope);
        self
    }

    /// Adds a header (authentication, tenant…) to the requests to the update server: the checks, and downloads from
    /// the origin of the check that offered them. Like the install id, it is not sent to other hosts a manifest or a
    /// redirect points to, unless [`UpdaterBuilder::send_headers_to`] lists them.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Also sends the custom headers, the install id and the webview report to this origin (`https://cdn.example.com`,
    /// a port when not the default one): e.g. a CDN the update server's manifests or redirects point downloads to,
    /// which needs the same authentication. See the overview of `src/http.rs`.
    pub fn send_headers_to(mut self, origin: impl Into<String>) -> Self {
        self.header_origins.push(origin.into());
        self
    }

    /// Trusts these CA certificates (PEM, one or more) for https, besides the built-in roots: for an update server
    /// whose certificate a private CA issued.
    pub fn add_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// Sends every request through this proxy (`http://`, `https://` or `socks5://` URL). Without it, the usual
    /// `HTTPS_PROXY`/`NO_PROXY` variables apply.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Time allowed to establish a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.limits.connect_timeout = timeout;
        self
    }

    /// Longest wait for any data on an open connection (default 30 s).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.read_timeout = timeout;
        self
    }

    /// Time allowed for a whole update check, per endpoint (default 30 s); with [`UpdaterBuilder::metadata_url`], for
    /// each signed document (roots, freshness, release). A server that drips its answer is cut off when it runs out.
    pub fn check_timeout(mut self, timeout: Duration) -> Self {
        self.limits.check_timeout = timeout;
        self
    }

    /// A download slower than `bytes` per `window` is abandoned (default 16 KiB per 60 s): what cuts off a server that
    /// drips a byte at a time, which a read timeout alone never does.
    pub fn min_download_speed(mut self, bytes: u64, window: Duration) -> Self {
        self.limits.min_speed_bytes = bytes;
        self.limits.min_speed_window = window;
        self
    }

    /// Largest artifact accepted, whatever the server announces (default 4 GiB).
    pub fn max_download_size(mut self, bytes: u64) -> Self {
        self.limits.max_download_size = bytes;
        self
    }

    /// How many times a broken download is resumed before giving up (default 3 attempts).
    pub fn download_attempts(mut self, attempts: u32) -> Self {
        self.limits.download_attempts = attempts.max(1);
        self
    }

    /// Refuses signatures without a signed `version:` field, which otherwise let a server offer an old, validly
    /// signed build as a new version. Default: accepted, as Tauri does, so that artifacts signed by `tauri signer`
    /// keep installing; `true` in a Millennium app (see [`UpdaterBuilder::millennium_defaults`]). A `version:` that is
    /// present must always match.
    pub fn require_signed_version(mut self, required: bool) -> Self {
        self.require_signed_version = Some(required);
        self
    }

    /// Gives every option the app did not set the stricter default of a Millennium app instead of Tauri's:
    /// [`require_signed_version`](UpdaterBuilder::require_signed_version) becomes `true` (sign with
    /// `millennium-sign sign --version`). The `millennium` framework applies it to the updater of `Builder::updater`;
    /// an app whose signer cannot add a version opts out with `require_signed_version(false)`.
    pub fn millennium_defaults(mut self) -> Self {
        self.require_signed_version.get_or_insert(true);
        self.report_events.get_or_insert(true);
        self
    }

    /// Report release-health events (installed, confirmed, rolled back, failures) to the update server's
    /// `POST {server}/{app}/events`, in the background from an on-disk queue (see [`crate::events`]). Default off
    /// (a Tauri update server has no such endpoint); [`millennium_defaults`](UpdaterBuilder::millennium_defaults)
    /// turns it on unless the app set it.
    pub fn report_events(mut self, report: bool) -> Self {
        self.report_events = Some(report);
        self
    }

    /// Where events go, when it is not `{server}/{app}/events` derived from the first endpoint (the part before its
    /// first `{{…}}` segment, or before `/{channel}/latest.json`) or from the metadata base URL.
    pub fn report_events_to(mut self, url: impl Into<String>) -> Self {
        self.events_url = Some(url.into());
        self
    }

    /// The caps of the on-disk event queue (default 1000 events, 256 KiB); past them the oldest are dropped.
    pub fn event_queue_limits(mut self, limits: crate::events::QueueLimits) -> Self {
        self.event_queue = limits;
        self
    }

    /// The waits between failed event deliveries (default 5 s doubling up to 1 hour).
    pub fn event_backoff(mut self, backoff: crate::events::Backoff) -> Self {
        self.event_backoff = backoff;
        self
    }

    /// How many starts a new version gets to call [`Updater::confirm_healthy`] before the previous version is
    /// restored (default 3).
    pub fn rollback_after_starts(mut self, starts: u32) -> Self {
        self.rollback_after_starts = starts.max(1);
        self
    }

    /// Allows plain `http://` endpoints on hosts other than loopback (default: refused, as Tauri does in release
    /// builds). Artifacts are verified either way, but an unencrypted check can be answered by anyone on the path.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Checks the configuration and builds the updater. Reads (or creates) the install id.
    /// What to do with a release that needs a newer system webview than this machine has (default: refuse it with
    /// [`Error::WebviewTooOld`]). See [`crate::webview`].
    pub fn webview_policy(mut self, policy: WebviewPolicy) -> Self {
        self.webview_policy = policy;
        self
    }

    /// Whether update checks report the webview in the `X-Millennium-Webview` header (default: yes).
    pub fn report_webview(mut self, report: bool) -> Self {
        self.report_webview = report;
        self
    }

    pub fn build(self) -> Result<Updater> {
        let invalid = |reason: String| Error::InvalidConfig { reason };
        if self.endpoints.is_empty() && self.metadata_url.is_none() {
            return Err(invalid("no update endpoint; add one with `endpoint(…)` or `metadata_url(…)`".into()));
        }
        for endpoint in self.endpoints.iter().chain(&self.metadata_url) {
            let probe = crate::check::expand_template(endpoint, &ProbeVars);
            let url =
                url::Url::parse(&probe).map_err(|e| invalid(format!("endpoint `{endpoint}` is not a URL ({e})")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(invalid(format!("endpoint `{endpoint}` is not http(s)")));
            }
            if url.scheme() == "http" && !self.allow_insecure_http && !crate::http::is_loopback(&url) {
                return Err(invalid(format!(
                    "endpoint `{endpoint}` is plain http\nhint: use https, or `allow_insecure_http(true)` for a trusted network"
                )));
            }
        }
        if self.pubkeys.is_empty() {
            return Err(invalid("no public key pinned; add one with `pubkey(…)`".into()));
        }
        let keys = self
            .pubkeys
            .iter()
            .map(|k| PublicKey::from_text(k).map_err(|source| Error::InvalidPublicKey { source }))
            .collect::<Result<Vec<_>>>()?;
        let current_text = self
            .current_version
            .ok_or_else(|| invalid("no current version; pass `current_version(env!(\"CARGO_PKG_VERSION\"))`".into()))?;
        let current = Version::parse(&current_text)
            .map_err(|e| invalid(format!("current version `{current_text}` is not SemVer: {e}")))?;

        let install = InstallKind::detect(self.bundle_type, self.executable, self.windows_installer)?;
        // A bundle belongs to one OS: its strategy is ordinary code, so it also runs (and is tested) elsewhere.
        let os = install.bundle_type().map_or_else(current_os, |b| Ok(b.os()))?;
        let target = Target::new(os, current_arch()?, install.bundle_type())
            .map_err(|e| invalid(format!("this platform has no update target: {e}")))?;

        let app_id = match self.app_id {
            Some(id) => id,
            None => std::env::current_exe()
                .ok()
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "millennium-app".to_owned()),
        };
        let state_root = match self.state_dir {
            Some(dir) => dir,
            None => StateDir::default_for(&app_id)?,
        };
        let state = StateDir::new(state_root);
        let install_id = match self.install_id {
            Some(id) => id,
            None => state.install_id()?,
        };

        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("`{name}` is not a valid header name")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| invalid(format!("the value of header `{name}` is not valid")))?;
            headers.append(name, value);
        }
        let id_value = HeaderValue::from_str(&install_id)
            .map_err(|_| invalid("the install id is not a valid header value".into()))?;
        headers.insert(HeaderName::from_static(INSTALL_ID_HEADER_LOWER), id_value);
        if self.report_webview {
            let value = HeaderValue::from_str(&crate::webview::header_value())
                .map_err(|_| invalid("the webview version is not a valid header value".into()))?;
            let name = HeaderName::from_bytes(millennium_update_protocol::webview::HEADER.as_bytes())
                .map_err(|_| invalid("the webview header name is not valid".into()))?;
            headers.insert(name, value);
        }

        let header_origins = self
            .header_origins
            .iter()
            .map(|text| match url::Url::parse(text) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.path() == "/" && url.query().is_none() => {
                    Ok(url.origin())
                }
                _ => Err(invalid(format!("`{text}` is not an origin such as `https://cdn.example.com`"))),
            })
            .collect::<Result<Vec<_>>>()?;

        // No default headers and no automatic redirects: `crate::http` decides both per request.
        let make_client = || -> Result<reqwest::Client> {
            let mut client = reqwest::Client::builder()
                .user_agent(concat!("millennium-updater/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(self.limits.connect_timeout)
                .read_timeout(self.limits.read_timeout)
                .redirect(reqwest::redirect::Policy::none());
            for pem in &self.root_certificates {
                let certificates = reqwest::Certificate::from_pem_bundle(pem)
                    .ok()
                    .filter(|certificates| !certificates.is_empty())
                    .ok_or_else(|| invalid("a root certificate is not a PEM certificate".into()))?;
                for certificate in certificates {
                    client = client.add_root_certificate(certificate);
                }
            }
            if let Some(proxy) = &self.proxy {
                let proxy = reqwest::Proxy::all(proxy).map_err(|e| invalid(format!("proxy `{proxy}`: {e}")))?;
                client = client.proxy(proxy);
            }
            client.build().map_err(|e| invalid(format!("could not set up HTTP: {e}")))
        };
        let client = make_client()?;

        let metadata = match &self.metadata_url {
            Some(base) => Some(url::Url::parse(base).map_err(|e| invalid(format!("`{base}` is not a URL ({e})")))?),
            None => None,
        };

        let events = if self.report_events.unwrap_or(false) {
            let url = match &self.events_url {
                Some(text) => Some(
                    url::Url::parse(text)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https"))
                        .ok_or_else(|| invalid(format!("events URL `{text}` is not an http(s) URL")))?,
                ),
                None => crate::events::derive_url(&self.endpoints, metadata.as_ref()),
            };
            match url {
                Some(url) => {
                    // The app's headers and the install id go only where the checks go (see `crate::http`).
                    let check_origin = self
                        .endpoints
                        .first()
                        .and_then(|e| url::Url::parse(&crate::check::expand_template(e, &ProbeVars)).ok())
                        .or_else(|| metadata.clone())
                        .map(|u| u.origin());
                    let own = check_origin.as_ref() == Some(&url.origin()) || header_origins.contains(&url.origin());
                    let settings = crate::events::Settings {
                        url,
                        client: make_client()?,
                        headers: if own { headers.clone() } else { HeaderMap::new() },
                        limits: self.event_queue,
                        backoff: self.event_backoff,
                        timeout: self.limits.check_timeout,
                    };
                    Some(crate::events::Reporter::start(state.root(), settings, install_id.clone(), target))
                }
                None => {
                    tracing::warn!(
                        "release-health events are on but no events URL follows from the endpoints; not reporting \
                         (set one with `report_events_to`)"
                    );
                    None
                }
            }
        } else {
            None
        };
        Ok(Updater {
            inner: Arc::new(Inner {
                client,
                headers,
                header_origins,
                allow_insecure_http: self.allow_insecure_http,
                endpoints: self.endpoints,
                metadata,
                app_id,
                keys,
                channel: self.channel,
                current,
                target,
                install,
                state,
                install_id,
                limits: self.limits,
                require_signed_version: self.require_signed_version.unwrap_or(false),
                rollback_after_starts: self.rollback_after_starts,
                webview_policy: self.webview_policy,
                events,
            }),
        })
    }
}

/// Values used to check that a template is a URL once expanded.
struct ProbeVars;

impl crate::check::TemplateVars for ProbeVars {
    fn value(&self, name: &str) -> Option<String> {
        Some(match name {
            "current_version" => "1.0.0".into(),
            "target" => "linux".into(),
            "arch" => "x86_64".into(),
            "bundle_type" => "unknown".into(),
            "channel" => "stable".into(),
            _ => return None,
        })
    }
}

fn current_os() -> Result<Os> {
    match std::env::consts::OS {
        "linux" => Ok(Os::Linux),
        "macos" => Ok(Os::Darwin),
        "windows" => Ok(Os::Windows),
        other => Err(Error::Unsupported { what: format!("updates on `{other}`") }),
    }
}

pub(crate) fn current_arch() -> Result<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(Arch::X86_64),
        "x86" => Ok(Arch::I686),
        "aarch64" => Ok(Arch::Aarch64),
        "arm" => Ok(Arch::Armv7),
        "riscv64" => Ok(Arch::Riscv64),
        other => Err(Error::Unsupported { what: format!("updates on `{other}`") }),
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) client: reqwest::Client,
    /// The custom headers, the install id and the webview report, for the origins `crate::http` allows.
    pub(crate) headers: HeaderMap,
    /// Origins besides the request's own that get `headers` ([`UpdaterBuilder::send_headers_to`]).
    pub(crate) header_origins: Vec<url::Origin>,
    pub(crate) allow_insecure_http: bool,
    pub(crate) endpoints: Vec<String>,
    pub(crate) metadata: Option<url::Url>,
    pub(crate) app_id: String,
    pub(crate) keys: Vec<PublicKey>,
    pub(crate) channel: Option<String>,
    pub(crate) current: Version,
    pub(crate) target: Target,
    pub(crate) install: InstallKind,
    pub(crate) state: StateDir,
    pub(crate) install_id: String,
    pub(crate) limits: Limits,
    pub(crate) require_signed_version: bool,
    pub(crate) rollback_after_starts: u32,
    pub(crate) webview_policy: WebviewPolicy,
    /// Release-health reporting, when on ([`UpdaterBuilder::report_events`]).
    pub(crate) events: Option<crate::events::Reporter>,
}

/// A configured updater. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Updater {
    pub(crate) inner: Arc<Inner>,
}

impl Updater {
    /// Starts configuring an updater.
    pub fn builder() -> UpdaterBuilder {
        UpdaterBuilder::default()
    }

    /// Asks the endpoints, in order, whether an update is offered. `Ok(None)`: up to date (a `204`, or an equal or
    /// older version). See [`crate`] for the rules.
    pub async fn check(&self) -> Result<Option<Update>> {
        let inner = &self.inner;
        if let Some(base) = &inner.metadata {
            let Some(vouched) = crate::metadata::check(inner, base, &inner.app_id).await? else { return Ok(None) };
            let signature = millennium_sign::Signature::from_text(&vouched.artifact.signature)
                .map_err(|source| Error::BadSignature { source })?;
            // Only now that an update is offered: hashing the installed artifact may take a while.
            let installed = crate::delta::base(inner).await;
            let deltas = match installed {
                Some(_) => crate::metadata::deltas(inner, base, &vouched).await,
                None => Vec::new(),
            };
            return Ok(Some(Update {
                updater: self.clone(),
                version: vouched.release.release.version.clone(),
                notes: None,
                date: None,
                url: vouched.url.clone(),
                offered_by: base.clone(),
                signature,
                min_webview: vouched.release.release.min_webview_version.clone(),
                delta: crate::delta::choose(inner, base, installed.as_ref(), &deltas),
                vouched: Some(Arc::new(vouched)),
            }));
        }
        let base = crate::delta::base(inner).await;
        crate::check::check(inner, base.as_ref().map(|b| &b.hash)).await.map(|found| {
            found.map(|(release, artifact, min_webview, offered_by, deltas)| Update {
                delta: crate::delta::choose(inner, &offered_by, base.as_ref(), &deltas),
                // A Tauri answer states the minimum of the requested target's backend only.
                min_webview: min_webview
                    .map(|min| WebviewMinimums::new().with(Backend::from(inner.target.os()), min))
                    .unwrap_or_default(),
                updater: self.clone(),
                version: release.version().clone(),
                notes: release.notes().map(str::to_owned),
                date: release.pub_date(),
                url: artifact.url().as_url().clone(),
                offered_by,
                signature: artifact.signature().signature().clone(),
                vouched: None,
            })
        })
    }

    /// The running version.
    pub fn current_version(&self) -> &Version {
        &self.inner.current
    }

    /// The platform updates are asked for.
    pub fn target(&self) -> Target {
        self.inner.target
    }

    /// How this app is installed, i.e. what an update replaces.
    pub fn install_kind(&self) -> &InstallKind {
        &self.inner.install
    }

    /// Waits up to `timeout` for the release-health events queued so far to be sent; whether none is left (`true`
    /// too when reporting is off). Sending never needs it in an app that keeps running; a short-lived process (a
    /// CLI that checks, updates and exits) calls it before exiting, or its events wait on disk for its next start.
    /// Events a server keeps answering `429`/`5xx` to stay queued, and this returns `false` after `timeout`.
    pub fn flush_events(&self, timeout: std::time::Duration) -> bool {
        self.inner.events.as_ref().is_none_or(|events| events.flush(timeout))
    }

    /// The install id sent as `Millennium-Install-Id`.
    pub fn install_id(&self) -> &str {
        &self.inner.install_id
    }

    /// The state directory.
    pub fn state_dir(&self) -> &std::path::Path {
        self.inner.state.root()
    }

    /// Rollback bookkeeping; call early at every start. After an update, counts the new version's starts and, once it
    /// has started more than the configured number of times without [`Updater::confirm_healthy`], restores the
    /// previous version (then [`Updater::relaunch`] runs it). See [`crate::rollback`].
    pub fn startup(&self) -> Result<StartupStatus> {
        rollback::startup(&self.inner)
    }

    /// Tells the updater that this (new) version works: its rollback record is cleared.
    pub fn confirm_healthy(&self) -> Result<()> {
        rollback::confirm_healthy(&self.inner)
    }

    /// Verifies a local artifact exactly as a download is verified (pinned keys, signed version, platform), for
    /// artifacts obtained by other means (removable media, an installer's cache). The file is left where it is; only
    /// the returned value can be installed, and its install checks the bytes once more as it reads them, so a file
    /// changed in between is refused. `signature_text` is the `.sig` content, minisign or Tauri form.
    pub fn verify_local_file(&self, path: &Path, signature_text: &str, version: &str) -> Result<DownloadedUpdate> {
        let version = Version::parse(version)
            .map_err(|e| Error::InvalidConfig { reason: format!("`{version}` is not a version: {e}") })?;
        let signature = millennium_sign::Signature::from_text(signature_text.trim())
            .map_err(|source| Error::BadSignature { source })?;
        let inner = &self.inner;
        let check = crate::verify::verify_artifact(
            &inner.keys,
            &signature,
            &version,
            inner.require_signed_version,
            &inner.install,
            path,
        )?;
        Ok(DownloadedUpdate {
            inner: inner.clone(),
            path: path.to_owned(),
            version,
            owned: false,
            check: Arc::new(check),
            vouched: None,
            min_webview: WebviewMinimums::new(),
        })
    }

    /// Installs the update scheduled with [`DownloadedUpdate::install_on_exit`], if any; call it from the app's quit
    /// path. `Ok(Some(version))`: it was installed (on Windows installer installs: the installer was started and this
    /// process exits). Blocking file operations.
    pub fn apply_pending_on_exit(&self) -> Result<Option<String>> {
        crate::install::on_exit::apply()
    }

    /// Replaces this process with the installed app, with the same arguments. Returns only on failure.
    pub fn relaunch(&self) -> Result<std::convert::Infallible> {
        // Events queued now (the `installed` of the update just made) are sent by the relaunched process.
        crate::events::suspend_sending();
        let failed = crate::install::relaunch(&self.inner.install);
        crate::events::resume_sending();
        failed
    }
}

/// An update offered by the server: a newer version with an artifact for this platform. Nothing is downloaded yet.
#[derive(Debug, Clone)]
pub struct Update {
    pub(crate) updater: Updater,
    pub(crate) version: Version,
    pub(crate) notes: Option<String>,
    pub(crate) date: Option<OffsetDateTime>,
    pub(crate) url: url::Url,
    /// The check (endpoint or metadata URL) that offered it: its origin gets the app's headers with the download.
    pub(crate) offered_by: url::Url,
    pub(crate) signature: millennium_sign::Signature,
    /// Set when the signed metadata vouches for this update (secure check).
    pub(crate) vouched: Option<Arc<crate::metadata::Vouched>>,
    /// The release's minimum webview versions, per backend (a Tauri answer's: for the target's backend only).
    pub(crate) min_webview: WebviewMinimums,
    /// The delta tried before the full download, when the server offers one from the installed artifact.
    pub(crate) delta: Option<crate::delta::Plan>,
}

impl Update {
    /// The offered version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// Release notes, if any.
    pub fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    /// Publication date, if announced.
    pub fn date(&self) -> Option<OffsetDateTime> {
        self.date
    }

    /// The artifact size, when known before the download: the signed size of a secure check. Tauri responses do not
    /// carry one (`None`); the download then enforces `Content-Length`.
    pub fn size(&self) -> Option<u64> {
        self.vouched.as_ref().map(|v| v.artifact.size)
    }

    /// Whether [`Update::download`] will first try a delta from the installed artifact (see `src/delta.rs`); if the
    /// delta fails in any way, the full artifact is downloaded.
    pub fn uses_delta(&self) -> bool {
        self.delta.is_some()
    }

    /// The size of that delta, in bytes (what a successful delta update downloads).
    pub fn delta_size(&self) -> Option<u64> {
        self.delta.as_ref().map(|plan| plan.offer.size)
    }

    /// The platform the artifact was chosen for.
    pub fn target(&self) -> Target {
        self.updater.inner.target
    }

    /// The oldest version of this platform's webview ([`Backend::current`]) the release works with, if it declares
    /// one (`min_webview_version`). Minimums for other backends do not apply here.
    pub fn min_webview_version(&self) -> Option<&WebviewVersion> {
        self.min_webview.get(Backend::current())
    }

    /// The release's minimum webview versions for every backend it declares one for.
    pub fn min_webview_versions(&self) -> &WebviewMinimums {
        &self.min_webview
    }

    /// Whether this machine's webview meets the release's minimum for it now (what the next launch would get).
    pub fn webview_verdict(&self) -> Verdict {
        let probe = Probe::detect_fresh();
        probe.check(self.min_webview.get(probe.backend))
    }

    /// Where the artifact is downloaded from.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// Downloads (resuming a previous partial download), verifies and keeps the artifact in the state directory.
    /// `progress` is called after every chunk.
    pub async fn download(&self, progress: impl FnMut(Progress) + Send) -> Result<DownloadedUpdate> {
        let result = crate::download::download(self, progress).await;
        if let (Err(error), Some(events)) = (&result, &self.updater.inner.events) {
            let kind = match error {
                Error::WebviewTooOld { .. } => EventKind::WebviewTooOld,
                _ => EventKind::DownloadFailed,
            };
            events.report(kind, Some(&self.updater.inner.current), &self.version, Some(error));
        }
        result
    }

    /// [`Update::download`], then [`DownloadedUpdate::install`].
    ///
    /// A release whose `min_webview_version` this machine does not meet is not even downloaded unless the
    /// [`WebviewPolicy`] provisions the webview first (checked again right before installing).
    pub async fn download_and_install(&self, progress: impl FnMut(Progress) + Send) -> Result<()> {
        let inner = self.updater.inner.clone();
        let (version, min) = (self.version.to_string(), self.min_webview.clone());
        let ensure = move || crate::webview::ensure(&inner.webview_policy, &inner.install, &version, &min);
        let ensured = tokio::task::spawn_blocking(ensure).await.map_err(|e| Error::Io {
            action: "check the webview for",
            path: PathBuf::from("the update"),
            source: std::io::Error::other(e.to_string()),
        })?;
        if let (Err(error), Some(events)) = (&ensured, &self.updater.inner.events) {
            events.report(EventKind::WebviewTooOld, Some(&self.updater.inner.current), &self.version, Some(error));
        }
        ensured?;
        let downloaded = self.download(progress).await?;
        let inner = self.updater.inner.clone();
        tokio::task::spawn_blocking(move || downloaded.install_with(&inner)).await.map_err(|e| Error::Io {
            action: "run the install step for",
            path: PathBuf::from("the update"),
            source: std::io::Error::other(e.to_string()),
        })?
    }
}

/// The public types can be moved to and shared between threads and tasks.
const _: () = {
    const fn is<T: Send + Sync>() {}
    is::<Updater>();
    is::<Update>();
    is::<DownloadedUpdate>();
};
