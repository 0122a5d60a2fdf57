//! Swarm state: torrents and their peers, sharded by info-hash.
//!
//! A swarm is one set across IPv4 and IPv6: a peer (keyed by peer id) may
//! have an address in each family and is counted once. Only the peer list
//! sent back is filtered to the requester's family. Replies are written
//! while the shard is locked, straight into the worker's send buffer, so an
//! announce allocates nothing unless it adds a peer or a torrent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use ahash::AHashMap;
use indexmap::IndexMap;
use magnetar_shared::InfoHash;
use parking_lot::Mutex;

use crate::protocol::{AnnounceRequest, Event, PeerId, Writer};

type PeerMap = IndexMap<PeerId, Peer, ahash::RandomState>;

#[derive(Clone, Copy, Debug)]
struct Peer {
    v4: Option<(Ipv4Addr, u16)>,
    v6: Option<(Ipv6Addr, u16)>,
    seeder: bool,
    /// Clock second after which the peer is dropped.
    expires: u32,
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

    fn remove(&mut self, id: &PeerId) {
        if let Some(p) = self.peers.swap_remove(id) {
            if p.seeder {
                self.seeders -= 1;
            }
        }
    }
}

#[derive(Default)]
struct Shard {
    torrents: AHashMap<InfoHash, Torrent>,
    /// Every hash announced, with the clock second of its last announce.
    seen: AHashMap<InfoHash, u32>,
}

/// Limits applied to the state.
#[derive(Clone, Copy, Debug)]
pub struct SwarmLimits {
    pub max_torrents: usize,
    pub max_peers_per_torrent: usize,
    pub peer_timeout_secs: u32,
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
}

/// Totals after a cleaning pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwarmTotals {
    pub torrents: usize,
    pub seeders: usize,
    pub leechers: usize,
    pub seen: usize,
}

/// All swarms of the tracker.
pub struct Swarms {
    shards: Box<[Mutex<Shard>]>,
    torrents: AtomicUsize,
    seen: AtomicUsize,
    limits: SwarmLimits,
}

impl Swarms {
    /// Empty state with `shards` locks (rounded up to at least 1).
    pub fn new(limits: SwarmLimits, shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Mutex::default()).collect(),
            torrents: AtomicUsize::new(0),
            seen: AtomicUsize::new(0),
            limits,
        }
    }

    fn shard(&self, hash: &InfoHash) -> &Mutex<Shard> {
        let mut head = [0u8; 8];
        head.copy_from_slice(&hash.0[..8]);
        let index = u64::from_le_bytes(head) as usize % self.shards.len();
        &self.shards[index]
    }

    /// Records hashes loaded from a previous dump as seen now.
    pub fn load_seen(&self, hashes: impl IntoIterator<Item = InfoHash>, now: u32) {
        for h in hashes {
            if self.seen.load(Ordering::Relaxed) >= self.limits.max_torrents {
                break;
            }
            if self.shard(&h).lock().seen.insert(h, now).is_none() {
                self.seen.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Applies an announce and writes up to `numwant` peers of the source's
    /// family (never the requester) into `out`, starting at a random offset.
    pub fn announce(
        &self,
        req: &AnnounceRequest,
        source: SocketAddr,
        now: u32,
        numwant: usize,
        random: usize,
        out: &mut Writer<'_>,
    ) -> Result<SwarmCounts, Refusal> {
        let mut shard = self.shard(&req.info_hash).lock();
        let shard = &mut *shard;
        if let Some(last) = shard.seen.get_mut(&req.info_hash) {
            *last = now;
        } else if self.seen.load(Ordering::Relaxed) < self.limits.max_torrents {
            shard.seen.insert(req.info_hash, now);
            self.seen.fetch_add(1, Ordering::Relaxed);
        }

        let torrent = match shard.torrents.get_mut(&req.info_hash) {
            Some(t) => t,
            None if req.event == Event::Stopped => return Ok(SwarmCounts::default()),
            None => {
                if self.torrents.load(Ordering::Relaxed) >= self.limits.max_torrents {
                    return Err(Refusal::TorrentLimit);
                }
                self.torrents.fetch_add(1, Ordering::Relaxed);
                shard.torrents.entry(req.info_hash).or_default()
            }
        };

        if req.event == Event::Stopped {
            torrent.remove(&req.peer_id);
        } else {
            let seeder = req.left == 0;
            let expires = now.saturating_add(self.limits.peer_timeout_secs);
            let was_seeder = torrent.peers.get(&req.peer_id).map(|p| p.seeder);
            let known = was_seeder.is_some();
            if known || torrent.peers.len() < self.limits.max_peers_per_torrent {
                let peer = torrent.peers.entry(req.peer_id).or_insert(Peer {
                    v4: None,
                    v6: None,
                    seeder: false,
                    expires,
                });
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
            // Count a completion once per peer: some clients (librqbit 9.1)
            // repeat `completed` on every announce while they seed.
            if req.event == Event::Completed && was_seeder != Some(true) {
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

    /// Drops expired peers, empty torrents, and (with `retention_secs > 0`)
    /// hashes not announced for that long; returns fresh totals.
    pub fn clean(&self, now: u32, retention_secs: u32) -> SwarmTotals {
        let mut totals = SwarmTotals::default();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.torrents.retain(|_, t| {
                t.peers.retain(|_, p| p.expires > now);
                t.seeders = t.peers.values().filter(|p| p.seeder).count() as u32;
                totals.seeders += t.seeders as usize;
                totals.leechers += t.leechers() as usize;
                !t.peers.is_empty()
            });
            if retention_secs > 0 {
                shard
                    .seen
                    .retain(|_, last| now.saturating_sub(*last) < retention_secs);
            }
            totals.torrents += shard.torrents.len();
            totals.seen += shard.seen.len();
        }
        self.torrents.store(totals.torrents, Ordering::Relaxed);
        self.seen.store(totals.seen, Ordering::Relaxed);
        totals
    }

    /// Every hash to dump, sorted and unique. Each shard is locked only
    /// while its keys are copied.
    pub fn snapshot_seen(&self) -> Vec<InfoHash> {
        let mut out = Vec::with_capacity(self.seen.load(Ordering::Relaxed));
        for shard in self.shards.iter() {
            out.extend(shard.lock().seen.keys().copied());
        }
        out.sort_unstable();
        out
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
            peer_timeout_secs: 100,
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

    fn announce(s: &Swarms, r: &AnnounceRequest, src: &str, now: u32) -> (SwarmCounts, usize) {
        let mut buf = [0u8; 1500];
        let mut w = Writer::new(&mut buf);
        let c = s
            .announce(r, src.parse().unwrap(), now, 50, 0, &mut w)
            .unwrap();
        (c, w.len())
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
        assert_eq!(s.snapshot_seen(), vec![InfoHash([1; 20])]);
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
        let mut buf = [0u8; 100];
        for n in 0..2u8 {
            let mut r = req(1, 0, Event::None);
            r.info_hash = InfoHash([n; 20]);
            let mut w = Writer::new(&mut buf);
            assert!(s
                .announce(&r, "10.0.0.1:1".parse().unwrap(), 0, 5, 0, &mut w)
                .is_ok());
        }
        let mut r = req(1, 0, Event::None);
        r.info_hash = InfoHash([9; 20]);
        let mut w = Writer::new(&mut buf);
        assert_eq!(
            s.announce(&r, "10.0.0.1:1".parse().unwrap(), 0, 5, 0, &mut w),
            Err(Refusal::TorrentLimit)
        );
    }
}
