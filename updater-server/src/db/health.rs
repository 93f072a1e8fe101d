//! Release health: hourly event counters per app, release, channel and kind; adoption counters from update checks;
//! halt rules and the automatic halt of a rollout.
//!
//! Storage stays bounded over time too: the leader's health job ([`Db::compact_health`]) adds the hourly rows of
//! days older than the compaction age into daily rows (`release_health_daily`, `release_adoption_daily`), and every
//! reader adds both granularities up. Event ids (the client's random `id` of each event) are stored for a window so
//! that a batch sent again is counted once; the same job forgets them after it.
//!
//! Counters are upserts that add (`ON CONFLICT … DO UPDATE SET n = n + excluded.n`), so storage is one row per
//! (release, channel, kind, hour) however many installs report, and replicas may add to the same row concurrently.
//! A halt is one conditional `UPDATE … WHERE halted_at IS NULL` in a transaction that also pauses every placement:
//! whichever replica (or request) gets there first halts it, the others change nothing, so evaluating the rule on
//! every ingest is safe with replicas. The halt's `rollout.halted` webhook deliveries are enqueued in that same
//! transaction, by the one that halts.

use millennium_update_admin::api::{Halt, HaltRule, HealthCounts};

use super::Db;
use super::backend::{Statement, Tx};
use crate::adoption::Checks;
use crate::error::{Error, Result};
use crate::names::AppId;
use crate::webhooks::Notice;

/// Length of a counter bucket: one hour.
pub const BUCKET_SECS: i64 = 3600;

/// The bucket (start of the hour) of a Unix time.
pub fn bucket_of(unix: i64) -> i64 {
    unix.div_euclid(BUCKET_SECS) * BUCKET_SECS
}

/// One counter increment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HealthKey {
    pub version: String,
    pub channel: String,
    pub kind: &'static str,
    pub bucket: i64,
}

/// One event to count: its app, its id if it has one, and the counter it adds to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent<'a> {
    pub app: &'a str,
    pub id: Option<&'a str>,
    pub key: &'a HealthKey,
}

/// Most counter rows one multi-row upsert of [`Db::add_health`] writes, so that a statement stays far below either
/// backend's limit of parameters.
pub const ROWS_PER_STATEMENT: usize = 64;

/// `($1, $2, $3), ($4, $5, $6), …`: `rows` groups of `columns` placeholders; with `numbered` false, `(?, ?, ?), …`.
///
/// PostgreSQL needs the numbers. SQLite is given the anonymous `?`: sqlx binds each parameter by asking SQLite its
/// name, which SQLite finds by scanning the statement's list of named parameters, so `$N` made binding cost grow
/// with the square of the parameters per statement (still 7 % of SQLite's thread at 64 rows of 3), while an
/// anonymous parameter has no name to look for and is bound in order.
fn placeholders(rows: usize, columns: usize, numbered: bool) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        out.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                out.push_str(", ");
            }
            if numbered {
                out.push_str(&format!("${}", row * columns + column + 1));
            } else {
                out.push('?');
            }
        }
        out.push(')');
    }
    out
}

/// The statement of [`Db::add_health`] that stores the event ids `ids` (app, id) as seen at `now`, skipping those
/// stored before; with `returning`, it answers the ids it stored. The one statement of both passes (the first counts
/// the rows it changed, the second, in a new transaction, reads them), whatever the batch's size: the ids go as one
/// JSON array of `[app, id]` pairs, unpacked by the database (`json_each` on SQLite, `json_array_elements` on
/// PostgreSQL), so the SQL is always the same (prepared once per connection) and a batch is one round trip to the
/// database, where rows of placeholders took one statement per 64 ids and a statement text per size.
fn insert_ids<'t>(tx: &'t mut Tx, ids: &[(&str, &str)], now: i64, returning: bool) -> Result<Statement<'t, 'static>> {
    let sql = match (tx.is_postgres(), returning) {
        (false, false) => {
            "INSERT INTO release_event_ids (app_id, event_id, seen_at)
             SELECT value ->> 0, value ->> 1, $2 FROM json_each($1) WHERE true
             ON CONFLICT (app_id, event_id) DO NOTHING"
        }
        (false, true) => {
            "INSERT INTO release_event_ids (app_id, event_id, seen_at)
             SELECT value ->> 0, value ->> 1, $2 FROM json_each($1) WHERE true
             ON CONFLICT (app_id, event_id) DO NOTHING RETURNING app_id, event_id"
        }
        (true, false) => {
            "INSERT INTO release_event_ids (app_id, event_id, seen_at)
             SELECT pair ->> 0, pair ->> 1, $2 FROM json_array_elements($1::json) AS pair
             ON CONFLICT (app_id, event_id) DO NOTHING"
        }
        (true, true) => {
            "INSERT INTO release_event_ids (app_id, event_id, seen_at)
             SELECT pair ->> 0, pair ->> 1, $2 FROM json_array_elements($1::json) AS pair
             ON CONFLICT (app_id, event_id) DO NOTHING RETURNING app_id, event_id"
        }
    };
    let pairs = serde_json::to_string(ids).map_err(|e| Error::Internal(format!("event ids as JSON: {e}")))?;
    Ok(tx.query(sql).bind(pairs).bind(now))
}

/// A release's halt state.
#[derive(Debug, Clone, Default)]
pub struct HaltState {
    pub halted: Option<Halt>,
    /// Installs counted at the last resume.
    pub base_installs: u64,
    /// Failures counted at the last resume.
    pub base_failures: u64,
}

/// Length of a compacted bucket: one UTC day.
pub const DAY_SECS: i64 = 86_400;

/// One stored counter row, hourly or daily.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRow {
    pub start: i64,
    /// 3600 or 86400.
    pub seconds: i64,
    pub channel: String,
    pub kind: String,
    pub n: u64,
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn rule_from(percent: Option<i64>, min: Option<i64>) -> Option<HaltRule> {
    Some(HaltRule { max_failure_percent: u8::try_from(percent?).ok()?, min_installs: to_u64(min?) })
}

impl Db {
    /// Counts a batch of events (of any apps), in one transaction: each event whose id was already counted (within
    /// the window [`Db::compact_health`] keeps ids for), or comes again later in the same batch, is skipped; the
    /// others add to their hourly counters. Returns, for each event, whether it was counted (`false`: a duplicate).
    ///
    /// The statements are few whatever the batch's size, as each is a round trip to the database (on SQLite, to the
    /// connection's thread and back: two thread switches): `BEGIN`, one statement storing every id with
    /// `ON CONFLICT DO NOTHING` (`insert_ids`), the counters summed per row in one multi-row upsert per
    /// `ROWS_PER_STATEMENT` rows (so each counter row appears once per statement: PostgreSQL refuses to update a row
    /// twice in one), and `COMMIT`.
    ///
    /// Which ids are new is known without reading them back in the usual case, a batch of ids never seen: the insert
    /// then changes as many rows as it was given, so every id is new. Only when it changes fewer (some id was counted
    /// before, on this replica or another) is the transaction, which holds nothing else yet, rolled back and begun
    /// again with the insert made with `RETURNING` (the rows returned are the new ids). Returning a row per new id was
    /// the costliest part of counting on SQLite, where sqlx hands each row from the connection's thread to the
    /// caller's on its own: about one thread switch per event.
    pub async fn add_health(&self, events: &[HealthEvent<'_>], now: i64) -> Result<Vec<bool>> {
        use std::collections::{BTreeMap, HashMap};
        let mut fresh = vec![true; events.len()];
        // (app, id) → the index of its first event in the batch.
        let mut ids: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, event) in events.iter().enumerate() {
            if let Some(id) = event.id {
                match ids.entry((event.app, id)) {
                    std::collections::hash_map::Entry::Occupied(_) => fresh[i] = false,
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(i);
                    }
                }
            }
        }
        let pending: Vec<(&str, &str)> = ids.keys().copied().collect();
        let mut tx = self.begin_write().await?;
        if !pending.is_empty() && insert_ids(&mut tx, &pending, now, false)?.execute().await? != pending.len() as u64 {
            // Some id was counted before: nothing else is written yet, so start over and read back the new ids.
            tx.rollback().await?;
            tx = self.begin_write().await?;
            let inserted: Vec<(String, String)> = insert_ids(&mut tx, &pending, now, true)?
                .fetch_all(|row| Ok((row.get("app_id")?, row.get("event_id")?)))
                .await?;
            let inserted: std::collections::HashSet<(&str, &str)> =
                inserted.iter().map(|(app, id)| (app.as_str(), id.as_str())).collect();
            for key in &pending {
                if !inserted.contains(key) {
                    fresh[ids[key]] = false;
                }
            }
        }
        let mut counts: BTreeMap<(&str, &HealthKey), i64> = BTreeMap::new();
        for (event, fresh) in events.iter().zip(&fresh) {
            if *fresh {
                *counts.entry((event.app, event.key)).or_default() += 1;
            }
        }
        let counts: Vec<_> = counts.into_iter().collect();
        let numbered = tx.is_postgres();
        for chunk in counts.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO release_health (app_id, version, channel, kind, bucket, n) VALUES {}
                 ON CONFLICT (app_id, version, channel, kind, bucket) DO UPDATE SET n = release_health.n + excluded.n",
                placeholders(chunk.len(), 6, numbered)
            );
            let mut statement = tx.query(&sql);
            for ((app, key), n) in chunk {
                statement = statement
                    .bind(*app)
                    .bind(key.version.as_str())
                    .bind(key.channel.as_str())
                    .bind(key.kind)
                    .bind(key.bucket)
                    .bind(*n);
            }
            statement.execute().await?;
        }
        tx.commit().await?;
        Ok(fresh)
    }

    /// Adds update-check counts to the rows of the hour `bucket`, in one transaction.
    pub async fn add_adoption(&self, bucket: i64, counts: &[Checks]) -> Result<()> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for Checks { app, version, count } in counts {
            // An app deleted meanwhile (there is no deletion today) must not fail the whole flush.
            tx.query(
                "INSERT INTO release_adoption (app_id, version, bucket, n)
                 SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM apps WHERE id = $1)
                 ON CONFLICT (app_id, version, bucket) DO UPDATE SET n = release_adoption.n + excluded.n",
            )
            .bind(app.as_str())
            .bind(version.as_str())
            .bind(bucket)
            .bind(to_i64(*count))
            .execute()
            .await?;
        }
        tx.commit().await
    }

    /// Every counter row of a release, hourly and daily, oldest first.
    pub async fn health_rows(&self, app: &AppId, version: &str) -> Result<Vec<HealthRow>> {
        self.query(
            "SELECT bucket, CAST(3600 AS BIGINT) AS seconds, channel, kind, n FROM release_health WHERE app_id = $1 AND version = $2
             UNION ALL
             SELECT bucket, CAST(86400 AS BIGINT) AS seconds, channel, kind, n FROM release_health_daily WHERE app_id = $1 AND version = $2
             ORDER BY bucket, seconds, channel, kind",
        )
        .bind(app.as_str())
        .bind(version)
        .fetch_all(|row| {
            Ok(HealthRow {
                start: row.get("bucket")?,
                seconds: row.get("seconds")?,
                channel: row.get("channel")?,
                kind: row.get("kind")?,
                n: to_u64(row.get("n")?),
            })
        })
        .await
    }

    /// A release's counts, all channels and buckets (hourly and daily) added up.
    pub async fn health_totals(&self, app: &AppId, version: &str) -> Result<HealthCounts> {
        let rows: Vec<(String, i64)> = self
            .query(
                "SELECT kind, CAST(SUM(n) AS BIGINT) AS total FROM (
                     SELECT kind, n FROM release_health WHERE app_id = $1 AND version = $2
                     UNION ALL
                     SELECT kind, n FROM release_health_daily WHERE app_id = $1 AND version = $2
                 ) AS counted GROUP BY kind",
            )
            .bind(app.as_str())
            .bind(version)
            .fetch_all(|row| Ok((row.get("kind")?, row.get("total")?)))
            .await?;
        let mut counts = HealthCounts::default();
        for (kind, total) in rows {
            if let Some(slot) = counts.get_mut(&kind) {
                *slot = to_u64(total);
            }
        }
        Ok(counts)
    }

    /// Update checks per bucket (hourly, and daily for compacted hours) and client version, of the buckets that end
    /// after `since` (Unix seconds), oldest first: `(start, seconds, version, checks)`.
    pub async fn adoption(&self, app: &AppId, since: i64) -> Result<Vec<(i64, i64, String, u64)>> {
        self.query(
            "SELECT bucket, CAST(3600 AS BIGINT) AS seconds, version, n FROM release_adoption WHERE app_id = $1 AND bucket + 3600 > $2
             UNION ALL
             SELECT bucket, CAST(86400 AS BIGINT) AS seconds, version, n FROM release_adoption_daily
             WHERE app_id = $1 AND bucket + 86400 > $2
             ORDER BY bucket, seconds, version",
        )
        .bind(app.as_str())
        .bind(since)
        .fetch_all(|row| Ok((row.get("bucket")?, row.get("seconds")?, row.get("version")?, to_u64(row.get("n")?))))
        .await
    }

    /// Compacts the hourly counters (events and adoption) of every UTC day that ended before `before` into daily
    /// ones, one day per transaction (so a first run over a long history holds one day of rows at a time), and forgets
    /// the event ids seen before `ids_before`. Each day's hourly rows are deleted and their sums added to the daily
    /// rows in the same transaction; a late event counted into a compacted hour meanwhile makes a new hourly row that
    /// the next run adds to its day, so nothing is lost or counted twice, with replicas too. Returns the hourly rows
    /// compacted.
    pub async fn compact_health(&self, before: i64, ids_before: i64) -> Result<u64> {
        let before = before.div_euclid(DAY_SECS) * DAY_SECS;
        let mut compacted = 0u64;
        loop {
            let oldest: Option<i64> = self
                .query(
                    "SELECT MIN(bucket) AS oldest FROM (
                         SELECT MIN(bucket) AS bucket FROM release_health WHERE bucket < $1
                         UNION ALL
                         SELECT MIN(bucket) AS bucket FROM release_adoption WHERE bucket < $1
                     ) AS found",
                )
                .bind(before)
                .fetch_one(|row| row.get("oldest"))
                .await?;
            let Some(oldest) = oldest else { break };
            let day = oldest.div_euclid(DAY_SECS) * DAY_SECS;
            compacted += self.compact_day(day).await?;
        }
        self.query("DELETE FROM release_event_ids WHERE seen_at < $1").bind(ids_before).execute().await?;
        Ok(compacted)
    }

    /// Moves the hourly rows of the UTC day starting at `day` into the daily tables; the rows moved.
    async fn compact_day(&self, day: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let health: Vec<(String, String, String, String, i64)> = tx
            .query(
                "DELETE FROM release_health WHERE bucket >= $1 AND bucket < $2
                 RETURNING app_id, version, channel, kind, n",
            )
            .bind(day)
            .bind(day + DAY_SECS)
            .fetch_all(|row| {
                Ok((row.get("app_id")?, row.get("version")?, row.get("channel")?, row.get("kind")?, row.get("n")?))
            })
            .await?;
        let mut sums: std::collections::BTreeMap<(&str, &str, &str, &str), i64> = std::collections::BTreeMap::new();
        for (app, version, channel, kind, n) in &health {
            *sums.entry((app, version, channel, kind)).or_default() += n;
        }
        for ((app, version, channel, kind), n) in sums {
            tx.query(
                "INSERT INTO release_health_daily (app_id, version, channel, kind, bucket, n)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (app_id, version, channel, kind, bucket)
                 DO UPDATE SET n = release_health_daily.n + excluded.n",
            )
            .bind(app)
            .bind(version)
            .bind(channel)
            .bind(kind)
            .bind(day)
            .bind(n)
            .execute()
            .await?;
        }
        let adoption: Vec<(String, String, i64)> = tx
            .query("DELETE FROM release_adoption WHERE bucket >= $1 AND bucket < $2 RETURNING app_id, version, n")
            .bind(day)
            .bind(day + DAY_SECS)
            .fetch_all(|row| Ok((row.get("app_id")?, row.get("version")?, row.get("n")?)))
            .await?;
        let mut sums: std::collections::BTreeMap<(&str, &str), i64> = std::collections::BTreeMap::new();
        for (app, version, n) in &adoption {
            *sums.entry((app, version)).or_default() += n;
        }
        for ((app, version), n) in sums {
            tx.query(
                "INSERT INTO release_adoption_daily (app_id, version, bucket, n) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (app_id, version, bucket) DO UPDATE SET n = release_adoption_daily.n + excluded.n",
            )
            .bind(app)
            .bind(version)
            .bind(day)
            .bind(n)
            .execute()
            .await?;
        }
        tx.commit().await?;
        Ok((health.len() + adoption.len()) as u64)
    }

    /// The halt rule in force for a release and where it comes from (`release` or `app`).
    pub async fn halt_rule(&self, app: &AppId, release_id: i64) -> Result<Option<(HaltRule, &'static str)>> {
        let row: Option<[Option<i64>; 4]> = self
            .query(
                "SELECT r.halt_max_failure_percent AS rp, r.halt_min_installs AS rm,
                        a.halt_max_failure_percent AS ap, a.halt_min_installs AS am
                 FROM releases r JOIN apps a ON a.id = r.app_id WHERE r.id = $1 AND r.app_id = $2",
            )
            .bind(release_id)
            .bind(app.as_str())
            .fetch_optional(|row| Ok([row.get("rp")?, row.get("rm")?, row.get("ap")?, row.get("am")?]))
            .await?;
        let Some([rp, rm, ap, am]) = row else { return Ok(None) };
        Ok(rule_from(rp, rm).map(|r| (r, "release")).or_else(|| rule_from(ap, am).map(|r| (r, "app"))))
    }

    /// Sets (or with `None` removes) an app's default halt rule; `false` when there is no such app.
    pub async fn set_app_halt_rule(&self, app: &AppId, rule: Option<HaltRule>) -> Result<bool> {
        let updated = self
            .query("UPDATE apps SET halt_max_failure_percent = $1, halt_min_installs = $2 WHERE id = $3")
            .bind(rule.map(|r| i64::from(r.max_failure_percent)))
            .bind(rule.map(|r| to_i64(r.min_installs)))
            .bind(app.as_str())
            .execute()
            .await?;
        Ok(updated > 0)
    }

    /// Sets (or with `None` removes) a release's own halt rule.
    pub async fn set_release_halt_rule(&self, release_id: i64, rule: Option<HaltRule>) -> Result<()> {
        self.query("UPDATE releases SET halt_max_failure_percent = $1, halt_min_installs = $2 WHERE id = $3")
            .bind(rule.map(|r| i64::from(r.max_failure_percent)))
            .bind(rule.map(|r| to_i64(r.min_installs)))
            .bind(release_id)
            .execute()
            .await?;
        Ok(())
    }

    /// A release's halt state.
    pub async fn halt_state(&self, release_id: i64) -> Result<HaltState> {
        self.query(
            "SELECT halted_at, halted_reason, halt_base_installs, halt_base_failures FROM releases WHERE id = $1",
        )
        .bind(release_id)
        .fetch_optional(|row| {
            let at: Option<i64> = row.get("halted_at")?;
            let reason: Option<String> = row.get("halted_reason")?;
            Ok(HaltState {
                halted: at.map(|at| Halt { at, reason: reason.unwrap_or_default() }),
                base_installs: to_u64(row.get("halt_base_installs")?),
                base_failures: to_u64(row.get("halt_base_failures")?),
            })
        })
        .await?
        .ok_or_else(|| Error::not_found("release"))
    }

    /// Halts a release's rollout: records why and when and pauses every placement, unless it is halted already, and
    /// enqueues `notice` (`rollout.halted`) in the same transaction. Returns whether this call halted it (exactly one
    /// of concurrent callers, on any replica, gets `true`; the others enqueue nothing).
    pub async fn halt_release(&self, app: &AppId, release_id: i64, reason: &str, notice: &Notice) -> Result<bool> {
        let mut tx = self.begin_app_write(app).await?;
        let halted = tx
            .query("UPDATE releases SET halted_at = $1, halted_reason = $2 WHERE id = $3 AND halted_at IS NULL")
            .bind(super::now())
            .bind(reason)
            .bind(release_id)
            .execute()
            .await?;
        if halted == 0 {
            return Ok(false);
        }
        tx.query("UPDATE channel_releases SET paused = TRUE WHERE release_id = $1").bind(release_id).execute().await?;
        super::webhooks::enqueue_deliveries(&mut tx, notice).await?;
        tx.announce(app).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// In the transaction of a resume ([`Db::update_placement`]): clears a release's halt, remembering `base` (the counts
/// so far) as the new baseline. Returns whether it was halted.
pub(super) async fn clear_halt(tx: &mut Tx, release_id: i64, base: &HealthCounts) -> Result<bool> {
    let cleared = tx
        .query(
            "UPDATE releases SET halted_at = NULL, halted_reason = NULL, halt_base_installs = $1,
             halt_base_failures = $2 WHERE id = $3 AND halted_at IS NOT NULL",
        )
        .bind(to_i64(base.installed))
        .bind(to_i64(base.failures()))
        .bind(release_id)
        .execute()
        .await?;
    Ok(cleared > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_column_of_every_row() {
        assert_eq!(placeholders(1, 3, true), "($1, $2, $3)");
        assert_eq!(placeholders(2, 2, true), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(2, 2, false), "(?, ?), (?, ?)");
    }

    /// Ids counted before, anywhere in a batch larger than a counter statement's rows, are duplicates (the insert is
    /// then made again in a new transaction, returning the new ids), as is an id repeated inside the batch; every other
    /// event counts once, and a batch of new ids only counts them all.
    #[tokio::test]
    async fn ids_counted_before_anywhere_in_a_large_batch_are_duplicates_and_the_rest_count_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&super::super::DatabaseUrl::sqlite_in(dir.path())).await.unwrap();
        db.query("INSERT INTO apps (id, public_key, created_at) VALUES ('app', 'key', 0)").execute().await.unwrap();
        let key = HealthKey { version: "1.0.0".into(), channel: "stable".into(), kind: "installed", bucket: 0 };
        let ids: Vec<String> = (0..3 * ROWS_PER_STATEMENT).map(|i| format!("id-{i:04}")).collect();
        fn event<'a>(id: &'a str, key: &'a HealthKey) -> HealthEvent<'a> {
            HealthEvent { app: "app", id: Some(id), key }
        }
        let before = 2 * ROWS_PER_STATEMENT + 5..2 * ROWS_PER_STATEMENT + 15;
        let first: Vec<_> = ids[before.clone()].iter().map(|id| event(id, &key)).collect();
        assert_eq!(db.add_health(&first, 10).await.unwrap(), vec![true; 10]);

        let batch: Vec<_> = ids.iter().map(|id| event(id, &key)).chain([event(&ids[0], &key)]).collect();
        let fresh = db.add_health(&batch, 20).await.unwrap();
        let expected: Vec<bool> = (0..batch.len()).map(|i| !before.contains(&i) && i < ids.len()).collect();
        assert_eq!(fresh, expected);
        let app = AppId::parse("app").unwrap();
        assert_eq!(db.health_totals(&app, "1.0.0").await.unwrap().installed, ids.len() as u64);
        let stored: i64 =
            db.query("SELECT COUNT(*) AS n FROM release_event_ids").fetch_one(|row| row.get("n")).await.unwrap();
        assert_eq!(stored, ids.len() as i64);
        db.close().await;
    }

    #[test]
    fn buckets_are_hours() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(3599), 0);
        assert_eq!(bucket_of(3600), 3600);
        assert_eq!(bucket_of(1_767_225_601), 1_767_225_600);
        assert_eq!(bucket_of(-1), -3600);
    }
}
