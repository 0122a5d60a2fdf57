//! Two instances on loopback: B federates A. A crawls a seeded torrent;
//! once the seeder is gone, B still lists it, with metadata from A's
//! catalog (hash-verified), learned from A; a sync with nothing new
//! transfers no body.

mod common;

use std::net::SocketAddr;

use common::{eventually, http_get_with, start_up, stop_up};
use magnetar_crawler::seeder::Seeder;
use magnetar_shared::Config;

fn body(addr: SocketAddr, path: &str) -> String {
    String::from_utf8_lossy(&http_get_with(addr, path, "").1).into_owned()
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

fn config(data: &std::path::Path) -> Config {
    let mut config = Config::with_data_dir(data);
    config.tracker.bind = vec!["127.0.0.1:0".parse().unwrap()];
    config.tracker.workers = 1;
    config.tracker.dump_interval = 1;
    config.crawler.dht = false;
    config.crawler.timeout = 10;
    config.crawler.poll_interval = 1;
    config.crawler.status_interval = 1;
    config.catalog.bind = "127.0.0.1:0".parse().unwrap();
    config.catalog.client_requests_per_sec = 0.0;
    config
}

/// B's crawler status (`federation` counters).
fn federation_status(data: &std::path::Path) -> serde_json::Value {
    std::fs::read(data.join("crawler/status.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|s| s["federation"].clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_lists_a_s_torrents_after_a_s_seeders_are_gone() {
    let a_dir = tempfile::tempdir().unwrap();
    let (a, a_stop, a_running) = start_up(config(a_dir.path())).await;
    let tracker = a.trackers[0];

    let seed_dir = tempfile::tempdir().unwrap();
    let content = seed_dir.path().join("Glacier Calving Footage");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("calving.mkv"), vec![3u8; 200_000]).unwrap();
    let seeder = Seeder::start(&seed_dir.path().join("session"), [127, 0, 0, 1].into())
        .await
        .unwrap();
    let (hash, _) = seeder
        .seed(&content, vec![format!("udp://{tracker}/announce")])
        .await
        .unwrap();
    eventually("A lists the seeded torrent", 60, || {
        body(a.catalog, "/search?q=glacier").contains(&hash.to_hex())
    })
    .await;
    // The seeders are gone: from now on only A's metadata can tell B.
    seeder.stop().await;

    // A's export: its tracker's infohash.bin, raw, with validators that
    // answer 304; and its list of torrents.
    let (head, raw) = http_get_with(a.catalog, "/infohash.bin", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(raw.len() % 20 == 0 && raw.chunks(20).any(|c| c == hash.as_bytes()));
    let etag = header(&head, "etag").expect("an ETag");
    let modified = header(&head, "last-modified").expect("a Last-Modified");
    let (head, raw) = http_get_with(
        a.catalog,
        "/infohash.bin",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert!(head.starts_with("HTTP/1.1 304") && raw.is_empty(), "{head}");
    let (head, _) = http_get_with(
        a.catalog,
        "/infohash.bin",
        &format!("If-Modified-Since: {modified}\r\n"),
    );
    assert!(head.starts_with("HTTP/1.1 304"), "{head}");
    let list: serde_json::Value =
        serde_json::from_str(&body(a.catalog, "/federation/v1/torrents?limit=10")).unwrap();
    assert_eq!(list["hashes"], serde_json::json!([hash.to_hex()]));
    assert_eq!(list["more"], false);
    let after = list["next"].as_str().unwrap().to_owned();
    let rest: serde_json::Value = serde_json::from_str(&body(
        a.catalog,
        &format!("/federation/v1/torrents?after={after}"),
    ))
    .unwrap();
    assert_eq!(
        rest["hashes"],
        serde_json::json!([]),
        "nothing after the last"
    );
    let (head, _) = http_get_with(a.catalog, "/federation/v1/torrents?after=junk", "");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(
        body(a.catalog, &format!("/api/v1/torrent/{hash}"))
            .contains(r#""origin":{"kind":"tracker"}"#),
        "A learned it from its own tracker"
    );

    // B federates A. Its own tracker never saw the hash and no seeder is
    // left, so the torrent can only come from A.
    let b_dir = tempfile::tempdir().unwrap();
    let a_base = format!("http://{}", a.catalog);
    let mut b_config = config(b_dir.path());
    b_config.federation.peers = vec![a_base.clone()];
    b_config.federation.sync_interval = 1;
    b_config.federation.swarm_timeout = 1;
    let (b, b_stop, b_running) = start_up(b_config).await;
    eventually("B lists A's torrent", 60, || {
        body(b.catalog, "/search?q=glacier").contains(&hash.to_hex())
    })
    .await;
    let stored = std::fs::read(b_dir.path().join(format!("preload/{hash}.torrent"))).unwrap();
    let meta = magnetar_shared::TorrentMeta::from_torrent_bytes(&stored).unwrap();
    assert_eq!(meta.info_hash, hash, "the info dict hashes to the hash");
    assert_eq!(
        meta.origin,
        Some(magnetar_shared::Origin::Peer(a_base.clone()))
    );
    let origin = format!(r#""origin":{{"kind":"peer","url":"{a_base}"}}"#);
    assert!(body(b.catalog, "/api/v1/search?q=glacier").contains(&origin));
    assert!(body(b.catalog, &format!("/api/v1/torrent/{hash}")).contains(&origin));
    // Filters by origin: by kind and by the peer.
    assert!(body(b.catalog, "/api/v1/search?origin=peer").contains(&hash.to_hex()));
    let by_peer = format!(
        "/api/v1/search?origin=peer%20{}",
        a_base.replace(':', "%3A")
    );
    assert!(body(b.catalog, &by_peer).contains(&hash.to_hex()));
    assert!(!body(b.catalog, "/api/v1/search?origin=tracker").contains(&hash.to_hex()));
    let (head, _) = http_get_with(b.catalog, "/api/v1/search?origin=dht", "");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let page = body(b.catalog, &format!("/{hash}"));
    assert!(
        page.contains(&format!("<code>{a_base}</code>")),
        "the detail page says where from"
    );
    eventually("B's status counts the .torrent taken from A", 10, || {
        federation_status(b_dir.path())["fetched"].as_u64() >= Some(1)
    })
    .await;

    // Syncs with nothing new: A's infohash.bin answers 304, its list an
    // empty page; no hash is transferred again.
    let before = federation_status(b_dir.path());
    let syncs = |s: &serde_json::Value| s["syncs"].as_u64().unwrap_or(0);
    let n = syncs(&before);
    eventually("four more syncs", 40, || {
        syncs(&federation_status(b_dir.path())) >= n + 4
    })
    .await;
    let after = federation_status(b_dir.path());
    let grew = |k: &str| after[k].as_u64().unwrap_or(0) - before[k].as_u64().unwrap_or(0);
    assert!(
        grew("not_modified") >= 4,
        "infohash.bin unchanged: 304 ({before} -> {after})"
    );
    // A sync counts its page's bytes before it counts itself, so a status
    // written in the middle of one holds one page more than its syncs. An
    // empty page is as long as `rest`; one that sends the hash again is 42
    // bytes longer, so k >= 4 such syncs (k * (empty + 42)) exceed this
    // bound ((k + 1) * empty) for any page shorter than 168 bytes.
    let empty_page = rest.to_string().len() as u64;
    assert!(empty_page < 4 * 42, "{rest}");
    assert!(
        grew("bytes") <= (grew("syncs") + 1) * empty_page,
        "only empty pages: {before} -> {after}"
    );
    assert_eq!(after["errors"], before["errors"], "no sync failed");

    stop_up(b_stop, b_running).await;
    stop_up(a_stop, a_running).await;
}
