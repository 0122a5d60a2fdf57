//! The best-scored documents of a search of words, without Tantivy's
//! query. One word: its single terms in several fields (the name as
//! written, the folded name, file paths, …), each with its boost, a
//! document's score their sum.
//!
//! Block-max WAND (Tantivy's, for such a union) gains little on names as
//! alike as a catalog's: nearly every block of 128 postings of the name
//! holds some name that says the word twice, so the blocks' bounds pass
//! the threshold and WAND scores almost every match, with a heap of
//! cursors to keep in order for each. Here the terms are read block by
//! block with MaxScore (Turtle and Flood): the terms whose bounds add up to
//! no more than the threshold cannot lift a document over it by
//! themselves, so only documents of the other ("essential") terms are
//! candidates, and each candidate looks the rest up only while its score
//! plus what they could add still beats the threshold. The threshold is
//! the k-th score so far; a document must beat it, not tie it, and it is
//! carried from one segment to the next, read in address order. The page
//! is then the same as an exhaustive sort by (score, address): a document
//! skipped that ties the k-th score comes after k others that have it.
//! Each term's score is Tantivy's (BM25 with the index's statistics, times
//! the boost), summed in the order of the terms. The last word's prefix
//! expansions in a field count as one term of constant score (the boost),
//! as Tantivy's term-set query scores them; when the best documents have
//! every constant term, nothing after them can beat them and the rest of
//! the index is not read at all. A typo's terms one edit away are such a
//! part too. A CJK word's part (its bigrams, all required in one field, the
//! first scored) is read as its first bigram's postings; a candidate that
//! could beat the threshold is then looked up in the others. The name as
//! written, where derived from the folded name ([`Derived`]), is not read
//! at all: the folded name's cursor scores both, and bounds a document's
//! two scores by its own times one plus the ratio of their weights (a
//! tight bound, where the two terms' separate bounds let most documents of
//! a common word through).
//!
//! Several required words are [`all_words`]: intersected in bit sets per
//! window of documents, their common matches counted, and scored only
//! where the bounds of their parts' blocks could beat the threshold.
//! [`Union`] walks a word's documents for the bounded count
//! (`super::count`), where its terms are not kept as bit sets. Where
//! they are, a part whose term lacks a document adds nothing to its
//! bound and is not sought, and a block of the essential part that cannot
//! beat the threshold alone scores only documents another part has.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::BlockSegmentPostings;
use tantivy::query::Bm25Weight;
use tantivy::schema::IndexRecordOption;
use tantivy::InvertedIndexReader;
use tantivy::{
    DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader, Term, TERMINATED,
};

use tantivy::collector::{Collector, SegmentCollector};

use super::count::{BoundedCount, Counted, SegmentCount, COUNT_CAP};
use super::dense::{DenseCache, DenseTerm};
use super::facets::FacetCollector;
use super::userquery::{WordPart, WordTerms};
use super::Fields;

/// Most parts of a word searched this way (a word is looked up as written
/// and folded in six fields at most, by prefix in three, with a typo in
/// three).
pub const MAX_TERMS: usize = 16;

/// The page of a search of words (each required) and the count of its
/// matches with facets: one word (a CJK word too) by MaxScore and a count
/// to the cap, several by [`all_words`].
///
/// A document that has any part of a word of `without` does not match.
#[allow(clippy::too_many_arguments)]
pub fn words(
    searcher: &Searcher,
    fields: &Fields,
    words: &[WordTerms],
    without: &[WordTerms],
    limit: usize,
    offset: usize,
    facets: Option<FacetCollector>,
    dense: Option<&DenseCache>,
) -> tantivy::Result<(Vec<(Score, DocAddress)>, Counted)> {
    let without = flat_parts(without)?;
    match words {
        [word] => {
            // MaxScore finds the page scoring a fraction of the matches,
            // then the count reads them without scores up to the cap: not
            // a derived part's postings, whose documents are all the
            // other part's.
            let derived = derived_parts(fields, words);
            let counted_parts: WordTerms = word
                .iter()
                .enumerate()
                .filter(|(p, _)| !derived.iter().any(|d| d.part == *p))
                .map(|(_, part)| part.clone())
                .collect();
            let page = search_with(searcher, word, derived, &without, limit, offset, dense)?;
            let counted =
                BoundedCount::word(searcher, &counted_parts, &without, COUNT_CAP, facets, dense)?;
            Ok((page, counted))
        }
        _ => all_words(
            searcher, fields, words, &without, limit, offset, facets, COUNT_CAP, dense,
        ),
    }
}

/// [`search_with`], the parts that can be derived found here.
#[cfg(test)]
pub fn search(
    searcher: &Searcher,
    fields: &Fields,
    terms: &[(WordPart, Score)],
    without: &[(WordPart, Score)],
    limit: usize,
    offset: usize,
    dense: Option<&DenseCache>,
) -> tantivy::Result<Vec<(Score, DocAddress)>> {
    let derived = derived_parts(fields, &[terms]);
    search_with(searcher, terms, derived, without, limit, offset, dense)
}

/// The `limit` best documents of `terms` after the first `offset`, best
/// first, ties to the lower address; none that has a part of `without`.
/// A part derived from another (of `derived`, see [`derived_parts`]) is
/// scored with that one's cursor, its own postings never read.
fn search_with(
    searcher: &Searcher,
    terms: &[(WordPart, Score)],
    derived: Vec<Derived>,
    without: &[(WordPart, Score)],
    limit: usize,
    offset: usize,
    dense: Option<&DenseCache>,
) -> tantivy::Result<Vec<(Score, DocAddress)>> {
    let k = limit + offset;
    if terms.len() > MAX_TERMS {
        return Err(tantivy::TantivyError::InvalidArgument(format!(
            "a word of more than {MAX_TERMS} parts"
        )));
    }
    if k == 0 || terms.is_empty() {
        return Ok(Vec::new());
    }
    let scoring = weights(searcher, terms)?;
    let derived = derivations(derived, &scoring);
    let mut best = Best::new(k);
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        let mut excluded = Union::new(reader, without)?;
        segment(
            reader,
            ord as SegmentOrdinal,
            terms,
            &scoring,
            &derived,
            dense,
            &mut excluded,
            &mut best,
        )?;
    }
    Ok(best
        .into_sorted()
        .into_iter()
        .skip(offset)
        .take(limit)
        .collect())
}

/// Each scored part's weight, and its field's average length over the
/// index, as BM25 has them (`None` for constant parts).
fn weights(searcher: &Searcher, parts: &[(WordPart, Score)]) -> tantivy::Result<Vec<Weighed>> {
    let docs = searcher.num_docs().max(1) as f64;
    parts
        .iter()
        .map(|(part, boost)| match part.scored() {
            Some(term) => {
                let weight =
                    Bm25Weight::for_terms(searcher, std::slice::from_ref(term))?.boost_by(*boost);
                let mut tokens = 0;
                for r in searcher.segment_readers() {
                    tokens += r.inverted_index(term.field())?.total_num_tokens();
                }
                Ok(Some((weight, tokens as f64 / docs)))
            }
            None => Ok(None),
        })
        .collect()
}

impl WordPart {
    /// The term whose BM25 scores the part (`None`: a constant part).
    fn scored(&self) -> Option<&Term> {
        match self {
            Self::Scored(term) => Some(term),
            Self::AllOf(terms) => terms.first(),
            Self::AnyOf(_) => None,
        }
    }
}

/// A scored part's weight and its field's average length.
type Weighed = Option<(Bm25Weight, f64)>;

/// The k best so far: a min-heap whose root is the weakest (of equal
/// scores, the later address).
struct Best {
    k: usize,
    heap: BinaryHeap<Reverse<(Ranked, Reverse<DocAddress>)>>,
}

impl Best {
    fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// What a document must beat to enter (anything while not full).
    fn threshold(&self) -> Score {
        match self.heap.peek() {
            Some(Reverse((Ranked(s), _))) if self.heap.len() == self.k => *s,
            _ => Score::MIN,
        }
    }

    /// Called only with a score above [`Self::threshold`], in address order.
    fn push(&mut self, score: Score, addr: DocAddress) {
        if self.heap.len() == self.k {
            self.heap.pop();
        }
        self.heap.push(Reverse((Ranked(score), Reverse(addr))));
    }

    fn into_sorted(self) -> Vec<(Score, DocAddress)> {
        let mut all: Vec<(Score, DocAddress)> = self
            .heap
            .into_iter()
            .map(|Reverse((Ranked(s), Reverse(a)))| (s, a))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all
    }
}

/// A score with a total order (scores are finite and not negative).
#[derive(Clone, Copy)]
struct Ranked(Score);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// One term's postings in one segment, read a block at a time.
struct Cursor {
    /// Where the term is in the query (scores are summed in that order).
    order: usize,
    postings: Postings,
    scoring: Scoring,
    /// Most the term adds to any document's score.
    bound: Score,
    /// What a block's best makes up to (see [`Cursor::block_bound`]).
    slack: Score,
    /// For the block counted: its last document and its bound.
    bounded: (u64, DocId, Score),
    /// A part of several required terms (a CJK word's bigrams): those
    /// after the first, which scores it; a document of the first counts
    /// only if it is in all of these.
    required: Vec<Required>,
    /// A part derived from this one, scored with it (its bound is in
    /// `bound`).
    derived: Option<Derivation>,
    /// The scored term's documents, where the dense cache keeps them: a
    /// document not there adds nothing (no block bound, no seek).
    bits: Option<Arc<DenseTerm>>,
}

/// A required term of a part: its postings, or its bit set where it is
/// frequent and kept in the dense cache (a bit tested instead of postings
/// sought). (Inline, as [`Source`]: read in the innermost loop.)
#[allow(clippy::large_enum_variant)]
enum Required {
    Postings(Postings),
    Dense(Arc<DenseTerm>),
}

impl Required {
    /// Whether the term has `doc` (asked in increasing order).
    fn has(&mut self, doc: DocId) -> bool {
        match self {
            Self::Postings(p) => {
                p.seek(doc);
                p.doc() == doc
            }
            Self::Dense(d) => d.has(doc),
        }
    }

    /// The terms of `terms` in this segment, each from `dense` where kept
    /// there; `None` when one is missing here.
    fn open(
        reader: &SegmentReader,
        terms: &[Term],
        dense: Option<&DenseCache>,
    ) -> tantivy::Result<Option<Vec<Self>>> {
        let mut required = Vec::with_capacity(terms.len());
        for term in terms {
            if let Some(cache) = dense {
                if let Some(d) = cache.get_term(reader, term)? {
                    #[cfg(test)]
                    tests::REQUIRED_DENSE.with(|n| n.set(n.get() + 1));
                    required.push(Self::Dense(d));
                    continue;
                }
            }
            match Source::term(reader, term, IndexRecordOption::Basic)? {
                Some(p) => required.push(Self::Postings(Postings::new(p))),
                None => return Ok(None),
            }
        }
        Ok(Some(required))
    }
}

/// A part derived from a cursor's ([`Derived`]): in the cursor's documents,
/// as often less their variants, scored with the cursor's field lengths.
struct Derivation {
    /// Its place in the query.
    order: usize,
    weight: Bm25Weight,
    /// Most its score is over the cursor's part's.
    ratio: Score,
    /// The variants' postings in the segment (`None`: none there).
    variants: Option<Postings>,
}

impl Cursor {
    /// The cursor of part `order` in this segment (`None`: it has no
    /// postings there). The other terms of a part of several required
    /// terms are read too, and checked by [`Cursor::has`].
    fn open(
        reader: &SegmentReader,
        order: usize,
        part: &WordPart,
        boost: Score,
        scored: Option<&(Bm25Weight, f64)>,
        dense: Option<&DenseCache>,
    ) -> tantivy::Result<Option<Self>> {
        let mut others = Vec::new();
        if let WordPart::AllOf(terms) = part {
            let rest = terms.get(1..).unwrap_or_default();
            match Required::open(reader, rest, dense)? {
                Some(required) => others = required,
                None => return Ok(None),
            }
        }
        let mut bits = None;
        let (postings, scoring, bound, slack) = match (part.scored(), scored) {
            (Some(term), Some((weight, average))) => {
                let field = term.field();
                let inverted = reader.inverted_index(field)?;
                let Some(postings) =
                    inverted.read_block_postings(term, IndexRecordOption::WithFreqs)?
                else {
                    return Ok(None);
                };
                let norms = reader
                    .fieldnorms_readers()
                    .get_field(field)?
                    .unwrap_or_else(|| FieldNormReader::constant(reader.max_doc(), 1));
                if let Some(cache) = dense {
                    bits = cache.get(reader, term, &norms)?;
                    #[cfg(test)]
                    tests::WITH_BITS.with(|n| n.set(n.get() + usize::from(bits.is_some())));
                }
                let slack = slack(&inverted, reader.max_doc(), *average);
                let weight = weight.clone();
                let bound = weight.max_score();
                (
                    Postings::new(Source::Block(postings)),
                    Scoring::Bm25 { norms, weight },
                    bound,
                    slack,
                )
            }
            (None, _) => {
                let Some(postings) = Postings::open(reader, part, IndexRecordOption::Basic)? else {
                    return Ok(None);
                };
                (postings, Scoring::Constant(boost), boost, 1.0)
            }
            (Some(_), None) => return Ok(None),
        };
        Ok(Some(Cursor {
            order,
            postings,
            bounded: (u64::MAX, 0, 0.0),
            scoring,
            bound,
            slack,
            required: others,
            derived: None,
            bits,
        }))
    }

    /// What the cursor's own part's score is multiplied by to bound it
    /// with the derived part's.
    fn lift(&self) -> Score {
        self.derived.as_ref().map_or(1.0, |d| 1.0 + d.ratio)
    }

    /// The scores of `doc`, the document at the cursor, of frequency
    /// `freq`: of the cursor's part and of the part derived from it (where
    /// more often than its variants), each put in its place in `parts`;
    /// their sum.
    fn score_into(&mut self, doc: DocId, freq: u32, parts: &mut [Score; MAX_TERMS]) -> Score {
        let own = self.scoring.score(doc, freq);
        parts[self.order] = own;
        let (Some(d), Scoring::Bm25 { norms, .. }) = (&mut self.derived, &self.scoring) else {
            return own;
        };
        let variant = match &mut d.variants {
            Some(v) => {
                v.seek(doc);
                if v.doc() == doc {
                    v.freq()
                } else {
                    0
                }
            }
            None => 0,
        };
        if variant >= freq {
            return own;
        }
        let derived = d.weight.score(norms.fieldnorm_id(doc), freq - variant);
        parts[d.order] = derived;
        own + derived
    }

    /// Whether the part's other required terms have `doc` (at or after
    /// the documents they passed).
    fn has(&mut self, doc: DocId) -> bool {
        self.required.iter_mut().all(|r| r.has(doc))
    }

    /// Whether the term's bit set says it lacks `doc` (false: it has it,
    /// or there is no bit set).
    fn lacks(&self, doc: DocId) -> bool {
        self.bits.as_ref().is_some_and(|b| !b.has(doc))
    }

    /// Most the term adds to `doc` (at or after the documents passed),
    /// from the bound of the block that would hold it: no posting is read.
    fn bound_at(&mut self, doc: DocId) -> Score {
        if self.lacks(doc) {
            return 0.0;
        }
        if self.bounded.0 != self.postings.blocks {
            self.bounded = (
                self.postings.blocks,
                self.postings.last_doc(),
                self.block_bound(),
            );
        }
        if doc <= self.bounded.1 {
            return self.bounded.2;
        }
        if self.bounded.1 == TERMINATED {
            return 0.0;
        }
        self.postings.seek_block(doc);
        self.bounded = (
            self.postings.blocks,
            self.postings.last_doc(),
            self.block_bound(),
        );
        if doc <= self.bounded.1 {
            self.bounded.2
        } else {
            // Every document of the term is before `doc`.
            self.bounded.1 = TERMINATED;
            0.0
        }
    }

    /// Most the term adds to a document of the block loaded. The index
    /// keeps each block's best (length, frequency) pair as the segment's
    /// average length ranks them; scored with the index's average, another
    /// pair may score more, by at most the ratio of the two averages
    /// (BM25's length term scales by it), so the bound is raised by that.
    fn block_bound(&mut self) -> Score {
        let lift = self.lift();
        match &self.scoring {
            Scoring::Bm25 { norms, weight } => {
                (self.postings.block_max_score(norms, weight) * self.slack * lift).min(self.bound)
            }
            Scoring::Constant(score) => *score,
        }
    }
}

/// What a block's best (length, frequency) pair, ranked with the
/// segment's average length when it was written, is raised by to bound a
/// score with the index's `average` (BM25's length term scales by the
/// ratio of the two averages).
fn slack(inverted: &InvertedIndexReader, max_doc: DocId, average: f64) -> Score {
    let here = inverted.total_num_tokens() as f64 / f64::from(max_doc.max(1));
    let ratio = here / average.max(f64::MIN_POSITIVE);
    if ratio.is_finite() && ratio > 0.0 {
        ratio.max(1.0 / ratio) as Score
    } else {
        Score::INFINITY
    }
}

/// How a term scores a document. (A search holds a few of these, read in
/// its innermost loop: kept inline, not boxed.)
#[allow(clippy::large_enum_variant)]
enum Scoring {
    /// BM25 of the term's frequency and the document's length, boosted.
    Bm25 {
        norms: FieldNormReader,
        weight: Bm25Weight,
    },
    /// The same for every document that has it (a prefix's expansions).
    Constant(Score),
}

impl Scoring {
    fn score(&self, doc: DocId, freq: u32) -> Score {
        match self {
            Self::Bm25 { norms, weight } => weight.score(norms.fieldnorm_id(doc), freq),
            Self::Constant(score) => *score,
        }
    }
}

/// A term's postings, or several terms' merged, in blocks. (Inline, as
/// [`Scoring`].)
#[allow(clippy::large_enum_variant)]
enum Source {
    Block(BlockSegmentPostings),
    /// Sorted documents, read in blocks of [`BLOCK`].
    Merged {
        docs: Vec<DocId>,
        block: usize,
    },
}

/// Documents per block of merged postings (as Tantivy's).
const BLOCK: usize = 128;

impl Source {
    /// A term's postings in this segment (`None`: it has none).
    fn term(
        reader: &SegmentReader,
        term: &Term,
        option: IndexRecordOption,
    ) -> tantivy::Result<Option<Self>> {
        let inverted = reader.inverted_index(term.field())?;
        Ok(inverted.read_block_postings(term, option)?.map(Self::Block))
    }

    /// A part's postings in this segment (`None`: it has none).
    fn open(
        reader: &SegmentReader,
        part: &WordPart,
        option: IndexRecordOption,
    ) -> tantivy::Result<Option<Self>> {
        match part {
            WordPart::Scored(term) => Self::term(reader, term, option),
            WordPart::AnyOf(terms) => match terms.as_slice() {
                [] => Ok(None),
                [term] => Self::term(reader, term, option),
                several => Self::merged(reader, several),
            },
            // Read as its terms, each (see `all_words`).
            WordPart::AllOf(_) => Err(tantivy::TantivyError::InvalidArgument(
                "a part of several required terms is read term by term".into(),
            )),
        }
    }

    /// The documents of `terms` (of one field) in this segment, or `None`.
    fn merged(reader: &SegmentReader, terms: &[Term]) -> tantivy::Result<Option<Self>> {
        let mut docs = Vec::new();
        for term in terms {
            let inverted = reader.inverted_index(term.field())?;
            if let Some(mut p) = inverted.read_block_postings(term, IndexRecordOption::Basic)? {
                while !p.docs().is_empty() {
                    docs.extend_from_slice(p.docs());
                    p.advance();
                }
            }
        }
        docs.sort_unstable();
        docs.dedup();
        Ok((!docs.is_empty()).then_some(Self::Merged { docs, block: 0 }))
    }

    fn docs(&self) -> &[DocId] {
        match self {
            Self::Block(p) => p.docs(),
            Self::Merged { docs, block } => {
                let start = (block * BLOCK).min(docs.len());
                &docs[start..(start + BLOCK).min(docs.len())]
            }
        }
    }

    fn freq(&self, at: usize) -> u32 {
        match self {
            Self::Block(p) => p.freq(at),
            Self::Merged { .. } => 1,
        }
    }

    fn advance(&mut self) {
        match self {
            Self::Block(p) => p.advance(),
            Self::Merged { block, .. } => *block += 1,
        }
    }

    /// To the block that may hold `target`.
    fn seek(&mut self, target: DocId) {
        match self {
            Self::Block(p) => p.seek(target),
            Self::Merged { docs, block } => {
                *block = (*block).max(docs.partition_point(|&d| d < target) / BLOCK);
            }
        }
    }

    fn block_max_score(&mut self, norms: &FieldNormReader, weight: &Bm25Weight) -> Score {
        match self {
            Self::Block(p) => p.block_max_score(norms, weight),
            Self::Merged { .. } => weight.max_score(),
        }
    }
}

/// A [`Source`] and where it is read: the block loaded and a document in
/// it.
struct Postings {
    source: Source,
    /// Index of the current document in the loaded block.
    at: usize,
    /// Counts the blocks loaded (which block a score buffer or a bound is
    /// of).
    blocks: u64,
}

impl Postings {
    fn new(source: Source) -> Self {
        Self {
            source,
            at: 0,
            blocks: 0,
        }
    }

    /// A part's postings in this segment (`None`: it has none).
    fn open(
        reader: &SegmentReader,
        part: &WordPart,
        option: IndexRecordOption,
    ) -> tantivy::Result<Option<Self>> {
        Ok(Source::open(reader, part, option)?.map(Self::new))
    }

    /// The documents of the block loaded (empty: none left).
    fn docs(&self) -> &[DocId] {
        self.source.docs()
    }

    fn doc(&self) -> DocId {
        self.docs().get(self.at).copied().unwrap_or(TERMINATED)
    }

    /// The frequency of the current document.
    fn freq(&self) -> u32 {
        self.source.freq(self.at)
    }

    /// The last document of the block loaded (`TERMINATED`: none).
    fn last_doc(&self) -> DocId {
        self.docs().last().copied().unwrap_or(TERMINATED)
    }

    fn advance(&mut self) {
        self.at += 1;
        if self.at >= self.docs().len() {
            self.next_block();
        }
    }

    /// To the first document at or after `target` (never back): the
    /// terms of one word are in many of the same documents, so the next
    /// one is most often a few postings on, in the block already decoded.
    fn seek(&mut self, target: DocId) {
        match self.docs().last() {
            None => return, // Terminated.
            Some(&last) if last < target => self.seek_block(target),
            Some(_) => {}
        }
        let docs = self.source.docs();
        while self.at < docs.len() && docs[self.at] < target {
            self.at += 1;
        }
        if self.at == docs.len() && !docs.is_empty() {
            // The last block, all before `target`.
            self.next_block();
        }
    }

    fn next_block(&mut self) {
        self.source.advance();
        self.at = 0;
        self.blocks += 1;
    }

    /// To the block that may hold `target`.
    fn seek_block(&mut self, target: DocId) {
        self.source.seek(target);
        self.at = 0;
        self.blocks += 1;
    }

    fn block_max_score(&mut self, norms: &FieldNormReader, weight: &Bm25Weight) -> Score {
        self.source.block_max_score(norms, weight)
    }
}

/// The postings of each of `terms` in this segment, the first read with
/// `first` and the others documents only; `None` when one is missing here
/// (a part of several required terms then has no documents here).
fn term_lists(
    reader: &SegmentReader,
    terms: &[Term],
    first: IndexRecordOption,
) -> tantivy::Result<Option<Vec<Postings>>> {
    let mut lists = Vec::with_capacity(terms.len());
    for (n, term) in terms.iter().enumerate() {
        let option = if n == 0 {
            first
        } else {
            IndexRecordOption::Basic
        };
        match Source::term(reader, term, option)? {
            Some(p) => lists.push(Postings::new(p)),
            None => return Ok(None),
        }
    }
    Ok(Some(lists))
}

/// A search's parts, every word's in query order (at most
/// `MAX_TERMS * MAX_TERMS`: the query compiler gives no more).
fn flat_parts(words: &[WordTerms]) -> tantivy::Result<Vec<(WordPart, Score)>> {
    let parts: Vec<(WordPart, Score)> = words.iter().flatten().cloned().collect();
    if parts.len() > MAX_TERMS * MAX_TERMS {
        return Err(tantivy::TantivyError::InvalidArgument(format!(
            "more than {} parts",
            MAX_TERMS * MAX_TERMS
        )));
    }
    Ok(parts)
}

/// A part whose documents and frequencies are derived from another part
/// of its word, not read from its own postings: a word's exact name term
/// `e` that folds to itself is in a name as often as the folded name term
/// `e` is, less the variants of `e` (`name_variants`, see
/// `analysis::VARIANTS`): `night`, not `nights` or `Night's`... whose
/// folded form is `night` too.
struct Derived {
    /// The part derived (numbered in query order).
    part: usize,
    /// The part it is derived from.
    from: usize,
    /// Its weight over that one's, with a margin for the float products.
    ratio: Score,
    /// The term of the variants.
    variants: Term,
}

/// The parts of `words` that can be derived ([`Derived`], with `ratio`
/// unset): only in an index that has variants.
fn derived_parts<W: AsRef<[(WordPart, Score)]>>(fields: &Fields, words: &[W]) -> Vec<Derived> {
    let mut derived = Vec::new();
    let Some(variants) = fields.name_variants else {
        return derived;
    };
    let mut start = 0;
    for word in words {
        let word = word.as_ref();
        let scored_in = |field| {
            word.iter()
                .position(|(part, _)| matches!(part, WordPart::Scored(t) if t.field() == field))
        };
        let text = |p: usize| match &word[p].0 {
            WordPart::Scored(t) => t.value().as_str().map(str::to_owned),
            _ => None,
        };
        if let (Some(e), Some(f)) = (scored_in(fields.name), scored_in(fields.name_folded)) {
            if let (Some(exact), Some(fold)) = (text(e), text(f)) {
                if exact == fold && super::analysis::folded_of_exact(&exact).as_ref() == Some(&fold)
                {
                    derived.push(Derived {
                        part: start + e,
                        from: start + f,
                        ratio: 0.0,
                        variants: Term::from_field_text(variants, &exact),
                    });
                }
            }
        }
        start += word.len();
    }
    derived
}

/// The parts derived from another ([`derived_parts`]) whose two fields
/// have the same average length (they have the same length in every
/// document), with their ratio set: a derived part's score is at most the
/// other's times it (its frequency is at most the other's), a margin added
/// for the float products.
fn derivations(mut pairs: Vec<Derived>, weighed: &[Weighed]) -> Vec<Derived> {
    pairs.retain_mut(|d| match (&weighed[d.part], &weighed[d.from]) {
        (Some((wx, a)), Some((wf, b))) if a == b => {
            d.ratio = wx.max_score() / wf.max_score() * 1.0001;
            true
        }
        _ => false,
    });
    pairs
}

#[allow(clippy::too_many_arguments)]
fn segment(
    reader: &SegmentReader,
    ord: SegmentOrdinal,
    terms: &[(WordPart, Score)],
    scoring: &[Weighed],
    derived: &[Derived],
    dense: Option<&DenseCache>,
    excluded: &mut Union,
    best: &mut Best,
) -> tantivy::Result<()> {
    let mut cursors = Vec::with_capacity(terms.len());
    for (order, ((part, boost), scored)) in terms.iter().zip(scoring).enumerate() {
        if derived.iter().any(|d| d.part == order) {
            continue;
        }
        let Some(mut c) = Cursor::open(reader, order, part, *boost, scored.as_ref(), dense)? else {
            continue;
        };
        if let Some(d) = derived.iter().find(|d| d.from == order) {
            if let Some((weight, _)) = &scoring[d.part] {
                c.bound += weight.max_score();
                c.derived = Some(Derivation {
                    order: d.part,
                    weight: weight.clone(),
                    ratio: d.ratio,
                    variants: Source::term(reader, &d.variants, IndexRecordOption::WithFreqs)?
                        .map(Postings::new),
                });
            }
        }
        #[cfg(test)]
        tests::CURSORS.with(|n| n.set(n.get() + 1));
        cursors.push(c);
    }
    if cursors.is_empty() {
        return Ok(());
    }
    // Smallest bound first: the non-essential terms are a prefix.
    cursors.sort_by(|a, b| a.bound.total_cmp(&b.bound));
    // bounds_upto[i]: what the terms before i can add together, summed in
    // query order as scores are (float sums depend on the order: a prefix
    // whose constant scores all match must tie the threshold exactly, not
    // pass it by a rounding).
    let bounds_upto: Vec<Score> = (0..=cursors.len())
        .map(|i| {
            let mut before: Vec<(usize, Score)> =
                cursors[..i].iter().map(|c| (c.order, c.bound)).collect();
            before.sort_by_key(|&(order, _)| order);
            before.iter().map(|&(_, b)| b).sum()
        })
        .collect();
    let alive = reader.alive_bitset();
    let mut threshold = best.threshold();
    let mut essential = first_essential(&bounds_upto, threshold);
    let last = cursors.len() - 1;
    // The scores of the essential term's block, when one term is, and
    // which block they are of.
    let mut scores = [0.0; 128];
    let mut scored = None;
    while essential <= last {
        // Each term's score for the candidate (0: absent; adding 0 changes
        // no sum, so summing them all in query order gives the union's).
        let mut parts = [0.0; MAX_TERMS];
        let doc;
        let mut sum = 0.0;
        // Whether a part has the document (all of its terms do): a
        // candidate whose essential parts lack a required term may match
        // nothing at all.
        let mut matched = false;
        if essential == last {
            // One essential term (the usual case once the threshold is
            // up), read a block at a time: its blocks whose best cannot
            // beat the threshold are skipped whole; in the others, a
            // document goes on only if its score and the bounds of the
            // other terms' blocks there could.
            let (others, rest) = cursors.split_at_mut(last);
            let c = &mut rest[0];
            if c.postings.at == 0 {
                while !c.postings.docs().is_empty()
                    && c.block_bound() + bounds_upto[last] <= threshold
                {
                    c.postings.next_block();
                }
            }
            if c.postings.docs().is_empty() {
                break;
            }
            if scored != Some(c.postings.blocks) {
                // (With a derived part, bounds: the sum is scored for a
                // candidate found.) Where the part cannot beat the
                // threshold alone in this block, a document that every
                // other part's bit set lacks cannot either: 0, skipped
                // below (the others add no more than the threshold), its
                // length not read.
                let alone = c.block_bound() <= threshold && others.iter().all(|o| o.bits.is_some());
                let lift = c.lift();
                let docs = c.postings.docs();
                for (j, (&d, s)) in docs.iter().zip(scores.iter_mut()).enumerate() {
                    *s = if alone && others.iter().all(|o| o.lacks(d)) {
                        0.0
                    } else {
                        c.scoring.score(d, c.postings.source.freq(j)) * lift
                    };
                }
                scored = Some(c.postings.blocks);
            }
            let docs = c.postings.docs();
            let mut found = None;
            for j in c.postings.at..docs.len() {
                let (d, s) = (docs[j], scores[j]);
                if s + bounds_upto[last] <= threshold {
                    continue;
                }
                let mut rest = 0.0;
                for o in others.iter_mut() {
                    rest += o.bound_at(d);
                }
                if s + rest > threshold {
                    found = Some((j, d, s));
                    break;
                }
            }
            let Some((j, d, s)) = found else {
                c.postings.next_block();
                continue;
            };
            let freq = c.postings.source.freq(j);
            c.postings.at = j;
            c.postings.advance();
            if !c.has(d) {
                // The others alone cannot beat the threshold.
                continue;
            }
            doc = d;
            sum = if c.derived.is_some() {
                c.score_into(d, freq, &mut parts)
            } else {
                parts[c.order] = s;
                s
            };
            matched = true;
        } else {
            // The lowest document of an essential term.
            doc = cursors[essential..]
                .iter()
                .map(|c| c.postings.doc())
                .min()
                .unwrap_or(TERMINATED);
            if doc == TERMINATED {
                break;
            }
            for c in &mut cursors[essential..] {
                if c.postings.doc() == doc {
                    if c.has(doc) {
                        let freq = c.postings.freq();
                        sum += c.score_into(doc, freq, &mut parts);
                        matched = true;
                    }
                    c.postings.advance();
                }
            }
        }
        // The others: which have the document, and the most each adds in
        // its block; scored only while they could still lift it over the
        // threshold, largest first.
        let mut rest = 0.0;
        let mut bounds = [0.0; MAX_TERMS];
        for (i, c) in cursors[..essential].iter_mut().enumerate() {
            if c.lacks(doc) {
                continue;
            }
            c.postings.seek(doc);
            if c.postings.doc() == doc {
                bounds[i] = c.block_bound();
                rest += bounds[i];
            }
        }
        let mut lifted = sum + rest > threshold;
        for i in (0..essential).rev() {
            if !lifted {
                break;
            }
            if bounds[i] > 0.0 {
                let c = &mut cursors[i];
                if c.has(doc) {
                    let freq = c.postings.freq();
                    sum += c.score_into(doc, freq, &mut parts);
                    matched = true;
                }
                rest -= bounds[i];
                lifted = sum + rest > threshold;
            }
        }
        if !lifted || !matched || alive.is_some_and(|a| !a.is_alive(doc)) {
            continue;
        }
        let score: Score = parts.iter().sum();
        if score > threshold && !excluded.has(doc) {
            best.push(
                score,
                DocAddress {
                    segment_ord: ord,
                    doc_id: doc,
                },
            );
            let now = best.threshold();
            if now > threshold {
                threshold = now;
                essential = first_essential(&bounds_upto, threshold);
            }
        }
    }
    Ok(())
}

/// The first essential term: those before it can add no more than
/// `threshold` together, so no document of theirs alone can beat it.
fn first_essential(bounds_upto: &[Score], threshold: Score) -> usize {
    let terms = bounds_upto.len() - 1;
    (0..=terms)
        .take_while(|&i| bounds_upto[i] <= threshold)
        .last()
        .unwrap_or(0)
        .min(terms)
}

/// Most parts whose bounds [`all_words`] sums by a table of every set.
const MASK_PARTS: usize = 8;

/// Documents per window of [`all_words`] (8 192: fewer windows cost less
/// per search at a million documents than 4 096, by hand; the tests' is
/// smaller, so that their segments of 1 500 documents span several
/// windows, and the same code is read across windows there).
pub(super) const WINDOW: u32 = if cfg!(test) { 512 } else { 8192 };

/// One bit per document of a window.
pub(super) type Bits = [u64; (WINDOW / 64) as usize];

/// The page of several words, each required (a union of its parts), and
/// the count of their matches with facets, in one pass: per window of
/// [`WINDOW`] documents, each word's documents are set in a bit set from its
/// parts' postings (and the frequencies of the scored terms kept per
/// document of the window), the sets are intersected, and the documents in
/// all of them are counted. Of those, only a document whose bound (its
/// parts' most, each the largest bound of that part's blocks read in the
/// window) beats the k-th best so far is scored, from those frequencies:
/// each block of postings is decoded once, and most matches of a common
/// pair of words (which lack a word in the name, say) never read a field
/// norm. A document's score is the sum of its parts' in query order.
/// Before that, a window's matches are sieved with whole words of the bit
/// sets: those that lack a part without which the others' bounds cannot
/// beat the k-th best (the name of either word, once the page holds
/// documents with both in their names) are not bounded one by one.
/// Tantivy's intersection of unions merged each union's scored postings
/// into windows and then sought through them.
///
/// Matches are counted, with their facets, up to `cap` (as
/// [`BoundedCount`] does for one word, and estimated past it the same
/// way). After the cap only the page is wanted: a word's parts whose
/// absence alone keeps a document at or under the k-th best (the other
/// parts' bounds summed cannot beat it) are required, and only those are
/// set in bit sets; the word's other parts are looked up for the
/// documents that could still beat it (see [`required_parts`]).
#[allow(clippy::too_many_arguments)]
pub fn all_words(
    searcher: &Searcher,
    fields: &Fields,
    words: &[WordTerms],
    without: &[(WordPart, Score)],
    limit: usize,
    offset: usize,
    facets: Option<FacetCollector>,
    cap: usize,
    dense: Option<&DenseCache>,
) -> tantivy::Result<(Vec<(Score, DocAddress)>, Counted)> {
    let parts = flat_parts(words)?;
    let weighed = weights(searcher, &parts)?;
    // Parts never set in bit sets (`within` the part they derive from,
    // which stands for them in the sets, and in bounds: a document of the
    // one may be of the other): their documents and frequencies are
    // derived for the documents scored (see `derived_parts`). Both fields
    // have one length in every document (the same average length: the
    // exact name has no more tokens than the folded one in any, so as many
    // in all), so the derived part's score is at most the other's times
    // the ratio of their weights (its frequency is at most the other's),
    // and its bound is the other's so multiplied (with a margin for the
    // float products); it is scored with the other's field norms.
    let pairs = derivations(derived_parts(fields, words), &weighed);
    // Each part's: the part it is derived from.
    let mut within: Vec<Option<usize>> = vec![None; parts.len()];
    for d in &pairs {
        within[d.part] = Some(d.from);
    }
    // Each part's buffer of frequencies in a window (scored parts only).
    let mut slots = Vec::with_capacity(parts.len());
    let mut scored = 0;
    for w in &weighed {
        slots.push(w.as_ref().map(|_| {
            scored += 1;
            scored - 1
        }));
    }
    // Most each part adds to any document: its BM25 maximum or constant.
    let global: Vec<Score> = parts
        .iter()
        .zip(&weighed)
        .map(|((_, boost), w)| w.as_ref().map_or(*boost, |(w, _)| w.max_score()))
        .collect();
    // Each word's parts, as a range of `parts`.
    let mut ranges = Vec::with_capacity(words.len());
    let mut order = 0;
    for w in words {
        ranges.push(order..order + w.len());
        order += w.len();
    }
    // Most each part adds, a part within another counted in that one's:
    // the other's absence is its absence.
    let mut most = global.clone();
    for d in &pairs {
        most[d.from] += global[d.part];
        most[d.part] = 0.0;
    }
    // Each word's parts set in bit sets, the largest most first (for
    // `required_parts`).
    let by_most: Vec<Vec<usize>> = ranges
        .iter()
        .map(|r| {
            let mut parts: Vec<usize> = r.clone().filter(|&p| within[p].is_none()).collect();
            parts.sort_by(|&a, &b| most[b].total_cmp(&most[a]));
            parts
        })
        .collect();
    let mut freqs = vec![0u32; scored * WINDOW as usize];
    let mut best = Best::new((limit + offset).max(1));
    let mut budget = cap;
    let mut segments = Vec::new();
    let mut scores = vec![0.0; parts.len()];
    // Parts only looked up in this window (past the cap).
    let mut lookup = vec![false; parts.len()];
    // Parts not set in bit sets in this window: those looked up and the
    // derived ones.
    let mut unset = vec![false; parts.len()];
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        let ord = ord as SegmentOrdinal;
        let mut seg = SegmentCount {
            counted: 0,
            read: 0,
            size: u64::from(reader.max_doc()),
            facets: facets
                .as_ref()
                .map(|f| f.for_segment(ord, reader))
                .transpose()?,
        };
        // Counting stopped in this segment at this document (none: it
        // counted to its end, or never started).
        let mut stopped = None;
        if budget > 0 {
            seg.read = seg.size;
        }
        let mut excluded = word_lists(reader, without, false, &[])?;
        let mut excluded_bits = vec![[0u64; (WINDOW / 64) as usize]; without.len()];
        // Excluded parts are not scored: no frequencies kept.
        let no_slots = vec![None; without.len()];
        let no_lookup = vec![false; without.len()];
        // How each part scores in this segment, and what its blocks'
        // bounds are raised by here.
        let mut scoring = Vec::with_capacity(parts.len());
        let mut slacks = Vec::with_capacity(parts.len());
        for ((part, boost), w) in parts.iter().zip(&weighed) {
            scoring.push(match (part.scored(), w) {
                (Some(term), Some((weight, average))) => {
                    let inverted = reader.inverted_index(term.field())?;
                    slacks.push(slack(&inverted, reader.max_doc(), *average));
                    Scoring::Bm25 {
                        norms: reader
                            .fieldnorms_readers()
                            .get_field(term.field())?
                            .unwrap_or_else(|| FieldNormReader::constant(reader.max_doc(), 1)),
                        weight: weight.clone(),
                    }
                }
                _ => {
                    slacks.push(1.0);
                    Scoring::Constant(*boost)
                }
            });
        }
        // A derived part is scored with the field norms of the part it is
        // derived from (the same lengths; one byte read for both).
        for d in &pairs {
            if let (Scoring::Bm25 { weight, .. }, Scoring::Bm25 { norms, .. }) =
                (&scoring[d.part], &scoring[d.from])
            {
                scoring[d.part] = Scoring::Bm25 {
                    norms: norms.clone(),
                    weight: weight.clone(),
                };
            }
        }
        // The parts of a single term decoded once for this segment (see
        // `dense`): read from there, not from their postings.
        let mut dense_of: Vec<Option<Arc<DenseTerm>>> = vec![None; parts.len()];
        if let Some(cache) = dense {
            for (p, ((part, _), how)) in parts.iter().zip(&scoring).enumerate() {
                if let (WordPart::Scored(term), Scoring::Bm25 { norms, .. }, None) =
                    (part, how, within[p])
                {
                    dense_of[p] = cache.get(reader, term, norms)?;
                }
            }
        }
        // Each word's parts' postings (a part of several required terms:
        // each term's), the scored term's with frequencies; none for the
        // parts derived or dense.
        let unread: Vec<bool> = within
            .iter()
            .zip(&dense_of)
            .map(|(w, d)| w.is_some() || d.is_some())
            .collect();
        let mut lists = words
            .iter()
            .zip(&ranges)
            .map(|(w, r)| word_lists(reader, w, true, &unread[r.clone()]))
            .collect::<tantivy::Result<Vec<_>>>()?;
        // The variants each derived part's frequencies are less by.
        let mut variants = Vec::with_capacity(pairs.len());
        for d in &pairs {
            let list = Source::term(reader, &d.variants, IndexRecordOption::WithFreqs)?;
            variants.push(list.map(Postings::new).into_iter().collect::<Vec<_>>());
        }
        // Most each part adds to a document of the window.
        let mut bounds = vec![0.0; parts.len()];
        let mut mask_bounds = [0.0; 1 << MASK_PARTS];
        let alive = reader.alive_bitset();
        let mut base = 0;
        // A word whose parts still have documents (a derived part has no
        // postings of its own here; a dense part has them to the end).
        let live = |l: &Vec<Vec<Postings>>, r: &std::ops::Range<usize>| {
            dense_of[r.clone()].iter().any(Option::is_some)
                || l.iter()
                    .any(|part| !part.is_empty() && part.iter().all(|p| p.doc() != TERMINATED))
        };
        let mut part_bits = vec![[0u64; (WINDOW / 64) as usize]; parts.len()];
        // A word's documents in the window (see `word_bits`).
        let mut word = [0u64; (WINDOW / 64) as usize];
        // The window's matches, for the facets (read together).
        let mut matches = Vec::with_capacity(WINDOW as usize);
        while base < reader.max_doc() && lists.iter().zip(&ranges).all(|(l, r)| live(l, r)) {
            let end = base.saturating_add(WINDOW);
            let counting = budget > 0;
            lookup.fill(false);
            if !counting {
                required_parts(&most, &by_most, best.threshold(), &mut lookup);
                #[cfg(test)]
                tests::LOOKED_UP.with(|n| n.set(n.get() + lookup.iter().filter(|&&l| l).count()));
            }
            for ((u, l), w) in unset.iter_mut().zip(&lookup).zip(&within) {
                *u = *l || w.is_some();
            }
            let mut hits = [u64::MAX; (WINDOW / 64) as usize];
            for (of_word, range) in lists.iter_mut().zip(&ranges) {
                word_bits(
                    &mut word,
                    of_word,
                    base,
                    end,
                    &mut part_bits[range.clone()],
                    &slots[range.clone()],
                    &unset[range.clone()],
                    &dense_of[range.clone()],
                    &mut freqs,
                    Some((
                        &scoring[range.clone()],
                        &slacks[range.clone()],
                        &mut bounds[range.clone()],
                    )),
                );
                for (h, b) in hits.iter_mut().zip(&word) {
                    *h &= b;
                }
            }
            // A part looked up may add up to its most to any document, a
            // part within another to any of that one's.
            for ((b, g), &u) in bounds.iter_mut().zip(&global).zip(&unset) {
                if u {
                    *b = *g;
                }
            }
            for d in &pairs {
                bounds[d.part] = (bounds[d.from] * d.ratio).min(global[d.part]);
            }
            if !excluded.is_empty() {
                word_bits(
                    &mut word,
                    &mut excluded,
                    base,
                    end,
                    &mut excluded_bits,
                    &no_slots,
                    &no_lookup,
                    &[],
                    &mut [],
                    None,
                );
                for (h, b) in hits.iter_mut().zip(&word) {
                    *h &= !b;
                }
            }
            if counting {
                matches.clear();
                for (i, mut word) in hits.into_iter().enumerate() {
                    while word != 0 {
                        let doc = base + i as u32 * 64 + word.trailing_zeros();
                        word &= word - 1;
                        if alive.is_some_and(|a| !a.is_alive(doc)) {
                            continue;
                        }
                        matches.push(doc);
                    }
                }
                let n = matches.len().min(budget);
                budget -= n;
                seg.counted += n;
                if let Some(f) = &mut seg.facets {
                    f.collect_block(&matches[..n]);
                }
                if let Some(&first) = matches.get(n) {
                    // The cap: the documents before this one were read.
                    stopped = Some(first);
                } else if budget == 0 {
                    // Spent on the window's last match: the window was read.
                    stopped = Some(end.min(reader.max_doc()));
                }
            }
            // With few parts, the bound of each set of parts a match can
            // have, summed as below (the parts in order): a match's bound
            // is then one read, not a branch per part.
            let by_mask = parts.len() <= MASK_PARTS;
            if by_mask {
                for m in 1..1usize << parts.len() {
                    let top = usize::BITS - 1 - m.leading_zeros();
                    mask_bounds[m] = mask_bounds[m & !(1 << top)] + bounds[top as usize];
                }
            }
            // Parts looked up count as had until they are.
            let assumed = lookup
                .iter()
                .enumerate()
                .fold(0usize, |m, (p, &l)| m | usize::from(l) << p);
            // The matches that could beat the k-th best: those that have
            // every part set here without which the others' bounds (a part
            // derived from it goes with it), summed as below, cannot. A
            // document without such a part has at most those bounds (a
            // float sum of the same terms in the same order, fewer of
            // them), so it fails the test below anyway; the rest of the
            // window's matches are not looked at one by one.
            let mut sieve = hits;
            let threshold = best.threshold();
            for (p, &u) in unset.iter().enumerate() {
                if u {
                    continue;
                }
                let mut rest: Score = 0.0;
                for (q, b) in bounds.iter().enumerate() {
                    if q != p && within[q] != Some(p) {
                        rest += b;
                    }
                }
                if rest <= threshold {
                    for (s, b) in sieve.iter_mut().zip(&part_bits[p]) {
                        *s &= b;
                    }
                }
            }
            let candidates = sieve.iter().enumerate().flat_map(|(i, &word)| {
                std::iter::successors(Some(word).filter(|&w| w != 0), |&w| {
                    Some(w & (w - 1)).filter(|&w| w != 0)
                })
                .map(move |w| base + i as u32 * 64 + w.trailing_zeros())
            });
            for doc in candidates {
                if alive.is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                #[cfg(test)]
                tests::BOUNDED.with(|n| n.set(n.get() + 1));
                let i = ((doc - base) / 64) as usize;
                let at = (doc - base) as usize;
                // Most the document can score: its parts' bounds, summed
                // in the same order as their scores (a float sum grows
                // with each term, so it bounds the score's sum too). A
                // match that cannot beat the k-th best is not scored.
                let has = |p: usize, part_bits: &[Bits]| {
                    let p = within[p].unwrap_or(p);
                    lookup[p] || part_bits[p][i] >> (doc % 64) & 1 != 0
                };
                let bound = if by_mask {
                    let mut mask = assumed;
                    for (p, bits) in part_bits.iter().enumerate() {
                        mask |= ((bits[i] >> (doc % 64) & 1) as usize) << p;
                    }
                    for d in &pairs {
                        mask |= (mask >> d.from & 1) << d.part;
                    }
                    mask_bounds[mask]
                } else {
                    let mut bound: Score = 0.0;
                    for (p, b) in bounds.iter().enumerate() {
                        if has(p, &part_bits) {
                            bound += b;
                        }
                    }
                    bound
                };
                if bound <= best.threshold() {
                    continue;
                }
                if assumed != 0 {
                    // Whether the parts looked up have the document, and
                    // their frequencies, as if set in the window.
                    let mut p = 0;
                    for of_word in lists.iter_mut() {
                        for of_part in of_word.iter_mut() {
                            let had = lookup[p]
                                && match &dense_of[p] {
                                    Some(d) => d.has(doc),
                                    None => look_up(of_part, doc),
                                };
                            if had {
                                part_bits[p][i] |= 1 << (doc % 64);
                                if let (Some(k), Some(first)) = (slots[p], of_part.first()) {
                                    freqs[k * WINDOW as usize + at] = first.freq();
                                }
                            }
                            p += 1;
                        }
                    }
                }
                // A derived part: where the part it is derived from has the
                // document, as often as that one less its variants.
                for (d, of_variants) in pairs.iter().zip(&mut variants) {
                    let (x, f) = (d.part, d.from);
                    if part_bits[f][i] >> (doc % 64) & 1 != 0 {
                        let tf = part_freq(&dense_of[f], slots[f], &freqs, at, doc);
                        let variant = if look_up(of_variants, doc) {
                            of_variants.first().map_or(0, Postings::freq)
                        } else {
                            0
                        };
                        if variant < tf {
                            part_bits[x][i] |= 1 << (doc % 64);
                            if let Some(k) = slots[x] {
                                freqs[k * WINDOW as usize + at] = tf - variant;
                            }
                        }
                    }
                }
                #[cfg(test)]
                tests::SCORED.with(|n| n.set(n.get() + 1));
                for ((((s, how), slot), bits), of_dense) in scores
                    .iter_mut()
                    .zip(&scoring)
                    .zip(&slots)
                    .zip(&part_bits)
                    .zip(&dense_of)
                {
                    // The part has the document (all its terms do).
                    *s = if bits[i] >> (doc % 64) & 1 == 0 {
                        0.0
                    } else {
                        how.score(doc, part_freq(of_dense, *slot, &freqs, at, doc))
                    };
                }
                let score: Score = scores.iter().sum();
                if score > best.threshold() {
                    best.push(
                        score,
                        DocAddress {
                            segment_ord: ord,
                            doc_id: doc,
                        },
                    );
                }
            }
            base = end;
        }
        if let Some(doc) = stopped {
            seg.read = u64::from(doc);
        }
        segments.push(seg);
    }
    let counted = super::count::merge(facets.as_ref(), segments)?;
    let page = best
        .into_sorted()
        .into_iter()
        .skip(offset)
        .take(limit)
        .collect();
    Ok((page, counted))
}

/// How often a part has `doc` (the `at`th of its window), which it has:
/// from its dense term, or from its slot of the window's frequencies (1
/// for a part without).
fn part_freq(
    dense: &Option<Arc<DenseTerm>>,
    slot: Option<usize>,
    freqs: &[u32],
    at: usize,
    doc: DocId,
) -> u32 {
    match dense {
        Some(d) => d.freq(doc),
        None => slot.map_or(1, |k| freqs[k * WINDOW as usize + at]),
    }
}

/// Marks in `lookup` the parts that need not be set in bit sets once
/// matches are no longer counted, with `threshold` the k-th best score: of
/// each word (its parts in `by_most`, largest most first; `global` holds
/// each part's most), the fewest
/// parts, largest first, such that a document with none of them cannot
/// beat the threshold (every other part's most, summed, is at or under
/// it, with a margin for the float sums) are required, and the word's
/// other parts are marked. A word with no such parts is left as it is.
fn required_parts(global: &[Score], by_most: &[Vec<usize>], threshold: Score, lookup: &mut [bool]) {
    let all: Score = global.iter().sum();
    for word in by_most {
        let mut most = 0.0;
        for (n, &p) in word.iter().enumerate() {
            most += global[p];
            if (all - most) * 1.0001 <= threshold {
                for &other in &word[n + 1..] {
                    lookup[other] = true;
                }
                break;
            }
        }
    }
}

/// Whether every term of a part has `doc` (asked in increasing order;
/// the postings stay there, for its frequency).
fn look_up(of_part: &mut [Postings], doc: DocId) -> bool {
    !of_part.is_empty()
        && of_part.iter_mut().all(|p| {
            p.seek(doc);
            p.doc() == doc
        })
}

/// The postings of a word's parts in a segment: of a part of several
/// required terms, each term's (none when one is missing here); of
/// another, its own; with `freqs`, a scored term's with its frequencies.
/// Each part keeps its place (parts are numbered in query order), empty or
/// not; a part marked `unread` (derived from another, or dense) is left
/// empty.
fn word_lists(
    reader: &SegmentReader,
    word: &[(WordPart, Score)],
    freqs: bool,
    unread: &[bool],
) -> tantivy::Result<Vec<Vec<Postings>>> {
    let option = |first: bool| {
        if freqs && first {
            IndexRecordOption::WithFreqs
        } else {
            IndexRecordOption::Basic
        }
    };
    let mut of_word = Vec::with_capacity(word.len());
    for (k, (part, _)) in word.iter().enumerate() {
        let mut of_part = Vec::new();
        if unread.get(k).copied().unwrap_or(false) {
            of_word.push(of_part);
            continue;
        }
        match part {
            WordPart::AllOf(terms) => {
                of_part = term_lists(reader, terms, option(true))?.unwrap_or_default();
            }
            WordPart::Scored(t) => {
                of_part.extend(Source::term(reader, t, option(true))?.map(Postings::new))
            }
            WordPart::AnyOf(_) => {
                of_part.extend(Postings::open(reader, part, IndexRecordOption::Basic)?)
            }
        }
        of_word.push(of_part);
    }
    Ok(of_word)
}

/// A word's documents in the window from `base` to `end`, set in `bits`
/// (those of any of its parts; of a part of several terms, those all its
/// terms have), each part's set in `part_bits`, and the frequencies of a
/// part with a slot (its first term's) in that slot of `freqs`; the
/// postings move on past the window. With `bounds`, each part's most it
/// adds to a document of the window, from how it scores and its slack
/// here: the bounds of the blocks it read (its first term's), or its
/// constant. A part marked in `lookup` is left out (its set empty, its
/// postings where they are). A part with a `dense` term is copied from it
/// (its frequencies stay there, its bound is the window's).
#[allow(clippy::too_many_arguments)]
fn word_bits(
    bits: &mut Bits,
    of_word: &mut [Vec<Postings>],
    base: DocId,
    end: DocId,
    part_bits: &mut [Bits],
    slots: &[Option<usize>],
    lookup: &[bool],
    dense: &[Option<Arc<DenseTerm>>],
    freqs: &mut [u32],
    mut bounds: Option<(&[Scoring], &[Score], &mut [Score])>,
) {
    *bits = [0; (WINDOW / 64) as usize];
    for (k, ((of_part, in_part), slot)) in of_word
        .iter_mut()
        .zip(part_bits.iter_mut())
        .zip(slots)
        .enumerate()
    {
        *in_part = [0; (WINDOW / 64) as usize];
        if lookup.get(k).copied().unwrap_or(false) {
            continue;
        }
        // A dense part (only a BM25 term is) has no postings here.
        if let Some(d) = dense.get(k).and_then(Option::as_ref) {
            if let Some(window) = d.window(base) {
                *in_part = *window;
            }
            if let Some((how, _, out)) = &mut bounds {
                if let (Some(Scoring::Bm25 { weight, .. }), Some(o)) = (how.get(k), out.get_mut(k))
                {
                    *o = d.bound(base, weight);
                }
            }
        }
        for (n, p) in of_part.iter_mut().enumerate() {
            let tf = match slot {
                Some(k) if n == 0 => {
                    Some(&mut freqs[k * WINDOW as usize..(k + 1) * WINDOW as usize])
                }
                _ => None,
            };
            // How the part's first term scores, when its bound is wanted.
            let how = bounds
                .as_ref()
                .filter(|_| n == 0)
                .and_then(|(how, slacks, _)| Some((how.get(k)?, slacks.get(k).copied()?)));
            let scoring = match how {
                Some((Scoring::Bm25 { norms, weight }, slack)) => Some((norms, weight, slack)),
                _ => None,
            };
            // The first term's documents are set in the part's (empty)
            // set; another's in their own, then intersected with it.
            let most = if n == 0 {
                window_bits(p, base, end, in_part, tf, scoring)
            } else {
                let mut term = [0u64; (WINDOW / 64) as usize];
                let most = window_bits(p, base, end, &mut term, tf, scoring);
                for (a, b) in in_part.iter_mut().zip(term) {
                    *a &= b;
                }
                most
            };
            if let (Some((how, _)), Some((_, _, out))) = (how, &mut bounds) {
                if let Some(o) = out.get_mut(k) {
                    *o = match how {
                        Scoring::Constant(c) => *c,
                        Scoring::Bm25 { .. } => most,
                    };
                }
            }
        }
        for (a, b) in bits.iter_mut().zip(in_part.iter()) {
            *a |= b;
        }
    }
}

/// Sets the bits of the documents of `p` before `end`, and with `tf` their
/// frequencies, moving it on (a window of documents from `base`). With
/// `scoring` (how the term scores, and its slack), returns the most it
/// adds to a document of the window: the largest bound of the blocks that
/// had documents in it (0 when none).
fn window_bits(
    p: &mut Postings,
    base: DocId,
    end: DocId,
    bits: &mut Bits,
    mut tf: Option<&mut [u32]>,
    scoring: Option<(&FieldNormReader, &Bm25Weight, Score)>,
) -> Score {
    // A part looked up in earlier windows may be behind.
    p.seek(base);
    let mut most: Score = 0.0;
    // The bit-set word being filled and its index: each posting's bit is
    // added in a register and the word stored, not read back from memory
    // (consecutive postings mostly share a word, and a read-modify-write
    // of one memory word waits for the previous one). `bits` starts empty,
    // and postings are sorted: a new word starts from nothing.
    let (mut word, mut filled) = (0u64, usize::MAX);
    loop {
        let docs = p.source.docs();
        if docs.is_empty() {
            return most;
        }
        let from = p.at;
        // The block's documents in the window (they are sorted).
        let upto = from + docs[from..].partition_point(|&d| d < end);
        let freqs = match &p.source {
            Source::Block(b) => Some(b.freqs()).filter(|f| f.len() == docs.len()),
            Source::Merged { .. } => None,
        };
        let in_window = &docs[from..upto];
        #[cfg(test)]
        tests::SET.with(|n| n.set(n.get() + in_window.len()));
        for &doc in in_window {
            // Within the window: `doc - base` < WINDOW.
            let d = (doc - base) as usize % WINDOW as usize;
            let at = d / 64;
            let same = u64::from(at == filled).wrapping_neg();
            word = (word & same) | 1 << (d % 64);
            bits[at] = word;
            filled = at;
        }
        if let Some(tf) = &mut tf {
            match freqs.and_then(|f| f.get(from..upto)) {
                Some(f) => {
                    for (&doc, &n) in in_window.iter().zip(f) {
                        tf[(doc - base) as usize % WINDOW as usize] = n;
                    }
                }
                None => {
                    for &doc in in_window {
                        tf[(doc - base) as usize % WINDOW as usize] = 1;
                    }
                }
            }
        }
        p.at = upto;
        let len = docs.len();
        if let Some((norms, weight, slack)) = scoring {
            if upto > from {
                let block =
                    (p.source.block_max_score(norms, weight) * slack).min(weight.max_score());
                most = most.max(block);
            }
        }
        if upto < len {
            return most;
        }
        p.next_block();
    }
}

/// The documents of a word's parts in one segment, in order, each once
/// (for counting, without scores).
pub struct Union {
    lists: Vec<AllOf>,
}

/// A part's documents: those of its first term that its other terms
/// (a CJK word's bigrams after the first) have too.
struct AllOf {
    first: Postings,
    others: Vec<Postings>,
}

impl AllOf {
    fn open(reader: &SegmentReader, part: &WordPart) -> tantivy::Result<Option<Self>> {
        let terms = match part {
            WordPart::AllOf(terms) => terms,
            _ => {
                return Ok(
                    Postings::open(reader, part, IndexRecordOption::Basic)?.map(|first| Self {
                        first,
                        others: Vec::new(),
                    }),
                )
            }
        };
        let Some(mut lists) = term_lists(reader, terms, IndexRecordOption::Basic)? else {
            return Ok(None);
        };
        if lists.is_empty() {
            return Ok(None);
        }
        let first = lists.remove(0);
        let mut all = Self {
            first,
            others: lists,
        };
        all.align();
        Ok(Some(all))
    }

    fn doc(&self) -> DocId {
        self.first.doc()
    }

    fn advance(&mut self) {
        self.first.advance();
        self.align();
    }

    /// To the first document at or after `target` that every term has.
    fn seek(&mut self, target: DocId) {
        self.first.seek(target);
        self.align();
    }

    /// To the first document (at or after the current) that every term
    /// has.
    fn align(&mut self) {
        loop {
            let doc = self.first.doc();
            if doc == TERMINATED {
                return;
            }
            let mut target = doc;
            for o in &mut self.others {
                o.seek(target);
                target = target.max(o.doc());
            }
            if target == doc {
                return;
            }
            self.first.seek(target);
        }
    }
}

impl Union {
    pub fn new(reader: &SegmentReader, parts: &[(WordPart, Score)]) -> tantivy::Result<Self> {
        let mut lists = Vec::with_capacity(parts.len());
        for (part, _) in parts {
            lists.extend(AllOf::open(reader, part)?);
        }
        Ok(Self { lists })
    }

    /// Whether a part has `doc` (asked in increasing order).
    pub fn has(&mut self, doc: DocId) -> bool {
        self.lists.iter_mut().any(|l| {
            l.seek(doc);
            l.doc() == doc
        })
    }
}

impl Iterator for Union {
    type Item = DocId;

    fn next(&mut self) -> Option<DocId> {
        let doc = self.lists.iter().map(AllOf::doc).min()?;
        if doc == TERMINATED {
            return None;
        }
        for list in &mut self.lists {
            if list.doc() == doc {
                list.advance();
            }
        }
        Some(doc)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashMap;

    use chrono::{TimeZone, Utc};
    use tantivy::collector::TopDocs;
    use tantivy::query::{
        BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery,
        TermSetQuery,
    };
    use tantivy::schema::IndexRecordOption;
    use tantivy::{DocAddress, Term};

    use super::super::userquery::{UserQuery, WordPart};
    use super::super::{sample, CatalogIndex};

    thread_local! {
        /// Matches [`super::all_words`] scored exactly on this thread.
        pub(super) static SCORED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        /// Matches of several words whose bound was summed.
        pub(super) static BOUNDED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        /// Parts looked up, not set in bit sets, summed over windows.
        pub(super) static LOOKED_UP: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        /// Postings set in a window's bit sets.
        pub(super) static SET: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        /// Cursors whose term's bit set tells the documents it lacks.
        pub(super) static WITH_BITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        /// Required terms of parts read from their bit sets.
        pub(super) static REQUIRED_DENSE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        /// Cursors [`super::search`] opened (a part's in a segment).
        pub(super) static CURSORS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// Page `page` (from 1) of `limit` items of `all`.
    pub(in crate::index) fn page_of<T: Copy>(all: &[T], page: usize, limit: usize) -> Vec<T> {
        all.iter()
            .skip((page - 1) * limit)
            .take(limit)
            .copied()
            .collect()
    }

    /// Names and file paths of words drawn by a fixed generator, so that a
    /// word's score comes from the name as written, the folded name (where
    /// `Jázz` is `jazz`) and the files in every proportion; four segments
    /// whose average lengths differ (the block bounds' slack); documents
    /// deleted in two of them.
    pub(in crate::index) fn fixture() -> (tempfile::TempDir, CatalogIndex) {
        let words = [
            "jazz",
            "Jázz",
            "blues",
            "rocks",
            "rock",
            "live",
            "night",
            "sky",
            "a",
            "the",
            "東京物語",
            // Bigrams of 東京物語 without the others: a CJK word must
            // have all of them.
            "東京タワー",
            "物語",
        ];
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = CatalogIndex::open(&dir.path().join("index"), 1).unwrap();
        let g = index.current();
        let mut writer: tantivy::IndexWriter =
            g.index.writer_with_num_threads(1, 50_000_000).unwrap();
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        let mut x: u64 = 7;
        let mut next = |n: usize| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as usize % n
        };
        let when = Utc.timestamp_opt(1_600_000_000, 0).unwrap();
        let per_segment = 1500;
        for i in 0..4 * per_segment {
            let segment = i / per_segment;
            let len = 1 + next(3 + 3 * segment);
            let name: Vec<&str> = (0..len).map(|_| words[next(words.len())]).collect();
            let files: Vec<String> = (0..next(4))
                .map(|j| format!("{}-{j}.flac", words[next(words.len())]))
                .collect();
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            let meta = sample(i, &name.join(" "), &files);
            writer.add_document(g.document(&meta, when, &[])).unwrap();
            if i % per_segment == per_segment - 1 {
                writer.commit().unwrap();
            }
        }
        for i in (0..4 * per_segment).filter(|i| i % 7 == 3 && i / per_segment % 2 == 0) {
            let meta = sample(i, "", &[]);
            writer.delete_term(g.key(&meta.info_hash));
        }
        writer.commit().unwrap();
        g.reader.reload().unwrap();
        let searcher = g.reader.searcher();
        assert_eq!(searcher.segment_readers().len(), 4);
        assert!(searcher
            .segment_readers()
            .iter()
            .any(|r| r.num_deleted_docs() > 0));
        drop(searcher);
        (dir, index)
    }

    /// Each matching document's score of each part (0: absent), from
    /// Tantivy's term or term-set query, boosted.
    fn per_part(
        searcher: &tantivy::Searcher,
        parts: &[(WordPart, f32)],
    ) -> HashMap<DocAddress, Vec<f32>> {
        let mut scores: HashMap<DocAddress, Vec<f32>> = HashMap::new();
        for (i, (part, boost)) in parts.iter().enumerate() {
            let q: Box<dyn Query> = match part {
                WordPart::Scored(term) => {
                    Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs))
                }
                WordPart::AnyOf(terms) => Box::new(TermSetQuery::new(terms.clone())),
                // The first scored, the others required.
                WordPart::AllOf(terms) => Box::new(BooleanQuery::new(
                    terms
                        .iter()
                        .enumerate()
                        .map(|(i, t)| {
                            let option = if i == 0 {
                                IndexRecordOption::WithFreqs
                            } else {
                                IndexRecordOption::Basic
                            };
                            let q: Box<dyn Query> = Box::new(TermQuery::new(t.clone(), option));
                            let q = if i == 0 {
                                q
                            } else {
                                Box::new(ConstScoreQuery::new(q, 0.0))
                            };
                            (Occur::Must, q)
                        })
                        .collect(),
                )),
            };
            let q = BoostQuery::new(q, *boost);
            for (score, addr) in searcher.search(&q, &TopDocs::with_limit(100_000)).unwrap() {
                scores.entry(addr).or_insert_with(|| vec![0.0; parts.len()])[i] = score;
            }
        }
        scores
    }

    /// Several words: every page and the count equal an exhaustive
    /// reference (a document has a part of each word; its score is every
    /// part's summed in query order), and the count equals Tantivy's.
    #[test]
    fn several_words_pages_and_counts_equal_an_exhaustive_reference() {
        let (_dir, index) = fixture();
        let g = index.current();
        let searcher = g.reader.searcher();
        // Two words, three with a prefix, three with a typo, a CJK word (its
        // bigrams all in one field) alone and with another; words excluded
        // from one word, from two, from a CJK word, and a CJK word
        // excluded.
        for q in [
            "jazz blues",
            "night sky",
            "sky the ja",
            "live rock bluse",
            "東京物語",
            "東京物語 sky",
            "jazz -blues",
            "night sky -live -rock",
            "東京物語 -sky",
            "jazz -東京物語",
        ] {
            let typo = q.ends_with("bluse");
            let compiled = UserQuery::parse(q)
                .compile(&g.fields, typo, &searcher)
                .unwrap();
            let words = compiled.words.clone().expect("every word required");
            let without = compiled.without.clone();
            super::super::count::FROM_BITS.with(|n| n.set(0));
            REQUIRED_DENSE.with(|n| n.set(0));
            assert_eq!(without.len(), q.matches(" -").count(), "{q}");
            let cjk = q.starts_with('東');
            assert!(words.len() >= 2 || cjk || !without.is_empty(), "{q}");
            if cjk {
                assert!(
                    words[0]
                        .iter()
                        .any(|(p, _)| matches!(p, WordPart::AllOf(t) if t.len() == 3)),
                    "three bigrams: {words:?}"
                );
            }
            let parts: Vec<(WordPart, f32)> = words.iter().flatten().cloned().collect();
            let excluded: Vec<(WordPart, f32)> = without.iter().flatten().cloned().collect();
            let scores = per_part(&searcher, &[parts.clone(), excluded].concat());
            if cjk {
                // Documents whose name has the first bigram but not the
                // word: the other bigrams must be checked.
                let first = words[0]
                    .iter()
                    .find_map(|(p, _)| match p {
                        WordPart::AllOf(t) => t.first().cloned(),
                        _ => None,
                    })
                    .unwrap();
                let n = words[0].len();
                let with_word = scores
                    .iter()
                    .filter(|(_, s)| s[..n].iter().any(|&x| x > 0.0));
                assert!(
                    searcher.doc_freq(&first).unwrap() > with_word.count() as u64 + 100,
                    "{q}: the fixture has the first bigram without the word"
                );
            }
            let with_words = |s: &&Vec<f32>| {
                let mut at = 0;
                words.iter().all(|w| {
                    let has = s[at..at + w.len()].iter().any(|&x| x > 0.0);
                    at += w.len();
                    has
                })
            };
            let excluded_parts: Vec<(WordPart, f32)> = without.iter().flatten().cloned().collect();
            let excluded = |s: &Vec<f32>| s[parts.len()..].iter().any(|&x| x > 0.0);
            let mut all: Vec<(f32, DocAddress)> = scores
                .iter()
                .filter(|(_, s)| with_words(s) && !excluded(s))
                .map(|(addr, s)| (s[..parts.len()].iter().sum(), *addr))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            assert!(all.len() > 100, "{q}: {} matches", all.len());
            if !without.is_empty() {
                // Some documents have the words and an excluded one.
                let both = scores.values().filter(|s| with_words(s) && excluded(s));
                assert!(both.count() > 100, "{q}: the exclusion removes matches");
            }
            let count = searcher
                .search(&compiled.query, &tantivy::collector::Count)
                .unwrap();
            assert_eq!(count, all.len(), "{q}: the query's own count");
            // Each part read from its postings, and the frequent ones from
            // dense terms (see `dense`): the same pages and counts.
            let cache = super::DenseCache::default();
            for ((page, limit), dense) in [(1, 10), (3, 25), (5, 50)]
                .into_iter()
                .flat_map(|p| [(p, None), (p, Some(&cache))])
            {
                // One CJK word goes to MaxScore (`search`) and the count,
                // several to `all_words`.
                let (got, counted) = super::words(
                    &searcher,
                    &g.fields,
                    &words,
                    &without,
                    limit,
                    (page - 1) * limit,
                    None,
                    dense,
                )
                .unwrap();
                assert_eq!((counted.total, counted.exact), (all.len(), true), "{q}");
                let want = page_of(&all, page, limit);
                assert_eq!(got, want, "{q}: page {page} of {limit}");
                if words.len() >= 2 {
                    // Counted to a third of the matches: the same page,
                    // and the count an estimate of at least what was
                    // counted.
                    let cap = all.len() / 3;
                    let (got, counted) = super::all_words(
                        &searcher,
                        &g.fields,
                        &words,
                        &excluded_parts,
                        limit,
                        (page - 1) * limit,
                        None,
                        cap,
                        dense,
                    )
                    .unwrap();
                    assert_eq!(got, want, "{q}: page {page} of {limit}, counted to {cap}");
                    assert!(!counted.exact, "{q}: past the cap, an estimate");
                    assert!(counted.total >= cap, "{q}: {} estimated", counted.total);
                }
            }
            assert!(
                cache.built.load(std::sync::atomic::Ordering::Relaxed) > 0,
                "{q}: some parts dense"
            );
            // One word: its count read segments from the bit sets of its
            // dense terms (and equals Tantivy's, above; facets below).
            let from_bits = super::super::count::FROM_BITS.with(|n| n.get());
            assert_eq!(from_bits > 0, words.len() == 1, "{q}");
            // A CJK word alone (MaxScore): its other bigrams, all required,
            // tested in their bit sets (the pages above are still exact).
            if cjk && words.len() == 1 {
                assert!(REQUIRED_DENSE.with(|n| n.get()) > 0, "{q}");
            }
            // The facets of every match equal those Tantivy's query
            // collects.
            let facets = || super::FacetCollector {
                cache: g.sort_cache.clone(),
            };
            let (_, counted) = super::words(
                &searcher,
                &g.fields,
                &words,
                &without,
                10,
                0,
                Some(facets()),
                Some(&cache),
            )
            .unwrap();
            let want = searcher.search(&compiled.query, &facets()).unwrap();
            assert!(
                want.categories.len() >= 2,
                "{q}: matches of several categories"
            );
            assert_eq!(counted.facets, Some(want), "{q}: facets");
        }
    }

    /// Several words: a match whose parts' bounds (each the most its
    /// blocks in the window add) cannot beat the k-th best so far is
    /// counted but not scored, and the pages stay those of an exhaustive
    /// sort (checked above for these queries): a tenth of the matches at
    /// least are never scored for a first page (on a million synthetic
    /// names, three quarters), and more are scored as the page deepens.
    #[test]
    fn several_words_score_only_matches_that_could_enter_the_page() {
        let (_dir, index) = fixture();
        let g = index.current();
        let searcher = g.reader.searcher();
        for q in ["jazz blues", "night sky", "night sky -live -rock"] {
            let compiled = UserQuery::parse(q)
                .compile(&g.fields, false, &searcher)
                .unwrap();
            let words = compiled.words.clone().expect("every word required");
            let scored = |limit: usize| {
                SCORED.with(|n| n.set(0));
                BOUNDED.with(|n| n.set(0));
                let (page, counted) = super::words(
                    &searcher,
                    &g.fields,
                    &words,
                    &compiled.without,
                    limit,
                    0,
                    None,
                    None,
                )
                .unwrap();
                assert_eq!(page.len(), limit, "{q}");
                let bounded = BOUNDED.with(|n| n.get());
                (SCORED.with(|n| n.get()), bounded, counted.total)
            };
            let (first, bounded, total) = scored(10);
            assert!(total > 100, "{q}: {total} matches");
            assert!(
                first * 10 < total * 9,
                "{q}: {first} of {total} matches scored for the first 10"
            );
            // Matches without a part they need are not even bounded one
            // by one.
            assert!(
                bounded * 10 < total * 9 && bounded >= first,
                "{q}: {bounded} of {total} matches bounded for the first 10"
            );
            let (deep, _, _) = scored(100);
            assert!(deep > first, "{q}: a deeper page scores more ({deep})");
        }
    }

    /// Past the count's cap, only the parts of a word that a document
    /// needs to beat the k-th best are set in bit sets (the word's others
    /// are looked up for the documents that could): fewer postings are set
    /// than when every match is counted, and the page is the same.
    #[test]
    fn past_the_cap_only_parts_a_page_needs_are_set_in_bit_sets() {
        let (_dir, index) = fixture();
        let g = index.current();
        let searcher = g.reader.searcher();
        for q in ["jazz blues", "night sky"] {
            let compiled = UserQuery::parse(q)
                .compile(&g.fields, false, &searcher)
                .unwrap();
            let words = compiled.words.clone().expect("every word required");
            let run = |cap: usize| {
                SET.with(|n| n.set(0));
                let (page, counted) =
                    super::all_words(&searcher, &g.fields, &words, &[], 10, 0, None, cap, None)
                        .unwrap();
                (page, counted, SET.with(|n| n.get()))
            };
            let (page, counted, every) = run(super::COUNT_CAP);
            assert!(counted.exact && counted.total > 400, "{q}: {counted:?}");
            let (capped, estimated, fewer) = run(counted.total / 4);
            assert_eq!(capped, page, "{q}");
            assert!(!estimated.exact, "{q}");
            assert!(
                fewer * 10 < every * 9,
                "{q}: {fewer} postings set past the cap, {every} counting every match"
            );
        }
    }

    /// Past the cap, a part that is looked up (not set in bit sets) is never
    /// what a window's matches are sieved by, even where the other parts'
    /// bounds cannot beat the k-th best without it. Here the words are as
    /// common in file names as in names, so past the cap each word's file
    /// part is looked up (the names alone decide whether a torrent can
    /// reach the page); in the last window every name with both words is
    /// of middling length, too long to reach the page by the name alone,
    /// and one torrent gets there by its short file name.
    #[test]
    fn past_the_cap_a_part_looked_up_does_not_sieve_a_window() {
        const NAME_LONG: usize = 12;
        const FILE_LONG: usize = 10;
        const NAME_MIDDLE: usize = 4;
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = CatalogIndex::open(&dir.path().join("index"), 1).unwrap();
        let g = index.current();
        let mut writer: tantivy::IndexWriter =
            g.index.writer_with_num_threads(1, 50_000_000).unwrap();
        let when = Utc.timestamp_opt(1_600_000_000, 0).unwrap();
        let filler = |n: usize, from: usize| -> Vec<String> {
            (from..from + n).map(|k| format!("w{}", k % 97)).collect()
        };
        let both = || vec!["alpha".to_owned(), "beta".to_owned()];
        let window = super::WINDOW as usize;
        let special = 3 * window - 7;
        for i in 0..3 * window {
            let mut name = filler(NAME_LONG, i);
            let mut file = filler(FILE_LONG, i);
            if i == special {
                file = both();
            } else if i % 4 == 2 {
                file.extend(both());
            }
            if i / window < 2 && i % 4 == 0 {
                // Both words in short names: a few of two words (the name
                // alone can beat the page's last), the rest of three.
                name = filler(usize::from(i >= 20), i);
                name.extend(both());
            } else if i / window == 2 && (i % 8 == 0 || i == special) {
                name = filler(NAME_MIDDLE, i);
                name.extend(both());
            }
            let file = format!("{}.flac", file.join(" "));
            let meta = sample(i, &name.join(" "), &[&file]);
            writer.add_document(g.document(&meta, when, &[])).unwrap();
        }
        writer.commit().unwrap();
        g.reader.reload().unwrap();
        let searcher = g.reader.searcher();
        assert_eq!(searcher.segment_readers().len(), 1);
        let compiled = UserQuery::parse("alpha beta")
            .compile(&g.fields, false, &searcher)
            .unwrap();
        let words = compiled.words.clone().expect("every word required");
        let run = |cap: usize| {
            super::all_words(&searcher, &g.fields, &words, &[], 10, 0, None, cap, None).unwrap()
        };
        let (page, counted) = run(super::COUNT_CAP);
        assert!(counted.exact, "{counted:?}");
        let special_doc = DocAddress::new(0, special as u32);
        assert!(
            page.iter().any(|&(_, a)| a == special_doc),
            "the file match is on the page: {page:?}"
        );
        LOOKED_UP.with(|n| n.set(0));
        let (capped, estimated) = run(20);
        assert!(!estimated.exact, "past the cap");
        // Both words' file parts, in each of the two windows past the cap
        // (counting stops in the first): the case this test is for.
        assert_eq!(LOOKED_UP.with(|n| n.get()), 4);
        assert_eq!(capped, page);
    }

    /// A word's exact name term that folds to itself is never read from
    /// its own postings: its documents and frequencies are derived from the
    /// folded term's less its variants' (here `Jázz` is a variant of
    /// `jazz`, `rocks` of `rock`, so the folded terms have more). Fewer
    /// postings are set than the other parts have; the pages of these
    /// searches equal an exhaustive sort of Tantivy's scores of the exact
    /// term itself (above).
    #[test]
    fn exact_name_terms_are_derived_from_the_folded_ones_less_their_variants() {
        let (_dir, index) = fixture();
        let g = index.current();
        let searcher = g.reader.searcher();
        for word in ["jazz", "rock"] {
            let exact = Term::from_field_text(g.fields.name, word);
            let folded = Term::from_field_text(g.fields.name_folded, word);
            let variants = Term::from_field_text(g.fields.name_variants.unwrap(), word);
            let df = |t: &Term| searcher.doc_freq(t).unwrap();
            assert!(df(&variants) > 100, "{word}");
            assert!(df(&folded) > df(&exact) + 100, "{word}");
        }
        // `blues` is not derived: its folded term is `blue`.
        for (q, n) in [("jazz blues", 1), ("night sky", 2), ("live rock", 2)] {
            let compiled = UserQuery::parse(q)
                .compile(&g.fields, false, &searcher)
                .unwrap();
            let words = compiled.words.clone().expect("every word required");
            let derived = super::derived_parts(&g.fields, &words);
            let parts: Vec<(WordPart, f32)> = words.iter().flatten().cloned().collect();
            let mut others = 0;
            let df = |t: &Term| searcher.doc_freq(t).unwrap() as usize;
            for (p, (part, _)) in parts.iter().enumerate() {
                match (part, derived.iter().find(|d| d.part == p)) {
                    (WordPart::Scored(term), Some(d)) => {
                        assert_eq!(term.field(), g.fields.name, "{q}");
                        assert!(
                            matches!(&parts[d.from].0, WordPart::Scored(t) if t.field() == g.fields.name_folded)
                        );
                    }
                    (WordPart::Scored(term), None) => others += df(term),
                    // The last word's prefix expansions.
                    (WordPart::AnyOf(terms), None) => others += terms.iter().map(df).sum::<usize>(),
                    _ => panic!("{q}: {part:?}"),
                }
            }
            assert_eq!(derived.len(), n, "{q}");
            SET.with(|n| n.set(0));
            super::all_words(
                &searcher,
                &g.fields,
                &words,
                &[],
                10,
                0,
                None,
                super::COUNT_CAP,
                None,
            )
            .unwrap();
            let set = SET.with(|n| n.get());
            assert!(
                set <= others,
                "{q}: {set} postings set, {others} in the other parts"
            );
        }
    }

    /// Which searches are read from postings here (the rest go through
    /// Tantivy's query): words each required or excluded, and at least one
    /// required; no phrase, no alternative.
    #[test]
    fn words_required_or_excluded_are_read_here_and_the_rest_by_tantivy() {
        let (_dir, index) = fixture();
        let g = index.current();
        let searcher = g.reader.searcher();
        let routed = |q: &str| {
            let c = UserQuery::parse(q)
                .compile(&g.fields, false, &searcher)
                .unwrap();
            c.words.map(|w| (w.len(), c.without.len()))
        };
        assert_eq!(routed("jazz"), Some((1, 0)));
        assert_eq!(routed("jazz blues -live"), Some((2, 1)));
        assert_eq!(routed("jazz -blues -東京物語"), Some((1, 2)));
        // Nothing required, a phrase required or excluded, an alternative.
        for q in [
            "-jazz",
            "\"live rock\"",
            "jazz -\"live rock\"",
            "jazz OR blues",
        ] {
            assert_eq!(routed(q), None, "{q}");
        }
    }

    /// Every page of one word equals an exhaustive sort of every match by
    /// (score, address), scores equal to the bit, each term's score from
    /// Tantivy summed in query order.
    #[test]
    fn pages_equal_an_exhaustive_sort_of_every_match() {
        let (_dir, index) = fixture();
        let g = index.current();
        let searcher = g.reader.searcher();
        // Whole words, a prefix of one word (`ja`: jazz) and of two (`roc`:
        // rock, rocks), and a typo (`bluse`, the second pass: one edit).
        for word in ["jazz", "blues", "sky", "ja", "roc", "bluse"] {
            let typo = word == "bluse";
            let compiled = UserQuery::parse(word)
                .compile(&g.fields, typo, &searcher)
                .unwrap();
            let terms = compiled.words.expect("one word").remove(0);
            assert!(terms.len() >= 3, "{word}: name, folded name and files");
            let prefixes = terms
                .iter()
                .filter(|(p, _)| matches!(p, WordPart::AnyOf(_)))
                .count();
            assert_eq!(
                prefixes > 0,
                ["ja", "roc", "bluse"].contains(&word),
                "{word}: {terms:?}"
            );
            if typo {
                // The listed terms find what Tantivy's fuzzy query finds.
                let in_name = terms
                    .iter()
                    .find_map(|(p, _)| match p {
                        WordPart::AnyOf(t) if t[0].field() == g.fields.name => Some(t.clone()),
                        _ => None,
                    })
                    .expect("typos of the name as written");
                let docs = |q: &dyn Query| {
                    let mut d: Vec<DocAddress> = searcher
                        .search(q, &TopDocs::with_limit(10_000))
                        .unwrap()
                        .into_iter()
                        .map(|(_, a)| a)
                        .collect();
                    d.sort();
                    d
                };
                let fuzzy =
                    FuzzyTermQuery::new(Term::from_field_text(g.fields.name, word), 1, true);
                assert_eq!(docs(&TermSetQuery::new(in_name)), docs(&fuzzy));
            }
            if word == "roc" {
                let merged =
                    |(p, _): &(WordPart, f32)| matches!(p, WordPart::AnyOf(t) if t.len() > 1);
                assert!(
                    terms.iter().any(merged),
                    "rock and rocks, merged: {terms:?}"
                );
            }
            // Every match, with each term's score summed in query order.
            let parts = per_part(&searcher, &terms);
            let mut all: Vec<(f32, DocAddress)> = parts
                .iter()
                .map(|(addr, p)| (p.iter().sum(), *addr))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            assert!(all.len() > 1000, "{word}: {} matches", all.len());
            // The same scores as the query's own, but for the order of the
            // sum (Tantivy's union adds in an order that varies).
            let union = searcher
                .search(&compiled.query, &TopDocs::with_limit(10_000))
                .unwrap();
            assert_eq!(union.len(), all.len());
            for (score, addr) in union {
                let sum: f32 = parts[&addr].iter().sum();
                assert!((sum - score).abs() <= 1e-5 * score, "{word} {addr:?}");
            }
            // `jazz` as written is derived from the folded `jazz` (less
            // `Jázz`...): its postings are never read; `blues` folds to
            // `blue` and is read. (Every part has postings in each segment.)
            let derived = super::derived_parts(&g.fields, &[&terms]).len();
            match word {
                "jazz" => assert_eq!(derived, 1),
                "blues" => assert_eq!(derived, 0),
                _ => {}
            }
            CURSORS.with(|n| n.set(0));
            super::search(&searcher, &g.fields, &terms, &[], 10, 0, None).unwrap();
            if ["jazz", "blues"].contains(&word) {
                let segments = searcher.segment_readers().len();
                assert_eq!(CURSORS.get(), segments * (terms.len() - derived), "{word}");
            }
            // Each part read from its postings, and (with the cache) a
            // document a frequent term lacks skipped by its bit set (the
            // whole words' terms are frequent; the typo's and prefixes'
            // listed terms are not single terms).
            let cache = super::DenseCache::default();
            WITH_BITS.with(|n| n.set(0));
            for dense in [None, Some(&cache)] {
                for (page, limit) in [(1, 10), (2, 10), (9, 25), (40, 25)] {
                    let (offset, w) = ((page - 1) * limit, &g.fields);
                    let got = super::search(&searcher, w, &terms, &[], limit, offset, dense);
                    let want = page_of(&all, page, limit);
                    assert_eq!(got.unwrap(), want, "{word}: page {page} of {limit}");
                }
            }
            if ["jazz", "blues"].contains(&word) {
                assert!(WITH_BITS.with(|n| n.get()) > 0, "{word}: frequent terms");
            }
            // The count and its facets (under the cap: exact) equal those
            // of Tantivy's query.
            let facets = || super::FacetCollector {
                cache: g.sort_cache.clone(),
            };
            let words = [terms.clone()];
            let (_, counted) = super::words(
                &searcher,
                &g.fields,
                &words,
                &[],
                10,
                0,
                Some(facets()),
                None,
            )
            .unwrap();
            let want = searcher.search(&compiled.query, &facets()).unwrap();
            assert!(
                want.categories.len() >= 2,
                "{word}: matches of several categories"
            );
            assert_eq!(counted.total, all.len(), "{word}");
            assert_eq!(counted.facets, Some(want), "{word}: facets");
        }
    }
}
