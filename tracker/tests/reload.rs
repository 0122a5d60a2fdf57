//! Served as in production (`serve`): a deny-mode access list reloaded by
//! SIGHUP alone, and the Prometheus endpoint on `metrics_addr`.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use magnetar_shared::InfoHash;
use magnetar_tracker::client::{ClientError, TrackerClient};
use magnetar_tracker::protocol::{Event, PeerId};

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_deny_list_reloads_on_sighup_and_metrics_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let denied = InfoHash([0x66; 20]);
    let later = InfoHash([0x67; 20]);
    // The list lives outside the watched directory, behind a symlink, so a
    // change to it raises no file event there: only SIGHUP can reload it.
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("deny.txt");
    std::fs::write(&target, format!("{denied}\n")).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("deny.txt")).unwrap();
    let mut config = common::config(dir.path());
    config.tracker.access_list_mode = magnetar_shared::config::AccessListMode::Deny;
    config.tracker.access_list_path = Some("deny.txt".into());
    let metrics_port = free_tcp_port();
    config.tracker.metrics_addr = Some(format!("127.0.0.1:{metrics_port}").parse().unwrap());
    let tracker = magnetar_tracker::RunningTracker::start(&config).unwrap();
    let addr = tracker.local_addrs()[0];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // Our own SIGHUP handler first, so the signal can never take the default
    // action (terminating the test process) before the tracker's is set.
    let _guard = rt.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap()
    });
    let shutdown = magnetar_shared::Shutdown::new();
    let stop = shutdown.clone();
    let handle = rt.handle().clone();
    let serving = std::thread::spawn(move || {
        handle.block_on(magnetar_tracker::serve(tracker, &config, stop))
    });
    let mut c = TrackerClient::new(addr, Duration::from_millis(300)).unwrap();
    let refused = |c: &mut TrackerClient, h| {
        matches!(
            c.announce(h, PeerId([1; 20]), 1, 0, Event::Started, -1),
            Err(ClientError::Tracker(m)) if m.contains("not allowed")
        )
    };
    assert!(refused(&mut c, denied), "denied at start");
    assert!(!refused(&mut c, later), "others allowed");

    std::fs::write(&target, format!("{denied}\n{later}\n")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !refused(&mut c, later) {
        // SIGHUP until the reload shows (the tracker's handler may not be
        // installed yet on the first ones).
        unsafe {
            libc::kill(libc::getpid(), libc::SIGHUP);
        }
        assert!(Instant::now() < deadline, "SIGHUP never reloaded the list");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The metrics endpoint, end to end, is valid Prometheus text.
    let mut body = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", metrics_port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
            s.read_to_string(&mut body).unwrap();
            break;
        }
        assert!(Instant::now() < deadline, "no metrics listener");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = body.split("\r\n\r\n").nth(1).unwrap_or("");
    magnetar_shared::telemetry::check_exposition(text).unwrap();
    assert!(text.contains("magnetar_tracker_denied_total 2"), "{text}");
    shutdown.cancel();
    serving.join().unwrap().unwrap();
}

#[test]
fn an_error_inside_serve_stops_the_tracker_and_still_writes_the_final_dump() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    // The metrics port is taken: serve fails to start its listener.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    config.tracker.metrics_addr = Some(taken.local_addr().unwrap());
    let tracker = magnetar_tracker::RunningTracker::start(&config).unwrap();
    let mut c = TrackerClient::new(tracker.local_addrs()[0], Duration::from_millis(500)).unwrap();
    let hash = InfoHash([0x42; 20]);
    c.announce(hash, PeerId([1; 20]), 1, 0, Event::Started, -1)
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(magnetar_tracker::serve(
        tracker,
        &config,
        magnetar_shared::Shutdown::new(),
    ));
    assert!(
        matches!(result, Err(magnetar_tracker::Error::Metrics(_))),
        "{result:?}"
    );
    assert_eq!(
        magnetar_shared::infohash_file::read_infohash_file(&dir.path().join("infohash.bin"))
            .unwrap(),
        vec![hash],
        "the final dump was written on the error path"
    );
}
