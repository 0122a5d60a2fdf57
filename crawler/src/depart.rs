//! Leaving the swarms the crawler asked.
//!
//! librqbit announces every resolve to the configured trackers as a peer:
//! with `left = 0` (it cannot know the size before the metadata), so as a
//! seeder, at port 4240 when nothing listens (`listen_port = 0`). It never
//! says `stopped` for a list-only fetch. A tracker then counts a seeder
//! that does not exist for its whole peer timeout (an hour by default): the
//! catalog shows it, leechers are sent to it. So after each resolve the
//! crawler announces `stopped` with its session's peer id to every
//! configured tracker, over UDP (BEP 15) or HTTP (BEP 3), each bounded by
//! [`DEPART_TIMEOUT`]. Inside `magnetar up` the crawler asks its tracker's
//! state directly and has no loopback trackers, so there is nothing to
//! leave.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join_all;
use magnetar_shared::InfoHash;
use magnetar_tracker::client::{parse_udp_url, TrackerClient};
use magnetar_tracker::protocol::{Event, PeerId};

/// Longest wait for one tracker's answer to a `stopped` announce.
pub const DEPART_TIMEOUT: Duration = Duration::from_secs(2);

/// The port librqbit announces when the session has no listener.
const LIBRQBIT_UNLISTENED_PORT: u16 = 4240;

/// The trackers a resolve was announced to, and who announced.
pub(crate) struct Departures {
    peer_id: [u8; 20],
    port: u16,
    udp: Vec<String>,
    http: Vec<String>,
    client: reqwest::Client,
}

impl Departures {
    /// `trackers` as configured for the crawler; `listen_port` as given to
    /// the session (0 = none).
    pub fn new(trackers: &[String], peer_id: [u8; 20], listen_port: u16) -> reqwest::Result<Self> {
        let (udp, http): (Vec<String>, Vec<String>) = trackers
            .iter()
            .filter(|t| t.starts_with("udp://") || t.starts_with("http"))
            .cloned()
            .partition(|t| t.starts_with("udp://"));
        Ok(Self {
            peer_id,
            port: if listen_port == 0 {
                LIBRQBIT_UNLISTENED_PORT
            } else {
                listen_port
            },
            udp,
            http,
            client: reqwest::Client::builder()
                .timeout(DEPART_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }

    /// The peer id the crawler's sessions announce with.
    pub fn peer_id(&self) -> [u8; 20] {
        self.peer_id
    }

    /// Whether there is any tracker to leave.
    pub fn is_empty(&self) -> bool {
        self.udp.is_empty() && self.http.is_empty()
    }

    /// Announces `stopped` for `hash` to every tracker at once; returns when
    /// each has answered or timed out. Failures are logged at debug level:
    /// the entry then expires on the tracker's own timer.
    pub async fn leave(&self, hash: InfoHash) {
        let udp = join_all(self.udp.iter().map(|url| self.leave_udp(url.clone(), hash)));
        let http = join_all(self.http.iter().map(|url| self.leave_http(url, hash)));
        tokio::join!(udp, http);
    }

    async fn leave_udp(&self, url: String, hash: InfoHash) {
        let (peer_id, port) = (PeerId(self.peer_id), self.port);
        let result = tokio::task::spawn_blocking(move || {
            let addr: SocketAddr =
                parse_udp_url(&url).ok_or_else(|| format!("cannot resolve {url}"))?;
            let mut client = TrackerClient::new(addr, DEPART_TIMEOUT).map_err(|e| e.to_string())?;
            client
                .announce(hash, peer_id, port, 0, Event::Stopped, 0)
                .map(|_| ())
                .map_err(|e| format!("{url}: {e}"))
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(%hash, "leaving the swarm: {e}"),
            Err(e) => tracing::debug!(%hash, "leaving the swarm: {e}"),
        }
    }

    async fn leave_http(&self, url: &str, hash: InfoHash) {
        let url = stopped_url(url, &hash, &self.peer_id, self.port);
        if let Err(e) = self.client.get(&url).send().await {
            tracing::debug!(%hash, "leaving the swarm over HTTP: {e}");
        }
    }
}

/// The BEP 3 announce URL saying `stopped` (binary values percent-encoded;
/// an existing query, e.g. a passkey, is kept).
fn stopped_url(announce: &str, hash: &InfoHash, peer_id: &[u8; 20], port: u16) -> String {
    let mut url = announce.to_owned();
    url.push(if announce.contains('?') { '&' } else { '?' });
    url.push_str("info_hash=");
    percent_encode(&hash.0, &mut url);
    url.push_str("&peer_id=");
    percent_encode(peer_id, &mut url);
    url.push_str(&format!(
        "&port={port}&uploaded=0&downloaded=0&left=0&event=stopped&compact=1&numwant=0"
    ));
    url
}

fn percent_encode(bytes: &[u8], out: &mut String) {
    for b in bytes {
        out.push_str(&format!("%{b:02X}"));
    }
}

/// A peer id for the crawler's librqbit session, fixed for the process so
/// departures name the id the announces used: `-MG0001-` and 12 random
/// alphanumerics.
pub(crate) fn new_peer_id() -> [u8; 20] {
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut id = *b"-MG0001-000000000000";
    for b in &mut id[8..] {
        *b = ALNUM[rand::random::<usize>() % ALNUM.len()];
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_departure_encodes_binary_values_and_keeps_a_passkey() {
        let hash = InfoHash([0xab; 20]);
        let url = stopped_url(
            "http://t.example/announce?pk=1",
            &hash,
            b"-MG0001-abcdefghijkl",
            4240,
        );
        assert!(url.starts_with("http://t.example/announce?pk=1&info_hash=%AB%AB"));
        // Every byte escaped, as binary values must be: `-MG0001-…`.
        assert!(
            url.contains("&peer_id=%2D%4D%47%30%30%30%31%2D%61"),
            "{url}"
        );
        assert!(url.contains("&port=4240&"));
        assert!(url.contains("&event=stopped"));
    }

    #[test]
    fn peer_ids_have_the_prefix_and_differ() {
        let a = new_peer_id();
        assert!(a.starts_with(b"-MG0001-"));
        assert!(a[8..].iter().all(u8::is_ascii_alphanumeric));
        assert!((0..8).map(|_| new_peer_id()).any(|b| b != a));
    }
}
