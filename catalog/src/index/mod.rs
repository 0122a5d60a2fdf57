//! The catalog's Tantivy index: opening (or rebuilding), documents, lookups.
//!
//! The index is derived data: `preload/` is the source of truth, so a
//! missing, corrupt or outdated index is deleted and rebuilt from it.

pub mod analysis;
#[cfg(test)]
mod relevance;
pub mod schema;
pub mod search;
pub mod userquery;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use magnetar_shared::{InfoHash, TorrentMeta};
use magnetar_tracker::SwarmCounts;
use tantivy::schema::{TantivyDocument, Value};
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

/// The open index plus its one shared reader.
#[derive(Clone)]
pub struct CatalogIndex {
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
    dir: PathBuf,
    /// Why the index was rebuilt at start (another schema version, unreadable).
    pub rebuild_reason: Option<std::sync::Arc<str>>,
}

/// A torrent as stored in the index (what lists and feeds show).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
}

/// Latest second Tantivy's nanosecond dates can hold (year 2262), with margin.
const MAX_INDEX_SECS: i64 = 9_000_000_000;

/// A unix time as a Tantivy date, clamped to what Tantivy can store (a
/// torrent may claim it was created in the year 30 000).
pub fn index_date(secs: i64) -> tantivy::DateTime {
    tantivy::DateTime::from_timestamp_secs(secs.clamp(-MAX_INDEX_SECS, MAX_INDEX_SECS))
}

/// What [`CatalogIndex::totals`] counts.
pub struct Totals {
    pub torrents: u64,
    pub total_size: u64,
    pub categories: std::collections::BTreeMap<String, u64>,
}

impl CatalogIndex {
    /// Opens the index in `dir`, or creates an empty one there when it is
    /// missing, corrupt or of another schema version. The flag is true when
    /// the index was (re)created and must be filled from `preload/`.
    pub fn open_or_create(dir: &Path) -> Result<(Self, bool), IndexError> {
        let io = |source| IndexError::Io {
            path: dir.to_owned(),
            source,
        };
        let (schema, fields) = schema::build();
        let found = std::fs::read_to_string(dir.join(VERSION_FILE))
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok());
        let mut rebuild_reason = None;
        let opened = if found == Some(schema::SCHEMA_VERSION) {
            match Index::open_in_dir(dir) {
                Ok(index) if index.schema() == schema => Some(index),
                Ok(_) => {
                    rebuild_reason = Some("the index's fields differ from this version's".into());
                    None
                }
                Err(e) => {
                    rebuild_reason = Some(format!("the index is unreadable ({e})"));
                    None
                }
            }
        } else {
            if dir.exists() {
                rebuild_reason = Some(match found {
                    Some(v) => format!(
                        "the index has schema version {v}, this version of magnetar writes {}",
                        schema::SCHEMA_VERSION
                    ),
                    None => "the index has no schema version".to_owned(),
                });
            }
            None
        };
        if let Some(reason) = &rebuild_reason {
            tracing::warn!(
                "{reason}: rebuilding it from preload/ (searches answer as it fills; /healthz shows progress)"
            );
        }
        let (index, created) = match opened {
            Some(index) => (index, false),
            None => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(io)?;
                }
                std::fs::create_dir_all(dir).map_err(io)?;
                let index = Index::create_in_dir(dir, schema)?;
                magnetar_shared::write_atomic(
                    &dir.join(VERSION_FILE),
                    schema::SCHEMA_VERSION.to_string().as_bytes(),
                )
                .map_err(io)?;
                (index, true)
            }
        };
        analysis::register(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok((
            Self {
                index,
                reader,
                fields,
                dir: dir.to_owned(),
                rebuild_reason: rebuild_reason.map(Into::into),
            },
            created,
        ))
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
        let searcher = self.reader.searcher();
        let mut out = Vec::with_capacity(searcher.num_docs() as usize);
        for segment in searcher.segment_readers() {
            let Ok(store) = segment.get_store_reader(64) else {
                continue;
            };
            for doc_id in segment.doc_ids_alive() {
                if let Ok(doc) = store.get::<TantivyDocument>(doc_id) {
                    if let Some(h) = doc
                        .get_first(self.fields.info_hash)
                        .and_then(|v| v.as_str())
                        .and_then(|s| InfoHash::from_hex(s).ok())
                    {
                        out.push(h);
                    }
                }
            }
        }
        out
    }

    /// Reads a stored document into an [`IndexedTorrent`].
    pub fn load(&self, searcher: &Searcher, addr: DocAddress) -> Option<IndexedTorrent> {
        let doc: TantivyDocument = searcher.doc(addr).ok()?;
        self.torrent_of(&doc)
    }

    /// A stored document as an [`IndexedTorrent`].
    pub fn torrent_of(&self, doc: &TantivyDocument) -> Option<IndexedTorrent> {
        let f = &self.fields;
        let text = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let num = |field| doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or(0);
        let date = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_datetime())
                .and_then(|d| DateTime::from_timestamp(d.into_timestamp_secs(), 0))
        };
        Some(IndexedTorrent {
            info_hash: InfoHash::from_hex(&text(f.info_hash)?).ok()?,
            name: text(f.name).unwrap_or_default(),
            size: num(f.size),
            file_count: num(f.file_count),
            pieces: num(f.pieces),
            created: date(f.created),
            indexed: date(f.indexed).unwrap_or_default(),
            category: text(f.category).unwrap_or_else(|| "other".into()),
            private: doc
                .get_first(f.private)
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            preloaded: doc
                .get_all(f.preloaded)
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            seeders: num(f.seeders),
            leechers: num(f.leechers),
            completed: num(f.completed),
        })
    }

    /// Builds the document of one torrent.
    pub fn document(
        &self,
        meta: &TorrentMeta,
        indexed: DateTime<Utc>,
        preloaded: &[String],
        swarm: Option<SwarmCounts>,
    ) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.info_hash, meta.info_hash.to_hex());
        doc.add_text(f.name, &meta.name);
        doc.add_text(f.name_folded, &meta.name);
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
        doc.add_text(f.category, Category::of_torrent(meta).as_str());
        doc.add_bool(f.private, meta.private);
        for p in preloaded {
            doc.add_text(f.preloaded, p);
        }
        doc.add_u64(f.name_sort, schema::name_sort_key(&meta.name));
        let swarm = swarm.unwrap_or_default();
        doc.add_u64(f.seeders, u64::from(swarm.seeders));
        doc.add_u64(f.leechers, u64::from(swarm.leechers));
        doc.add_u64(f.completed, u64::from(swarm.completed));
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

    #[test]
    fn an_index_of_another_schema_version_or_shape_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let (_, created) = CatalogIndex::open_or_create(&path).unwrap();
        assert!(created, "a new index");
        let (_, created) = CatalogIndex::open_or_create(&path).unwrap();
        assert!(!created, "the same version opens as it is");
        // Written by another version of magnetar.
        std::fs::write(path.join(VERSION_FILE), "1").unwrap();
        let (index, created) = CatalogIndex::open_or_create(&path).unwrap();
        assert!(created, "another version is rebuilt");
        assert_eq!(
            index.rebuild_reason.as_deref(),
            Some("the index has schema version 1, this version of magnetar writes 2")
        );
        // The right version number over an index of another shape.
        std::fs::remove_dir_all(&path).unwrap();
        std::fs::create_dir_all(&path).unwrap();
        let mut other = tantivy::schema::Schema::builder();
        other.add_text_field("something_else", tantivy::schema::TEXT);
        tantivy::Index::create_in_dir(&path, other.build()).unwrap();
        std::fs::write(path.join(VERSION_FILE), schema::SCHEMA_VERSION.to_string()).unwrap();
        let (index, created) = CatalogIndex::open_or_create(&path).unwrap();
        assert!(created, "a foreign schema is rebuilt, not opened");
        assert_eq!(index.index.schema(), schema::build().0);
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
