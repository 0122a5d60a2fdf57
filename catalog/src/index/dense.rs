//! Frequent terms of large segments decoded once, as bit sets.
//!
//! A search of several words ([`super::top_scores::all_words`]) sets each
//! word's documents in a bit set per window of documents. A common word's
//! name postings are most of a million-torrent catalog's cost: every
//! search of it decodes them all again (about one document in eight, in
//! blocks of 128), although they change only when the segment does. A
//! [`DenseTerm`] is such a term's postings in one segment, decoded once
//! into what that search reads: the bit set itself (copied a window at a
//! time, not set a posting at a time), each posting's frequency (found by
//! rank for the few documents scored), and per window the shortest length
//! and highest frequency among them (the window's bound). One word's
//! search reads them too: its count (`super::count`), whether a candidate
//! has a part at all, a CJK word's other bigrams; and a phrase's common
//! documents (`super::phrase`).
//!
//! [`DenseCache`] keeps them per (segment, term), only for terms in at
//! least one document of [`DENSITY`] of a segment of at least
//! [`MIN_DOCS`] documents, within [`BUDGET`] bytes (the least recently
//! used dropped first; a term that does not fit is read from its
//! postings as before); a segment's entries go when it is merged away.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tantivy::fieldnorm::FieldNormReader;
use tantivy::index::SegmentId;
use tantivy::query::Bm25Weight;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, Score, SegmentReader, Term};

use super::top_scores::{Bits, WINDOW};

/// A term is kept when it is in at least one document of this many.
pub const DENSITY: u32 = 64;

/// Smallest segment whose terms are kept (a small segment's postings are
/// read quickly anyway, and small segments come and go with merges).
pub const MIN_DOCS: u32 = if cfg!(test) { 2 * WINDOW } else { 16 * WINDOW };

/// Most bytes the cache holds (a term in one of eight documents of a
/// million takes about 0.3 MiB).
pub const BUDGET: usize = if cfg!(test) { 1 << 20 } else { 128 << 20 };

/// Words of [`Bits`] per window.
const WORDS: usize = (WINDOW / 64) as usize;

/// A frequency stored as this is in `large`.
const LARGE: u8 = u8::MAX;

/// One term's postings in one segment, decoded.
pub struct DenseTerm {
    /// One bit per document of the segment, in whole windows.
    bits: Box<[u64]>,
    /// Postings before each word of `bits`.
    rank: Box<[u32]>,
    /// One bit per word of `bits`: set when a posting of that word has a
    /// frequency above 1 (the others' are 1, known without `rank` and
    /// `freqs`, whose reads miss the cache for the few documents scored).
    several: Box<[u64]>,
    /// Each posting's frequency, in document order ([`LARGE`]: in `large`).
    freqs: Box<[u8]>,
    /// Frequencies of [`LARGE`] or more, by rank.
    large: HashMap<u32, u32>,
    /// Per window: the shortest field length (its id) and the highest
    /// frequency of its postings (none: `(u8::MAX, 0)`).
    windows: Box<[(u8, u32)]>,
}

impl DenseTerm {
    /// `term`'s postings in the segment of `reader`, its field's lengths in
    /// `norms`; `None` when the term is not there.
    pub fn build(
        reader: &SegmentReader,
        term: &Term,
        norms: &FieldNormReader,
    ) -> tantivy::Result<Option<Self>> {
        let inverted = reader.inverted_index(term.field())?;
        let Some(mut postings) =
            inverted.read_block_postings(term, IndexRecordOption::WithFreqs)?
        else {
            return Ok(None);
        };
        let windows = reader.max_doc().div_ceil(WINDOW).max(1) as usize;
        let mut bits = vec![0u64; windows * WORDS];
        let mut by_window = vec![(u8::MAX, 0u32); windows];
        let mut several = vec![0u64; bits.len().div_ceil(64)];
        let mut freqs = Vec::with_capacity(postings.doc_freq() as usize);
        let mut large = HashMap::new();
        loop {
            let docs = postings.docs();
            if docs.is_empty() {
                break;
            }
            let tfs = postings.freqs();
            for (n, &doc) in docs.iter().enumerate() {
                // Postings past the segment's documents are a corrupt
                // index: left out rather than trusted.
                let Some(word) = bits.get_mut(doc as usize / 64) else {
                    continue;
                };
                *word |= 1 << (doc % 64);
                let tf = tfs.get(n).copied().unwrap_or(1);
                if tf > 1 {
                    if let Some(w) = several.get_mut(doc as usize / 64 / 64) {
                        *w |= 1 << (doc as usize / 64 % 64);
                    }
                }
                if tf >= u32::from(LARGE) {
                    large.insert(freqs.len() as u32, tf);
                }
                freqs.push(tf.min(u32::from(LARGE)) as u8);
                if let Some(w) = by_window.get_mut((doc / WINDOW) as usize) {
                    w.0 = w.0.min(norms.fieldnorm_id(doc));
                    w.1 = w.1.max(tf);
                }
            }
            postings.advance();
        }
        let mut rank = Vec::with_capacity(bits.len());
        let mut before = 0u32;
        for w in &bits {
            rank.push(before);
            before += w.count_ones();
        }
        Ok(Some(Self {
            bits: bits.into(),
            rank: rank.into(),
            several: several.into(),
            freqs: freqs.into(),
            large,
            windows: by_window.into(),
        }))
    }

    /// The documents of the window from `base` (a multiple of [`WINDOW`]).
    pub fn window(&self, base: DocId) -> Option<&Bits> {
        let from = (base / 64) as usize;
        self.bits.get(from..from + WORDS)?.try_into().ok()
    }

    /// Documents `64 * at` to `64 * at + 63`, one bit each (none past
    /// the segment).
    #[inline]
    pub fn word(&self, at: usize) -> u64 {
        self.bits.get(at).copied().unwrap_or(0)
    }

    /// Whether `doc` has the term.
    pub fn has(&self, doc: DocId) -> bool {
        self.bits
            .get(doc as usize / 64)
            .is_some_and(|w| w >> (doc % 64) & 1 != 0)
    }

    /// How often `doc` has the term (0: not at all).
    #[inline]
    pub fn freq(&self, doc: DocId) -> u32 {
        let at = doc as usize / 64;
        let Some(&word) = self.bits.get(at) else {
            return 0;
        };
        if word >> (doc % 64) & 1 == 0 {
            return 0;
        }
        if self
            .several
            .get(at / 64)
            .is_some_and(|s| s >> (at % 64) & 1 == 0)
        {
            return 1;
        }
        self.counted(at, word, doc)
    }

    /// `freq` of a document of word `at` (`word`) that has the term, from
    /// its rank.
    fn counted(&self, at: usize, word: u64, doc: DocId) -> u32 {
        let Some(&before) = self.rank.get(at) else {
            return 0;
        };
        let rank = before + (word & ((1u64 << (doc % 64)) - 1)).count_ones();
        match self.freqs.get(rank as usize) {
            Some(&LARGE) => self.large.get(&rank).copied().unwrap_or(u32::from(LARGE)),
            Some(&f) => u32::from(f),
            None => 0,
        }
    }

    /// Most the term adds to a document of the window from `base`, scored
    /// by `weight`: its score of the window's shortest length and highest
    /// frequency (BM25 rises with the frequency and falls with the length).
    pub fn bound(&self, base: DocId, weight: &Bm25Weight) -> Score {
        match self.windows.get((base / WINDOW) as usize) {
            Some(&(norm, tf)) if tf > 0 => weight.score(norm, tf),
            _ => 0.0,
        }
    }

    /// Bytes held.
    fn bytes(&self) -> usize {
        self.bits.len() * 8
            + self.rank.len() * 4
            + self.several.len() * 8
            + self.freqs.len()
            + self.large.len() * 16
            + self.windows.len() * 8
            + std::mem::size_of::<Self>()
    }
}

/// A term decoded, its bytes, and when it was last asked for.
struct Entry {
    term: Arc<DenseTerm>,
    used: AtomicU64,
    bytes: usize,
}

/// The terms decoded, per segment (so that a search's check for segments
/// merged away looks at segments, not terms), and the bytes they hold.
#[derive(Default)]
struct Entries {
    segments: HashMap<SegmentId, HashMap<Term, Entry>>,
    held: usize,
}

/// Dense terms per (segment, term), within a budget of bytes.
pub struct DenseCache {
    entries: Mutex<Entries>,
    clock: AtomicU64,
    budget: usize,
    /// Terms decoded (tests).
    #[cfg(test)]
    pub(crate) built: AtomicU64,
}

impl Default for DenseCache {
    fn default() -> Self {
        Self::with_budget(BUDGET)
    }
}

impl DenseCache {
    /// A cache of at most `budget` bytes.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            entries: Mutex::default(),
            clock: AtomicU64::new(0),
            budget,
            #[cfg(test)]
            built: AtomicU64::new(0),
        }
    }

    /// `term` of the segment of `reader` decoded, when it is dense there
    /// and fits; `None` to read its postings.
    pub fn get(
        &self,
        reader: &SegmentReader,
        term: &Term,
        norms: &FieldNormReader,
    ) -> tantivy::Result<Option<Arc<DenseTerm>>> {
        let max_doc = reader.max_doc();
        if max_doc < MIN_DOCS {
            return Ok(None);
        }
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let segment = reader.segment_id();
        if let Some(e) = self
            .entries
            .lock()
            .segments
            .get(&segment)
            .and_then(|terms| terms.get(term))
        {
            e.used.store(now, Ordering::Relaxed);
            return Ok(Some(e.term.clone()));
        }
        // A term not kept is looked up in the term dictionary again (as
        // reading its postings does anyway).
        let frequent = match reader.inverted_index(term.field())?.get_term_info(term)? {
            Some(info) => u64::from(info.doc_freq) * u64::from(DENSITY) >= u64::from(max_doc),
            None => false,
        };
        if !frequent {
            return Ok(None);
        }
        #[cfg(test)]
        self.built.fetch_add(1, Ordering::Relaxed);
        let Some(decoded) = DenseTerm::build(reader, term, norms)?.map(Arc::new) else {
            return Ok(None);
        };
        let bytes = decoded.bytes() + 64;
        if bytes > self.budget {
            return Ok(None);
        }
        let mut guard = self.entries.lock();
        let entries = &mut *guard;
        // The least recently used go until the new one fits.
        while entries.held + bytes > self.budget {
            let Some((id, oldest)) = entries
                .segments
                .iter()
                .flat_map(|(id, terms)| terms.iter().map(move |(t, e)| (id, t, e)))
                .min_by_key(|(_, _, e)| e.used.load(Ordering::Relaxed))
                .map(|(id, t, _)| (*id, t.clone()))
            else {
                break;
            };
            if let Some(terms) = entries.segments.get_mut(&id) {
                if let Some(e) = terms.remove(&oldest) {
                    entries.held -= e.bytes;
                }
                if terms.is_empty() {
                    entries.segments.remove(&id);
                }
            }
        }
        let entry = Entry {
            term: decoded.clone(),
            used: AtomicU64::new(now),
            bytes,
        };
        let terms = entries.segments.entry(segment).or_default();
        if let Some(old) = terms.insert(term.clone(), entry) {
            entries.held -= old.bytes;
        }
        entries.held += bytes;
        Ok(Some(decoded))
    }

    /// [`Self::get`] with the lengths of `term`'s field in that segment
    /// (all 1 in a field without lengths).
    pub fn get_term(
        &self,
        reader: &SegmentReader,
        term: &Term,
    ) -> tantivy::Result<Option<Arc<DenseTerm>>> {
        let norms = reader
            .fieldnorms_readers()
            .get_field(term.field())?
            .unwrap_or_else(|| FieldNormReader::constant(reader.max_doc(), 1));
        self.get(reader, term, &norms)
    }

    /// Forgets the terms of segments not in `live`.
    pub fn retain_segments(&self, live: &[SegmentId]) {
        let mut guard = self.entries.lock();
        let entries = &mut *guard;
        let held = &mut entries.held;
        entries.segments.retain(|id, terms| {
            let keep = live.contains(id);
            if !keep {
                *held -= terms.values().map(|e| e.bytes).sum::<usize>();
            }
            keep
        });
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.entries.lock().held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::DocSetCollector;
    use tantivy::postings::Postings;
    use tantivy::schema::{Schema, TEXT};
    use tantivy::{doc, DocSet, Index, Searcher};

    /// One segment of 1 400 documents (three windows): `jazz` in every
    /// third, from once to five times among one to seven other words, and
    /// 300 times in one; `blues` in every other; `zebra` in five.
    fn segment() -> (Searcher, tantivy::schema::Field) {
        let mut schema = Schema::builder();
        let name = schema.add_text_field("name", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for i in 0..1400u32 {
            let mut words = vec!["filler"; (i % 7 + 1) as usize];
            if i % 3 == 0 {
                words.extend(std::iter::repeat_n("jazz", (i % 5 + 1) as usize));
            }
            if i == 700 {
                words.extend(std::iter::repeat_n("jazz", 300));
            }
            if i % 2 == 0 {
                words.push("blues");
            }
            if i % 280 == 1 {
                words.push("zebra");
            }
            writer.add_document(doc!(name => words.join(" "))).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), 1);
        (searcher, name)
    }

    #[test]
    fn a_dense_term_holds_its_postings_frequencies_and_window_bounds() {
        let (searcher, name) = segment();
        let reader = searcher.segment_reader(0);
        let norms = reader.get_fieldnorms_reader(name).unwrap();
        let term = Term::from_field_text(name, "jazz");
        let dense = DenseTerm::build(reader, &term, &norms).unwrap().unwrap();
        let weight = Bm25Weight::for_terms(&searcher, std::slice::from_ref(&term)).unwrap();
        // Each document's frequency from the postings (0: not there).
        let mut want = vec![0u32; reader.max_doc() as usize];
        let mut postings = reader
            .inverted_index(name)
            .unwrap()
            .read_postings(&term, IndexRecordOption::WithFreqs)
            .unwrap()
            .unwrap();
        while postings.doc() != tantivy::TERMINATED {
            want[postings.doc() as usize] = postings.term_freq();
            postings.advance();
        }
        assert_eq!(want[700], 300, "a frequency over 255");
        for (doc, &tf) in want.iter().enumerate() {
            let doc = doc as DocId;
            assert_eq!(dense.has(doc), tf > 0, "{doc}");
            assert_eq!(dense.freq(doc), tf, "{doc}");
            let bits = dense.window(doc / WINDOW * WINDOW).unwrap();
            let at = (doc % WINDOW) as usize;
            assert_eq!(bits[at / 64] >> (at % 64) & 1 == 1, tf > 0, "{doc}");
        }
        // A window's bound is the score of its shortest length and its
        // highest frequency, so at least each of its documents' score.
        for base in (0..reader.max_doc()).step_by(WINDOW as usize) {
            let docs = base..(base + WINDOW).min(reader.max_doc());
            let with: Vec<DocId> = docs.filter(|&d| want[d as usize] > 0).collect();
            let shortest = with.iter().map(|&d| norms.fieldnorm_id(d)).min().unwrap();
            let most = with.iter().map(|&d| want[d as usize]).max().unwrap();
            let bound = dense.bound(base, &weight);
            assert_eq!(bound, weight.score(shortest, most), "window at {base}");
            for &d in &with {
                assert!(weight.score(norms.fieldnorm_id(d), want[d as usize]) <= bound);
            }
        }
        // Past the segment: nothing.
        let past = reader.max_doc().div_ceil(WINDOW) * WINDOW;
        assert!(dense.window(past).is_none());
        assert!(!dense.has(past + 5));
        assert_eq!(dense.freq(past + 5), 0);
        assert_eq!(dense.bound(past, &weight), 0.0);
        let all = searcher
            .search(
                &tantivy::query::TermQuery::new(term, IndexRecordOption::Basic),
                &DocSetCollector,
            )
            .unwrap();
        assert_eq!(all.len(), want.iter().filter(|&&f| f > 0).count());
    }

    #[test]
    fn the_cache_keeps_frequent_terms_of_large_segments_within_its_budget() {
        let (searcher, name) = segment();
        let reader = searcher.segment_reader(0);
        let norms = reader.get_fieldnorms_reader(name).unwrap();
        let term = |t: &str| Term::from_field_text(name, t);
        let built = |c: &DenseCache| c.built.load(Ordering::Relaxed);
        let cache = DenseCache::default();
        // A rare term is read from its postings (not decoded), a missing
        // one too; a frequent one is decoded once.
        assert!(cache.get(reader, &term("zebra"), &norms).unwrap().is_none());
        assert!(cache
            .get(reader, &term("nowhere"), &norms)
            .unwrap()
            .is_none());
        assert_eq!(built(&cache), 0);
        for _ in 0..2 {
            assert!(cache.get(reader, &term("jazz"), &norms).unwrap().is_some());
        }
        assert_eq!(built(&cache), 1);
        // Each term's bytes, alone.
        let size = |t: &str| {
            let c = DenseCache::default();
            c.get(reader, &term(t), &norms).unwrap();
            c.bytes()
        };
        let (jazz, filler, blues) = (size("jazz"), size("filler"), size("blues"));
        assert!(
            jazz > 1400 / 8 && blues <= filler,
            "{jazz} {filler} {blues}"
        );
        // Room for two: the least recently used goes first.
        let small = DenseCache::with_budget(jazz + filler);
        for t in ["jazz", "filler", "jazz", "blues"] {
            assert!(
                small.get(reader, &term(t), &norms).unwrap().is_some(),
                "{t}"
            );
        }
        assert_eq!(built(&small), 3);
        assert_eq!(small.bytes(), jazz + blues, "filler dropped");
        small.get(reader, &term("jazz"), &norms).unwrap();
        assert_eq!(built(&small), 3, "jazz kept");
        small.get(reader, &term("filler"), &norms).unwrap();
        assert_eq!(built(&small), 4, "filler decoded again");
        assert!(small.bytes() <= jazz + filler);
        // A budget smaller than one term: read from the postings.
        let tiny = DenseCache::with_budget(100);
        assert!(tiny.get(reader, &term("jazz"), &norms).unwrap().is_none());
        assert_eq!(tiny.bytes(), 0);
        // A segment merged away takes its terms with it.
        cache.retain_segments(&[]);
        assert_eq!(cache.bytes(), 0);
    }
}
