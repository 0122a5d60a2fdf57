//! The catalog's HTTP/1.1 front: it accepts connections itself, so it can
//! bound them, and hands each request to Rocket.
//!
//! Rocket 0.5 serves on a listener of its own, with no timeout for reading
//! a request's headers and no limit on connections, and its API for a
//! custom listener is private (`http_server` is `pub(crate)` in 0.5.2). So
//! hyper serves here, with a header timeout and a connection budget, and
//! each request goes through Rocket's in-process client: the same routing,
//! fairings, catchers and `Server` header as Rocket's own server, with the
//! client's address set on the request. Response bodies are streamed.
//!
//! The budget: at most `max_connections` open at once (further capped by
//! the process's descriptor limit). At the budget a new connection takes
//! the place of the oldest one that has no request in progress (idle
//! keep-alive, or still sending its headers); when every connection is
//! busy, the new one is closed at once.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use magnetar_shared::Shutdown;
use rocket::http::Header;
use rocket::local::asynchronous::Client;

use crate::ratelimit::ClientLimiter;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};

/// Descriptors kept free for the index, `preload/`, the tracker's dump and
/// the crawler when the connection budget is capped by the descriptor limit.
const FD_RESERVE: usize = 512;
/// Largest request body read (the catalog's routes take none).
const MAX_BODY: usize = 64 * 1024;
/// How long connections may finish their requests at shutdown.
const GRACE: Duration = Duration::from_secs(3);
/// Bytes per chunk of a streamed response.
const CHUNK: usize = 64 * 1024;

/// Counters for `/metrics`.
#[derive(Default)]
pub struct ConnStats {
    pub open: AtomicUsize,
    pub accepted: AtomicU64,
    /// Idle connections closed to make room for a new one.
    pub evicted: AtomicU64,
    /// New connections closed because every other one was busy.
    pub refused: AtomicU64,
}

/// The limits of the front.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

struct Conn {
    /// Requests in progress on it.
    busy: AtomicUsize,
    close: Notify,
}

/// Open connections by age (ids grow).
#[derive(Default)]
struct Registry {
    conns: parking_lot::Mutex<BTreeMap<u64, Arc<Conn>>>,
    next: AtomicU64,
}

impl Registry {
    /// Registers a new connection, or says it cannot be taken.
    fn admit(&self, max: usize, stats: &ConnStats) -> Option<(u64, Arc<Conn>)> {
        let mut conns = self.conns.lock();
        if conns.len() >= max {
            let idle = conns
                .iter()
                .find(|(_, c)| c.busy.load(Relaxed) == 0)
                .map(|(id, _)| *id)?;
            if let Some(old) = conns.remove(&idle) {
                old.close.notify_one();
                stats.evicted.fetch_add(1, Relaxed);
            }
        }
        let id = self.next.fetch_add(1, Relaxed);
        let conn = Arc::new(Conn {
            busy: AtomicUsize::new(0),
            close: Notify::new(),
        });
        conns.insert(id, conn.clone());
        Some((id, conn))
    }

    fn remove(&self, id: u64) {
        self.conns.lock().remove(&id);
    }
}

/// Raises the soft descriptor limit to the hard one, and returns it.
pub fn raise_fd_limit() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
}

/// The connection budget: the configured one, within the descriptor limit.
pub fn budget(configured: usize, fd_limit: usize) -> usize {
    configured.min(fd_limit.saturating_sub(FD_RESERVE)).max(16)
}

/// Serves `client` on `listener` until `shutdown` is cancelled; then lets
/// requests in progress finish (for a few seconds) and returns.
pub async fn serve(
    listener: TcpListener,
    client: Arc<Client>,
    limits: Limits,
    stats: Arc<ConnStats>,
    limiter: Arc<ClientLimiter>,
    shutdown: Shutdown,
) {
    let registry = Arc::new(Registry::default());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, or a connection reset before
                    // accept: wait a moment rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        stats.accepted.fetch_add(1, Relaxed);
        let Some((id, conn)) = registry.admit(limits.max_connections, &stats) else {
            stats.refused.fetch_add(1, Relaxed);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, registry, stats, builder, shutdown, limiter) = (
            client.clone(),
            registry.clone(),
            stats.clone(),
            builder.clone(),
            shutdown.clone(),
            limiter.clone(),
        );
        stats.open.fetch_add(1, Relaxed);
        tasks.spawn(async move {
            let service_conn = conn.clone();
            let service = hyper::service::service_fn(move |req| {
                handle(
                    client.clone(),
                    peer,
                    service_conn.clone(),
                    limiter.clone(),
                    req,
                )
            });
            let served = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(served);
            tokio::select! {
                _ = served.as_mut() => {}
                _ = conn.close.notified() => {}
                _ = shutdown.cancelled() => {
                    served.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(GRACE, served).await;
                }
            }
            registry.remove(id);
            stats.open.fetch_sub(1, Relaxed);
        });
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

/// Decrements a connection's busy count when a request ends (or is dropped).
struct Busy(Arc<Conn>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Relaxed);
    }
}

fn plain(status: u16, text: &'static str) -> hyper::Response<StreamBody> {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(Bytes::from_static(text.as_bytes()));
    let mut response = hyper::Response::new(StreamBody {
        rx,
        size: Some(text.len() as u64),
    });
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn handle(
    client: Arc<Client>,
    peer: SocketAddr,
    conn: Arc<Conn>,
    limiter: Arc<ClientLimiter>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<StreamBody>, Infallible> {
    conn.busy.fetch_add(1, Relaxed);
    let busy = Busy(conn);
    let (parts, body) = req.into_parts();
    if limiter.limits(parts.uri.path()) {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        if let Err(wait) = limiter.check(limiter.client(peer.ip(), forwarded)) {
            let mut response = plain(
                429,
                "too many requests from your address: slow down (see Retry-After)\n",
            );
            response
                .headers_mut()
                .insert(hyper::header::RETRY_AFTER, wait.into());
            return Ok(response);
        }
    }
    let Ok(method) = parts.method.as_str().parse::<rocket::http::Method>() else {
        return Ok(plain(501, "method not implemented\n"));
    };
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(plain(413, "request body too large\n")),
    };
    let uri = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let (head_tx, head_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    // The request runs in its own task that owns a handle on the client
    // (a response borrows it) and streams the body into the channel.
    tokio::spawn(async move {
        let _busy = busy;
        let mut request = client.req(method, uri).remote(peer);
        for (name, value) in &parts.headers {
            let Ok(value) = value.to_str() else { continue };
            if name == hyper::header::COOKIE {
                // Rocket's own server reads cookies from the header; its
                // in-process client takes them one by one.
                for c in value.split(';').map(str::trim) {
                    if let Ok(c) = rocket::http::Cookie::parse_encoded(c) {
                        request = request.cookie(c.into_owned());
                    }
                }
            }
            request.add_header(Header::new(name.as_str().to_owned(), value.to_owned()));
        }
        if !body.is_empty() {
            request.set_body(body);
        }
        let mut response = request.dispatch().await;
        let mut head = hyper::Response::builder().status(response.status().code);
        for h in response.headers().iter() {
            head = head.header(h.name().as_str(), h.value());
        }
        let size = response.body().preset_size().map(|n| n as u64);
        if head_tx.send((head, size)).is_err() {
            return;
        }
        let mut buf = vec![0u8; CHUNK];
        loop {
            match response.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let Ok((head, size)) = head_rx.await else {
        return Ok(plain(500, "internal error\n"));
    };
    Ok(head
        .body(StreamBody { rx, size })
        .unwrap_or_else(|_| plain(500, "internal error\n")))
}

/// A response body fed by the task that reads Rocket's response.
pub struct StreamBody {
    rx: mpsc::Receiver<Bytes>,
    size: Option<u64>,
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }

    fn size_hint(&self) -> SizeHint {
        self.size
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_budget_the_oldest_idle_connection_makes_room() {
        let (registry, stats) = (Registry::default(), ConnStats::default());
        let (a, conn_a) = registry.admit(3, &stats).unwrap();
        let (_, conn_b) = registry.admit(3, &stats).unwrap();
        let (c, _) = registry.admit(3, &stats).unwrap();
        // The oldest, a, is busy: b, the oldest idle one, goes.
        conn_a.busy.fetch_add(1, Relaxed);
        let (d, _) = registry.admit(3, &stats).unwrap();
        assert_eq!(stats.evicted.load(Relaxed), 1);
        let ids: Vec<u64> = registry.conns.lock().keys().copied().collect();
        assert_eq!(ids, [a, c, d]);
        // b's task is told to close (a stored permit: no waiter needed).
        let notified = conn_b.close.notified();
        tokio::pin!(notified);
        assert!(futures_ready(notified.as_mut()));
        // Every connection busy: the new one is refused.
        for conn in registry.conns.lock().values() {
            conn.busy.fetch_add(1, Relaxed);
        }
        assert!(registry.admit(3, &stats).is_none());
        registry.remove(a);
        assert!(registry.admit(3, &stats).is_some(), "room again");
    }

    fn futures_ready<F: std::future::Future>(f: Pin<&mut F>) -> bool {
        let waker = std::task::Waker::noop();
        f.poll(&mut Context::from_waker(waker)).is_ready()
    }

    #[test]
    fn the_budget_stays_within_the_descriptor_limit() {
        assert_eq!(budget(4096, 1_048_576), 4096);
        assert_eq!(budget(4096, 1024), 512);
        assert_eq!(budget(4096, 100), 16);
    }
}
