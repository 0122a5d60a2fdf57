//! Other magnetar instances as sources (`[federation] peers`).
//!
//! Each peer is synced in a task of its own, so a slow, dead or hostile
//! peer never holds up the others or the crawler: its `infohash.bin`
//! (conditional GET: an unchanged file costs one round trip) and the list
//! of hashes it has metadata for (`/federation/v1/torrents`, paged from a
//! cursor kept in `crawler/federation/`, so a sync asks only for what is
//! new) are written as two local `infohash.bin` files that the crawler
//! reads like any other source. A hash the swarm does not answer for
//! within `swarm_timeout` is fetched as `<peer>/<hex>.torrent` from a peer
//! that lists it, and kept only if its info dict hashes to the info-hash
//! and it passes the crawler's validation: peers are verified, never
//! trusted.
//!
//! What a peer can cost: every request ends within `request_timeout`;
//! answers are read up to a cap (`max_torrent_bytes` for a `.torrent`, the
//! hashes of `max_hashes_per_peer` for its lists, a page's worth for a
//! page); at most three redirects are followed, and only on the same host;
//! at most `max_concurrent_fetches` `.torrent` downloads run at once, all
//! peers together; a peer that failed is left alone for `peer_backoff`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_shared::config::FederationConfig;
use magnetar_shared::infohash_file::{read_infohash_file, write_sorted_unique, InfoHashReader};
use magnetar_shared::task::{self, Criticality, TaskSet};
use magnetar_shared::{InfoHash, Shutdown, TorrentMeta};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::sources::{read_capped, validators, Source};
use crate::status::Counters;

/// Path of the export's list of torrents, below a peer's base URL.
pub const FEED_PATH: &str = "/federation/v1/torrents";
/// Longest `Retry-After` a peer can make a sync wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// One other instance.
struct Peer {
    /// Its base URL, without a trailing slash.
    base: String,
    /// File-name stem of its state in `crawler/federation/`.
    id: String,
    /// Hashes it has metadata for, sorted (the fallback asks only these).
    holds: RwLock<Arc<Vec<InfoHash>>>,
    /// Until when it is left alone after a failure.
    down_until: Mutex<Option<Instant>>,
}

impl Peer {
    fn is_down(&self) -> bool {
        self.down_until.lock().is_some_and(|t| Instant::now() < t)
    }

    fn holds(&self, hash: &InfoHash) -> bool {
        self.holds.read().binary_search(hash).is_ok()
    }
}

/// What is kept of a peer between syncs and restarts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PeerState {
    /// The base URL it belongs to (a changed URL starts over).
    base: String,
    /// Position in its list of torrents (`after=`).
    cursor: Option<String>,
    /// When the list was last read from its start (unix seconds).
    full_sync_at: i64,
    /// Validators of its `infohash.bin`.
    infohash_etag: Option<String>,
    infohash_modified: Option<String>,
}

/// One page of a peer's list, as its export writes it.
#[derive(Deserialize)]
struct FeedPage {
    hashes: Vec<String>,
    next: Option<String>,
    #[serde(default)]
    more: bool,
}

/// The peers, shared by their sync tasks and the resolves that fall back
/// on them.
pub struct Federation {
    peers: Vec<Arc<Peer>>,
    config: FederationConfig,
    http: reqwest::Client,
    dir: PathBuf,
    /// Turns for `.torrent` downloads (`max_concurrent_fetches`).
    fetch_slots: tokio::sync::Semaphore,
    counters: Arc<Counters>,
}

/// Why a request to a peer did not give a usable answer.
#[derive(Debug, thiserror::Error)]
enum PeerError {
    #[error("{0}")]
    Http(String),
    #[error("bad answer: {0}")]
    Bad(String),
}

impl Federation {
    /// The configured peers (invalid URLs are logged and left out) with
    /// what earlier syncs kept in `dir`; `None` when there are none.
    pub fn new(
        config: &FederationConfig,
        dir: PathBuf,
        counters: Arc<Counters>,
    ) -> Result<Option<Arc<Self>>, crate::Error> {
        let mut peers: Vec<Arc<Peer>> = Vec::new();
        for entry in &config.peers {
            let Some(base) = normalize_base(entry) else {
                tracing::warn!("ignoring federation peer {entry:?}: not an http(s) URL");
                continue;
            };
            if peers.iter().any(|p| p.base == base) {
                continue;
            }
            let id = InfoHash::of_info_bytes(base.as_bytes()).to_hex()[..16].to_owned();
            peers.push(Arc::new(Peer {
                holds: RwLock::new(Arc::new(load_hashes(
                    &dir.join(format!("{id}.torrents.bin")),
                ))),
                base,
                id,
                down_until: Mutex::new(None),
            }));
        }
        if peers.is_empty() {
            return Ok(None);
        }
        std::fs::create_dir_all(&dir).map_err(|source| crate::Error::Dir {
            path: dir.clone(),
            source,
        })?;
        let timeout = Duration::from_secs(config.request_timeout.max(1));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_host = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.host_str() == attempt.url().host_str());
                if attempt.previous().len() > 3 {
                    attempt.error("more than 3 redirects")
                } else if !same_host {
                    attempt.error("a redirect to another host")
                } else {
                    attempt.follow()
                }
            }))
            .build()?;
        Ok(Some(Arc::new(Self {
            peers,
            config: config.clone(),
            http,
            dir,
            fetch_slots: tokio::sync::Semaphore::new(config.max_concurrent_fetches.max(1)),
            counters,
        })))
    }

    /// The local files the syncs write, as crawler sources (after the
    /// configured ones, so a hash the own tracker also saw counts as the
    /// tracker's).
    pub fn sources(&self) -> Vec<Source> {
        self.peers
            .iter()
            .flat_map(|p| {
                ["torrents", "infohash"].map(|kind| Source::Peer {
                    path: self.dir.join(format!("{}.{kind}.bin", p.id)),
                    base: p.base.clone(),
                })
            })
            .collect()
    }

    /// Whether some peer has metadata for `hash`.
    pub fn holds(&self, hash: &InfoHash) -> bool {
        self.peers.iter().any(|p| p.holds(hash))
    }

    /// How long the swarm is tried for a hash a peer has.
    pub fn swarm_timeout(&self) -> Duration {
        Duration::from_secs(self.config.swarm_timeout)
    }

    /// Starts one sync task per peer.
    pub fn spawn_syncs(self: &Arc<Self>, shutdown: &Shutdown, tasks: &mut TaskSet) {
        for peer in &self.peers {
            let (me, peer, stop) = (self.clone(), peer.clone(), shutdown.clone());
            tasks.push(task::spawn(
                "crawler-federation-sync",
                shutdown,
                Criticality::BestEffort,
                async move {
                    me.sync_forever(&peer, &stop).await;
                    Ok::<(), std::convert::Infallible>(())
                },
            ));
        }
    }

    async fn sync_forever(&self, peer: &Peer, shutdown: &Shutdown) {
        let every = Duration::from_secs(self.config.sync_interval.max(1));
        loop {
            let started = Instant::now();
            match self.sync(peer).await {
                Ok(added) => {
                    tracing::info!(peer = %peer.base, added, "federation sync done")
                }
                Err(e) => {
                    self.counters.federation_errors.fetch_add(1, Relaxed);
                    tracing::warn!(peer = %peer.base, "federation sync failed: {e}")
                }
            }
            self.counters.federation_syncs.fetch_add(1, Relaxed);
            let wait = every.saturating_sub(started.elapsed());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// One sync of `peer`: its `infohash.bin`, then the new part of its
    /// list of torrents. Returns how many hashes its list gained.
    async fn sync(&self, peer: &Peer) -> Result<usize, PeerError> {
        let state_path = self.dir.join(format!("{}.state.json", peer.id));
        let mut state: PeerState = std::fs::read(&state_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|s: &PeerState| s.base == peer.base)
            .unwrap_or_else(|| PeerState {
                base: peer.base.clone(),
                ..Default::default()
            });
        // The list first: a hash the crawler reads from the mirrored
        // infohash.bin must already count as held, or it would be tried
        // on the swarm alone and backed off.
        let list = self.sync_list(peer, &mut state).await;
        let infohash = self.sync_infohash_bin(peer, &mut state).await;
        match serde_json::to_vec_pretty(&state) {
            Ok(bytes) => {
                if let Err(e) = magnetar_shared::write_atomic(&state_path, &bytes) {
                    tracing::warn!("cannot save {}: {e}", state_path.display());
                }
            }
            Err(e) => tracing::warn!("cannot encode federation state: {e}"),
        }
        let failed = infohash.as_ref().err().or(list.as_ref().err());
        if failed.is_some() {
            *peer.down_until.lock() =
                Some(Instant::now() + Duration::from_secs(self.config.peer_backoff));
        }
        infohash?;
        list
    }

    /// GETs `url` with `headers`, waiting (bounded) when the peer says 429.
    async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<reqwest::Response, PeerError> {
        for _ in 0..3 {
            let mut req = self.http.get(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| PeerError::Http(e.to_string()))?;
            if resp.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Ok(resp);
            }
            let wait = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs)
                .min(MAX_RETRY_AFTER);
            tokio::time::sleep(wait).await;
        }
        Err(PeerError::Http("HTTP 429, still, after 3 tries".into()))
    }

    /// Mirrors the peer's `infohash.bin` (unless unchanged: 304).
    async fn sync_infohash_bin(&self, peer: &Peer, state: &mut PeerState) -> Result<(), PeerError> {
        let mut headers = Vec::new();
        if let Some(tag) = &state.infohash_etag {
            headers.push(("if-none-match", tag.as_str()));
        }
        if let Some(date) = &state.infohash_modified {
            headers.push(("if-modified-since", date.as_str()));
        }
        let url = format!("{}/infohash.bin", peer.base);
        let resp = self.get(&url, &headers).await?;
        match resp.status().as_u16() {
            304 => {
                self.counters.federation_not_modified.fetch_add(1, Relaxed);
                return Ok(());
            }
            // Not published (export off, or no tracker beside it).
            404 => return Ok(()),
            200 => {}
            s => return Err(PeerError::Http(format!("{url}: HTTP {s}"))),
        }
        let (etag, modified) = validators(&resp);
        // More than `max_hashes_per_peer` hashes is refused whole.
        let cap = (self.config.max_hashes_per_peer as u64).saturating_mul(20);
        let body = read_capped(resp, cap)
            .await
            .map_err(|e| PeerError::Bad(format!("{url}: {e} (max_hashes_per_peer)")))?;
        self.counters
            .federation_bytes
            .fetch_add(body.len() as u64, Relaxed);
        let mut hashes: Vec<InfoHash> = InfoHashReader::new(body.as_slice(), url.clone())
            .filter_map(Result::ok)
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        let path = self.dir.join(format!("{}.infohash.bin", peer.id));
        write_sorted_unique(&path, &hashes).map_err(|e| PeerError::Http(e.to_string()))?;
        state.infohash_etag = etag;
        state.infohash_modified = modified;
        Ok(())
    }

    /// Reads the peer's list of torrents from the cursor on (from the
    /// start once every `full_sync_interval`), page by page.
    async fn sync_list(&self, peer: &Peer, state: &mut PeerState) -> Result<usize, PeerError> {
        let now = chrono::Utc::now().timestamp();
        if now - state.full_sync_at >= self.config.full_sync_interval as i64 {
            state.cursor = None;
            state.full_sync_at = now;
        }
        let page_size = self.config.page_size.clamp(1, 10_000);
        let max = self.config.max_hashes_per_peer;
        // A page is at most `page_size` hashes of 43 JSON bytes each.
        let page_cap = page_size as u64 * 64 + 4096;
        let mut holds: BTreeSet<InfoHash> = peer.holds.read().iter().copied().collect();
        let before = holds.len();
        let mut result = Ok(());
        // Bounded: a peer whose pages never end stops at the cap.
        for _ in 0..(max / page_size + 2) {
            let mut url = format!("{}{FEED_PATH}?limit={page_size}", peer.base);
            if let Some(c) = &state.cursor {
                url.push_str("&after=");
                url.push_str(c);
            }
            let page = match self.page(&url, page_cap).await {
                Ok(p) => p,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            for hex in &page.hashes {
                match InfoHash::from_hex(hex) {
                    Ok(h) if holds.len() < max => {
                        holds.insert(h);
                    }
                    Ok(_) => {}
                    Err(_) => {
                        result = Err(PeerError::Bad(format!(
                            "{url}: {hex:?} is not an info-hash"
                        )));
                        break;
                    }
                }
            }
            if result.is_err() {
                break;
            }
            let advanced = page.next.is_some() && page.next != state.cursor;
            if advanced {
                state.cursor = page.next;
            }
            if !page.more || !advanced || holds.len() >= max {
                if holds.len() >= max {
                    tracing::warn!(peer = %peer.base, "the peer lists more than max_hashes_per_peer; the rest is left out");
                }
                break;
            }
        }
        let added = holds.len() - before;
        if added > 0 {
            let sorted: Vec<InfoHash> = holds.into_iter().collect();
            let path = self.dir.join(format!("{}.torrents.bin", peer.id));
            write_sorted_unique(&path, &sorted).map_err(|e| PeerError::Http(e.to_string()))?;
            *peer.holds.write() = Arc::new(sorted);
        }
        result.map(|()| added)
    }

    async fn page(&self, url: &str, cap: u64) -> Result<FeedPage, PeerError> {
        let resp = self.get(url, &[]).await?;
        let status = resp.status();
        if status.as_u16() == 304 {
            self.counters.federation_not_modified.fetch_add(1, Relaxed);
            return Ok(FeedPage {
                hashes: Vec::new(),
                next: None,
                more: false,
            });
        }
        if !status.is_success() {
            return Err(PeerError::Http(format!("{url}: HTTP {status}")));
        }
        let body = read_capped(resp, cap).await.map_err(PeerError::Http)?;
        self.counters
            .federation_bytes
            .fetch_add(body.len() as u64, Relaxed);
        serde_json::from_slice(&body).map_err(|e| PeerError::Bad(format!("{url}: {e}")))
    }

    /// Fetches `hash`'s `.torrent` from the peers that list it, in turn,
    /// and returns the first one that is this hash's metadata and passes
    /// validation, with the peer it came from. Wrong or invalid files are
    /// logged with the reason and counted.
    pub async fn fetch_torrent(&self, hash: &InfoHash) -> Option<(Vec<u8>, TorrentMeta, String)> {
        for peer in self.peers.iter().filter(|p| p.holds(hash) && !p.is_down()) {
            let Ok(_turn) = self.fetch_slots.acquire().await else {
                return None;
            };
            let url = format!("{}/{hash}.torrent", peer.base);
            let bytes = match self.get(&url, &[]).await {
                Ok(resp) if resp.status().is_success() => {
                    read_capped(resp, self.config.max_torrent_bytes).await
                }
                Ok(resp) => Err(format!("HTTP {}", resp.status())),
                Err(e) => Err(e.to_string()),
            };
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(peer = %peer.base, %hash, "cannot fetch the .torrent: {e}");
                    *peer.down_until.lock() =
                        Some(Instant::now() + Duration::from_secs(self.config.peer_backoff));
                    continue;
                }
            };
            self.counters
                .federation_bytes
                .fetch_add(bytes.len() as u64, Relaxed);
            let want = *hash;
            let (checked, bytes) = tokio::task::spawn_blocking(move || {
                let checked = crate::resolver::validate(&want, &bytes);
                (checked, bytes)
            })
            .await
            .ok()?;
            match checked {
                Ok(meta) => {
                    self.counters.federation_fetched.fetch_add(1, Relaxed);
                    return Some((bytes, meta, peer.base.clone()));
                }
                Err(e) => {
                    self.counters.federation_rejected.fetch_add(1, Relaxed);
                    tracing::warn!(peer = %peer.base, %hash, "rejected the peer's .torrent: {e}");
                }
            }
        }
        None
    }
}

/// `http(s)://host[:port][/path]` without a trailing slash, or `None`.
fn normalize_base(entry: &str) -> Option<String> {
    let url = url::Url::parse(entry.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    Some(url.as_str().trim_end_matches('/').to_owned())
}

fn load_hashes(path: &Path) -> Vec<InfoHash> {
    let mut hashes = read_infohash_file(path).unwrap_or_default();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}
