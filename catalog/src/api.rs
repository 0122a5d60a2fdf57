//! JSON API under `/api/v1/`, `/healthz` and `/metrics`.

use rocket::http::{ContentType, Status};
use rocket::serde::json::Json;
use rocket::{get, routes, Route, State};
use serde::Serialize;

use crate::query::{CatalogStats, Category, InfoHash, RawSearch, Sort, SwarmCounts};
use crate::web::{ApiError, App};

/// Routes of this module.
pub fn routes() -> Vec<Route> {
    routes![api_search, api_torrent, api_stats, healthz, metrics]
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
    /// Where the crawler learned it (`{"kind", "url"}`), null when not recorded.
    pub origin: Option<magnetar_shared::Origin>,
    /// The Newznab category (`5040`) and its name (`TV/HD`).
    pub newznab: u32,
    pub newznab_name: Option<&'static str>,
    /// What the name says: title, year, seasons, episodes, resolution, ...
    pub release: crate::release::Release,
}

/// A page of JSON results.
#[derive(Serialize)]
pub struct ApiSearch {
    /// Matches: exact, or an estimate when `total_exact` is false (past
    /// 10 100 matches of a search of words).
    pub total: usize,
    pub total_exact: bool,
    pub page: usize,
    pub pages: usize,
    pub limit: usize,
    pub sort: Sort,
    pub results: Vec<ApiHit>,
}

#[get("/api/v1/search?<params..>")]
async fn api_search(app: &State<App>, params: RawSearch) -> Result<Json<ApiSearch>, ApiError> {
    let catalog = &app.catalog;
    let links = catalog.links();
    let p = catalog.params(&params)?;
    let r = catalog.search(p.clone()).await?;
    Ok(Json(ApiSearch {
        total: r.total,
        total_exact: r.total_exact,
        page: r.page,
        pages: r.pages,
        limit: p.limit,
        sort: p.sort,
        results: r
            .hits
            .into_iter()
            .map(|h| {
                let t = h.torrent;
                let release = t.release();
                ApiHit {
                    url: links.page(&t.info_hash),
                    torrent_url: links.torrent(&t.info_hash),
                    magnet: links.magnet(&t.info_hash, &t.name, t.size, &[]),
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
                    origin: t.origin,
                    newznab: t.newznab,
                    newznab_name: crate::category::newznab_name(t.newznab),
                    release,
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
    /// Where the crawler learned it (`{"kind", "url"}`), null when not recorded.
    pub origin: Option<magnetar_shared::Origin>,
    pub newznab: u32,
    pub newznab_name: Option<&'static str>,
    pub release: crate::release::Release,
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
    let catalog = &app.catalog;
    let torrent = catalog.torrent(hash).await?;
    let meta = &torrent.meta;
    let swarm = catalog.swarm(hash).await;
    let own = meta.trackers();
    let release = crate::release::parse(&meta.name);
    let newznab = crate::category::newznab(meta, Category::of_torrent(meta), &release);
    Ok(Json(ApiTorrent {
        newznab,
        newznab_name: crate::category::newznab_name(newznab),
        release,
        info_hash: hash,
        magnet: catalog
            .links()
            .magnet(&hash, &meta.name, meta.total_size, &own),
        torrent_url: catalog.links().torrent(&hash),
        category: Category::of_torrent(meta),
        files: meta
            .files
            .iter()
            .map(|f| ApiFile {
                path: f.path.to_string_lossy().into_owned(),
                size: f.length,
            })
            .collect(),
        trackers: own,
        name: meta.name.clone(),
        size: meta.total_size,
        piece_length: meta.piece_length,
        pieces: meta.piece_count,
        private: meta.private,
        comment: meta.comment.clone(),
        created_by: meta.created_by.clone(),
        created: meta.creation_date,
        swarm,
        origin: meta.origin.clone(),
    }))
}

#[get("/api/v1/stats")]
async fn api_stats(app: &State<App>) -> Result<Json<CatalogStats>, ApiError> {
    Ok(Json(app.catalog.stats().await?))
}

#[get("/healthz")]
fn healthz(app: &State<App>) -> (Status, (ContentType, String)) {
    let h = app.catalog.health();
    let mut body = serde_json::json!({
        "status": match (h.ready, &h.rebuilding) {
            (_, Some(_)) => "rebuilding",
            (true, None) => "ok",
            (false, None) => "indexing",
        },
        "documents": h.documents,
    });
    if let Some(reason) = h.rebuilding {
        body["reason"] = reason.into();
    }
    let status = if h.ready {
        Status::Ok
    } else {
        Status::ServiceUnavailable
    };
    (status, (ContentType::JSON, body.to_string()))
}

#[get("/metrics")]
fn metrics(app: &State<App>) -> (ContentType, String) {
    (
        ContentType::new("text", "plain").with_params(("version", "0.0.4")),
        app.catalog.prometheus(),
    )
}
