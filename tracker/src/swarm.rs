//! Swarm state: torrents and their peers, sharded by info-hash.
//!
//! A swarm is one set across IPv4 and IPv6: a peer (keyed by peer id) may
//! have an address in each family and is counted once. Only the peer list
//! sent back is filtered to the requester's family. Replies are written
//! while the shard is locked, straight into the worker's send buffer, so an
//! announce allocates nothing unless it adds a peer or a torrent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ahash::AHashMap;
use indexmap::IndexMap;
use magnetar_shared::InfoHash;
use parking_lot::Mutex;

use crate::protocol::{AnnounceRequest, Event, PeerId, Writer};
use crate::sources::{Limit, SourceKey, SourceLimits, SourceLimitsConfig};

type PeerMap = IndexMap<PeerId, Peer, ahash::RandomState>;

#[derive(Clone, Copy, Debug)]
struct Peer {
    v4: Option<(Ipv4Addr, u16)>,
    v6: Option<(Ipv6Addr, u16)>,
    seeder: bool,
    /// Whether the peer was added over IPv6: its source (which holds it
    /// against `max_peers_per_source`) is that address's prefix.
    owner_v6: bool,
    /// Unix second after which the peer is dropped.
    expires: u32,
}

impl Peer {
    /// The source that holds this peer.
    fn owner(&self, v6_prefix: u8) -> SourceKey {
        let ip = match (self.owner_v6, self.v4, self.v6) {
            (true, _, Some((ip, _))) => IpAddr::V6(ip),
            (_, Some((ip, _)), _) => IpAddr::V4(ip),
            (_, _, Some((ip, _))) => IpAddr::V6(ip),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        SourceKey::of(ip, v6_prefix)
    }

    /// Whether `ip` may change this peer: it is the peer's address in that
    /// family, or the peer has none there yet (one client over both
    /// families). Anyone else who learned the peer id (it is sent in every
    /// handshake) cannot move or stop it.
    fn accepts(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(ip) => self.v4.is_none_or(|(a, _)| a == ip),
            IpAddr::V6(ip) => self.v6.is_none_or(|(a, _)| a == ip),
        }
    }
}

#[derive(Default)]
struct Torrent {
    peers: PeerMap,
    seeders: u32,
    completed: u32,
}

impl Torrent {
    fn leechers(&self) -> u32 {
        self.peers.len() as u32 - self.seeders
    }
}

#[derive(Default)]
struct Shard {
    torrents: AHashMap<InfoHash, Torrent>,
    /// Every recorded hash, with the unix second of its last announce.
    seen: AHashMap<InfoHash, u32>,
}

/// Limits applied to the state.
#[derive(Clone, Copy, Debug)]
pub struct SwarmLimits {
    pub max_torrents: usize,
    pub max_peers_per_torrent: usize,
    pub max_peers: usize,
    pub max_hashes: usize,
    pub peer_timeout_secs: u32,
    pub ipv6_source_prefix: u8,
    pub sources: SourceLimitsConfig,
}

/// Counts of one torrent, as in announce and scrape replies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SwarmCounts {
    pub seeders: u32,
    pub leechers: u32,
    pub completed: u32,
}

/// Why an announce was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `max_torrents` reached and the torrent is new.
    TorrentLimit,
    /// `max_peers` reached and the peer is new.
    PeerBudget,
    /// The source is over one of its limits.
    Source(Limit),
}

impl Refusal {
    /// The BEP 15 error message (short: never more bytes than the request).
    pub fn message(self) -> &'static str {
        match self {
            Self::TorrentLimit => "tracker is full",
            Self::PeerBudget => "tracker is full (peers)",
            Self::Source(Limit::AnnounceRate) => "too many announces, slow down",
            Self::Source(Limit::NewTorrents) => "too many new torrents, slow down",
            Self::Source(Limit::SourcePeers) => "too many peers from your network",
        }
    }
}

/// Totals after a cleaning pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwarmTotals {
    pub torrents: usize,
    pub seeders: usize,
    pub leechers: usize,
    pub seen: usize,
    /// Hashes evicted by this pass because `max_hashes` was near.
    pub evicted: usize,
    pub sources: usize,
}

/// All swarms of the tracker.
pub struct Swarms {
    shards: Box<[Mutex<Shard>]>,
    torrents: AtomicUsize,
    peers: AtomicUsize,
    seen: AtomicUsize,
    /// Bumped when the recorded set changes (not on last-seen updates).
    generation: AtomicU64,
    /// Announces whose hash was not recorded because `max_hashes` was reached.
    pub hashes_refused: AtomicU64,
    sources: SourceLimits,
    limits: SwarmLimits,
}

impl Swarms {
    /// Empty state with `shards` locks (rounded up to at least 1).
    pub fn new(limits: SwarmLimits, shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Mutex::default()).collect(),
            torrents: AtomicUsize::new(0),
            peers: AtomicUsize::new(0),
            seen: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            hashes_refused: AtomicU64::new(0),
            sources: SourceLimits::new(limits.sources, shards),
            limits,
        }
    }

    fn shard(&self, hash: &InfoHash) -> &Mutex<Shard> {
        let mut head = [0u8; 8];
        head.copy_from_slice(&hash.0[..8]);
        let index = u64::from_le_bytes(head) as usize % self.shards.len();
        &self.shards[index]
    }

    /// The source an address belongs to.
    pub(crate) fn source_of(&self, ip: IpAddr) -> SourceKey {
        SourceKey::of(ip, self.limits.ipv6_source_prefix)
    }

    /// Takes one announce token of the source; false when over its rate.
    pub(crate) fn admit_announce(&self, source: SourceKey, now_ms: u64) -> bool {
        self.sources.admit_announce(source, now_ms)
    }

    /// Records hashes loaded from a previous dump with their last-seen
    /// times, newest first when they do not all fit; returns how many were
    /// loaded.
    pub fn load_seen(&self, mut hashes: Vec<(InfoHash, u32)>) -> usize {
        let room = self
            .limits
            .max_hashes
            .saturating_sub(self.seen.load(Ordering::Relaxed));
        if hashes.len() > room {
            hashes.sort_unstable_by_key(|(_, last)| std::cmp::Reverse(*last));
            hashes.truncate(room);
        }
        let mut loaded = 0;
        for (h, last) in hashes {
            if self.shard(&h).lock().seen.insert(h, last).is_none() {
                self.seen.fetch_add(1, Ordering::Relaxed);
                loaded += 1;
            }
        }
        self.generation.fetch_add(1, Ordering::Relaxed);
        loaded
    }

    /// Forgets every torrent and recorded hash that `denied` names (the
    /// denylist changed): their peers are released and the hashes leave
    /// the next `infohash.bin`. Returns how many hashes went.
    pub fn forget(&self, denied: impl Fn(&InfoHash) -> bool) -> usize {
        let mut forgotten = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            let mut released = Vec::new();
            shard.torrents.retain(|h, t| {
                let go = denied(h);
                if go {
                    released.extend(t.peers.drain(..).map(|(_, p)| p));
                }
                !go
            });
            for p in &released {
                self.release_peer(p);
            }
            let before = shard.seen.len();
            shard.seen.retain(|h, _| !denied(h));
            let gone = before - shard.seen.len();
            if gone > 0 {
                self.seen.fetch_sub(gone, Ordering::Relaxed);
                self.generation.fetch_add(1, Ordering::Relaxed);
            }
            forgotten += gone;
        }
        forgotten
    }

    /// Records (or refreshes) a hash that was announced.
    fn record(&self, shard: &mut Shard, hash: InfoHash, now: u32) {
        if let Some(last) = shard.seen.get_mut(&hash) {
            *last = now;
        } else if self.seen.load(Ordering::Relaxed) < self.limits.max_hashes {
            shard.seen.insert(hash, now);
            self.seen.fetch_add(1, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Relaxed);
        } else {
            self.hashes_refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reserves room for one more peer of `source`.
    fn admit_peer(&self, source: SourceKey, now_ms: u64) -> Result<(), Refusal> {
        if self.peers.load(Ordering::Relaxed) >= self.limits.max_peers {
            return Err(Refusal::PeerBudget);
        }
        if !self.sources.hold_peer(source, now_ms) {
            return Err(Refusal::Source(Limit::SourcePeers));
        }
        self.peers.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn release_peer(&self, peer: &Peer) {
        self.sources
            .release_peer(peer.owner(self.limits.ipv6_source_prefix));
        self.peers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Applies an announce and writes up to `numwant` peers of the source's
    /// family (never the requester) into `out`, starting at a random offset.
    ///
    /// A `stopped` announce never creates a torrent nor records its hash.
    /// Any other announce records the hash for `infohash.bin` once it has
    /// passed the source's limits: the evidence a swarm exists is a peer at
    /// a verified address (connection ids make spoofing impossible) within
    /// its budget of new torrents per minute; junk announced once ages
    /// behind every hash whose swarm re-announces and is evicted first.
    pub fn announce(
        &self,
        req: &AnnounceRequest,
        source: SocketAddr,
        now_ms: u64,
        numwant: usize,
        random: usize,
        out: &mut Writer<'_>,
    ) -> Result<SwarmCounts, Refusal> {
        let now = (now_ms / 1000) as u32;
        let key = self.source_of(source.ip());
        let stopped = req.event == Event::Stopped;
        let mut guard = self.shard(&req.info_hash).lock();
        let shard = &mut *guard;

        let exists = shard.torrents.contains_key(&req.info_hash);
        if !exists {
            if stopped {
                return Ok(SwarmCounts::default());
            }
            if self.torrents.load(Ordering::Relaxed) >= self.limits.max_torrents {
                return Err(Refusal::TorrentLimit);
            }
            if !self.sources.admit_new_torrent(key, now_ms) {
                return Err(Refusal::Source(Limit::NewTorrents));
            }
        }
        let new_peer = !stopped
            && shard.torrents.get(&req.info_hash).is_none_or(|t| {
                !t.peers.contains_key(&req.peer_id)
                    && t.peers.len() < self.limits.max_peers_per_torrent
            });
        if new_peer {
            self.admit_peer(key, now_ms)?;
        }
        if !exists {
            self.torrents.fetch_add(1, Ordering::Relaxed);
        }
        if !stopped {
            self.record(shard, req.info_hash, now);
        }
        let torrent = shard.torrents.entry(req.info_hash).or_default();

        if stopped {
            let accepted = torrent
                .peers
                .get(&req.peer_id)
                .is_some_and(|p| p.accepts(source.ip()));
            if accepted {
                if let Some(p) = torrent.peers.swap_remove(&req.peer_id) {
                    if p.seeder {
                        torrent.seeders -= 1;
                    }
                    self.release_peer(&p);
                }
            }
        } else {
            let seeder = req.left == 0;
            let expires = now.saturating_add(self.limits.peer_timeout_secs);
            let was_seeder = torrent.peers.get(&req.peer_id).map(|p| p.seeder);
            if new_peer {
                torrent.peers.insert(
                    req.peer_id,
                    Peer {
                        v4: None,
                        v6: None,
                        seeder: false,
                        owner_v6: source.is_ipv6(),
                        expires,
                    },
                );
            }
            let mut applied = false;
            if let Some(peer) = torrent.peers.get_mut(&req.peer_id) {
                if peer.accepts(source.ip()) {
                    applied = true;
                    match source.ip() {
                        IpAddr::V4(ip) => peer.v4 = Some((ip, req.port)),
                        IpAddr::V6(ip) => peer.v6 = Some((ip, req.port)),
                    }
                    peer.expires = expires;
                    if peer.seeder != seeder {
                        peer.seeder = seeder;
                        if seeder {
                            torrent.seeders += 1;
                        } else {
                            torrent.seeders -= 1;
                        }
                    }
                }
            }
            // Count a completion once per peer: some clients (librqbit 9.1)
            // repeat `completed` on every announce while they seed. A peer
            // id sent from another address counts nothing.
            let from_owner = applied || was_seeder.is_none();
            if req.event == Event::Completed && was_seeder != Some(true) && from_owner {
                torrent.completed = torrent.completed.saturating_add(1);
            }
            write_peers(torrent, req, source.is_ipv4(), numwant, random, out);
        }
        Ok(SwarmCounts {
            seeders: torrent.seeders,
            leechers: torrent.leechers(),
            completed: torrent.completed,
        })
    }

    /// Counts of one torrent (zeros when unknown).
    pub fn scrape(&self, hash: &InfoHash) -> SwarmCounts {
        let shard = self.shard(hash).lock();
        shard
            .torrents
            .get(hash)
            .map(|t| SwarmCounts {
                seeders: t.seeders,
                leechers: t.leechers(),
                completed: t.completed,
            })
            .unwrap_or_default()
    }

    /// Every address of every live peer of a torrent (both families).
    pub fn peers_of(&self, hash: &InfoHash) -> Vec<SocketAddr> {
        let shard = self.shard(hash).lock();
        let Some(t) = shard.torrents.get(hash) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(t.peers.len());
        for p in t.peers.values() {
            out.extend(p.v4.map(SocketAddr::from));
            out.extend(p.v6.map(SocketAddr::from));
        }
        out
    }

    /// Drops expired peers, empty torrents, idle sources and (with
    /// `retention_secs > 0`) hashes not announced for that long; when the
    /// recorded set is within 5% of `max_hashes`, evicts the hashes
    /// announced longest ago down to 90%. Returns fresh totals.
    pub fn clean(&self, now: u32, retention_secs: u32) -> SwarmTotals {
        let mut totals = SwarmTotals::default();
        let mut peers = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.torrents.retain(|_, t| {
                t.peers.retain(|_, p| {
                    let keep = p.expires > now;
                    if !keep {
                        self.sources
                            .release_peer(p.owner(self.limits.ipv6_source_prefix));
                    }
                    keep
                });
                t.seeders = t.peers.values().filter(|p| p.seeder).count() as u32;
                totals.seeders += t.seeders as usize;
                totals.leechers += t.leechers() as usize;
                peers += t.peers.len();
                !t.peers.is_empty()
            });
            if retention_secs > 0 {
                let before = shard.seen.len();
                shard
                    .seen
                    .retain(|_, last| now.saturating_sub(*last) < retention_secs);
                if shard.seen.len() != before {
                    self.generation.fetch_add(1, Ordering::Relaxed);
                }
            }
            totals.torrents += shard.torrents.len();
            totals.seen += shard.seen.len();
        }
        self.torrents.store(totals.torrents, Ordering::Relaxed);
        self.peers.store(peers, Ordering::Relaxed);
        self.seen.store(totals.seen, Ordering::Relaxed);
        let max = self.limits.max_hashes;
        if max > 0 && totals.seen >= max - max / 20 {
            totals.evicted = self.evict_oldest(max - max / 10);
            totals.seen -= totals.evicted;
        }
        totals.sources = self.sources.clean(now, 120);
        totals
    }

    /// Evicts the hashes announced longest ago until `keep` remain;
    /// returns how many were evicted.
    fn evict_oldest(&self, keep: usize) -> usize {
        let mut times: Vec<u32> = Vec::with_capacity(self.seen.load(Ordering::Relaxed));
        for shard in self.shards.iter() {
            times.extend(shard.lock().seen.values().copied());
        }
        if times.len() <= keep {
            return 0;
        }
        let excess = times.len() - keep;
        let (_, cutoff, _) = times.select_nth_unstable(excess - 1);
        let cutoff = *cutoff;
        let older = times.iter().filter(|t| **t < cutoff).count();
        drop(times);
        // Everything older than the cutoff goes, then as many of the
        // hashes seen exactly at the cutoff as are still needed.
        let mut at_cutoff = excess - older;
        let mut evicted = 0;
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.seen.retain(|_, last| {
                let go = *last < cutoff || (*last == cutoff && at_cutoff > 0);
                if go {
                    if *last == cutoff {
                        at_cutoff -= 1;
                    }
                    evicted += 1;
                }
                !go
            });
        }
        self.seen.fetch_sub(evicted, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
        evicted
    }

    /// Every recorded hash with its last-seen second, sorted by hash. Each
    /// shard is locked only while its entries are copied.
    pub fn snapshot_seen(&self) -> Vec<(InfoHash, u32)> {
        let mut out = Vec::with_capacity(self.seen.load(Ordering::Relaxed));
        for shard in self.shards.iter() {
            out.extend(shard.lock().seen.iter().map(|(h, t)| (*h, *t)));
        }
        out.sort_unstable_by_key(|(h, _)| *h);
        out
    }

    /// Changes to the recorded set so far (for skipping unchanged dumps).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Hashes recorded for `infohash.bin` now.
    pub fn recorded(&self) -> usize {
        self.seen.load(Ordering::Relaxed)
    }

    /// Peers held now (all torrents).
    #[cfg(test)]
    pub fn peer_count(&self) -> usize {
        self.peers.load(Ordering::Relaxed)
    }
}

fn write_peers(
    torrent: &Torrent,
    req: &AnnounceRequest,
    v4: bool,
    numwant: usize,
    random: usize,
    out: &mut Writer<'_>,
) {
    let len = torrent.peers.len();
    if len == 0 || numwant == 0 {
        return;
    }
    let start = random % len;
    let mut written = 0;
    for i in 0..len {
        if written >= numwant {
            break;
        }
        let Some((id, peer)) = torrent.peers.get_index((start + i) % len) else {
            break;
        };
        if *id == req.peer_id {
            continue;
        }
        let ok = if v4 {
            peer.v4
                .is_some_and(|(ip, port)| out.put(&ip.octets()) && out.put(&port.to_be_bytes()))
        } else {
            peer.v6
                .is_some_and(|(ip, port)| out.put(&ip.octets()) && out.put(&port.to_be_bytes()))
        };
        if ok {
            written += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SwarmLimits {
        SwarmLimits {
            max_torrents: 2,
            max_peers_per_torrent: 3,
            max_peers: 1_000,
            max_hashes: 1_000,
            peer_timeout_secs: 100,
            ipv6_source_prefix: 64,
            sources: SourceLimitsConfig {
                announce_rate: 0,
                announce_burst: 1,
                new_torrents_per_minute: 1_000,
                max_peers: 1_000,
                max_sources: 1_000,
            },
        }
    }

    fn req(peer: u8, left: u64, event: Event) -> AnnounceRequest {
        AnnounceRequest {
            connection_id: 0,
            transaction_id: 0,
            info_hash: InfoHash([1; 20]),
            peer_id: PeerId([peer; 20]),
            downloaded: 0,
            left,
            uploaded: 0,
            event,
            key: 0,
            num_want: -1,
            port: 6881,
        }
    }

    fn try_announce(
        s: &Swarms,
        r: &AnnounceRequest,
        src: &str,
        now: u32,
    ) -> Result<(SwarmCounts, usize), Refusal> {
        let mut buf = [0u8; 1500];
        let mut w = Writer::new(&mut buf);
        let c = s.announce(
            r,
            src.parse().unwrap(),
            u64::from(now) * 1000,
            50,
            0,
            &mut w,
        )?;
        Ok((c, w.len()))
    }

    fn announce(s: &Swarms, r: &AnnounceRequest, src: &str, now: u32) -> (SwarmCounts, usize) {
        try_announce(s, r, src, now).unwrap()
    }

    fn hashes(s: &Swarms) -> Vec<InfoHash> {
        s.snapshot_seen().into_iter().map(|(h, _)| h).collect()
    }

    #[test]
    fn one_swarm_across_families_with_per_family_peer_lists() {
        let s = Swarms::new(limits(), 4);
        announce(&s, &req(1, 0, Event::Started), "10.0.0.1:1", 0);
        announce(&s, &req(2, 5, Event::Started), "[2001:db8::2]:2", 0);
        let (c, bytes) = announce(&s, &req(3, 5, Event::Started), "10.0.0.3:3", 0);
        assert_eq!((c.seeders, c.leechers), (1, 2));
        assert_eq!(
            bytes, 6,
            "only the other IPv4 peer, not itself, not the IPv6 one"
        );
        let (_, bytes) = announce(&s, &req(4, 5, Event::None), "[2001:db8::4]:4", 0);
        assert_eq!(bytes, 18);
        assert_eq!(s.peers_of(&InfoHash([1; 20])).len(), 3, "peer limit 3");
        // One client over both families stays one peer.
        let (c, _) = announce(&s, &req(1, 0, Event::None), "[2001:db8::1]:1", 1);
        assert_eq!((c.seeders, c.leechers), (1, 2));
        assert_eq!(s.peers_of(&InfoHash([1; 20])).len(), 4, "two addresses");
    }

    #[test]
    fn stopped_completed_and_expiry() {
        let s = Swarms::new(limits(), 1);
        announce(&s, &req(1, 5, Event::Started), "10.0.0.1:1", 0);
        let (c, _) = announce(&s, &req(1, 0, Event::Completed), "10.0.0.1:1", 1);
        assert_eq!(
            c,
            SwarmCounts {
                seeders: 1,
                leechers: 0,
                completed: 1
            }
        );
        let (c, _) = announce(&s, &req(1, 0, Event::Stopped), "10.0.0.1:1", 2);
        assert_eq!(
            c,
            SwarmCounts {
                seeders: 0,
                leechers: 0,
                completed: 1
            }
        );
        announce(&s, &req(2, 5, Event::Started), "10.0.0.2:1", 3);
        assert_eq!(s.clean(50, 0).leechers, 1);
        let totals = s.clean(200, 0);
        assert_eq!(
            (totals.torrents, totals.seen),
            (0, 1),
            "hash stays in the dump set"
        );
        assert_eq!(hashes(&s), vec![InfoHash([1; 20])]);
        assert_eq!(s.clean(200, 10).seen, 0, "retention drops old hashes");
    }

    #[test]
    fn repeated_completed_events_from_a_seeder_count_once() {
        let s = Swarms::new(limits(), 1);
        announce(&s, &req(1, 5, Event::Started), "10.0.0.1:1", 0);
        for now in 1..4 {
            let (c, _) = announce(&s, &req(1, 0, Event::Completed), "10.0.0.1:1", now);
            assert_eq!(c.completed, 1);
        }
        let (c, _) = announce(&s, &req(2, 0, Event::Completed), "10.0.0.2:1", 5);
        assert_eq!(
            c.completed, 2,
            "an unknown peer reporting completion counts"
        );
    }

    #[test]
    fn torrent_limit_refuses_new_torrents() {
        let s = Swarms::new(limits(), 2);
        for n in 0..2u8 {
            let mut r = req(1, 0, Event::None);
            r.info_hash = InfoHash([n; 20]);
            assert!(try_announce(&s, &r, "10.0.0.1:1", 0).is_ok());
        }
        let mut r = req(1, 0, Event::None);
        r.info_hash = InfoHash([9; 20]);
        assert_eq!(
            try_announce(&s, &r, "10.0.0.1:1", 0),
            Err(Refusal::TorrentLimit)
        );
    }

    #[test]
    fn stopped_announces_never_record_a_hash() {
        let s = Swarms::new(limits(), 2);
        for n in 0..50u8 {
            let mut r = req(n, 0, Event::Stopped);
            r.info_hash = InfoHash([n; 20]);
            let (c, _) = announce(&s, &r, "10.0.0.1:1", 0);
            assert_eq!(c, SwarmCounts::default());
        }
        assert!(hashes(&s).is_empty());
        assert_eq!(s.clean(1, 0).torrents, 0);
    }

    #[test]
    fn another_address_cannot_move_stop_or_complete_a_peer() {
        let s = Swarms::new(limits(), 1);
        announce(&s, &req(1, 5, Event::Started), "10.0.0.1:1", 0);
        // Someone who learned the peer id, from another IPv4 address.
        announce(&s, &req(1, 5, Event::Stopped), "10.9.9.9:1", 1);
        let (c, _) = announce(&s, &req(1, 0, Event::Completed), "10.9.9.9:1", 1);
        assert_eq!((c.leechers, c.seeders, c.completed), (1, 0, 0), "unchanged");
        assert_eq!(
            s.peers_of(&InfoHash([1; 20])),
            vec!["10.0.0.1:6881".parse::<SocketAddr>().unwrap()],
            "not moved"
        );
        let (c, _) = announce(&s, &req(1, 5, Event::Stopped), "10.0.0.1:1", 2);
        assert_eq!(c.leechers, 0, "the peer itself can stop");
    }

    #[test]
    fn peer_budgets_hold_globally_and_per_source() {
        let mut l = limits();
        l.max_torrents = 1_000;
        l.max_peers_per_torrent = 1_000;
        l.max_peers = 10;
        l.sources.max_peers = 4;
        let s = Swarms::new(l, 4);
        let mut refused = 0;
        for n in 0..20u8 {
            let r = req(n, 5, Event::Started);
            if try_announce(&s, &r, "10.0.0.1:1", 0) == Err(Refusal::Source(Limit::SourcePeers)) {
                refused += 1;
            }
        }
        assert_eq!(refused, 16, "one source holds at most 4 peers");
        // A /64 is one source, whatever address inside it is used.
        for n in 0..10u8 {
            let r = req(100 + n, 5, Event::Started);
            let _ = try_announce(&s, &r, &format!("[2001:db8::{n}]:1"), 0);
        }
        assert_eq!(s.peer_count(), 8);
        for n in 0..10u8 {
            let r = req(200 + n, 5, Event::Started);
            let _ = try_announce(&s, &r, &format!("10.1.0.{n}:1"), 0);
        }
        assert_eq!(s.peer_count(), 10, "global budget");
        assert_eq!(
            try_announce(&s, &req(250, 5, Event::Started), "10.2.0.1:1", 0),
            Err(Refusal::PeerBudget)
        );
        // Expiry gives the budgets back.
        s.clean(1_000, 0);
        assert_eq!(s.peer_count(), 0);
        assert!(try_announce(&s, &req(251, 5, Event::Started), "10.0.0.1:1", 1_000).is_ok());
    }

    #[test]
    fn new_torrents_per_source_are_budgeted() {
        let mut l = limits();
        l.max_torrents = 1_000;
        l.sources.new_torrents_per_minute = 3;
        let s = Swarms::new(l, 4);
        let outcomes: Vec<bool> = (0..5u8)
            .map(|n| {
                let mut r = req(n, 5, Event::Started);
                r.info_hash = InfoHash([n; 20]);
                try_announce(&s, &r, "10.0.0.1:1", 0).is_ok()
            })
            .collect();
        assert_eq!(outcomes, vec![true, true, true, false, false]);
        assert_eq!(hashes(&s).len(), 3, "refused announces record nothing");
        let mut r = req(9, 5, Event::Started);
        r.info_hash = InfoHash([9; 20]);
        assert!(
            try_announce(&s, &r, "10.0.0.2:1", 0).is_ok(),
            "another source"
        );
    }

    #[test]
    fn the_oldest_hashes_are_evicted_near_the_cap() {
        let mut l = limits();
        l.max_torrents = 1_000;
        l.max_hashes = 100;
        let s = Swarms::new(l, 4);
        // 100 hashes seen at seconds 0..100; hash n is refreshed at 500 for even n.
        let loaded: Vec<(InfoHash, u32)> = (0..100u8)
            .map(|n| (InfoHash([n; 20]), u32::from(n)))
            .collect();
        assert_eq!(s.load_seen(loaded), 100);
        let mut extra = req(1, 5, Event::Started);
        extra.info_hash = InfoHash([200; 20]);
        announce(&s, &extra, "10.0.0.1:1", 600);
        assert_eq!(
            s.hashes_refused.load(Ordering::Relaxed),
            1,
            "full: not recorded"
        );
        let totals = s.clean(601, 0);
        assert_eq!(totals.evicted, 10);
        assert_eq!(totals.seen, 90);
        let kept = hashes(&s);
        assert!(
            (0..10u8).all(|n| !kept.contains(&InfoHash([n; 20]))),
            "the oldest went"
        );
        assert!((10..100u8).all(|n| kept.contains(&InfoHash([n; 20]))));
        // Ties at the cutoff: exactly down to 90%.
        let s = Swarms::new(l, 4);
        s.load_seen((0..100u8).map(|n| (InfoHash([n; 20]), 7)).collect());
        assert_eq!(s.clean(8, 0).seen, 90);
    }
}
