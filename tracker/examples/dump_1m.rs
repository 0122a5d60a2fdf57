//! Times loading and dumping `infohash.bin` (with its last-seen file) for a
//! tracker holding N hashes (default 1 000 000; the scale is 10M),
//! while a client keeps announcing *during* each dump, to show the dump
//! stays off the hot path.
//!
//! Usage: cargo run --release -p magnetar-tracker --example dump_1m -- [N]

use std::time::{Duration, Instant};

use magnetar_shared::infohash_file::write_sorted_unique;
use magnetar_shared::{Config, InfoHash};
use magnetar_tracker::client::TrackerClient;
use magnetar_tracker::protocol::{Event, PeerId};

fn main() -> anyhow::Result<()> {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let hashes: Vec<InfoHash> = (0..n)
        .map(|i| {
            let mut b = [0u8; 20];
            b[..4].copy_from_slice(&i.to_be_bytes());
            b[19] = 1;
            InfoHash(b)
        })
        .collect();
    write_sorted_unique(&dir.path().join("infohash.bin"), &hashes)?;
    let mut config = Config::with_data_dir(dir.path());
    config.tracker.bind = vec!["127.0.0.1:0".parse()?];
    config.tracker.workers = 1;
    config.tracker.dump_interval = 3600;
    // One client announcing back to back: no per-source rate limit here
    // (the figure is the dump's effect on serving, not the limiter's).
    config.tracker.source_announce_rate = 0;
    config.tracker.max_hashes = n as usize + 16;
    let started = Instant::now();
    let tracker = magnetar_tracker::RunningTracker::start(&config)?;
    println!(
        "load {n} hashes at start: {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );

    let mut client = TrackerClient::new(tracker.local_addrs()[0], Duration::from_secs(1))?;
    for round in 0..3u8 {
        let (dumped, during, worst) = std::thread::scope(|scope| -> anyhow::Result<_> {
            let dumper = scope.spawn(|| {
                let t = Instant::now();
                tracker.dump().map(|n| (n, t.elapsed()))
            });
            // Announces while the dump runs: each must be answered normally.
            let (mut during, mut worst) = (0u32, Duration::ZERO);
            while !dumper.is_finished() {
                let a = Instant::now();
                client.announce(
                    InfoHash([round; 20]),
                    PeerId([during as u8; 20]),
                    1,
                    0,
                    Event::Started,
                    -1,
                )?;
                worst = worst.max(a.elapsed());
                during += 1;
            }
            let dumped = dumper
                .join()
                .map_err(|_| anyhow::anyhow!("dump thread panicked"))??;
            Ok((dumped, during, worst))
        })?;
        let (written, took) = dumped;
        println!(
            "dump {round}: {written} hashes in {:.0} ms; {during} announces served during it, slowest {:.2} ms",
            took.as_secs_f64() * 1000.0,
            worst.as_secs_f64() * 1000.0
        );
    }
    tracker.stop()?;
    Ok(())
}
