//! The tracker's counters for `/stats`, read from its Prometheus endpoint
//! (`tracker_metrics_url`) with a bounded HTTP client: one timeout for the
//! whole exchange and a cap on the bytes read; or, under `magnetar up`,
//! from the tracker in the same process.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The Prometheus text of a tracker in this process.
pub type MetricsText = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// Where the tracker's counters are read.
enum Source {
    /// Its metrics URL.
    Http {
        url: String,
        client: reqwest::Client,
        max_bytes: u64,
    },
    /// The tracker beside the catalog in this process.
    Local(MetricsText),
}

/// A reader of one tracker's counters.
pub struct TrackerMetrics {
    source: Source,
    /// Fetches that failed (timeout, error status, too large, unreachable).
    pub errors: AtomicU64,
}

impl TrackerMetrics {
    /// A client for `url` with a total `timeout` and a body cap of `max_bytes`.
    pub fn new(url: &str, timeout: Duration, max_bytes: u64) -> Result<Self, reqwest::Error> {
        Ok(Self {
            source: Source::Http {
                url: url.to_owned(),
                client: reqwest::Client::builder()
                    .timeout(timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
                max_bytes,
            },
            errors: AtomicU64::new(0),
        })
    }

    /// The counters of the tracker in this process, from its `text`.
    pub fn local(text: MetricsText) -> Self {
        Self {
            source: Source::Local(text),
            errors: AtomicU64::new(0),
        }
    }

    /// The `magnetar_tracker_*` samples, labelled ones summed per metric
    /// name; `None` when the tracker could not be read.
    pub async fn fetch(&self) -> Option<BTreeMap<String, f64>> {
        match self.body().await {
            Ok(body) => Some(parse(&body)).filter(|m| !m.is_empty()),
            Err(e) => {
                self.errors.fetch_add(1, Relaxed);
                tracing::debug!("cannot read tracker metrics: {e}");
                None
            }
        }
    }

    async fn body(&self) -> Result<String, String> {
        let (url, client, max_bytes) = match &self.source {
            Source::Local(text) => return Ok(text()),
            Source::Http {
                url,
                client,
                max_bytes,
            } => (url, client, *max_bytes),
        };
        let mut resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url}: HTTP {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{url}: {e}"))? {
            if body.len() as u64 + chunk.len() as u64 > max_bytes {
                return Err(format!("{url}: larger than {max_bytes} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|e| format!("{url}: {e}"))
    }
}

/// Sums `magnetar_tracker_*` samples per metric name (labels dropped).
fn parse(body: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| l.starts_with("magnetar_tracker_")) {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let name = key
            .split('{')
            .next()
            .unwrap_or(key)
            .trim_start_matches("magnetar_tracker_");
        if let Ok(v) = value.parse::<f64>() {
            *out.entry(name.to_owned()).or_insert(0.0) += v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_samples_are_summed_and_others_ignored() {
        let m = parse(
            "# HELP x\nmagnetar_tracker_requests_total{kind=\"a\"} 2\nmagnetar_tracker_requests_total{kind=\"b\"} 3\nmagnetar_tracker_peers 7\nother 1\nmagnetar_tracker_bad x\n",
        );
        assert_eq!(m.get("requests_total"), Some(&5.0));
        assert_eq!(m.get("peers"), Some(&7.0));
        assert_eq!(m.len(), 2);
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_an_error_not_a_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let body = "magnetar_tracker_x 1\n".repeat(100);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
        });
        let m = TrackerMetrics::new(
            &format!("http://{addr}/metrics"),
            Duration::from_secs(5),
            100,
        )
        .unwrap();
        assert_eq!(m.fetch().await, None);
        assert_eq!(m.errors.load(Relaxed), 1);
        server.await.unwrap();
    }
}
