//! Where hashes come from: `infohash.bin` files (watched and polled),
//! HTTP(S) URLs of such files (polled with conditional requests,
//! size-capped), and the files the federation syncs write.

use std::collections::HashMap;
use std::path::PathBuf;

use magnetar_shared::infohash_file::InfoHashReader;
use magnetar_shared::{DataDir, InfoHash, Origin};

/// One source of hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A local `infohash.bin` (the own tracker's).
    File(PathBuf),
    /// A remote `infohash.bin`.
    Url(String),
    /// A local copy of a federated peer's lists (see `federation`).
    Peer { path: PathBuf, base: String },
}

/// Every hash of the sources, with the index of the first source that
/// lists it (its origin).
pub type Known = HashMap<InfoHash, u16>;

impl Source {
    /// Parses a config entry: URLs by scheme, anything else a path relative to the data dir.
    pub fn parse(entry: &str, data: &DataDir) -> Self {
        if entry.starts_with("http://") || entry.starts_with("https://") {
            Self::Url(entry.to_owned())
        } else {
            Self::File(data.resolve(entry))
        }
    }

    /// Human name for logs.
    pub fn label(&self) -> String {
        match self {
            Self::File(p) | Self::Peer { path: p, .. } => p.display().to_string(),
            Self::Url(u) => u.clone(),
        }
    }

    /// The local file, for file and peer sources.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Self::File(p) | Self::Peer { path: p, .. } => Some(p),
            Self::Url(_) => None,
        }
    }

    /// What a torrent learned from this source records as its origin.
    pub fn origin(&self) -> Origin {
        match self {
            Self::File(_) => Origin::Tracker,
            Self::Url(u) => Origin::Source(u.clone()),
            Self::Peer { base, .. } => Origin::Peer(base.clone()),
        }
    }
}

/// What was last fetched of a URL source, so an unchanged file costs one
/// round trip (`If-None-Match`, `If-Modified-Since`: 304).
#[derive(Default)]
struct Fetched {
    etag: Option<String>,
    modified: Option<String>,
    hashes: Vec<InfoHash>,
}

/// The sources with what was seen of them, so an unchanged set of files is
/// not read again (at millions of hashes a re-read is the crawler's
/// biggest cost).
pub struct Sources {
    list: Vec<Source>,
    /// (modified, length) of each file source at the last read.
    stamps: Vec<Option<(std::time::SystemTime, u64)>>,
    read_once: bool,
    /// The last answer of each URL source.
    fetched: HashMap<String, Fetched>,
}

impl Sources {
    /// The configured sources, not read yet.
    pub fn new(list: Vec<Source>) -> Self {
        let stamps = vec![None; list.len()];
        Self {
            list,
            stamps,
            read_once: false,
            fetched: HashMap::new(),
        }
    }

    /// The sources.
    pub fn list(&self) -> &[Source] {
        &self.list
    }

    /// Reads every source unless they are all files unchanged since the
    /// last read (URL sources are always asked, conditionally). Returns
    /// every hash with its first source and how many sources failed, or
    /// `None` when nothing changed.
    pub async fn read_if_changed(
        &mut self,
        http: &reqwest::Client,
        max_bytes: u64,
    ) -> Option<(Known, u64)> {
        let paths: Vec<Option<PathBuf>> = self
            .list
            .iter()
            .map(|s| s.path().map(|p| p.to_owned()))
            .collect();
        let stamps = tokio::task::spawn_blocking(move || {
            paths
                .iter()
                .map(|p| {
                    let m = std::fs::metadata(p.as_ref()?).ok()?;
                    Some((m.modified().ok()?, m.len()))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let has_url = self.list.iter().any(|s| matches!(s, Source::Url(_)));
        if self.read_once && !has_url && stamps == self.stamps {
            return None;
        }
        self.stamps = stamps;
        self.read_once = true;
        Some(read_all(&self.list, &mut self.fetched, http, max_bytes).await)
    }
}

/// Reads every source and returns every hash with the index of the
/// first source that lists it, and how many sources failed. A source that
/// fails is logged and skipped (a URL source keeps its last answer): the
/// crawler never stops because of one.
async fn read_all(
    sources: &[Source],
    fetched: &mut HashMap<String, Fetched>,
    http: &reqwest::Client,
    max_bytes: u64,
) -> (Known, u64) {
    let mut out = Known::new();
    let mut failed = 0;
    for (i, s) in sources.iter().enumerate() {
        let index = u16::try_from(i).unwrap_or(u16::MAX);
        let mut add = |hashes: &mut dyn Iterator<Item = InfoHash>| {
            for h in hashes {
                out.entry(h).or_insert(index);
            }
        };
        match s {
            Source::File(path) | Source::Peer { path, .. } => {
                let path = path.clone();
                let read = tokio::task::spawn_blocking(move || -> Result<Vec<InfoHash>, String> {
                    let reader = InfoHashReader::open(&path).map_err(|e| {
                        if e.is_not_found() {
                            String::new()
                        } else {
                            e.to_string()
                        }
                    })?;
                    reader
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| e.to_string())
                })
                .await;
                match read {
                    Ok(Ok(hashes)) => add(&mut hashes.into_iter()),
                    Ok(Err(e)) if e.is_empty() => {
                        tracing::debug!(source = %s.label(), "source does not exist yet")
                    }
                    Ok(Err(e)) => {
                        failed += 1;
                        tracing::warn!(source = %s.label(), "cannot read source: {e}")
                    }
                    Err(e) => {
                        failed += 1;
                        tracing::warn!(source = %s.label(), "source reader failed: {e}")
                    }
                }
            }
            Source::Url(url) => {
                let last = fetched.entry(url.clone()).or_default();
                if let Err(e) = fetch_if_changed(http, url, max_bytes, last).await {
                    failed += 1;
                    tracing::warn!(source = %url, "cannot fetch source: {e}")
                }
                add(&mut last.hashes.iter().copied());
            }
        }
    }
    (out, failed)
}

/// Fetches a URL source unless the server says it did not change since
/// `last` (304); on success `last` holds the new answer.
async fn fetch_if_changed(
    http: &reqwest::Client,
    url: &str,
    max_bytes: u64,
    last: &mut Fetched,
) -> Result<(), String> {
    let mut req = http.get(url);
    if let Some(tag) = &last.etag {
        req = req.header("if-none-match", tag);
    }
    if let Some(date) = &last.modified {
        req = req.header("if-modified-since", date);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
        tracing::debug!(source = %url, "unchanged (304)");
        return Ok(());
    }
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let (etag, modified) = validators(&resp);
    let bytes = read_capped(resp, max_bytes).await?;
    last.hashes = InfoHashReader::new(bytes.as_slice(), url.to_owned())
        .filter_map(Result::ok)
        .collect();
    last.etag = etag;
    last.modified = modified;
    Ok(())
}

/// The answer's `ETag` and `Last-Modified`, to ask with next time.
pub fn validators(resp: &reqwest::Response) -> (Option<String>, Option<String>) {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    (header("etag"), header("last-modified"))
}

/// Reads a response's body, refusing one of more than `max_bytes` (told
/// by its length, or found while reading: memory stays within the cap).
pub async fn read_capped(mut resp: reqwest::Response, max_bytes: u64) -> Result<Vec<u8>, String> {
    if resp.content_length().is_some_and(|n| n > max_bytes) {
        return Err(format!("larger than {max_bytes} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() as u64 + chunk.len() as u64 > max_bytes {
            return Err(format!("larger than {max_bytes} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
