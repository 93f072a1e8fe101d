//! Staged rollouts: which installs are offered a release that is at N %. The server applies this to Tauri checks
//! and the client applies it to signed freshness documents, so both decide alike.
//!
//! Each install has a bucket in `0..100`: the first 8 bytes (big-endian) of
//! `SHA-256("millennium-rollout-v1" ‖ len ‖ app ‖ len ‖ version ‖ len ‖ install id)` modulo 100, each field prefixed by
//! its length as a 4-byte big-endian integer so no two field splits hash alike. An install is in the rollout when its
//! bucket is below N. Consequences:
//!
//! - the same install always gets the same answer for the same release (no flapping between checks);
//! - raising N only adds installs (`bucket < 10` implies `bucket < 20`), lowering it only removes some;
//! - the version is part of the hash, so the same installs are not always the first to get every release;
//! - the share of installs in the rollout is N % up to sampling noise (the modulo bias of a 64-bit value is ~5·10⁻¹⁸).
//!
//! An install that sends no id has no bucket: it is offered only releases at 100 %.

use sha2::{Digest, Sha256};

/// The bucket (`0..100`) of an install for a release.
pub fn bucket(install_id: &str, app: &str, version: &str) -> u8 {
    let mut hasher = Sha256::new();
    hasher.update(b"millennium-rollout-v1");
    for field in [app, version, install_id] {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        hasher.update(len.to_be_bytes());
        hasher.update(field.as_bytes());
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // `% 100` fits in a u8.
    (u64::from_be_bytes(first) % 100) as u8
}

/// Whether an install (or a client without an id) is offered a release at `percent`.
pub fn is_offered(install_id: Option<&str>, app: &str, version: &str, percent: u8) -> bool {
    if percent >= 100 {
        return true;
    }
    install_id.is_some_and(|id| bucket(id, app, version) < percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl Iterator<Item = String> {
        (0..10_000).map(|i| format!("install-{i:05}-{}", i * 7919))
    }

    #[test]
    fn share_is_within_two_percent_of_n() {
        for percent in [1u8, 5, 10, 25, 50, 75, 90, 99] {
            let offered = ids().filter(|id| is_offered(Some(id), "demo", "1.2.3", percent)).count();
            let share = offered as f64 / 100.0; // percent of 10,000
            assert!((share - f64::from(percent)).abs() <= 2.0, "{percent}%: got {share}%");
        }
    }

    #[test]
    fn raising_n_only_adds_installs() {
        let mut previous = std::collections::HashSet::new();
        for percent in 0..=100u8 {
            let now: std::collections::HashSet<String> =
                ids().filter(|id| is_offered(Some(id), "demo", "2.0.0", percent)).collect();
            assert!(previous.is_subset(&now), "an install left the rollout at {percent}%");
            previous = now;
        }
        assert_eq!(previous.len(), 10_000);
    }

    #[test]
    fn deterministic_and_version_dependent() {
        assert_eq!(bucket("abc", "demo", "1.0.0"), bucket("abc", "demo", "1.0.0"));
        let differ = ids().filter(|id| bucket(id, "demo", "1.0.0") != bucket(id, "demo", "1.0.1")).count();
        assert!(differ > 9_000);
        // Field boundaries matter.
        assert_ne!(bucket("b", "a", "1"), bucket("", "a", "1b"));
    }

    #[test]
    fn without_id_only_full_rollouts() {
        assert!(is_offered(None, "demo", "1.0.0", 100));
        assert!(!is_offered(None, "demo", "1.0.0", 99));
        assert!(!is_offered(Some("x"), "demo", "1.0.0", 0));
    }
}
