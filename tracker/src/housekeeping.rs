//! The housekeeping thread: expires peers, writes `infohash.bin` and logs
//! statistics on their intervals until shutdown.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_shared::config::TrackerConfig;
use magnetar_shared::infohash_file;
use magnetar_shared::Shutdown;

use crate::{Error, Shared};

/// How often the thread wakes to check its timers and the shutdown signal.
const TICK: Duration = Duration::from_millis(100);

/// Writes every recorded info-hash to `path` (sorted, unique, atomically);
/// returns how many were written.
pub(crate) fn dump(shared: &Shared, path: &Path) -> Result<usize, Error> {
    let hashes = shared.swarms.snapshot_seen();
    infohash_file::write_sorted_unique(path, &hashes)?;
    Ok(hashes.len())
}

/// State of the housekeeping thread.
pub(crate) struct Housekeeping {
    /// Swarms, statistics and clock shared with the workers.
    pub shared: Arc<Shared>,
    /// The tracker's shutdown signal: the loop returns once it is cancelled
    /// (the final dump is written by `RunningTracker::stop`).
    pub shutdown: Shutdown,
    /// Where `infohash.bin` is written.
    pub dump_path: PathBuf,
    /// Intervals and retention.
    pub config: TrackerConfig,
}

impl Housekeeping {
    pub(crate) fn run(self) -> Result<(), Error> {
        let every = |secs: u64| Duration::from_secs(secs.max(1));
        let (mut last_clean, mut last_dump, mut last_stats) =
            (Instant::now(), Instant::now(), Instant::now());
        let retention = u32::try_from(self.config.retention).unwrap_or(u32::MAX);
        while !self.shutdown.is_cancelled() {
            std::thread::sleep(TICK);
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
        Ok(())
    }
}
