//! A phrase of frequent words, its common documents read from bit sets.
//!
//! Tantivy's phrase query intersects its terms' postings, reading every
//! posting of each (a common word is in about 70 000 names or file lists
//! of a million torrents, per field), and then reads the positions of the
//! documents they have in common. Where every term of the phrase is kept
//! in the dense cache (`super::dense`) for a segment, [`DensePhrase`]
//! finds the common documents by ANDing the terms' bit sets, 64 documents
//! at a time, and seeks only those in the postings to read their
//! positions. Its matches and scores are Tantivy's: the same phrase count
//! (the positions every term has, each shifted by its place in the
//! phrase), the same BM25 weight of the phrase's terms, boosted alike. In
//! a segment where a term is not kept, Tantivy's own phrase scorer runs.

use std::sync::Arc;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::Postings;
use tantivy::query::{
    Bm25Weight, EmptyScorer, EnableScoring, Explanation, PhraseQuery, Query, Scorer, Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, SegmentReader, Term, TERMINATED};

use super::count::Bits;
use super::dense::DenseTerm;
use super::topk::SortCache;

/// A phrase (terms of one field at their positions) matched as
/// Tantivy's [`PhraseQuery`] matches it, from the bit sets of
/// `cache.dense` where it keeps every term.
#[derive(Clone)]
pub struct DensePhrase {
    terms: Vec<(usize, Term)>,
    cache: Arc<SortCache>,
}

impl std::fmt::Debug for DensePhrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DensePhrase")
            .field("terms", &self.terms)
            .finish_non_exhaustive()
    }
}

impl DensePhrase {
    /// The phrase of `terms` (at least two, of one field, each at its
    /// position).
    pub fn new(terms: Vec<(usize, Term)>, cache: Arc<SortCache>) -> Self {
        Self { terms, cache }
    }

    fn tantivy(&self) -> PhraseQuery {
        PhraseQuery::new_with_offset(self.terms.clone())
    }
}

impl Query for DensePhrase {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let tantivy = self.tantivy().weight(enable_scoring)?;
        let terms: Vec<Term> = self.terms.iter().map(|(_, t)| t.clone()).collect();
        let similarity = match enable_scoring {
            EnableScoring::Enabled {
                statistics_provider,
                ..
            } => Some(Bm25Weight::for_terms(statistics_provider, &terms)?),
            EnableScoring::Disabled { .. } => None,
        };
        Ok(Box::new(DensePhraseWeight {
            tantivy,
            terms: self.terms.clone(),
            similarity,
            cache: self.cache.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for (_, term) in &self.terms {
            visitor(term, true);
        }
    }
}

struct DensePhraseWeight {
    /// Tantivy's, for a segment where a term is not kept.
    tantivy: Box<dyn Weight>,
    terms: Vec<(usize, Term)>,
    similarity: Option<Bm25Weight>,
    cache: Arc<SortCache>,
}

impl DensePhraseWeight {
    /// Each term's bit set in this segment, when the cache keeps them all.
    fn bit_sets(&self, reader: &SegmentReader) -> tantivy::Result<Option<Vec<Arc<DenseTerm>>>> {
        let mut sets = Vec::with_capacity(self.terms.len());
        for (_, term) in &self.terms {
            match self.cache.dense.get_term(reader, term)? {
                Some(set) => sets.push(set),
                None => return Ok(None),
            }
        }
        Ok(Some(sets))
    }
}

impl Weight for DensePhraseWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let Some(sets) = self.bit_sets(reader)? else {
            return self.tantivy.scorer(reader, boost);
        };
        #[cfg(test)]
        tests::FROM_BITS.with(|n| n.set(n.get() + 1));
        // Each term's postings with positions, and what its positions are
        // shifted by so that a phrase's are equal (as Tantivy's).
        let last = self.terms.iter().map(|&(at, _)| at).max().unwrap_or(0);
        let mut lists = Vec::with_capacity(self.terms.len());
        for (at, term) in &self.terms {
            let inverted = reader.inverted_index(term.field())?;
            match inverted.read_postings(term, IndexRecordOption::WithFreqsAndPositions)? {
                Some(p) => lists.push(((last - at) as u32, p)),
                None => return Ok(Box::new(EmptyScorer)),
            }
        }
        let field = self.terms.first().map(|(_, t)| t.field());
        let norms = match (field, &self.similarity) {
            (Some(field), Some(_)) => reader.fieldnorms_readers().get_field(field)?,
            _ => None,
        }
        .unwrap_or_else(|| FieldNormReader::constant(reader.max_doc(), 1));
        let similarity = self.similarity.as_ref().map(|w| w.boost_by(boost));
        let mut matches = Vec::new();
        let (mut common, mut next) = (Vec::new(), Vec::new());
        // The documents every term has: one part of all of them.
        for doc in Bits::new(vec![sets], reader.max_doc()) {
            let count = phrase_count(doc, &mut lists, &mut common, &mut next);
            if count > 0 {
                let score = similarity
                    .as_ref()
                    .map_or(1.0, |w| w.score(norms.fieldnorm_id(doc), count));
                matches.push((doc, score));
            }
        }
        Ok(Box::new(Listed { matches, at: 0 }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.tantivy.explain(reader, doc)
    }
}

/// How often the phrase is at `doc` (which every term has): the positions
/// every term has there, each shifted. `common` and `next` are buffers.
fn phrase_count(
    doc: DocId,
    lists: &mut [(u32, tantivy::postings::SegmentPostings)],
    common: &mut Vec<u32>,
    next: &mut Vec<u32>,
) -> u32 {
    let mut first = true;
    for (shift, postings) in lists.iter_mut() {
        if postings.seek(doc) != doc {
            return 0;
        }
        if first {
            postings.positions_with_offset(*shift, common);
            first = false;
            continue;
        }
        postings.positions_with_offset(*shift, next);
        // Both sorted: keep what both have.
        let mut j = 0;
        common.retain(|&p| {
            while j < next.len() && next[j] < p {
                j += 1;
            }
            j < next.len() && next[j] == p
        });
        if common.is_empty() {
            return 0;
        }
    }
    common.len() as u32
}

/// A segment's matches and their scores, in document order.
struct Listed {
    matches: Vec<(DocId, Score)>,
    at: usize,
}

impl DocSet for Listed {
    fn advance(&mut self) -> DocId {
        self.at = (self.at + 1).min(self.matches.len());
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.matches.get(self.at).map_or(TERMINATED, |&(d, _)| d)
    }

    fn size_hint(&self) -> u32 {
        self.matches.len() as u32
    }
}

impl Scorer for Listed {
    fn score(&mut self) -> Score {
        self.matches.get(self.at).map_or(0.0, |&(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tantivy::collector::TopDocs;
    use tantivy::query::PhraseQuery;
    use tantivy::{DocAddress, Score, Term};

    use super::super::topk::SortCache;
    use super::DensePhrase;

    thread_local! {
        /// Segments whose phrase was read from bit sets, on this thread.
        pub(super) static FROM_BITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Every match of a phrase, best first, ties by address.
    fn all(
        searcher: &tantivy::Searcher,
        q: &dyn tantivy::query::Query,
    ) -> Vec<(Score, DocAddress)> {
        let mut all = searcher.search(q, &TopDocs::with_limit(100_000)).unwrap();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all
    }

    /// Phrases of two and three words, of one word twice, in names and in
    /// file names, in four segments with deleted documents: the same
    /// matches with the same scores (to the bit) as Tantivy's phrase
    /// query, read from bit sets where every term is frequent; a phrase
    /// with a term the cache does not keep is Tantivy's own.
    #[test]
    fn phrases_match_and_score_as_tantivys_from_bit_sets() {
        let (_dir, index) = super::super::top_scores::tests::fixture();
        let g = index.current();
        let searcher = g.reader.searcher();
        let cache = Arc::new(SortCache::default());
        let (name, file) = (g.fields.name_folded, g.fields.file);
        for (field, words, dense) in [
            (name, &["night", "sky"][..], true),
            (name, &["sky", "night"], true),
            (name, &["jazz", "jazz"], true),
            (name, &["live", "rock", "night"], true),
            (file, &["sky", "0"], true),
            (name, &["night", "zebra"], false),
        ] {
            let terms: Vec<(usize, Term)> = words
                .iter()
                .enumerate()
                .map(|(i, w)| (i, Term::from_field_text(field, w)))
                .collect();
            let want = all(&searcher, &PhraseQuery::new_with_offset(terms.clone()));
            FROM_BITS.with(|n| n.set(0));
            let got = all(&searcher, &DensePhrase::new(terms, cache.clone()));
            assert_eq!(got, want, "{words:?}");
            let segments = searcher.segment_readers().len();
            let from_bits = FROM_BITS.with(|n| n.get());
            assert_eq!(from_bits, if dense { segments } else { 0 }, "{words:?}");
            if dense {
                assert!(want.len() >= 10, "{words:?}: {} matches", want.len());
            }
        }
    }
}
