//! Where hashes come from: `infohash.bin` files (watched and polled) and
//! HTTP(S) URLs of such files (polled, size-capped).

use std::collections::HashSet;
use std::path::PathBuf;

use magnetar_shared::infohash_file::InfoHashReader;
use magnetar_shared::{DataDir, InfoHash};

/// One configured source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Url(String),
}

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
            Self::File(p) => p.display().to_string(),
            Self::Url(u) => u.clone(),
        }
    }
}

/// The sources with what was seen of them, so an unchanged set of files is
/// not read again (at millions of hashes a re-read is the crawler's
/// biggest cost).
pub struct Sources {
    list: Vec<Source>,
    /// (modified, length) of each file source at the last read.
    stamps: Vec<Option<(std::time::SystemTime, u64)>>,
    read_once: bool,
}

impl Sources {
    /// The configured sources, not read yet.
    pub fn new(list: Vec<Source>) -> Self {
        let stamps = vec![None; list.len()];
        Self {
            list,
            stamps,
            read_once: false,
        }
    }

    /// The sources.
    pub fn list(&self) -> &[Source] {
        &self.list
    }

    /// Reads every source unless they are all files unchanged since the
    /// last read (URL sources are always fetched). Returns the union of
    /// hashes and how many sources failed, or `None` when nothing changed.
    pub async fn read_if_changed(
        &mut self,
        http: &reqwest::Client,
        max_bytes: u64,
    ) -> Option<(HashSet<InfoHash>, u64)> {
        let paths: Vec<Option<PathBuf>> = self
            .list
            .iter()
            .map(|s| match s {
                Source::File(p) => Some(p.clone()),
                Source::Url(_) => None,
            })
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
        Some(read_all(&self.list, http, max_bytes).await)
    }
}

/// Reads every source and returns the union of their hashes and how many
/// sources failed. A source that fails is logged and skipped: the crawler
/// never stops because of one.
pub async fn read_all(
    sources: &[Source],
    http: &reqwest::Client,
    max_bytes: u64,
) -> (HashSet<InfoHash>, u64) {
    let mut out = HashSet::new();
    let mut failed = 0;
    for s in sources {
        match s {
            Source::File(path) => {
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
                    Ok(Ok(hashes)) => out.extend(hashes),
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
            Source::Url(url) => match fetch(http, url, max_bytes).await {
                Ok(bytes) => {
                    let hashes =
                        InfoHashReader::new(bytes.as_slice(), url.clone()).filter_map(Result::ok);
                    out.extend(hashes);
                }
                Err(e) => {
                    failed += 1;
                    tracing::warn!(source = %url, "cannot fetch source: {e}")
                }
            },
        }
    }
    (out, failed)
}

async fn fetch(http: &reqwest::Client, url: &str, max_bytes: u64) -> Result<Vec<u8>, String> {
    let mut resp = http.get(url).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
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
