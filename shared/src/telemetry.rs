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

/// Checks a Prometheus text exposition (format 0.0.4): every line is a
/// `# HELP`, a `# TYPE` or a sample; each family has at most one HELP and
/// one TYPE, declared before its samples; names and labels are well
/// formed; values parse. Returns the first problem found. Used by the
/// roles' tests so a malformed `/metrics` fails before a scraper sees it.
pub fn check_exposition(text: &str) -> Result<(), String> {
    use std::collections::{HashMap, HashSet};
    fn valid_name(n: &str) -> bool {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut help = HashSet::new();
    let mut types: HashMap<String, String> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let at = |m: &str| format!("line {}: {m}: {line:?}", i + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            if !valid_name(name) || !help.insert(name.to_owned()) {
                return Err(at("bad or repeated HELP"));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let known = ["counter", "gauge", "histogram", "summary", "untyped"];
            if !valid_name(name) || !known.contains(&kind) || types.contains_key(name) {
                return Err(at("bad or repeated TYPE"));
            }
            types.insert(name.to_owned(), kind.to_owned());
        } else if line.starts_with('#') || line.is_empty() {
            return Err(at("unexpected line"));
        } else {
            let (series, value) = line.rsplit_once(' ').ok_or_else(|| at("no value"))?;
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (
                    n,
                    Some(l.strip_suffix('}').ok_or_else(|| at("unclosed labels"))?),
                ),
                None => (series, None),
            };
            if !valid_name(name) {
                return Err(at("bad metric name"));
            }
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
                })
                .unwrap_or(name);
            if !types.contains_key(family) {
                return Err(at("sample before its TYPE"));
            }
            for pair in labels.into_iter().flat_map(|l| l.split(',')) {
                let (k, v) = pair.split_once('=').ok_or_else(|| at("bad label"))?;
                let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
                if !(valid_name(k) && quoted) {
                    return Err(at("bad label"));
                }
            }
            if value.parse::<f64>().is_err() && !["+Inf", "-Inf", "NaN"].contains(&value) {
                return Err(at("bad value"));
            }
        }
    }
    Ok(())
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

    #[test]
    fn the_exposition_checker_catches_what_scrapers_reject() {
        let mut p = PromText::new();
        p.single("a_total", "counter", "A.", 1)
            .family("h", "histogram", "H.")
            .sample("h_bucket", &[("le", "+Inf")], 2)
            .sample("h_sum", &[], 0.5)
            .sample("h_count", &[], 2);
        assert_eq!(check_exposition(&p.finish()), Ok(()));
        assert!(check_exposition("x 1\n").is_err(), "sample before TYPE");
        assert!(check_exposition("# TYPE x gauge\n# TYPE x gauge\nx 1\n").is_err());
        assert!(check_exposition("# TYPE x gauge\nx one\n").is_err());
        assert!(check_exposition("# TYPE x gauge\nx{a=b} 1\n").is_err());
        assert!(check_exposition("# TYPE 1x gauge\n").is_err());
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
