//! One HTTP tracker request in, one reply out: BEP 3 announce (BEP 23
//! compact peers, BEP 7 `peers6`) and BEP 48 scrape. Nothing here touches a
//! socket, and an announce allocates nothing: the query is read where it
//! lies, values are decoded into fixed buffers, and the reply is written
//! into the caller's reused buffers.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;

use magnetar_shared::InfoHash;

use super::HttpConfig;
use crate::protocol::{AnnounceRequest, Event, PeerId, Writer};
use crate::Shared;

/// Most info-hashes in one scrape.
pub const MAX_SCRAPE: usize = 74;

/// What a request came to: the status line and whether the client would
/// keep the connection (HTTP/1.1 without `Connection: close`). The body is
/// in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub status: u16,
    pub reason: &'static str,
    pub keep_alive: bool,
}

/// Buffers reused from request to request (one set per worker, and one
/// per kept connection).
#[derive(Default)]
pub(crate) struct Scratch {
    /// The bencoded body.
    pub body: Vec<u8>,
    /// Compact peers, before they are copied into the body.
    peers: Vec<u8>,
}

/// Parses one complete request (head only) and writes its bencoded body
/// into `scratch.body`.
pub(crate) fn answer(
    request: &[u8],
    peer: IpAddr,
    shared: &Shared,
    config: &HttpConfig,
    scratch: &mut Scratch,
) -> Reply {
    scratch.body.clear();
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = req.parse(request);
    let (Ok(httparse::Status::Complete(_)), Some(method), Some(path)) =
        (parsed, req.method, req.path)
    else {
        shared.stats.http.failures.fetch_add(1, Relaxed);
        failure(&mut scratch.body, "malformed HTTP request");
        return Reply {
            status: 400,
            reason: "Bad Request",
            keep_alive: false,
        };
    };
    let keep_alive = req.version == Some(1)
        && !req.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close")
        });
    if method != "GET" {
        shared.stats.http.failures.fetch_add(1, Relaxed);
        failure(&mut scratch.body, "only GET is served");
        return Reply {
            status: 405,
            reason: "Method Not Allowed",
            keep_alive,
        };
    }
    let client = client_ip(peer, req.headers, &config.trusted_proxies);
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let outcome = match Query::new(query) {
        Err(msg) => Err(msg),
        Ok(q) => match route.trim_end_matches('/') {
            "/announce" => {
                shared.stats.http.announces.fetch_add(1, Relaxed);
                announce(&q, client, shared, scratch)
            }
            "/scrape" => {
                shared.stats.http.scrapes.fetch_add(1, Relaxed);
                scrape(&q, shared, &mut scratch.body)
            }
            _ => {
                failure(&mut scratch.body, "no such path: use /announce or /scrape");
                return Reply {
                    status: 404,
                    reason: "Not Found",
                    keep_alive,
                };
            }
        },
    };
    if let Err(msg) = outcome {
        shared.stats.http.failures.fetch_add(1, Relaxed);
        scratch.body.clear();
        failure(&mut scratch.body, msg);
    }
    Reply {
        status: 200,
        reason: "OK",
        keep_alive,
    }
}

/// The client's address: the connection's, or a forwarding header's when
/// the connection comes from a trusted proxy.
pub(crate) fn client_ip(
    peer: IpAddr,
    headers: &[httparse::Header<'_>],
    trusted: &[IpAddr],
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(&peer) {
        return peer;
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    header("X-Forwarded-For")
        .and_then(|v| v.split(',').next_back())
        .or_else(|| header("X-Real-IP"))
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .map_or(peer, |ip| ip.to_canonical())
}

/// A query string, checked once (every `%` is followed by two hex digits)
/// and then read in place: values are decoded only when asked for.
pub(crate) struct Query<'a>(&'a str);

impl<'a> Query<'a> {
    pub fn new(query: &'a str) -> Result<Self, &'static str> {
        let b = query.as_bytes();
        let mut i = 0;
        while let Some(off) = b[i..].iter().position(|&c| c == b'%') {
            let at = i + off;
            match b.get(at + 1..at + 3) {
                Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i = at + 3,
                _ => return Err("bad percent-encoding"),
            }
        }
        Ok(Self(query))
    }

    /// Raw values of every parameter called `name`, in order.
    pub fn all(&self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.split('&').filter_map(move |pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let mut key = [0u8; 32];
            (decode_into(k, &mut key) == Some(name.len()) && &key[..name.len()] == name.as_bytes())
                .then_some(v)
        })
    }

    /// The raw value of the first parameter called `name`.
    pub fn get(&self, name: &'a str) -> Option<&'a str> {
        self.all(name).next()
    }

    /// A value decoded into `out`: its length, or `None` when absent.
    /// `Err` when it does not fit.
    fn decoded(&self, name: &'a str, out: &mut [u8]) -> Result<Option<usize>, ()> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => decode_into(v, out).map(Some).ok_or(()),
        }
    }

    fn number<T: std::str::FromStr>(&self, name: &'a str) -> Result<Option<T>, &'static str> {
        let mut buf = [0u8; 24];
        match self.decoded(name, &mut buf) {
            Ok(None) => Ok(None),
            Ok(Some(n)) => std::str::from_utf8(&buf[..n])
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Some)
                .ok_or("bad number"),
            Err(()) => Err("bad number"),
        }
    }

    /// A 20-byte binary value (info_hash, peer_id).
    fn twenty(
        &self,
        name: &'a str,
        missing: &'static str,
        wrong: &'static str,
    ) -> Result<[u8; 20], &'static str> {
        let mut buf = [0u8; 20];
        match self.decoded(name, &mut buf) {
            Ok(Some(20)) => Ok(buf),
            Ok(None) => Err(missing),
            _ => Err(wrong),
        }
    }
}

/// Percent-decodes a checked value into `out` (`+` is a space); `None`
/// when it does not fit.
fn decode_into(raw: &str, out: &mut [u8]) -> Option<usize> {
    let b = raw.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        let c = match b[i] {
            b'%' => {
                let v = b.get(i + 1..i + 3).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })?;
                i += 3;
                v
            }
            b'+' => {
                i += 1;
                b' '
            }
            c => {
                i += 1;
                c
            }
        };
        *out.get_mut(n)? = c;
        n += 1;
    }
    Some(n)
}

fn announce(
    q: &Query<'_>,
    client: IpAddr,
    shared: &Shared,
    scratch: &mut Scratch,
) -> Result<(), &'static str> {
    let info_hash = InfoHash(q.twenty(
        "info_hash",
        "missing info_hash",
        "info_hash must be 20 bytes",
    )?);
    let peer_id = PeerId(q.twenty("peer_id", "missing peer_id", "peer_id must be 20 bytes")?);
    let port: u16 = q.number("port")?.ok_or("missing port")?;
    if port == 0 {
        return Err("invalid port 0");
    }
    let event = match q.get("event") {
        None | Some("") | Some("empty") => Event::None,
        Some("started") => Event::Started,
        Some("completed") => Event::Completed,
        Some("stopped") => Event::Stopped,
        Some(_) => return Err("unknown event"),
    };
    let req = AnnounceRequest {
        connection_id: 0,
        transaction_id: 0,
        info_hash,
        peer_id,
        downloaded: q.number("downloaded")?.unwrap_or(0),
        left: q.number("left")?.unwrap_or(0),
        uploaded: q.number("uploaded")?.unwrap_or(0),
        event,
        key: 0,
        num_want: q.number("numwant")?.unwrap_or(-1),
        port,
    };
    let compact = q.get("compact") != Some("0");
    let now_ms = shared.clock.now_ms();
    let source = shared.swarms.source_of(client);
    if !shared.swarms.admit_announce(source, now_ms) {
        return Err(crate::swarm::Refusal::Source(crate::sources::Limit::AnnounceRate).message());
    }
    if !shared.access.allows(&info_hash) {
        return Err("info-hash not allowed");
    }
    if shared.moderation.denies_hash(&info_hash) {
        shared.stats.blocked.fetch_add(1, Relaxed);
        return Err(crate::BLOCKED);
    }
    let numwant = usize::try_from(req.num_want)
        .ok()
        .filter(|n| *n > 0)
        .unwrap_or(shared.default_numwant)
        .min(shared.max_numwant);
    let entry = if client.is_ipv4() { 6 } else { 18 };
    let peers = &mut scratch.peers;
    peers.clear();
    peers.resize(numwant * entry, 0);
    let mut w = Writer::new(peers);
    let counts = shared
        .swarms
        .announce(
            &req,
            SocketAddr::new(client, port),
            now_ms,
            numwant,
            rand::random(),
            &mut w,
        )
        .map_err(|r| r.message())?;
    let written = w.len();
    let peers = &peers[..written];

    // Writing into a Vec cannot fail.
    let out = &mut scratch.body;
    let _ = write!(
        out,
        "d8:completei{}e10:incompletei{}e8:intervali{}e12:min intervali{}e",
        counts.seeders,
        counts.leechers,
        shared.interval,
        (shared.interval / 2).max(1)
    );
    out.extend_from_slice(if client.is_ipv4() {
        b"5:peers"
    } else {
        b"6:peers6"
    });
    if compact {
        let _ = write!(out, "{}:", peers.len());
        out.extend_from_slice(peers);
    } else {
        out.push(b'l');
        for p in peers.chunks_exact(entry) {
            let (ip, port) = p.split_at(entry - 2);
            let ip: IpAddr = match <[u8; 4]>::try_from(ip) {
                Ok(v4) => v4.into(),
                Err(_) => <[u8; 16]>::try_from(ip).map(IpAddr::from).unwrap_or(client),
            };
            let ip = ip.to_string();
            let _ = write!(
                out,
                "d2:ip{}:{ip}4:porti{}ee",
                ip.len(),
                u16::from_be_bytes([port[0], port[1]])
            );
        }
        out.push(b'e');
    }
    out.push(b'e');
    Ok(())
}

fn scrape(q: &Query<'_>, shared: &Shared, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let mut hashes = Vec::new();
    for raw in q.all("info_hash") {
        if hashes.len() == MAX_SCRAPE {
            return Err("too many info_hash values in one scrape");
        }
        let mut h = [0u8; 20];
        match decode_into(raw, &mut h) {
            Some(20) => hashes.push(InfoHash(h)),
            _ => return Err("info_hash must be 20 bytes"),
        }
    }
    if hashes.is_empty() {
        return Err("full scrape not supported: name the info_hash values");
    }
    hashes.sort_unstable();
    hashes.dedup();
    out.extend_from_slice(b"d5:filesd");
    for h in hashes {
        let c = if shared.moderation.denies_hash(&h) {
            crate::SwarmCounts::default()
        } else {
            shared.swarms.scrape(&h)
        };
        out.extend_from_slice(b"20:");
        out.extend_from_slice(&h.0);
        let _ = write!(
            out,
            "d8:completei{}e10:downloadedi{}e10:incompletei{}ee",
            c.seeders, c.completed, c.leechers
        );
    }
    out.extend_from_slice(b"ee");
    Ok(())
}

/// A bencoded failure reason.
pub(crate) fn failure(out: &mut Vec<u8>, msg: &str) {
    let _ = write!(out, "d14:failure reason{}:{msg}e", msg.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_binary_values_and_refuse_broken_escapes() {
        let q = Query::new("info_hash=%00%ff%41b&port=6881&x&info%5Fhash=zz").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(q.decoded("info_hash", &mut buf), Ok(Some(4)));
        assert_eq!(&buf[..4], &[0u8, 0xff, b'A', b'b']);
        assert_eq!(q.number::<u16>("port"), Ok(Some(6881)));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(
            q.all("info_hash").count(),
            2,
            "an escaped key is the same key"
        );
        assert!(Query::new("info_hash=%zz").is_err());
        assert!(Query::new("info_hash=%4").is_err());
        assert!(Query::new("a=%").is_err());
        let q = Query::new("info_hash=%41%41%41").unwrap();
        let mut two = [0u8; 2];
        assert_eq!(
            q.decoded("info_hash", &mut two),
            Err(()),
            "too long for the buffer"
        );
        assert_eq!(
            q.twenty("info_hash", "missing", "wrong"),
            Err("wrong"),
            "3 bytes is not 20"
        );
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let h = [httparse::Header {
            name: "X-Forwarded-For",
            value: b"203.0.113.9, 198.51.100.7",
        }];
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(client_ip(proxy, &h, &[]), proxy, "untrusted: ignored");
        assert_eq!(
            client_ip(proxy, &h, &[proxy]),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "the address the proxy saw"
        );
    }
}
