//! Counts of a search's matches by Newznab category, resolution and year,
//! for the links beside the results.
//!
//! Each segment's three fast fields are decoded once (kept in the sort
//! cache with the sort keys: segments never change) into a dictionary of
//! the (category, resolution, year) triples it has and one 16-bit number
//! per document (there are fewer than 65 536 triples), so counting a match
//! is one read in a column of two bytes per document and one increment;
//! the triples' counts become the three facets once per segment. A search
//! matching a million documents pays a few milliseconds, not the three
//! dynamic column reads per document Tantivy's aggregations make, and the
//! reads at random in the column mostly hit the cache (a million
//! documents' eight-byte words did not fit in it).

use std::sync::Arc;

use serde::Serialize;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocId, SegmentOrdinal, SegmentReader};

use super::topk::SortCache;
use crate::category::NEWZNAB;

/// Resolutions counted apart; any other is not counted.
pub const RESOLUTIONS: [u16; 7] = [360, 480, 576, 720, 1080, 2160, 4320];
/// Years counted (a release year outside is not counted).
const FIRST_YEAR: u16 = 1880;
const YEARS: usize = 2200 - FIRST_YEAR as usize + 1;

const CAT_SLOTS: usize = NEWZNAB.len() + 1;
const RES_SLOTS: usize = RESOLUTIONS.len() + 1;
const YEAR_SLOTS: usize = YEARS + 1;

/// The counts of one search.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Facets {
    /// Newznab category id and matches, most first.
    pub categories: Vec<(u32, u64)>,
    /// Lines and matches, highest resolution first.
    pub resolutions: Vec<(u16, u64)>,
    /// Year and matches, newest first.
    pub years: Vec<(u16, u64)>,
}

impl Facets {
    /// The counts times `factor`, rounded (an estimate past the count
    /// cap); a value that was counted stays at least 1.
    pub fn scaled(self, factor: f64) -> Self {
        let s = |n: u64| ((n as f64 * factor).round() as u64).max(n.min(1));
        Self {
            categories: self
                .categories
                .into_iter()
                .map(|(k, n)| (k, s(n)))
                .collect(),
            resolutions: self
                .resolutions
                .into_iter()
                .map(|(k, n)| (k, s(n)))
                .collect(),
            years: self.years.into_iter().map(|(k, n)| (k, s(n))).collect(),
        }
    }
}

/// One document's slots, packed: category (bits 0-7), resolution (8-15),
/// year (16-31). The last slot of each means "none".
fn pack(newznab: Option<u64>, resolution: Option<u64>, year: Option<u64>) -> u64 {
    let cat = newznab
        .and_then(|n| NEWZNAB.iter().position(|(id, _)| u64::from(*id) == n))
        .unwrap_or(CAT_SLOTS - 1);
    let res = resolution
        .and_then(|r| RESOLUTIONS.iter().position(|x| u64::from(*x) == r))
        .unwrap_or(RES_SLOTS - 1);
    let year = year
        .and_then(|y| y.checked_sub(u64::from(FIRST_YEAR)))
        .filter(|y| *y < YEARS as u64)
        .map_or(YEAR_SLOTS - 1, |y| y as usize);
    cat as u64 | (res as u64) << 8 | (year as u64) << 16
}

/// Counts the matches' facets.
pub struct FacetCollector {
    pub cache: Arc<SortCache>,
}

/// Triples a segment can have: every slot of each facet, combined.
const TRIPLES: usize = CAT_SLOTS * RES_SLOTS * YEAR_SLOTS;
const _: () = assert!(TRIPLES <= 1 << 16, "a triple's number must fit 16 bits");

/// A segment's facet values: the triples it has ([`pack`]ed) and each
/// document's number in them.
pub struct FacetColumn {
    ids: Box<[u16]>,
    triples: Box<[u64]>,
}

impl FacetColumn {
    /// Numbers the packed triples in document order.
    fn new(packed: impl Iterator<Item = u64>) -> Self {
        let mut numbers = std::collections::HashMap::new();
        let mut triples = Vec::new();
        let ids = packed
            .map(|p| {
                *numbers.entry(p).or_insert_with(|| {
                    triples.push(p);
                    // At most TRIPLES distinct values: in range.
                    u16::try_from(triples.len() - 1).unwrap_or(u16::MAX)
                })
            })
            .collect();
        Self {
            ids,
            triples: triples.into(),
        }
    }
}

/// Counters per triple, in lanes: a run of matches of one triple adds to
/// four counters in turn, not to one that each addition waits on.
const LANES: usize = 4;

pub struct FacetSegment {
    column: Arc<FacetColumn>,
    counts: Vec<[u64; LANES]>,
}

impl SegmentCollector for FacetSegment {
    type Fruit = (Vec<u64>, Vec<u64>, Vec<u64>);

    fn collect(&mut self, doc: DocId, _score: tantivy::Score) {
        self.collect_block(&[doc]);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        let (ids, counts) = (&self.column.ids, &mut self.counts);
        for (i, &d) in docs.iter().enumerate() {
            if let Some(n) = ids
                .get(d as usize)
                .and_then(|&id| counts.get_mut(usize::from(id)))
            {
                n[i % LANES] += 1;
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        let mut cats = vec![0; CAT_SLOTS];
        let mut res = vec![0; RES_SLOTS];
        let mut years = vec![0; YEAR_SLOTS];
        for (&p, n) in self.column.triples.iter().zip(&self.counts) {
            let n: u64 = n.iter().sum();
            if n == 0 {
                continue;
            }
            let (c, r, y) = (
                (p & 0xff) as usize,
                (p >> 8 & 0xff) as usize,
                (p >> 16 & 0xffff) as usize,
            );
            for (slots, at) in [(&mut cats, c), (&mut res, r), (&mut years, y)] {
                if let Some(s) = slots.get_mut(at) {
                    *s += n;
                }
            }
        }
        (cats, res, years)
    }
}

impl Collector for FacetCollector {
    type Fruit = Facets;
    type Child = FacetSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<FacetSegment> {
        let column = self.cache.facets(reader, || {
            let ff = reader.fast_fields();
            // An index without the fields counts every match as "none".
            let (cat, res, year) = (ff.u64("newznab"), ff.u64("resolution"), ff.u64("year"));
            Ok(FacetColumn::new((0..reader.max_doc()).map(|d| {
                pack(
                    cat.as_ref().ok().and_then(|c| c.first(d)),
                    res.as_ref().ok().and_then(|c| c.first(d)),
                    year.as_ref().ok().and_then(|c| c.first(d)),
                )
            })))
        })?;
        let counts = vec![[0; LANES]; column.triples.len()];
        Ok(FacetSegment { column, counts })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<(Vec<u64>, Vec<u64>, Vec<u64>)>) -> tantivy::Result<Facets> {
        let mut cats = vec![0u64; CAT_SLOTS];
        let mut res = vec![0u64; RES_SLOTS];
        let mut years = vec![0u64; YEAR_SLOTS];
        for (c, r, y) in fruits {
            for (a, b) in cats.iter_mut().zip(c) {
                *a += b;
            }
            for (a, b) in res.iter_mut().zip(r) {
                *a += b;
            }
            for (a, b) in years.iter_mut().zip(y) {
                *a += b;
            }
        }
        let mut categories: Vec<(u32, u64)> = NEWZNAB
            .iter()
            .zip(&cats)
            .filter(|(_, n)| **n > 0)
            .map(|((id, _), n)| (*id, *n))
            .collect();
        categories.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let resolutions = RESOLUTIONS
            .iter()
            .zip(&res)
            .rev()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| (*r, *n))
            .collect();
        let years = years
            .iter()
            .take(YEARS)
            .enumerate()
            .rev()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (FIRST_YEAR + i as u16, *n))
            .collect();
        Ok(Facets {
            categories,
            resolutions,
            years,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting by triple number (in lanes) gives what counting each
    /// document's three slots gives: runs of one triple, triples of every
    /// facet, "none" slots, single documents and blocks.
    #[test]
    fn counts_by_triple_number_equal_counting_each_document() {
        let packed: Vec<u64> = (0..5000u64)
            .map(|d| {
                if d < 1000 {
                    // A long run of one triple.
                    return pack(Some(5040), Some(1080), Some(2019));
                }
                let cat =
                    (d % 7 != 0).then(|| u64::from(NEWZNAB[(d as usize / 3) % NEWZNAB.len()].0));
                let res = (d % 5 != 0)
                    .then(|| u64::from(RESOLUTIONS[(d as usize / 11) % RESOLUTIONS.len()]));
                let year = (d % 4 != 0).then_some(1900 + d % 130);
                pack(cat, res, year)
            })
            .collect();
        let column = Arc::new(FacetColumn::new(packed.iter().copied()));
        let distinct: std::collections::HashSet<u64> = packed.iter().copied().collect();
        assert_eq!(column.triples.len(), distinct.len());
        assert!(distinct.len() > 500, "{} triples", distinct.len());
        let docs: Vec<DocId> = (0..5000).filter(|d| d % 3 != 1).collect();
        let mut seg = FacetSegment {
            counts: vec![[0; LANES]; column.triples.len()],
            column,
        };
        seg.collect_block(&docs[..1500]);
        seg.collect(docs[1500], 0.0);
        seg.collect_block(&docs[1501..]);
        // A document past the segment counts nothing.
        seg.collect_block(&[5000, 9999]);
        let (mut cats, mut res, mut years) =
            (vec![0; CAT_SLOTS], vec![0; RES_SLOTS], vec![0; YEAR_SLOTS]);
        for &d in &docs {
            let p = packed[d as usize];
            cats[(p & 0xff) as usize] += 1;
            res[(p >> 8 & 0xff) as usize] += 1;
            years[(p >> 16 & 0xffff) as usize] += 1;
        }
        assert!(cats[CAT_SLOTS - 1] > 0 && res[RES_SLOTS - 1] > 0 && years[YEAR_SLOTS - 1] > 0);
        assert_eq!(seg.harvest(), (cats, res, years));
    }

    #[test]
    fn packing_keeps_every_slot_apart() {
        let p = pack(Some(5040), Some(1080), Some(2019));
        assert_eq!(NEWZNAB[(p & 0xff) as usize].0, 5040, "category slot");
        assert_eq!(RESOLUTIONS[(p >> 8 & 0xff) as usize], 1080);
        assert_eq!(FIRST_YEAR + (p >> 16 & 0xffff) as u16, 2019);
        let none = pack(None, Some(999), Some(1200));
        assert_eq!((none & 0xff) as usize, CAT_SLOTS - 1);
        assert_eq!((none >> 8 & 0xff) as usize, RES_SLOTS - 1);
        assert_eq!((none >> 16 & 0xffff) as usize, YEAR_SLOTS - 1);
    }
}
