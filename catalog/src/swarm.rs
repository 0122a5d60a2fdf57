//! Swarm stats (seeders/leechers/completed) from BEP 15 scrapes, cached.
//!
//! This cache is the one place counts come from: pages, lists, feeds and
//! the JSON API overlay them on what the index returns, and sorting by
//! seeders or leechers reads them at query time ([`CountTable`]), so a
//! scrape changes every view at once and no document is rewritten.
//!
//! Pages never wait long: a page asks [`SwarmCache::get`] with a short
//! deadline and shows "unknown" if the tracker is slow; the scrape goes on
//! and fills the cache for the next view. A viewed torrent whose counts are
//! older than the TTL is shown with them and scraped first. A background
//! task scrapes torrents as they are indexed, and every indexed torrent
//! each TTL.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_shared::InfoHash;
use magnetar_tracker::client::{parse_udp_url, TrackerClient};
use magnetar_tracker::protocol::MAX_SCRAPE_HASHES;
use magnetar_tracker::SwarmCounts;
use parking_lot::{Mutex, RwLock};

use crate::index::hash_key;
use crate::index::topk::CountTable;

/// Longest scrape queue a page view adds to.
const MAX_VIEWS_QUEUED: usize = 4096;

/// Counters for `/metrics`.
#[derive(Default)]
pub struct SwarmMetrics {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub passes: AtomicU64,
    /// Of the last full pass: torrents, wall and CPU microseconds.
    pub last_pass_torrents: AtomicU64,
    pub last_pass_micros: AtomicU64,
    pub last_pass_cpu_micros: AtomicU64,
}

impl SwarmMetrics {
    fn record_pass(&self, r: &PassReport) {
        self.passes.fetch_add(1, Relaxed);
        self.last_pass_torrents.store(r.torrents as u64, Relaxed);
        self.last_pass_micros.store((r.secs * 1e6) as u64, Relaxed);
        self.last_pass_cpu_micros
            .store((r.cpu_secs * 1e6) as u64, Relaxed);
    }
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
    /// Counts and when they were scraped, by [`hash_key`] (24 bytes a
    /// torrent, not 48 as by whole hash).
    entries: RwLock<HashMap<u64, (SwarmCounts, Instant)>>,
    /// Torrents to scrape before the next pass: new ones, and viewed ones
    /// whose counts are stale.
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
            entries: RwLock::default(),
            fresh: Fresh::default(),
            metrics: SwarmMetrics::default(),
        }
    }

    /// The cached counts, fresh or not.
    pub fn cached(&self, hash: &InfoHash) -> Option<SwarmCounts> {
        self.entries.read().get(&hash_key(hash)).map(|(c, _)| *c)
    }

    /// Queues torrents for a scrape before the next pass.
    fn prioritise(&self, hashes: impl IntoIterator<Item = InfoHash>) {
        if self.trackers.is_empty() {
            return;
        }
        self.fresh.hashes.lock().extend(hashes);
        self.fresh.notify.notify_one();
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
        let mut entries = self.entries.write();
        for (h, c) in &out {
            entries.insert(hash_key(h), (*c, now));
        }
        out
    }

    /// Counts for a page: the cache (a stale entry is queued for a scrape
    /// before the next pass and shown meanwhile), or for a torrent never
    /// scraped, a scrape bounded by `wait`.
    pub async fn get(self: &Arc<Self>, hash: InfoHash, wait: Duration) -> Option<SwarmCounts> {
        let entry = self.entries.read().get(&hash_key(&hash)).copied();
        if let Some((c, at)) = entry {
            if at.elapsed() < self.ttl {
                self.metrics.cache_hits.fetch_add(1, Relaxed);
            } else {
                self.metrics.cache_misses.fetch_add(1, Relaxed);
                // Views are requests: while a slow scrape holds the queue,
                // they add at most MAX_VIEWS_QUEUED (torrents being indexed
                // are always queued: that is how the refresher learns them).
                if self.fresh.hashes.lock().len() < MAX_VIEWS_QUEUED {
                    self.prioritise([hash]);
                }
            }
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

    /// A torrent was indexed: one never scraped is scraped at once, so
    /// lists show its swarm within seconds, not after a whole pass.
    pub fn indexed(&self, hash: &InfoHash) {
        if self.cached(hash).is_none() {
            self.prioritise([*hash]);
        }
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
}

impl CountTable for SwarmCache {
    fn fill(&self, keys: &[u64], leechers: bool, out: &mut [u64]) {
        let entries = self.entries.read();
        for (o, k) in out.iter_mut().zip(keys) {
            *o = entries.get(k).map_or(0, |(c, _)| {
                u64::from(if leechers { c.leechers } else { c.seeders })
            });
        }
    }
}

/// Keeps swarm counts fresh: scrapes queued torrents (new, or viewed with
/// stale counts) at once, and every indexed torrent each `every` (the hash
/// list is kept in memory, read from the index's dictionary once). Lists
/// and sorts read the cache, so nothing is re-indexed. Runs until its task
/// is stopped.
pub async fn refresh_forever(
    index: crate::index::CatalogIndex,
    swarm: Arc<SwarmCache>,
    every: Duration,
) -> Result<(), tokio::task::JoinError> {
    let all = index.clone();
    let mut known: std::collections::HashSet<InfoHash> =
        tokio::task::spawn_blocking(move || all.all_hashes().into_iter().collect()).await?;
    let mut next_pass = tokio::time::Instant::now();
    loop {
        let (batch, pass): (Vec<InfoHash>, bool) = tokio::select! {
            _ = tokio::time::sleep_until(next_pass) => {
                next_pass = tokio::time::Instant::now() + every;
                (known.iter().copied().collect(), true)
            }
            _ = swarm.fresh.notify.notified() => {
                let queued = std::mem::take(&mut *swarm.fresh.hashes.lock());
                known.extend(queued.iter().copied());
                (queued, false)
            }
        };
        if batch.is_empty() {
            continue;
        }
        let cache = swarm.clone();
        let report = tokio::task::spawn_blocking(move || {
            let cpu = thread_cpu();
            let started = Instant::now();
            let got = cache.scrape_blocking(&batch).len();
            PassReport {
                torrents: batch.len(),
                answered: got,
                secs: started.elapsed().as_secs_f64(),
                cpu_secs: thread_cpu() - cpu,
            }
        })
        .await?;
        if pass {
            swarm.metrics.record_pass(&report);
            tracing::info!(
                torrents = report.torrents,
                answered = report.answered,
                "swarm refresh pass: {:.1} s, {:.2} CPU-seconds, {:.0} torrents/s",
                report.secs,
                report.cpu_secs,
                report.torrents as f64 / report.secs.max(1e-9),
            );
        }
    }
}

/// What one full refresh pass cost.
pub struct PassReport {
    pub torrents: usize,
    pub answered: usize,
    pub secs: f64,
    pub cpu_secs: f64,
}

/// CPU time of the calling thread, in seconds.
pub(crate) fn thread_cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a constant.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    if ok {
        t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
    } else {
        0.0
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

    #[tokio::test]
    async fn views_of_stale_counts_queue_a_scrape_within_a_bound() {
        // Every cached entry is stale (TTL 0); no refresher drains the queue.
        let cache = Arc::new(SwarmCache::new(
            &["udp://127.0.0.1:9".to_owned()],
            Duration::ZERO,
            Duration::from_millis(1),
        ));
        let hash = InfoHash([7; 20]);
        let counts = SwarmCounts {
            seeders: 3,
            ..SwarmCounts::default()
        };
        cache
            .entries
            .write()
            .insert(hash_key(&hash), (counts, Instant::now()));
        for _ in 0..2 * MAX_VIEWS_QUEUED {
            let got = cache.get(hash, Duration::from_secs(5)).await;
            assert_eq!(got, Some(counts), "shown from the cache at once");
        }
        assert_eq!(cache.fresh.hashes.lock().len(), MAX_VIEWS_QUEUED);
        // A torrent being indexed is queued even so.
        cache.indexed(&InfoHash([8; 20]));
        assert_eq!(cache.fresh.hashes.lock().len(), MAX_VIEWS_QUEUED + 1);
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
