//! Helpers for crawler tests: a tracker and librqbit seeders on loopback.

#![allow(dead_code)]

pub mod fake_peer;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use magnetar_crawler::seeder::Seeder;
use magnetar_shared::{Config, InfoHash};
use magnetar_tracker::client::TrackerClient;
use magnetar_tracker::RunningTracker;

pub struct Tracker {
    pub tracker: Option<RunningTracker>,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if let Some(t) = self.tracker.take() {
            let _ = t.stop();
        }
    }
}

pub fn tracker() -> Tracker {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::with_data_dir(dir.path());
    c.tracker.bind = vec!["127.0.0.1:0".parse().unwrap()];
    c.tracker.workers = 1;
    let t = RunningTracker::start(&c).unwrap();
    let addr = t.local_addrs()[0];
    Tracker {
        tracker: Some(t),
        addr,
        _dir: dir,
    }
}

/// Writes `files` under `dir/name/`, makes a torrent announcing to `tracker`
/// and seeds it on 127.0.0.1. Returns the seeder, the hash and the .torrent bytes.
pub async fn seed(
    dir: &Path,
    name: &str,
    files: &[(&str, Vec<u8>)],
    tracker: SocketAddr,
) -> (Seeder, InfoHash, Vec<u8>) {
    let content = dir.join(name);
    for (path, bytes) in files {
        let p = content.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let seeder = Seeder::start(&dir.join("session"), [127, 0, 0, 1].into())
        .await
        .unwrap();
    let (hash, bytes) = seeder
        .seed(&content, vec![format!("udp://{tracker}/announce")])
        .await
        .unwrap();
    wait_for_seeders(tracker, hash, 1).await;
    (seeder, hash, bytes)
}

/// Polls the tracker until `hash` has at least `n` seeders (bounded).
pub async fn wait_for_seeders(tracker: SocketAddr, hash: InfoHash, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = tokio::task::spawn_blocking(move || {
            TrackerClient::new(tracker, Duration::from_millis(500))
                .ok()
                .and_then(|mut c| c.scrape(&[hash]).ok())
                .map(|s| s[0].seeders)
        })
        .await
        .unwrap();
        if got.unwrap_or(0) >= n {
            return;
        }
        assert!(Instant::now() < deadline, "seeder never announced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A crawler config on `data`, loopback only, DHT off.
pub fn crawler_config(data: &Path, tracker: SocketAddr) -> Config {
    let mut c = Config::with_data_dir(data);
    c.crawler.trackers = vec![format!("udp://{tracker}/announce")];
    c.crawler.dht = false;
    c.crawler.timeout = 10;
    c.crawler.poll_interval = 1;
    c.crawler.status_interval = 1;
    c
}

pub fn random_bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Logs to the test output when RUST_LOG is set.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Runs the crawler with `--once` (bounded by `secs`) and returns its counters.
pub async fn crawl_once(
    config: Config,
    secs: u64,
) -> std::sync::Arc<magnetar_crawler::status::Counters> {
    let counters = std::sync::Arc::new(magnetar_crawler::status::Counters::default());
    let options = magnetar_crawler::Options {
        once: true,
        counters: Some(counters.clone()),
        ..Default::default()
    };
    tokio::time::timeout(
        Duration::from_secs(secs),
        magnetar_crawler::run_with(config, magnetar_shared::Shutdown::new(), options),
    )
    .await
    .expect("crawler --once finished in time")
    .expect("crawler did not fail");
    counters
}
