//! The catalog's Tantivy index: opening (or rebuilding), documents, lookups.
//!
//! The index is derived data: `preload/` is the source of truth, so a
//! missing, corrupt or outdated index is deleted and rebuilt from it.

pub mod analysis;
pub mod count;
pub mod dense;
pub mod facets;
pub mod feed;
mod phrase;
#[cfg(test)]
mod relevance;
pub mod result_cache;
pub mod schema;
pub mod search;
mod top_scores;
pub(crate) mod topk;
pub mod userquery;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use chrono::{DateTime, Utc};
use magnetar_shared::{InfoHash, TorrentMeta};
use tantivy::schema::document::{DeserializeError, DocumentDeserialize, DocumentDeserializer};
use tantivy::schema::{Field, OwnedValue, TantivyDocument, Value};
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, Searcher, Term};

use crate::category::Category;
pub use schema::Fields;

const VERSION_FILE: &str = "magnetar-schema-version";
/// Most file-path bytes indexed (and stored for snippets) per torrent.
const MAX_FILE_TEXT: usize = 64 * 1024;

/// Errors of the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("index directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One index on disk with its reader and the handles of its fields.
pub struct Generation {
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
    dir: PathBuf,
    /// Sort columns decoded per segment.
    sort_cache: Arc<topk::SortCache>,
    /// Unique among the generations of this process (result cache keys).
    id: u64,
}

/// The index that serves, swappable: a rebuild fills a new generation
/// beside the old one, which keeps serving until the new one is complete.
#[derive(Clone)]
pub struct CatalogIndex {
    live: Arc<RwLock<Arc<Generation>>>,
    /// Why the index is being rebuilt, while it is.
    rebuilding: Arc<RwLock<Option<Arc<str>>>>,
    /// Threads one search runs on.
    threads: usize,
    /// Where sorting by seeders or leechers reads the counts.
    counts: Arc<std::sync::OnceLock<Arc<dyn topk::CountTable>>>,
    /// Pages of results of the current state (off until given a size).
    results: Arc<result_cache::ResultCache>,
}

/// Decompressed blocks of stored documents kept per segment (blocks of
/// [`DOC_STORE_BLOCK_BYTES`]: at most 100 KiB per segment, under a MiB for
/// a million torrents). Stated here rather than left to Tantivy's default,
/// so the README's memory budget holds whatever a release of it changes.
pub const DOC_STORE_CACHE_BLOCKS: usize = 100;

/// Bytes of stored documents compressed together (Tantivy's default is
/// 16 KiB). A results page reads fifty documents from as many blocks, and
/// each read decompresses its whole block: with 16 KiB blocks that was a
/// twentieth of a two-word page at a million torrents. 1 KiB blocks (a
/// few documents each) cost a two-word search less CPU than 4 KiB in
/// alternating runs of `search_cpu` on both indexes at a million torrents
/// (by hand), for a store a quarter larger (157 to 196 MB; the index 316
/// to 353 MB; bench/RESULTS.md has `bench/catalog.sh` on both). Indexes created before keep their
/// blocks (the size is a setting of the index).
pub const DOC_STORE_BLOCK_BYTES: usize = 1024;

/// What the indexer has to build when the catalog starts.
pub enum Build {
    /// The index on disk is of this version: reconcile it with `preload/`.
    Current,
    /// The serving index is new and empty: fill it (searches answer as it fills).
    InPlace,
    /// The old index serves while this one is filled beside it; swapped in
    /// by [`CatalogIndex::swap_in`] when complete.
    Beside(Box<Generation>),
}

/// A torrent as stored in the index (what lists and feeds show). Its
/// default is empty, indexed at the epoch (for tests and fuzzing).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct IndexedTorrent {
    pub info_hash: InfoHash,
    pub name: String,
    pub size: u64,
    pub file_count: u64,
    pub pieces: u64,
    pub created: Option<DateTime<Utc>>,
    pub indexed: DateTime<Utc>,
    pub category: String,
    pub private: bool,
    pub preloaded: Vec<String>,
    pub seeders: u64,
    pub leechers: u64,
    pub completed: u64,
    /// Where the crawler learned it, when recorded.
    pub origin: Option<magnetar_shared::Origin>,
    /// The Newznab category (`5040`: TV/HD).
    pub newznab: u32,
}

impl IndexedTorrent {
    /// What the name says, parsed when asked (a few microseconds: not
    /// done for the rows of a results page, which do not show it).
    pub fn release(&self) -> crate::release::Release {
        crate::release::parse(&self.name)
    }
}

/// A stored document's values, field by field, as read from the store:
/// not copied into Tantivy's compact document first (as
/// `TantivyDocument` is), and their texts moved, not copied, into an
/// [`IndexedTorrent`] (about 2 % fewer instructions per search of the
/// two-word benchmark, 50 hits a page).
#[derive(Debug)]
pub struct Stored(Vec<(Field, OwnedValue)>);

impl DocumentDeserialize for Stored {
    fn deserialize<'de, D>(mut deserializer: D) -> Result<Self, DeserializeError>
    where
        D: DocumentDeserializer<'de>,
    {
        let mut values = Vec::with_capacity(deserializer.size_hint());
        while let Some(value) = deserializer.next_field::<OwnedValue>()? {
            values.push(value);
        }
        Ok(Self(values))
    }
}

impl Stored {
    /// The first value of `field`.
    pub fn first(&self, field: Field) -> Option<&OwnedValue> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, v)| v)
    }

    /// The first text of `field`, moved out (a second call finds none).
    pub fn take_text(&mut self, field: Field) -> Option<String> {
        self.texts_of(field).next()
    }

    /// Every text of `field`, in order, moved out.
    pub fn take_texts(&mut self, field: Field) -> Vec<String> {
        self.texts_of(field).collect()
    }

    /// The texts of `field`, each moved out as it is taken (other values
    /// stay as they are).
    fn texts_of(&mut self, field: Field) -> impl Iterator<Item = String> + '_ {
        self.0
            .iter_mut()
            .filter(move |(f, v)| *f == field && matches!(v, OwnedValue::Str(_)))
            .filter_map(|(_, v)| match std::mem::replace(v, OwnedValue::Null) {
                OwnedValue::Str(text) => Some(text),
                _ => None,
            })
    }
}

/// Latest second Tantivy's nanosecond dates can hold (year 2262), with margin.
const MAX_INDEX_SECS: i64 = 9_000_000_000;

/// A unix time as a Tantivy date, clamped to what Tantivy can store (a
/// torrent may claim it was created in the year 30 000).
pub fn index_date(secs: i64) -> tantivy::DateTime {
    tantivy::DateTime::from_timestamp_secs(secs.clamp(-MAX_INDEX_SECS, MAX_INDEX_SECS))
}

/// A torrent named `name` whose files (or, with none, one file named as the
/// torrent) hold 1000 bytes each, with the info-hash `i + 1`: for tests and
/// the fuzz targets' small indexes.
pub(crate) fn sample(i: usize, name: &str, files: &[&str]) -> TorrentMeta {
    use magnetar_shared::metainfo::FileEntry;
    let paths: Vec<&str> = if files.is_empty() {
        vec![name]
    } else {
        files.to_vec()
    };
    let files: Vec<FileEntry> = paths
        .iter()
        .map(|f| FileEntry {
            path: PathBuf::from(f),
            length: 1000,
        })
        .collect();
    let mut hash = [0u8; 20];
    hash[12..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    TorrentMeta {
        info_hash: InfoHash(hash),
        name: name.to_owned(),
        single_file: files.len() == 1,
        total_size: 1000 * files.len() as u64,
        files,
        piece_length: 16384,
        piece_count: 1,
        ..TorrentMeta::default()
    }
}

/// What [`CatalogIndex::totals`] counts.
pub struct Totals {
    pub torrents: u64,
    pub total_size: u64,
    pub categories: std::collections::BTreeMap<String, u64>,
}

/// Maps an I/O error on `path` to an [`IndexError`].
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError {
    let path = path.to_owned();
    move |source| IndexError::Io { path, source }
}

/// A directory beside the index's (`index.new`, `index.old`).
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_owned();
    name.push(".");
    name.push(suffix);
    dir.with_file_name(name)
}

impl Generation {
    /// An opened index with its analyzers registered and its reader.
    fn of(
        mut index: Index,
        dir: &Path,
        fields: Fields,
        threads: usize,
    ) -> Result<Self, IndexError> {
        analysis::register(&index);
        if threads > 1 {
            index.set_multithread_executor(threads)?;
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .doc_store_cache_num_blocks(DOC_STORE_CACHE_BLOCKS)
            .try_into()?;
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(Self {
            index,
            reader,
            fields,
            dir: dir.to_owned(),
            sort_cache: Arc::default(),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// A new, empty index of this version in memory (the fuzz targets').
    pub(crate) fn in_ram() -> Result<Self, IndexError> {
        let (schema, fields) = schema::build();
        Self::of(Index::create_in_ram(schema), Path::new(""), fields, 1)
    }

    /// A new, empty index of this version in `dir` (which must not exist or be empty).
    fn create(dir: &Path, threads: usize) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let (schema, fields) = schema::build();
        let index = Index::builder()
            .schema(schema)
            .settings(tantivy::IndexSettings {
                docstore_blocksize: DOC_STORE_BLOCK_BYTES,
                ..Default::default()
            })
            .create_in_dir(dir)?;
        magnetar_shared::write_atomic(
            &dir.join(VERSION_FILE),
            schema::SCHEMA_VERSION.to_string().as_bytes(),
        )
        .map_err(io(dir))?;
        Self::of(index, dir, fields, threads)
    }

    /// Opens the index in `dir` when it is of this version, or says why not.
    fn open_current(dir: &Path, threads: usize) -> Result<Self, String> {
        let found = std::fs::read_to_string(dir.join(VERSION_FILE))
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok());
        if found != Some(schema::SCHEMA_VERSION) {
            return Err(match found {
                Some(v) => format!(
                    "the index has schema version {v}, this version of magnetar writes {}",
                    schema::SCHEMA_VERSION
                ),
                None => "the index has no schema version".to_owned(),
            });
        }
        let (schema, fields) = schema::build();
        match Index::open_in_dir(dir) {
            Ok(index) if index.schema() == schema => Self::of(index, dir, fields, threads)
                .map_err(|e| format!("the index is unreadable ({e})")),
            Ok(_) => Err("the index's fields differ from this version's".into()),
            Err(e) => Err(format!("the index is unreadable ({e})")),
        }
    }

    /// Opens an index of another version for reading, when its fields can
    /// be read by this version (see [`Fields::resolve`]).
    pub(crate) fn open_older(dir: &Path, threads: usize) -> Option<Self> {
        let index = Index::open_in_dir(dir).ok()?;
        let fields = Fields::resolve(&index.schema())?;
        let generation = Self::of(index, dir, fields, threads).ok()?;
        // A damaged index may open and fail at the first search.
        generation
            .reader
            .searcher()
            .search(&tantivy::query::AllQuery, &tantivy::collector::Count)
            .ok()?;
        Some(generation)
    }
}

impl CatalogIndex {
    /// Opens the index in `dir`, and says what the indexer must build:
    /// nothing new when it is of this version; otherwise (another schema
    /// version, another shape, unreadable) it is rebuilt from `preload/`:
    /// beside the old one, which keeps serving, when this version can read
    /// the old one, and in its place otherwise.
    /// A search runs on `threads` threads (0: one per core).
    pub fn open(dir: &Path, threads: usize) -> Result<(Self, Build), IndexError> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        // Left by a rebuild or swap that was interrupted: started again.
        for leftover in [sibling(dir, "new"), sibling(dir, "old")] {
            if leftover.exists() {
                tracing::info!(
                    "removing {} left by an interrupted rebuild",
                    leftover.display()
                );
                std::fs::remove_dir_all(&leftover).map_err(io(&leftover))?;
            }
        }
        let (serving, build, reason) = if !dir.exists() {
            (Generation::create(dir, threads)?, Build::InPlace, None)
        } else {
            match Generation::open_current(dir, threads) {
                Ok(generation) => (generation, Build::Current, None),
                Err(reason) => match Generation::open_older(dir, threads) {
                    Some(old) => {
                        tracing::warn!(
                            "{reason}: rebuilding it from preload/ beside the old one, which serves until the new one is complete (/healthz shows it)"
                        );
                        let new = Generation::create(&sibling(dir, "new"), threads)?;
                        (old, Build::Beside(Box::new(new)), Some(reason))
                    }
                    None => {
                        tracing::warn!(
                            "{reason}: rebuilding it from preload/ (searches answer as it fills; /healthz shows it)"
                        );
                        std::fs::remove_dir_all(dir).map_err(io(dir))?;
                        (
                            Generation::create(dir, threads)?,
                            Build::InPlace,
                            Some(reason),
                        )
                    }
                },
            }
        };
        Ok((
            Self {
                live: Arc::new(RwLock::new(Arc::new(serving))),
                rebuilding: Arc::new(RwLock::new(reason.map(Into::into))),
                threads,
                counts: Arc::default(),
                results: Arc::default(),
            },
            build,
        ))
    }

    /// The generation that serves now. Hold it for the whole of a request
    /// (its searcher and its fields belong together).
    pub fn current(&self) -> Arc<Generation> {
        self.live.read().clone()
    }

    /// Why the index is being rebuilt, while it is.
    pub fn rebuild_reason(&self) -> Option<Arc<str>> {
        self.rebuilding.read().clone()
    }

    /// The rebuild in place is complete.
    pub fn rebuilt_in_place(&self) {
        *self.rebuilding.write() = None;
    }

    /// Puts the generation built beside (in `built`, its writer dropped
    /// and everything committed) in the serving index's place: the old
    /// directory is renamed away, the new one renamed into place, opened
    /// and served, and the old one deleted. Searches running on the old
    /// generation finish on it (its files stay mapped until dropped).
    pub fn swap_in(&self, built: &Path) -> Result<Arc<Generation>, IndexError> {
        let dir = self.current().dir.clone();
        let old = sibling(&dir, "old");
        std::fs::rename(&dir, &old).map_err(io(&dir))?;
        if let Err(e) = std::fs::rename(built, &dir) {
            let _ = std::fs::rename(&old, &dir);
            return Err(io(built)(e));
        }
        let generation = match Generation::open_current(&dir, self.threads) {
            Ok(g) => Arc::new(g),
            Err(reason) => {
                return Err(IndexError::Io {
                    path: dir,
                    source: std::io::Error::other(reason),
                })
            }
        };
        *self.live.write() = generation.clone();
        // Searches still running on the old files keep them mapped.
        if let Err(e) = std::fs::remove_dir_all(&old) {
            tracing::warn!("cannot remove the old index {}: {e}", old.display());
        }
        // Only now does /healthz say "ok": the swap, cleanup included, is over.
        *self.rebuilding.write() = None;
        Ok(generation)
    }

    /// Documents currently searchable.
    pub fn doc_count(&self) -> u64 {
        self.current().doc_count()
    }

    /// Bytes the serving index takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.current().disk_bytes()
    }

    /// See [`Generation::totals`].
    pub fn totals(&self) -> Totals {
        self.current().totals()
    }

    /// The stored document of one torrent.
    pub fn get(&self, hash: &InfoHash) -> Option<IndexedTorrent> {
        self.current().get(hash)
    }

    /// Every info-hash in the serving index.
    pub fn all_hashes(&self) -> Vec<InfoHash> {
        self.current().all_hashes()
    }

    /// See [`Generation::search`]; sorting by seeders or leechers reads
    /// the table given to [`Self::set_counts`].
    pub fn search(&self, p: &search::SearchParams) -> Result<search::SearchResults, IndexError> {
        let generation = self.current();
        let searcher = generation.reader.searcher();
        let state = searcher.generation().generation_id();
        self.results.get_or_run(generation.id, state, p, || {
            generation.search_on(&searcher, p, self.counts.get())
        })
    }

    /// The result cache (sized by `search_cache_entries`).
    pub fn results(&self) -> &result_cache::ResultCache {
        &self.results
    }

    /// Bytes of frequent terms decoded for searches (see [`dense`]).
    pub fn dense_bytes(&self) -> usize {
        self.current().sort_cache.dense.bytes()
    }

    /// See [`Generation::similar`].
    pub fn similar(
        &self,
        hash: &InfoHash,
        release: &crate::release::Release,
        limit: usize,
    ) -> Result<Vec<IndexedTorrent>, IndexError> {
        self.current().similar(hash, release, limit)
    }

    /// The swarm counts searches sort by (set once, when the catalog starts).
    pub fn set_counts(&self, table: Arc<dyn topk::CountTable>) {
        let _ = self.counts.set(table);
    }
}

/// Calls `f(hex, postings)` for each info-hash in a segment's dictionary
/// (one term per document): every hash of a segment without decompressing
/// a stored document.
pub(crate) fn for_each_hash_term(
    segment: &tantivy::SegmentReader,
    info_hash: tantivy::schema::Field,
    mut f: impl FnMut(&[u8], tantivy::postings::SegmentPostings),
) -> tantivy::Result<()> {
    let inverted = segment.inverted_index(info_hash)?;
    let mut terms = inverted.terms().stream()?;
    while terms.advance() {
        let postings = inverted.read_postings_from_terminfo(
            terms.value(),
            tantivy::schema::IndexRecordOption::Basic,
        )?;
        f(terms.key(), postings);
    }
    Ok(())
}

/// The key swarm counts are looked up by: the info-hash's first 8 bytes. Two
/// of a million random hashes share it with probability ~3e-8; they would
/// only share their counts.
pub fn hash_key(hash: &InfoHash) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&hash.0[..8]);
    u64::from_be_bytes(b)
}

impl Generation {
    /// The directory it lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Documents currently searchable.
    pub fn doc_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Bytes the index takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Count, total size and per-category counts of the searchable torrents
    /// (a scan of fast fields: run it off the async workers).
    pub fn totals(&self) -> Totals {
        let searcher = self.reader.searcher();
        let mut total_size = 0u64;
        for segment in searcher.segment_readers() {
            if let Ok(col) = segment.fast_fields().u64("size") {
                for doc in segment.doc_ids_alive() {
                    total_size = total_size.saturating_add(col.first(doc).unwrap_or(0));
                }
            }
        }
        let mut categories = std::collections::BTreeMap::new();
        for c in Category::ALL {
            let term = Term::from_field_text(self.fields.category, c.as_str());
            let q = tantivy::query::TermQuery::new(term, tantivy::schema::IndexRecordOption::Basic);
            let n = searcher.search(&q, &tantivy::collector::Count).unwrap_or(0);
            categories.insert(c.as_str().to_owned(), n as u64);
        }
        Totals {
            torrents: searcher.num_docs(),
            total_size,
            categories,
        }
    }

    /// The stored document of one torrent.
    pub fn get(&self, hash: &InfoHash) -> Option<IndexedTorrent> {
        let searcher = self.reader.searcher();
        let term = Term::from_field_text(self.fields.info_hash, &hash.to_hex());
        let query = tantivy::query::TermQuery::new(term, tantivy::schema::IndexRecordOption::Basic);
        let top = searcher
            .search(&query, &tantivy::collector::TopDocs::with_limit(1))
            .ok()?;
        let (_, addr) = top.first()?;
        self.load(&searcher, *addr)
    }

    /// Every info-hash in the index.
    pub fn all_hashes(&self) -> Vec<InfoHash> {
        self.list_hashes().0
    }

    /// [`Self::all_hashes`], and whether every segment could be listed.
    pub fn list_hashes(&self) -> (Vec<InfoHash>, bool) {
        let mut complete = true;
        let searcher = self.reader.searcher();
        let mut out = Vec::with_capacity(searcher.num_docs() as usize);
        for segment in searcher.segment_readers() {
            let alive = segment.alive_bitset();
            let walked = for_each_hash_term(segment, self.fields.info_hash, |hex, mut postings| {
                let mut doc = tantivy::DocSet::doc(&postings);
                while doc != tantivy::TERMINATED {
                    if alive.is_none_or(|a| a.is_alive(doc)) {
                        if let Some(h) = std::str::from_utf8(hex)
                            .ok()
                            .and_then(|s| InfoHash::from_hex(s).ok())
                        {
                            out.push(h);
                        }
                        return;
                    }
                    doc = tantivy::DocSet::advance(&mut postings);
                }
            });
            if let Err(e) = walked {
                complete = false;
                tracing::warn!("cannot list the info-hashes of a segment: {e}");
            }
        }
        (out, complete)
    }

    /// The hashes of the documents whose stored name or file paths
    /// `matches` accepts (a scan of every stored document: run it off the
    /// async workers, and only when the name rules change).
    pub fn matching(&self, matches: impl Fn(&str, &[&str]) -> bool) -> Vec<InfoHash> {
        let searcher = self.reader.searcher();
        let f = &self.fields;
        let mut out = Vec::new();
        for segment in searcher.segment_readers() {
            let Ok(store) = segment.get_store_reader(64) else {
                continue;
            };
            for doc_id in segment.doc_ids_alive() {
                let Ok(doc) = store.get::<TantivyDocument>(doc_id) else {
                    continue;
                };
                let name = doc.get_first(f.name).and_then(|v| v.as_str()).unwrap_or("");
                let files: Vec<&str> = doc.get_all(f.file).filter_map(|v| v.as_str()).collect();
                if !matches(name, &files) {
                    continue;
                }
                if let Some(h) = doc
                    .get_first(f.info_hash)
                    .and_then(|v| v.as_str())
                    .and_then(|s| InfoHash::from_hex(s).ok())
                {
                    out.push(h);
                }
            }
        }
        out
    }

    /// Reads a stored document into an [`IndexedTorrent`].
    pub fn load(&self, searcher: &Searcher, addr: DocAddress) -> Option<IndexedTorrent> {
        let mut doc: Stored = searcher.doc(addr).ok()?;
        self.torrent_of(&mut doc)
    }

    /// A stored document as an [`IndexedTorrent`] (its texts moved out).
    pub fn torrent_of(&self, doc: &mut Stored) -> Option<IndexedTorrent> {
        let f = &self.fields;
        let num = |doc: &Stored, field| doc.first(field).and_then(|v| v.as_u64()).unwrap_or(0);
        let date = |doc: &Stored, field| {
            doc.first(field)
                .and_then(|v| v.as_datetime())
                .and_then(|d| DateTime::from_timestamp(d.into_timestamp_secs(), 0))
        };
        let info_hash = InfoHash::from_hex(doc.first(f.info_hash)?.as_str()?).ok()?;
        let category = doc.take_text(f.category);
        let newznab = f
            .release
            .and_then(|r| doc.first(r.newznab))
            .and_then(|v| v.as_u64())
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or_else(|| crate::feeds::newznab_id(category.as_deref().unwrap_or_default()));
        Some(IndexedTorrent {
            info_hash,
            name: doc.take_text(f.name).unwrap_or_default(),
            size: num(doc, f.size),
            file_count: num(doc, f.file_count),
            pieces: num(doc, f.pieces),
            created: date(doc, f.created),
            indexed: date(doc, f.indexed).unwrap_or_default(),
            category: category.unwrap_or_else(|| "other".into()),
            private: doc
                .first(f.private)
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            preloaded: doc.take_texts(f.preloaded),
            seeders: num(doc, f.seeders),
            leechers: num(doc, f.leechers),
            completed: num(doc, f.completed),
            origin: f
                .origin
                .and_then(|field| doc.first(field))
                .and_then(|v| v.as_str())
                .and_then(magnetar_shared::Origin::parse),
            newznab,
        })
    }

    /// Builds the document of one torrent.
    pub fn document(
        &self,
        meta: &TorrentMeta,
        indexed: DateTime<Utc>,
        preloaded: &[String],
    ) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.info_hash, meta.info_hash.to_hex());
        doc.add_text(f.name, &meta.name);
        doc.add_text(f.name_folded, &meta.name);
        if let Some(variants) = f.name_variants {
            doc.add_text(variants, &meta.name);
        }
        let mut files = String::new();
        for file in &meta.files {
            let p = file.path.to_string_lossy();
            if files.len() + p.len() + 1 > MAX_FILE_TEXT {
                break;
            }
            files.push_str(&p);
            files.push('\n');
        }
        doc.add_text(f.file, files);
        if let Some(c) = &meta.comment {
            doc.add_text(f.comment, c);
        }
        if let Some(c) = &meta.created_by {
            doc.add_text(f.created_by, c);
        }
        for t in meta.trackers() {
            doc.add_text(f.trackers, t);
        }
        doc.add_u64(f.size, meta.total_size);
        doc.add_u64(f.file_count, meta.files.len() as u64);
        doc.add_u64(f.pieces, meta.piece_count);
        if let Some(c) = meta.creation_date {
            doc.add_date(f.created, index_date(c.timestamp()));
        }
        doc.add_date(f.indexed, index_date(indexed.timestamp()));
        let category = Category::of_torrent(meta);
        doc.add_text(f.category, category.as_str());
        doc.add_bool(f.private, meta.private);
        for p in preloaded {
            doc.add_text(f.preloaded, p);
        }
        doc.add_u64(f.name_sort, schema::name_sort_key(&meta.name));
        // Counts live in the swarm cache, read at query time; the fields
        // stay (zero) so indexes of the previous version remain readable.
        doc.add_u64(f.seeders, 0);
        doc.add_u64(f.leechers, 0);
        doc.add_u64(f.completed, 0);
        if let (Some(field), Some(origin)) = (f.origin, &meta.origin) {
            // The whole origin first (what is shown), then its kind.
            doc.add_text(field, origin.to_string());
            if origin.url().is_some() {
                doc.add_text(field, origin.kind());
            }
        }
        if let Some(r) = f.release {
            let release = crate::release::parse(&meta.name);
            doc.add_u64(
                r.newznab,
                u64::from(crate::category::newznab(meta, category, &release)),
            );
            if let Some(y) = release.year {
                doc.add_u64(r.year, u64::from(y));
            }
            // A range is each of its numbers (at most 100 of them).
            let each = |range: Option<(u16, u16)>| {
                range
                    .into_iter()
                    .flat_map(|(a, b)| (a..=b).take(100))
                    .map(u64::from)
            };
            for s in each(release.seasons) {
                doc.add_u64(r.season, s);
            }
            for e in each(release.episodes) {
                doc.add_u64(r.episode, e);
            }
            if let Some(x) = release.resolution {
                doc.add_u64(r.resolution, u64::from(x));
            }
            if let Some(key) = crate::release::title_hash(&release.title) {
                doc.add_u64(r.title_key, key);
            }
        }
        doc
    }

    /// The term that identifies a torrent's document (the upsert key).
    pub fn key(&self, hash: &InfoHash) -> Term {
        Term::from_field_text(self.fields.info_hash, &hash.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_in_place(b: &Build) -> bool {
        matches!(b, Build::InPlace)
    }

    /// A new index compresses stored documents in small blocks, and an
    /// index reopened keeps them.
    #[test]
    fn a_new_index_stores_documents_in_small_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        for _ in 0..2 {
            let (index, _) = CatalogIndex::open(&path, 1).unwrap();
            let settings = index.current().index.settings().clone();
            assert_eq!(settings.docstore_blocksize, DOC_STORE_BLOCK_BYTES);
            assert!(DOC_STORE_BLOCK_BYTES < tantivy::IndexSettings::default().docstore_blocksize);
        }
    }

    #[test]
    fn an_index_of_another_schema_version_or_shape_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let (_, build) = CatalogIndex::open(&path, 1).unwrap();
        assert!(is_in_place(&build), "a new index");
        let (_, build) = CatalogIndex::open(&path, 1).unwrap();
        assert!(
            matches!(build, Build::Current),
            "the same version opens as it is"
        );
        // Written by another version of magnetar, readable by this one: it
        // serves while the new one is built beside it.
        std::fs::write(path.join(VERSION_FILE), "1").unwrap();
        let (index, build) = CatalogIndex::open(&path, 1).unwrap();
        let Build::Beside(new) = build else {
            panic!("another version is rebuilt beside the old one")
        };
        assert_eq!(new.dir(), dir.path().join("index.new"));
        assert_eq!(index.current().dir(), path);
        assert_eq!(
            index.rebuild_reason().as_deref(),
            Some("the index has schema version 1, this version of magnetar writes 5")
        );
        drop((index, new));
        // The right version number over an index of another shape, which
        // this version cannot read: rebuilt in place (and the half-built
        // index left beside it by the interrupted rebuild is removed).
        std::fs::remove_dir_all(&path).unwrap();
        std::fs::create_dir_all(&path).unwrap();
        let mut other = tantivy::schema::Schema::builder();
        other.add_text_field("something_else", tantivy::schema::TEXT);
        tantivy::Index::create_in_dir(&path, other.build()).unwrap();
        std::fs::write(path.join(VERSION_FILE), schema::SCHEMA_VERSION.to_string()).unwrap();
        let (index, build) = CatalogIndex::open(&path, 1).unwrap();
        assert!(
            is_in_place(&build),
            "a foreign schema is rebuilt, not opened"
        );
        assert!(!dir.path().join("index.new").exists());
        assert_eq!(index.current().index.schema(), schema::build().0);
        assert_eq!(
            index.rebuild_reason().as_deref(),
            Some("the index's fields differ from this version's")
        );
    }

    fn names(index: &CatalogIndex, q: &str) -> Vec<String> {
        let p = search::RawSearch {
            q: Some(q.to_owned()),
            ..Default::default()
        }
        .validate(10)
        .unwrap();
        let found = index.search(&p).unwrap();
        found.hits.into_iter().map(|h| h.torrent.name).collect()
    }

    #[test]
    fn an_older_index_serves_until_the_one_rebuilt_beside_it_is_swapped_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        // An index of another version with one torrent.
        let old_meta = sample(1, "Old Torrent", &["old.mkv"]);
        {
            let (index, _) = CatalogIndex::open(&path, 1).unwrap();
            let g = index.current();
            let mut writer: tantivy::IndexWriter = g.index.writer(15_000_000).unwrap();
            writer
                .add_document(g.document(&old_meta, Utc::now(), &[]))
                .unwrap();
            writer.commit().unwrap();
        }
        std::fs::write(path.join(VERSION_FILE), "1").unwrap();
        let (index, build) = CatalogIndex::open(&path, 1).unwrap();
        let Build::Beside(new) = build else {
            panic!("a readable older index is rebuilt beside")
        };
        assert_eq!(names(&index, "old"), ["Old Torrent"]);
        // The rebuild writes the new generation; the old one still serves.
        let meta = sample(2, "New Torrent", &["new.mkv"]);
        {
            let mut writer: tantivy::IndexWriter = new.index.writer(15_000_000).unwrap();
            writer
                .add_document(new.document(&meta, Utc::now(), &[]))
                .unwrap();
            writer.commit().unwrap();
        }
        new.reader.reload().unwrap();
        assert_eq!(new.doc_count(), 1);
        assert!(names(&index, "new").is_empty(), "not swapped in yet");
        let built = new.dir().to_owned();
        drop(new);
        let held = index.current();
        index.swap_in(&built).unwrap();
        // A search that began on the old generation finishes on it.
        assert!(held.get(&old_meta.info_hash).is_some());
        drop(held);
        assert_eq!(names(&index, "new"), ["New Torrent"]);
        assert!(names(&index, "old").is_empty());
        assert!(index.get(&meta.info_hash).is_some());
        assert_eq!(index.current().dir(), path);
        assert!(index.rebuild_reason().is_none());
        assert!(!built.exists() && !dir.path().join("index.old").exists());
        // And it opens as current next time.
        drop(index);
        assert!(matches!(
            CatalogIndex::open(&path, 1).unwrap().1,
            Build::Current
        ));
    }

    /// A stored document reads back (without Tantivy's compact document)
    /// as the torrent indexed: every field a row or a feed shows, each
    /// with a value other than its default, the origin's first value (the
    /// whole origin, not its kind) and the preloaded files in order.
    #[test]
    fn a_stored_document_reads_back_as_the_torrent_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = CatalogIndex::open(&dir.path().join("index"), 1).unwrap();
        let g = index.current();
        let mut meta = sample(6, "Show.S01E02.1080p.WEB", &["Show.S01E02.mkv", "Show.nfo"]);
        meta.piece_count = 7;
        meta.private = true;
        meta.creation_date = DateTime::from_timestamp(1_600_000_000, 0);
        meta.origin = Some(magnetar_shared::Origin::Peer("http://[200::1]:8000".into()));
        let indexed = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let preloaded = ["Show.nfo".to_owned(), "cover.jpg".to_owned()];
        let mut writer: tantivy::IndexWriter = g.index.writer(15_000_000).unwrap();
        writer
            .add_document(g.document(&meta, indexed, &preloaded))
            .unwrap();
        writer.commit().unwrap();
        g.reader.reload().unwrap();
        let release = crate::release::parse(&meta.name);
        let category = Category::of_torrent(&meta);
        let want = IndexedTorrent {
            info_hash: meta.info_hash,
            name: meta.name.clone(),
            size: 2000,
            file_count: 2,
            pieces: 7,
            created: meta.creation_date,
            indexed,
            category: category.as_str().to_owned(),
            private: true,
            preloaded: preloaded.to_vec(),
            seeders: 0,
            leechers: 0,
            completed: 0,
            origin: meta.origin.clone(),
            newznab: crate::category::newznab(&meta, category, &release),
        };
        assert_ne!(want.newznab, crate::feeds::newznab_id(&want.category));
        assert_eq!(g.get(&meta.info_hash), Some(want.clone()));
        let searcher = g.reader.searcher();
        let mut doc: Stored = searcher.doc(DocAddress::new(0, 0)).unwrap();
        assert_eq!(
            doc.first(g.fields.file).and_then(|v| v.as_str()),
            Some("Show.S01E02.mkv\nShow.nfo\n")
        );
        assert_eq!(g.torrent_of(&mut doc), Some(want));
        // Its texts were moved out: read once.
        assert_eq!(doc.take_text(g.fields.name), None);
    }

    #[test]
    fn dates_beyond_tantivys_range_are_clamped_not_overflowed() {
        assert_eq!(index_date(i64::MAX).into_timestamp_secs(), MAX_INDEX_SECS);
        assert_eq!(index_date(i64::MIN).into_timestamp_secs(), -MAX_INDEX_SECS);
        assert_eq!(
            index_date(1_700_000_000).into_timestamp_secs(),
            1_700_000_000
        );
    }
}
