//! The HTTP tracker over real TCP on loopback: compact and non-compact
//! replies, IPv4 and IPv6 peer lists, scrape, completed counted once, one
//! swarm shared with UDP, and malformed or slow requests answered with a
//! failure reason or closed without harming other clients; HTTP/1.1
//! connections kept alive (one after another and pipelined), closed when
//! the client asks or speaks HTTP/1.0.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use magnetar_shared::InfoHash;
use magnetar_tracker::protocol::{Event, PeerId};

fn http(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = std::str::from_utf8(&out[9..12]).unwrap().parse().unwrap();
    (status, out[end + 4..].to_vec())
}

fn esc(b: &[u8]) -> String {
    b.iter().map(|c| format!("%{c:02x}")).collect()
}

fn announce(
    addr: SocketAddr,
    hash: InfoHash,
    peer: u8,
    port: u16,
    left: u64,
    extra: &str,
) -> Vec<u8> {
    let path = format!(
        "/announce?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}{extra}",
        esc(&hash.0),
        esc(&[peer; 20])
    );
    let (status, body) = http(addr, &path);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    body
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn compact_and_dict_replies_over_both_families_sharing_the_udp_swarm() {
    let t = common::start();
    let tracker = t.tracker.as_ref().unwrap();
    let (h4, h6) = (tracker.http_addrs()[0], tracker.http_addrs()[1]);
    assert!(h4.is_ipv4() && h6.is_ipv6());
    let hash = InfoHash([0x21; 20]);
    // A seeder over IPv4 HTTP, a leecher over IPv6 HTTP, one over UDP.
    let first = announce(h4, hash, 1, 7001, 0, "&event=started&compact=1");
    assert!(
        contains(&first, b"8:completei1e10:incompletei0e"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    assert!(contains(&first, b"5:peers0:"), "alone: no peers");
    announce(h6, hash, 2, 7002, 10, "&event=started");
    t.client(t.v4)
        .announce(hash, PeerId([3; 20]), 7003, 10, Event::Started, -1)
        .unwrap();
    let again = announce(h4, hash, 1, 7001, 0, "");
    assert!(contains(&again, b"8:completei1e10:incompletei2e"));
    // IPv4 compact entries: the UDP leecher at 127.0.0.1:7003.
    let mut entry = vec![127, 0, 0, 1];
    entry.extend_from_slice(&7003u16.to_be_bytes());
    assert!(
        contains(&again, &[b"5:peers6:".as_slice(), &entry].concat()),
        "{again:?}"
    );
    // IPv6: a peers6 list with 18-byte entries (another IPv6 peer first).
    announce(h6, hash, 4, 7004, 10, "");
    let six = announce(h6, hash, 2, 7002, 10, "");
    assert!(
        contains(&six, b"6:peers618:"),
        "{}",
        String::from_utf8_lossy(&six)
    );
    // Non-compact: a list of dicts.
    let dicts = announce(h4, hash, 1, 7001, 0, "&compact=0");
    assert!(
        contains(&dicts, b"5:peersld2:ip9:127.0.0.14:porti7003eee"),
        "{}",
        String::from_utf8_lossy(&dicts)
    );
    // The UDP side sees the HTTP peers: one swarm.
    let counts = t.client(t.v6).scrape(&[hash]).unwrap();
    assert_eq!((counts[0].seeders, counts[0].leechers), (1, 3));
}

#[test]
fn scrape_and_completed_counted_once() {
    let t = common::start();
    let h4 = t.tracker.as_ref().unwrap().http_addrs()[0];
    let (a, b) = (InfoHash([0x31; 20]), InfoHash([0x32; 20]));
    announce(h4, a, 1, 7001, 10, "&event=started");
    for _ in 0..3 {
        announce(h4, a, 1, 7001, 0, "&event=completed");
    }
    announce(h4, b, 2, 7002, 5, "&event=started");
    let (status, body) = http(
        h4,
        &format!("/scrape?info_hash={}&info_hash={}", esc(&a.0), esc(&b.0)),
    );
    assert_eq!(status, 200);
    let mut want_a = b"20:".to_vec();
    want_a.extend_from_slice(&a.0);
    want_a.extend_from_slice(b"d8:completei1e10:downloadedi1e10:incompletei0ee");
    assert!(
        contains(&body, &want_a),
        "completed once: {}",
        String::from_utf8_lossy(&body)
    );
    let mut want_b = b"20:".to_vec();
    want_b.extend_from_slice(&b.0);
    want_b.extend_from_slice(b"d8:completei0e10:downloadedi0e10:incompletei1ee");
    assert!(contains(&body, &want_b));
    assert!(body.starts_with(b"d5:filesd") && body.ends_with(b"ee"));
}

#[test]
fn bad_requests_get_a_failure_reason_and_slow_ones_are_cut_off() {
    let t = common::start();
    let h4 = t.tracker.as_ref().unwrap().http_addrs()[0];
    let hash = InfoHash([0x41; 20]);
    let peer = esc(&[9; 20]);
    for (path, reason) in [
        (
            format!("/announce?peer_id={peer}&port=1"),
            "missing info_hash",
        ),
        (
            format!(
                "/announce?info_hash={}&peer_id={peer}&port=1",
                esc(&[1; 19])
            ),
            "20 bytes",
        ),
        (
            format!(
                "/announce?info_hash={}&peer_id={peer}&port=1",
                esc(&[1; 21])
            ),
            "20 bytes",
        ),
        (
            format!("/announce?info_hash=%zz&peer_id={peer}&port=1"),
            "percent-encoding",
        ),
        (
            format!("/announce?info_hash={}&peer_id={peer}", esc(&hash.0)),
            "missing port",
        ),
        (
            format!(
                "/announce?info_hash={}&peer_id={peer}&port=1&event=x",
                esc(&hash.0)
            ),
            "unknown event",
        ),
        ("/scrape".to_owned(), "full scrape not supported"),
    ] {
        let (status, body) = http(h4, &path);
        assert_eq!(status, 200, "{path}");
        let text = String::from_utf8_lossy(&body).into_owned();
        assert!(
            text.starts_with("d14:failure reason") && text.contains(reason),
            "{path}: {text}"
        );
    }
    let (status, _) = http(h4, "/nothing");
    assert_eq!(status, 404);
    // A huge query string: refused, not buffered.
    let huge = format!("/announce?x={}", "a".repeat(20_000));
    let mut s = connect(h4);
    let _ = s.write_all(format!("GET {huge} HTTP/1.1\r\n\r\n").as_bytes());
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    assert!(
        reply.is_empty() || reply.starts_with(b"HTTP/1.1 414"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    // Slow clients (half a request) do not stop a normal one from being served…
    let slow: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut s = TcpStream::connect(h4).unwrap();
            s.write_all(b"GET /announce?info_hash=").unwrap();
            s
        })
        .collect();
    let ok = announce(h4, hash, 5, 7005, 0, "");
    assert!(contains(&ok, b"8:completei1e"));
    // …and are cut off after the read timeout.
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "closed by the tracker");
    }
}

/// Reads one response (head and `Content-Length` body) from `s`.
fn read_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "connection closed mid-head: {got:?}"
        );
        got.push(byte[0]);
    }
    let head = String::from_utf8(got).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (head, body)
}

/// A connection to the HTTP tracker whose reads time out after 10 s.
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Asserts the tracker closed `s` after its last reply.
fn assert_closed(s: &mut TcpStream) {
    let mut rest = Vec::new();
    assert_eq!(
        s.read_to_end(&mut rest).unwrap(),
        0,
        "closed after the reply"
    );
}

/// Asserts the announce reply `body` counts `leechers` leechers.
fn assert_leechers(body: &[u8], leechers: usize) {
    let want = format!("10:incompletei{leechers}e");
    assert!(
        contains(body, want.as_bytes()),
        "{}",
        String::from_utf8_lossy(body)
    );
}

fn announce_line(hash: InfoHash, peer: u8, port: u16) -> String {
    format!(
        "GET /announce?info_hash={}&peer_id={}&port={port}&left=5 HTTP/1.1\r\nHost: t\r\n",
        esc(&hash.0),
        esc(&[peer; 20])
    )
}

#[test]
fn http11_connections_are_kept_alive_until_the_client_closes() {
    let t = common::start();
    let h4 = t.tracker.as_ref().unwrap().http_addrs()[0];
    let hash = InfoHash([0x51; 20]);
    let mut s = connect(h4);
    // One request after another on one connection.
    for (peer, leechers) in [(1u8, 1), (2, 2), (3, 3)] {
        write!(
            s,
            "{}\r\n",
            announce_line(hash, peer, 7100 + u16::from(peer))
        )
        .unwrap();
        let (head, body) = read_response(&mut s);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(!head.contains("Connection: close"), "kept: {head}");
        assert_leechers(&body, leechers);
    }
    // Two pipelined in one write: both answered, in order.
    write!(
        s,
        "{}\r\n{}\r\n",
        announce_line(hash, 4, 7104),
        announce_line(hash, 5, 7105)
    )
    .unwrap();
    for leechers in [4, 5] {
        let (_, body) = read_response(&mut s);
        assert_leechers(&body, leechers);
    }
    // Asking to close: the reply says so and the tracker closes.
    write!(
        s,
        "{}Connection: close\r\n\r\n",
        announce_line(hash, 6, 7106)
    )
    .unwrap();
    let (head, _) = read_response(&mut s);
    assert!(head.contains("Connection: close"), "{head}");
    assert_closed(&mut s);
    let metrics = t.prometheus();
    assert!(
        metrics.contains("magnetar_tracker_http_total{kind=\"reused\"} 5"),
        "5 requests after the first on one connection:\n{metrics}"
    );
}

#[test]
fn http10_connections_are_closed_after_one_reply() {
    let t = common::start();
    let h4 = t.tracker.as_ref().unwrap().http_addrs()[0];
    let hash = InfoHash([0x52; 20]);
    let mut s = connect(h4);
    let line = announce_line(hash, 1, 7200).replace("HTTP/1.1", "HTTP/1.0");
    write!(s, "{line}\r\n").unwrap();
    let (head, _) = read_response(&mut s);
    assert!(head.contains("Connection: close"), "{head}");
    assert_closed(&mut s);
}
