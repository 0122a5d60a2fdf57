//! Crawler benchmark harness: seeds N small torrents on loopback (one
//! librqbit seeder, the magnetar tracker), then resolves all of them with
//! concurrency 1 and with concurrency 32 and prints both wall times, the
//! speed-up and the median resolve time. Run by `bench/crawler.sh`.
//!
//! Usage: cargo run --release -p magnetar-crawler --example bench_resolve -- [N]

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_crawler::seeder::Seeder;
use magnetar_crawler::status::Counters;
use magnetar_crawler::{run_with, Options};
use magnetar_shared::infohash_file::write_infohash_file;
use magnetar_shared::{Config, InfoHash, Shutdown};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let work = tempfile::tempdir()?;

    let mut tconfig = Config::with_data_dir(work.path().join("tracker"));
    tconfig.tracker.bind = vec!["127.0.0.1:0".parse()?];
    tconfig.tracker.workers = 1;
    let tracker = magnetar_tracker::RunningTracker::start(&tconfig)?;
    let addr = tracker.local_addrs()[0];

    eprintln!("seeding {n} torrents on loopback…");
    let seeder = Seeder::start(&work.path().join("seeder"), [127, 0, 0, 1].into()).await?;
    let mut hashes: Vec<InfoHash> = Vec::with_capacity(n);
    for i in 0..n {
        let dir = work.path().join("content").join(format!("bench-{i:05}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("a.txt"),
            format!("bench torrent {i}\n").repeat(100),
        )?;
        std::fs::write(dir.join("b.bin"), vec![i as u8; 5000])?;
        let (hash, _) = seeder
            .seed(&dir, vec![format!("udp://{addr}/announce")])
            .await?;
        hashes.push(hash);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while hashes
        .iter()
        .any(|h| tracker.shared().peers_of(h).is_empty())
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "seeder did not announce everything"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut results = Vec::new();
    for concurrency in [1usize, 32] {
        let data = work.path().join(format!("crawl-{concurrency}"));
        std::fs::create_dir_all(&data)?;
        write_infohash_file(&data.join("infohash.bin"), hashes.clone())?;
        let mut config = Config::with_data_dir(&data);
        config.crawler.trackers = vec![format!("udp://{addr}/announce")];
        config.crawler.dht = false;
        config.crawler.concurrency = concurrency;
        config.crawler.timeout = 30;
        config.crawler.status_interval = 3600;
        let counters = Arc::new(Counters::default());
        let started = Instant::now();
        run_with(
            config,
            Shutdown::new(),
            Options {
                once: true,
                counters: Some(counters.clone()),
                ..Default::default()
            },
        )
        .await?;
        let elapsed = started.elapsed();
        let resolved = counters.resolved.load(Relaxed);
        eprintln!(
            "concurrency {concurrency:>2}: {resolved}/{n} resolved in {:.2}s",
            elapsed.as_secs_f64()
        );
        results.push((concurrency, elapsed, resolved));
    }
    let (c1, c32) = (results[0].1.as_secs_f64(), results[1].1.as_secs_f64());
    println!("torrents                 {n}");
    println!(
        "concurrency 1            {c1:.2} s ({} resolved, {:.0} ms mean resolve, target < 500)",
        results[0].2,
        c1 * 1000.0 / n as f64
    );
    println!(
        "concurrency 32           {c32:.2} s ({} resolved)",
        results[1].2
    );
    println!("speed-up 32 vs 1         {:.1}x (target >= 8x)", c1 / c32);
    seeder.stop().await;
    tracker.stop()?;
    Ok(())
}
