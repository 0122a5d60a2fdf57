//! Per-source limits: what one host may cost the tracker.
//!
//! Threat model: a host with a valid connection id (so its address is
//! real, not spoofed) announces as fast as it can with fresh peer ids and
//! fresh info-hashes, to grow the tracker's memory or to fill
//! `infohash.bin` with junk. Each source (an IPv4 address, or an IPv6
//! prefix of `ipv6_source_prefix` bits, so rotating addresses inside one
//! subnet does not help) therefore has:
//!
//! - an announce budget (token bucket: `source_announce_rate` per second,
//!   `source_announce_burst` at once);
//! - a budget of new torrents per minute (`source_new_torrents_per_minute`),
//!   which also bounds how fast it can add hashes to `infohash.bin`;
//! - a cap on the peers it holds (`max_peers_per_source`).
//!
//! The table of sources is itself bounded (`max_sources`): past it, new
//! sources share one overflow entry until idle entries are cleaned. A
//! refused announce gets a short BEP 15 error, never bigger than the
//! request (no amplification).

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use ahash::AHashMap;
use parking_lot::Mutex;

/// A source: IPv4 addresses as v4-mapped IPv6, IPv6 masked to the prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SourceKey(u128);

/// The key all sources share once the table is full.
const OVERFLOW: SourceKey = SourceKey(0);

impl SourceKey {
    /// The source of `ip`, grouping IPv6 by its first `v6_prefix` bits.
    pub(crate) fn of(ip: IpAddr, v6_prefix: u8) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(u128::from(v4.to_ipv6_mapped())),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(u128::from(v4.to_ipv6_mapped())),
                None => {
                    let bits = u32::from(v6_prefix.clamp(1, 128));
                    let mask = u128::MAX << (128 - bits);
                    Self(u128::from(v6) & mask)
                }
            },
        }
    }
}

/// Limits, from the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SourceLimitsConfig {
    pub announce_rate: u32,
    pub announce_burst: u32,
    pub new_torrents_per_minute: u32,
    pub max_peers: usize,
    pub max_sources: usize,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Announce tokens left, in thousandths (refilled by time).
    tokens_milli: u64,
    /// Millisecond of the last refill.
    refilled_ms: u64,
    /// Minute the new-torrent count belongs to.
    minute: u32,
    new_torrents: u32,
    peers: u32,
    /// Second of the last announce (idle entries are cleaned).
    last: u32,
}

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    AnnounceRate,
    NewTorrents,
    SourcePeers,
}

/// The per-source table, sharded like the swarms.
pub(crate) struct SourceLimits {
    shards: Box<[Mutex<AHashMap<SourceKey, Entry>>]>,
    entries: AtomicUsize,
    config: SourceLimitsConfig,
}

impl SourceLimits {
    pub(crate) fn new(config: SourceLimitsConfig, shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Mutex::default()).collect(),
            entries: AtomicUsize::new(0),
            config,
        }
    }

    fn shard(&self, key: SourceKey) -> &Mutex<AHashMap<SourceKey, Entry>> {
        let k = key.0 ^ (key.0 >> 64);
        let mixed = (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &self.shards[(mixed >> 32) as usize % self.shards.len()]
    }

    /// Runs `f` on the entry of `key` (created full, or the overflow entry
    /// when the table is full).
    fn with<T>(&self, key: SourceKey, now_ms: u64, f: impl FnOnce(&mut Entry) -> T) -> T {
        let fresh = Entry {
            tokens_milli: u64::from(self.config.announce_burst.max(1)) * 1000,
            refilled_ms: now_ms,
            minute: (now_ms / 60_000) as u32,
            new_torrents: 0,
            peers: 0,
            last: (now_ms / 1000) as u32,
        };
        {
            let mut shard = self.shard(key).lock();
            if let Some(e) = shard.get_mut(&key) {
                return f(e);
            }
            if self.entries.load(Ordering::Relaxed) < self.config.max_sources {
                self.entries.fetch_add(1, Ordering::Relaxed);
                return f(shard.entry(key).or_insert(fresh));
            }
        }
        let mut shard = self.shard(OVERFLOW).lock();
        f(shard.entry(OVERFLOW).or_insert(fresh))
    }

    /// Takes one announce token; false when the source is over its rate.
    pub(crate) fn admit_announce(&self, key: SourceKey, now_ms: u64) -> bool {
        let rate = u64::from(self.config.announce_rate);
        if rate == 0 {
            return true;
        }
        let burst = u64::from(self.config.announce_burst.max(1)) * 1000;
        self.with(key, now_ms, |e| {
            let elapsed = now_ms.saturating_sub(e.refilled_ms);
            e.tokens_milli = (e.tokens_milli + elapsed * rate).min(burst);
            e.refilled_ms = now_ms;
            e.last = (now_ms / 1000) as u32;
            if e.tokens_milli >= 1000 {
                e.tokens_milli -= 1000;
                true
            } else {
                false
            }
        })
    }

    /// Counts one new torrent against the source's per-minute budget.
    pub(crate) fn admit_new_torrent(&self, key: SourceKey, now_ms: u64) -> bool {
        let minute = (now_ms / 60_000) as u32;
        let budget = self.config.new_torrents_per_minute;
        self.with(key, now_ms, |e| {
            if e.minute != minute {
                e.minute = minute;
                e.new_torrents = 0;
            }
            if e.new_torrents < budget {
                e.new_torrents += 1;
                true
            } else {
                false
            }
        })
    }

    /// Reserves one held peer for the source; false at its cap.
    pub(crate) fn hold_peer(&self, key: SourceKey, now_ms: u64) -> bool {
        let max = self.config.max_peers;
        self.with(key, now_ms, |e| {
            if (e.peers as usize) < max {
                e.peers += 1;
                true
            } else {
                false
            }
        })
    }

    /// Releases a peer held by the source (removed, expired or stopped).
    pub(crate) fn release_peer(&self, key: SourceKey) {
        let release = |e: &mut Entry| e.peers = e.peers.saturating_sub(1);
        let mut shard = self.shard(key).lock();
        match shard.get_mut(&key) {
            Some(e) => release(e),
            None => {
                drop(shard);
                if let Some(e) = self.shard(OVERFLOW).lock().get_mut(&OVERFLOW) {
                    release(e);
                }
            }
        }
    }

    /// Forgets sources that hold no peer and sent nothing for `idle_secs`;
    /// returns how many are tracked afterwards.
    pub(crate) fn clean(&self, now_secs: u32, idle_secs: u32) -> usize {
        let mut total = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.retain(|k, e| {
                *k == OVERFLOW || e.peers > 0 || now_secs.saturating_sub(e.last) < idle_secs
            });
            total += shard.len();
        }
        self.entries.store(total, Ordering::Relaxed);
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, burst: u32, new: u32, peers: usize, sources: usize) -> SourceLimits {
        SourceLimits::new(
            SourceLimitsConfig {
                announce_rate: rate,
                announce_burst: burst,
                new_torrents_per_minute: new,
                max_peers: peers,
                max_sources: sources,
            },
            4,
        )
    }

    #[test]
    fn ipv6_sources_are_grouped_by_prefix_and_v4_mapped_is_v4() {
        let a = SourceKey::of("2001:db8:1:2::1".parse().unwrap(), 64);
        let b = SourceKey::of("2001:db8:1:2:ffff::9".parse().unwrap(), 64);
        let c = SourceKey::of("2001:db8:1:3::1".parse().unwrap(), 64);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            SourceKey::of("::ffff:10.0.0.1".parse().unwrap(), 64),
            SourceKey::of("10.0.0.1".parse().unwrap(), 64)
        );
        assert_ne!(
            SourceKey::of("10.0.0.1".parse().unwrap(), 64),
            SourceKey::of("10.0.0.2".parse().unwrap(), 64)
        );
    }

    #[test]
    fn the_announce_bucket_empties_and_refills_with_time() {
        let l = limits(10, 3, 100, 100, 100);
        let k = SourceKey::of("10.0.0.1".parse().unwrap(), 64);
        assert!((0..3).all(|_| l.admit_announce(k, 1_000)));
        assert!(!l.admit_announce(k, 1_000), "burst used up");
        assert!(!l.admit_announce(k, 1_050), "half a token is not one");
        assert!(l.admit_announce(k, 1_100), "10/s: one token per 100 ms");
        let other = SourceKey::of("10.0.0.2".parse().unwrap(), 64);
        assert!(
            l.admit_announce(other, 1_100),
            "other sources are unaffected"
        );
    }

    #[test]
    fn new_torrents_are_counted_per_minute_and_peers_per_source() {
        let l = limits(0, 1, 2, 2, 100);
        let k = SourceKey::of("10.0.0.1".parse().unwrap(), 64);
        assert!(l.admit_new_torrent(k, 0) && l.admit_new_torrent(k, 1));
        assert!(!l.admit_new_torrent(k, 59_999));
        assert!(l.admit_new_torrent(k, 60_000), "a new minute");
        assert!(l.hold_peer(k, 0) && l.hold_peer(k, 0));
        assert!(!l.hold_peer(k, 0));
        l.release_peer(k);
        assert!(l.hold_peer(k, 0));
    }

    #[test]
    fn a_full_table_shares_one_overflow_entry_until_cleaned() {
        let l = limits(0, 1, 1, 10, 2);
        let key = |n: u8| SourceKey::of(IpAddr::from([10, 0, 0, n]), 64);
        assert!(l.admit_new_torrent(key(1), 0));
        assert!(l.admit_new_torrent(key(2), 0));
        assert_eq!(l.entries.load(Ordering::Relaxed), 2);
        assert!(l.admit_new_torrent(key(3), 0), "overflow entry");
        assert!(
            !l.admit_new_torrent(key(4), 0),
            "shares the overflow budget"
        );
        assert_eq!(
            l.clean(1_000, 60),
            1,
            "idle sources forgotten, overflow kept"
        );
        assert!(l.admit_new_torrent(key(4), 1_000_000));
    }
}
