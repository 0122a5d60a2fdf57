//! The housekeeping thread: expires peers, writes `infohash.bin` and logs
//! statistics on their intervals until shutdown.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_shared::config::TrackerConfig;
use std::io::Write;

use magnetar_shared::infohash_file::{self, InfoHashFileError};
use magnetar_shared::{InfoHash, Shutdown};

use crate::{Error, Shared};

/// How often the thread wakes to check its timers and the shutdown signal.
const TICK: Duration = Duration::from_millis(100);

/// Least time between cleaning passes while the last one counted no
/// torrent and announces have come since.
const EARLY_CLEANING: Duration = Duration::from_secs(2);

/// Announces answered so far, over UDP and HTTP.
fn announced(stats: &crate::stats::Stats) -> u64 {
    let s = stats.snapshot();
    s.responses[crate::stats::Kind::Announce as usize]
        .iter()
        .sum::<u64>()
        + s.http[0]
}

/// The side file of last-seen times beside a dump: one little-endian u32
/// (unix seconds) per hash, in the dump's order. `infohash.bin` keeps its
/// raw format for the crawler, aquatic-crawler and the YGGverse tracker.
pub(crate) fn seen_path(dump: &Path) -> PathBuf {
    with_suffix(dump, ".seen")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Loads the previous dump (and its last-seen times) into `shared`.
///
/// A dump that cannot be read whole, or holds more hashes than
/// `max_hashes`, is moved aside to `<dump>.unloaded-<unix time>` first: the
/// next periodic dump must never replace a history with a smaller set
/// nobody chose. Leftover temp files of interrupted dumps are removed.
pub(crate) fn load_dump(shared: &Shared, path: &Path) {
    sweep_temp_files(path);
    let now = shared.clock.now();
    let hashes = match infohash_file::read_infohash_file(path) {
        Ok(h) => h,
        Err(e) if e.is_not_found() => return,
        Err(e) => {
            tracing::error!("cannot load the previous dump ({e}); starting empty");
            set_aside(path, now);
            return;
        }
    };
    let times = std::fs::read(seen_path(path))
        .ok()
        .filter(|t| t.len() == hashes.len() * 4);
    if times.is_none() && !hashes.is_empty() {
        tracing::info!("no matching last-seen file: every loaded hash counts as seen now");
    }
    let with_times: Vec<(InfoHash, u32)> = hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let t = times
                .as_ref()
                .and_then(|t| t.get(i * 4..i * 4 + 4))
                .and_then(|b| b.try_into().ok())
                .map_or(now, u32::from_le_bytes);
            (*h, t)
        })
        .collect();
    let total = with_times.len();
    let loaded = shared.swarms.load_seen(with_times);
    tracing::info!(hashes = loaded, path = %path.display(), "loaded previous info-hash dump");
    if loaded < total {
        tracing::warn!(
            total,
            loaded,
            "the previous dump holds more hashes than max_hashes; kept the newest"
        );
        set_aside(path, now);
    }
}

/// Moves a dump that was not fully loaded out of the way, keeping it.
fn set_aside(path: &Path, now: u32) {
    let aside = with_suffix(path, &format!(".unloaded-{now}"));
    match std::fs::rename(path, &aside) {
        Ok(()) => tracing::warn!("kept the previous dump as {}", aside.display()),
        Err(e) => tracing::error!("cannot move {} aside: {e}", path.display()),
    }
    let _ = std::fs::rename(seen_path(path), with_suffix(&aside, ".seen"));
}

/// Removes `.<name>.tmp.*` files left by dumps a crash interrupted.
fn sweep_temp_files(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        if file.starts_with(&format!(".{name}")) && magnetar_shared::atomic::is_temp_name(&file) {
            match std::fs::remove_file(e.path()) {
                Ok(()) => tracing::info!("removed stale temp file {file}"),
                Err(err) => tracing::warn!("cannot remove stale temp file {file}: {err}"),
            }
        }
    }
}

/// Writes every recorded info-hash to `path` (sorted, unique, atomically)
/// and their last-seen times beside it, keeping the previous dump as
/// `<dump>.prev`. Skipped when the recorded set has not changed since the
/// last dump (unless `force`). Returns how many hashes were written, or
/// `None` when skipped.
pub(crate) fn dump(shared: &Shared, path: &Path, force: bool) -> Result<Option<usize>, Error> {
    let generation = shared.swarms.generation();
    let last = shared.dumped_generation.load(Ordering::Relaxed);
    if !force && generation == last && path.exists() {
        return Ok(None);
    }
    let mut entries = shared.swarms.snapshot_seen();
    // Denied hashes never reach the dump, even before housekeeping forgets them.
    let denied = shared.moderation.current();
    if denied.hash_count() > 0 {
        entries.retain(|(h, _)| !denied.denies_hash(h));
    }
    let io = |e| Error::Dump(InfoHashFileError::io(path, e));
    if path.exists() {
        // A hard link is atomic and copies nothing.
        let prev = with_suffix(path, ".prev");
        let tmp = with_suffix(path, ".prev.tmp");
        let _ = std::fs::remove_file(&tmp);
        std::fs::hard_link(path, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &prev))
            .map_err(io)?;
    }
    magnetar_shared::write_atomic_with(&seen_path(path), |w| {
        for (_, t) in &entries {
            w.write_all(&t.to_le_bytes())?;
        }
        Ok(())
    })
    .map_err(io)?;
    magnetar_shared::write_atomic_with(path, |w| {
        for (h, _) in &entries {
            w.write_all(&h.0)?;
        }
        Ok(())
    })
    .map_err(io)?;
    shared
        .dumped_generation
        .store(generation, Ordering::Relaxed);
    Ok(Some(entries.len()))
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
    /// When the denylist changed (or at start), forgets the swarms and
    /// recorded hashes it names, so they leave the next dump too.
    fn forget_denied(&self, seen: &mut Option<u64>) {
        let moderation = &self.shared.moderation;
        let generation = moderation.generation();
        if *seen == Some(generation) {
            return;
        }
        *seen = Some(generation);
        let list = moderation.current();
        if list.hash_count() == 0 {
            return;
        }
        let n = self.shared.swarms.forget(|h| list.denies_hash(h));
        if n > 0 {
            tracing::info!(hashes = n, "forgot the info-hashes the denylist names");
        }
    }

    pub(crate) fn run(self) -> Result<(), Error> {
        let every = |secs: u64| Duration::from_secs(secs.max(1));
        let (mut last_clean, mut last_dump, mut last_stats, mut last_full) = (
            Instant::now(),
            Instant::now(),
            Instant::now(),
            Instant::now(),
        );
        let retention = u32::try_from(self.config.retention).unwrap_or(u32::MAX);
        let mut moderated = None;
        // Announces answered when the last pass ran (none before the first).
        let mut announced_then = None;
        while !self.shutdown.is_cancelled() {
            self.forget_denied(&mut moderated);
            std::thread::sleep(TICK);
            // While the last pass counted no torrent (after a start, or
            // on a quiet tracker), a pass is due as soon as announces
            // come, at most every EARLY_CLEANING, so the gauges (torrents,
            // seeders…) are not 0 for a whole interval. Usually that is
            // one early pass: it counts the torrents announced by then.
            let stale = self.shared.stats.torrents.load(Ordering::Relaxed) == 0
                && last_clean.elapsed() >= EARLY_CLEANING
                && announced_then != Some(announced(&self.shared.stats));
            if stale || last_clean.elapsed() >= every(self.config.cleaning_interval) {
                last_clean = Instant::now();
                announced_then = Some(announced(&self.shared.stats));
                let t = self.shared.swarms.clean(self.shared.clock.now(), retention);
                let s = &self.shared.stats;
                s.torrents.store(t.torrents, Ordering::Relaxed);
                s.seeders.store(t.seeders, Ordering::Relaxed);
                s.leechers.store(t.leechers, Ordering::Relaxed);
                s.hashes_seen.store(t.seen, Ordering::Relaxed);
                s.sources.store(t.sources, Ordering::Relaxed);
                s.hashes_refused.store(
                    self.shared.swarms.hashes_refused.load(Ordering::Relaxed),
                    Ordering::Relaxed,
                );
                if t.evicted > 0 {
                    s.hashes_evicted
                        .fetch_add(t.evicted as u64, Ordering::Relaxed);
                    tracing::warn!(
                        evicted = t.evicted,
                        kept = t.seen,
                        "max_hashes nearly reached: evicted the hashes announced longest ago"
                    );
                }
            }
            if last_dump.elapsed() >= every(self.config.dump_interval) {
                last_dump = Instant::now();
                // Unchanged sets are skipped, but last-seen times are
                // written at least hourly.
                let force = last_full.elapsed() >= Duration::from_secs(3600);
                match dump(&self.shared, &self.dump_path, force) {
                    Ok(Some(n)) => {
                        last_full = Instant::now();
                        tracing::debug!(hashes = n, "info-hash dump written");
                    }
                    Ok(None) => {}
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
