//! Helpers for catalog tests: synthetic torrents, an app on a temp data dir.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use magnetar_shared::metainfo::build_torrent_file;
use magnetar_shared::{Config, InfoHash, Shutdown};
use rocket::local::asynchronous::Client;

/// Bencodes an info dict for `files` (path components, length).
pub fn info_dict(name: &str, files: &[(&[&str], u64)]) -> Vec<u8> {
    fn s(out: &mut Vec<u8>, b: &str) {
        out.extend_from_slice(format!("{}:{}", b.len(), b).as_bytes());
    }
    let piece_length: u64 = 16384;
    let mut v = b"d5:filesl".to_vec();
    let mut total = 0;
    for (path, len) in files {
        total += len;
        v.extend_from_slice(format!("d6:lengthi{len}e4:pathl").as_bytes());
        for c in *path {
            s(&mut v, c);
        }
        v.extend_from_slice(b"ee");
    }
    v.extend_from_slice(b"e4:name");
    s(&mut v, name);
    v.extend_from_slice(format!("12:piece lengthi{piece_length}e6:pieces").as_bytes());
    let pieces = total.div_ceil(piece_length) as usize;
    v.extend_from_slice(format!("{}:", pieces * 20).as_bytes());
    v.extend(std::iter::repeat_n(0x5a, pieces * 20));
    v.push(b'e');
    v
}

/// A complete `.torrent` and its info-hash.
pub fn torrent(name: &str, files: &[(&[&str], u64)], comment: Option<&str>) -> (InfoHash, Vec<u8>) {
    let info = info_dict(name, files);
    let hash = InfoHash::of_info_bytes(&info);
    let bytes = build_torrent_file(
        &info,
        &["udp://tracker.example:6969/announce".into()],
        comment,
        Some("test"),
        None,
    );
    (hash, bytes)
}

/// Writes a torrent into `preload/` the way the crawler does.
pub fn add(data: &Path, name: &str, files: &[(&[&str], u64)], comment: Option<&str>) -> InfoHash {
    let (hash, bytes) = torrent(name, files, comment);
    let preload = data.join("preload");
    std::fs::create_dir_all(&preload).unwrap();
    magnetar_shared::write_atomic(&preload.join(format!("{hash}.torrent")), &bytes).unwrap();
    hash
}

pub fn config(data: &Path) -> Config {
    let mut c = Config::with_data_dir(data);
    c.catalog.base_url = "http://[200:1::2]:8000/".into();
    c.catalog.public_trackers = vec!["udp://[200:1::2]:6969/announce".into()];
    c.catalog.scrape_trackers = vec![];
    c.catalog.swarm_wait_ms = 300;
    c
}

pub async fn client(config: &Config) -> (Client, Shutdown) {
    let shutdown = Shutdown::new();
    let rocket = magnetar_catalog::build(config, shutdown.clone()).unwrap();
    (Client::tracked(rocket).await.unwrap(), shutdown)
}

/// [`client`] whose indexer holds its first build until the sender sends
/// (or is dropped): the "still indexing" window, made certain.
pub async fn client_held(config: &Config) -> (Client, Shutdown, std::sync::mpsc::Sender<()>) {
    let shutdown = Shutdown::new();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let hold: magnetar_catalog::Hold = Box::new(move || {
        let _ = held.recv();
    });
    let rocket = magnetar_catalog::build_held(config, shutdown.clone(), Some(hold)).unwrap();
    (Client::tracked(rocket).await.unwrap(), shutdown, release)
}

/// Polls `cond` until it holds or 10 s pass.
pub async fn eventually<F, Fut>(what: &str, cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    within(10, what, cond).await
}

/// Polls `cond` until it holds; fails after `secs` seconds.
pub async fn within<F, Fut>(secs: u64, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GET and return (status, body).
pub async fn get(client: &Client, uri: &str) -> (u16, String) {
    let r = client.get(uri.to_owned()).dispatch().await;
    let status = r.status().code;
    (status, r.into_string().await.unwrap_or_default())
}

/// Waits until a search for `q` returns `expected` results.
pub async fn wait_for_count(client: &Client, q: &str, expected: usize) {
    let uri = format!(
        "/api/v1/search?q={}",
        percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC)
    );
    eventually(&format!("{expected} result(s) for {q:?}"), || async {
        let (_, body) = get(client, &uri).await;
        serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["total"].as_u64())
            == Some(expected as u64)
    })
    .await;
}
