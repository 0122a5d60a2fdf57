//! Helpers for tracker integration tests: a tracker on loopback, port 0.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use magnetar_shared::Config;
use magnetar_tracker::client::TrackerClient;
use magnetar_tracker::stats::StatsSnapshot;
use magnetar_tracker::RunningTracker;

pub struct TestTracker {
    pub tracker: Option<RunningTracker>,
    pub dir: tempfile::TempDir,
    pub v4: SocketAddr,
    pub v6: SocketAddr,
}

pub fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::with_data_dir(dir);
    c.tracker.bind = vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
    c.tracker.workers = 2;
    c.tracker.dump_interval = 3600;
    c
}

pub fn start() -> TestTracker {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir)
}

pub fn start_in(dir: tempfile::TempDir) -> TestTracker {
    let config = config(dir.path());
    start_with(dir, &config)
}

/// A tracker on `dir` with `config` (one on loopback, as [`config`] makes).
pub fn start_with(dir: tempfile::TempDir, config: &Config) -> TestTracker {
    let tracker = RunningTracker::start(config).unwrap();
    let addrs = tracker.local_addrs().to_vec();
    TestTracker {
        tracker: Some(tracker),
        dir,
        v4: addrs[0],
        v6: addrs[1],
    }
}

impl TestTracker {
    pub fn client(&self, addr: SocketAddr) -> TrackerClient {
        TrackerClient::new(addr, Duration::from_millis(500)).unwrap()
    }

    pub fn stop(&mut self) {
        if let Some(t) = self.tracker.take() {
            t.stop().unwrap();
        }
    }

    /// The running tracker's statistics.
    pub fn snapshot(&self) -> StatsSnapshot {
        self.tracker
            .as_ref()
            .expect("a running tracker")
            .shared()
            .stats
            .snapshot()
    }

    /// The running tracker's metrics, as `/metrics` serves them.
    pub fn prometheus(&self) -> String {
        self.snapshot().prometheus()
    }
}

impl Drop for TestTracker {
    fn drop(&mut self) {
        if let Some(t) = self.tracker.take() {
            let _ = t.stop();
        }
    }
}
