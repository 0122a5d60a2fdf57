//! The per-hash pipeline, in one place: fetch the metadata from peers,
//! validate it once with magnetar's own checks, preload small files when
//! enabled, and write `<hex>.torrent` last (its presence means "done").

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use librqbit::Session;
use magnetar_shared::config::PreloadConfig;
use magnetar_shared::{InfoHash, PreloadDir};

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
}

/// Resolves one hash end to end. A failed preload is logged and does not
/// fail the resolve; everything else does.
pub(crate) async fn resolve(
    job: &Job,
    session: Arc<Session>,
    hash: InfoHash,
    peers: Vec<SocketAddr>,
) -> Result<(), ResolveError> {
    let fetched = resolver::fetch_metadata(session.clone(), hash, job.timeout, peers).await?;
    let torrent = fetched.torrent;
    let bytes = torrent.clone();
    let meta = tokio::task::spawn_blocking(move || resolver::validate(&hash, &bytes))
        .await
        .map_err(|_| ResolveError::Panicked)??;
    if let Some(rule) = job
        .moderation
        .current()
        .torrent_meta_rule(&meta)
        .map(str::to_owned)
    {
        return Err(ResolveError::Denied(rule));
    }
    if job.preload_config.enabled {
        match crate::preload::preload(
            &session,
            &job.preload,
            &meta,
            &torrent,
            &job.preload_config,
            &job.preload_budget,
            fetched.peers,
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
    tokio::task::spawn_blocking(move || resolver::store(&preload, &meta, &torrent, &announce))
        .await
        .map_err(|_| ResolveError::Panicked)?
}
