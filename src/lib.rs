//! `magnetar up`: the three roles in one process, on one runtime.

pub mod demo;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use magnetar_shared::{Config, Shutdown};
use magnetar_tracker::RunningTracker;
use tokio::sync::oneshot;

/// How to run `up` beyond the configuration.
#[derive(Default)]
pub struct UpOptions {
    /// Seed generated sample torrents (`--demo`).
    pub demo: bool,
    /// Receives the bound addresses once everything listens.
    pub ready: Option<oneshot::Sender<Ready>>,
}

/// Where a running instance listens.
#[derive(Debug, Clone)]
pub struct Ready {
    pub catalog: SocketAddr,
    pub trackers: Vec<SocketAddr>,
}

/// An address clients on this host can use: unspecified becomes loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// True for `udp://127.x…`, `udp://[::1]…` and `udp://localhost…` URLs.
fn is_loopback_url(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("");
    host.starts_with("127.") || host.starts_with("[::1]") || host.starts_with("localhost")
}

/// Runs tracker, crawler and catalog until `shutdown`. The first role to
/// fail cancels the others, so the process never keeps running half-alive.
///
/// Inside one process the crawler takes a hash's peers straight from the
/// tracker's state (both families, so IPv6-only peers are crawled) instead
/// of announcing to its own tracker, and the catalog scrapes the tracker at
/// the addresses it actually bound.
pub async fn up(mut config: Config, shutdown: Shutdown, options: UpOptions) -> anyhow::Result<()> {
    if options.demo {
        config.crawler.dht = false;
        config.crawler.preload.enabled = true;
    }
    let tracker = RunningTracker::start_with(&config, &shutdown).context("tracker")?;
    let local: Vec<SocketAddr> = tracker
        .local_addrs()
        .iter()
        .copied()
        .map(reachable)
        .collect();
    for a in &local {
        tracing::info!("tracker: udp://{a}/announce");
    }
    for a in tracker.http_addrs() {
        tracing::info!("tracker: http://{}/announce", reachable(*a));
    }
    let remote_scrapes: Vec<String> = config
        .catalog
        .scrape_trackers
        .iter()
        .filter(|t| !is_loopback_url(t))
        .cloned()
        .collect();
    config.catalog.scrape_trackers = local
        .iter()
        .map(|a| format!("udp://{a}"))
        .chain(remote_scrapes)
        .collect();
    config.crawler.trackers.retain(|t| !is_loopback_url(t));
    if config.crawler.announce.is_empty() {
        config.crawler.announce = config.catalog.public_trackers.clone();
    }

    let shared = tracker.shared().clone();
    let peer_source: magnetar_crawler::PeerSource = Arc::new(move |h| shared.peers_of(h));
    // The catalog's /stats reads the tracker's counters here, not over HTTP.
    let counted = tracker.shared().clone();
    let tracker_metrics: magnetar_catalog::MetricsText =
        Arc::new(move || counted.stats.snapshot().prometheus());
    let _demo = match (
        options.demo,
        local.iter().find(|a| a.is_ipv4()).or(local.first()),
    ) {
        (true, Some(addr)) => Some(demo::start(&config, &tracker, *addr).await?),
        _ => None,
    };

    let (bound_tx, bound_rx) = oneshot::channel();
    let ready = options.ready;
    let base_url = config.catalog.base_url.clone();
    let trackers = local.clone();
    let announce = async move {
        if let Ok(catalog) = bound_rx.await {
            tracing::info!("magnetar is up: catalog {base_url} (listening on http://{catalog}/)");
            if let Some(tx) = ready {
                let _ = tx.send(Ready { catalog, trackers });
            }
        }
    };
    let crawler_options = magnetar_crawler::Options {
        peer_source: Some(peer_source),
        ..Default::default()
    };
    let (t, c, k, _) = tokio::join!(
        guard(
            magnetar_tracker::serve(tracker, &config, shutdown.clone()),
            &shutdown
        ),
        guard(
            magnetar_crawler::run_with(config.clone(), shutdown.clone(), crawler_options),
            &shutdown
        ),
        guard(
            magnetar_catalog::run_with(
                config.clone(),
                shutdown.clone(),
                magnetar_catalog::Options {
                    bound: Some(bound_tx),
                    tracker_metrics: Some(tracker_metrics),
                }
            ),
            &shutdown
        ),
        announce,
    );
    t.context("tracker")?;
    c.context("crawler")?;
    k.context("catalog")?;
    Ok(())
}

async fn guard<E>(
    role: impl std::future::Future<Output = Result<(), E>>,
    shutdown: &Shutdown,
) -> Result<(), E> {
    let result = role.await;
    if result.is_err() {
        shutdown.cancel();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_tracker_urls_are_recognised() {
        assert!(is_loopback_url("udp://127.0.0.1:6969/announce"));
        assert!(is_loopback_url("udp://[::1]:6969"));
        assert!(!is_loopback_url("udp://[200:1::2]:6969/announce"));
        assert_eq!(
            reachable("[::]:5".parse().unwrap()),
            "[::1]:5".parse().unwrap()
        );
        assert_eq!(
            reachable("0.0.0.0:5".parse().unwrap()),
            "127.0.0.1:5".parse().unwrap()
        );
    }
}
