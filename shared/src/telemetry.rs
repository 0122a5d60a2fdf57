//! Prometheus text exposition: a writer for metric lines and a tiny HTTP
//! listener for roles that have no web server of their own.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::task::{self, Criticality, Task};
use crate::Shutdown;

/// Builds a Prometheus text document.
#[derive(Default)]
pub struct PromText {
    out: String,
}

impl PromText {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a metric family (`kind` is `counter` or `gauge`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample; `labels` are `(key, value)` pairs (values must not contain quotes).
    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl std::fmt::Display,
    ) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// A family with a single unlabelled sample.
    pub fn single(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        value: impl std::fmt::Display,
    ) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// Process-level metrics every role exports (resident memory).
    pub fn process(&mut self) -> &mut Self {
        if let Some(rss) = resident_memory_bytes() {
            self.single(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory.",
                rss,
            );
        }
        self
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Serves `render()` as `text/plain` to any HTTP request on `listener` until
/// `shutdown`. Returns when shut down.
pub async fn serve_metrics<F>(listener: TcpListener, render: F, shutdown: Shutdown)
where
    F: Fn() -> String + Send + Sync + 'static,
{
    let render = Arc::new(render);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => return,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let render = render.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            // One read is enough for a GET; the request itself is not used.
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
                    .await;
            if !matches!(read, Ok(Ok(n)) if n > 0) {
                return;
            }
            let body = render();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Binds `addr` and spawns [`serve_metrics`] on it as the task `name`;
/// returns the bound address and the task (joined by the caller on shutdown).
pub async fn spawn_metrics<F>(
    name: &str,
    addr: SocketAddr,
    render: F,
    shutdown: &Shutdown,
) -> std::io::Result<(SocketAddr, Task)>
where
    F: Fn() -> String + Send + Sync + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!("metrics on http://{local}/metrics");
    let serve = serve_metrics(listener, render, shutdown.clone());
    let task = task::spawn(name, shutdown, Criticality::BestEffort, async move {
        serve.await;
        Ok::<(), std::convert::Infallible>(())
    });
    Ok((local, task))
}

/// Resident memory of this process in bytes (Linux), for metrics.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_prometheus_text() {
        let mut p = PromText::new();
        p.family("x_total", "counter", "Things.")
            .sample("x_total", &[("kind", "a")], 3)
            .sample("x_total", &[("kind", "b"), ("f", "v6")], 4);
        p.single("y", "gauge", "Y.", 1.5);
        assert_eq!(
            p.finish(),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{kind=\"a\"} 3\nx_total{kind=\"b\",f=\"v6\"} 4\n# HELP y Y.\n# TYPE y gauge\ny 1.5\n"
        );
    }

    #[tokio::test]
    async fn serves_metrics_over_http() {
        let shutdown = Shutdown::new();
        let (addr, task) = spawn_metrics(
            "test-metrics",
            "127.0.0.1:0".parse().unwrap(),
            || "m 1\n".into(),
            &shutdown,
        )
        .await
        .unwrap();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).await.unwrap();
        assert!(got.starts_with("HTTP/1.1 200 OK"));
        assert!(got.ends_with("\r\n\r\nm 1\n"));
        shutdown.cancel();
        task.join().await;
    }
}
