//! Catalog metrics for `/metrics` (Prometheus text).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Search latency histogram buckets, seconds.
const BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Request counters and the search latency histogram.
#[derive(Default)]
pub struct Metrics {
    pub searches: AtomicU64,
    pub search_errors: AtomicU64,
    pub searches_shed: AtomicU64,
    pub downloads_shed: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// Records one search's latency.
    pub fn observe_search(&self, elapsed: std::time::Duration) {
        self.searches.fetch_add(1, Relaxed);
        self.latency_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
        let secs = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Relaxed);
            }
        }
    }

    /// Writes the histogram family.
    pub fn write_histogram(&self, p: &mut magnetar_shared::telemetry::PromText) {
        let name = "magnetar_catalog_search_duration_seconds";
        p.family(name, "histogram", "Search latency.");
        for (i, b) in BUCKETS.iter().enumerate() {
            p.sample(
                &format!("{name}_bucket"),
                &[("le", &b.to_string())],
                self.buckets[i].load(Relaxed),
            );
        }
        let count = self.searches.load(Relaxed);
        p.sample(&format!("{name}_bucket"), &[("le", "+Inf")], count);
        p.sample(
            &format!("{name}_sum"),
            &[],
            self.latency_sum_micros.load(Relaxed) as f64 / 1e6,
        );
        p.sample(&format!("{name}_count"), &[], count);
    }
}
