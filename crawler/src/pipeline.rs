//! The per-hash pipeline, in one place: fetch the metadata from peers,
//! validate it once with magnetar's own checks, preload small files when
//! enabled, and write `<hex>.torrent` last (its presence means "done").

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use librqbit::Session;
use magnetar_shared::config::PreloadConfig;
use magnetar_shared::{InfoHash, Origin, PreloadDir};

use crate::resolver::{self, ResolveError};
use crate::status::Counters;

/// What every resolve needs besides its hash and session.
pub(crate) struct Job {
    /// Where the `.torrent` (and preloads) go.
    pub preload: PreloadDir,
    /// Announce URLs written into the `.torrent`.
    pub announce: Vec<String>,
    /// Longest wait for the metadata.
    pub timeout: Duration,
    /// Which small files to preload, if any.
    pub preload_config: PreloadConfig,
    /// The disk budget shared by concurrent preloads.
    pub preload_budget: crate::preload::PreloadBudget,
    /// Where preloaded files are counted.
    pub counters: Arc<Counters>,
    /// `data/denylist`: name rules are checked before anything is stored.
    pub moderation: Arc<magnetar_shared::Moderation>,
    /// Other instances to fetch metadata from when the swarm does not answer.
    pub federation: Option<Arc<crate::federation::Federation>>,
    /// The trackers librqbit announced the resolve to, left afterwards.
    pub departures: crate::depart::Departures,
}

/// Resolves one hash end to end, recording `origin` (where its hash was
/// learned) in the `.torrent`. When the swarm does not answer and a
/// federated peer lists the hash, the peer's `.torrent` is taken instead
/// (verified there), and the origin is that peer. A failed preload is
/// logged and does not fail the resolve; everything else does.
pub(crate) async fn resolve(
    job: &Job,
    session: Arc<Session>,
    hash: InfoHash,
    peers: Vec<SocketAddr>,
    origin: Origin,
) -> Result<(), ResolveError> {
    let peer = job.federation.as_ref().filter(|f| f.holds(&hash));
    let timeout = peer.map_or(job.timeout, |f| job.timeout.min(f.swarm_timeout()));
    let fetched = resolver::fetch_metadata(session.clone(), hash, timeout, peers).await;
    if !job.departures.is_empty() {
        job.departures.leave(hash).await;
    }
    let (torrent, meta, seen, origin) = match fetched {
        Ok(fetched) => {
            let bytes = fetched.torrent.clone();
            let meta = tokio::task::spawn_blocking(move || resolver::validate(&hash, &bytes))
                .await
                .map_err(|_| ResolveError::Panicked)??;
            (fetched.torrent, meta, fetched.peers, origin)
        }
        Err(e @ (ResolveError::Timeout | ResolveError::Failed(_))) => {
            // Asked again: a sync during the swarm attempt may have
            // learned that a peer holds it.
            let peer = job.federation.as_ref().filter(|f| f.holds(&hash));
            let Some(federation) = peer else {
                return Err(e);
            };
            match federation.fetch_torrent(&hash).await {
                Some((bytes, meta, base)) => (
                    bytes::Bytes::from(bytes),
                    meta,
                    Vec::new(),
                    Origin::Peer(base),
                ),
                None => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    if let Some(rule) = job
        .moderation
        .current()
        .torrent_meta_rule(&meta)
        .map(str::to_owned)
    {
        return Err(ResolveError::Denied(rule));
    }
    // Preloads come from the swarm: none answered for a peer's torrent.
    if job.preload_config.enabled && !seen.is_empty() {
        match crate::preload::preload(
            &session,
            &job.preload,
            &meta,
            &torrent,
            &job.preload_config,
            &job.preload_budget,
            seen,
        )
        .await
        {
            Ok(n) => {
                job.counters.preloaded_files.fetch_add(n as u64, Relaxed);
            }
            Err(e) => tracing::warn!(%hash, "preload failed: {e:#}"),
        }
    }
    let (preload, announce) = (job.preload.clone(), job.announce.clone());
    tokio::task::spawn_blocking(move || {
        resolver::store(&preload, &meta, &torrent, &announce, &origin)
    })
    .await
    .map_err(|_| ResolveError::Panicked)?
}
