//! Stateless BEP 15 connection ids.
//!
//! Threat model: a UDP source address can be spoofed. The connect handshake
//! proves a client can receive at its address before the tracker sends it
//! anything larger than what it sent (announce replies with peer lists, scrape
//! replies). The id is a keyed hash (SipHash-1-3 with a random key generated at
//! start, never sent) of the source IP, port and a coarse time bucket, so the
//! tracker stores nothing per client, ids cannot be forged without the key,
//! and they expire after one to two buckets (about two minutes).

use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of one validity bucket in seconds; an id is accepted in its bucket
/// and the next one, so for 60–120 s.
pub const BUCKET_SECS: u64 = 60;

/// Makes and checks connection ids. Cheap to clone; clones share the key.
#[derive(Clone)]
pub struct ConnectionValidator {
    key: std::collections::hash_map::RandomState,
}

impl Default for ConnectionValidator {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectionValidator {
    /// A validator with a fresh random key.
    pub fn new() -> Self {
        Self {
            key: std::collections::hash_map::RandomState::new(),
        }
    }

    fn bucket_now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() / BUCKET_SECS)
            .unwrap_or(0)
    }

    fn hash(&self, source: SocketAddr, bucket: u64) -> u64 {
        let mut h = self.key.build_hasher();
        match source.ip().to_canonical() {
            IpAddr::V4(ip) => h.write(&ip.octets()),
            IpAddr::V6(ip) => h.write(&ip.octets()),
        }
        h.write_u16(source.port());
        h.write_u64(bucket);
        h.finish()
    }

    /// A new id for `source`.
    pub fn create(&self, source: SocketAddr) -> u64 {
        self.hash(source, Self::bucket_now())
    }

    /// Whether `id` was made for `source` in this or the previous bucket.
    pub fn is_valid(&self, source: SocketAddr, id: u64) -> bool {
        let now = Self::bucket_now();
        self.is_valid_at(source, id, now)
    }

    fn is_valid_at(&self, source: SocketAddr, id: u64, bucket: u64) -> bool {
        id == self.hash(source, bucket) || id == self.hash(source, bucket.wrapping_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bound_to_source_key_and_time() {
        let v = ConnectionValidator::new();
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        let id = v.create(a);
        assert!(v.is_valid(a, id));
        assert!(!v.is_valid(b, id));
        assert!(!ConnectionValidator::new().is_valid(a, id), "other key");
        let now = ConnectionValidator::bucket_now();
        assert!(
            v.is_valid_at(a, id, now + 1),
            "still valid in the next bucket"
        );
        assert!(!v.is_valid_at(a, id, now + 2), "expired after two buckets");
    }

    #[test]
    fn v4_mapped_sources_match_v4() {
        let v = ConnectionValidator::new();
        let v4: SocketAddr = "10.0.0.1:5".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:5".parse().unwrap();
        assert!(v.is_valid(mapped, v.create(v4)));
    }
}
