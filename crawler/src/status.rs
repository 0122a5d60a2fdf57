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
    /// Syncs of federated peers done (failed ones included).
    pub federation_syncs: AtomicU64,
    /// Federated syncs that failed.
    pub federation_errors: AtomicU64,
    /// Answers from peers that had nothing new (304).
    pub federation_not_modified: AtomicU64,
    /// Body bytes received from federated peers.
    pub federation_bytes: AtomicU64,
    /// `.torrent` files taken from peers (verified).
    pub federation_fetched: AtomicU64,
    /// `.torrent` files from peers refused (wrong info-hash, invalid).
    pub federation_rejected: AtomicU64,
}

/// The federation's part of `status.json`.
#[derive(Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct FederationStatus {
    pub syncs: u64,
    pub errors: u64,
    pub not_modified: u64,
    pub bytes: u64,
    pub fetched: u64,
    pub rejected: u64,
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
    /// Federated peers (`[federation]`): syncs done, failed, answered 304,
    /// body bytes received, `.torrent` files taken and refused.
    #[serde(default)]
    pub federation: FederationStatus,
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
            federation: FederationStatus {
                syncs: self.federation_syncs.load(Relaxed),
                errors: self.federation_errors.load(Relaxed),
                not_modified: self.federation_not_modified.load(Relaxed),
                bytes: self.federation_bytes.load(Relaxed),
                fetched: self.federation_fetched.load(Relaxed),
                rejected: self.federation_rejected.load(Relaxed),
            },
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
            (
                "magnetar_crawler_federation_syncs_total",
                &self.federation_syncs,
                "Syncs of federated peers (sync_interval), failed ones included.",
            ),
            (
                "magnetar_crawler_federation_errors_total",
                &self.federation_errors,
                "Federated syncs that failed (request_timeout, caps, bad answers); the peer is left alone for peer_backoff.",
            ),
            (
                "magnetar_crawler_federation_not_modified_total",
                &self.federation_not_modified,
                "Answers of federated peers that had nothing new (304).",
            ),
            (
                "magnetar_crawler_federation_bytes_total",
                &self.federation_bytes,
                "Body bytes received from federated peers.",
            ),
            (
                "magnetar_crawler_federation_fetched_total",
                &self.federation_fetched,
                ".torrent files taken from federated peers, verified against their info-hash.",
            ),
            (
                "magnetar_crawler_federation_rejected_total",
                &self.federation_rejected,
                ".torrent files from federated peers refused (wrong info-hash, invalid metadata).",
            ),
        ] {
            p.single(name, "counter", help, v.load(Relaxed));
        }
        p.process();
        p.finish()
    }
}
