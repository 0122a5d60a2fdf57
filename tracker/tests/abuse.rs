//! The tracker under abuse, over real UDP on loopback: one host flooding
//! announces with fresh peer ids and info-hashes stays within its budgets
//! while another host is served normally; stopped-announces never reach
//! `infohash.bin`; a learned peer id cannot be hijacked; dumps never
//! shrink the history by accident.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use magnetar_shared::infohash_file::{read_infohash_file, write_sorted_unique};
use magnetar_shared::{Config, InfoHash};
use magnetar_tracker::client::{ClientError, TrackerClient};
use magnetar_tracker::protocol::{Event, PeerId};
use magnetar_tracker::RunningTracker;

fn hash(n: u32) -> InfoHash {
    let mut b = [0u8; 20];
    b[..4].copy_from_slice(&n.to_be_bytes());
    b[19] = 0xab;
    InfoHash(b)
}

fn peer(n: u32) -> PeerId {
    let mut b = [7u8; 20];
    b[..4].copy_from_slice(&n.to_be_bytes());
    PeerId(b)
}

fn client_from(local: &str, tracker: SocketAddr) -> TrackerClient {
    TrackerClient::from_address(
        local.parse::<IpAddr>().unwrap(),
        tracker,
        Duration::from_millis(500),
    )
    .unwrap()
}

fn limited(dir: &std::path::Path) -> Config {
    let mut c = common::config(dir);
    c.tracker.bind = vec!["127.0.0.1:0".parse().unwrap()];
    c.tracker.max_peers_per_source = 40;
    c.tracker.source_new_torrents_per_minute = 25;
    c.tracker.max_peers = 60;
    c.tracker.source_announce_rate = 1;
    c.tracker.source_announce_burst = 150;
    c
}

fn metric(t: &RunningTracker, line: &str) -> u64 {
    let text = t.shared().stats.snapshot().prometheus();
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line} in\n{text}"))
}

#[test]
fn a_flooding_source_is_held_to_its_budgets_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let t = RunningTracker::start(&limited(dir.path())).unwrap();
    let addr = t.local_addrs()[0];
    let mut flood = client_from("127.0.0.1", addr);
    let mut good = client_from("127.0.0.2", addr);
    let (mut ok, mut refused) = (0, Vec::new());
    for n in 0..200u32 {
        // Fresh peer id and fresh info-hash each time, as a flood would.
        match flood.announce(hash(n), peer(n), 6881, 100, Event::Started, -1) {
            Ok(_) => ok += 1,
            Err(ClientError::Tracker(msg)) => refused.push(msg),
            Err(e) => panic!("the flood got no answer: {e}"),
        }
        // The well-behaved host still gets correct answers mid-flood.
        if n % 20 == 0 {
            let h = hash(1_000_000 + n);
            let r = good
                .announce(h, PeerId([0x99; 20]), 7000, 0, Event::Started, -1)
                .expect("a well-behaved source is served during the flood");
            assert_eq!((r.seeders, r.leechers), (1, 0));
            assert_eq!(good.scrape(&[h]).unwrap()[0].seeders, 1);
        }
    }
    assert_eq!(ok, 25, "25 new torrents per minute for one source");
    assert!(
        refused.iter().any(|m| m.contains("new torrents")),
        "{refused:?}"
    );
    // Past the burst of 150 announces, the rate limit answers (1 per second).
    for n in 200..260u32 {
        let r = flood.announce(hash(0), peer(n), 6881, 100, Event::None, -1);
        if let Err(ClientError::Tracker(m)) = r {
            refused.push(m);
        }
    }
    assert!(
        refused.iter().any(|m| m.contains("slow down")),
        "{refused:?}"
    );
    // The first 150 announces fit the burst: 25 added, 125 over the
    // new-torrent budget; the rest were over the announce rate.
    let new_torrents = metric(
        &t,
        "magnetar_tracker_refused_total{reason=\"new_torrents\"}",
    );
    assert!((120..=175).contains(&new_torrents), "{new_torrents}");
    assert!(
        metric(
            &t,
            "magnetar_tracker_refused_total{reason=\"announce_rate\"}"
        ) > 0
    );
    // Peers held: the flood's 25 plus the good host's 10, under both budgets.
    let peers: usize = (0..200u32)
        .map(|n| t.shared().peers_of(&hash(n)).len())
        .sum();
    assert!(
        peers <= 40,
        "one source holds at most max_peers_per_source: {peers}"
    );
    // Only what passed the budgets was recorded for infohash.bin.
    t.stop().unwrap();
    let dumped = read_infohash_file(&dir.path().join("infohash.bin")).unwrap();
    assert_eq!(dumped.len(), 25 + 10);
}

#[test]
fn peers_per_source_and_the_global_budget_refuse_with_a_small_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = limited(dir.path());
    c.tracker.source_new_torrents_per_minute = 1_000;
    let t = RunningTracker::start(&c).unwrap();
    let addr = t.local_addrs()[0];
    let mut a = client_from("127.0.0.1", addr);
    let mut refused = 0;
    for n in 0..60u32 {
        match a.announce(hash(n), peer(n), 6881, 100, Event::Started, -1) {
            Ok(_) => {}
            Err(ClientError::Tracker(m)) => {
                assert!(m.contains("too many peers from your network"), "{m}");
                assert!(
                    8 + m.len() <= 98,
                    "an error is never bigger than the announce"
                );
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(refused, 20, "40 peers per source");
    // Other sources fill the global budget of 60, then everyone is refused.
    let mut b = client_from("127.0.0.3", addr);
    let mut budget_refusals = 0;
    for n in 100..140u32 {
        if let Err(ClientError::Tracker(m)) =
            b.announce(hash(n), peer(n), 6881, 100, Event::Started, -1)
        {
            assert!(m.contains("tracker is full"), "{m}");
            budget_refusals += 1;
        }
    }
    assert_eq!(budget_refusals, 20, "global budget of 60 peers");
    assert_eq!(
        metric(&t, "magnetar_tracker_refused_total{reason=\"peer_budget\"}"),
        20
    );
    assert_eq!(
        metric(
            &t,
            "magnetar_tracker_refused_total{reason=\"source_peers\"}"
        ),
        20
    );
}

#[test]
fn stopped_announces_of_unknown_hashes_never_reach_the_dump() {
    let mut t = common::start();
    let mut c = t.client(t.v4);
    for n in 0..300u32 {
        c.announce(hash(n), peer(n), 6881, 0, Event::Stopped, -1)
            .unwrap();
    }
    let real = hash(999_999);
    c.announce(real, peer(1), 6881, 0, Event::Started, -1)
        .unwrap();
    t.stop();
    assert_eq!(
        read_infohash_file(&t.dir.path().join("infohash.bin")).unwrap(),
        vec![real]
    );
}

#[test]
fn a_learned_peer_id_cannot_stop_or_move_another_hosts_peer() {
    let dir = tempfile::tempdir().unwrap();
    let t = RunningTracker::start(&limited(dir.path())).unwrap();
    let addr = t.local_addrs()[0];
    let mut owner = client_from("127.0.0.1", addr);
    let mut thief = client_from("127.0.0.4", addr);
    let h = hash(5);
    owner
        .announce(h, peer(1), 6881, 0, Event::Started, -1)
        .unwrap();
    let r = thief
        .announce(h, peer(1), 1, 0, Event::Stopped, -1)
        .unwrap();
    assert_eq!(r.seeders, 1, "the owner's peer is still there");
    thief.announce(h, peer(1), 1, 0, Event::None, -1).unwrap();
    assert_eq!(
        t.shared().peers_of(&h),
        vec!["127.0.0.1:6881".parse::<SocketAddr>().unwrap()],
        "not moved to the thief's address"
    );
}

#[test]
fn dumps_keep_the_previous_file_and_never_shrink_an_unloaded_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("infohash.bin");
    let history: Vec<InfoHash> = (0..50u32).map(hash).collect();
    write_sorted_unique(&path, &history).unwrap();
    // A leftover of a dump a crash interrupted.
    std::fs::write(dir.path().join(".infohash.bin.tmp.1.2"), b"junk").unwrap();
    let mut c = common::config(dir.path());
    c.tracker.max_hashes = 20;
    let t = RunningTracker::start(&c).unwrap();
    assert!(
        !dir.path().join(".infohash.bin.tmp.1.2").exists(),
        "stale temp file swept"
    );
    // The file held more than max_hashes: it was moved aside whole.
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("infohash.bin.unloaded-") && !n.ends_with(".seen"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        read_infohash_file(&dir.path().join(&aside[0])).unwrap(),
        history
    );
    assert_eq!(t.dump().unwrap(), 20);
    let first = read_infohash_file(&path).unwrap();
    let mut client = TrackerClient::new(t.local_addrs()[0], Duration::from_millis(500)).unwrap();
    client
        .announce(hash(7_000), peer(1), 1, 0, Event::Started, -1)
        .unwrap();
    t.dump().unwrap();
    assert_eq!(
        read_infohash_file(&dir.path().join("infohash.bin.prev")).unwrap(),
        first,
        "the previous dump is kept"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("infohash.bin.seen"))
            .unwrap()
            .len(),
        4 * read_infohash_file(&path).unwrap().len() as u64,
        "one last-seen time per hash"
    );
    t.stop().unwrap();
}

#[test]
fn last_seen_times_survive_a_restart_and_the_oldest_are_evicted_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("infohash.bin");
    let old: Vec<InfoHash> = (0..10u32).map(hash).collect();
    write_sorted_unique(&path, &old).unwrap();
    // Last seen in 2001, long before anything announced now.
    std::fs::write(
        dir.path().join("infohash.bin.seen"),
        1_000_000_000u32.to_le_bytes().repeat(10),
    )
    .unwrap();
    let mut c = common::config(dir.path());
    c.tracker.max_hashes = 20;
    c.tracker.cleaning_interval = 1;
    let t = RunningTracker::start(&c).unwrap();
    let mut client = TrackerClient::new(t.local_addrs()[0], Duration::from_millis(500)).unwrap();
    // Fill to the 95% mark with fresh hashes: the next cleaning pass evicts
    // down to 90%, and the old ones go first.
    for n in 100..109u32 {
        client
            .announce(hash(n), peer(n), 1, 0, Event::Started, -1)
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while metric(&t, "magnetar_tracker_hashes_evicted_total") == 0 {
        assert!(std::time::Instant::now() < deadline, "no eviction pass");
        std::thread::sleep(Duration::from_millis(50));
    }
    t.stop().unwrap();
    let kept = read_infohash_file(&path).unwrap();
    assert_eq!(kept.len(), 18);
    assert!(
        (100..109u32).all(|n| kept.contains(&hash(n))),
        "fresh hashes kept"
    );
    assert_eq!(
        old.iter().filter(|h| kept.contains(h)).count(),
        9,
        "one old hash evicted"
    );
}
