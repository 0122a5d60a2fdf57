//! The HTTP tracker (BEP 3 announce with BEP 23 compact peers and BEP 7
//! `peers6`, BEP 48 scrape), beside the UDP one: same swarms, same
//! completed counters, same budgets and access list, same `infohash.bin`.
//! For clients that cannot announce over UDP on an overlay network
//! (transmission and aria2c over Yggdrasil).
//!
//! Threat model: anyone can connect. Connections are tasks on a small
//! runtime of the HTTP tracker's own, at most `http_max_connections` at
//! once (past it a new one is closed at once). A request must arrive whole
//! (headers only, at most [`MAX_REQUEST`] bytes) within the read timeout,
//! or the connection is closed; HTTP is parsed with `httparse`. The peer's
//! address is the connection's; `X-Forwarded-For` / `X-Real-IP` count only
//! from configured `trusted_proxies`. The `ip=` parameter is ignored.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use magnetar_shared::{InfoHash, Shutdown};

use crate::protocol::{AnnounceRequest, Event, PeerId, Writer};
use crate::Shared;

/// Largest request accepted (request line and headers), bytes.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Most info-hashes in one scrape.
pub const MAX_SCRAPE: usize = 74;
/// How long a client has to send its whole request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the accept loop waits after an accept error (e.g. out of descriptors).
const ACCEPT_IDLE: Duration = Duration::from_millis(20);

/// HTTP counters (exported with the tracker's metrics).
#[derive(Default)]
pub struct HttpStats {
    pub announces: AtomicU64,
    pub scrapes: AtomicU64,
    /// Requests answered with a `failure reason` or an HTTP error.
    pub failures: AtomicU64,
    /// Connections closed at once: `http_max_connections` were open.
    pub shed: AtomicU64,
    /// Connections closed because the request was too slow or too big.
    pub dropped: AtomicU64,
}

/// Settings of the HTTP tracker.
#[derive(Clone, Debug)]
pub(crate) struct HttpConfig {
    pub workers: usize,
    pub max_connections: usize,
    pub trusted_proxies: Vec<IpAddr>,
}

/// Binds one TCP listener per address (IPv6 ones IPv6-only).
pub(crate) fn bind(addrs: &[SocketAddr]) -> std::io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    addrs
        .iter()
        .map(|addr| {
            let s = Socket::new(
                Domain::for_address(*addr),
                Type::STREAM,
                Some(Protocol::TCP),
            )?;
            if addr.is_ipv6() {
                s.set_only_v6(true)?;
            }
            s.set_reuse_address(true)?;
            s.bind(&(*addr).into())?;
            s.listen(1024)?;
            let l: std::net::TcpListener = s.into();
            l.set_nonblocking(true)?;
            Ok(l)
        })
        .collect()
}

/// Serves HTTP on `listeners` until `shutdown`, on a small runtime of its
/// own (the UDP workers stay runtime-free). A connection costs a task, not
/// a thread, so clients that send half a request and wait only hold one of
/// `max_connections` slots until the read timeout.
pub(crate) fn serve(
    listeners: Vec<std::net::TcpListener>,
    shared: Arc<Shared>,
    config: HttpConfig,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers.max(1))
        .thread_name("tracker-http")
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
        let config = Arc::new(config);
        let mut accepts = tokio::task::JoinSet::new();
        for l in listeners {
            let l = tokio::net::TcpListener::from_std(l)?;
            accepts.spawn(accept(l, shared.clone(), config.clone(), slots.clone()));
        }
        shutdown.cancelled().await;
        accepts.abort_all();
        Ok::<(), std::io::Error>(())
    })?;
    // Dropping the runtime ends the connection tasks still running.
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

async fn accept(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    config: Arc<HttpConfig>,
    slots: Arc<tokio::sync::Semaphore>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!("http accept: {e}");
                tokio::time::sleep(ACCEPT_IDLE).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let (shared, config) = (shared.clone(), config.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    connection(stream, peer, &shared, &config).await;
                });
            }
            Err(_) => {
                shared.stats.http.shed.fetch_add(1, Relaxed);
            }
        }
    }
}

async fn connection(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    config: &HttpConfig,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; MAX_REQUEST];
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        let mut len = 0;
        loop {
            if len == buf.len() {
                return Err(true);
            }
            match stream.read(&mut buf[len..]).await {
                Ok(0) | Err(_) => return Err(false),
                Ok(n) => len += n,
            }
            if let Some(end) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(end + 4);
            }
        }
    })
    .await;
    let (code, reason, body) = match read {
        Ok(Ok(len)) => answer(&buf[..len], peer.ip(), shared, config),
        Ok(Err(true)) => {
            shared.stats.http.dropped.fetch_add(1, Relaxed);
            (414, "URI Too Long", failure("request too long"))
        }
        Ok(Err(false)) => return,
        Err(_) => {
            shared.stats.http.dropped.fetch_add(1, Relaxed);
            return;
        }
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(READ_TIMEOUT, async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await
    })
    .await;
}

/// Parses one request and answers it: status, reason and bencoded body.
fn answer(
    request: &[u8],
    peer: IpAddr,
    shared: &Shared,
    config: &HttpConfig,
) -> (u16, &'static str, Vec<u8>) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match (req.parse(request), req.method, req.path) {
        (Ok(httparse::Status::Complete(_)), Some("GET"), Some(path)) => {
            let client = client_ip(peer, req.headers, &config.trusted_proxies);
            match route(path, client, shared) {
                Some(body) => (200, "OK", body),
                None => (
                    404,
                    "Not Found",
                    failure("no such path: use /announce or /scrape"),
                ),
            }
        }
        _ => {
            shared.stats.http.failures.fetch_add(1, Relaxed);
            (400, "Bad Request", failure("malformed HTTP request"))
        }
    }
}

/// The client's address: the connection's, or a forwarding header's when
/// the connection comes from a trusted proxy.
fn client_ip(peer: IpAddr, headers: &[httparse::Header<'_>], trusted: &[IpAddr]) -> IpAddr {
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

/// Answers `/announce` and `/scrape`; `None` for any other path.
fn route(path: &str, client: IpAddr, shared: &Shared) -> Option<Vec<u8>> {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let params = match parse_query(query) {
        Ok(p) => p,
        Err(msg) => {
            shared.stats.http.failures.fetch_add(1, Relaxed);
            return Some(failure(msg));
        }
    };
    let result = match route.trim_end_matches('/') {
        "/announce" => {
            shared.stats.http.announces.fetch_add(1, Relaxed);
            announce(&params, client, shared)
        }
        "/scrape" => {
            shared.stats.http.scrapes.fetch_add(1, Relaxed);
            scrape(&params, shared)
        }
        _ => return None,
    };
    Some(result.unwrap_or_else(|msg| {
        shared.stats.http.failures.fetch_add(1, Relaxed);
        failure(msg)
    }))
}

type Params = Vec<(String, Vec<u8>)>;

/// Splits a query string into percent-decoded pairs (values may be binary).
fn parse_query(query: &str) -> Result<Params, &'static str> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = String::from_utf8(decode(k)?).map_err(|_| "bad parameter name")?;
        out.push((key, decode(v)?));
    }
    Ok(out)
}

/// Strict percent-decoding: a `%` must be followed by two hex digits.
fn decode(s: &str) -> Result<Vec<u8>, &'static str> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or("bad percent-encoding")?;
                let hex = std::str::from_utf8(hex).map_err(|_| "bad percent-encoding")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad percent-encoding")?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a [u8]> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_slice())
}

fn number<T: std::str::FromStr>(params: &Params, name: &str) -> Result<Option<T>, &'static str> {
    match param(params, name) {
        None => Ok(None),
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or("bad number"),
    }
}

fn twenty(params: &Params, name: &'static str) -> Result<[u8; 20], &'static str> {
    let v = param(params, name).ok_or(match name {
        "info_hash" => "missing info_hash",
        _ => "missing peer_id",
    })?;
    v.try_into().map_err(|_| match name {
        "info_hash" => "info_hash must be 20 bytes",
        _ => "peer_id must be 20 bytes",
    })
}

fn announce(params: &Params, client: IpAddr, shared: &Shared) -> Result<Vec<u8>, &'static str> {
    let info_hash = InfoHash(twenty(params, "info_hash")?);
    let peer_id = PeerId(twenty(params, "peer_id")?);
    let port: u16 = number(params, "port")?.ok_or("missing port")?;
    if port == 0 {
        return Err("invalid port 0");
    }
    let event = match param(params, "event") {
        None | Some(b"") | Some(b"empty") => Event::None,
        Some(b"started") => Event::Started,
        Some(b"completed") => Event::Completed,
        Some(b"stopped") => Event::Stopped,
        Some(_) => return Err("unknown event"),
    };
    let req = AnnounceRequest {
        connection_id: 0,
        transaction_id: 0,
        info_hash,
        peer_id,
        downloaded: number(params, "downloaded")?.unwrap_or(0),
        left: number(params, "left")?.unwrap_or(0),
        uploaded: number(params, "uploaded")?.unwrap_or(0),
        event,
        key: 0,
        num_want: number(params, "numwant")?.unwrap_or(-1),
        port,
    };
    let compact = param(params, "compact") != Some(b"0");
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
    let mut peers = vec![0u8; numwant * entry];
    let mut w = Writer::new(&mut peers);
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
    peers.truncate(written);

    let mut out = Vec::with_capacity(96 + peers.len() * 2);
    out.extend_from_slice(b"d8:completei");
    out.extend_from_slice(counts.seeders.to_string().as_bytes());
    out.extend_from_slice(b"e10:incompletei");
    out.extend_from_slice(counts.leechers.to_string().as_bytes());
    out.extend_from_slice(b"e8:intervali");
    out.extend_from_slice(shared.interval.to_string().as_bytes());
    out.extend_from_slice(b"e12:min intervali");
    out.extend_from_slice((shared.interval / 2).max(1).to_string().as_bytes());
    out.push(b'e');
    let key: &[u8] = if client.is_ipv4() {
        b"5:peers"
    } else {
        b"6:peers6"
    };
    out.extend_from_slice(key);
    if compact {
        out.extend_from_slice(peers.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(&peers);
    } else {
        out.push(b'l');
        for p in peers.chunks_exact(entry) {
            let (ip, port) = p.split_at(entry - 2);
            let ip: IpAddr = match <[u8; 4]>::try_from(ip) {
                Ok(v4) => v4.into(),
                Err(_) => <[u8; 16]>::try_from(ip).map(IpAddr::from).unwrap_or(client),
            };
            let ip = ip.to_string();
            out.extend_from_slice(
                format!(
                    "d2:ip{}:{ip}4:porti{}ee",
                    ip.len(),
                    u16::from_be_bytes([port[0], port[1]])
                )
                .as_bytes(),
            );
        }
        out.push(b'e');
    }
    out.push(b'e');
    Ok(out)
}

fn scrape(params: &Params, shared: &Shared) -> Result<Vec<u8>, &'static str> {
    let hashes: Vec<InfoHash> = params
        .iter()
        .filter(|(k, _)| k == "info_hash")
        .map(|(_, v)| {
            v.as_slice()
                .try_into()
                .map(InfoHash)
                .map_err(|_| "info_hash must be 20 bytes")
        })
        .collect::<Result<_, _>>()?;
    if hashes.is_empty() {
        return Err("full scrape not supported: name the info_hash values");
    }
    if hashes.len() > MAX_SCRAPE {
        return Err("too many info_hash values in one scrape");
    }
    let mut out = b"d5:filesd".to_vec();
    let mut sorted = hashes;
    sorted.sort_unstable();
    sorted.dedup();
    for h in sorted {
        let c = if shared.moderation.denies_hash(&h) {
            crate::SwarmCounts::default()
        } else {
            shared.swarms.scrape(&h)
        };
        out.extend_from_slice(b"20:");
        out.extend_from_slice(&h.0);
        out.extend_from_slice(
            format!(
                "d8:completei{}e10:downloadedi{}e10:incompletei{}ee",
                c.seeders, c.completed, c.leechers
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"ee");
    Ok(out)
}

/// A bencoded failure reason.
fn failure(msg: &str) -> Vec<u8> {
    format!("d14:failure reason{}:{msg}e", msg.len()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_binary_values_and_refuse_broken_escapes() {
        let p = parse_query("info_hash=%00%ff%41b&port=6881&x").unwrap();
        assert_eq!(param(&p, "info_hash"), Some(&[0u8, 0xff, b'A', b'b'][..]));
        assert_eq!(number::<u16>(&p, "port"), Ok(Some(6881)));
        assert_eq!(param(&p, "x"), Some(&b""[..]));
        assert!(parse_query("info_hash=%zz").is_err());
        assert!(parse_query("info_hash=%4").is_err());
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
