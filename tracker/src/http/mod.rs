//! The HTTP tracker (BEP 3 announce with BEP 23 compact peers and BEP 7
//! `peers6`, BEP 48 scrape), beside the UDP one: same swarms, same
//! completed counters, same budgets and access list, same `infohash.bin`.
//! For clients that cannot announce over UDP on an overlay network
//! (transmission and aria2c over Yggdrasil).
//!
//! Threat model: anyone can connect. The listeners defer accepting a
//! connection until its first bytes arrive (`TCP_DEFER_ACCEPT`), so a
//! connection that sends nothing costs the kernel, not us. An accepted
//! connection whose request is already whole is answered at once on the
//! accepting task, without registering it with the runtime (four system
//! calls: accept, read, write, close). Anything else (half a request, a
//! reply the socket cannot take at once, a kept-alive connection) becomes a
//! task holding one of `http_max_connections` slots (past it the connection
//! is closed at once), and must send each request whole (headers only, at
//! most [`MAX_REQUEST`] bytes) within [`READ_TIMEOUT`] or is closed. HTTP/1.1
//! connections are kept alive only while fewer than half the slots are
//! taken, so idle clients cannot crowd out new ones. HTTP is parsed with
//! `httparse`. The peer's address is the connection's;
//! `X-Forwarded-For` / `X-Real-IP` count only from configured
//! `trusted_proxies`. The `ip=` parameter is ignored.

pub(crate) mod answer;

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use magnetar_shared::Shutdown;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use answer::MAX_SCRAPE;
use answer::{Reply, Scratch};

use crate::Shared;

/// Largest request accepted (request line and headers), bytes.
pub const MAX_REQUEST: usize = 8 * 1024;
/// How long a client has to send a whole request; also how long a kept
/// connection may sit idle.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the kernel holds a connection that has sent nothing before
/// handing it over anyway (`TCP_DEFER_ACCEPT`), seconds.
const DEFER_ACCEPT_SECS: libc::c_int = 5;
/// How long an accept loop waits after an accept error (e.g. out of descriptors).
const ACCEPT_IDLE: Duration = Duration::from_millis(20);
/// Connections answered per wake-up of an accept loop before it lets the
/// connection tasks of its thread run.
const ACCEPT_BATCH: usize = 64;

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
    /// Requests answered on a connection kept alive from an earlier one.
    pub reused: AtomicU64,
}

/// Settings of the HTTP tracker.
#[derive(Clone, Debug)]
pub(crate) struct HttpConfig {
    pub workers: usize,
    pub max_connections: usize,
    pub trusted_proxies: Vec<IpAddr>,
}

/// Binds one TCP listener per address (IPv6 ones IPv6-only), each with
/// `SO_REUSEPORT` so every worker can bind its own on the same address.
pub(crate) fn bind(addrs: &[SocketAddr]) -> io::Result<Vec<TcpListener>> {
    addrs.iter().map(|a| listener(*a)).collect()
}

fn listener(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    set_defer_accept(&s);
    s.bind(&addr.into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Asks the kernel to hand over connections only once they have data.
/// Best effort: without it, idle connections cost a slot until the timeout.
fn set_defer_accept(s: &socket2::Socket) {
    use std::os::fd::AsRawFd;
    let secs = DEFER_ACCEPT_SECS;
    // SAFETY: a valid socket, a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&secs as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!("TCP_DEFER_ACCEPT: {}", io::Error::last_os_error());
    }
}

/// Serves HTTP on `listeners` until `shutdown`, with `workers` threads of
/// their own (the UDP workers stay runtime-free). Each thread runs a
/// single-threaded runtime with its own listeners on the same addresses;
/// the kernel spreads new connections over them.
pub(crate) fn serve(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    config: HttpConfig,
    shutdown: Shutdown,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let config = Arc::new(config);
    let mut others = Vec::new();
    for i in 1..config.workers.max(1) {
        let own = listeners
            .iter()
            .map(|l| l.local_addr().and_then(listener))
            .collect::<io::Result<Vec<_>>>()?;
        let worker = Worker {
            shared: shared.clone(),
            config: config.clone(),
            slots: slots.clone(),
        };
        let token = shutdown.clone();
        others.push(
            std::thread::Builder::new()
                .name(format!("tracker-http-{i}"))
                .spawn(move || {
                    let result = worker.run(own, &token);
                    if let Err(e) = &result {
                        tracing::error!("HTTP tracker worker {i}: {e}");
                        token.cancel();
                    }
                    result
                })?,
        );
    }
    let result = Worker {
        shared,
        config,
        slots,
    }
    .run(listeners, &shutdown);
    if result.is_err() {
        shutdown.cancel();
    }
    for t in others {
        let _ = t.join();
    }
    result
}

/// What every connection of a worker needs.
#[derive(Clone)]
struct Worker {
    shared: Arc<Shared>,
    config: Arc<HttpConfig>,
    /// Slots of connections that outlive their first read (shared by all
    /// workers).
    slots: Arc<Semaphore>,
}

impl Worker {
    fn run(self, listeners: Vec<TcpListener>, shutdown: &Shutdown) -> io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let mut accepts = tokio::task::JoinSet::new();
            for l in listeners {
                // SAFETY: the listener owns its descriptor, keeps it open
                // while the AsyncFd owns the listener, and always returns
                // that one from as_raw_fd.
                let l = unsafe { AsyncFd::register_with_interest(l, Interest::READABLE) }
                    .map_err(|e| e.into_parts().1)?;
                accepts.spawn(self.clone().accept(l));
            }
            shutdown.cancelled().await;
            accepts.abort_all();
            Ok::<(), io::Error>(())
        })?;
        // Dropping the runtime ends the connection tasks still running.
        rt.shutdown_timeout(Duration::from_secs(1));
        Ok(())
    }

    /// Accepts connections and answers the ones whose request is whole.
    async fn accept(self, listener: AsyncFd<TcpListener>) {
        let mut fast = FastPath::default();
        loop {
            let mut ready = match listener.readable().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("http accept: {e}");
                    tokio::time::sleep(ACCEPT_IDLE).await;
                    continue;
                }
            };
            let mut idle = false;
            for _ in 0..ACCEPT_BATCH {
                match accept_nonblocking(listener.get_ref()) {
                    Ok((stream, peer)) => self.first_request(stream, peer, &mut fast),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        ready.clear_ready();
                        break;
                    }
                    Err(e) => {
                        tracing::debug!("http accept: {e}");
                        idle = true;
                        break;
                    }
                }
            }
            drop(ready);
            if idle {
                tokio::time::sleep(ACCEPT_IDLE).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Reads what a new connection has sent. A whole request is answered
    /// here; anything else goes to a connection task.
    fn first_request(&self, mut stream: TcpStream, peer: SocketAddr, fast: &mut FastPath) {
        let n = match stream.read(&mut fast.buf[..]) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => return,
        };
        let Some(end) = head_end(&fast.buf[..n]).filter(|&end| end == n) else {
            // Half a request, or more than one: the slow path reads on.
            let state = Handover {
                buffered: fast.buf[..n].to_vec(),
                ..Handover::default()
            };
            self.hand_over(stream, peer, state);
            return;
        };
        let reply = answer::answer(
            &fast.buf[..end],
            peer.ip(),
            &self.shared,
            &self.config,
            &mut fast.scratch,
        );
        let keep = reply.keep_alive && self.room_to_keep();
        respond(&mut fast.out, reply, &fast.scratch.body, keep);
        let written = match send_now(&stream, &fast.out, !keep) {
            Ok(w) => w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => return,
        };
        if written < fast.out.len() || keep {
            let state = Handover {
                buffered: Vec::new(),
                unsent: fast.out[written..].to_vec(),
                keep,
                served: true,
            };
            self.hand_over(stream, peer, state);
        }
    }

    /// Whether a connection may be kept alive: fewer than half the slots
    /// are taken.
    fn room_to_keep(&self) -> bool {
        self.slots.available_permits() * 2 > self.config.max_connections.max(1)
    }

    /// Moves a connection to a task of its own, if a slot is free.
    fn hand_over(&self, stream: TcpStream, peer: SocketAddr, state: Handover) {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            self.shared.stats.http.shed.fetch_add(1, Relaxed);
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            if let Ok(stream) = tokio::net::TcpStream::from_std(stream) {
                this.connection(stream, peer, state, slot).await;
            }
        });
    }

    /// A connection that outlived its first read: finishes sending what
    /// was not sent, then (while kept alive) answers request after request.
    async fn connection(
        &self,
        mut stream: tokio::net::TcpStream,
        peer: SocketAddr,
        state: Handover,
        _slot: OwnedSemaphorePermit,
    ) {
        use tokio::io::AsyncReadExt;
        let Handover {
            buffered: mut buf,
            unsent,
            mut keep,
            served: mut served_before,
        } = state;
        if served_before && (!send(&mut stream, &unsent, !keep).await || !keep) {
            return;
        }
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        loop {
            // One whole request within the timeout.
            let read = tokio::time::timeout(READ_TIMEOUT, async {
                loop {
                    if let Some(end) = head_end(&buf) {
                        return Ok(end);
                    }
                    if buf.len() >= MAX_REQUEST {
                        return Err(true);
                    }
                    let mut chunk = [0u8; 2048];
                    let want = chunk.len().min(MAX_REQUEST - buf.len());
                    match stream.read(&mut chunk[..want]).await {
                        Ok(0) | Err(_) => return Err(false),
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            })
            .await;
            let end = match read {
                Ok(Ok(end)) => end,
                Ok(Err(true)) => {
                    self.shared.stats.http.dropped.fetch_add(1, Relaxed);
                    scratch.body.clear();
                    answer::failure(&mut scratch.body, "request too long");
                    let reply = Reply {
                        status: 414,
                        reason: "URI Too Long",
                        keep_alive: false,
                    };
                    respond(&mut out, reply, &scratch.body, false);
                    send(&mut stream, &out, true).await;
                    return;
                }
                // Closed by the client, or idle after a kept reply.
                Ok(Err(false)) => return,
                Err(_) => {
                    if !served_before {
                        self.shared.stats.http.dropped.fetch_add(1, Relaxed);
                    }
                    return;
                }
            };
            if served_before {
                self.shared.stats.http.reused.fetch_add(1, Relaxed);
            }
            let reply = answer::answer(
                &buf[..end],
                peer.ip(),
                &self.shared,
                &self.config,
                &mut scratch,
            );
            buf.drain(..end);
            keep = reply.keep_alive && self.room_to_keep();
            respond(&mut out, reply, &scratch.body, keep);
            if !send(&mut stream, &out, !keep).await || !keep {
                return;
            }
            served_before = true;
        }
    }
}

/// What a connection task takes over from the accept loop.
#[derive(Default)]
struct Handover {
    /// Bytes read and not yet answered.
    buffered: Vec<u8>,
    /// The part of a reply the socket did not take at once.
    unsent: Vec<u8>,
    /// Whether the connection stays open after that reply.
    keep: bool,
    /// Whether a request was answered already.
    served: bool,
}

/// Sends `bytes` within the timeout (then closes our side when `close`);
/// false when the client did not take them.
async fn send(stream: &mut tokio::net::TcpStream, bytes: &[u8], close: bool) -> bool {
    use tokio::io::AsyncWriteExt;
    let sent = tokio::time::timeout(READ_TIMEOUT, async {
        stream.write_all(bytes).await?;
        if close {
            stream.shutdown().await?;
        }
        Ok::<(), io::Error>(())
    })
    .await;
    matches!(sent, Ok(Ok(())))
}

/// Buffers of an accept loop, reused for every connection it answers.
struct FastPath {
    buf: Box<[u8; MAX_REQUEST]>,
    scratch: Scratch,
    out: Vec<u8>,
}

impl Default for FastPath {
    fn default() -> Self {
        Self {
            buf: Box::new([0; MAX_REQUEST]),
            scratch: Scratch::default(),
            out: Vec::with_capacity(4096),
        }
    }
}

/// Where the request head ends (after its blank line), if it has.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Writes the whole response (status line, headers, body) into `out`.
fn respond(out: &mut Vec<u8>, reply: Reply, body: &[u8], keep: bool) {
    out.clear();
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
        reply.status,
        reply.reason,
        body.len(),
        if keep { "" } else { "Connection: close\r\n" }
    );
    out.extend_from_slice(body);
}

/// Writes `bytes` without blocking. A reply that ends the connection is
/// sent with `MSG_MORE`: the kernel holds it until the close that follows,
/// which then goes out in the same segment (data and FIN in one packet
/// instead of two).
fn send_now(stream: &TcpStream, bytes: &[u8], closing: bool) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let flags = libc::MSG_NOSIGNAL | if closing { libc::MSG_MORE } else { 0 };
    // SAFETY: a connected socket and a valid buffer of `bytes.len()` bytes.
    let n = unsafe {
        libc::send(
            stream.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            flags,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `accept4` with the new socket non-blocking from the start (one system
/// call, where std's accept and a `set_nonblocking` take two).
fn accept_nonblocking(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: zeroed sockaddr_storage is a valid value of that C struct.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` and `len` are valid for writes of their sizes; on
    // success the returned descriptor is new and owned by the TcpStream.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a connected socket we own from here on.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    // SAFETY: the kernel wrote a socket address of `len` bytes.
    let addr = unsafe { socket2::SockAddr::new(storage, len) };
    let peer = addr
        .as_socket()
        .ok_or_else(|| io::Error::other("not an IP connection"))?;
    Ok((stream, peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_after_its_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\n"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nGET"), Some(18));
    }

    #[test]
    fn responses_say_close_only_when_closing() {
        let mut out = Vec::new();
        let reply = Reply {
            status: 200,
            reason: "OK",
            keep_alive: true,
        };
        respond(&mut out, reply, b"de", true);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nde"
        );
        respond(&mut out, reply, b"de", false);
        assert!(out.ends_with(b"Content-Length: 2\r\nConnection: close\r\n\r\nde"));
    }
}
