//! Resolving one info-hash into metadata with librqbit, then validating and
//! storing it.

use std::collections::HashSet;
use std::net::{Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use librqbit::dht::DhtPersistenceConfig;
use librqbit::limits::LimitsConfig;
use librqbit::{
    AddTorrent, AddTorrentOptions, AddTorrentResponse, DhtSessionConfig, ListenerOptions, Session,
    SessionOptions,
};
use magnetar_shared::config::CrawlerConfig;
use magnetar_shared::metainfo::{build_torrent_file, info_bytes_of};
use magnetar_shared::{DataDir, InfoHash, PreloadDir, TorrentMeta};

/// Why a hash was not resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Failed(String),
    #[error("metadata rejected: {0}")]
    Rejected(String),
    /// A name rule of the denylist matches the metadata: never stored.
    #[error("left out by the denylist's name rule `{0}`")]
    Denied(String),
    #[error("librqbit panicked while resolving")]
    Panicked,
    #[error("cannot write: {0}")]
    Write(#[from] std::io::Error),
}

/// Creates the crawler's one long-lived librqbit session: LSD off, uploads
/// throttled to nothing, DHT (state kept in the crawler dir) when enabled,
/// no listener unless a port is configured (outgoing connections suffice).
/// `peer_id` is the id its announces carry (see [`crate::depart`]).
pub async fn new_session(
    config: &CrawlerConfig,
    data: &DataDir,
    peer_id: [u8; 20],
) -> anyhow::Result<Arc<Session>> {
    let dir = data.crawler_dir();
    std::fs::create_dir_all(&dir)?;
    let dht = config.dht.then(|| DhtSessionConfig {
        bootstrap_addrs: (!config.dht_bootstrap.is_empty()).then(|| config.dht_bootstrap.clone()),
        port: None,
        persistence: Some(DhtPersistenceConfig {
            dump_interval: None,
            config_filename: Some(dir.join("dht.json")),
        }),
    });
    let trackers: HashSet<url::Url> = config
        .trackers
        .iter()
        .filter_map(|t| match url::Url::parse(t) {
            Ok(u) => Some(u),
            Err(e) => {
                tracing::warn!("ignoring tracker {t:?}: {e}");
                None
            }
        })
        .collect();
    let listen = (config.listen_port != 0).then(|| ListenerOptions {
        listen_addr: SocketAddr::from((Ipv6Addr::UNSPECIFIED, config.listen_port)),
        ..Default::default()
    });
    let opts = SessionOptions {
        dht,
        listen,
        disable_local_service_discovery: true,
        peer_id: Some(librqbit::dht::Id20::new(peer_id)),
        trackers,
        fastresume: false,
        persistence: None,
        ratelimits: LimitsConfig {
            upload_bps: NonZeroU32::new(1),
            download_bps: None,
        },
        ..Default::default()
    };
    Session::new_with_opts(dir.join("downloads"), opts).await
}

/// Metadata fetched from the swarm.
pub struct Fetched {
    /// A `.torrent` librqbit built around the exact info dict bytes.
    pub torrent: bytes::Bytes,
    /// Peers seen while fetching (used for preloading without announcing).
    pub peers: Vec<SocketAddr>,
}

/// Fetches the metadata of `hash` (BEP 9) within `timeout`. The work runs in
/// its own task: a panic inside librqbit becomes [`ResolveError::Panicked`],
/// and dropping this future aborts that task.
pub async fn fetch_metadata(
    session: Arc<Session>,
    hash: InfoHash,
    timeout: Duration,
    peers: Vec<SocketAddr>,
) -> Result<Fetched, ResolveError> {
    let task = tokio::spawn(async move {
        let opts = AddTorrentOptions {
            list_only: true,
            initial_peers: (!peers.is_empty()).then_some(peers),
            ..Default::default()
        };
        let magnet = format!("magnet:?xt=urn:btih:{hash}");
        match tokio::time::timeout(
            timeout,
            session.add_torrent(AddTorrent::from_url(magnet), Some(opts)),
        )
        .await
        {
            Err(_) => Err(ResolveError::Timeout),
            Ok(Err(e)) => Err(ResolveError::Failed(format!("{e:#}"))),
            Ok(Ok(AddTorrentResponse::ListOnly(r))) => Ok(Fetched {
                torrent: r.torrent_bytes,
                peers: r.seen_peers,
            }),
            Ok(Ok(_)) => Err(ResolveError::Failed(
                "unexpected add_torrent response".into(),
            )),
        }
    });
    let abort = AbortOnDrop(task.abort_handle());
    let result = match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(ResolveError::Panicked),
        Err(_) => Err(ResolveError::Failed("cancelled".into())),
    };
    drop(abort);
    result
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Checks fetched metadata with magnetar's own validator and that it is the
/// metadata of `hash`.
pub fn validate(hash: &InfoHash, torrent: &[u8]) -> Result<TorrentMeta, ResolveError> {
    let info = info_bytes_of(torrent).map_err(|e| ResolveError::Rejected(e.to_string()))?;
    let meta =
        TorrentMeta::from_info_bytes(info).map_err(|e| ResolveError::Rejected(e.to_string()))?;
    if meta.info_hash != *hash {
        return Err(ResolveError::Rejected(format!(
            "metadata hashes to {}, not {hash}",
            meta.info_hash
        )));
    }
    Ok(meta)
}

/// Writes `<hex>.torrent` atomically for metadata that passed [`validate`]
/// (taking its result is the proof), with the exact info dict bytes, the
/// given announce URLs and where it came from.
pub fn store(
    preload: &PreloadDir,
    meta: &TorrentMeta,
    torrent: &[u8],
    announce: &[String],
    origin: &magnetar_shared::Origin,
) -> Result<(), ResolveError> {
    let info = info_bytes_of(torrent).map_err(|e| ResolveError::Rejected(e.to_string()))?;
    let mut file = build_torrent_file(info, announce, None, None, None);
    origin.append_to(&mut file);
    std::fs::create_dir_all(preload.root())?;
    magnetar_shared::write_atomic(&preload.torrent_path(&meta.info_hash), &file)?;
    Ok(())
}
