//! A socket worker: one thread, one socket, blocking receive, reused buffers.
//!
//! No async runtime and no allocation per packet on the hot path: the request
//! is parsed in place and the reply written into a fixed send buffer.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::protocol::{self, Request, RequestErrorKind, Writer};
use crate::sources::Limit;
use crate::stats::{Kind, WorkerStats};
use crate::swarm::Refusal;
use crate::Shared;

/// Largest reply payload: fits a 1500-byte MTU with IPv6 + UDP headers.
pub const MAX_REPLY: usize = 1500 - 40 - 8;
/// Datagrams this long or longer are dropped as oversized.
pub(crate) const RECV_BUF: usize = 4096;

pub(crate) struct Worker {
    pub socket: UdpSocket,
    pub shared: Arc<Shared>,
    pub stats: Arc<WorkerStats>,
    /// Cancelled when the tracker stops; checked after every receive
    /// (the socket's read timeout bounds the wait).
    pub shutdown: magnetar_shared::Shutdown,
}

impl Worker {
    pub fn run(self) {
        #[cfg(target_os = "linux")]
        self.run_batched();
        #[cfg(not(target_os = "linux"))]
        self.run_simple();
    }

    fn is_transient(e: &std::io::Error) -> bool {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::Interrupted
        )
    }

    /// Linux: `recvmmsg`/`sendmmsg`, up to 32 datagrams per syscall.
    #[cfg(target_os = "linux")]
    fn run_batched(self) {
        let mut batch = crate::batch::Batch::new();
        let mut rng = SmallRng::from_entropy();
        while !self.shutdown.is_cancelled() {
            let n = match batch.receive(&self.socket) {
                Ok(n) => n,
                Err(e) if Self::is_transient(&e) => continue,
                Err(e) => {
                    tracing::debug!("recvmmsg error: {e}");
                    continue;
                }
            };
            let mut bytes_in = 0u64;
            for i in 0..n {
                let Some(received) = batch.received(i) else {
                    continue;
                };
                bytes_in += received.packet.len() as u64;
                let (source, truncated) = (received.source, received.truncated);
                let source = SocketAddr::new(source.ip().to_canonical(), source.port());
                if truncated {
                    self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let (packet, out) = batch.reply_slot(i);
                let len = self.handle(packet, source, out, rng.gen());
                if len > 0 {
                    batch.queue_reply(source, len);
                }
            }
            self.stats.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
            let sent = batch.send(&self.socket);
            self.stats.bytes_out.fetch_add(sent, Ordering::Relaxed);
        }
    }

    /// Portable loop: one `recv_from` and one `send_to` per datagram.
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    fn run_simple(self) {
        let mut recv = [0u8; RECV_BUF];
        let mut send = [0u8; MAX_REPLY];
        let mut rng = SmallRng::from_entropy();
        while !self.shutdown.is_cancelled() {
            let (len, source) = match self.socket.recv_from(&mut recv) {
                Ok(r) => r,
                Err(e) if Self::is_transient(&e) => continue,
                Err(e) => {
                    tracing::debug!("recv error: {e}");
                    continue;
                }
            };
            self.stats.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
            let source = SocketAddr::new(source.ip().to_canonical(), source.port());
            let reply_len = if len >= RECV_BUF {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                0
            } else {
                self.handle(&recv[..len], source, &mut send, rng.gen())
            };
            if reply_len > 0 {
                match self.socket.send_to(&send[..reply_len], source) {
                    Ok(n) => {
                        self.stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) => tracing::debug!(%source, "send error: {e}"),
                }
            }
        }
    }

    /// Handles one datagram; returns the reply length (0 = no reply).
    pub fn handle(
        &self,
        packet: &[u8],
        source: SocketAddr,
        out: &mut [u8],
        random: usize,
    ) -> usize {
        let shared = &*self.shared;
        let v6 = source.is_ipv6();
        match protocol::parse_request(packet) {
            Ok(Request::Connect { transaction_id }) => {
                self.stats.request(Kind::Connect, v6);
                self.stats.response(Kind::Connect, v6);
                protocol::write_connect(out, transaction_id, shared.validator.create(source))
            }
            Ok(Request::Announce(req)) => {
                if !shared.validator.is_valid(source, req.connection_id) {
                    self.stats.bad_connection_id.fetch_add(1, Ordering::Relaxed);
                    return 0;
                }
                self.stats.request(Kind::Announce, v6);
                if req.port == 0 {
                    return self.error(out, req.transaction_id, "invalid port 0", MAX_REPLY);
                }
                let now_ms = shared.clock.now_ms();
                if !shared
                    .swarms
                    .admit_announce(shared.swarms.source_of(source.ip()), now_ms)
                {
                    self.stats.refused(Refusal::Source(Limit::AnnounceRate));
                    let msg = Refusal::Source(Limit::AnnounceRate).message();
                    return self.error(out, req.transaction_id, msg, packet.len());
                }
                if !shared.access.allows(&req.info_hash) {
                    self.stats.denied.fetch_add(1, Ordering::Relaxed);
                    return self.error(out, req.transaction_id, "info-hash not allowed", MAX_REPLY);
                }
                if shared.moderation.denies_hash(&req.info_hash) {
                    shared.stats.blocked.fetch_add(1, Ordering::Relaxed);
                    return self.error(out, req.transaction_id, crate::BLOCKED, MAX_REPLY);
                }
                let entry = if v6 { 18 } else { 6 };
                let fit = (MAX_REPLY - protocol::ANNOUNCE_HEADER_LEN) / entry;
                let wanted = usize::try_from(req.num_want)
                    .ok()
                    .filter(|n| *n > 0)
                    .unwrap_or(shared.default_numwant);
                let numwant = wanted.min(shared.max_numwant).min(fit);

                let (head, peers) = out.split_at_mut(protocol::ANNOUNCE_HEADER_LEN);
                let mut w = Writer::new(peers);
                match shared
                    .swarms
                    .announce(&req, source, now_ms, numwant, random, &mut w)
                {
                    Ok(counts) => {
                        let peers_len = w.len();
                        let mut h = Writer::new(head);
                        protocol::write_announce_header(
                            &mut h,
                            req.transaction_id,
                            shared.interval,
                            counts.leechers,
                            counts.seeders,
                        );
                        self.stats.response(Kind::Announce, v6);
                        protocol::ANNOUNCE_HEADER_LEN + peers_len
                    }
                    Err(refusal) => {
                        self.stats.refused(refusal);
                        // Never more bytes than the request (no amplification).
                        self.error(out, req.transaction_id, refusal.message(), packet.len())
                    }
                }
            }
            Ok(Request::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            }) => {
                if !shared.validator.is_valid(source, connection_id) {
                    self.stats.bad_connection_id.fetch_add(1, Ordering::Relaxed);
                    return 0;
                }
                self.stats.request(Kind::Scrape, v6);
                let mut w = Writer::new(out);
                w.u32(protocol::action::SCRAPE);
                w.u32(transaction_id);
                for chunk in info_hashes.chunks_exact(20) {
                    let Some(hash) = magnetar_shared::InfoHash::from_slice(chunk) else {
                        break;
                    };
                    let c = if shared.moderation.denies_hash(&hash) {
                        crate::SwarmCounts::default()
                    } else {
                        shared.swarms.scrape(&hash)
                    };
                    w.u32(c.seeders);
                    w.u32(c.completed);
                    w.u32(c.leechers);
                }
                self.stats.response(Kind::Scrape, v6);
                w.len()
            }
            Err(e) => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                match (e.kind, e.transaction_id) {
                    (RequestErrorKind::TooShort | RequestErrorKind::BadProtocolId, _)
                    | (_, None) => 0,
                    (kind, Some(tid)) => {
                        // Unverified sources never get more bytes than they sent.
                        let limit = if shared.validator.is_valid(source, e.connection_id) {
                            MAX_REPLY
                        } else {
                            packet.len()
                        };
                        self.error(out, tid, kind.message(), limit)
                    }
                }
            }
        }
    }

    fn error(&self, out: &mut [u8], transaction_id: u32, message: &str, limit: usize) -> usize {
        let n = protocol::write_error(out, transaction_id, message, limit);
        if n > 0 {
            self.stats.errors_sent.fetch_add(1, Ordering::Relaxed);
        }
        n
    }
}
