//! Counting a search's matches (and their facets) up to a cap, as large
//! engines do: a relevance page of a word found in a tenth of a million
//! torrents is scored by block-max MaxScore, which skips most of them, and
//! then only this pass reads matches, without scores, and stops after
//! [`COUNT_CAP`] of them. Past the cap the total and the facet counts are
//! estimates: what was counted, scaled by the share of documents read
//! (matches are assumed spread evenly over the index), and marked as such.

use std::sync::atomic::{AtomicUsize, Ordering};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{EnableScoring, Query, Weight};
use tantivy::{DocId, DocSet, Executor, Searcher, SegmentOrdinal, SegmentReader, TERMINATED};

use super::facets::{FacetCollector, FacetSegment, Facets};
use super::search::{MAX_LIMIT, MAX_OFFSET};

/// Matches counted exactly: every page that can be asked for
/// (offset ≤ [`MAX_OFFSET`], limit ≤ [`MAX_LIMIT`]) lies inside them.
pub const COUNT_CAP: usize = MAX_OFFSET + MAX_LIMIT;

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

/// Counts matches (and their facets, when asked) until the cap.
pub struct BoundedCount {
    /// Matches still to count (segments are read one after another; the
    /// atomic only makes the collector `Sync`).
    budget: AtomicUsize,
    facets: Option<FacetCollector>,
}

impl BoundedCount {
    /// Counts the matches of `query` up to `cap`, with their facets when
    /// asked. Segments are read in order on this thread, so which matches
    /// are counted, and the estimate, are the same every time.
    pub fn search(
        searcher: &Searcher,
        query: &dyn Query,
        cap: usize,
        facets: Option<FacetCollector>,
    ) -> tantivy::Result<Counted> {
        let collector = Self {
            budget: AtomicUsize::new(cap),
            facets,
        };
        searcher.search_with_executor(
            query,
            &collector,
            &Executor::single_thread(),
            EnableScoring::disabled_from_searcher(searcher),
        )
    }
}

/// One segment's part: matches counted, documents read to find them (the
/// segment's size when it was read to the end), the segment's size.
pub struct SegmentCount {
    counted: usize,
    read: u64,
    size: u64,
    facets: Option<FacetSegment>,
}

impl SegmentCollector for SegmentCount {
    type Fruit = (
        usize,
        u64,
        u64,
        Option<<FacetSegment as SegmentCollector>::Fruit>,
    );

    fn collect(&mut self, doc: DocId, score: tantivy::Score) {
        self.counted += 1;
        if let Some(f) = &mut self.facets {
            f.collect(doc, score);
        }
    }

    fn harvest(self) -> Self::Fruit {
        (
            self.counted,
            self.read,
            self.size,
            self.facets.map(SegmentCollector::harvest),
        )
    }
}

impl Collector for BoundedCount {
    type Fruit = Counted;
    type Child = SegmentCount;

    fn for_segment(
        &self,
        ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentCount> {
        Ok(SegmentCount {
            counted: 0,
            read: 0,
            size: u64::from(reader.max_doc()),
            facets: self
                .facets
                .as_ref()
                .map(|f| f.for_segment(ord, reader))
                .transpose()?,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    /// Walks the matches without scores and stops when the budget is spent.
    fn collect_segment(
        &self,
        weight: &dyn Weight,
        ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<<SegmentCount as SegmentCollector>::Fruit> {
        let mut child = self.for_segment(ord, reader)?;
        if self.budget.load(Ordering::Relaxed) == 0 {
            // Spent in the segments before: this one is not read at all
            // (a prefix's scorer alone would read every expansion).
            return Ok(child.harvest());
        }
        let mut scorer = weight.scorer(reader, 1.0)?;
        let alive = reader.alive_bitset();
        let mut left = self.budget.load(Ordering::Relaxed);
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                if left == 0 {
                    child.read = u64::from(doc);
                    return Ok(child.harvest());
                }
                left -= 1;
                child.collect(doc, 0.0);
            }
            doc = scorer.advance();
        }
        self.budget.store(left, Ordering::Relaxed);
        child.read = child.size;
        Ok(child.harvest())
    }

    fn merge_fruits(
        &self,
        fruits: Vec<<SegmentCount as SegmentCollector>::Fruit>,
    ) -> tantivy::Result<Counted> {
        let (mut counted, mut read, mut size) = (0usize, 0u64, 0u64);
        let mut exact = true;
        let mut facet_fruits = Vec::new();
        for (c, r, s, f) in fruits {
            counted += c;
            read += r;
            size += s;
            exact &= r == s;
            facet_fruits.extend(f);
        }
        let facets = self
            .facets
            .as_ref()
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
}
