//! The delta job (docs/protocol.md §9): computes binary deltas to the newest release of every channel from the
//! releases before it, so that Millennium updaters download kilobytes instead of the whole artifact.
//!
//! # What is computed
//!
//! For each (app, channel), the releases that are not yanked, newest first by SemVer precedence: from each of the
//! `bases` (default 3) releases after the newest to the newest, for every target both have an artifact for (and whose
//! artifacts differ), one [`millennium_delta::make`] (both encoders, the smaller kept; `NotWorthIt` above 60 % of
//! the full artifact), then the same pair by the kept encoder with every delta form (interleaved diff, container
//! version 3, bounded window), kept as the pair's alternative for updaters that send `X-Millennium-Delta-Forms` when
//! it is at most 1/32 larger (the bounded window's price on dense diffs).
//! Each pair is decided once: the outcome (`stored`, `not_worth_it`, `failed`) is recorded in the `deltas` table
//! (migrations 0007 and 0012), and a stored delta and its alternative are blobs of the artifact store, served by
//! `/download/{app}/{version}/{target}/delta/{from}[.{form}]` ([`super::download::delta`]).
//!
//! # When, and where
//!
//! A singleton job ([`crate::leader`]): on replicas only the leader computes, once, and every replica serves the
//! result (the table and the store are shared); a single process always leads. It wakes when this process publishes
//! or promotes ([`super::AppState::releases_changed`]) and otherwise every `poll` (publishes on other replicas), and
//! looks for work only when the releases, placements or yanks changed since its last complete pass (three cheap
//! queries).
//!
//! Pairs are made one at a time on the blocking pool: making is CPU- and memory-heavy (a 65 MiB pair takes 16 s and
//! ~5x the base in memory with bsdiff, see `delta/README.md`), and a publish never waits for it: the publish has
//! committed before the job even wakes. A pair whose blobs cannot be read is retried on the next pass; one that fails
//! to encode is recorded as `failed` and counted, never retried.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use millennium_delta::{MakeOptions, Outcome};
use millennium_update_protocol::Version;
use millennium_update_protocol::delta::DeltaForm;
use tokio::io::AsyncReadExt;

use super::AppState;
use crate::db::{AltDelta, ArtifactRow, DeltaOutcome, ReleaseRow};
use crate::error::{Error, Result};
use crate::names::{AppId, Channel};

/// The name of the delta job (its advisory lock and its `millennium_leader` series).
pub const DELTA_JOB: &str = "deltas";

/// Default `--delta-bases`.
pub const DEFAULT_BASES: usize = 3;

/// How the delta job works.
#[derive(Debug, Clone, Copy)]
pub struct DeltaConfig {
    /// From how many releases before the newest of a channel deltas are made; 0 turns deltas off.
    pub bases: usize,
    /// How often the job looks for publishes made on other replicas.
    pub poll: Duration,
    /// Largest base bsdiff is tried on (its suffix array needs ~5x the base in memory); above it only zstd.
    pub bsdiff_max_base: u64,
}

impl Default for DeltaConfig {
    fn default() -> Self {
        Self {
            bases: DEFAULT_BASES,
            poll: Duration::from_secs(5),
            bsdiff_max_base: MakeOptions::default().bsdiff_max_base,
        }
    }
}

/// The job's memory between passes.
#[derive(Debug, Default)]
pub struct DeltaJobState {
    /// [`crate::db::Db::delta_work_marker`] of the last pass that completed without a retryable error.
    done: Mutex<Option<(i64, i64, i64)>>,
    /// Woken by publishes and promotions in this process.
    pub wake: tokio::sync::Notify,
}

/// One run of the job: waits for a wake-up or `poll`, then does what is due.
pub async fn run(state: &AppState) -> Result<()> {
    let config = state.config().deltas;
    let _ = tokio::time::timeout(config.poll, state.delta_job().wake.notified()).await;
    if config.bases == 0 {
        return Ok(());
    }
    let marker = state.db().delta_work_marker().await?;
    if *state.delta_job().done.lock().unwrap_or_else(PoisonError::into_inner) == Some(marker) {
        return Ok(());
    }
    let mut complete = true;
    for app in state.db().app_ids().await? {
        let app = AppId::parse(&app)?;
        for channel in state.db().app_channels(&app).await? {
            let channel = Channel::parse(&channel)?;
            if let Err(e) = channel_pass(state, &app, &channel, config).await {
                tracing::warn!(app = %app, channel = %channel, error = %millennium_update_admin::report::display_chain(&e), "delta job: will retry on the next pass");
                complete = false;
            }
        }
    }
    if complete {
        *state.delta_job().done.lock().unwrap_or_else(PoisonError::into_inner) = Some(marker);
    }
    Ok(())
}

async fn channel_pass(state: &AppState, app: &AppId, channel: &Channel, config: DeltaConfig) -> Result<()> {
    let mut releases: Vec<(Version, ReleaseRow)> = Vec::new();
    for (release, _) in state.db().channel_releases(app, channel).await? {
        if release.yanked {
            continue;
        }
        let version = Version::parse(&release.version)
            .map_err(|e| Error::Internal(format!("stored version {:?}: {e}", release.version)))?;
        releases.push((version, release));
    }
    releases.sort_by(|a, b| b.0.cmp_precedence(&a.0));
    let Some(((_, newest), older)) = releases.split_first() else { return Ok(()) };
    let new_artifacts = state.db().artifacts(newest.id).await?;
    for (_, base) in older.iter().take(config.bases) {
        let base_artifacts = state.db().artifacts(base.id).await?;
        for artifact in &new_artifacts {
            let Some(base_artifact) = base_artifacts.iter().find(|a| a.target == artifact.target) else { continue };
            if base_artifact.sha256 == artifact.sha256
                || state.db().delta_decided(newest.id, &artifact.target, base.id).await?
            {
                continue;
            }
            make_one(state, app, (base, base_artifact), (newest, artifact), config).await?;
        }
    }
    Ok(())
}

/// Makes, stores and records one delta. `Err` only for what a later pass may get past (reading blobs, the database).
async fn make_one(
    state: &AppState,
    app: &AppId,
    (base, base_artifact): (&ReleaseRow, &ArtifactRow),
    (new, artifact): (&ReleaseRow, &ArtifactRow),
    config: DeltaConfig,
) -> Result<()> {
    let target = artifact.target.as_str();
    let scratch = state.blobs().scratch_dir()?;
    let size = |a: &ArtifactRow| u64::try_from(a.size).unwrap_or(0);
    let base_path = state.blobs().local_copy(&base_artifact.sha256, size(base_artifact), scratch.path()).await?;
    let new_path = state.blobs().local_copy(&artifact.sha256, size(artifact), scratch.path()).await?;
    let output = scratch.path().join("delta");
    let options = MakeOptions { bsdiff_max_base: config.bsdiff_max_base, ..MakeOptions::default() };
    let started = std::time::Instant::now();
    let made = make_blocking(&base_path, &new_path, &output, &options).await?;
    let (from, to) = (base.version.as_str(), new.version.as_str());
    match made {
        Ok(Outcome::Kept(made)) => {
            let (sha256, delta_size, blake2b_256) = store(state, &output).await?;
            let alternative =
                alternative(state, &made, (&base_path, &new_path, &output), &options, &blake2b_256).await?;
            let from_blake2b = hex::encode(made.header.base_blake2b_256);
            let encoder = made.header.encoder.name();
            state
                .db()
                .record_delta(
                    app,
                    new.id,
                    target,
                    base.id,
                    DeltaOutcome::Stored {
                        from_blake2b: &from_blake2b,
                        sha256: &sha256,
                        size: delta_size,
                        blake2b_256: &blake2b_256,
                        encoder,
                        alternative: alternative.as_ref(),
                    },
                )
                .await?;
            state.metrics().delta_job(app.as_str(), "stored");
            // The answers now offer it.
            state.cache().invalidate();
            let alternative_size = alternative.as_ref().map(|a| a.size);
            tracing::info!(app = %app, target, from, to, size = delta_size, alternative_size, full = artifact.size, encoder, seconds = started.elapsed().as_secs_f64(), "delta stored");
        }
        Ok(Outcome::NotWorthIt { attempts, target_size }) => {
            let sizes: Vec<String> = attempts
                .iter()
                .map(|a| format!("{}={}", a.encoder, a.size.map_or("skipped".into(), |s| s.to_string())))
                .collect();
            let detail = format!("{} of {target_size} bytes", sizes.join(" "));
            state.db().record_delta(app, new.id, target, base.id, DeltaOutcome::NotWorthIt { detail: &detail }).await?;
            state.metrics().delta_job(app.as_str(), "not_worth_it");
            tracing::info!(app = %app, target, from, to, detail, "no delta kept: larger than 60 % of the full artifact");
        }
        Err(e) => {
            let detail = format!("{}: {e}", e.code());
            state.db().record_delta(app, new.id, target, base.id, DeltaOutcome::Failed { detail: &detail }).await?;
            state.metrics().delta_job(app.as_str(), "failed");
            tracing::warn!(app = %app, target, from, to, error = %detail, "delta failed; clients download the full artifact");
        }
    }
    Ok(())
}

async fn make_blocking(
    base: &std::path::Path,
    new: &std::path::Path,
    output: &std::path::Path,
    options: &MakeOptions,
) -> Result<millennium_delta::Result<Outcome>> {
    let (base, new, output, options) = (base.to_owned(), new.to_owned(), output.to_owned(), options.clone());
    tokio::task::spawn_blocking(move || millennium_delta::make(&base, &new, &output, &options))
        .await
        .map_err(|e| Error::Internal(format!("delta task: {e}")))
}

/// How much larger than the first delta its alternative may be, as a fraction (1/32, ~3 %): the bounded window makes a
/// dense diff stream ~2 % larger (`scripts/bench-delta`'s hello-function, 32,049 B against 31,475 B) and in exchange
/// caps the applier's decoder memory at 64 KiB whatever the file's size; the other forms only make it smaller.
const ALTERNATIVE_GROWTH: u64 = 32;

/// The alternative to the kept delta `made` (stored with BLAKE2b-256 `first_blake2b`) for clients that read every
/// delta form (labelled `DeltaForm::NEWEST`: forms are cumulative), stored: made again by the kept encoder alone with
/// the interleaved diff allowed (bsdiff picks it on a tie, as it decodes fastest), container version 3 (the result
/// checked by XXH3-64) and the bounded window (every stream decoded within 64 KiB), kept when it is a different delta
/// and larger by at most 1/[`ALTERNATIVE_GROWTH`] of it. `None` when it gives nothing, or when making it fails (logged:
/// the first delta still serves every client).
async fn alternative(
    state: &AppState,
    made: &millennium_delta::Made,
    (base, new, first): (&std::path::Path, &std::path::Path, &std::path::Path),
    options: &MakeOptions,
    first_blake2b: &str,
) -> Result<Option<AltDelta>> {
    let output = first.with_extension(DeltaForm::NEWEST.token());
    let options = MakeOptions {
        encoders: vec![made.header.encoder],
        interleaved_diff: true,
        xxh3_result_check: true,
        bounded_window: true,
        ..options.clone()
    };
    match make_blocking(base, new, &output, &options).await? {
        Ok(Outcome::Kept(other)) if other.size <= made.size + made.size / ALTERNATIVE_GROWTH => {
            let (sha256, size, blake2b_256) = store(state, &output).await?;
            if blake2b_256 == first_blake2b {
                return Ok(None);
            }
            let size = i64::try_from(size).map_err(|_| Error::Internal("delta size overflow".into()))?;
            Ok(Some(AltDelta { form: DeltaForm::NEWEST.token().into(), sha256, size, blake2b_256 }))
        }
        Ok(_) => Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "delta in the newest form failed; every client gets the first one");
            Ok(None)
        }
    }
}

/// Copies the delta at `path` into the blob store: its SHA-256 (the key), size and BLAKE2b-256.
async fn store(state: &AppState, path: &std::path::Path) -> Result<(String, u64, String)> {
    let mut file = tokio::fs::File::open(path).await.map_err(|e| Error::io("could not open", path, e))?;
    let mut writer = state.blobs().writer()?;
    let mut blake2b = blake2b_simd::Params::new().hash_length(32).to_state();
    let mut buffer = vec![0; 256 * 1024];
    loop {
        let n = file.read(&mut buffer).await.map_err(|e| Error::io("could not read", path, e))?;
        if n == 0 {
            break;
        }
        blake2b.update(&buffer[..n]);
        writer.write(&buffer[..n]).await?;
    }
    let staged = writer.finish().await?;
    let size = staged.size;
    let sha256 = state.blobs().persist(staged).await?;
    Ok((sha256, size, hex::encode(blake2b.finalize().as_bytes())))
}
