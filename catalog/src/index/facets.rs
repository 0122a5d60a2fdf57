//! Counts of a search's matches by Newznab category, resolution and year,
//! for the links beside the results.
//!
//! Each segment's three fast fields are decoded once into one packed word
//! per document (kept in the sort cache with the sort keys: segments never
//! change), so counting a match is one array read and three increments;
//! a search matching a million documents pays a few milliseconds, not the
//! three dynamic column reads per document Tantivy's aggregations make.

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

pub struct FacetSegment {
    packed: super::topk::Decoded,
    cats: [u64; CAT_SLOTS],
    res: [u64; RES_SLOTS],
    years: Box<[u64; YEAR_SLOTS]>,
}

impl FacetSegment {
    /// Counts one document's packed slots.
    #[inline]
    fn count(&mut self, p: u64) {
        let (c, r, y) = (
            (p & 0xff) as usize,
            (p >> 8 & 0xff) as usize,
            (p >> 16 & 0xffff) as usize,
        );
        if let Some(n) = self.cats.get_mut(c) {
            *n += 1;
        }
        if let Some(n) = self.res.get_mut(r) {
            *n += 1;
        }
        if let Some(n) = self.years.get_mut(y) {
            *n += 1;
        }
    }
}

impl SegmentCollector for FacetSegment {
    type Fruit = (Vec<u64>, Vec<u64>, Vec<u64>);

    fn collect(&mut self, doc: DocId, _score: tantivy::Score) {
        if let Some(&p) = self.packed.get(doc as usize) {
            self.count(p);
        }
    }

    /// The matches' words are read first, then counted: the reads (at
    /// random in a column of megabytes) do not wait on each other.
    fn collect_block(&mut self, docs: &[DocId]) {
        const NONE: u64 = u64::MAX;
        for chunk in docs.chunks(64) {
            let mut words = [NONE; 64];
            for (w, &d) in words.iter_mut().zip(chunk) {
                *w = self.packed.get(d as usize).copied().unwrap_or(NONE);
            }
            for &p in &words[..chunk.len()] {
                if p != NONE {
                    self.count(p);
                }
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        (self.cats.to_vec(), self.res.to_vec(), self.years.to_vec())
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
        let packed = self.cache.get(reader, "facets", || {
            let ff = reader.fast_fields();
            // An index without the fields counts every match as "none".
            let (cat, res, year) = (ff.u64("newznab"), ff.u64("resolution"), ff.u64("year"));
            Ok((0..reader.max_doc())
                .map(|d| {
                    pack(
                        cat.as_ref().ok().and_then(|c| c.first(d)),
                        res.as_ref().ok().and_then(|c| c.first(d)),
                        year.as_ref().ok().and_then(|c| c.first(d)),
                    )
                })
                .collect())
        })?;
        Ok(FacetSegment {
            packed,
            cats: [0; CAT_SLOTS],
            res: [0; RES_SLOTS],
            years: Box::new([0; YEAR_SLOTS]),
        })
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
