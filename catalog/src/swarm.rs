//! Swarm stats (seeders/leechers/completed) from BEP 15 scrapes, cached.
//!
//! Pages never wait long: a page asks [`SwarmCache::get`] with a short
//! deadline and shows "unknown" if the tracker is slow; the scrape goes on
//! and fills the cache for the next view. A background task refreshes every
//! indexed torrent each TTL and asks the indexer to rewrite documents whose
//! counts changed, so sorting by seeders works.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_shared::InfoHash;
use magnetar_tracker::client::{parse_udp_url, TrackerClient};
use magnetar_tracker::protocol::MAX_SCRAPE_HASHES;
use magnetar_tracker::SwarmCounts;
use parking_lot::Mutex;

/// Counters for `/metrics`.
#[derive(Default)]
pub struct SwarmMetrics {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
}

/// Torrents indexed for the first time, waiting for their first scrape.
#[derive(Default)]
struct Fresh {
    hashes: Mutex<Vec<InfoHash>>,
    notify: tokio::sync::Notify,
}

/// Cached swarm counts per info-hash.
pub struct SwarmCache {
    trackers: Vec<SocketAddr>,
    ttl: Duration,
    /// Longest wait for one scrape reply.
    timeout: Duration,
    entries: Mutex<HashMap<InfoHash, (SwarmCounts, Instant)>>,
    /// Counts last written into the index, to detect changes.
    indexed: Mutex<HashMap<InfoHash, SwarmCounts>>,
    fresh: Fresh,
    pub metrics: SwarmMetrics,
}

impl SwarmCache {
    /// A cache scraping the given `udp://` trackers (unparsable ones are
    /// logged and skipped), waiting `timeout` for each reply.
    pub fn new(tracker_urls: &[String], ttl: Duration, timeout: Duration) -> Self {
        let trackers = tracker_urls
            .iter()
            .filter_map(|u| {
                let addr = parse_udp_url(u);
                if addr.is_none() {
                    tracing::warn!("cannot use scrape tracker {u:?} (need udp://host:port)");
                }
                addr
            })
            .collect();
        Self {
            trackers,
            ttl,
            timeout,
            entries: Mutex::default(),
            indexed: Mutex::default(),
            fresh: Fresh::default(),
            metrics: SwarmMetrics::default(),
        }
    }

    /// The cached counts, fresh or not.
    pub fn cached(&self, hash: &InfoHash) -> Option<SwarmCounts> {
        self.entries.lock().get(hash).map(|(c, _)| *c)
    }

    fn fresh(&self, hash: &InfoHash) -> Option<SwarmCounts> {
        self.entries
            .lock()
            .get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(c, _)| *c)
    }

    /// Scrapes every tracker for `hashes` (batches of 74) and caches the
    /// result; a torrent's counts are the maximum over trackers.
    pub fn scrape_blocking(&self, hashes: &[InfoHash]) -> HashMap<InfoHash, SwarmCounts> {
        let mut out: HashMap<InfoHash, SwarmCounts> = HashMap::new();
        for tracker in &self.trackers {
            let mut client = match TrackerClient::new(*tracker, self.timeout) {
                Ok(c) => c,
                Err(e) => {
                    self.metrics.errors.fetch_add(1, Relaxed);
                    tracing::debug!(%tracker, "scrape socket: {e}");
                    continue;
                }
            };
            // One lost datagram or an expired connection id costs a retry
            // of that batch (with a new id), never the rest of the pass.
            for batch in hashes.chunks(MAX_SCRAPE_HASHES) {
                self.metrics.requests.fetch_add(1, Relaxed);
                match client.scrape_retrying(batch) {
                    Ok(counts) => {
                        for (h, c) in batch.iter().zip(counts) {
                            let e = out.entry(*h).or_default();
                            e.seeders = e.seeders.max(c.seeders);
                            e.leechers = e.leechers.max(c.leechers);
                            e.completed = e.completed.max(c.completed);
                        }
                    }
                    Err(e) => {
                        self.metrics.errors.fetch_add(1, Relaxed);
                        tracing::debug!(%tracker, "scrape failed: {e}");
                    }
                }
            }
        }
        let now = Instant::now();
        let mut entries = self.entries.lock();
        for (h, c) in &out {
            entries.insert(*h, (*c, now));
        }
        out
    }

    /// Counts for a page: fresh cache, or a scrape bounded by `wait`, or
    /// whatever is cached (maybe nothing) when the tracker is slow.
    pub async fn get(self: &Arc<Self>, hash: InfoHash, wait: Duration) -> Option<SwarmCounts> {
        if let Some(c) = self.fresh(&hash) {
            self.metrics.cache_hits.fetch_add(1, Relaxed);
            return Some(c);
        }
        self.metrics.cache_misses.fetch_add(1, Relaxed);
        if self.trackers.is_empty() {
            return None;
        }
        let me = self.clone();
        let task =
            tokio::task::spawn_blocking(move || me.scrape_blocking(&[hash]).get(&hash).copied());
        match tokio::time::timeout(wait, task).await {
            Ok(Ok(Some(c))) => Some(c),
            _ => self.cached(&hash),
        }
    }

    /// Records the counts written into a torrent's document and returns
    /// them. A torrent never scraped yet is queued for a scrape at once, so
    /// lists show its swarm within seconds, not after a whole refresh pass.
    pub fn for_index(&self, hash: &InfoHash) -> Option<SwarmCounts> {
        let Some(c) = self.cached(hash) else {
            if !self.trackers.is_empty() {
                self.fresh.hashes.lock().push(*hash);
                self.fresh.notify.notify_one();
            }
            return None;
        };
        self.indexed.lock().insert(*hash, c);
        Some(c)
    }

    /// Overlays the latest cached counts on torrents read from the index,
    /// whose stored counts may be a refresh behind: every list, feed and
    /// API view shows counts from this one place.
    pub fn overlay(&self, t: &mut crate::index::IndexedTorrent) {
        if let Some(c) = self.cached(&t.info_hash) {
            t.seeders = u64::from(c.seeders);
            t.leechers = u64::from(c.leechers);
            t.completed = u64::from(c.completed);
        }
    }

    /// Scrapes `hashes` and returns those whose counts differ from the index.
    pub fn refresh_blocking(&self, hashes: &[InfoHash]) -> Vec<InfoHash> {
        let scraped = self.scrape_blocking(hashes);
        let indexed = self.indexed.lock();
        scraped
            .into_iter()
            .filter(|(h, c)| indexed.get(h).copied().unwrap_or_default() != *c)
            .map(|(h, _)| h)
            .collect()
    }
}

/// Keeps swarm counts fresh: scrapes torrents indexed for the first time
/// at once, and every indexed torrent each `every` (the hash list is kept
/// in memory, read from the index once); asks the indexer to rewrite the
/// documents whose counts changed, so sorting by seeders follows. Runs
/// until its task is stopped.
pub async fn refresh_forever(
    index: crate::index::CatalogIndex,
    swarm: Arc<SwarmCache>,
    indexer: crate::indexer::Indexer,
    every: Duration,
) -> Result<(), tokio::task::JoinError> {
    let all = index.clone();
    let mut known: std::collections::HashSet<InfoHash> =
        tokio::task::spawn_blocking(move || all.all_hashes().into_iter().collect()).await?;
    let mut next_pass = tokio::time::Instant::now();
    loop {
        let batch: Vec<InfoHash> = tokio::select! {
            _ = tokio::time::sleep_until(next_pass) => {
                next_pass = tokio::time::Instant::now() + every;
                known.iter().copied().collect()
            }
            _ = swarm.fresh.notify.notified() => {
                let new = std::mem::take(&mut *swarm.fresh.hashes.lock());
                known.extend(new.iter().copied());
                new
            }
        };
        if batch.is_empty() {
            continue;
        }
        let cache = swarm.clone();
        let changed = tokio::task::spawn_blocking(move || cache.refresh_blocking(&batch)).await?;
        if !changed.is_empty() {
            tracing::debug!(torrents = changed.len(), "swarm counts changed");
            indexer.reindex(changed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    /// A tracker that loses the first scrape datagram, then treats the id
    /// it handed out first as expired (an error reply), and answers the
    /// rest: seeders = the hash's first byte.
    fn flaky_tracker() -> (SocketAddr, std::thread::JoinHandle<usize>) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let (mut next_id, mut scrapes, mut answered) = (100u64, 0, 0);
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let req = &buf[..n];
                let action = u32::from_be_bytes(req[8..12].try_into().unwrap());
                let tid = &req[12..16];
                let mut reply = Vec::new();
                if action == 0 {
                    reply.extend_from_slice(&0u32.to_be_bytes());
                    reply.extend_from_slice(tid);
                    reply.extend_from_slice(&next_id.to_be_bytes());
                    next_id += 1;
                } else {
                    scrapes += 1;
                    let id = u64::from_be_bytes(req[..8].try_into().unwrap());
                    if scrapes == 1 {
                        continue; // lost
                    }
                    if id == 101 && answered == 1 {
                        reply.extend_from_slice(&3u32.to_be_bytes());
                        reply.extend_from_slice(tid);
                        reply.extend_from_slice(b"connection id expired");
                    } else {
                        reply.extend_from_slice(&2u32.to_be_bytes());
                        reply.extend_from_slice(tid);
                        for h in req[16..].chunks(20) {
                            for v in [u32::from(h[0]), 0, 0] {
                                reply.extend_from_slice(&v.to_be_bytes());
                            }
                        }
                        answered += 1;
                    }
                }
                socket.send_to(&reply, from).unwrap();
                if answered == 3 {
                    return answered;
                }
            }
            answered
        });
        (addr, thread)
    }

    #[test]
    fn a_pass_survives_a_lost_datagram_and_an_expired_connection_id() {
        let (addr, tracker) = flaky_tracker();
        let cache = SwarmCache::new(
            &[format!("udp://{addr}")],
            Duration::from_secs(60),
            Duration::from_millis(300),
        );
        // Three batches (74 + 74 + 2): lost reply in the first, an expired
        // id in the second; every hash must still get its counts.
        let hashes: Vec<InfoHash> = (0..150u32)
            .map(|i| {
                let mut b = [0u8; 20];
                b[0] = (i % 200) as u8 + 1;
                b[1..5].copy_from_slice(&i.to_be_bytes());
                InfoHash(b)
            })
            .collect();
        let counts = cache.scrape_blocking(&hashes);
        assert_eq!(tracker.join().unwrap(), 3, "every batch answered");
        assert_eq!(counts.len(), 150);
        for h in &hashes {
            assert_eq!(counts[h].seeders, u32::from(h.0[0]));
        }
        assert_eq!(cache.metrics.errors.load(Relaxed), 0, "retried, not lost");
    }
}
