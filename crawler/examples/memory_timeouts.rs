//! Memory of the crawler over many `list_only` timeouts (librqbit has an open
//! report of growth in this case): N unknown hashes, each "found" at a peer
//! that accepts TCP and never answers, so every resolve runs into its timeout.
//! Prints resident memory as the resolves go by.
//!
//! Usage: cargo run --release -p magnetar-crawler --example memory_timeouts -- [N] [RECYCLE_AFTER]

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use magnetar_crawler::status::Counters;
use magnetar_crawler::{run_with, Options};
use magnetar_shared::infohash_file::write_infohash_file;
use magnetar_shared::telemetry::resident_memory_bytes;
use magnetar_shared::{Config, InfoHash, Shutdown};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3000);
    let recycle: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let dir = tempfile::tempdir()?;
    // A silent peer: accepts connections and holds them open.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let peer = silent.local_addr()?;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
            if held.len() > 512 {
                held.remove(0);
            }
        }
    });
    let hashes: Vec<InfoHash> = (0..n)
        .map(|i| {
            let mut b = [7u8; 20];
            b[..4].copy_from_slice(&i.to_be_bytes());
            InfoHash(b)
        })
        .collect();
    write_infohash_file(&dir.path().join("infohash.bin"), hashes)?;
    let mut config = Config::with_data_dir(dir.path());
    config.crawler.trackers = vec![];
    config.crawler.dht = false;
    config.crawler.initial_peers = vec![peer];
    config.crawler.timeout = 1;
    config.crawler.concurrency = 32;
    config.crawler.status_interval = 3600;
    config.crawler.session_recycle_after = recycle;
    let counters = Arc::new(Counters::default());
    let c2 = counters.clone();
    let mb = || resident_memory_bytes().unwrap_or(0) as f64 / 1048576.0;
    println!("start: {:.1} MiB", mb());
    let sampler = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            println!("{:>6} failed: {:.1} MiB", c2.failed.load(Relaxed), mb());
        }
    });
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
    sampler.abort();
    println!(
        "end: {} timeouts, {:.1} MiB",
        counters.timeouts.load(Relaxed),
        mb()
    );
    Ok(())
}
