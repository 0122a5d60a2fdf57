//! Floods a running tracker from one source (127.0.0.1) while a
//! well-behaved client (127.0.0.2) keeps announcing, and reports what the
//! good client saw. Used by `bench/flood.sh`, which starts the tracker,
//! reads its peak memory and counts what reached `infohash.bin`.
//!
//! Usage: flood TRACKER_ADDR STARTED_ANNOUNCES STOPPED_ANNOUNCES
//! (the flood sends without waiting for replies, renewing its connection
//! id every 30 s; the good client announces every 10 ms, 1 s timeout).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use magnetar_shared::InfoHash;
use magnetar_tracker::client::{encode_announce, TrackerClient};
use magnetar_tracker::protocol::{AnnounceRequest, Event, PeerId};

fn connect(flood: &UdpSocket) -> anyhow::Result<u64> {
    let mut req = magnetar_tracker::protocol::PROTOCOL_ID
        .to_be_bytes()
        .to_vec();
    req.extend_from_slice(&0u32.to_be_bytes());
    req.extend_from_slice(&7u32.to_be_bytes());
    flood.set_nonblocking(false)?;
    flood.set_read_timeout(Some(Duration::from_secs(1)))?;
    for _ in 0..20 {
        flood.send(&req)?;
        let mut buf = [0u8; 2048];
        while let Ok(n) = flood.recv(&mut buf) {
            if n == 16 && buf[..4] == [0, 0, 0, 0] {
                flood.set_nonblocking(true)?;
                return Ok(u64::from_be_bytes(buf[8..16].try_into()?));
            }
        }
    }
    anyhow::bail!("no connect reply")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let tracker: SocketAddr = args
        .get(1)
        .map_or("127.0.0.1:6969", String::as_str)
        .parse()?;
    let started: u64 = args.get(2).map_or(Ok(2_000_000), |a| a.parse())?;
    let stopped: u64 = args.get(3).map_or(Ok(10_000_000), |a| a.parse())?;

    let done = Arc::new(AtomicBool::new(false));
    let good = {
        let done = done.clone();
        std::thread::spawn(move || -> anyhow::Result<(u64, u64)> {
            let mut c =
                TrackerClient::from_address("127.0.0.2".parse()?, tracker, Duration::from_secs(1))?;
            let (mut ok, mut tried) = (0u64, 0u64);
            while !done.load(Ordering::Relaxed) {
                tried += 1;
                let r = c.announce(
                    InfoHash([0x60; 20]),
                    PeerId([0x60; 20]),
                    7000,
                    0,
                    Event::None,
                    10,
                );
                if r.is_ok_and(|r| r.seeders == 1) {
                    ok += 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok((ok, tried))
        })
    };

    let flood = UdpSocket::bind("127.0.0.1:0")?;
    flood.connect(tracker)?;
    let mut id = connect(&flood)?;
    let mut renewed = Instant::now();
    let t0 = Instant::now();
    let mut sink = [0u8; 2048];
    for n in 0..started + stopped {
        if renewed.elapsed() > Duration::from_secs(30) {
            id = connect(&flood)?;
            renewed = Instant::now();
        }
        let mut h = [0u8; 20];
        h[..8].copy_from_slice(&n.to_be_bytes());
        h[8..16].copy_from_slice(&(n ^ 0x9e37_79b9_7f4a_7c15).to_be_bytes());
        let req = AnnounceRequest {
            connection_id: id,
            transaction_id: n as u32,
            info_hash: InfoHash(h),
            peer_id: PeerId(h),
            downloaded: 0,
            left: 1,
            uploaded: 0,
            event: if n < started {
                Event::Started
            } else {
                Event::Stopped
            },
            key: 0,
            num_want: 0,
            port: 1 + (n % 60_000) as u16,
        };
        // Fire and forget; drop whatever replies came back.
        let _ = flood.send(&encode_announce(&req));
        while flood.recv(&mut sink).is_ok() {}
    }
    let secs = t0.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let (ok, tried) = good
        .join()
        .map_err(|_| anyhow::anyhow!("good client panicked"))??;
    println!(
        "flood: {started} started + {stopped} stopped announces from one source in {secs:.1} s ({:.0}/s)",
        (started + stopped) as f64 / secs
    );
    println!(
        "good client during the flood: {ok}/{tried} announces answered correctly ({:.1} %)",
        100.0 * ok as f64 / tried.max(1) as f64
    );
    Ok(())
}
