//! Per-client request limits of the HTTP front: a token bucket per client
//! address (an IPv6 client is its /64, where one host gets a whole
//! prefix), for the requests that run searches (pages, feeds, API).
//! Behind a reverse proxy the client is the last address of
//! `X-Forwarded-For`, believed only from `trusted_proxies`.
//!
//! Memory is bounded: at most [`MAX_CLIENTS`] buckets; when a shard is
//! full, buckets that refilled (idle clients) are dropped first, and a
//! client that still finds no room is served untracked (the catalog's
//! search slots and deadline bound the total work whatever the count of
//! addresses).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use ahash::AHashMap;
use parking_lot::Mutex;

/// Most clients tracked at once.
pub const MAX_CLIENTS: usize = 1 << 18;
const SHARDS: usize = 16;

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f32,
    /// Milliseconds since the limiter started, at the last update.
    at_ms: u64,
}

/// The limiter; `rate <= 0` turns it off.
pub struct ClientLimiter {
    rate: f64,
    burst: f64,
    trusted: Vec<IpAddr>,
    started: Instant,
    shards: Box<[Mutex<AHashMap<u128, Bucket>>]>,
    /// Requests answered 429.
    pub limited: AtomicU64,
}

/// The key of a client: an IPv4 address, or an IPv6 /64.
fn key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => (u128::from(v6) >> 64 << 64) | 1,
    }
}

impl ClientLimiter {
    /// `rate` requests per second with bursts of `burst`, and the proxies
    /// whose `X-Forwarded-For` is believed.
    pub fn new(rate: f64, burst: u32, trusted: &[IpAddr]) -> Self {
        Self {
            rate: if rate.is_finite() { rate } else { 0.0 },
            burst: f64::from(burst.max(1)),
            trusted: trusted.iter().map(|ip| ip.to_canonical()).collect(),
            started: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            limited: AtomicU64::new(0),
        }
    }

    /// Whether requests to `path` count (searches, feeds, the API).
    pub fn limits(&self, path: &str) -> bool {
        self.rate > 0.0
            && ["/search", "/api", "/rss", "/federation"].iter().any(|p| {
                path.strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
            })
    }

    /// The client of a request from `peer`: the last `X-Forwarded-For`
    /// address when `peer` is a trusted proxy, else `peer`.
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusted.contains(&peer) {
            return peer;
        }
        forwarded_for
            .and_then(|v| v.split(',').next_back())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
            .map_or(peer, |ip| ip.to_canonical())
    }

    /// Takes one request from the client's bucket: `Ok`, or the seconds to
    /// wait before the next one is accepted.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = self.started.elapsed().as_millis() as u64;
        let k = key(client);
        let shard = &self.shards[(k as usize ^ (k >> 64) as usize) % SHARDS];
        let mut map = shard.lock();
        let per_shard = MAX_CLIENTS / SHARDS;
        if map.len() >= per_shard && !map.contains_key(&k) {
            let full_after_ms = (self.burst / self.rate * 1000.0) as u64;
            map.retain(|_, b| now.saturating_sub(b.at_ms) < full_after_ms);
            if map.len() >= per_shard {
                return Ok(());
            }
        }
        let b = map.entry(k).or_insert(Bucket {
            tokens: self.burst as f32,
            at_ms: now,
        });
        let refill = now.saturating_sub(b.at_ms) as f64 / 1000.0 * self.rate;
        let tokens = (f64::from(b.tokens) + refill).min(self.burst);
        b.at_ms = now;
        if tokens >= 1.0 {
            b.tokens = (tokens - 1.0) as f32;
            return Ok(());
        }
        b.tokens = tokens as f32;
        self.limited.fetch_add(1, Relaxed);
        Err(((1.0 - tokens) / self.rate).ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_not_affected() {
        let l = ClientLimiter::new(1.0, 3, &[]);
        let a: IpAddr = "2001:db8:1:2::10".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::10".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        assert_eq!(l.check(a), Err(1));
        assert!(l.check(same_64).is_err(), "one /64 is one client");
        assert!(l.check(other_64).is_ok());
        assert!(l.check("192.0.2.1".parse().unwrap()).is_ok());
        assert_eq!(l.limited.load(Relaxed), 2);
        assert!(ClientLimiter::new(0.0, 1, &[]).check(a).is_ok());
    }

    #[test]
    fn only_searches_feeds_and_the_api_count() {
        let l = ClientLimiter::new(1.0, 1, &[]);
        for p in [
            "/search?q=x",
            "/api/v1/search",
            "/api?t=caps",
            "/rss",
            "/rss?q=a",
        ] {
            assert!(l.limits(p), "{p}");
        }
        for p in [
            "/",
            "/static/style.css",
            "/0123",
            "/searchlight",
            "/healthz",
        ] {
            assert!(!l.limits(p), "{p}");
        }
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let l = ClientLimiter::new(1.0, 1, &[proxy]);
        let xff = Some("198.51.100.7, 203.0.113.9");
        assert_eq!(
            l.client(proxy, xff),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(l.client(proxy, Some("junk")), proxy);
        let stranger: IpAddr = "192.0.2.5".parse().unwrap();
        assert_eq!(l.client(stranger, xff), stranger);
    }

    #[test]
    fn the_table_is_bounded() {
        let l = ClientLimiter::new(0.001, 1, &[]);
        for i in 0..(MAX_CLIENTS as u32 + 5_000) {
            let _ = l.check(IpAddr::from(i.to_be_bytes()));
        }
        let tracked: usize = l.shards.iter().map(|s| s.lock().len()).sum();
        assert!(tracked <= MAX_CLIENTS, "{tracked}");
    }
}
