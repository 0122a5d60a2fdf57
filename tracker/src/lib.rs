//! magnetar's tracker role: a BEP 15 UDP tracker that records every
//! info-hash announced to it and dumps them to `infohash.bin`.
//!
//! Threads, not async: each worker owns a socket (SO_REUSEPORT) and handles
//! requests inline against sharded state; one housekeeping thread cleans,
//! dumps and logs. `run` wraps this for the async world.

pub mod access_list;
#[cfg(target_os = "linux")]
mod batch;
pub mod client;
pub mod connection_id;
pub mod protocol;
pub mod stats;
pub mod swarm;
mod worker;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use magnetar_shared::config::TrackerConfig;
use magnetar_shared::infohash_file::{self, InfoHashFileError};
use magnetar_shared::{Config, InfoHash, Shutdown};

use crate::access_list::AccessList;
use crate::connection_id::ConnectionValidator;
use crate::stats::Stats;
use crate::swarm::{SwarmLimits, Swarms};

pub use crate::swarm::SwarmCounts;
pub use crate::worker::MAX_REPLY;

/// Errors that stop the tracker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot bind UDP {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no bind address configured")]
    NoBind,
    #[error("access list: {0}")]
    AccessList(#[source] std::io::Error),
    #[error("infohash dump: {0}")]
    Dump(#[from] InfoHashFileError),
    #[error("cannot start thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("metrics listener: {0}")]
    Metrics(#[source] std::io::Error),
}

/// Seconds since the tracker started, as a compact timestamp for peers.
pub struct Clock(Instant);

impl Clock {
    /// Seconds since start.
    pub fn now(&self) -> u32 {
        u32::try_from(self.0.elapsed().as_secs()).unwrap_or(u32::MAX)
    }
}

/// State shared by workers, housekeeping and in-process readers.
pub struct Shared {
    pub swarms: Swarms,
    pub stats: Stats,
    pub access: AccessList,
    validator: ConnectionValidator,
    clock: Clock,
    interval: u32,
    default_numwant: usize,
    max_numwant: usize,
}

impl Shared {
    /// Every known address of a torrent's peers (for the in-process crawler).
    pub fn peers_of(&self, hash: &InfoHash) -> Vec<SocketAddr> {
        self.swarms.peers_of(hash)
    }
}

/// A started tracker: its threads run until [`RunningTracker::stop`].
pub struct RunningTracker {
    local_addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    dump_path: PathBuf,
}

impl RunningTracker {
    /// Loads the previous dump, binds every address and starts the threads.
    pub fn start(config: &Config) -> Result<Self, Error> {
        let tc = &config.tracker;
        let dump_path = config.data().resolve(&tc.dump_file);
        if let Some(dir) = dump_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Dump(InfoHashFileError::Io {
                    path: dir.to_owned(),
                    source: e,
                })
            })?;
        }
        let workers = if tc.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            tc.workers
        };
        let access = AccessList::new(
            tc.access_list_mode,
            tc.access_list_path
                .as_ref()
                .map(|p| config.data().resolve(p)),
        )
        .map_err(Error::AccessList)?;
        let shared = Arc::new(Shared {
            swarms: Swarms::new(
                SwarmLimits {
                    max_torrents: tc.max_torrents,
                    max_peers_per_torrent: tc.max_peers_per_torrent,
                    peer_timeout_secs: u32::try_from(tc.peer_timeout_secs()).unwrap_or(u32::MAX),
                },
                (workers * 16).next_power_of_two(),
            ),
            stats: Stats::default(),
            access,
            validator: ConnectionValidator::new(),
            clock: Clock(Instant::now()),
            interval: tc.announce_interval,
            default_numwant: tc.default_numwant,
            max_numwant: tc.max_numwant,
        });

        match infohash_file::read_infohash_file(&dump_path) {
            Ok(hashes) => {
                tracing::info!(hashes = hashes.len(), path = %dump_path.display(), "loaded previous info-hash dump");
                shared.swarms.load_seen(hashes, 0);
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => tracing::warn!("cannot load previous dump, starting empty: {e}"),
        }

        let sockets = bind_sockets(&tc.bind, workers)?;
        let local_addrs: Vec<SocketAddr> = sockets
            .iter()
            .step_by(workers)
            .filter_map(|s| s.local_addr().ok())
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (i, socket) in sockets.into_iter().enumerate() {
            let worker = worker::Worker {
                socket,
                stats: shared.stats.worker(),
                shared: shared.clone(),
                stop: stop.clone(),
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("tracker-worker-{i}"))
                    .spawn(move || worker.run())
                    .map_err(Error::Thread)?,
            );
        }
        let housekeeping = Housekeeping {
            shared: shared.clone(),
            stop: stop.clone(),
            dump_path: dump_path.clone(),
            config: tc.clone(),
        };
        threads.push(
            std::thread::Builder::new()
                .name("tracker-housekeeping".into())
                .spawn(move || housekeeping.run())
                .map_err(Error::Thread)?,
        );
        for addr in &local_addrs {
            tracing::info!("tracker listening on udp://{addr}/announce ({workers} workers)");
        }
        Ok(Self {
            local_addrs,
            shared,
            stop,
            threads,
            dump_path,
        })
    }

    /// The bound addresses (one per configured bind address).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// State for in-process readers (statistics, peers).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Writes `infohash.bin` now; returns the number of hashes written.
    pub fn dump(&self) -> Result<usize, Error> {
        dump(&self.shared, &self.dump_path)
    }

    /// Stops the threads and writes a final dump.
    pub fn stop(mut self) -> Result<usize, Error> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let n = self.dump()?;
        tracing::info!(hashes = n, "tracker stopped, dump written");
        Ok(n)
    }
}

fn dump(shared: &Shared, path: &std::path::Path) -> Result<usize, Error> {
    let hashes = shared.swarms.snapshot_seen();
    infohash_file::write_sorted_unique(path, &hashes)?;
    Ok(hashes.len())
}

/// Binds `workers` sockets per address with SO_REUSEPORT; with port 0 the
/// first socket picks the port and the others share it.
fn bind_sockets(addrs: &[SocketAddr], workers: usize) -> Result<Vec<UdpSocket>, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    if addrs.is_empty() {
        return Err(Error::NoBind);
    }
    let mut out = Vec::new();
    for &configured in addrs {
        let mut addr = configured;
        for _ in 0..workers {
            let bind = |addr: SocketAddr| -> std::io::Result<UdpSocket> {
                let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
                if addr.is_ipv6() {
                    s.set_only_v6(true)?;
                }
                s.set_reuse_port(true)?;
                let _ = s.set_recv_buffer_size(8 * 1024 * 1024);
                s.bind(&addr.into())?;
                let s: UdpSocket = s.into();
                s.set_read_timeout(Some(Duration::from_millis(100)))?;
                Ok(s)
            };
            let socket = bind(addr).map_err(|source| Error::Bind {
                addr: configured,
                source,
            })?;
            if addr.port() == 0 {
                addr = socket.local_addr().map_err(|source| Error::Bind {
                    addr: configured,
                    source,
                })?;
            }
            out.push(socket);
        }
    }
    Ok(out)
}

struct Housekeeping {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    dump_path: PathBuf,
    config: TrackerConfig,
}

impl Housekeeping {
    fn run(self) {
        let every = |secs: u64| Duration::from_secs(secs.max(1));
        let (mut last_clean, mut last_dump, mut last_stats) =
            (Instant::now(), Instant::now(), Instant::now());
        let retention = u32::try_from(self.config.retention).unwrap_or(u32::MAX);
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if last_clean.elapsed() >= every(self.config.cleaning_interval) {
                last_clean = Instant::now();
                let t = self.shared.swarms.clean(self.shared.clock.now(), retention);
                let s = &self.shared.stats;
                s.torrents.store(t.torrents, Ordering::Relaxed);
                s.seeders.store(t.seeders, Ordering::Relaxed);
                s.leechers.store(t.leechers, Ordering::Relaxed);
                s.hashes_seen.store(t.seen, Ordering::Relaxed);
            }
            if last_dump.elapsed() >= every(self.config.dump_interval) {
                last_dump = Instant::now();
                match dump(&self.shared, &self.dump_path) {
                    Ok(n) => tracing::debug!(hashes = n, "info-hash dump written"),
                    Err(e) => tracing::error!("info-hash dump failed: {e}"),
                }
            }
            if last_stats.elapsed() >= every(self.config.stats_interval) {
                last_stats = Instant::now();
                let s = self.shared.stats.snapshot();
                tracing::info!(
                    requests = s.total_requests(),
                    torrents = s.torrents,
                    seeders = s.seeders,
                    leechers = s.leechers,
                    hashes = s.hashes_seen,
                    malformed = s.malformed,
                    "tracker stats"
                );
            }
        }
    }
}

/// Runs the tracker until `shutdown` is cancelled, then writes the final dump.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    let tracker = RunningTracker::start(&config)?;
    serve(tracker, &config, shutdown).await
}

/// Serves an already started tracker (metrics, access-list reloads) until
/// `shutdown`, then stops it.
pub async fn serve(
    tracker: RunningTracker,
    config: &Config,
    shutdown: Shutdown,
) -> Result<(), Error> {
    if let Some(addr) = config.tracker.metrics_addr {
        let shared = tracker.shared().clone();
        magnetar_shared::telemetry::spawn_metrics(
            addr,
            move || shared.stats.snapshot().prometheus(),
            shutdown.clone(),
        )
        .await
        .map_err(Error::Metrics)?;
    }
    let _watcher = watch_access_list(tracker.shared().clone(), shutdown.clone());
    shutdown.cancelled().await;
    tokio::task::spawn_blocking(move || tracker.stop())
        .await
        .map_err(|e| Error::Thread(std::io::Error::other(e)))?
        .map(|_| ())
}

/// Reloads the access list when its file changes or on SIGHUP.
fn watch_access_list(
    shared: Arc<Shared>,
    shutdown: Shutdown,
) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let path = shared.access.path()?.to_owned();
    #[cfg(unix)]
    {
        let shared = shared.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            loop {
                tokio::select! {
                    _ = hup.recv() => {
                        if let Err(e) = shared.access.reload() {
                            tracing::warn!("access list reload failed: {e}");
                        }
                    }
                    _ = shutdown.cancelled() => return,
                }
            }
        });
    }
    let target = path.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if event
                .paths
                .iter()
                .any(|p| p.file_name() == target.file_name())
                && !event.kind.is_access()
            {
                if let Err(e) = shared.access.reload() {
                    tracing::warn!("access list reload failed: {e}");
                }
            }
        }
    })
    .map_err(|e| tracing::warn!("cannot watch access list: {e}"))
    .ok()?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| tracing::warn!("cannot watch {}: {e}", dir.display()))
        .ok()?;
    Some(watcher)
}
