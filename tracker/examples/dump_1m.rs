//! Times `infohash.bin` dumps of a tracker holding N hashes (default 1 000 000)
//! while a client keeps announcing, to show the dump stays off the hot path.
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
    let started = Instant::now();
    let tracker = magnetar_tracker::RunningTracker::start(&config)?;
    println!(
        "load {n} hashes at start: {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );

    let mut client = TrackerClient::new(tracker.local_addrs()[0], Duration::from_secs(1))?;
    let mut worst = Duration::ZERO;
    for round in 0..3 {
        let t = Instant::now();
        let written = tracker.dump()?;
        let dump = t.elapsed();
        // An announce right after: served normally (the dump holds no lock while writing).
        let a = Instant::now();
        client.announce(
            InfoHash([round; 20]),
            PeerId([1; 20]),
            1,
            0,
            Event::Started,
            -1,
        )?;
        worst = worst.max(a.elapsed());
        println!(
            "dump {round}: {written} hashes in {:.0} ms",
            dump.as_secs_f64() * 1000.0
        );
    }
    println!(
        "slowest announce after a dump: {:.2} ms",
        worst.as_secs_f64() * 1000.0
    );
    tracker.stop()?;
    Ok(())
}
