//! The default Linux path (recvmmsg/sendmmsg, up to 32 datagrams per call)
//! under the load it is built for: many IPv4 and IPv6 sockets send their
//! requests without waiting for replies, so the worker receives and answers
//! them in batches. Every reply must carry its own request's transaction
//! id, reach the socket that sent the request, and have the right layout.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use magnetar_shared::InfoHash;
use magnetar_tracker::client::encode_announce;
use magnetar_tracker::protocol::{AnnounceRequest, Event, PeerId, PROTOCOL_ID};

const SOCKETS_PER_FAMILY: usize = 24;

fn sockets(tracker: SocketAddr, local: &str) -> Vec<UdpSocket> {
    (0..SOCKETS_PER_FAMILY)
        .map(|_| {
            let s = UdpSocket::bind(local).unwrap();
            s.connect(tracker).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s
        })
        .collect()
}

/// Sends one request per socket (all before reading any reply), then reads
/// one reply per socket and checks it with `check(socket index, reply)`.
fn round(socks: &[UdpSocket], request: impl Fn(usize) -> Vec<u8>, check: impl Fn(usize, &[u8])) {
    for (i, s) in socks.iter().enumerate() {
        s.send(&request(i)).unwrap();
    }
    for (i, s) in socks.iter().enumerate() {
        let mut buf = [0u8; 2048];
        let n = s.recv(&mut buf).expect("every socket gets its reply");
        check(i, &buf[..n]);
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn concurrent_requests_from_many_sockets_get_their_own_replies() {
    let t = common::start();
    for (tracker, local, entry) in [(t.v4, "127.0.0.1:0", 6usize), (t.v6, "[::1]:0", 18)] {
        let socks = sockets(tracker, local);
        let tid = |kind: u32, i: usize| (kind << 24) | (i as u32) << 8 | entry as u32;
        let ids = std::sync::Mutex::new(vec![0u64; socks.len()]);
        round(
            &socks,
            |i| {
                let mut b = PROTOCOL_ID.to_be_bytes().to_vec();
                b.extend_from_slice(&0u32.to_be_bytes());
                b.extend_from_slice(&tid(1, i).to_be_bytes());
                b
            },
            |i, r| {
                assert_eq!(r.len(), 16, "connect reply layout");
                assert_eq!(u32_at(r, 0), 0, "action connect");
                assert_eq!(u32_at(r, 4), tid(1, i), "its own transaction id");
                ids.lock().unwrap()[i] = u64::from_be_bytes(r[8..16].try_into().unwrap());
            },
        );
        let ids = ids.into_inner().unwrap();
        let hash = InfoHash([entry as u8; 20]);
        round(
            &socks,
            |i| {
                encode_announce(&AnnounceRequest {
                    connection_id: ids[i],
                    transaction_id: tid(2, i),
                    info_hash: hash,
                    peer_id: PeerId([i as u8 + 1; 20]),
                    downloaded: 0,
                    left: i as u64 % 2,
                    uploaded: 0,
                    event: Event::Started,
                    key: 0,
                    num_want: 200,
                    port: 10_000 + i as u16,
                })
            },
            |i, r| {
                assert_eq!(u32_at(r, 0), 1, "action announce: {r:?}");
                assert_eq!(u32_at(r, 4), tid(2, i));
                assert_eq!(
                    (r.len() - 20) % entry,
                    0,
                    "whole peer entries of the family"
                );
                // Peers announced before it in this round may be listed; never itself.
                let own_port = (10_000 + i as u16).to_be_bytes();
                assert!(r[20..].chunks(entry).all(|p| p[entry - 2..] != own_port));
            },
        );
        round(
            &socks,
            |i| {
                let mut b = ids[i].to_be_bytes().to_vec();
                b.extend_from_slice(&2u32.to_be_bytes());
                b.extend_from_slice(&tid(3, i).to_be_bytes());
                // Socket i scrapes i + 1 hashes: the known one, then unknown ones.
                b.extend_from_slice(&hash.0);
                for k in 0..i {
                    b.extend_from_slice(&[0xf0, k as u8].repeat(10));
                }
                b
            },
            |i, r| {
                assert_eq!(u32_at(r, 0), 2, "action scrape");
                assert_eq!(u32_at(r, 4), tid(3, i));
                assert_eq!(r.len(), 8 + 12 * (i + 1), "one triple per hash");
                let (seeders, leechers) = (u32_at(r, 8), u32_at(r, 16));
                assert_eq!(seeders + leechers, SOCKETS_PER_FAMILY as u32);
                assert!(r[20..].iter().all(|b| *b == 0), "unknown hashes are zero");
            },
        );
    }
}
