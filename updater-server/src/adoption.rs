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
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

/// Most (app, version) pairs held between two flushes; checks of further pairs are not counted.
pub const MAX_KEYS: usize = 16_384;

const SHARDS: usize = 16;

/// One shard: hash of (app, version) → (app, version, checks).
type Shard = Mutex<HashMap<u64, (String, String, u64)>>;

/// The counters.
#[derive(Debug)]
pub struct Adoption {
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Shard>,
}

impl Default for Adoption {
    fn default() -> Self {
        Self {
            hasher: std::collections::hash_map::RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl Adoption {
    /// Counts one check from an install running `version` of `app`.
    pub fn count(&self, app: &str, version: &str) {
        let hash = self.hasher.hash_one((app, version));
        let mut shard = self.shards[(hash as usize) % SHARDS].lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = shard.get_mut(&hash) {
            entry.2 += 1;
        } else if shard.len() < MAX_KEYS / SHARDS {
            shard.insert(hash, (app.to_owned(), version.to_owned(), 1));
        }
    }

    /// Takes every counter, leaving them at zero.
    pub fn take(&self) -> Vec<(String, String, u64)> {
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
    let counts: Vec<((String, String, i64), u64)> =
        state.adoption().take().into_iter().map(|(app, version, n)| ((app, version, bucket), n)).collect();
    state.db().add_adoption(&counts).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_taken_once_and_keys_are_bounded() {
        let adoption = Adoption::default();
        adoption.count("demo", "1.0.0");
        adoption.count("demo", "1.0.0");
        adoption.count("demo", "2.0.0");
        let mut taken = adoption.take();
        taken.sort();
        assert_eq!(taken, vec![("demo".into(), "1.0.0".into(), 2), ("demo".into(), "2.0.0".into(), 1)]);
        assert!(adoption.take().is_empty());
        for i in 0..100_000 {
            adoption.count("demo", &format!("0.0.{i}"));
        }
        assert!(adoption.take().len() <= MAX_KEYS);
    }
}
