//! `data/denylist` in the tracker: a denied hash is refused over UDP and
//! HTTP with a reason, scrapes show it empty, a hash denied while running
//! is refused within seconds (file watcher) and leaves `infohash.bin`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use magnetar_shared::denylist::{edit, Entry, FILE_NAME};
use magnetar_shared::InfoHash;
use magnetar_tracker::client::{ClientError, TrackerClient};
use magnetar_tracker::protocol::{Event, PeerId};

fn blocked(c: &mut TrackerClient, h: InfoHash, peer: u8) -> bool {
    match c.announce(h, PeerId([peer; 20]), 6881, 0, Event::Started, -1) {
        Err(ClientError::Tracker(m)) => {
            assert!(m.contains("blocked"), "another refusal: {m}");
            true
        }
        Ok(_) => false,
        Err(e) => panic!("announce failed: {e}"),
    }
}

#[test]
fn denied_hashes_are_refused_hidden_from_scrapes_and_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let denied = InfoHash([0x51; 20]);
    let later = InfoHash([0x52; 20]);
    let fine = InfoHash([0x53; 20]);
    std::fs::write(
        dir.path().join(FILE_NAME),
        format!("# takedowns\nmagnet:?xt=urn:btih:{denied}&dn=x notice 7\n"),
    )
    .unwrap();
    let mut t = common::start_in(dir);
    let tracker = t.tracker.as_ref().unwrap();
    let http = tracker.http_addrs()[0];
    let mut c = t.client(t.v4);

    assert!(blocked(&mut c, denied, 1), "denied at start");
    assert!(!blocked(&mut c, later, 1) && !blocked(&mut c, fine, 1));
    // Over HTTP: a failure reason.
    let mut s = TcpStream::connect_timeout(&http, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let esc = |b: &[u8]| b.iter().map(|c| format!("%{c:02x}")).collect::<String>();
    write!(
        s,
        "GET /announce?info_hash={}&peer_id={}&port=7000&left=0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        esc(&denied.0),
        esc(&[9; 20])
    )
    .unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.contains("failure reason") && reply.contains("blocked"),
        "{reply}"
    );

    // Denied while running: refused within seconds, its swarm looks empty
    // to a scrape, and it leaves the dump.
    assert_eq!(c.scrape(&[later]).unwrap()[0].seeders, 1);
    let path = t.dir.path().join(FILE_NAME);
    edit(&path, &Entry::Hash(later, None), false).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !blocked(&mut c, later, 2) {
        assert!(Instant::now() < deadline, "the new entry never applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.scrape(&[later]).unwrap()[0].seeders, 0);
    assert!(!blocked(&mut c, fine, 2), "others are still served");
    let metrics = tracker.shared().stats.snapshot().prometheus();
    assert!(
        metrics.contains("magnetar_tracker_blocked_total 3"),
        "{metrics}"
    );
    t.stop();
    let dumped =
        magnetar_shared::infohash_file::read_infohash_file(&t.dir.path().join("infohash.bin"))
            .unwrap();
    assert!(dumped.contains(&fine), "{dumped:?}");
    assert!(!dumped.contains(&later) && !dumped.contains(&denied));
}

#[test]
fn sighup_reloads_the_denylist_when_no_file_event_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let hash = InfoHash([0x61; 20]);
    // The list lives outside the data directory, behind a symlink: a change
    // to it raises no file event there, so only SIGHUP can reload it.
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("list");
    std::fs::write(&target, "# nothing yet\n").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join(FILE_NAME)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // Our own handler first, so a SIGHUP never takes the default action
    // (terminating the test process).
    let _guard = rt.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap()
    });
    // Started inside the runtime, as `magnetar tracker` is: the denylist's
    // SIGHUP handler runs on it.
    let config = common::config(dir.path());
    let tracker = rt.block_on(async { magnetar_tracker::RunningTracker::start(&config).unwrap() });
    let mut c = TrackerClient::new(tracker.local_addrs()[0], Duration::from_millis(500)).unwrap();
    assert!(!blocked(&mut c, hash, 1));
    std::fs::write(&target, format!("{hash}\n")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !blocked(&mut c, hash, 1) {
        unsafe {
            libc::kill(libc::getpid(), libc::SIGHUP);
        }
        assert!(
            Instant::now() < deadline,
            "SIGHUP never reloaded the denylist"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    tracker.stop().unwrap();
}
