//! The catalog's query service: every question a front-end asks (search,
//! one torrent, its swarm, catalog statistics, health, a preloaded file)
//! is answered here, off the async workers where it touches the index or
//! the disk, with one error type. HTML pages, the JSON API and the XML
//! feeds only format what it returns; none of them imports another.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_shared::config::CatalogConfig;
use magnetar_shared::metainfo::{build_torrent_file, info_bytes_of};
use magnetar_shared::telemetry::PromText;
use magnetar_shared::{Config, PreloadDir};
use rocket::http::ContentType;
use serde::Serialize;

use crate::index::CatalogIndex;
use crate::indexer::Indexer;
use crate::metrics::Metrics;
use crate::swarm::SwarmCache;
use crate::tracker_metrics::{MetricsText, TrackerMetrics};

mod export;
pub use export::{FeedPage, HashFile, MAX_FEED_PAGE};

pub use crate::category::Category;
pub use crate::index::search::{
    format_date, Hit, RawSearch, SearchParams, SearchResults, Sort, MAX_LIMIT, MAX_OFFSET,
};
pub use crate::index::IndexedTorrent;
pub use crate::links::Links;
pub use magnetar_shared::{InfoHash, TorrentMeta};
pub use magnetar_tracker::SwarmCounts;

/// Why a question could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Nothing at this address (message for the user).
    #[error("{0}")]
    NotFound(String),
    /// A parameter is not acceptable (message for the user).
    #[error("{0}")]
    BadParam(String),
    /// Removed by the operator (`data/denylist`): 410, with the reason.
    #[error("{0}")]
    Gone(String),
    /// Too many searches at once: try again shortly (503, Retry-After).
    #[error("the catalog is busy, try again in a moment")]
    Busy,
    /// Our fault: logged, and shown to the user only as "internal error".
    #[error("{context}: {source}")]
    Internal {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl QueryError {
    /// [`QueryError::Internal`] with its context.
    pub(crate) fn internal(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            context,
            source: source.into(),
        }
    }
}

/// A stored torrent: parsed metadata, the file as stored, its index entry.
pub struct Torrent {
    /// Its bytes and metadata (`meta`, `bytes`), shared with the cache.
    parsed: Arc<crate::parsed::Parsed>,
    /// The indexed document (indexing date, preloaded files), if indexed yet.
    pub indexed: Option<IndexedTorrent>,
}

impl std::ops::Deref for Torrent {
    type Target = crate::parsed::Parsed;

    fn deref(&self) -> &Self::Target {
        &self.parsed
    }
}

/// Catalog-wide numbers, for `/stats` and `/api/v1/stats`.
#[derive(Serialize)]
pub struct CatalogStats {
    pub torrents: u64,
    pub total_size: u64,
    pub categories: BTreeMap<String, u64>,
    pub index_bytes: u64,
    pub ready: bool,
    /// The crawler's `status.json`, when present.
    pub crawler: Option<serde_json::Value>,
    /// The tracker's counters (from `tracker_metrics_url`, or from the
    /// tracker in this process), when readable.
    pub tracker: Option<BTreeMap<String, f64>>,
}

/// Whether the catalog can answer searches yet.
pub struct Health {
    /// The serving index is complete: the first reconcile is committed, or
    /// an older index serves while a new one is rebuilt beside it.
    pub ready: bool,
    pub documents: u64,
    /// Why the index is being rebuilt, while it is.
    pub rebuilding: Option<String>,
}

/// The service: owns the index reader, the indexer handle, the swarm cache.
pub struct Catalog {
    config: CatalogConfig,
    preload: PreloadDir,
    crawler_status: PathBuf,
    index: CatalogIndex,
    indexer: Indexer,
    swarm: Arc<SwarmCache>,
    metrics: Metrics,
    /// The connections of the HTTP front (see `server`).
    conns: Arc<crate::server::ConnStats>,
    tracker_metrics: Option<TrackerMetrics>,
    links: Links,
    /// Turns for searches (`max_concurrent_searches`).
    search_slots: Arc<tokio::sync::Semaphore>,
    /// Parsed `.torrent` files, and turns for parsing them (two per core).
    parsed: Arc<crate::parsed::ParseCache>,
    parse_slots: Arc<tokio::sync::Semaphore>,
    /// `data/denylist`: removed torrents answer 410.
    moderation: Arc<magnetar_shared::Moderation>,
    /// Memory of the downloads being sent (`download_memory_mib`).
    downloads: crate::download::DownloadBudget,
    /// Requests per client of the HTTP front (`client_requests_per_sec`).
    limiter: Arc<crate::ratelimit::ClientLimiter>,
    /// Whether `/infohash.bin` and the list of torrents are published.
    export: bool,
    /// The tracker's `infohash.bin` in the data directory.
    infohash_bin: PathBuf,
    /// When this process started (nanoseconds), in validators: a list's
    /// version numbers start again with each process.
    started: u128,
}

async fn blocking<T: Send + 'static>(
    context: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, QueryError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| QueryError::internal(context, e))
}

impl Catalog {
    /// The service over an open index and a started indexer.
    pub fn new(
        config: &Config,
        index: CatalogIndex,
        indexer: Indexer,
        swarm: Arc<SwarmCache>,
        moderation: Arc<magnetar_shared::Moderation>,
        local_tracker: Option<MetricsText>,
    ) -> Self {
        let c = &config.catalog;
        // A configured URL is read even beside a tracker in this process.
        let configured = c.tracker_metrics_url.as_deref().and_then(|url| {
            TrackerMetrics::new(
                url,
                Duration::from_millis(c.tracker_metrics_timeout_ms.max(1)),
                c.tracker_metrics_max_bytes,
            )
            .map_err(|e| tracing::warn!("cannot use tracker_metrics_url {url:?}: {e}"))
            .ok()
        });
        let tracker_metrics = configured.or_else(|| local_tracker.map(TrackerMetrics::local));
        Self {
            config: c.clone(),
            preload: config.data().preload(),
            crawler_status: config.data().crawler_dir().join("status.json"),
            index,
            indexer,
            swarm,
            metrics: Metrics::default(),
            conns: Arc::default(),
            tracker_metrics,
            links: Links::new(c),
            search_slots: Arc::new(tokio::sync::Semaphore::new(
                c.max_concurrent_searches.max(1),
            )),
            parsed: Arc::new(crate::parsed::ParseCache::new(crate::parsed::CACHE_BYTES)),
            parse_slots: Arc::new(tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
            moderation,
            downloads: crate::download::DownloadBudget::new(c.download_memory_mib),
            limiter: Arc::new(crate::ratelimit::ClientLimiter::new(
                c.client_requests_per_sec,
                c.client_burst,
                &c.trusted_proxies,
            )),
            export: config.federation.export,
            infohash_bin: config.data().infohash_bin(),
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        }
    }

    /// The catalog's configuration.
    pub fn config(&self) -> &CatalogConfig {
        &self.config
    }

    /// The link builder.
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// The indexer (joined on shutdown; asked to re-index changed counts).
    /// The counters of the HTTP front's connections.
    pub fn conn_stats(&self) -> &Arc<crate::server::ConnStats> {
        &self.conns
    }

    pub fn indexer(&self) -> &Indexer {
        &self.indexer
    }

    /// Validates raw query-string values with the configured page size.
    pub fn params(&self, raw: &RawSearch) -> Result<SearchParams, QueryError> {
        raw.validate(self.config.page_size)
            .map_err(|e| QueryError::BadParam(e.0))
    }

    /// Runs a validated search and records its latency. At most
    /// `max_concurrent_searches` run at once; a search that cannot get a
    /// turn and finish within `search_deadline_ms` is answered
    /// [`QueryError::Busy`] (its work, once started, still holds its turn
    /// until done, so load cannot pile up on the blocking pool).
    pub async fn search(&self, params: SearchParams) -> Result<SearchResults, QueryError> {
        let index = self.index.clone();
        let started = Instant::now();
        let deadline = Duration::from_millis(self.config.search_deadline_ms.max(1));
        let slots = self.search_slots.clone();
        let run = async move {
            let permit = slots
                .acquire_owned()
                .await
                .map_err(|e| QueryError::internal("search slots", e))?;
            let task = tokio::task::spawn_blocking(move || {
                let _turn = permit;
                index.search(&params)
            });
            task.await
                .map_err(|e| QueryError::internal("search task", e))?
                .map_err(|e| QueryError::internal("search", e))
        };
        let result = match tokio::time::timeout(deadline, run).await {
            Ok(r) => r,
            Err(_) => {
                self.metrics.searches_shed.fetch_add(1, Relaxed);
                Err(QueryError::Busy)
            }
        };
        let result = result.map(|mut r| {
            // Denied since the last commit: gone from the page at once.
            let before = r.hits.len();
            r.hits
                .retain(|h| !self.moderation.denies_hash(&h.torrent.info_hash));
            r.total = r.total.saturating_sub(before - r.hits.len());
            for hit in &mut r.hits {
                self.swarm.overlay(&mut hit.torrent);
            }
            r
        });
        match &result {
            Ok(_) => self.metrics.observe_search(started.elapsed()),
            Err(_) => {
                self.metrics.search_errors.fetch_add(1, Relaxed);
            }
        }
        result
    }

    /// Other releases of the torrent `hash`, whose name says `release` (see
    /// [`CatalogIndex::similar`]),
    /// with their swarm counts, without denied ones.
    pub async fn similar(
        &self,
        hash: InfoHash,
        release: crate::release::Release,
        limit: usize,
    ) -> Vec<IndexedTorrent> {
        let index = self.index.clone();
        let found = blocking("similar task", move || {
            index.similar(&hash, &release, limit)
        })
        .await;
        let mut list = match found {
            Ok(Ok(list)) => list,
            Ok(Err(e)) => {
                tracing::warn!("similar torrents: {e}");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!("{e}");
                Vec::new()
            }
        };
        list.retain(|t| !self.moderation.denies_hash(&t.info_hash));
        for t in &mut list {
            self.swarm.overlay(t);
        }
        list
    }

    /// Documents currently searchable.
    pub fn documents(&self) -> u64 {
        self.index.doc_count()
    }

    /// A stored `.torrent`, parsed (or from the cache of parsed ones),
    /// with its index entry. At most two parses per core run at once.
    pub async fn torrent(&self, hash: InfoHash) -> Result<Torrent, QueryError> {
        self.check_denied(&hash)?;
        let path = self.preload.torrent_path(&hash);
        let (index, cache) = (self.index.clone(), self.parsed.clone());
        let _turn = self
            .parse_slots
            .acquire()
            .await
            .map_err(|e| QueryError::internal("parse turns", e))?;
        let torrent = blocking("torrent task", move || {
            let parsed = cache.get(&hash, &path).map_err(|e| match e {
                crate::parsed::ReadError::Missing => {
                    QueryError::NotFound(format!("No torrent {hash} in this catalog."))
                }
                crate::parsed::ReadError::Unreadable(e) => {
                    QueryError::internal("stored torrent unreadable", e)
                }
            })?;
            Ok(Torrent {
                parsed,
                indexed: index.get(&hash),
            })
        })
        .await??;
        let rule = self
            .moderation
            .current()
            .torrent_meta_rule(&torrent.meta)
            .map(str::to_owned);
        match rule {
            Some(rule) => Err(QueryError::Gone(format!(
                "This torrent was removed from the catalog: its name matches the rule “{rule}”."
            ))),
            None => Ok(torrent),
        }
    }

    /// 410 for a hash the denylist names.
    fn check_denied(&self, hash: &InfoHash) -> Result<(), QueryError> {
        self.moderation.with_current(|list| {
            if !list.denies_hash(hash) {
                return Ok(());
            }
            Err(QueryError::Gone(match list.reason(hash) {
                Some(reason) => {
                    format!("This torrent was removed from the catalog. Reason: {reason}")
                }
                None => "This torrent was removed from the catalog.".to_owned(),
            }))
        })
    }

    /// The per-client request limits of the HTTP front.
    pub(crate) fn limiter(&self) -> &Arc<crate::ratelimit::ClientLimiter> {
        &self.limiter
    }

    /// The denylist in force.
    pub fn moderation(&self) -> &Arc<magnetar_shared::Moderation> {
        &self.moderation
    }

    /// Swarm counts, waiting at most `swarm_wait_ms` for a scrape.
    pub async fn swarm(&self, hash: InfoHash) -> Option<SwarmCounts> {
        let wait = Duration::from_millis(self.config.swarm_wait_ms);
        self.swarm.get(hash, wait).await
    }

    /// The `.torrent` to download (the instance's trackers first when it
    /// has any) and its file name (the torrent's real, UTF-8 name; the
    /// download headers make an ASCII fallback of it).
    fn torrent_file(&self, t: &Torrent) -> (Vec<u8>, String) {
        let meta = &t.meta;
        let filename = format!("{}.torrent", meta.name);
        if self.config.public_trackers.is_empty() {
            return (t.bytes.clone(), filename);
        }
        let Ok(info) = info_bytes_of(&t.bytes) else {
            return (t.bytes.clone(), filename);
        };
        let own = meta.trackers();
        let trackers: Vec<String> = self
            .links
            .trackers_for(&own)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let body = build_torrent_file(
            info,
            &trackers,
            meta.comment.as_deref(),
            meta.created_by.as_deref(),
            meta.creation_date,
        );
        (body, filename)
    }

    /// The `.torrent` download of `hash` and its file name, its memory
    /// reserved in the download budget before the file is read, and held
    /// by the body until it is sent; [`QueryError::Busy`] when no room
    /// frees up in time.
    pub async fn download(
        &self,
        hash: InfoHash,
    ) -> Result<(crate::download::Reserved, String), QueryError> {
        self.check_denied(&hash)?;
        let path = self.preload.torrent_path(&hash);
        let on_disk = tokio::fs::metadata(&path)
            .await
            .map_err(|_| QueryError::NotFound(format!("No torrent {hash} in this catalog.")))?
            .len();
        // The instance's trackers are added in front: room for them too.
        let trackers: usize = self
            .config
            .public_trackers
            .iter()
            .map(|t| t.len() + 8)
            .sum();
        let Some(room) = self
            .downloads
            .reserve(on_disk + trackers as u64 + 256)
            .await
        else {
            self.metrics.downloads_shed.fetch_add(1, Relaxed);
            return Err(QueryError::Busy);
        };
        let torrent = self.torrent(hash).await?;
        let (body, filename) = self.torrent_file(&torrent);
        Ok((crate::download::Reserved::new(body, room), filename))
    }

    /// Site-relative URLs of a torrent's preloaded images, at most `max_previews`.
    pub fn previews(&self, t: &Torrent) -> Vec<String> {
        let hash = t.meta.info_hash;
        t.indexed
            .as_ref()
            .map(|i| i.preloaded.as_slice())
            .unwrap_or(&[])
            .iter()
            .filter(|p| crate::view::is_image_name(p))
            .take(self.config.max_previews)
            .map(|p| crate::view::preload_url(&hash, p))
            .collect()
    }

    /// A preloaded image of a torrent, checked by path and content.
    pub async fn preloaded_file(
        &self,
        hash: InfoHash,
        path: PathBuf,
    ) -> Result<(ContentType, Vec<u8>), QueryError> {
        // Denied by hash or by a name rule: 410 like its page (the parsed
        // torrent is usually cached by the page that links the file).
        self.torrent(hash).await?;
        let dir = self.preload.data_dir(&hash);
        blocking("preloaded file task", move || {
            crate::download::preloaded_image(&dir, &path)
        })
        .await?
    }

    /// Catalog-wide numbers, the crawler's status and the tracker's counters.
    pub async fn stats(&self) -> Result<CatalogStats, QueryError> {
        let index = self.index.clone();
        let status_path = self.crawler_status.clone();
        let (totals, crawler) = blocking("stats task", move || {
            let crawler = std::fs::read(&status_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            (index.totals(), crawler)
        })
        .await?;
        let tracker = match &self.tracker_metrics {
            Some(t) => t.fetch().await,
            None => None,
        };
        Ok(CatalogStats {
            torrents: totals.torrents,
            total_size: totals.total_size,
            categories: totals.categories,
            index_bytes: self.index.disk_bytes(),
            ready: self.indexer.stats.ready.load(Relaxed),
            crawler,
            tracker,
        })
    }

    /// Whether the index is ready, and its size.
    pub fn health(&self) -> Health {
        let ready = self.indexer.stats.ready.load(Relaxed);
        Health {
            ready,
            documents: self.index.doc_count(),
            rebuilding: self.index.rebuild_reason().map(|r| r.to_string()),
        }
    }

    /// Everything `/metrics` exports, as Prometheus text.
    pub fn prometheus(&self) -> String {
        let i = &self.indexer.stats;
        let s = &self.swarm.metrics;
        let m = &self.metrics;
        let c = &self.conns;
        let mut p = PromText::new();
        let tracker_errors = self
            .tracker_metrics
            .as_ref()
            .map_or(0, |t| t.errors.load(Relaxed));
        for (name, kind, help, value) in [
            ("magnetar_catalog_documents", "gauge", "Documents in the index.", self.index.doc_count()),
            ("magnetar_catalog_index_bytes", "gauge", "Index size on disk.", self.index.disk_bytes()),
            ("magnetar_catalog_indexed_total", "counter", "Torrents written to the index.", i.indexed.load(Relaxed)),
            ("magnetar_catalog_removed_total", "counter", "Torrents removed from the index.", i.removed.load(Relaxed)),
            ("magnetar_catalog_rejected_total", "counter", "Unreadable or invalid .torrent files skipped.", i.rejected.load(Relaxed)),
            ("magnetar_catalog_moderated_total", "counter", "Torrents kept out of or removed from the index by data/denylist.", i.moderated.load(Relaxed)),
            ("magnetar_catalog_commits_total", "counter", "Index commits.", i.commits.load(Relaxed)),
            ("magnetar_catalog_deletes_queued_total", "counter", "Deletes queued in the index writer: torrents replaced, removed or moderated (none for torrents a reconcile knows are not in the index).", i.deletes.load(Relaxed)),
            ("magnetar_catalog_read_retries_total", "counter", "Torrent files that could not be read for a transient reason (kept in the index, read again later).", i.read_retries.load(Relaxed)),
            ("magnetar_catalog_watcher_events_total", "counter", "File events from preload/.", i.watcher_events.load(Relaxed)),
            ("magnetar_catalog_watcher_events_dropped_total", "counter", "File events from preload/ dropped because the indexer's queue was full (a reconcile then finds what they were about).", i.watcher_dropped.load(Relaxed)),
            ("magnetar_catalog_searches_total", "counter", "Searches run.", m.searches.load(Relaxed)),
            ("magnetar_catalog_search_errors_total", "counter", "Searches that failed.", m.search_errors.load(Relaxed)),
            ("magnetar_catalog_searches_shed_total", "counter", "Searches answered 503: no turn within search_deadline_ms (max_concurrent_searches).", m.searches_shed.load(Relaxed)),
            ("magnetar_catalog_result_cache_hits_total", "counter", "Searches answered from the result cache (search_cache_entries).", self.index.results().stats.hits.load(Relaxed)),
            ("magnetar_catalog_result_cache_misses_total", "counter", "Searches the result cache could keep that it did not have.", self.index.results().stats.misses.load(Relaxed)),
            ("magnetar_catalog_result_cache_waits_total", "counter", "Searches that waited for the same search being computed (instead of computing it too).", self.index.results().stats.waited.load(Relaxed)),
            ("magnetar_catalog_result_cache_evictions_total", "counter", "Pages dropped from the result cache to make room.", self.index.results().stats.evictions.load(Relaxed)),
            ("magnetar_catalog_result_cache_pages", "gauge", "Pages in the result cache.", self.index.results().len() as u64),
            ("magnetar_catalog_result_cache_bytes", "gauge", "Bytes the result cache holds (estimated, at most 32 MiB).", self.index.results().bytes() as u64),
            ("magnetar_catalog_dense_terms_bytes", "gauge", "Bytes of frequent terms decoded once for searches of several words (at most 128 MiB).", self.index.dense_bytes() as u64),
            ("magnetar_catalog_downloads_shed_total", "counter", "Downloads answered 503: no room in download_memory_mib within 2 s.", m.downloads_shed.load(Relaxed)),
            ("magnetar_catalog_scrape_requests_total", "counter", "UDP scrape requests sent.", s.requests.load(Relaxed)),
            ("magnetar_catalog_scrape_errors_total", "counter", "UDP scrapes that failed or timed out (scrape_timeout_ms).", s.errors.load(Relaxed)),
            ("magnetar_catalog_swarm_cache_hits_total", "counter", "Swarm stats served from cache.", s.cache_hits.load(Relaxed)),
            ("magnetar_catalog_swarm_cache_misses_total", "counter", "Swarm stats not fresh in cache.", s.cache_misses.load(Relaxed)),
            ("magnetar_catalog_swarm_passes_total", "counter", "Full swarm refresh passes done (one each swarm_ttl).", s.passes.load(Relaxed)),
            ("magnetar_catalog_swarm_last_pass_torrents", "gauge", "Torrents scraped by the last full refresh pass.", s.last_pass_torrents.load(Relaxed)),
            ("magnetar_catalog_swarm_last_pass_milliseconds", "gauge", "Wall-clock milliseconds of the last full refresh pass.", s.last_pass_micros.load(Relaxed) / 1000),
            ("magnetar_catalog_swarm_last_pass_cpu_milliseconds", "gauge", "CPU milliseconds the catalog spent on the last full refresh pass.", s.last_pass_cpu_micros.load(Relaxed) / 1000),
            ("magnetar_catalog_tracker_metrics_errors_total", "counter", "Failed reads of tracker_metrics_url (tracker_metrics_timeout_ms, tracker_metrics_max_bytes).", tracker_errors),
            ("magnetar_catalog_parsed_cache_bytes", "gauge", "Parsed .torrent files kept for detail pages and downloads (estimated bytes, at most 64 MiB).", self.parsed.bytes() as u64),
            ("magnetar_catalog_connections", "gauge", "Open HTTP connections.", c.open.load(Relaxed) as u64),
            ("magnetar_catalog_connections_total", "counter", "HTTP connections accepted.", c.accepted.load(Relaxed)),
            ("magnetar_catalog_connections_evicted_total", "counter", "Idle connections closed to make room at max_connections.", c.evicted.load(Relaxed)),
            ("magnetar_catalog_rate_limited_total", "counter", "Search, feed and API requests answered 429: over client_requests_per_sec for their client (an IPv6 client is its /64).", self.limiter.limited.load(Relaxed)),
            ("magnetar_catalog_connections_refused_total", "counter", "Connections closed at once: max_connections reached and none idle.", c.refused.load(Relaxed)),
        ] {
            p.single(name, kind, help, value);
        }
        m.write_histogram(&mut p);
        p.process();
        p.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_search_without_a_turn_in_time_is_busy_not_queued_forever() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_data_dir(dir.path());
        config.catalog.max_concurrent_searches = 1;
        config.catalog.search_deadline_ms = 50;
        let (index, build) = CatalogIndex::open(&dir.path().join("index"), 1).unwrap();
        let swarm = Arc::new(SwarmCache::new(
            &[],
            Duration::from_secs(1),
            Duration::from_secs(1),
        ));
        let shutdown = magnetar_shared::Shutdown::new();
        let indexer = crate::indexer::start(
            index.clone(),
            build,
            config.data().preload(),
            swarm.clone(),
            config.moderation(),
            &config.catalog,
            shutdown.clone(),
            crate::indexer::WATCH_QUEUE,
            None,
        )
        .unwrap();
        let catalog = Catalog::new(&config, index, indexer, swarm, config.moderation(), None);
        let params = catalog.params(&RawSearch::default()).unwrap();
        assert!(catalog.search(params.clone()).await.is_ok(), "a free turn");
        // Every turn taken (as by long searches): the next one is shed.
        let held = catalog.search_slots.clone().acquire_owned().await.unwrap();
        assert!(matches!(
            catalog.search(params.clone()).await,
            Err(QueryError::Busy)
        ));
        assert_eq!(catalog.metrics.searches_shed.load(Relaxed), 1);
        drop(held);
        assert!(
            catalog.search(params).await.is_ok(),
            "served again once turns free up"
        );
        shutdown.cancel();
        catalog.indexer().join();
    }
}
