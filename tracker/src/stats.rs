//! Tracker statistics: per-worker counters (no shared cache lines on the hot
//! path) summed on demand, plus gauges from the cleaning pass.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use magnetar_shared::telemetry::PromText;
use parking_lot::Mutex;
use serde::Serialize;

use crate::sources::Limit;
use crate::swarm::Refusal;

/// Request kinds counted separately.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Connect = 0,
    Announce = 1,
    Scrape = 2,
}

const KINDS: [&str; 3] = ["connect", "announce", "scrape"];
const FAMILIES: [&str; 2] = ["ipv4", "ipv6"];

/// Counters owned by one worker thread.
#[derive(Default)]
pub struct WorkerStats {
    requests: [[AtomicU64; 2]; 3],
    responses: [[AtomicU64; 2]; 3],
    pub errors_sent: AtomicU64,
    pub malformed: AtomicU64,
    pub bad_connection_id: AtomicU64,
    pub refused_torrents: AtomicU64,
    /// Refusals by [`REFUSALS`] reason.
    refused: [AtomicU64; 4],
    pub denied: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

/// Reasons an announce is refused by a budget (label values).
const REFUSALS: [&str; 4] = [
    "announce_rate",
    "new_torrents",
    "source_peers",
    "peer_budget",
];

impl WorkerStats {
    /// Counts a refused announce.
    pub(crate) fn refused(&self, r: Refusal) {
        let i = match r {
            Refusal::TorrentLimit => {
                self.refused_torrents.fetch_add(1, Relaxed);
                return;
            }
            Refusal::Source(Limit::AnnounceRate) => 0,
            Refusal::Source(Limit::NewTorrents) => 1,
            Refusal::Source(Limit::SourcePeers) => 2,
            Refusal::PeerBudget => 3,
        };
        self.refused[i].fetch_add(1, Relaxed);
    }

    /// Counts a well-formed request.
    pub fn request(&self, kind: Kind, v6: bool) {
        self.requests[kind as usize][usize::from(v6)].fetch_add(1, Relaxed);
    }

    /// Counts a reply to a request of `kind`.
    pub fn response(&self, kind: Kind, v6: bool) {
        self.responses[kind as usize][usize::from(v6)].fetch_add(1, Relaxed);
    }
}

/// A point-in-time copy of all statistics.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// `[kind][family]` with kind connect/announce/scrape and family v4/v6.
    pub requests: [[u64; 2]; 3],
    pub responses: [[u64; 2]; 3],
    pub errors_sent: u64,
    pub malformed: u64,
    pub bad_connection_id: u64,
    pub refused_torrents: u64,
    /// Announces refused by budget: announce rate, new torrents per
    /// source, peers per source, global peer budget.
    pub refused: [u64; 4],
    pub denied: u64,
    pub blocked: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub torrents: u64,
    pub seeders: u64,
    pub leechers: u64,
    pub hashes_seen: u64,
    pub hashes_evicted: u64,
    pub hashes_refused: u64,
    pub sources: u64,
    /// HTTP announces, scrapes, failures, shed and dropped connections,
    /// requests on kept connections.
    pub http: [u64; 6],
}

/// All statistics of a tracker.
#[derive(Default)]
pub struct Stats {
    workers: Mutex<Vec<Arc<WorkerStats>>>,
    pub torrents: AtomicUsize,
    pub seeders: AtomicUsize,
    pub leechers: AtomicUsize,
    pub hashes_seen: AtomicUsize,
    pub hashes_evicted: AtomicU64,
    pub hashes_refused: AtomicU64,
    pub sources: AtomicUsize,
    /// Announces refused because `data/denylist` names the hash (UDP and HTTP).
    pub blocked: AtomicU64,
    /// Counters of the HTTP tracker.
    pub http: crate::http::HttpStats,
}

impl Stats {
    /// Registers a new worker's counters.
    pub fn worker(&self) -> Arc<WorkerStats> {
        let w = Arc::new(WorkerStats::default());
        self.workers.lock().push(w.clone());
        w
    }

    /// Sums the workers' counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut s = StatsSnapshot {
            torrents: self.torrents.load(Relaxed) as u64,
            seeders: self.seeders.load(Relaxed) as u64,
            leechers: self.leechers.load(Relaxed) as u64,
            hashes_seen: self.hashes_seen.load(Relaxed) as u64,
            hashes_evicted: self.hashes_evicted.load(Relaxed),
            hashes_refused: self.hashes_refused.load(Relaxed),
            sources: self.sources.load(Relaxed) as u64,
            blocked: self.blocked.load(Relaxed),
            http: [
                self.http.announces.load(Relaxed),
                self.http.scrapes.load(Relaxed),
                self.http.failures.load(Relaxed),
                self.http.shed.load(Relaxed),
                self.http.dropped.load(Relaxed),
                self.http.reused.load(Relaxed),
            ],
            ..Default::default()
        };
        for w in self.workers.lock().iter() {
            for k in 0..3 {
                for f in 0..2 {
                    s.requests[k][f] += w.requests[k][f].load(Relaxed);
                    s.responses[k][f] += w.responses[k][f].load(Relaxed);
                }
            }
            s.errors_sent += w.errors_sent.load(Relaxed);
            s.malformed += w.malformed.load(Relaxed);
            s.bad_connection_id += w.bad_connection_id.load(Relaxed);
            s.refused_torrents += w.refused_torrents.load(Relaxed);
            for (total, n) in s.refused.iter_mut().zip(&w.refused) {
                *total += n.load(Relaxed);
            }
            s.denied += w.denied.load(Relaxed);
            s.bytes_in += w.bytes_in.load(Relaxed);
            s.bytes_out += w.bytes_out.load(Relaxed);
        }
        s
    }
}

impl StatsSnapshot {
    /// Requests of every kind and family.
    pub fn total_requests(&self) -> u64 {
        self.requests.iter().flatten().sum()
    }

    /// Prometheus text exposition.
    pub fn prometheus(&self) -> String {
        let mut p = PromText::new();
        for (name, table, help) in [
            (
                "magnetar_tracker_requests_total",
                &self.requests,
                "Well-formed requests by action and family.",
            ),
            (
                "magnetar_tracker_responses_total",
                &self.responses,
                "Responses by action and family.",
            ),
        ] {
            p.family(name, "counter", help);
            for (k, kind) in KINDS.iter().enumerate() {
                for (f, family) in FAMILIES.iter().enumerate() {
                    p.sample(name, &[("action", kind), ("family", family)], table[k][f]);
                }
            }
        }
        let refused = "magnetar_tracker_refused_total";
        p.family(refused, "counter", "Announces refused by a budget, by reason (announce_rate, new_torrents and source_peers are per source).");
        for (reason, n) in REFUSALS.iter().zip(self.refused) {
            p.sample(refused, &[("reason", reason)], n);
        }
        let http = "magnetar_tracker_http_total";
        p.family(http, "counter", "HTTP tracker: announces and scrapes served, requests failed, connections shed (http_max_connections open) or dropped (too slow or too big), requests answered on a kept-alive connection.");
        for (kind, n) in ["announce", "scrape", "failure", "shed", "dropped", "reused"]
            .iter()
            .zip(self.http)
        {
            p.sample(http, &[("kind", kind)], n);
        }
        for (name, v, help) in [
            (
                "magnetar_tracker_hashes_evicted_total",
                self.hashes_evicted,
                "Recorded hashes evicted (announced longest ago) because max_hashes was near.",
            ),
            (
                "magnetar_tracker_hashes_refused_total",
                self.hashes_refused,
                "Announced hashes not recorded because max_hashes was reached.",
            ),
            (
                "magnetar_tracker_errors_sent_total",
                self.errors_sent,
                "Error replies sent.",
            ),
            (
                "magnetar_tracker_malformed_total",
                self.malformed,
                "Malformed datagrams.",
            ),
            (
                "magnetar_tracker_bad_connection_id_total",
                self.bad_connection_id,
                "Requests with a wrong or expired connection id (dropped).",
            ),
            (
                "magnetar_tracker_refused_torrents_total",
                self.refused_torrents,
                "Announces refused because max_torrents was reached.",
            ),
            (
                "magnetar_tracker_denied_total",
                self.denied,
                "Announces refused by the access list.",
            ),
            (
                "magnetar_tracker_blocked_total",
                self.blocked,
                "Announces refused because data/denylist names the info-hash.",
            ),
            (
                "magnetar_tracker_bytes_received_total",
                self.bytes_in,
                "UDP payload bytes received.",
            ),
            (
                "magnetar_tracker_bytes_sent_total",
                self.bytes_out,
                "UDP payload bytes sent.",
            ),
        ] {
            p.single(name, "counter", help, v);
        }
        for (name, v, help) in [
            (
                "magnetar_tracker_torrents",
                self.torrents,
                "Torrents with at least one peer, as counted by the last cleaning pass (every cleaning_interval seconds, and within seconds of the first announces while it counted none).",
            ),
            (
                "magnetar_tracker_seeders",
                self.seeders,
                "Seeders across all torrents, as of the last cleaning pass.",
            ),
            (
                "magnetar_tracker_leechers",
                self.leechers,
                "Leechers across all torrents, as of the last cleaning pass.",
            ),
            (
                "magnetar_tracker_hashes_seen",
                self.hashes_seen,
                "Info-hashes in the dump set, as of the last cleaning pass.",
            ),
            (
                "magnetar_tracker_sources",
                self.sources,
                "Sources (IPv4 addresses, IPv6 prefixes) whose limits are tracked, as of the last cleaning pass.",
            ),
        ] {
            p.single(name, "gauge", help, v);
        }
        if let Some(n) = crate::sockets::kernel_recv_buffer_errors() {
            p.single(
                "magnetar_tracker_udp_receive_buffer_errors",
                "counter",
                "UDP datagrams the kernel dropped on this host because a receive buffer was full (raise socket_recv_buffer and net.core.rmem_max).",
                n,
            );
        }
        p.process();
        p.finish()
    }
}
