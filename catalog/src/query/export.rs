//! What this catalog publishes for other instances (`[federation] export`):
//! the tracker's `infohash.bin` as it is on disk, and the list of hashes
//! it has metadata for, in arrival order, paged from a cursor.

use std::time::SystemTime;

use super::{blocking, Catalog, QueryError};
use crate::index::feed::FeedCursor;

/// Most hashes in one page of the list.
pub const MAX_FEED_PAGE: usize = 10_000;

/// One page of the list of torrents this catalog has metadata for.
pub struct FeedPage {
    pub hashes: Vec<crate::query::InfoHash>,
    /// The cursor to ask with for the next page (the last entry's), or the
    /// one asked with when the page is empty.
    pub next: FeedCursor,
    pub more: bool,
    /// Changes whenever the index does (a validator for `ETag`).
    pub version: String,
}

/// `infohash.bin`, opened, with what identifies this version of it.
pub struct HashFile {
    pub file: tokio::fs::File,
    pub len: u64,
    pub modified: SystemTime,
}

impl Catalog {
    /// 404 unless the export is on.
    fn check_export(&self) -> Result<(), QueryError> {
        if self.export {
            Ok(())
        } else {
            Err(QueryError::NotFound(
                "This catalog does not publish its lists ([federation] export = false).".into(),
            ))
        }
    }

    /// The tracker's `infohash.bin` beside this catalog, opened (one
    /// version of it, also when the tracker replaces it meanwhile).
    pub async fn infohash_file(&self) -> Result<HashFile, QueryError> {
        self.check_export()?;
        let missing = || {
            QueryError::NotFound("No infohash.bin here (no tracker beside this catalog).".into())
        };
        let file = tokio::fs::File::open(&self.infohash_bin)
            .await
            .map_err(|_| missing())?;
        let meta = file.metadata().await.map_err(|_| missing())?;
        Ok(HashFile {
            file,
            len: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        })
    }

    /// The hashes indexed after `after` (`<secs>-<hex>`; none = from the
    /// start), at most `limit` (≤ [`MAX_FEED_PAGE`]), in arrival order.
    pub async fn metadata_after(
        &self,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<FeedPage, QueryError> {
        self.check_export()?;
        let after = match after.map(str::trim).filter(|s| !s.is_empty()) {
            None => FeedCursor::default(),
            Some(text) => FeedCursor::parse(text).ok_or_else(|| {
                QueryError::BadParam("after must be a cursor like 1700000000-<40 hex>".into())
            })?,
        };
        let limit = limit.unwrap_or(1000);
        if !(1..=MAX_FEED_PAGE).contains(&limit) {
            return Err(QueryError::BadParam(format!(
                "limit must be a number from 1 to {MAX_FEED_PAGE}"
            )));
        }
        let generation = self.index.current();
        let (version, listed) = blocking("list task", move || {
            let version = generation.reader.searcher().generation().generation_id();
            (version, generation.metadata_after(after, limit))
        })
        .await?;
        let (entries, more) = listed.map_err(|e| QueryError::internal("list of torrents", e))?;
        let next = entries.last().copied().unwrap_or(after);
        let hashes = self.moderation.with_current(|list| {
            entries
                .iter()
                .map(|e| e.hash)
                .filter(|h| !list.denies_hash(h))
                .collect()
        });
        Ok(FeedPage {
            hashes,
            next,
            more,
            version: format!("{}-{version}", self.started),
        })
    }
}
