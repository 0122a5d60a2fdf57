//! BEP 15 over loopback: IPv4 and IPv6 round trips, limits, malformed input.

mod common;

use magnetar_shared::InfoHash;
use magnetar_tracker::client::{encode_announce, ClientError};
use magnetar_tracker::protocol::{AnnounceRequest, Event, PeerId, PROTOCOL_ID};

const HASH: InfoHash = InfoHash([0x11; 20]);

fn peer(n: u8) -> PeerId {
    PeerId([n; 20])
}

#[test]
fn connect_reply_has_exact_layout_on_both_families() {
    let t = common::start();
    for addr in [t.v4, t.v6] {
        let c = t.client(addr);
        let mut req = PROTOCOL_ID.to_be_bytes().to_vec();
        req.extend_from_slice(&[0, 0, 0, 0, 0xca, 0xfe, 0xba, 0xbe]);
        let reply = c.raw(&req).unwrap().expect("connect reply");
        assert_eq!(reply.len(), 16);
        assert_eq!(&reply[..8], &[0, 0, 0, 0, 0xca, 0xfe, 0xba, 0xbe]);
    }
}

#[test]
fn announce_and_scrape_round_trip_over_ipv4_and_ipv6() {
    let t = common::start();
    let mut a = t.client(t.v4);
    let mut b = t.client(t.v4);
    let mut c6 = t.client(t.v6);

    let r = a
        .announce(HASH, peer(1), 1001, 0, Event::Started, -1)
        .unwrap();
    assert_eq!((r.interval, r.seeders, r.leechers), (1800, 1, 0));
    assert!(r.peers.is_empty(), "never the requester itself");

    let r = b
        .announce(HASH, peer(2), 1002, 100, Event::Started, -1)
        .unwrap();
    assert_eq!((r.seeders, r.leechers), (1, 1));
    assert_eq!(r.peers, vec!["127.0.0.1:1001".parse().unwrap()]);

    // An IPv6 peer joins the same swarm: counts include both families,
    // its peer list holds only IPv6 peers (18-byte entries).
    let r = c6
        .announce(HASH, peer(3), 1003, 100, Event::Started, -1)
        .unwrap();
    assert_eq!((r.seeders, r.leechers), (1, 2));
    assert!(r.peers.is_empty());
    let r = a.announce(HASH, peer(1), 1001, 0, Event::None, -1).unwrap();
    assert_eq!(r.peers, vec!["127.0.0.1:1002".parse().unwrap()]);

    // Raw reply layout: 20-byte header + 6 bytes per IPv4 peer.
    let id = b.connect().unwrap();
    let raw = b
        .raw(&encode_announce(&AnnounceRequest {
            connection_id: id,
            transaction_id: 77,
            info_hash: HASH,
            peer_id: peer(2),
            downloaded: 0,
            left: 100,
            uploaded: 0,
            event: Event::None,
            key: 0,
            num_want: 10,
            port: 1002,
        }))
        .unwrap()
        .unwrap();
    assert_eq!(raw.len(), 20 + 6);
    assert_eq!(&raw[..8], &[0, 0, 0, 1, 0, 0, 0, 77]);
    assert_eq!(&raw[8..20], &[0, 0, 7, 8, 0, 0, 0, 2, 0, 0, 0, 1]);
    assert_eq!(&raw[20..], &[127, 0, 0, 1, 0x03, 0xe9]);

    // Scrape over both families, answered in request order.
    let other = InfoHash([0x22; 20]);
    for client in [&mut a, &mut c6] {
        let s = client.scrape(&[other, HASH]).unwrap();
        assert_eq!((s[0].seeders, s[0].leechers, s[0].completed), (0, 0, 0));
        assert_eq!((s[1].seeders, s[1].leechers, s[1].completed), (1, 2, 0));
    }
}

#[test]
fn completed_increments_and_stopped_removes() {
    let t = common::start();
    let mut a = t.client(t.v4);
    let mut b = t.client(t.v6);
    a.announce(HASH, peer(1), 1001, 0, Event::Started, -1)
        .unwrap();
    b.announce(HASH, peer(2), 1002, 50, Event::Started, -1)
        .unwrap();
    let r = b
        .announce(HASH, peer(2), 1002, 0, Event::Completed, -1)
        .unwrap();
    assert_eq!((r.seeders, r.leechers), (2, 0));
    assert_eq!(a.scrape(&[HASH]).unwrap()[0].completed, 1);
    b.announce(HASH, peer(2), 1002, 0, Event::Stopped, -1)
        .unwrap();
    let s = a.scrape(&[HASH]).unwrap()[0];
    assert_eq!((s.seeders, s.leechers, s.completed), (1, 0, 1));
}

#[test]
fn port_zero_is_rejected() {
    let t = common::start();
    let mut a = t.client(t.v4);
    let err = a
        .announce(HASH, peer(1), 0, 0, Event::Started, -1)
        .unwrap_err();
    assert!(matches!(err, ClientError::Tracker(m) if m.contains("port")));
}

#[test]
fn forged_or_missing_connection_id_gets_no_amplified_reply() {
    let t = common::start();
    let a = t.client(t.v4);
    let forged = encode_announce(&AnnounceRequest {
        connection_id: 0x1234_5678_9abc_def0,
        transaction_id: 1,
        info_hash: HASH,
        peer_id: peer(1),
        downloaded: 0,
        left: 0,
        uploaded: 0,
        event: Event::Started,
        key: 0,
        num_want: 200,
        port: 1,
    });
    assert_eq!(a.raw(&forged).unwrap(), None, "forged announce: no reply");
    let mut scrape = 0x1234u64.to_be_bytes().to_vec();
    scrape.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 9]);
    scrape.extend_from_slice(&HASH.0);
    assert_eq!(a.raw(&scrape).unwrap(), None, "forged scrape: no reply");
    // A malformed request from an unverified source: any error reply is no
    // bigger than the request.
    let mut bad = 0x1234u64.to_be_bytes().to_vec();
    bad.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 9, 1]);
    if let Some(reply) = a.raw(&bad).unwrap() {
        assert!(reply.len() <= bad.len());
    }
    let s = t.snapshot();
    assert_eq!(s.bad_connection_id, 2);
    assert_eq!(s.total_requests(), 0);
}

#[test]
fn malformed_corpus_is_survived() {
    let t = common::start();
    let mut a = t.client(t.v4);
    let id = a.connect().unwrap();
    let header = |action: u32| {
        let mut b = id.to_be_bytes().to_vec();
        b.extend_from_slice(&action.to_be_bytes());
        b.extend_from_slice(&5u32.to_be_bytes());
        b
    };
    let mut wrong_protocol = 0x41727101981u64.to_be_bytes().to_vec();
    wrong_protocol.extend_from_slice(&[0; 8]);
    let scrape = |n: usize| {
        let mut b = header(2);
        b.extend(std::iter::repeat_n(3u8, n));
        b
    };
    let corpus: Vec<(Vec<u8>, Option<&str>)> = vec![
        (vec![], None),
        (vec![1], None),
        (wrong_protocol, None),
        ([header(1), vec![0; 40]].concat(), Some("truncated")),
        (scrape(0), Some("without")),
        (scrape(75 * 20), Some("too many")),
        (scrape(21), Some("multiple of 20")),
        (header(9), Some("unknown")),
        (vec![0xff; 65_000], None),
    ];
    for (packet, expected) in corpus {
        let reply = a.raw(&packet).unwrap();
        match expected {
            None => assert_eq!(reply, None, "{} bytes", packet.len()),
            Some(text) => {
                let reply = reply.expect("error reply");
                assert_eq!(&reply[..8], &[0, 0, 0, 3, 0, 0, 0, 5]);
                assert!(
                    String::from_utf8_lossy(&reply[8..]).contains(text),
                    "{text}"
                );
            }
        }
    }
    // Still serving.
    let r = a.announce(HASH, peer(1), 1, 0, Event::Started, -1).unwrap();
    assert_eq!(r.seeders, 1);
    assert!(t.snapshot().malformed >= 8);
}

#[test]
fn numwant_is_capped_so_replies_fit_one_datagram() {
    let t = common::start();
    let hash = InfoHash([0x33; 20]);
    // 300 IPv4 peers and 120 IPv6 peers from distinct ports.
    let mut v4 = t.client(t.v4);
    let mut v6 = t.client(t.v6);
    for n in 0..300u16 {
        let mut id = [0u8; 20];
        id[..2].copy_from_slice(&n.to_be_bytes());
        v4.announce(hash, PeerId(id), 2000 + n, 1, Event::Started, 0)
            .unwrap();
        if n < 120 {
            id[2] = 1;
            v6.announce(hash, PeerId(id), 4000 + n, 1, Event::Started, 0)
                .unwrap();
        }
    }
    let r = v4
        .announce(hash, PeerId([0xee; 20]), 9, 1, Event::None, 10_000)
        .unwrap();
    assert!(20 + r.peers.len() * 6 <= 1500);
    assert_eq!(r.peers.len(), 200, "max_numwant default");
    let r = v6
        .announce(hash, PeerId([0xef; 20]), 9, 1, Event::None, 10_000)
        .unwrap();
    assert!(20 + r.peers.len() * 18 <= 1500, "{}", r.peers.len());
    assert!(r.peers.len() >= 70);
    let r = v4
        .announce(hash, PeerId([0xee; 20]), 9, 1, Event::None, -1)
        .unwrap();
    assert_eq!(r.peers.len(), 50, "default numwant");
}

#[test]
fn statistics_count_requests_by_action_and_family() {
    let t = common::start();
    let mut a = t.client(t.v4);
    let mut b = t.client(t.v6);
    a.announce(HASH, peer(1), 1, 0, Event::Started, -1).unwrap();
    b.scrape(&[HASH]).unwrap();
    let text = t.prometheus();
    magnetar_shared::telemetry::check_exposition(&text).unwrap();
    assert!(
        text.contains("magnetar_tracker_requests_total{action=\"announce\",family=\"ipv4\"} 1"),
        "{text}"
    );
    assert!(text.contains("magnetar_tracker_requests_total{action=\"scrape\",family=\"ipv6\"} 1"));
    assert!(text.contains("magnetar_tracker_requests_total{action=\"connect\",family=\"ipv6\"} 1"));
    assert!(text.contains("magnetar_tracker_bytes_received_total "));
}

#[test]
fn access_list_allow_mode_refuses_unlisted_hashes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("allow.txt"), format!("{HASH}\n")).unwrap();
    let mut config = common::config(dir.path());
    config.tracker.access_list_mode = magnetar_shared::config::AccessListMode::Allow;
    config.tracker.access_list_path = Some("allow.txt".into());
    let tracker = magnetar_tracker::RunningTracker::start(&config).unwrap();
    let addr = tracker.local_addrs()[0];
    let mut c =
        magnetar_tracker::client::TrackerClient::new(addr, std::time::Duration::from_millis(500))
            .unwrap();
    assert!(c.announce(HASH, peer(1), 1, 0, Event::Started, -1).is_ok());
    let err = c
        .announce(InfoHash([0x99; 20]), peer(1), 1, 0, Event::Started, -1)
        .unwrap_err();
    assert!(matches!(err, ClientError::Tracker(m) if m.contains("not allowed")));
    tracker.stop().unwrap();
}

#[test]
fn access_list_file_changes_are_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("allow.txt");
    std::fs::write(&list, format!("{HASH}\n")).unwrap();
    let mut config = common::config(dir.path());
    config.tracker.access_list_mode = magnetar_shared::config::AccessListMode::Allow;
    config.tracker.access_list_path = Some("allow.txt".into());
    let tracker = magnetar_tracker::RunningTracker::start(&config).unwrap();
    let addr = tracker.local_addrs()[0];
    // The file watcher runs inside `serve`, on a runtime.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let shutdown = magnetar_shared::Shutdown::new();
    let stop = shutdown.clone();
    let serving =
        std::thread::spawn(move || rt.block_on(magnetar_tracker::serve(tracker, &config, stop)));
    let other = InfoHash([0x98; 20]);
    let mut c =
        magnetar_tracker::client::TrackerClient::new(addr, std::time::Duration::from_millis(300))
            .unwrap();
    assert!(c
        .announce(other, peer(1), 1, 0, Event::Started, -1)
        .is_err());
    // Rewrite until seen: the watcher may start after the first write.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        std::fs::write(&list, format!("{HASH}\n{other}\n")).unwrap();
        if c.announce(other, peer(1), 1, 0, Event::Started, -1).is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "access list change not picked up"
        );
    }
    shutdown.cancel();
    serving.join().unwrap().unwrap();
}

/// The gauges (`/metrics`, the catalog's `/stats`) count a torrent
/// announced after the start within seconds, not after a whole cleaning
/// interval (an hour here): while the last pass counted no torrent, the
/// first announces bring the next pass forward.
#[test]
fn gauges_count_a_torrent_announced_soon_after_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.tracker.cleaning_interval = 3600;
    let t = common::start_with(dir, &config);
    t.client(t.v4)
        .announce(HASH, peer(1), 6881, 0, Event::Started, -1)
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let s = t.snapshot();
        if (s.torrents, s.seeders) == (1, 1) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "torrents {}, seeders {}",
            s.torrents,
            s.seeders
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
