//! Bounded keyed token buckets: the rate limits of the unauthenticated event endpoint (per client IP address and
//! per install id).
//!
//! `governor`'s keyed limiter was considered; its map has no size bound between `retain_recent` calls, and here the
//! keys are the clients' to choose (install ids, IPv6 addresses), so a flood of fresh keys would grow it at will.
//! This one keeps at most [`KeyedLimiter::capacity`] keys: the key is hashed with a per-process random SipHash key
//! (so nobody can aim collisions at someone else's bucket), and a full shard first drops its idle keys (a full bucket
//! is the same as no entry) and, if every key is busy, starts over. Starting over can only let a flood's keys through
//! sooner, never refuse anyone more; the per-IP limit in front bounds how fast one client can make new keys at all.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// A rate: `burst` tokens at most, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// The bucket's size: how much may be spent at once.
    pub burst: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

impl Rate {
    /// `burst` at once, then `per_minute` per minute.
    pub fn per_minute(burst: u32, per_minute: u32) -> Self {
        Self { burst: f64::from(burst.max(1)), per_second: f64::from(per_minute) / 60.0 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets by key, at most `capacity` keys.
#[derive(Debug)]
pub struct KeyedLimiter {
    rate: Rate,
    capacity: usize,
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<HashMap<u64, Bucket>>>,
}

impl KeyedLimiter {
    /// A limiter of `rate` per key, keeping at most `capacity` keys.
    pub fn new(rate: Rate, capacity: usize) -> Self {
        Self {
            rate,
            capacity: capacity.max(SHARDS),
            hasher: std::collections::hash_map::RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Most keys kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes `cost` tokens from `key`'s bucket; when it has fewer, takes none and says how long until it will have
    /// them (a cost over the burst never fits: then the time to a full bucket).
    pub fn check(&self, key: impl Hash, cost: f64, now: Instant) -> Result<(), Duration> {
        let hash = self.hasher.hash_one(key);
        let shard = &self.shards[(hash as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let per_shard = self.capacity / SHARDS;
        if map.len() >= per_shard && !map.contains_key(&hash) {
            let rate = self.rate;
            map.retain(|_, b| refilled(rate, *b, now) < rate.burst);
            if map.len() >= per_shard {
                map.clear();
            }
        }
        let bucket = map.entry(hash).or_insert(Bucket { tokens: self.rate.burst, updated: now });
        let tokens = refilled(self.rate, *bucket, now);
        if tokens >= cost {
            *bucket = Bucket { tokens: tokens - cost, updated: now };
            return Ok(());
        }
        *bucket = Bucket { tokens, updated: now };
        let missing = cost.min(self.rate.burst) - tokens;
        let wait = if self.rate.per_second > 0.0 { missing / self.rate.per_second } else { 3600.0 };
        Err(Duration::from_secs_f64(wait.clamp(0.001, 86_400.0)))
    }
}

fn refilled(rate: Rate, bucket: Bucket, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    (bucket.tokens + elapsed * rate.per_second).min(rate.burst)
}

/// The key of a client address for rate limiting: the address itself for IPv4, its /64 network for IPv6 (one
/// subscriber usually holds a whole /64, so per-address limits would not limit them).
pub fn ip_key(ip: IpAddr) -> [u8; 9] {
    let mut key = [0u8; 9];
    match ip.to_canonical() {
        IpAddr::V4(v4) => key[1..5].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => {
            key[0] = 6;
            key[1..].copy_from_slice(&v6.octets()[..8]);
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = KeyedLimiter::new(Rate { burst: 3.0, per_second: 1.0 }, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.check("a", 1.0, t0).unwrap();
        }
        let wait = limiter.check("a", 1.0, t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::from_millis(900), "{wait:?}");
        // Other keys are untouched.
        limiter.check("b", 1.0, t0).unwrap();
        limiter.check("a", 1.0, t0 + Duration::from_millis(1001)).unwrap();
        assert!(limiter.check("a", 1.0, t0 + Duration::from_millis(1002)).is_err());
        // Refilling stops at the burst.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            limiter.check("a", 1.0, later).unwrap();
        }
        assert!(limiter.check("a", 1.0, later).is_err());
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let limiter = KeyedLimiter::new(Rate { burst: 2.0, per_second: 0.001 }, 1024);
        let now = Instant::now();
        for i in 0..100_000u32 {
            let _ = limiter.check(i, 1.0, now);
            assert!(limiter.len() <= 1024);
        }
        // Idle keys are dropped first: a busy key survives a flood of keys that are all idle again.
        let limiter = KeyedLimiter::new(Rate { burst: 1.0, per_second: 1000.0 }, 64);
        limiter.check("busy", 1.0, now).unwrap();
        for i in 0..10_000u32 {
            let _ = limiter.check(i, 1.0, now + Duration::from_secs(1));
        }
        assert!(limiter.len() <= 64);
    }

    #[test]
    fn ipv6_networks_share_a_key() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(ip_key(v4), ip_key(mapped));
    }
}
