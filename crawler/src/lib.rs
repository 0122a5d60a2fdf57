//! magnetar's crawler role: turns bare info-hashes from `infohash.bin` into
//! `preload/<hex>.torrent` files by fetching metadata from peers (BEP 9)
//! with one long-lived librqbit session.

pub mod backoff;
pub mod preload;
pub mod resolver;
pub mod seeder;
pub mod sources;
pub mod status;

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_shared::{Config, InfoHash, Shutdown};
use tokio::task::JoinSet;

use crate::backoff::Backoff;
use crate::resolver::ResolveError;
use crate::sources::Source;
use crate::status::Counters;

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

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Runs the crawler with [`Options`].
pub async fn run_with(config: Config, shutdown: Shutdown, options: Options) -> Result<(), Error> {
    let c = config.crawler.clone();
    let data = config.data();
    let preload = data.preload();
    for dir in [preload.root().to_owned(), data.crawler_dir()] {
        std::fs::create_dir_all(&dir).map_err(|source| Error::Dir {
            path: dir.clone(),
            source,
        })?;
    }
    preload::remove_stale_temp_dirs(&preload);

    let counters = options.counters.clone().unwrap_or_default();
    if let Some(addr) = c.metrics_addr {
        let counters = counters.clone();
        magnetar_shared::telemetry::spawn_metrics(
            addr,
            move || counters.prometheus(),
            shutdown.clone(),
        )
        .await
        .map_err(Error::Metrics)?;
    }
    let sources: Vec<Source> = c.sources.iter().map(|s| Source::parse(s, &data)).collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let (changed_tx, mut changed_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let _watcher = watch_sources(&sources, changed_tx);

    let mut session = resolver::new_session(&c, &data)
        .await
        .map_err(Error::Session)?;
    let mut resolves_on_session = 0u64;
    let mut backoff = Backoff::load(
        &data.crawler_dir().join("backoff.json"),
        c.backoff_initial,
        c.backoff_max,
        c.max_attempts,
    );
    let announce: Arc<Vec<String>> = Arc::new(if c.announce.is_empty() {
        c.trackers.clone()
    } else {
        c.announce.clone()
    });
    let timeout = Duration::from_secs(c.timeout.max(1));

    let mut done: HashSet<InfoHash> = preload
        .list_torrents()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut queue: VecDeque<InfoHash> = VecDeque::new();
    let mut in_flight: HashSet<InfoHash> = HashSet::new();
    let mut tasks: JoinSet<(InfoHash, Result<(), ResolveError>)> = JoinSet::new();
    let mut refresh = true;
    let mut last_refresh = Instant::now();
    let mut last_status = Instant::now();
    let mut resolved_at_last_status = counters.resolved.load(Relaxed);
    let concurrency = c.concurrency.max(1);
    tracing::info!(sources = sources.len(), concurrency, "crawler started");

    loop {
        if refresh || last_refresh.elapsed() >= Duration::from_secs(c.poll_interval.max(1)) {
            refresh = false;
            last_refresh = Instant::now();
            let known = sources::read_all(&sources, &http, c.max_source_bytes).await;
            if let Ok(listed) = preload.list_torrents() {
                done.extend(listed);
            }
            queue = build_queue(&known, &done, &in_flight, &backoff, unix_now());
            counters.known.store(known.len() as u64, Relaxed);
        }
        while tasks.len() < concurrency && !shutdown.is_cancelled() {
            let Some(hash) = queue.pop_front() else { break };
            if done.contains(&hash)
                || in_flight.contains(&hash)
                || !backoff.is_due(&hash, unix_now())
            {
                continue;
            }
            if c.session_recycle_after > 0
                && resolves_on_session >= c.session_recycle_after
                && tasks.is_empty()
            {
                tracing::info!(
                    resolves = resolves_on_session,
                    "recycling the librqbit session"
                );
                session.stop().await;
                session = resolver::new_session(&c, &data)
                    .await
                    .map_err(Error::Session)?;
                resolves_on_session = 0;
            }
            resolves_on_session += 1;
            in_flight.insert(hash);
            let mut peers = c.initial_peers.clone();
            if let Some(source) = &options.peer_source {
                peers.extend(source(&hash));
            }
            let (session, preload, announce, preload_cfg) = (
                session.clone(),
                preload.clone(),
                announce.clone(),
                c.preload.clone(),
            );
            let counters2 = counters.clone();
            tasks.spawn(async move {
                let result = async {
                    let fetched =
                        resolver::fetch_metadata(session.clone(), hash, timeout, peers).await?;
                    let torrent = fetched.torrent;
                    let (hash2, torrent2) = (hash, torrent.clone());
                    let meta =
                        tokio::task::spawn_blocking(move || resolver::validate(&hash2, &torrent2))
                            .await
                            .map_err(|_| ResolveError::Panicked)??;
                    if preload_cfg.enabled {
                        match preload::preload(
                            &session,
                            &preload,
                            &meta,
                            &torrent,
                            &preload_cfg,
                            fetched.peers,
                        )
                        .await
                        {
                            Ok(n) => {
                                counters2.preloaded_files.fetch_add(n as u64, Relaxed);
                            }
                            Err(e) => tracing::warn!(%hash, "preload failed: {e:#}"),
                        }
                    }
                    // The .torrent appears last: its presence means "done".
                    tokio::task::spawn_blocking(move || {
                        resolver::store(&preload, &meta, &torrent, &announce)
                    })
                    .await
                    .map_err(|_| ResolveError::Panicked)??;
                    Ok(())
                }
                .await;
                (hash, result)
            });
        }
        counters.queue.store(queue.len() as u64, Relaxed);
        counters.in_flight.store(tasks.len() as u64, Relaxed);
        counters.backoff.store(backoff.len() as u64, Relaxed);

        if options.once && tasks.is_empty() && queue.is_empty() {
            break;
        }
        if shutdown.is_cancelled() {
            break;
        }

        tokio::select! {
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                let Ok((hash, result)) = joined else { continue };
                in_flight.remove(&hash);
                match result {
                    Ok(()) => {
                        done.insert(hash);
                        backoff.succeeded(&hash);
                        counters.resolved.fetch_add(1, Relaxed);
                        tracing::info!(%hash, "resolved");
                    }
                    Err(e) => {
                        counters.failed.fetch_add(1, Relaxed);
                        match &e {
                            ResolveError::Timeout => { counters.timeouts.fetch_add(1, Relaxed); }
                            ResolveError::Rejected(_) | ResolveError::Panicked => { counters.rejected.fetch_add(1, Relaxed); }
                            _ => {}
                        }
                        let attempt = backoff.failed(hash, unix_now());
                        tracing::info!(%hash, failures = attempt.failures, "resolve failed: {e}");
                    }
                }
                if queue.is_empty() {
                    refresh = true;
                }
            }
            Some(()) = changed_rx.recv() => {
                while changed_rx.try_recv().is_ok() {}
                refresh = true;
            }
            // Wake up to check the poll timer (its refresh also queues retries that came due).
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => {}
        }

        if last_status.elapsed() >= Duration::from_secs(c.status_interval.max(1)) {
            let resolved = counters.resolved.load(Relaxed);
            let rate = (resolved - resolved_at_last_status) as f64 * 60.0
                / last_status.elapsed().as_secs_f64();
            resolved_at_last_status = resolved;
            last_status = Instant::now();
            write_status(&counters, rate, &data);
            if let Err(e) = backoff.save() {
                tracing::warn!("cannot save backoff state: {e}");
            }
        }
    }

    tasks.shutdown().await;
    counters.in_flight.store(0, Relaxed);
    if let Err(e) = backoff.save() {
        tracing::warn!("cannot save backoff state: {e}");
    }
    write_status(&counters, 0.0, &data);
    session.stop().await;
    tracing::info!(
        resolved = counters.resolved.load(Relaxed),
        failed = counters.failed.load(Relaxed),
        "crawler stopped"
    );
    Ok(())
}

/// New hashes first, then retries that are due.
fn build_queue(
    known: &HashSet<InfoHash>,
    done: &HashSet<InfoHash>,
    in_flight: &HashSet<InfoHash>,
    backoff: &Backoff,
    now: i64,
) -> VecDeque<InfoHash> {
    let mut fresh = Vec::new();
    let mut retries = Vec::new();
    for h in known {
        if done.contains(h) || in_flight.contains(h) || !backoff.is_due(h, now) {
            continue;
        }
        match backoff.get(h) {
            None => fresh.push(*h),
            Some(a) => retries.push((a.next_try, *h)),
        }
    }
    retries.sort_unstable();
    fresh
        .into_iter()
        .chain(retries.into_iter().map(|(_, h)| h))
        .collect()
}

fn write_status(counters: &Counters, rate: f64, data: &magnetar_shared::DataDir) {
    let status = counters.status(rate);
    tracing::info!(
        known = status.known,
        queue = status.queue,
        in_flight = status.in_flight,
        resolved = status.resolved,
        failed = status.failed,
        rate_per_minute = format!("{rate:.1}"),
        "crawler progress"
    );
    match serde_json::to_vec_pretty(&status) {
        Ok(bytes) => {
            if let Err(e) =
                magnetar_shared::write_atomic(&data.crawler_dir().join("status.json"), &bytes)
            {
                tracing::warn!("cannot write status.json: {e}");
            }
        }
        Err(e) => tracing::warn!("cannot encode status: {e}"),
    }
}

/// Watches the directories of file sources; any event there triggers a re-read.
fn watch_sources(
    sources: &[Source],
    tx: tokio::sync::mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let files: Vec<std::path::PathBuf> = sources
        .iter()
        .filter_map(|s| match s {
            Source::File(p) => Some(p.clone()),
            Source::Url(_) => None,
        })
        .collect();
    if files.is_empty() {
        return None;
    }
    let names: Vec<std::ffi::OsString> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_owned()))
        .collect();
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        let relevant = match &e {
            // Our own reads raise access events; only changes matter.
            Ok(ev) if ev.kind.is_access() => false,
            Ok(ev) => {
                ev.need_rescan()
                    || ev
                        .paths
                        .iter()
                        .any(|p| p.file_name().is_some_and(|n| names.iter().any(|x| x == n)))
            }
            Err(_) => true,
        };
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
