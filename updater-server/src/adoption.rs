//! Adoption from update checks: how many checks came from installs running each released version, per hour, for the
//! adoption curve of `GET …/releases/{version}/health`.
//!
//! The check path must not touch the database (see `server::updates`), so each check only increments a counter in
//! memory (16 shards, a lock held for one map lookup), and every replica adds its counters to the hourly rows of
//! `release_adoption` once a minute ([`flush`]), with upserts that add, like the event counters. Only versions the
//! app has offerable releases of in the checked channel are counted, and at most [`MAX_KEYS`] (app, version) pairs
//! are held between flushes, so clients cannot make rows or memory grow with made-up versions. A replica that dies
//! loses at most a minute of counts: adoption is a trend, not a ledger.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

use nohash_hasher::BuildNoHashHasher;

/// Most (app, version) pairs held between two flushes; checks of further pairs are not counted.
pub const MAX_KEYS: usize = 16_384;

const SHARDS: usize = 16;
// The shard is picked by the key's top `log2(SHARDS)` bits.
const _: () = assert!(SHARDS.is_power_of_two());

/// One shard: the pairs whose key's top bits name it, by their key. The key is already a keyed hash, so the map uses
/// it as it is instead of hashing it again.
type Shard = Mutex<HashMap<u64, Checks, BuildNoHashHasher<u64>>>;

/// The checks counted for one (app, version) pair since the last flush.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Checks {
    pub app: String,
    pub version: String,
    pub count: u64,
}

/// Where the counter of an (app, version) pair is: a keyed hash of the pair ([`Adoption::key`]). A kept answer holds
/// its pair's, so counting a check it answers hashes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdoptionKey(u64);

/// The counters.
#[derive(Debug)]
pub struct Adoption {
    /// Random per process, so that clients cannot pick versions whose keys collide.
    hasher: RandomState,
    shards: Vec<Shard>,
}

impl Default for Adoption {
    fn default() -> Self {
        Self { hasher: RandomState::new(), shards: (0..SHARDS).map(|_| Mutex::default()).collect() }
    }
}

impl Adoption {
    /// The key of the counter of `version` of `app`.
    pub fn key(&self, app: &str, version: &str) -> AdoptionKey {
        AdoptionKey(self.hasher.hash_one((app, version)))
    }

    /// Counts one check from an install running `version` of `app`.
    pub fn count(&self, app: &str, version: &str) {
        self.count_keyed(self.key(app, version), app, version);
    }

    /// [`Adoption::count`] with the pair's key already made (by [`Adoption::key`] of this same `Adoption`).
    pub fn count_keyed(&self, key: AdoptionKey, app: &str, version: &str) {
        // The top bits pick the shard: the map places keys by their low bits, which would otherwise be alike within it.
        let shard = &self.shards[(key.0 >> (u64::BITS - SHARDS.ilog2())) as usize];
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(checks) = shard.get_mut(&key.0) {
            checks.count += 1;
        } else if shard.len() < MAX_KEYS / SHARDS {
            shard.insert(key.0, Checks { app: app.to_owned(), version: version.to_owned(), count: 1 });
        }
    }

    /// Takes every counter, leaving them at zero.
    pub fn take(&self) -> Vec<Checks> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let taken = std::mem::take(&mut *shard.lock().unwrap_or_else(PoisonError::into_inner));
            out.extend(taken.into_values());
        }
        out
    }
}

/// Adds the counters so far to the current hour's rows (and forgets them). On a database error they are lost: the
/// next minute's counts go on.
pub async fn flush(state: &crate::server::AppState) -> crate::Result<()> {
    let bucket = crate::db::bucket_of(crate::db::now());
    state.db().add_adoption(bucket, &state.adoption().take()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_taken_once_and_keys_are_bounded() {
        let adoption = Adoption::default();
        adoption.count("demo", "1.0.0");
        adoption.count_keyed(adoption.key("demo", "1.0.0"), "demo", "1.0.0");
        adoption.count("demo", "2.0.0");
        let mut taken = adoption.take();
        taken.sort();
        let checks = |version: &str, count| Checks { app: "demo".into(), version: version.into(), count };
        assert_eq!(taken, vec![checks("1.0.0", 2), checks("2.0.0", 1)]);
        assert!(adoption.take().is_empty());
        for i in 0..100_000 {
            adoption.count("demo", &format!("0.0.{i}"));
        }
        // Every shard filled up to its share, and no further.
        assert_eq!(adoption.take().len(), MAX_KEYS);
    }
}
