//! `[federation]`: other magnetar instances this one aggregates, and what it
//! publishes for them.

use serde::{Deserialize, Serialize};

/// `[federation]`: other magnetar instances as sources of hashes and of
/// metadata (every `.torrent` taken from a peer is checked against its
/// info-hash: peers are never trusted, only verified), and the export that
/// lets others aggregate this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederationConfig {
    /// Base URLs of other instances' catalogs, e.g. `http://[200:1234::1]:8000`.
    /// Their `infohash.bin` and the hashes they have metadata for are
    /// synced every `sync_interval`; a hash the swarm does not answer for
    /// within `swarm_timeout` is fetched from a peer that has it.
    pub peers: Vec<String>,
    /// Publish `/infohash.bin` and `/federation/v1/torrents` (the catalog).
    pub export: bool,
    /// Seconds between two syncs of one peer.
    pub sync_interval: u64,
    /// Seconds between full re-reads of a peer's list (from the start, to
    /// pick up torrents that arrived there with an old date).
    pub full_sync_interval: u64,
    /// Seconds one request to a peer may take, from connecting to its last byte.
    pub request_timeout: u64,
    /// Hashes asked for per page of a peer's list (the export serves at most 10 000).
    pub page_size: usize,
    /// Most hashes kept from one peer (its list and its `infohash.bin`
    /// each); the rest of a larger peer is left out, with a warning.
    pub max_hashes_per_peer: usize,
    /// Largest `.torrent` taken from a peer, bytes (the metadata cap).
    pub max_torrent_bytes: u64,
    /// `.torrent` downloads from peers at once, all peers together (so
    /// their memory is at most this × `max_torrent_bytes`).
    pub max_concurrent_fetches: usize,
    /// For a hash some peer has metadata for: seconds the swarm is tried
    /// before the peer is asked (the crawler's `timeout` applies to the
    /// others). Small, so aggregating a large peer takes hours, not weeks.
    pub swarm_timeout: u64,
    /// Seconds a peer that failed (timeout, error, bad answer) is left
    /// alone before it is asked again.
    pub peer_backoff: u64,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            peers: Vec::new(),
            export: true,
            sync_interval: 300,
            full_sync_interval: 24 * 3600,
            request_timeout: 30,
            page_size: 5000,
            max_hashes_per_peer: 2_000_000,
            max_torrent_bytes: 16 * 1024 * 1024,
            max_concurrent_fetches: 4,
            swarm_timeout: 5,
            peer_backoff: 60,
        }
    }
}
