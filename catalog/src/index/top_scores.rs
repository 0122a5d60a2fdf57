//! The best-scored documents of a one-word search, reading segments in
//! order with block-max WAND's threshold carried from one to the next.
//!
//! Tantivy's `TopDocs` gives each segment a threshold of its own that
//! starts at nothing, and lets a document tie it: at a million torrents of
//! names as alike as the benchmark's, thousands tie the k-th score, so WAND
//! skipped almost nothing. Here the segments are read one after another in
//! address order, and a document must beat the k-th score found so far,
//! not tie it. The page is the same as `TopDocs`' (best score first, ties
//! to the lower address): every document skipped that ties the k-th score
//! comes after k others that have it. One search then runs on one thread;
//! under load that is no loss, as every core has searches of its own.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, Ordering};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{EnableScoring, Query, Weight};
use tantivy::{DocAddress, DocId, Executor, Score, Searcher, SegmentOrdinal, SegmentReader};

/// The `limit` best documents after the first `offset`, best first.
pub struct TopScores {
    limit: usize,
    offset: usize,
    /// The k-th score so far (f32 bits; 0: none yet). Scores are never
    /// negative, so their bits order like the scores.
    kth: AtomicU32,
}

impl TopScores {
    /// The page of `query` (a union of terms gets block-max WAND).
    pub fn search(
        searcher: &Searcher,
        query: &dyn Query,
        limit: usize,
        offset: usize,
    ) -> tantivy::Result<Vec<(Score, DocAddress)>> {
        let collector = Self {
            limit,
            offset,
            kth: AtomicU32::new(0),
        };
        // In order, on this thread: the threshold must only ever come from
        // lower addresses.
        searcher.search_with_executor(
            query,
            &collector,
            &Executor::single_thread(),
            EnableScoring::enabled_from_searcher(searcher),
        )
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

/// Unused: [`TopScores`] reads each segment itself.
pub struct Unused;

impl SegmentCollector for Unused {
    type Fruit = Vec<(Score, DocAddress)>;
    fn collect(&mut self, _: DocId, _: Score) {}
    fn harvest(self) -> Self::Fruit {
        Vec::new()
    }
}

impl Collector for TopScores {
    type Fruit = Vec<(Score, DocAddress)>;
    type Child = Unused;

    fn for_segment(&self, _: SegmentOrdinal, _: &SegmentReader) -> tantivy::Result<Unused> {
        Ok(Unused)
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment_ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Vec<(Score, DocAddress)>> {
        let k = self.limit + self.offset;
        if k == 0 {
            return Ok(Vec::new());
        }
        // Min-heap of the segment's best: (score, Reverse(doc)), so the
        // root is the weakest, and of equal scores the later document.
        let mut heap: BinaryHeap<Reverse<(Ranked, Reverse<DocId>)>> =
            BinaryHeap::with_capacity(k + 1);
        let alive = reader.alive_bitset();
        // What a document must beat (none yet: anything).
        let threshold = |bits: u32| {
            if bits == 0 {
                Score::MIN
            } else {
                f32::from_bits(bits)
            }
        };
        let start = threshold(self.kth.load(Ordering::Relaxed));
        weight.for_each_pruning(start, reader, &mut |doc, score| {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                let entry = Reverse((Ranked(score), Reverse(doc)));
                if heap.len() < k {
                    heap.push(entry);
                } else if heap.peek().is_some_and(|weakest| entry < *weakest) {
                    heap.pop();
                    heap.push(entry);
                }
                if heap.len() == k {
                    if let Some(Reverse((Ranked(kth), _))) = heap.peek() {
                        self.kth
                            .fetch_max(kth.max(0.0).to_bits(), Ordering::Relaxed);
                    }
                }
            }
            threshold(self.kth.load(Ordering::Relaxed))
        })?;
        Ok(heap
            .into_iter()
            .map(|Reverse((Ranked(score), Reverse(doc_id)))| {
                (
                    score,
                    DocAddress {
                        segment_ord,
                        doc_id,
                    },
                )
            })
            .collect())
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(Score, DocAddress)>>) -> tantivy::Result<Self::Fruit> {
        let mut all: Vec<(Score, DocAddress)> = fruits.into_iter().flatten().collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(all.into_iter().skip(self.offset).take(self.limit).collect())
    }
}
