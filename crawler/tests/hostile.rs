//! Hostile metadata from peers and broken sources never crash the crawler
//! and never write outside the preload dir.

mod common;

use std::time::Duration;

use magnetar_crawler::{run_with, Options};
use magnetar_shared::infohash_file::write_infohash_file;
use magnetar_shared::{Config, Shutdown, TorrentMeta};

fn single(name: &str, piece_length: i64) -> Vec<u8> {
    let mut v = format!(
        "d6:lengthi100e4:name{}:{name}12:piece lengthi{piece_length}e6:pieces20:",
        name.len()
    )
    .into_bytes();
    v.extend_from_slice(&[1u8; 20]);
    v.push(b'e');
    v
}

fn multi(paths: &[&[&str]]) -> Vec<u8> {
    let mut v = b"d5:filesl".to_vec();
    for p in paths {
        v.extend_from_slice(b"d6:lengthi1e4:pathl");
        for c in *p {
            v.extend_from_slice(format!("{}:{c}", c.len()).as_bytes());
        }
        v.extend_from_slice(b"ee");
    }
    let pieces = (paths.len() as u64).div_ceil(16384) as usize;
    v.extend_from_slice(
        format!(
            "e4:name4:evil12:piece lengthi16384e6:pieces{}:",
            pieces * 20
        )
        .as_bytes(),
    );
    v.extend(std::iter::repeat_n(2u8, pieces * 20));
    v.push(b'e');
    v
}

fn offline_config(data: &std::path::Path, peer: std::net::SocketAddr) -> Config {
    let mut c = Config::with_data_dir(data);
    c.crawler.trackers = vec![];
    c.crawler.dht = false;
    c.crawler.initial_peers = vec![peer];
    c.crawler.timeout = 5;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_metadata_is_rejected_and_the_good_torrent_still_lands() {
    common::init_logs();
    let deep = format!(
        "d4:name1:x1:z{}{}e",
        "l".repeat(100_000),
        "e".repeat(100_000)
    )
    .into_bytes();
    let traversal = multi(&[&["..", "..", "etc", "passwd"]]);
    let names: Vec<[String; 1]> = (0..200_000).map(|i| [format!("f{i}")]).collect();
    let name_refs: Vec<[&str; 1]> = names.iter().map(|[n]| [n.as_str()]).collect();
    let many: Vec<&[&str]> = name_refs.iter().map(|a| &a[..]).collect();
    let too_many = multi(&many);
    let good = single("good.txt", 128);
    let (peer, hashes) =
        common::fake_peer::serve(vec![deep, single("zero", 0), traversal, too_many, good]).await;

    let data = tempfile::tempdir().unwrap();
    write_infohash_file(&data.path().join("infohash.bin"), hashes.clone()).unwrap();
    let counters = common::crawl_once(offline_config(data.path(), peer), 60).await;

    let good_hash = hashes[4];
    let written = std::fs::read(
        data.path()
            .join("preload")
            .join(format!("{good_hash}.torrent")),
    )
    .expect("good torrent written");
    assert_eq!(
        TorrentMeta::from_torrent_bytes(&written).unwrap().name,
        "good.txt"
    );
    for bad in &hashes[..4] {
        assert!(
            !data
                .path()
                .join("preload")
                .join(format!("{bad}.torrent"))
                .exists(),
            "{bad} rejected"
        );
    }
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(counters.resolved.load(Relaxed), 1);
    assert_eq!(counters.failed.load(Relaxed), 4);
    // Piece length 0 panics inside librqbit (contained); 200 000 unique files
    // pass librqbit and are stopped by magnetar's own validator.
    assert_eq!(counters.rejected.load(Relaxed), 2);
    // Nothing written anywhere but the expected places.
    let mut names: Vec<String> = walk(data.path());
    names.sort();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("preload/") || n.starts_with("crawler/") || n == "infohash.bin"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("passwd")));
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_sources_are_survived_and_new_hashes_picked_up() {
    common::init_logs();
    let good = single("fresh.txt", 128);
    let later = single("later.txt", 128);
    let (peer, hashes) = common::fake_peer::serve(vec![good, later]).await;
    let data = tempfile::tempdir().unwrap();
    let bin = data.path().join("infohash.bin");
    // Garbage first (a 7-byte file: a partial record).
    std::fs::write(&bin, b"garbage").unwrap();
    let shutdown = Shutdown::new();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = offline_config(data.path(), peer);
    config.crawler.metrics_addr = Some(format!("127.0.0.1:{metrics_port}").parse().unwrap());
    let running = tokio::spawn(run_with(config, shutdown.clone(), Options::default()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!running.is_finished(), "crawler survives a garbage source");

    // Replaced with a real list: picked up by the watcher.
    write_infohash_file(&bin, vec![hashes[0]]).unwrap();
    let first = data
        .path()
        .join("preload")
        .join(format!("{}.torrent", hashes[0]));
    wait_until(|| first.exists(), "first hash resolved").await;
    // The metrics endpoint serves valid Prometheus text with the progress.
    let text = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", metrics_port))
            .await
            .unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        body.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
    };
    magnetar_shared::telemetry::check_exposition(&text).unwrap();
    assert!(text.contains("magnetar_crawler_resolved_total 1"), "{text}");

    // Truncated mid-record, then removed, then rewritten with a new hash.
    std::fs::write(&bin, &hashes[0].0[..13]).unwrap();
    std::fs::remove_file(&bin).unwrap();
    write_infohash_file(&bin, vec![hashes[0], hashes[1]]).unwrap();
    let second = data
        .path()
        .join("preload")
        .join(format!("{}.torrent", hashes[1]));
    wait_until(|| second.exists(), "new hash picked up").await;
    assert!(!running.is_finished());
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

async fn wait_until(mut f: impl FnMut() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Serves `body` to every HTTP request on loopback; returns the URL.
async fn serve_http(body: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    format!("http://{addr}/infohash.bin")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sources_are_fetched_and_size_capped() {
    common::init_logs();
    let (peer, hashes) =
        common::fake_peer::serve(vec![single("remote.txt", 128), single("toolarge.txt", 128)])
            .await;
    let small = serve_http(hashes[0].0.to_vec()).await;
    let big = serve_http(hashes[1].0.repeat(100)).await;
    let data = tempfile::tempdir().unwrap();
    let mut config = offline_config(data.path(), peer);
    config.crawler.sources = vec![small, big];
    config.crawler.max_source_bytes = 1000;
    common::crawl_once(config, 30).await;
    let preload = data.path().join("preload");
    assert!(
        preload.join(format!("{}.torrent", hashes[0])).exists(),
        "hash from the HTTP source resolved"
    );
    assert!(
        !preload.join(format!("{}.torrent", hashes[1])).exists(),
        "a source over max_source_bytes is skipped"
    );
}
