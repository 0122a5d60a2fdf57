//! Configuration: one struct per role plus the top level.
//!
//! Every field has a default; unknown keys are errors. Sources, lowest
//! priority first: defaults, the TOML file (optional), `MAGNETAR_*`
//! environment variables (`MAGNETAR_TRACKER__WORKERS=4`, `__` separates
//! sections), then command-line flags merged by the binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::layout::DataDir;

mod federation;
pub use federation::FederationConfig;

/// Error loading the configuration.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

/// The whole configuration of a magnetar instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The data directory shared by all roles (created if missing).
    pub data_dir: PathBuf,
    pub tracker: TrackerConfig,
    pub crawler: CrawlerConfig,
    pub catalog: CatalogConfig,
    pub moderation: ModerationConfig,
    pub federation: FederationConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            tracker: TrackerConfig::default(),
            crawler: CrawlerConfig::default(),
            catalog: CatalogConfig::default(),
            moderation: ModerationConfig::default(),
            federation: FederationConfig::default(),
        }
    }
}

impl Config {
    /// Defaults with another data directory.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    /// Defaults, then `file` (when given, it must exist), then `MAGNETAR_*`
    /// variables, then `overrides` (already-serialized CLI flags).
    pub fn figment(file: Option<&Path>, overrides: Figment) -> Figment {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            f = f.merge(Toml::file_exact(file));
        }
        f.merge(Env::prefixed("MAGNETAR_").split("__"))
            .merge(overrides)
    }

    /// Extracts the configuration from a figment built by [`Config::figment`].
    pub fn load(figment: Figment) -> Result<Self, ConfigError> {
        figment.extract().map_err(|e| ConfigError(Box::new(e)))
    }

    /// Parses a TOML document on its own (no environment), as `print-config` writes it.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::load(Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)))
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot serialize: {e}\n"))
    }

    /// The denylist of the data directory (shared by the roles of a process).
    pub fn moderation(&self) -> std::sync::Arc<crate::Moderation> {
        crate::Moderation::for_data_dir(&self.data(), self.moderation.safe_mode)
    }

    /// The data directory's layout.
    pub fn data(&self) -> DataDir {
        DataDir::new(&self.data_dir)
    }
}

/// Access-list mode of the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AccessListMode {
    /// Every info-hash is tracked.
    #[default]
    Off,
    /// Only listed info-hashes are tracked.
    Allow,
    /// Listed info-hashes are refused.
    Deny,
}

/// `[tracker]`: the BEP 15 UDP tracker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerConfig {
    /// UDP addresses to listen on (an IPv6 socket is made IPv6-only).
    pub bind: Vec<SocketAddr>,
    /// Worker threads, each with its own socket per address; 0 = number of cores.
    pub workers: usize,
    /// Announce interval sent to clients, seconds.
    pub announce_interval: u32,
    /// Peers not heard from for this long are dropped, seconds; 0 = 2 × interval.
    pub peer_timeout: u64,
    /// How often expired peers and empty torrents are cleaned, seconds.
    pub cleaning_interval: u64,
    /// Most torrents tracked at once; new ones beyond are refused.
    pub max_torrents: usize,
    /// Most peers kept per torrent.
    pub max_peers_per_torrent: usize,
    /// Most peers kept over all torrents (about 100 bytes each); announces
    /// that would add one more are refused (`magnetar_tracker_refused_total{reason="peer_budget"}`).
    pub max_peers: usize,
    /// Most peers one source holds at once (a source is an IPv4 address or
    /// an IPv6 prefix of `ipv6_source_prefix` bits, so one host cannot
    /// rotate addresses). A seedbox holds one peer per torrent it seeds.
    pub max_peers_per_source: usize,
    /// New torrents one source may add per minute.
    pub source_new_torrents_per_minute: u32,
    /// Announces per second one source may send on average (token bucket;
    /// 0 = no limit) …
    pub source_announce_rate: u32,
    /// … and in one burst.
    pub source_announce_burst: u32,
    /// Sources whose limits are tracked at once; past it, new sources share
    /// one bucket until idle ones are cleaned.
    pub max_sources: usize,
    /// IPv6 sources are grouped by this prefix length (64 = one subnet).
    pub ipv6_source_prefix: u8,
    /// Most info-hashes kept for `infohash.bin`; past it the ones announced
    /// longest ago are evicted (`magnetar_tracker_hashes_evicted_total`).
    pub max_hashes: usize,
    /// Peers returned when an announce asks for a default (-1) number.
    pub default_numwant: usize,
    /// Upper bound for numwant (further capped so a reply fits 1500 bytes).
    pub max_numwant: usize,
    /// How often `infohash.bin` is written, seconds.
    pub dump_interval: u64,
    /// Keep hashes in the dump this many seconds after their last announce;
    /// 0 = until `max_hashes` forces the oldest out. Last-announce times
    /// survive restarts in `<dump_file>.seen`.
    pub retention: u64,
    /// Path of the dump, relative to the data dir.
    pub dump_file: PathBuf,
    /// Access list mode.
    pub access_list_mode: AccessListMode,
    /// File of hex info-hashes, one per line (reloaded on change and SIGHUP).
    pub access_list_path: Option<PathBuf>,
    /// How often statistics are logged, seconds.
    pub stats_interval: u64,
    /// Serve Prometheus text on this TCP address (off when unset).
    pub metrics_addr: Option<SocketAddr>,
    /// Also serve the HTTP tracker (`http://host:port/announce`, `/scrape`)
    /// on TCP, at the same addresses and ports as `bind`: for clients that
    /// cannot announce over UDP (transmission and aria2c on Yggdrasil).
    pub http: bool,
    /// Threads answering HTTP requests.
    pub http_workers: usize,
    /// HTTP connections open at once (each waits at most 5 s for its
    /// request); past it new ones are closed at once
    /// (`magnetar_tracker_http_total{kind="shed"}`).
    pub http_max_connections: usize,
    /// Reverse proxies whose `X-Forwarded-For` / `X-Real-IP` give the
    /// client's address; from anyone else those headers are ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Receive buffer asked for each UDP socket, bytes. The kernel caps it at
    /// `net.core.rmem_max` (a warning at start says so): raise that with
    /// `sysctl -w net.core.rmem_max=8388608` for bursts of announces.
    /// `magnetar_tracker_udp_receive_buffer_errors` counts datagrams the
    /// kernel dropped because a buffer was full.
    pub socket_recv_buffer: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            bind: vec![
                SocketAddr::from(([0, 0, 0, 0], 6969)),
                SocketAddr::from(([0u16; 8], 6969)),
            ],
            workers: 0,
            announce_interval: 1800,
            peer_timeout: 0,
            cleaning_interval: 60,
            max_torrents: 10_000_000,
            max_peers_per_torrent: 10_000,
            max_peers: 2_000_000,
            max_peers_per_source: 20_000,
            source_new_torrents_per_minute: 1_000,
            source_announce_rate: 500,
            source_announce_burst: 5_000,
            max_sources: 1_000_000,
            ipv6_source_prefix: 64,
            max_hashes: 10_000_000,
            default_numwant: 50,
            max_numwant: 200,
            dump_interval: 60,
            retention: 0,
            dump_file: PathBuf::from("infohash.bin"),
            access_list_mode: AccessListMode::Off,
            access_list_path: None,
            stats_interval: 60,
            metrics_addr: None,
            socket_recv_buffer: 8 * 1024 * 1024,
            http: true,
            http_workers: 1,
            http_max_connections: 4_096,
            trusted_proxies: Vec::new(),
        }
    }
}

impl TrackerConfig {
    /// Effective peer timeout in seconds.
    pub fn peer_timeout_secs(&self) -> u64 {
        if self.peer_timeout == 0 {
            2 * u64::from(self.announce_interval)
        } else {
            self.peer_timeout
        }
    }
}

/// `[crawler]`: resolves info-hashes into `.torrent` files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrawlerConfig {
    /// `infohash.bin` files (relative to the data dir) or `http(s)://` URLs of such files.
    pub sources: Vec<String>,
    /// How often sources are re-read even without a change event (and retries
    /// that came due are queued), seconds.
    pub poll_interval: u64,
    /// Largest source file downloaded over HTTP, bytes.
    pub max_source_bytes: u64,
    /// Give up on one HTTP source download after this many seconds (a
    /// failed fetch is logged and counted in `magnetar_crawler_source_errors_total`).
    pub source_timeout: u64,
    /// Trackers asked for peers (both address families, so IPv6-only peers are found).
    pub trackers: Vec<String>,
    /// Trackers written into `<hex>.torrent` files; empty = the ones that were asked.
    pub announce: Vec<String>,
    /// Use the BitTorrent DHT to find peers.
    pub dht: bool,
    /// DHT bootstrap nodes; empty = librqbit's built-in public nodes.
    pub dht_bootstrap: Vec<String>,
    /// TCP port for peer connections; 0 = random.
    pub listen_port: u16,
    /// Peers always tried for every hash.
    pub initial_peers: Vec<SocketAddr>,
    /// Hashes resolved at once.
    pub concurrency: usize,
    /// Give up on one hash after this many seconds.
    pub timeout: u64,
    /// First retry delay after a failure, seconds (doubles each time).
    pub backoff_initial: u64,
    /// Longest retry delay, seconds.
    pub backoff_max: u64,
    /// Stop retrying a hash after this many failures; 0 = never stop.
    pub max_attempts: u32,
    /// Recreate the librqbit session after this many resolves; 0 = never.
    pub session_recycle_after: u64,
    /// How often progress is logged and `status.json` written, seconds.
    pub status_interval: u64,
    /// Serve Prometheus text on this TCP address (off when unset).
    pub metrics_addr: Option<SocketAddr>,
    /// Optional download of small files (images, .nfo) for previews.
    pub preload: PreloadConfig,
}

impl Default for CrawlerConfig {
    fn default() -> Self {
        Self {
            sources: vec!["infohash.bin".into()],
            poll_interval: 30,
            max_source_bytes: 512 * 1024 * 1024,
            source_timeout: 60,
            trackers: vec![
                "udp://127.0.0.1:6969/announce".into(),
                "udp://[::1]:6969/announce".into(),
            ],
            announce: Vec::new(),
            dht: true,
            dht_bootstrap: Vec::new(),
            listen_port: 0,
            initial_peers: Vec::new(),
            concurrency: 32,
            timeout: 60,
            backoff_initial: 600,
            backoff_max: 7 * 24 * 3600,
            max_attempts: 0,
            session_recycle_after: 10_000,
            status_interval: 10,
            metrics_addr: None,
            preload: PreloadConfig::default(),
        }
    }
}

/// `[crawler.preload]`: which small files to download with the metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PreloadConfig {
    /// Off by default: metadata only.
    pub enabled: bool,
    /// Largest single file preloaded, bytes.
    pub max_file_size: u64,
    /// File extensions preloaded (lowercase, no dot).
    pub extensions: Vec<String>,
    /// Disk budget for all preloaded files, bytes.
    pub max_total_bytes: u64,
    /// Give up on a preload after this many seconds.
    pub timeout: u64,
}

impl Default for PreloadConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_file_size: 4 * 1024 * 1024,
            extensions: ["jpg", "jpeg", "png", "gif", "webp", "nfo", "txt"]
                .map(String::from)
                .to_vec(),
            max_total_bytes: 1024 * 1024 * 1024,
            timeout: 120,
        }
    }
}

/// `[catalog]`: the web catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// HTTP address; `[::]` serves IPv6 and IPv4 (falls back to 0.0.0.0 without IPv6).
    pub bind: SocketAddr,
    /// Public URL of the catalog, used for every absolute link (RSS, OpenSearch, Torznab).
    pub base_url: String,
    /// Site title shown in pages and feeds.
    pub title: String,
    /// Announce URLs added to magnets and downloaded `.torrent` files.
    pub public_trackers: Vec<String>,
    /// Trackers scraped (BEP 15) for seeders/leechers/completed.
    pub scrape_trackers: Vec<String>,
    /// How long scraped swarm stats count as fresh, seconds: every indexed
    /// torrent is scraped again each `swarm_ttl` (new torrents at once,
    /// viewed ones with stale counts first). Lists and sorts read the
    /// counts at query time; no document is rewritten.
    pub swarm_ttl: u64,
    /// Longest a page waits for swarm stats, milliseconds.
    pub swarm_wait_ms: u64,
    /// Results per page.
    pub page_size: usize,
    /// Directory with templates overriding the embedded ones (theming).
    pub templates_dir: Option<PathBuf>,
    /// Torznab API key; when set, `/api` requires `apikey=`.
    pub torznab_apikey: Option<String>,
    /// Prometheus URL of the tracker, shown on /stats (unset under `up`:
    /// the tracker in the same process).
    pub tracker_metrics_url: Option<String>,
    /// Longest wait for the tracker's metrics on /stats, milliseconds
    /// (failures: `magnetar_catalog_tracker_metrics_errors_total`).
    pub tracker_metrics_timeout_ms: u64,
    /// Largest metrics document read from the tracker, bytes.
    pub tracker_metrics_max_bytes: u64,
    /// Searches run at once; more wait for a turn (each search holds one
    /// blocking thread).
    pub max_concurrent_searches: usize,
    /// Pages of search results kept for the index as it is (until the next
    /// commit): a search asked again, or another page of it, is answered
    /// from memory. At most this many pages, and 32 MiB in all, least
    /// recently used out first; sorting by seeders or leechers is never
    /// kept; 0 turns the cache off
    /// (`magnetar_catalog_result_cache_{hits,misses,evictions}_total`).
    pub search_cache_entries: usize,
    /// Threads one search runs on, each taking a share of the index's
    /// segments (0: one per core). More threads lower a search's latency
    /// on an idle machine; under load they add nothing.
    pub search_threads: usize,
    /// Most open connections (idle ones make room for new ones; capped by
    /// the descriptor limit, less a reserve).
    pub max_connections: usize,
    /// A client that has not sent a request's headers within this many
    /// seconds (of connecting, or of its previous request) is disconnected.
    pub header_timeout_secs: u64,
    /// Longest a search waits for its turn and runs, milliseconds; past it
    /// the request is answered 503 with Retry-After instead of piling up
    /// (`magnetar_catalog_searches_shed_total`).
    pub search_deadline_ms: u64,
    /// Longest wait for one UDP scrape reply, milliseconds (a lost reply
    /// counts in `magnetar_catalog_scrape_errors_total`).
    pub scrape_timeout_ms: u64,
    /// Most image previews shown on a detail page.
    pub max_previews: usize,
    /// Memory that `.torrent` downloads being sent may hold in all, MiB: a
    /// download reserves its size until its last byte is sent (or the
    /// client goes away), and waits up to 2 s for room before it is
    /// answered 503 with Retry-After (`magnetar_catalog_downloads_shed_total`).
    /// A torrent larger than the budget is sent alone.
    pub download_memory_mib: u32,
    /// Memory budget of the index writer, bytes (Tantivy flushes a segment
    /// when it is used up; at least 15 MB).
    pub index_writer_bytes: usize,
    /// While (re)building the index, commit after this many torrents so
    /// progress survives a crash (`magnetar_catalog_commits_total`).
    pub index_commit_every: usize,
    /// Compare the index with `preload/` this often, seconds, in case the
    /// watcher missed a change (it is also re-armed when `preload/` is
    /// replaced by another directory).
    pub reconcile_every_secs: u64,
    /// Search, feed and API requests per second one client may make (an
    /// IPv6 client is its /64); more are answered 429 with Retry-After
    /// (`magnetar_catalog_rate_limited_total`). 0 turns the limit off.
    pub client_requests_per_sec: f64,
    /// Requests a client may make at once before the rate applies.
    pub client_burst: u32,
    /// Reverse proxies (addresses, e.g. `127.0.0.1`) whose
    /// `X-Forwarded-For` names the client (its last address); from any
    /// other peer the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([0u16; 8], 8000)),
            base_url: "http://[::1]:8000/".into(),
            title: "magnetar".into(),
            public_trackers: vec![
                "udp://[::1]:6969/announce".into(),
                "http://[::1]:6969/announce".into(),
            ],
            scrape_trackers: vec!["udp://[::1]:6969".into()],
            swarm_ttl: 300,
            swarm_wait_ms: 300,
            page_size: 50,
            templates_dir: None,
            torznab_apikey: None,
            tracker_metrics_url: None,
            tracker_metrics_timeout_ms: 1_000,
            tracker_metrics_max_bytes: 4 * 1024 * 1024,
            max_concurrent_searches: 8,
            search_cache_entries: 256,
            search_threads: 0,
            max_connections: 4096,
            header_timeout_secs: 30,
            search_deadline_ms: 2_000,
            scrape_timeout_ms: 1_000,
            max_previews: 8,
            download_memory_mib: 256,
            index_writer_bytes: 64 * 1024 * 1024,
            index_commit_every: 50_000,
            reconcile_every_secs: 600,
            client_requests_per_sec: 10.0,
            client_burst: 40,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[moderation]`: what every role leaves out (see `data/denylist`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationConfig {
    /// Also apply magnetar's shipped name rules for adult content
    /// (`shared/src/safe_mode.denylist`, listed in docs/deploy.md).
    pub safe_mode: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = Config::default();
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn changed_values_round_trip_through_toml() {
        let mut c = Config::with_data_dir("/srv/magnetar");
        c.tracker.workers = 3;
        c.tracker.metrics_addr = Some("127.0.0.1:9000".parse().unwrap());
        c.crawler.preload.enabled = true;
        c.catalog.torznab_apikey = Some("k".into());
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::from_toml("[tracker]\nworkerz = 3\n").unwrap_err();
        assert!(err.to_string().contains("workerz"), "{err}");
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let c = Config::from_toml("[catalog]\ntitle = \"x\"\n").unwrap();
        assert_eq!(c.catalog.title, "x");
        assert_eq!(c.tracker, TrackerConfig::default());
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
    fn env_overrides_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("m.toml", "[tracker]\nworkers = 2\n")?;
            jail.set_env("MAGNETAR_TRACKER__WORKERS", "5");
            jail.set_env("MAGNETAR_DATA_DIR", "/x");
            let c = Config::load(Config::figment(Some(Path::new("m.toml")), Figment::new()))
                .map_err(|e| figment::Error::from(e.to_string()))?;
            assert_eq!(c.tracker.workers, 5);
            assert_eq!(c.data_dir, PathBuf::from("/x"));
            Ok(())
        });
    }

    #[test]
    fn missing_config_file_is_an_error() {
        let err = Config::load(Config::figment(
            Some(Path::new("/no/such.toml")),
            Figment::new(),
        ));
        assert!(err.is_err());
    }
}
