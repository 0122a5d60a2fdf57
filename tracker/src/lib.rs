//! magnetar's tracker role: a BEP 15 UDP tracker that records every
//! info-hash announced to it and dumps them to `infohash.bin`.
//!
//! Threads, not async: each worker owns a socket (SO_REUSEPORT) and handles
//! requests inline against sharded state; one housekeeping thread cleans,
//! dumps and logs. `run` wraps this for the async world. Every thread is
//! started with [`magnetar_shared::task::spawn_thread`] under the tracker's
//! shutdown signal; a worker that dies stops the tracker (with a final dump).

mod access_list;
#[cfg(target_os = "linux")]
mod batch;
pub mod client;
mod connection_id;
#[doc(hidden)]
pub mod fuzzing;
mod housekeeping;
pub mod http;
pub mod protocol;
mod reload;
mod sockets;
mod sources;
pub mod stats;
mod swarm;
mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use magnetar_shared::infohash_file::InfoHashFileError;
use magnetar_shared::task::{self, Criticality, TaskSet};
use magnetar_shared::{Config, InfoHash, Shutdown};

use crate::access_list::AccessList;
use crate::connection_id::ConnectionValidator;
use crate::sources::SourceLimitsConfig;
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
    #[error("cannot bind TCP (the HTTP tracker) {addr}: {source}")]
    BindTcp {
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
    #[error("a tracker thread failed (see the log above); stopped")]
    ThreadFailed,
}

/// Wall-clock time that never goes backwards: the unix time at start plus
/// a monotonic elapsed time. Peers expire and hashes age by it; last-seen
/// times survive restarts because they are unix seconds.
pub struct Clock {
    started: Instant,
    start_unix_ms: u64,
}

impl Clock {
    fn new() -> Self {
        let start_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            started: Instant::now(),
            start_unix_ms,
        }
    }

    /// Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.start_unix_ms + self.started.elapsed().as_millis() as u64
    }

    /// Unix seconds (as u32: good until 2106).
    pub fn now(&self) -> u32 {
        u32::try_from(self.now_ms() / 1000).unwrap_or(u32::MAX)
    }
}

/// The error an announce of a denied info-hash gets (UDP and HTTP).
pub(crate) const BLOCKED: &str = "info-hash blocked on this tracker";

/// State shared by workers, housekeeping and in-process readers.
pub struct Shared {
    pub(crate) swarms: Swarms,
    /// Request, reply and swarm counters (Prometheus text via `snapshot()`).
    pub stats: Stats,
    pub(crate) access: AccessList,
    /// `data/denylist`: hashes refused and forgotten.
    pub(crate) moderation: Arc<magnetar_shared::Moderation>,
    validator: ConnectionValidator,
    clock: Clock,
    /// Generation of the recorded set at the last dump (skip if unchanged).
    dumped_generation: AtomicU64,
    interval: u32,
    default_numwant: usize,
    max_numwant: usize,
}

impl Shared {
    /// The state of a tracker with `workers` UDP workers (sizes the swarm
    /// shards), before any socket is bound.
    fn new(config: &Config, workers: usize) -> Result<Self, Error> {
        let tc = &config.tracker;
        let access = AccessList::new(
            tc.access_list_mode,
            tc.access_list_path
                .as_ref()
                .map(|p| config.data().resolve(p)),
        )
        .map_err(Error::AccessList)?;
        Ok(Self {
            swarms: Swarms::new(
                SwarmLimits {
                    max_torrents: tc.max_torrents,
                    max_peers_per_torrent: tc.max_peers_per_torrent,
                    max_peers: tc.max_peers,
                    max_hashes: tc.max_hashes,
                    peer_timeout_secs: u32::try_from(tc.peer_timeout_secs()).unwrap_or(u32::MAX),
                    ipv6_source_prefix: tc.ipv6_source_prefix,
                    sources: SourceLimitsConfig {
                        announce_rate: tc.source_announce_rate,
                        announce_burst: tc.source_announce_burst,
                        new_torrents_per_minute: tc.source_new_torrents_per_minute,
                        max_peers: tc.max_peers_per_source,
                        max_sources: tc.max_sources,
                    },
                },
                (workers * 16).next_power_of_two(),
            ),
            stats: Stats::default(),
            access,
            moderation: config.moderation(),
            validator: ConnectionValidator::new(),
            clock: Clock::new(),
            dumped_generation: AtomicU64::new(u64::MAX),
            interval: tc.announce_interval,
            default_numwant: tc.default_numwant,
            max_numwant: tc.max_numwant,
        })
    }

    /// Every known address of a torrent's peers (for the in-process crawler).
    pub fn peers_of(&self, hash: &InfoHash) -> Vec<SocketAddr> {
        self.swarms.peers_of(hash)
    }
}

/// Times the UDP and TCP sockets of a tracker bound to port 0 are bound
/// again when TCP finds the port UDP got already taken.
const BIND_ATTEMPTS: usize = 8;

/// UDP bound by `udp`, then TCP by `tcp` on the addresses UDP got (so port
/// 0 gives one number for both). A port 0 the kernel gave for UDP may be
/// taken for TCP by another program: then (`any_port`) both are bound
/// again on another port, [`BIND_ATTEMPTS`] times in all at most (the
/// sockets of a failed attempt are dropped, closed). Returns the UDP
/// sockets, their addresses and the TCP listeners.
fn bind_together<U, T>(
    any_port: bool,
    mut udp: impl FnMut() -> Result<(U, Vec<SocketAddr>), Error>,
    mut tcp: impl FnMut(&[SocketAddr]) -> std::io::Result<T>,
) -> Result<(U, Vec<SocketAddr>, T), Error> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (sockets, addrs) = udp()?;
        match tcp(&addrs) {
            Ok(listeners) => return Ok((sockets, addrs, listeners)),
            Err(e)
                if any_port
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && attempts < BIND_ATTEMPTS => {}
            Err(source) => {
                return Err(Error::BindTcp {
                    addr: addrs
                        .first()
                        .copied()
                        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
                    source,
                })
            }
        }
    }
}

/// A started tracker: its threads run until [`RunningTracker::stop`] or
/// until its shutdown signal is cancelled.
pub struct RunningTracker {
    local_addrs: Vec<SocketAddr>,
    /// Addresses of the HTTP tracker (empty when `http` is off).
    http_addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
    /// The tracker's own signal: a child of the caller's, also cancelled by
    /// a worker that fails, so one dead thread stops the whole tracker.
    shutdown: Shutdown,
    threads: TaskSet,
    dump_path: PathBuf,
}

impl RunningTracker {
    /// Loads the previous dump, binds every address and starts the threads,
    /// with a shutdown signal of its own (see [`RunningTracker::start_with`]).
    pub fn start(config: &Config) -> Result<Self, Error> {
        Self::start_with(config, &Shutdown::new())
    }

    /// Like [`RunningTracker::start`], with threads that also stop when
    /// `shutdown` is cancelled.
    pub fn start_with(config: &Config, shutdown: &Shutdown) -> Result<Self, Error> {
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
        let shared = Arc::new(Shared::new(config, workers)?);

        housekeeping::load_dump(&shared, &dump_path);

        let any_port = tc.bind.iter().any(|a| a.port() == 0);
        let (sockets, local_addrs, listeners) = bind_together(
            any_port,
            || {
                let sockets = sockets::bind_sockets(&tc.bind, workers, tc.socket_recv_buffer)?;
                let local_addrs: Vec<SocketAddr> = sockets
                    .iter()
                    .step_by(workers)
                    .filter_map(|s| s.local_addr().ok())
                    .collect();
                Ok((sockets, local_addrs))
            },
            |addrs| {
                if tc.http {
                    http::bind(addrs)
                } else {
                    Ok(Vec::new())
                }
            },
        )?;
        let shutdown = shutdown.child_token();
        let mut threads = TaskSet::new();
        for (i, socket) in sockets.into_iter().enumerate() {
            let worker = worker::Worker {
                socket,
                stats: shared.stats.worker(),
                shared: shared.clone(),
                shutdown: shutdown.clone(),
            };
            let started = task::spawn_thread(
                &format!("tracker-worker-{i}"),
                &shutdown,
                Criticality::Critical,
                move || {
                    worker.run();
                    Ok::<(), Error>(())
                },
            );
            threads.push(started.map_err(|e| {
                shutdown.cancel();
                Error::Thread(e)
            })?);
        }
        let mut http_addrs = Vec::new();
        if tc.http {
            http_addrs.extend(listeners.iter().filter_map(|l| l.local_addr().ok()));
            let config = http::HttpConfig {
                workers: tc.http_workers.max(1),
                max_connections: tc.http_max_connections,
                trusted_proxies: tc.trusted_proxies.clone(),
            };
            let (shared, token) = (shared.clone(), shutdown.clone());
            threads.push(
                task::spawn_thread(
                    "tracker-http",
                    &shutdown,
                    Criticality::Critical,
                    move || http::serve(listeners, shared, config, token),
                )
                .map_err(Error::Thread)?,
            );
        }
        let housekeeping = housekeeping::Housekeeping {
            shared: shared.clone(),
            shutdown: shutdown.clone(),
            dump_path: dump_path.clone(),
            config: tc.clone(),
        };
        threads.push(
            task::spawn_thread(
                "tracker-housekeeping",
                &shutdown,
                Criticality::Critical,
                move || housekeeping.run(),
            )
            .map_err(|e| {
                shutdown.cancel();
                Error::Thread(e)
            })?,
        );
        for addr in &local_addrs {
            tracing::info!("tracker listening on udp://{addr}/announce ({workers} workers)");
        }
        for addr in &http_addrs {
            tracing::info!("tracker listening on http://{addr}/announce");
        }
        Ok(Self {
            local_addrs,
            http_addrs,
            shared,
            shutdown,
            threads,
            dump_path,
        })
    }

    /// The bound addresses (one per configured bind address).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The HTTP tracker's bound addresses (empty when `http` is off).
    pub fn http_addrs(&self) -> &[SocketAddr] {
        &self.http_addrs
    }

    /// State for in-process readers (statistics, peers).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Writes `infohash.bin` now (even if unchanged); returns the number
    /// of hashes written.
    pub fn dump(&self) -> Result<usize, Error> {
        Ok(housekeeping::dump(&self.shared, &self.dump_path, true)?.unwrap_or(0))
    }

    /// Stops the threads and writes a final dump.
    pub fn stop(self) -> Result<usize, Error> {
        self.shutdown.cancel();
        let Self {
            threads,
            shared,
            dump_path,
            ..
        } = self;
        threads.join_all_blocking();
        match housekeeping::dump(&shared, &dump_path, false)? {
            Some(n) => tracing::info!(hashes = n, "tracker stopped, dump written"),
            None => tracing::info!("tracker stopped, dump unchanged"),
        }
        Ok(shared.swarms.recorded())
    }
}

/// Runs the tracker until `shutdown` is cancelled, then writes the final dump.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), Error> {
    let tracker = RunningTracker::start_with(&config, &shutdown)?;
    serve(tracker, &config, shutdown).await
}

/// Serves an already started tracker (metrics, access-list reloads) until
/// `shutdown` or until one of its threads fails, then stops it: the final
/// dump is written on every path, errors included.
pub async fn serve(
    tracker: RunningTracker,
    config: &Config,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let own = tracker.shutdown.clone();
    let mut tasks = TaskSet::new();
    let mut outcome = Ok(());
    if let Some(addr) = config.tracker.metrics_addr {
        let shared = tracker.shared().clone();
        match magnetar_shared::telemetry::spawn_metrics(
            "tracker-metrics",
            addr,
            move || shared.stats.snapshot().prometheus(),
            &own,
        )
        .await
        {
            Ok((_, task)) => tasks.push(task),
            Err(e) => outcome = Err(Error::Metrics(e)),
        }
    }
    let reloader = reload::start(tracker.shared().clone(), &own);
    if outcome.is_ok() {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = own.cancelled() => {
                if !shutdown.is_cancelled() {
                    outcome = Err(Error::ThreadFailed);
                }
            }
        }
    }
    let stopped = tokio::task::spawn_blocking(move || tracker.stop())
        .await
        .map_err(|e| Error::Thread(std::io::Error::other(e)))
        .and_then(|r| r);
    if let Some(hangup) = reloader.hangup {
        tasks.push(hangup);
    }
    tasks.join_all().await;
    outcome.and(stopped.map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    /// Binds "UDP" on ports 1000, 1001, ... and fails "TCP" with `errors`
    /// in turn: how many times UDP was bound, and the outcome.
    fn bind_with(any_port: bool, errors: &[ErrorKind]) -> (u16, Result<u16, Error>) {
        let mut next = 1000u16;
        let mut failing = errors.iter();
        let got = bind_together(
            any_port,
            || {
                next += 1;
                Ok(((), vec![SocketAddr::from(([127, 0, 0, 1], next - 1))]))
            },
            |addrs: &[SocketAddr]| match failing.next() {
                Some(&kind) => Err(std::io::Error::from(kind)),
                None => Ok(addrs[0].port()),
            },
        );
        (next - 1000, got.map(|(_, _, port)| port))
    }

    /// Port 0: UDP and TCP are bound again on another port while TCP finds
    /// the port taken, up to BIND_ATTEMPTS times; TCP then has the port
    /// UDP got. Any other error, or a port given in the configuration (the
    /// user's choice), fails at once, and the error names TCP.
    #[test]
    fn udp_and_tcp_are_bound_again_while_tcp_finds_the_port_taken() {
        use ErrorKind::{AddrInUse, PermissionDenied};
        assert_eq!(bind_with(true, &[]).1.unwrap(), 1000);
        let (bound, got) = bind_with(true, &[AddrInUse, AddrInUse]);
        assert_eq!((bound, got.unwrap()), (3, 1002), "the third port");
        let taken = vec![AddrInUse; BIND_ATTEMPTS - 1];
        assert_eq!(
            bind_with(true, &taken).1.unwrap(),
            1000 + taken.len() as u16
        );
        let (bound, got) = bind_with(true, &[AddrInUse; BIND_ATTEMPTS]);
        assert_eq!(bound as usize, BIND_ATTEMPTS, "then it gives up");
        let e = got.unwrap_err();
        assert!(matches!(e, Error::BindTcp { .. }), "{e}");
        assert!(e.to_string().starts_with("cannot bind TCP"), "{e}");
        let (bound, got) = bind_with(true, &[PermissionDenied]);
        assert_eq!(bound, 1);
        assert!(got.is_err());
        let (bound, got) = bind_with(false, &[AddrInUse]);
        assert_eq!(bound, 1, "a configured port is not changed");
        assert!(got.is_err());
    }
}
