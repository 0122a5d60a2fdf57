//! The export's list of torrents this catalog has metadata for, in the
//! order they arrived: (indexed time, info-hash) ascending, so another
//! instance can page through it with a cursor and later ask only for what
//! came after.

use std::collections::BinaryHeap;

use magnetar_shared::InfoHash;
use tantivy::DocSet;

use super::{Generation, IndexError};

/// A position in the list: the (indexed second, info-hash) of the last
/// entry read. Entries strictly after it come next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedCursor {
    pub indexed: i64,
    pub hash: InfoHash,
}

impl FeedCursor {
    /// The cursor's text form: `<unix seconds>-<hex>`.
    pub fn to_text(self) -> String {
        format!("{}-{}", self.indexed, self.hash)
    }

    /// Parses [`Self::to_text`]; a bare number is that second, before any hash.
    pub fn parse(s: &str) -> Option<Self> {
        let (secs, hash) = match s.split_once('-') {
            // A leading minus is part of the number (dates before 1970).
            Some(("", rest)) => {
                let (secs, hash) = rest.split_once('-').unwrap_or((rest, ""));
                (format!("-{secs}"), hash)
            }
            Some((secs, hash)) => (secs.to_owned(), hash),
            None => (s.to_owned(), ""),
        };
        let indexed = secs.parse().ok()?;
        let hash = match hash {
            "" => InfoHash::default(),
            h => InfoHash::from_hex(h).ok()?,
        };
        Some(Self { indexed, hash })
    }
}

impl Generation {
    /// Up to `limit` entries after `after`, in list order, and whether more
    /// follow. One walk of each segment's info-hash dictionary and indexed
    /// dates (no stored document is read); memory is bounded by `limit`.
    pub fn metadata_after(
        &self,
        after: FeedCursor,
        limit: usize,
    ) -> Result<(Vec<FeedCursor>, bool), IndexError> {
        let searcher = self.reader.searcher();
        // The `limit + 1` smallest entries after the cursor (a max-heap
        // whose top is the largest kept).
        let keep = limit.saturating_add(1);
        let mut heap: BinaryHeap<FeedCursor> = BinaryHeap::with_capacity(keep.min(1 << 16));
        for segment in searcher.segment_readers() {
            let dates = segment.fast_fields().date("indexed")?;
            let alive = segment.alive_bitset();
            super::for_each_hash_term(segment, self.fields.info_hash, |hex, mut postings| {
                let Some(hash) = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| InfoHash::from_hex(h).ok())
                else {
                    return;
                };
                let mut doc = postings.doc();
                while doc != tantivy::TERMINATED {
                    if alive.is_none_or(|a| a.is_alive(doc)) {
                        let indexed = dates.first(doc).map_or(0, |d| d.into_timestamp_secs());
                        let entry = FeedCursor { indexed, hash };
                        if entry > after
                            && (heap.len() < keep || heap.peek().is_some_and(|top| entry < *top))
                        {
                            heap.push(entry);
                            if heap.len() > keep {
                                heap.pop();
                            }
                        }
                    }
                    doc = postings.advance();
                }
            })?;
        }
        let mut entries = heap.into_sorted_vec();
        // The same hash in two segments (an upsert not merged yet) is one entry.
        entries.dedup_by_key(|e| e.hash);
        let more = entries.len() > limit;
        entries.truncate(limit);
        Ok((entries, more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::CatalogIndex;
    use chrono::DateTime;

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let c = FeedCursor {
            indexed: 1_700_000_000,
            hash: InfoHash([0xab; 20]),
        };
        assert_eq!(FeedCursor::parse(&c.to_text()), Some(c));
        let before_1970 = FeedCursor {
            indexed: -5,
            hash: InfoHash([1; 20]),
        };
        assert_eq!(FeedCursor::parse(&before_1970.to_text()), Some(before_1970));
        assert_eq!(
            FeedCursor::parse("42"),
            Some(FeedCursor {
                indexed: 42,
                hash: InfoHash::default()
            })
        );
        for bad in ["", "x", "1-zz", "1-abcd", "99999999999999999999999"] {
            assert_eq!(FeedCursor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pages_follow_arrival_order_and_a_cursor_resumes_after_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = CatalogIndex::open(&dir.path().join("index"), 1).unwrap();
        let g = index.current();
        let mut writer: tantivy::IndexWriter = g.index.writer(50_000_000).unwrap();
        // Arrival times run against the hash order (hash i+1, time 100 - i),
        // with a tie at one second, over two segments.
        let mut expected = Vec::new();
        for (i, secs) in [100, 99, 98, 98, 98, 97, 96].into_iter().enumerate() {
            let meta = crate::index::sample(i, &format!("t{i}"), &[]);
            let at = DateTime::from_timestamp(secs, 0).unwrap();
            writer.add_document(g.document(&meta, at, &[])).unwrap();
            expected.push(FeedCursor {
                indexed: secs,
                hash: meta.info_hash,
            });
            if i == 3 {
                writer.commit().unwrap();
            }
        }
        writer.commit().unwrap();
        g.reader.reload().unwrap();
        expected.sort();
        assert_ne!(
            expected.iter().map(|e| e.hash).collect::<Vec<_>>(),
            (0..7)
                .map(|i| crate::index::sample(i, "", &[]).info_hash)
                .collect::<Vec<_>>(),
            "the list's order is not the insertion order"
        );
        let mut read = Vec::new();
        let mut cursor = FeedCursor::default();
        let mut pages = 0;
        loop {
            let (page, more) = g.metadata_after(cursor, 2).unwrap();
            pages += 1;
            assert!(page.len() <= 2);
            read.extend(page.iter().copied());
            match page.last() {
                Some(last) if more => cursor = *last,
                _ => break,
            }
        }
        assert_eq!(read, expected);
        assert_eq!(pages, 4, "7 entries, 2 a page");
        // Nothing after the last entry.
        let (rest, more) = g.metadata_after(*expected.last().unwrap(), 10).unwrap();
        assert!(rest.is_empty() && !more);
        // A cursor inside the tie at 98 s resumes after its hash only.
        let (page, _) = g.metadata_after(expected[2], 10).unwrap();
        assert_eq!(page, expected[3..]);
    }
}
