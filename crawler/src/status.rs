//! Progress counters: logged, written to `status.json`, exported as Prometheus text.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use magnetar_shared::telemetry::PromText;
use serde::Serialize;

/// Live counters of the crawler.
#[derive(Default)]
pub struct Counters {
    pub known: AtomicU64,
    pub queue: AtomicU64,
    pub in_flight: AtomicU64,
    pub backoff: AtomicU64,
    pub resolved: AtomicU64,
    pub failed: AtomicU64,
    pub rejected: AtomicU64,
    /// Hashes dropped by the denylist (queued, running, or a name rule
    /// matched their metadata).
    pub denied: AtomicU64,
    pub timeouts: AtomicU64,
    pub preloaded_files: AtomicU64,
    pub session_recycles: AtomicU64,
    pub source_errors: AtomicU64,
    pub source_reads: AtomicU64,
}

/// What `status.json` holds.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Status {
    pub known: u64,
    pub queue: u64,
    pub in_flight: u64,
    pub backoff: u64,
    pub resolved: u64,
    pub failed: u64,
    pub rejected: u64,
    #[serde(default)]
    pub denied: u64,
    pub timeouts: u64,
    pub preloaded_files: u64,
    /// Resolved per minute since the previous status.
    pub rate_per_minute: f64,
    pub updated: chrono::DateTime<chrono::Utc>,
}

impl Counters {
    /// A snapshot with the given rate.
    pub fn status(&self, rate_per_minute: f64) -> Status {
        Status {
            known: self.known.load(Relaxed),
            queue: self.queue.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            backoff: self.backoff.load(Relaxed),
            resolved: self.resolved.load(Relaxed),
            failed: self.failed.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            denied: self.denied.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            preloaded_files: self.preloaded_files.load(Relaxed),
            rate_per_minute,
            updated: chrono::Utc::now(),
        }
    }

    /// Prometheus text.
    pub fn prometheus(&self) -> String {
        let mut p = PromText::new();
        for (name, v, help) in [
            (
                "magnetar_crawler_known",
                &self.known,
                "Hashes in the sources.",
            ),
            (
                "magnetar_crawler_queue",
                &self.queue,
                "Hashes waiting to be resolved.",
            ),
            (
                "magnetar_crawler_in_flight",
                &self.in_flight,
                "Resolves running.",
            ),
            (
                "magnetar_crawler_backoff",
                &self.backoff,
                "Hashes waiting for a retry.",
            ),
        ] {
            p.single(name, "gauge", help, v.load(Relaxed));
        }
        for (name, v, help) in [
            (
                "magnetar_crawler_resolved_total",
                &self.resolved,
                "Hashes resolved into .torrent files.",
            ),
            (
                "magnetar_crawler_failed_total",
                &self.failed,
                "Failed resolves (timeouts included).",
            ),
            (
                "magnetar_crawler_rejected_total",
                &self.rejected,
                "Metadata rejected by validation.",
            ),
            (
                "magnetar_crawler_denied_total",
                &self.denied,
                "Hashes left out by data/denylist (by hash, or a name rule on their metadata).",
            ),
            (
                "magnetar_crawler_timeouts_total",
                &self.timeouts,
                "Resolves that timed out.",
            ),
            (
                "magnetar_crawler_preloaded_files_total",
                &self.preloaded_files,
                "Small files preloaded.",
            ),
            (
                "magnetar_crawler_session_recycles_total",
                &self.session_recycles,
                "librqbit sessions replaced after session_recycle_after resolves.",
            ),
            (
                "magnetar_crawler_source_reads_total",
                &self.source_reads,
                "Times the sources were read (unchanged files are not read again).",
            ),
            (
                "magnetar_crawler_source_errors_total",
                &self.source_errors,
                "Source reads or downloads that failed (source_timeout, max_source_bytes).",
            ),
        ] {
            p.single(name, "counter", help, v.load(Relaxed));
        }
        p.process();
        p.finish()
    }
}
