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

/// Cached swarm counts per info-hash.
pub struct SwarmCache {
    trackers: Vec<SocketAddr>,
    ttl: Duration,
    /// Longest wait for one scrape reply.
    timeout: Duration,
    entries: Mutex<HashMap<InfoHash, (SwarmCounts, Instant)>>,
    /// Counts last written into the index, to detect changes.
    indexed: Mutex<HashMap<InfoHash, SwarmCounts>>,
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
            for batch in hashes.chunks(MAX_SCRAPE_HASHES) {
                self.metrics.requests.fetch_add(1, Relaxed);
                match client.scrape(batch) {
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
                        break;
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

    /// Records the counts written into a torrent's document and returns them.
    pub fn for_index(&self, hash: &InfoHash) -> Option<SwarmCounts> {
        let c = self.cached(hash)?;
        self.indexed.lock().insert(*hash, c);
        Some(c)
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

/// Scrapes every indexed torrent each `every` and asks the indexer to
/// rewrite the documents whose counts changed (so sorting by seeders works).
/// Runs until its task is stopped.
pub async fn refresh_forever(
    index: crate::index::CatalogIndex,
    swarm: Arc<SwarmCache>,
    indexer: crate::indexer::Indexer,
    every: Duration,
) -> Result<(), tokio::task::JoinError> {
    loop {
        let (index, swarm) = (index.clone(), swarm.clone());
        let changed =
            tokio::task::spawn_blocking(move || swarm.refresh_blocking(&index.all_hashes()))
                .await?;
        if !changed.is_empty() {
            tracing::debug!(torrents = changed.len(), "swarm counts changed");
            indexer.reindex(changed);
        }
        tokio::time::sleep(every).await;
    }
}
