//! magnetar's crawler role: turns bare info-hashes from `infohash.bin` into
//! `preload/<hex>.torrent` files by fetching metadata from peers (BEP 9)
//! with one long-lived librqbit session.

mod backoff;
mod crawl;
mod depart;
mod federation;
mod pipeline;
mod preload;
mod resolver;
pub mod seeder;
mod sources;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use magnetar_shared::task::TaskSet;
use magnetar_shared::{Config, InfoHash, Shutdown};

use crate::crawl::Crawler;
use crate::sources::Source;
use crate::status::Counters;

pub use crate::resolver::ResolveError;

/// Errors that stop the crawler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create {path}: {source}")]
    Dir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("librqbit session: {0:#}")]
    Session(anyhow::Error),
    #[error("metrics listener: {0}")]
    Metrics(#[source] std::io::Error),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Extra peers for a hash, e.g. straight from an in-process tracker.
pub type PeerSource = Arc<dyn Fn(&InfoHash) -> Vec<SocketAddr> + Send + Sync>;

/// How to run the crawler beyond its configuration.
#[derive(Default, Clone)]
pub struct Options {
    /// Resolve the current queue once and return.
    pub once: bool,
    /// Peers to try for each hash in addition to trackers and DHT.
    pub peer_source: Option<PeerSource>,
    /// Shared counters (e.g. to read progress from a test).
    pub counters: Option<Arc<Counters>>,
}

/// Runs the crawler until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    run_with(config, shutdown, Options::default()).await
}

/// Runs the crawler with [`Options`].
pub async fn run_with(config: Config, shutdown: Shutdown, options: Options) -> Result<(), Error> {
    let counters = options.counters.clone().unwrap_or_default();
    let options = Options {
        counters: Some(counters.clone()),
        ..options
    };
    // The metrics listener stops with the role, also when `once` ends it.
    let role = shutdown.child_token();
    let mut tasks = TaskSet::new();
    if let Some(addr) = config.crawler.metrics_addr {
        let counters = counters.clone();
        let (_, task) = magnetar_shared::telemetry::spawn_metrics(
            "crawler-metrics",
            addr,
            move || counters.prometheus(),
            &role,
        )
        .await
        .map_err(Error::Metrics)?;
        tasks.push(task);
    }
    let federation = federation::Federation::new(
        &config.federation,
        config.data().crawler_dir().join("federation"),
        counters.clone(),
    )?;
    if let Some(federation) = &federation {
        federation.spawn_syncs(&role, &mut tasks);
    }
    let crawler = Crawler::new(
        config.crawler.clone(),
        config.data(),
        config.moderation(),
        federation,
        options,
    )
    .await?;
    let (changed_tx, changed_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let _watcher = watch_sources(crawler.sources(), changed_tx);
    let result = crawler.run(&shutdown, changed_rx).await;
    role.cancel();
    tasks.join_all().await;
    result
}

/// Watches the directories of file sources; any event there triggers a re-read.
fn watch_sources(
    sources: &[Source],
    tx: tokio::sync::mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let files: Vec<std::path::PathBuf> = sources
        .iter()
        .filter_map(|s| s.path().map(|p| p.to_owned()))
        .collect();
    if files.is_empty() {
        return None;
    }
    let names: Vec<std::ffi::OsString> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_owned()))
        .collect();
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        let relevant = magnetar_shared::watch::concerns(&e, |n| names.iter().any(|x| x == n));
        if relevant {
            let _ = tx.send(());
        }
    })
    .map_err(|e| tracing::warn!("cannot watch sources, polling only: {e}"))
    .ok()?;
    for f in &files {
        let dir = f
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!("cannot watch {}: {e}; polling only", dir.display());
        }
    }
    Some(watcher)
}
