//! Parsed `.torrent` files for detail pages, downloads and the JSON view:
//! each is parsed once and kept while it is unchanged on disk, within a
//! memory budget, and only a few are parsed at once.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use magnetar_shared::{InfoHash, MetainfoError, TorrentMeta};

/// Bytes of parsed torrents kept (counted as three times the file's size,
/// what the parsed file list takes with its paths).
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// How much more memory a parsed torrent takes than its file.
const PARSED_FACTOR: usize = 3;

/// A stored torrent: its bytes and what they say.
pub struct Parsed {
    pub meta: TorrentMeta,
    pub bytes: Vec<u8>,
    /// Size and modification time of the file it was read from.
    stamp: (u64, Option<SystemTime>),
}

/// Why a stored torrent could not be had.
#[derive(Debug)]
pub enum ReadError {
    Missing,
    Unreadable(MetainfoError),
}

#[derive(Default)]
struct Inner {
    map: HashMap<InfoHash, Arc<Parsed>>,
    /// Oldest first.
    order: VecDeque<InfoHash>,
    bytes: usize,
}

/// The cache (cheap to share: one lock, held only to look up or insert).
pub struct ParseCache {
    inner: parking_lot::Mutex<Inner>,
    budget: usize,
}

fn cost(p: &Parsed) -> usize {
    p.bytes.len().saturating_mul(PARSED_FACTOR)
}

impl ParseCache {
    pub fn new(budget: usize) -> Self {
        Self {
            inner: parking_lot::Mutex::default(),
            budget,
        }
    }

    /// The parsed torrent at `path` (blocking: file reads and parsing). A
    /// cached one is used while the file's size and time are unchanged.
    pub fn get(&self, hash: &InfoHash, path: &Path) -> Result<Arc<Parsed>, ReadError> {
        let stat = std::fs::metadata(path).map_err(|_| ReadError::Missing)?;
        let stamp = (stat.len(), stat.modified().ok());
        if let Some(hit) = self.inner.lock().map.get(hash) {
            if hit.stamp == stamp {
                return Ok(hit.clone());
            }
        }
        let bytes =
            magnetar_shared::bencode_check::read_file(path).map_err(|_| ReadError::Missing)?;
        let meta = TorrentMeta::from_torrent_bytes(&bytes).map_err(ReadError::Unreadable)?;
        let parsed = Arc::new(Parsed { meta, bytes, stamp });
        self.insert(*hash, parsed.clone());
        Ok(parsed)
    }

    fn insert(&self, hash: InfoHash, parsed: Arc<Parsed>) {
        let size = cost(&parsed);
        if size > self.budget / 4 {
            return; // one torrent never takes most of the cache
        }
        let mut inner = self.inner.lock();
        if let Some(old) = inner.map.insert(hash, parsed) {
            inner.bytes -= cost(&old);
            inner.order.retain(|h| *h != hash);
        }
        inner.bytes += size;
        inner.order.push_back(hash);
        while inner.bytes > self.budget {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(old) = inner.map.remove(&oldest) {
                inner.bytes -= cost(&old);
            }
        }
    }

    /// Bytes counted against the budget now.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn torrent(dir: &Path, name: &str, pad: usize) -> (InfoHash, std::path::PathBuf) {
        let info = format!(
            "d6:lengthi1e4:name{}:{name}12:piece lengthi16384e6:pieces20:{}e",
            name.len(),
            "x".repeat(20)
        );
        let hash = InfoHash::of_info_bytes(info.as_bytes());
        let body = format!("d7:comment{}:{}4:info{info}e", pad, "c".repeat(pad));
        let path = dir.join(format!("{hash}.torrent"));
        std::fs::write(&path, body).unwrap();
        (hash, path)
    }

    #[test]
    fn parsed_once_while_unchanged_and_within_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ParseCache::new(8_000);
        let (a, path_a) = torrent(dir.path(), "a", 10);
        let first = cache.get(&a, &path_a).unwrap();
        assert!(
            Arc::ptr_eq(&first, &cache.get(&a, &path_a).unwrap()),
            "a hit"
        );
        // Changed on disk: parsed again.
        let (_, _) = torrent(dir.path(), "a", 20);
        let again = cache.get(&a, &path_a).unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!(again.meta.comment.as_deref(), Some(&*"c".repeat(20)));
        // More than the budget: the oldest go first, the total stays in it.
        let mut hashes = Vec::new();
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            let (h, p) = torrent(dir.path(), name, 300);
            cache.get(&h, &p).unwrap();
            hashes.push((h, p));
        }
        assert!(cache.bytes() <= 8_000, "{}", cache.bytes());
        let inner = cache.inner.lock();
        assert!(!inner.map.contains_key(&a), "the oldest was dropped");
        assert!(inner.map.contains_key(&hashes.last().unwrap().0));
        drop(inner);
        // Gone from disk: not served from the cache.
        std::fs::remove_file(&hashes[7].1).unwrap();
        assert!(matches!(
            cache.get(&hashes[7].0, &hashes[7].1),
            Err(ReadError::Missing)
        ));
    }
}
