//! Top-k collection for the orders that do not need scores (newest,
//! oldest, size, name, seeders, leechers).
//!
//! Tantivy's `order_by_fast_field` reads one value per matching document
//! through three dynamic calls (default value, row lookup, value mapping);
//! on the home page, which orders all of a million documents by date, that
//! was the whole cost of the page. Here a segment's column is decoded once
//! into an array ([`SortCache`]), and a document is kept only when it beats
//! the current k-th value, so the buffer is sorted rarely.

use std::collections::HashMap;
use std::sync::Arc;

use magnetar_shared::InfoHash;
use parking_lot::Mutex;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, ColumnIndex};
use tantivy::index::SegmentId;
use tantivy::schema::Field;
use tantivy::{DocAddress, DocId, DocSet, Searcher, SegmentOrdinal, SegmentReader, TERMINATED};

/// Reads the sort keys of a segment's documents; a larger key ranks first.
pub trait SegmentKeys: Send {
    /// `out[i]` = key of `docs[i]` (`out` has `docs.len()` slots).
    fn keys(&mut self, docs: &[DocId], out: &mut [u64]);
}

/// Makes the key reader of a segment.
pub type KeysFor = dyn Fn(&SegmentReader) -> tantivy::Result<Box<dyn SegmentKeys>> + Send + Sync;

/// Which way a column orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Largest first.
    Desc,
    /// Smallest first.
    Asc,
}

impl Direction {
    fn key(self, v: u64) -> u64 {
        match self {
            Self::Desc => v,
            Self::Asc => !v,
        }
    }
}

/// Every document's value of one column in one segment, decoded once:
/// segments never change, so the array serves every later search, and a
/// sort reads one machine word per document instead of three dynamic calls.
pub(super) type Decoded = Arc<[u64]>;

/// Decoded columns per segment, dropped when their segment is merged away.
#[derive(Default)]
pub struct SortCache {
    columns: Mutex<HashMap<(SegmentId, &'static str), Decoded>>,
    facets: Mutex<HashMap<SegmentId, Arc<super::facets::FacetColumn>>>,
    /// Frequent terms decoded (searches of several words).
    pub dense: super::dense::DenseCache,
}

impl SortCache {
    /// Forgets the columns of segments `searcher` no longer has.
    pub fn retain_segments_of(&self, searcher: &Searcher) {
        let live: Vec<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        self.columns.lock().retain(|(id, _), _| live.contains(id));
        self.facets.lock().retain(|id, _| live.contains(id));
        self.dense.retain_segments(&live);
    }

    pub(super) fn get(
        &self,
        reader: &SegmentReader,
        name: &'static str,
        decode: impl FnOnce() -> tantivy::Result<Decoded>,
    ) -> tantivy::Result<Decoded> {
        cached(&self.columns, (reader.segment_id(), name), decode)
    }

    /// The segment's facet column, decoded once.
    pub(super) fn facets(
        &self,
        reader: &SegmentReader,
        decode: impl FnOnce() -> tantivy::Result<super::facets::FacetColumn>,
    ) -> tantivy::Result<Arc<super::facets::FacetColumn>> {
        cached(&self.facets, reader.segment_id(), || decode().map(Arc::new))
    }
}

/// The value of `key` in `map`, decoded and kept when absent. Two searches
/// may decode the same column at once; both results are equal.
fn cached<K: std::hash::Hash + Eq, V: Clone>(
    map: &Mutex<HashMap<K, V>>,
    key: K,
    decode: impl FnOnce() -> tantivy::Result<V>,
) -> tantivy::Result<V> {
    if let Some(d) = map.lock().get(&key) {
        return Ok(d.clone());
    }
    let d = decode()?;
    map.lock().insert(key, d.clone());
    Ok(d)
}

fn decode<T: Copy + Default + PartialOrd + std::fmt::Debug + Send + Sync + 'static>(
    column: &Column<T>,
    max_doc: DocId,
    to_u64: fn(T) -> u64,
) -> Decoded {
    if matches!(column.index, ColumnIndex::Full) {
        let mut values = vec![T::default(); max_doc as usize];
        column.values.get_range(0, &mut values);
        values.into_iter().map(to_u64).collect()
    } else {
        // The indexer writes these fields into every document; one without
        // reads as 0 (last when larger ranks first, first otherwise).
        (0..max_doc)
            .map(|d| column.first(d).map_or(0, to_u64))
            .collect()
    }
}

struct DecodedKeys {
    values: Decoded,
    direction: Direction,
}

impl SegmentKeys for DecodedKeys {
    fn keys(&mut self, docs: &[DocId], out: &mut [u64]) {
        for (o, &d) in out.iter_mut().zip(docs) {
            *o = self
                .direction
                .key(self.values.get(d as usize).copied().unwrap_or(0));
        }
    }
}

/// Keys of a u64 fast field.
pub fn u64_field(cache: Arc<SortCache>, name: &'static str, direction: Direction) -> Box<KeysFor> {
    Box::new(move |reader: &SegmentReader| {
        let values = cache.get(reader, name, || {
            let column = reader.fast_fields().u64(name)?;
            Ok(decode(&column, reader.max_doc(), |v| v))
        })?;
        Ok(Box::new(DecodedKeys { values, direction }) as Box<dyn SegmentKeys>)
    })
}

/// Keys of a date fast field, in time order.
pub fn date_field(cache: Arc<SortCache>, name: &'static str, direction: Direction) -> Box<KeysFor> {
    Box::new(move |reader: &SegmentReader| {
        let values = cache.get(reader, name, || {
            let column = reader.fast_fields().date(name)?;
            // Flipping the sign bit maps i64 order onto u64 order.
            Ok(decode(&column, reader.max_doc(), |d: tantivy::DateTime| {
                (d.into_timestamp_nanos() as u64) ^ (1 << 63)
            }))
        })?;
        Ok(Box::new(DecodedKeys { values, direction }) as Box<dyn SegmentKeys>)
    })
}

/// Swarm counts looked up by [`super::hash_key`], read at query time so a
/// scrape changes the order of lists at once, without re-indexing.
pub trait CountTable: Send + Sync {
    /// `out[i]` = the seeders (or leechers) of the torrent whose hash key is
    /// `keys[i]`, 0 when unknown.
    fn fill(&self, keys: &[u64], leechers: bool, out: &mut [u64]);
}

/// Each document's [`super::hash_key`], from the segment's dictionary of
/// info-hashes (one term per document; no stored document is read).
fn hash_keys(reader: &SegmentReader, field: Field) -> tantivy::Result<Decoded> {
    let mut keys = vec![0u64; reader.max_doc() as usize];
    super::for_each_hash_term(reader, field, |hex, mut postings| {
        let Some(key) = std::str::from_utf8(hex)
            .ok()
            .and_then(|hex| InfoHash::from_hex(hex).ok())
            .map(|h| super::hash_key(&h))
        else {
            return;
        };
        let mut doc = postings.doc();
        while doc != TERMINATED {
            if let Some(slot) = keys.get_mut(doc as usize) {
                *slot = key;
            }
            doc = postings.advance();
        }
    })?;
    Ok(keys.into())
}

/// No swarm known: every torrent counts 0.
pub struct NoCounts;

impl CountTable for NoCounts {
    fn fill(&self, _keys: &[u64], _leechers: bool, out: &mut [u64]) {
        out.fill(0);
    }
}

struct CountKeys {
    hashes: Decoded,
    table: Arc<dyn CountTable>,
    leechers: bool,
    scratch: Vec<u64>,
}

impl SegmentKeys for CountKeys {
    fn keys(&mut self, docs: &[DocId], out: &mut [u64]) {
        self.scratch.clear();
        self.scratch.extend(
            docs.iter()
                .map(|&d| self.hashes.get(d as usize).copied().unwrap_or(0)),
        );
        self.table.fill(&self.scratch, self.leechers, out);
    }
}

/// Keys: the swarm's seeders (or leechers) of each document, most first.
pub fn swarm_counts(
    cache: Arc<SortCache>,
    info_hash: Field,
    table: Arc<dyn CountTable>,
    leechers: bool,
) -> Box<KeysFor> {
    Box::new(move |reader: &SegmentReader| {
        let hashes = cache.get(reader, "info_hash", || hash_keys(reader, info_hash))?;
        Ok(Box::new(CountKeys {
            hashes,
            table: table.clone(),
            leechers,
            scratch: Vec::new(),
        }) as Box<dyn SegmentKeys>)
    })
}

/// The k documents with the largest keys (ties: lower address first),
/// and how many documents matched.
pub struct TopByKey {
    k: usize,
    keys_for: Box<KeysFor>,
}

impl TopByKey {
    pub fn new(k: usize, keys_for: Box<KeysFor>) -> Self {
        Self { k, keys_for }
    }
}

/// A segment's part of [`TopByKey`].
pub struct TopByKeySegment {
    ord: SegmentOrdinal,
    k: usize,
    keys: Box<dyn SegmentKeys>,
    /// Candidates; cut back to the best k when it reaches 2k.
    best: Vec<(u64, DocId)>,
    /// The k-th best key once `best` was cut: nothing at or below it can enter.
    floor: Option<u64>,
    scratch: Vec<u64>,
    count: usize,
}

impl TopByKeySegment {
    fn cut(&mut self) {
        if self.best.len() > self.k {
            let k = self.k;
            self.best.select_nth_unstable_by(k, rank);
            self.best.truncate(k);
        }
        if self.best.len() == self.k {
            self.floor = self.best.iter().map(|(key, _)| *key).min();
        }
    }
}

/// Larger key first, then lower document (or address).
fn rank<D: Ord>(a: &(u64, D), b: &(u64, D)) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then(a.1.cmp(&b.1))
}

impl SegmentCollector for TopByKeySegment {
    type Fruit = (usize, Vec<(u64, DocAddress)>);

    fn collect(&mut self, doc: DocId, _score: tantivy::Score) {
        self.collect_block(&[doc]);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.count += docs.len();
        if self.k == 0 {
            return;
        }
        let mut keys = std::mem::take(&mut self.scratch);
        keys.resize(docs.len(), 0);
        self.keys.keys(docs, &mut keys);
        for (&key, &doc) in keys.iter().zip(docs) {
            // Documents come in increasing order: one tying the floor ranks
            // after every kept one and cannot enter.
            if self.floor.is_none_or(|f| key > f) {
                self.best.push((key, doc));
                if self.best.len() >= 2 * self.k.max(16) {
                    self.cut();
                }
            }
        }
        self.scratch = keys;
    }

    fn harvest(mut self) -> Self::Fruit {
        self.cut();
        let ord = self.ord;
        (
            self.count,
            self.best
                .into_iter()
                .map(|(key, doc)| (key, DocAddress::new(ord, doc)))
                .collect(),
        )
    }
}

impl Collector for TopByKey {
    type Fruit = (usize, Vec<DocAddress>);
    type Child = TopByKeySegment;

    fn for_segment(
        &self,
        ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<TopByKeySegment> {
        Ok(TopByKeySegment {
            ord,
            k: self.k,
            keys: (self.keys_for)(reader)?,
            best: Vec::new(),
            floor: None,
            scratch: Vec::new(),
            count: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<(usize, Vec<(u64, DocAddress)>)>,
    ) -> tantivy::Result<(usize, Vec<DocAddress>)> {
        let total = fruits.iter().map(|(n, _)| n).sum();
        let mut all: Vec<(u64, DocAddress)> = fruits.into_iter().flat_map(|(_, v)| v).collect();
        all.sort_unstable_by(rank);
        all.truncate(self.k);
        Ok((total, all.into_iter().map(|(_, a)| a).collect()))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::super::search::{RawSearch, PREFIX_UNTIL_DOCS};
    use super::super::{sample, CatalogIndex};

    /// `n` torrents over three segments: sizes and dates are permutations
    /// of 0..n unrelated to each other and to the insertion order; names
    /// are `jazz <i>`, and the last one is `jazzy extra`.
    fn index(dir: &std::path::Path, n: usize) -> CatalogIndex {
        let (index, _) = CatalogIndex::open(&dir.join("index"), 1).unwrap();
        let g = index.current();
        let mut writer: tantivy::IndexWriter = g.index.writer(50_000_000).unwrap();
        for i in 0..n {
            let name = if i == n - 1 {
                "jazzy extra".to_owned()
            } else {
                format!("jazz {i}")
            };
            let mut meta = sample(i, &name, &[]);
            meta.total_size = ((i * 7919) % n) as u64 + 1;
            let when = Utc.timestamp_opt(1_600_000_000 + ((i * 4001) % n) as i64, 0);
            writer
                .add_document(g.document(&meta, when.unwrap(), &[]))
                .unwrap();
            if i == n / 3 || i == 2 * n / 3 {
                writer.commit().unwrap();
            }
        }
        writer.commit().unwrap();
        g.reader.reload().unwrap();
        index
    }

    fn params(
        q: &str,
        sort: &str,
        page: usize,
        limit: usize,
    ) -> super::super::search::SearchParams {
        RawSearch {
            q: Some(q.to_owned()),
            sort: Some(sort.to_owned()),
            page: Some(page.to_string()),
            ..Default::default()
        }
        .validate(limit)
        .unwrap()
    }

    #[test]
    fn pages_by_size_and_date_are_the_brute_force_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let n = 3000;
        let index = index(dir.path(), n);
        assert!(index.current().reader.searcher().segment_readers().len() >= 2);
        // Expected orders computed from the fixture's arithmetic.
        let mut by_size: Vec<usize> = (0..n).collect();
        by_size.sort_by_key(|&i| std::cmp::Reverse((i * 7919) % n));
        let mut oldest: Vec<usize> = (0..n).collect();
        oldest.sort_by_key(|&i| (i * 4001) % n);
        let name = |i: usize| {
            if i == n - 1 {
                "jazzy extra".to_owned()
            } else {
                format!("jazz {i}")
            }
        };
        for (sort, order) in [("size", &by_size), ("oldest", &oldest)] {
            // First, a deep page (many cuts of the buffer), the last.
            for page in [1, 37, 100] {
                let r = index.search(&params("", sort, page, 30)).unwrap();
                let got: Vec<String> = r.hits.iter().map(|h| h.torrent.name.clone()).collect();
                let want: Vec<String> = order[(page - 1) * 30..page * 30]
                    .iter()
                    .map(|&i| name(i))
                    .collect();
                assert_eq!(got, want, "{sort} page {page}");
                assert_eq!(r.total, n);
            }
        }
        // With a query: only matches, same order.
        let r = index.search(&params("extra", "size", 1, 30)).unwrap();
        assert_eq!(r.hits.len(), 1);
        assert_eq!(r.total, 1);
    }

    #[test]
    fn a_word_in_more_names_than_pages_hold_skips_its_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let n = PREFIX_UNTIL_DOCS + 200;
        let index = index(dir.path(), n);
        let r = index.search(&params("jazz", "relevance", 1, 50)).unwrap();
        assert!(r.hits.iter().all(|h| h.torrent.name.starts_with("jazz ")));
        // Sorted by size every match is read: the count is exact.
        let r = index.search(&params("jazz", "size", 1, 50)).unwrap();
        assert!(r.total_exact);
        assert_eq!(r.total, n - 1, "`jazzy extra` is not a match");
        let r = index
            .search(&params("extra jazz", "relevance", 1, 50))
            .unwrap();
        assert_eq!(r.total, 0);
        // A rare last word still matches as a prefix.
        let r = index
            .search(&params("jazzy ext", "relevance", 1, 50))
            .unwrap();
        assert_eq!(r.hits.len(), 1);
        assert_eq!(r.hits[0].torrent.name, "jazzy extra");
    }

    /// A one-word relevance search past the count cap: its page is the
    /// one every match scored would give (the same as sorting the matches
    /// by score, ties to the lower address), its total an estimate near
    /// the truth, marked so, the same every time.
    #[test]
    fn a_common_word_is_counted_to_the_cap_and_estimated_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let n = super::super::count::COUNT_CAP + 2000;
        let index = index(dir.path(), n);
        let exact = index.search(&params("jazz", "size", 1, 50)).unwrap();
        assert_eq!((exact.total, exact.total_exact), (n - 1, true));
        let r = index.search(&params("jazz", "relevance", 1, 50)).unwrap();
        assert!(!r.total_exact, "past the cap");
        let err = (r.total as f64 - (n - 1) as f64).abs() / (n - 1) as f64;
        assert!(err < 0.05, "estimate {} of {}", r.total, n - 1);
        let again = index.search(&params("jazz", "relevance", 1, 50)).unwrap();
        assert_eq!(again.total, r.total, "the same estimate every time");
        // Below the cap the count is exact: a word in few names.
        let r = index.search(&params("extra", "relevance", 1, 50)).unwrap();
        assert_eq!((r.total, r.total_exact), (1, true));
        // The page: "jazz N" names all score alike but for their length
        // (the number's digits), so the best are the shortest, lowest
        // addresses first; every page of them equals the order of a
        // brute-force sort of all matches by (score, address).
        let searcher = index.current().reader.searcher();
        let generation = index.current();
        let text = super::super::userquery::UserQuery::parse("jazz");
        let compiled = text.compile(&generation.fields, false, &searcher).unwrap();
        let terms = compiled
            .words
            .clone()
            .expect("one word: the MaxScore path")
            .remove(0);
        let all = searcher
            .search(&compiled.query, &tantivy::collector::TopDocs::with_limit(n))
            .unwrap();
        let mut all: Vec<(f32, tantivy::DocAddress)> = all;
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (page, limit) in [(1, 50), (3, 50), (7, 100)] {
            let got = super::super::top_scores::search(
                &searcher,
                &generation.fields,
                &terms,
                &[],
                limit,
                (page - 1) * limit,
                None,
            )
            .unwrap();
            let want = super::super::top_scores::tests::page_of(&all, page, limit);
            assert_eq!(got, want, "page {page} of {limit}");
        }
    }
}
