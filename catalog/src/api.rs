//! JSON API under `/api/v1/`, `/healthz` and `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use magnetar_shared::telemetry::PromText;
use magnetar_shared::InfoHash;
use magnetar_tracker::SwarmCounts;
use rocket::http::{ContentType, Status};
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};
use serde::Serialize;

use crate::category::Category;
use crate::index::search::{RawSearch, Sort};
use crate::magnet::magnet;
use crate::pages::{load_torrent, run_search};
use crate::web::{App, PageError};

/// Routes of this module.
pub fn routes() -> Vec<Route> {
    routes![api_search, api_torrent, api_stats, healthz, metrics]
}

/// A JSON error: `{"error": {"status": 400, "message": "..."}}`.
#[derive(Debug, rocket::Responder)]
#[response(content_type = "json")]
pub struct ApiError(pub (Status, String));

impl ApiError {
    fn new(status: Status, message: &str) -> Self {
        let body = serde_json::json!({ "error": { "status": status.code, "message": message } });
        Self((status, body.to_string()))
    }
}

impl From<PageError> for ApiError {
    fn from(e: PageError) -> Self {
        match e {
            PageError::NotFound(m) => Self::new(Status::NotFound, &m),
            PageError::BadRequest(m) => Self::new(Status::BadRequest, &m),
            PageError::Internal(m) => {
                tracing::error!("api internal error: {m}");
                Self::new(Status::InternalServerError, "internal error")
            }
        }
    }
}

/// One search result in JSON.
#[derive(Serialize)]
pub struct ApiHit {
    pub info_hash: InfoHash,
    pub name: String,
    pub size: u64,
    pub files: u64,
    pub category: String,
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    pub indexed: chrono::DateTime<chrono::Utc>,
    pub seeders: u64,
    pub leechers: u64,
    pub completed: u64,
    pub url: String,
    pub torrent_url: String,
    pub magnet: String,
}

/// A page of JSON results.
#[derive(Serialize)]
pub struct ApiSearch {
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub limit: usize,
    pub sort: Sort,
    pub results: Vec<ApiHit>,
}

#[get("/api/v1/search?<params..>")]
async fn api_search(app: &State<App>, params: RawSearch) -> Result<Json<ApiSearch>, ApiError> {
    let p = params
        .validate(app.config.catalog.page_size)
        .map_err(|e| ApiError::new(Status::BadRequest, &e.0))?;
    let r = run_search(app, p.clone()).await?;
    Ok(Json(ApiSearch {
        total: r.total,
        page: r.page,
        pages: r.pages,
        limit: p.limit,
        sort: p.sort,
        results: r
            .hits
            .into_iter()
            .map(|h| {
                let t = h.torrent;
                ApiHit {
                    url: app.url(&t.info_hash.to_hex()),
                    torrent_url: app.url(&format!("{}.torrent", t.info_hash)),
                    magnet: magnet(&t.info_hash, &t.name, t.size, app.trackers_for(&[])),
                    info_hash: t.info_hash,
                    name: t.name,
                    size: t.size,
                    files: t.file_count,
                    category: t.category,
                    created: t.created,
                    indexed: t.indexed,
                    seeders: t.seeders,
                    leechers: t.leechers,
                    completed: t.completed,
                }
            })
            .collect(),
    }))
}

/// Full metadata of one torrent in JSON.
#[derive(Serialize)]
pub struct ApiTorrent {
    pub info_hash: InfoHash,
    pub name: String,
    pub size: u64,
    pub piece_length: u64,
    pub pieces: u64,
    pub private: bool,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    pub category: Category,
    pub files: Vec<ApiFile>,
    pub trackers: Vec<String>,
    pub magnet: String,
    pub torrent_url: String,
    /// Null when the tracker did not answer in time.
    pub swarm: Option<SwarmCounts>,
}

/// One file of a torrent in JSON.
#[derive(Serialize)]
pub struct ApiFile {
    pub path: String,
    pub size: u64,
}

#[get("/api/v1/torrent/<id>")]
async fn api_torrent(app: &State<App>, id: &str) -> Result<Json<ApiTorrent>, ApiError> {
    let hash: InfoHash = id
        .parse()
        .map_err(|e| ApiError::new(Status::BadRequest, &format!("bad info-hash: {e}")))?;
    let (meta, _) = load_torrent(app, hash).await?;
    let swarm = app.swarm.get(hash, app.swarm_wait()).await;
    let own = meta.trackers();
    Ok(Json(ApiTorrent {
        info_hash: hash,
        magnet: magnet(&hash, &meta.name, meta.total_size, app.trackers_for(&own)),
        torrent_url: app.url(&format!("{hash}.torrent")),
        category: Category::of_torrent(&meta),
        files: meta
            .files
            .iter()
            .map(|f| ApiFile {
                path: f.path.to_string_lossy().into_owned(),
                size: f.length,
            })
            .collect(),
        trackers: own,
        name: meta.name,
        size: meta.total_size,
        piece_length: meta.piece_length,
        pieces: meta.piece_count,
        private: meta.private,
        comment: meta.comment,
        created_by: meta.created_by,
        created: meta.creation_date,
        swarm,
    }))
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
    /// The tracker's counters from `tracker_metrics_url`, when reachable.
    pub tracker: Option<BTreeMap<String, f64>>,
}

/// Reads `magnetar_tracker_*` samples from a Prometheus text endpoint
/// (plain `http://host:port/path`, one-second budget). Labelled samples are
/// summed per metric name.
pub fn fetch_tracker_metrics(url: &str) -> Option<BTreeMap<String, f64>> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/"), |(a, p)| (a, p));
    let addr = authority.to_socket_addrs().ok()?.next()?;
    let timeout = std::time::Duration::from_secs(1);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").ok()?;
    let mut body = String::new();
    stream
        .take(4 * 1024 * 1024)
        .read_to_string(&mut body)
        .ok()?;
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| l.starts_with("magnetar_tracker_")) {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let name = key
            .split('{')
            .next()
            .unwrap_or(key)
            .trim_start_matches("magnetar_tracker_");
        if let Ok(v) = value.parse::<f64>() {
            *out.entry(name.to_owned()).or_insert(0.0) += v;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Gathers [`CatalogStats`] off the async runtime.
pub async fn collect_stats(app: &App) -> Result<CatalogStats, PageError> {
    let index = app.index.clone();
    let status_path = app.config.data().crawler_dir().join("status.json");
    let ready = app.indexer.stats.ready.load(Relaxed);
    let tracker_url = app.config.catalog.tracker_metrics_url.clone();
    rocket::tokio::task::spawn_blocking(move || {
        let searcher = index.reader.searcher();
        let mut total_size = 0u64;
        for segment in searcher.segment_readers() {
            if let Ok(col) = segment.fast_fields().u64("size") {
                for doc in segment.doc_ids_alive() {
                    total_size = total_size.saturating_add(col.first(doc).unwrap_or(0));
                }
            }
        }
        let mut categories = BTreeMap::new();
        for c in Category::ALL {
            let term = tantivy::Term::from_field_text(index.fields.category, c.as_str());
            let q = tantivy::query::TermQuery::new(term, tantivy::schema::IndexRecordOption::Basic);
            let n = searcher.search(&q, &tantivy::collector::Count).unwrap_or(0);
            categories.insert(c.as_str().to_owned(), n as u64);
        }
        let crawler = std::fs::read(&status_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        CatalogStats {
            torrents: searcher.num_docs(),
            total_size,
            categories,
            index_bytes: index.disk_bytes(),
            ready,
            crawler,
            tracker: tracker_url.as_deref().and_then(fetch_tracker_metrics),
        }
    })
    .await
    .map_err(|e| PageError::Internal(e.to_string()))
}

#[get("/api/v1/stats")]
async fn api_stats(app: &State<App>) -> Result<Json<CatalogStats>, ApiError> {
    Ok(Json(collect_stats(app).await?))
}

#[get("/healthz")]
fn healthz(app: &State<App>) -> (Status, (ContentType, String)) {
    let ready = app.indexer.stats.ready.load(Relaxed);
    let docs = app.index.doc_count();
    let body =
        serde_json::json!({ "status": if ready { "ok" } else { "indexing" }, "documents": docs });
    let status = if ready {
        Status::Ok
    } else {
        Status::ServiceUnavailable
    };
    (status, (ContentType::JSON, body.to_string()))
}

#[get("/metrics")]
fn metrics(app: &State<App>) -> (ContentType, String) {
    let i = &app.indexer.stats;
    let s = &app.swarm.metrics;
    let m = &app.metrics;
    let mut p = PromText::new();
    for (name, kind, help, value) in [
        (
            "magnetar_catalog_documents",
            "gauge",
            "Documents in the index.",
            app.index.doc_count(),
        ),
        (
            "magnetar_catalog_index_bytes",
            "gauge",
            "Index size on disk.",
            app.index.disk_bytes(),
        ),
        (
            "magnetar_catalog_indexed_total",
            "counter",
            "Torrents written to the index.",
            i.indexed.load(Relaxed),
        ),
        (
            "magnetar_catalog_removed_total",
            "counter",
            "Torrents removed from the index.",
            i.removed.load(Relaxed),
        ),
        (
            "magnetar_catalog_rejected_total",
            "counter",
            "Unreadable or invalid .torrent files skipped.",
            i.rejected.load(Relaxed),
        ),
        (
            "magnetar_catalog_commits_total",
            "counter",
            "Index commits.",
            i.commits.load(Relaxed),
        ),
        (
            "magnetar_catalog_watcher_events_total",
            "counter",
            "File events from preload/.",
            i.watcher_events.load(Relaxed),
        ),
        (
            "magnetar_catalog_searches_total",
            "counter",
            "Searches run.",
            m.searches.load(Relaxed),
        ),
        (
            "magnetar_catalog_search_errors_total",
            "counter",
            "Searches that failed.",
            m.search_errors.load(Relaxed),
        ),
        (
            "magnetar_catalog_scrape_requests_total",
            "counter",
            "UDP scrape requests sent.",
            s.requests.load(Relaxed),
        ),
        (
            "magnetar_catalog_scrape_errors_total",
            "counter",
            "UDP scrapes that failed.",
            s.errors.load(Relaxed),
        ),
        (
            "magnetar_catalog_swarm_cache_hits_total",
            "counter",
            "Swarm stats served from cache.",
            s.cache_hits.load(Relaxed),
        ),
        (
            "magnetar_catalog_swarm_cache_misses_total",
            "counter",
            "Swarm stats not fresh in cache.",
            s.cache_misses.load(Relaxed),
        ),
    ] {
        p.single(name, kind, help, value);
    }
    m.write_histogram(&mut p);
    p.process();
    (
        ContentType::new("text", "plain").with_params(("version", "0.0.4")),
        p.finish(),
    )
}
