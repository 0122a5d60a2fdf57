//! Counting a search's matches (and their facets) up to a cap, as large
//! engines do: a relevance page of a word found in a tenth of a million
//! torrents is scored by block-max MaxScore, which skips most of them, and
//! then only this pass reads matches, without scores, and stops after
//! [`COUNT_CAP`] of them. Past the cap the total and the facet counts are
//! estimates: what was counted, scaled by the share of documents read
//! (matches are assumed spread evenly over the index), and marked as such.

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{Searcher, SegmentOrdinal, SegmentReader};

use super::facets::{FacetCollector, FacetSegment, Facets};
use super::search::{MAX_LIMIT, MAX_OFFSET};
use super::top_scores::Union;
use super::userquery::WordTerms;

/// Matches counted exactly: every page that can be asked for
/// (offset ≤ [`MAX_OFFSET`], limit ≤ [`MAX_LIMIT`]) lies inside them.
pub const COUNT_CAP: usize = MAX_OFFSET + MAX_LIMIT;

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
    ) -> tantivy::Result<Counted> {
        let mut count = Self {
            budget: cap,
            facets,
        };
        let mut segments = Vec::new();
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            segments.push(count.segment(ord as SegmentOrdinal, reader, parts, without)?);
        }
        merge(count.facets.as_ref(), segments)
    }

    fn segment(
        &mut self,
        ord: SegmentOrdinal,
        reader: &SegmentReader,
        parts: &WordTerms,
        without: &WordTerms,
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
        for doc in Union::new(reader, parts)? {
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
