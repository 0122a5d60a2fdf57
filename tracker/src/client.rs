//! A small blocking BEP 15 client: used by the catalog's swarm scrapes, the
//! tests and the benchmarks.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use magnetar_shared::InfoHash;

use crate::protocol::{self, action, AnnounceRequest, Event, PeerId, PROTOCOL_ID};
use crate::swarm::SwarmCounts;

/// The parsed reply to an announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceReply {
    pub interval: u32,
    pub leechers: u32,
    pub seeders: u32,
    pub peers: Vec<SocketAddr>,
}

/// What went wrong talking to a tracker.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("network: {0}")]
    Io(#[from] io::Error),
    #[error("tracker error: {0}")]
    Tracker(String),
    #[error("malformed reply")]
    Malformed,
}

/// A client bound to one tracker address.
/// How long a connection id is used before a new one is asked for.
pub const CONNECTION_ID_MAX_AGE: Duration = Duration::from_secs(60);

pub struct TrackerClient {
    socket: UdpSocket,
    /// The connection id and when it was obtained (renewed after
    /// [`CONNECTION_ID_MAX_AGE`]: trackers accept an id for 1–2 minutes).
    connection_id: Option<(u64, std::time::Instant)>,
    next_transaction: u32,
}

impl TrackerClient {
    /// A client for `tracker` whose requests time out after `timeout`.
    pub fn new(tracker: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let local: IpAddr = if tracker.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        Self::from_address(local, tracker, timeout)
    }

    /// A client sending from `local` (e.g. another loopback address).
    pub fn from_address(local: IpAddr, tracker: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let socket = UdpSocket::bind((local, 0))?;
        socket.connect(tracker)?;
        socket.set_read_timeout(Some(timeout))?;
        Ok(Self {
            socket,
            connection_id: None,
            next_transaction: rand::random(),
        })
    }

    /// The local address requests come from.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn transaction(&mut self) -> u32 {
        self.next_transaction = self.next_transaction.wrapping_add(1);
        self.next_transaction
    }

    /// Sends raw bytes and returns the reply (None on timeout).
    pub fn raw(&self, request: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.socket.send(request)?;
        let mut buf = vec![0u8; 65536];
        match self.socket.recv(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                Ok(Some(buf))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn exchange(
        &mut self,
        request: &[u8],
        expect_action: u32,
        tid: u32,
    ) -> Result<Vec<u8>, ClientError> {
        let reply = self
            .raw(request)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "no reply from tracker"))?;
        let head = (reply.get(0..4), reply.get(4..8));
        let (Some(a), Some(t)) = head else {
            return Err(ClientError::Malformed);
        };
        let a = u32::from_be_bytes(a.try_into().map_err(|_| ClientError::Malformed)?);
        if t != tid.to_be_bytes() {
            return Err(ClientError::Malformed);
        }
        if a == action::ERROR {
            return Err(ClientError::Tracker(
                String::from_utf8_lossy(&reply[8..]).into_owned(),
            ));
        }
        if a != expect_action {
            return Err(ClientError::Malformed);
        }
        Ok(reply)
    }

    /// Performs the connect handshake and returns the connection id.
    pub fn connect(&mut self) -> Result<u64, ClientError> {
        let tid = self.transaction();
        let mut req = PROTOCOL_ID.to_be_bytes().to_vec();
        req.extend_from_slice(&action::CONNECT.to_be_bytes());
        req.extend_from_slice(&tid.to_be_bytes());
        let reply = self.exchange(&req, action::CONNECT, tid)?;
        let id = reply
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or(ClientError::Malformed)?;
        self.connection_id = Some((id, std::time::Instant::now()));
        Ok(id)
    }

    fn connection_id(&mut self) -> Result<u64, ClientError> {
        match self.connection_id {
            Some((id, at)) if at.elapsed() < CONNECTION_ID_MAX_AGE => Ok(id),
            _ => self.connect(),
        }
    }

    /// Scrapes like [`TrackerClient::scrape`], and on a lost reply or an
    /// error (an expired connection id is answered with silence or an
    /// error) connects again and retries once.
    pub fn scrape_retrying(
        &mut self,
        hashes: &[InfoHash],
    ) -> Result<Vec<SwarmCounts>, ClientError> {
        match self.scrape(hashes) {
            Ok(counts) => Ok(counts),
            Err(_) => {
                self.connection_id = None;
                self.scrape(hashes)
            }
        }
    }

    /// Announces and returns the parsed reply.
    pub fn announce(
        &mut self,
        info_hash: InfoHash,
        peer_id: PeerId,
        port: u16,
        left: u64,
        event: Event,
        num_want: i32,
    ) -> Result<AnnounceReply, ClientError> {
        let connection_id = self.connection_id()?;
        let transaction_id = self.transaction();
        let req = encode_announce(&AnnounceRequest {
            connection_id,
            transaction_id,
            info_hash,
            peer_id,
            downloaded: 0,
            left,
            uploaded: 0,
            event,
            key: 0,
            num_want,
            port,
        });
        let reply = self.exchange(&req, action::ANNOUNCE, transaction_id)?;
        let field = |at: usize| {
            reply
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or(ClientError::Malformed)
        };
        let entry = if self.socket.peer_addr()?.is_ipv4() {
            6
        } else {
            18
        };
        let peers = reply[protocol::ANNOUNCE_HEADER_LEN.min(reply.len())..]
            .chunks_exact(entry)
            .map(|c| {
                let (ip, port) = c.split_at(entry - 2);
                let port = u16::from_be_bytes([port[0], port[1]]);
                let ip: IpAddr = match <[u8; 4]>::try_from(ip) {
                    Ok(v4) => v4.into(),
                    Err(_) => <[u8; 16]>::try_from(ip)
                        .map(IpAddr::from)
                        .unwrap_or(Ipv6Addr::UNSPECIFIED.into()),
                };
                SocketAddr::new(ip, port)
            })
            .collect();
        Ok(AnnounceReply {
            interval: field(8)?,
            leechers: field(12)?,
            seeders: field(16)?,
            peers,
        })
    }

    /// Scrapes up to 74 hashes; counts come back in request order.
    pub fn scrape(&mut self, hashes: &[InfoHash]) -> Result<Vec<SwarmCounts>, ClientError> {
        let connection_id = self.connection_id()?;
        let tid = self.transaction();
        let mut req = connection_id.to_be_bytes().to_vec();
        req.extend_from_slice(&action::SCRAPE.to_be_bytes());
        req.extend_from_slice(&tid.to_be_bytes());
        for h in hashes {
            req.extend_from_slice(&h.0);
        }
        let reply = self.exchange(&req, action::SCRAPE, tid)?;
        let body = &reply[8..];
        if body.len() != hashes.len() * 12 {
            return Err(ClientError::Malformed);
        }
        Ok(body
            .chunks_exact(12)
            .map(|c| {
                let n = |i: usize| u32::from_be_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
                SwarmCounts {
                    seeders: n(0),
                    completed: n(4),
                    leechers: n(8),
                }
            })
            .collect())
    }
}

/// Encodes an announce request (98 bytes; the IP field is zero).
pub fn encode_announce(r: &AnnounceRequest) -> Vec<u8> {
    let mut b = Vec::with_capacity(protocol::ANNOUNCE_LEN);
    b.extend_from_slice(&r.connection_id.to_be_bytes());
    b.extend_from_slice(&action::ANNOUNCE.to_be_bytes());
    b.extend_from_slice(&r.transaction_id.to_be_bytes());
    b.extend_from_slice(&r.info_hash.0);
    b.extend_from_slice(&r.peer_id.0);
    b.extend_from_slice(&r.downloaded.to_be_bytes());
    b.extend_from_slice(&r.left.to_be_bytes());
    b.extend_from_slice(&r.uploaded.to_be_bytes());
    b.extend_from_slice(&r.event.to_u32().to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&r.key.to_be_bytes());
    b.extend_from_slice(&r.num_want.to_be_bytes());
    b.extend_from_slice(&r.port.to_be_bytes());
    b
}

/// Parses `udp://host:port[/path]` into a socket address (IP literals only;
/// names are resolved with the system resolver).
pub fn parse_udp_url(url: &str) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    let rest = url.strip_prefix("udp://")?;
    let authority = rest.split('/').next()?;
    authority.to_socket_addrs().ok()?.next()
}
