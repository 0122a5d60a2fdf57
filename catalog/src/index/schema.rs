//! The Tantivy schema, built in one place.

use super::analysis;
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};

/// Bumped whenever the schema changes; an index of another version is rebuilt.
/// 2: multilingual analysis (NFKC, accent folding, stemming, CJK bigrams).
/// 3: `origin` (where the crawler learned a torrent).
/// 4: what the name says (`newznab`, `year`, `season`, `episode`,
/// `resolution`, `title_key`).
/// 5: `name_variants`, and a word over 64 bytes as written is left out of
/// the folded name too (the exact and folded names have one length).
pub const SCHEMA_VERSION: u32 = 5;

/// The fields of what a release name says (see `release`).
#[derive(Clone, Copy, Debug)]
pub struct ReleaseFields {
    /// The Newznab category (`5040`), stored, filtered by ranges, faceted.
    pub newznab: Field,
    /// The release year, filtered and faceted.
    pub year: Field,
    /// Every season it holds (a range is each of its seasons, up to 100).
    pub season: Field,
    /// Every episode it holds (likewise).
    pub episode: Field,
    /// Lines of the picture (1080), filtered and faceted.
    pub resolution: Field,
    /// A hash of the title's key (`release::title_hash`), for other releases.
    pub title_key: Field,
}

/// Handles of every field.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    pub info_hash: Field,
    pub name: Field,
    /// The name again, accent-folded and stemmed (not stored).
    pub name_folded: Field,
    /// The folded words of the name that differ from the words as written
    /// (`analysis::VARIANTS`; frequencies, no positions); `None` in an
    /// index of a version before 5.
    pub name_variants: Option<Field>,
    pub file: Field,
    pub comment: Field,
    pub created_by: Field,
    pub trackers: Field,
    pub size: Field,
    pub file_count: Field,
    pub pieces: Field,
    pub created: Field,
    pub indexed: Field,
    pub category: Field,
    pub private: Field,
    pub preloaded: Field,
    pub name_sort: Field,
    pub seeders: Field,
    pub leechers: Field,
    pub completed: Field,
    /// Where the crawler learned it: the origin's text and its kind alone
    /// (`peer http://…` and `peer`), for filters; `None` in an index of a
    /// version without it.
    pub origin: Option<Field>,
    /// What the name says; `None` in an index of a version before 4.
    pub release: Option<ReleaseFields>,
}

impl Fields {
    /// The handles of an index written by another version, found by name,
    /// so the old index can serve while a new one is built: a field this
    /// version added is read from the one it derives from (`name_folded`
    /// from `name`). `None` when a field is missing or of another type.
    pub fn resolve(old: &Schema) -> Option<Fields> {
        let (current, _) = build();
        // The old field `name`, when it is of the same kind as the current one.
        let same = |name: &str| {
            let field = old.get_field(name).ok()?;
            let want = current.get_field_entry(current.get_field(name).ok()?);
            let have = old.get_field_entry(field);
            (have.field_type().value_type() == want.field_type().value_type()
                && have.is_stored() == want.is_stored()
                && have.is_fast() == want.is_fast())
            .then_some(field)
        };
        Some(Fields {
            info_hash: same("info_hash")?,
            name: same("name")?,
            name_folded: same("name_folded").or_else(|| same("name"))?,
            name_variants: same("name_variants"),
            file: same("file")?,
            comment: same("comment")?,
            created_by: same("created_by")?,
            trackers: same("trackers")?,
            size: same("size")?,
            file_count: same("file_count")?,
            pieces: same("pieces")?,
            created: same("created")?,
            indexed: same("indexed")?,
            category: same("category")?,
            private: same("private")?,
            preloaded: same("preloaded")?,
            name_sort: same("name_sort")?,
            seeders: same("seeders")?,
            leechers: same("leechers")?,
            completed: same("completed")?,
            origin: same("origin"),
            release: (|| {
                Some(ReleaseFields {
                    newznab: same("newznab")?,
                    year: same("year")?,
                    season: same("season")?,
                    episode: same("episode")?,
                    resolution: same("resolution")?,
                    title_key: same("title_key")?,
                })
            })(),
        })
    }
}

/// Builds the schema and its field handles.
pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let analyzed = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let fields = Fields {
        info_hash: b.add_text_field("info_hash", STRING | STORED),
        name: b.add_text_field("name", analyzed(analysis::EXACT).set_stored()),
        name_folded: b.add_text_field("name_folded", analyzed(analysis::FOLDED)),
        name_variants: Some(
            b.add_text_field(
                "name_variants",
                TextOptions::default().set_indexing_options(
                    TextFieldIndexing::default()
                        .set_tokenizer(analysis::VARIANTS)
                        .set_index_option(IndexRecordOption::WithFreqs),
                ),
            ),
        ),
        file: b.add_text_field("file", analyzed(analysis::FOLDED).set_stored()),
        comment: b.add_text_field("comment", analyzed(analysis::FOLDED)),
        created_by: b.add_text_field("created_by", analyzed(analysis::FOLDED)),
        trackers: b.add_text_field("trackers", analyzed(analysis::FOLDED)),
        size: b.add_u64_field("size", INDEXED | STORED | FAST),
        file_count: b.add_u64_field("file_count", STORED | FAST),
        pieces: b.add_u64_field("pieces", STORED),
        created: b.add_date_field("created", INDEXED | STORED | FAST),
        indexed: b.add_date_field("indexed", INDEXED | STORED | FAST),
        category: b.add_text_field("category", STRING | STORED | FAST),
        private: b.add_bool_field("private", INDEXED | STORED),
        preloaded: b.add_text_field("preloaded", STORED),
        name_sort: b.add_u64_field("name_sort", FAST),
        seeders: b.add_u64_field("seeders", STORED | FAST),
        leechers: b.add_u64_field("leechers", STORED | FAST),
        completed: b.add_u64_field("completed", STORED | FAST),
        origin: Some(b.add_text_field("origin", STRING | STORED)),
        release: Some(ReleaseFields {
            newznab: b.add_u64_field("newznab", INDEXED | STORED | FAST),
            year: b.add_u64_field("year", INDEXED | FAST),
            season: b.add_u64_field("season", INDEXED),
            episode: b.add_u64_field("episode", INDEXED),
            resolution: b.add_u64_field("resolution", INDEXED | FAST),
            title_key: b.add_u64_field("title_key", INDEXED),
        }),
    };
    (b.build(), fields)
}

/// A u64 whose order is the (case-insensitive) order of the name's first 8 bytes.
pub fn name_sort_key(name: &str) -> u64 {
    let mut key = [0u8; 8];
    for (slot, b) in key.iter_mut().zip(name.to_lowercase().bytes()) {
        *slot = b;
    }
    u64::from_be_bytes(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_sort_key_orders_names() {
        assert!(name_sort_key("apple") < name_sort_key("Banana"));
        assert!(name_sort_key("a") < name_sort_key("ab"));
        assert_eq!(name_sort_key("ABC"), name_sort_key("abc"));
    }
}
