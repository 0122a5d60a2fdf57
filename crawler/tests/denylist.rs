//! `data/denylist` in the crawler: denied hashes are never resolved, a name
//! rule keeps matching metadata out of `preload/`, and a hash denied while
//! its resolve runs is stopped within seconds (and queued again when the
//! entry is removed).

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use magnetar_shared::denylist::{edit, Entry, FILE_NAME};
use magnetar_shared::infohash_file::write_infohash_file;
use magnetar_shared::{Config, InfoHash, Shutdown};

fn single(name: &str) -> Vec<u8> {
    let mut v = format!(
        "d6:lengthi100e4:name{}:{name}12:piece lengthi16384e6:pieces20:",
        name.len()
    )
    .into_bytes();
    v.extend_from_slice(&[1u8; 20]);
    v.push(b'e');
    v
}

fn config(data: &std::path::Path, peer: std::net::SocketAddr) -> Config {
    let mut c = Config::with_data_dir(data);
    c.crawler.trackers = vec![];
    c.crawler.dht = false;
    c.crawler.initial_peers = vec![peer];
    c.crawler.timeout = 30;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_hashes_and_name_rules_never_reach_preload() {
    common::init_logs();
    let (peer, hashes) = common::fake_peer::serve(vec![
        single("fine.txt"),
        single("Some.Bad.Words.2024.mkv"),
        single("blocked.txt"),
    ])
    .await;
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join(FILE_NAME),
        format!("{} takedown\nname: bad words\n", hashes[2]),
    )
    .unwrap();
    write_infohash_file(&data.path().join("infohash.bin"), hashes.clone()).unwrap();
    let counters = common::crawl_once(config(data.path(), peer), 60).await;
    let stored = |h: &InfoHash| {
        data.path()
            .join("preload")
            .join(format!("{h}.torrent"))
            .exists()
    };
    assert!(stored(&hashes[0]));
    assert!(!stored(&hashes[1]), "a name rule keeps it out");
    assert!(!stored(&hashes[2]), "a denied hash is never resolved");
    assert_eq!(counters.resolved.load(Relaxed), 1);
    assert_eq!(counters.failed.load(Relaxed), 0);
    assert_eq!(counters.denied.load(Relaxed), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolve_in_flight_stops_when_its_hash_is_denied_and_returns_when_allowed() {
    common::init_logs();
    // A peer that takes connections and never answers: the resolve waits
    // (30 s timeout).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = silent.local_addr().unwrap();
    let nobody = InfoHash([0x44; 20]);
    let data = tempfile::tempdir().unwrap();
    write_infohash_file(&data.path().join("infohash.bin"), vec![nobody]).unwrap();
    let counters = std::sync::Arc::new(magnetar_crawler::status::Counters::default());
    let options = magnetar_crawler::Options {
        counters: Some(counters.clone()),
        ..Default::default()
    };
    let shutdown = Shutdown::new();
    let running = tokio::spawn(magnetar_crawler::run_with(
        config(data.path(), peer),
        shutdown.clone(),
        options,
    ));
    let wait = |what: &'static str, f: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(5);
        let ok = loop {
            if f() {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(ok, "within 5 s: {what}");
    };
    let c = counters.clone();
    tokio::task::spawn_blocking(move || {
        wait("the resolve starts", &|| c.in_flight.load(Relaxed) == 1);
    })
    .await
    .unwrap();
    let path = data.path().join(FILE_NAME);
    edit(&path, &Entry::Hash(nobody, None), false).unwrap();
    let c = counters.clone();
    tokio::task::spawn_blocking(move || {
        wait("the resolve stops", &|| {
            c.in_flight.load(Relaxed) == 0 && c.denied.load(Relaxed) == 1
        });
    })
    .await
    .unwrap();
    edit(&path, &Entry::Hash(nobody, None), true).unwrap();
    let c = counters.clone();
    tokio::task::spawn_blocking(move || {
        wait("the resolve starts again", &|| {
            c.in_flight.load(Relaxed) == 1
        });
    })
    .await
    .unwrap();
    assert_eq!(counters.failed.load(Relaxed), 0);
    shutdown.cancel();
    drop(silent);
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
