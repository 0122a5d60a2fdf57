//! Counting a search's matches (and their facets) up to a cap, as large
//! engines do: a relevance page of a word found in a tenth of a million
//! torrents is scored by block-max MaxScore, which skips most of them, and
//! then only this pass reads matches, without scores, and stops after
//! [`COUNT_CAP`] of them. Past the cap the total and the facet counts are
//! estimates: what was counted, scaled by the share of documents read
//! (matches are assumed spread evenly over the index), and marked as such.
//! Where every part's terms are frequent in a segment and decoded in the
//! [`DenseCache`], the segment's matches are read from their bit sets, 64
//! documents at a time, instead of merging the parts' postings.

use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocId, Searcher, SegmentOrdinal, SegmentReader};

use super::dense::{DenseCache, DenseTerm};
use super::facets::{FacetCollector, FacetSegment, Facets};
use super::search::{MAX_LIMIT, MAX_OFFSET};
use super::top_scores::Union;
use super::userquery::{WordPart, WordTerms};

/// Matches counted exactly: every page that can be asked for
/// (offset ≤ [`MAX_OFFSET`], limit ≤ [`MAX_LIMIT`]) lies inside them.
pub const COUNT_CAP: usize = MAX_OFFSET + MAX_LIMIT;

#[cfg(test)]
thread_local! {
    /// Segments whose matches were read from bit sets, on this thread.
    pub(super) static FROM_BITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Matches whose facets are counted together.
const FACET_BLOCK: usize = 256;

/// The count: exact, or an estimate when the cap stopped it.
#[derive(Clone, Debug, PartialEq)]
pub struct Counted {
    pub total: usize,
    pub exact: bool,
    pub facets: Option<Facets>,
}

impl Counted {
    /// A count of every match.
    pub fn exact(total: usize, facets: Option<Facets>) -> Self {
        Self {
            total,
            exact: true,
            facets,
        }
    }
}

/// Counts one word's matches (and their facets, when asked) until the cap.
pub struct BoundedCount {
    /// Matches still to count (segments are read one after another).
    budget: usize,
    facets: Option<FacetCollector>,
}

impl BoundedCount {
    /// Counts the documents of a word's parts (but those of a part of
    /// `without`) up to `cap`, with their facets when asked, from the parts' postings directly (no query: a
    /// prefix's term-set query would first read every expansion of a
    /// segment into a bit set). Segments are read in order, so which
    /// matches are counted, and the estimate, are the same every time; a
    /// segment after the cap is spent is not read at all.
    pub fn word(
        searcher: &Searcher,
        parts: &WordTerms,
        without: &WordTerms,
        cap: usize,
        facets: Option<FacetCollector>,
        dense: Option<&DenseCache>,
    ) -> tantivy::Result<Counted> {
        let mut count = Self {
            budget: cap,
            facets,
        };
        let mut segments = Vec::new();
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            segments.push(count.segment(ord as SegmentOrdinal, reader, parts, without, dense)?);
        }
        merge(count.facets.as_ref(), segments)
    }

    fn segment(
        &mut self,
        ord: SegmentOrdinal,
        reader: &SegmentReader,
        parts: &WordTerms,
        without: &WordTerms,
        dense: Option<&DenseCache>,
    ) -> tantivy::Result<SegmentCount> {
        let mut seg = SegmentCount {
            counted: 0,
            read: 0,
            size: u64::from(reader.max_doc()),
            facets: self
                .facets
                .as_ref()
                .map(|f| f.for_segment(ord, reader))
                .transpose()?,
        };
        if self.budget == 0 {
            return Ok(seg);
        }
        let alive = reader.alive_bitset();
        let mut excluded = Union::new(reader, without)?;
        seg.read = seg.size;
        // Facets are counted a block of matches at a time (their reads
        // then overlap).
        let mut block = Vec::with_capacity(FACET_BLOCK);
        let docs = match dense_sets(reader, parts, dense)? {
            Some(sets) => {
                #[cfg(test)]
                FROM_BITS.with(|n| n.set(n.get() + 1));
                Docs::Bits(Bits::new(sets, reader.max_doc()))
            }
            None => Docs::Postings(Union::new(reader, parts)?),
        };
        for doc in docs {
            if alive.is_none_or(|a| a.is_alive(doc)) && !excluded.has(doc) {
                if self.budget == 0 {
                    seg.read = u64::from(doc);
                    break;
                }
                self.budget -= 1;
                seg.counted += 1;
                if let Some(f) = &mut seg.facets {
                    block.push(doc);
                    if block.len() == FACET_BLOCK {
                        f.collect_block(&block);
                        block.clear();
                    }
                }
            }
        }
        if let Some(f) = &mut seg.facets {
            f.collect_block(&block);
        }
        Ok(seg)
    }
}

/// The count of segments counted in order until a cap: exact when each
/// was read to its end, else what was counted scaled by the share of
/// documents read (never below what was counted), the facets too.
pub(super) fn merge(
    collector: Option<&FacetCollector>,
    segments: Vec<SegmentCount>,
) -> tantivy::Result<Counted> {
    let (mut counted, mut read, mut size) = (0usize, 0u64, 0u64);
    let mut exact = true;
    let mut facet_fruits = Vec::new();
    for s in segments {
        counted += s.counted;
        read += s.read;
        size += s.size;
        exact &= s.read == s.size;
        facet_fruits.extend(s.facets.map(SegmentCollector::harvest));
    }
    let facets = collector
        .map(|f| f.merge_fruits(facet_fruits))
        .transpose()?;
    if exact {
        return Ok(Counted::exact(counted, facets));
    }
    // Past the cap: scale what was counted by the share of documents
    // read (never below what was counted).
    let factor = size as f64 / read.max(1) as f64;
    Ok(Counted {
        total: ((counted as f64 * factor).round() as usize).max(counted),
        exact,
        facets: facets.map(|f| f.scaled(factor)),
    })
}

/// One segment's part: matches counted, documents read to find them (the
/// segment's size when it was read to the end), the segment's size.
pub(super) struct SegmentCount {
    pub(super) counted: usize,
    pub(super) read: u64,
    pub(super) size: u64,
    pub(super) facets: Option<FacetSegment>,
}

/// Each part's terms (all required) decoded in `dense` for this segment;
/// `None` when a part is not a term or terms of one field, or one of them
/// is not kept there.
fn dense_sets(
    reader: &SegmentReader,
    parts: &WordTerms,
    dense: Option<&DenseCache>,
) -> tantivy::Result<Option<Vec<Vec<Arc<DenseTerm>>>>> {
    let Some(cache) = dense else {
        return Ok(None);
    };
    let mut sets = Vec::with_capacity(parts.len());
    for (part, _) in parts {
        let terms = match part {
            WordPart::Scored(term) => std::slice::from_ref(term),
            WordPart::AllOf(terms) => terms.as_slice(),
            WordPart::AnyOf(_) => return Ok(None),
        };
        let mut set = Vec::with_capacity(terms.len());
        for term in terms {
            match cache.get_term(reader, term)? {
                Some(d) => set.push(d),
                // A term not in the segment: the part has no documents.
                None if reader
                    .inverted_index(term.field())?
                    .get_term_info(term)?
                    .is_none() =>
                {
                    set.clear();
                    break;
                }
                None => return Ok(None),
            }
        }
        if !set.is_empty() {
            sets.push(set);
        }
    }
    Ok(Some(sets))
}

/// A segment's matches in order: from the parts' postings, or their bit
/// sets.
enum Docs {
    Postings(Union),
    Bits(Bits),
}

impl Iterator for Docs {
    type Item = DocId;

    fn next(&mut self) -> Option<DocId> {
        match self {
            Self::Postings(u) => u.next(),
            Self::Bits(b) => b.next(),
        }
    }
}

/// The documents of any part whose terms all have them, from bit sets
/// (of one part: those all its terms have).
pub(super) struct Bits {
    sets: Vec<Vec<Arc<DenseTerm>>>,
    /// The 64 documents read: their number, and those not yet returned.
    at: usize,
    word: u64,
    words: usize,
}

impl Bits {
    pub(super) fn new(sets: Vec<Vec<Arc<DenseTerm>>>, max_doc: DocId) -> Self {
        let mut bits = Self {
            sets,
            at: 0,
            word: 0,
            words: (max_doc as usize).div_ceil(64),
        };
        bits.word = bits.load(0);
        bits
    }

    fn load(&self, at: usize) -> u64 {
        self.sets.iter().fold(0, |any, set| {
            any | set.iter().fold(u64::MAX, |all, term| all & term.word(at))
        })
    }
}

impl Iterator for Bits {
    type Item = DocId;

    fn next(&mut self) -> Option<DocId> {
        while self.word == 0 {
            self.at += 1;
            if self.at >= self.words {
                return None;
            }
            self.word = self.load(self.at);
        }
        let doc = (self.at * 64) as DocId + self.word.trailing_zeros();
        self.word &= self.word - 1;
        Some(doc)
    }
}
