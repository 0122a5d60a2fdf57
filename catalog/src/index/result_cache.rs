//! Pages of results kept for the index state they were computed on.
//!
//! A search is a pure function of its parameters and the index's state:
//! until the next commit (or rebuild) the same search gives the same page.
//! Popular searches and the pages of one search are asked again and again,
//! and a common word costs milliseconds at a million torrents, so the last
//! `search_cache_entries` pages are kept, keyed by the parameters and the
//! state: a commit changes the key, and what was kept for the old state is
//! simply never asked for again and ages out. Sorting by seeders or
//! leechers reads live swarm counts and is never kept. Swarm counts shown
//! on a page, and the denylist, are applied after this cache, per request.
//! Bound: `search_cache_entries` pages of at most `MAX_LIMIT` hits each
//! (a few KiB per hit: 256 pages of 50 hits are a few MiB).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use super::search::{SearchParams, SearchResults, Sort};

/// What identifies a page: the index state and the search.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    /// The serving generation (a rebuild makes a new one).
    generation: u64,
    /// Tantivy's searcher generation (each commit makes a new one).
    searcher: u64,
    params: SearchParams,
}

/// Counters of the cache (exported by `/metrics`).
#[derive(Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
}

/// The kept pages, least recently used first out.
#[derive(Default)]
pub struct ResultCache {
    capacity: AtomicUsize,
    entries: Mutex<HashMap<Key, (Arc<SearchResults>, u64)>>,
    /// Ticks of use, for the least-recently-used choice.
    clock: AtomicU64,
    pub stats: CacheStats,
}

impl ResultCache {
    /// Sets how many pages are kept (0: none; the cache is then off).
    pub fn set_capacity(&self, entries: usize) {
        self.capacity.store(entries, Relaxed);
        let mut map = self.entries.lock();
        while map.len() > entries {
            evict_oldest(&mut map, &self.stats);
        }
    }

    /// Pages kept now.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether no page is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a search can be kept at all.
    fn keeps(&self, p: &SearchParams) -> bool {
        self.capacity.load(Relaxed) > 0 && !matches!(p.sort, Sort::Seeders | Sort::Leechers)
    }

    /// The page of `p` on state (`generation`, `searcher`): kept, or
    /// computed by `run` (and kept).
    pub fn get_or_run<E>(
        &self,
        generation: u64,
        searcher: u64,
        p: &SearchParams,
        run: impl FnOnce() -> Result<SearchResults, E>,
    ) -> Result<SearchResults, E> {
        if !self.keeps(p) {
            return run();
        }
        let key = Key {
            generation,
            searcher,
            params: p.clone(),
        };
        let tick = self.clock.fetch_add(1, Relaxed);
        if let Some((page, used)) = self.entries.lock().get_mut(&key) {
            *used = tick;
            self.stats.hits.fetch_add(1, Relaxed);
            return Ok(SearchResults::clone(page));
        }
        self.stats.misses.fetch_add(1, Relaxed);
        let page = run()?;
        let capacity = self.capacity.load(Relaxed);
        let mut map = self.entries.lock();
        while map.len() >= capacity && !map.is_empty() {
            evict_oldest(&mut map, &self.stats);
        }
        if capacity > 0 {
            map.insert(key, (Arc::new(page.clone()), tick));
        }
        Ok(page)
    }
}

/// Drops the least recently used page (a scan: the map holds a few
/// hundred pages, and this runs once per computed page).
fn evict_oldest(map: &mut HashMap<Key, (Arc<SearchResults>, u64)>, stats: &CacheStats) {
    if let Some(oldest) = map
        .iter()
        .min_by_key(|(_, (_, used))| *used)
        .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
        stats.evictions.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::index::search::RawSearch;

    fn params(q: &str, sort: &str) -> SearchParams {
        RawSearch {
            q: Some(q.to_owned()),
            sort: Some(sort.to_owned()),
            ..Default::default()
        }
        .validate(50)
        .unwrap()
    }

    fn page(total: usize) -> SearchResults {
        SearchResults {
            total,
            total_exact: true,
            hits: Vec::new(),
            page: 1,
            pages: 1,
            facets: None,
        }
    }

    #[test]
    fn pages_are_kept_per_state_up_to_the_bound_least_recently_used_out() {
        let cache = ResultCache::default();
        cache.set_capacity(2);
        let runs = Cell::new(0);
        let get = |q: &str, state: u64| {
            cache
                .get_or_run::<()>(1, state, &params(q, "relevance"), || {
                    runs.set(runs.get() + 1);
                    Ok(page(runs.get()))
                })
                .unwrap()
                .total
        };
        assert_eq!(get("a", 7), 1, "computed");
        assert_eq!(get("a", 7), 1, "kept");
        assert_eq!(runs.get(), 1);
        assert_eq!(get("a", 8), 2, "a commit later: computed again");
        assert_eq!(get("b", 8), 3);
        assert_eq!(cache.len(), 2, "the bound");
        assert_eq!(cache.stats.evictions.load(Relaxed), 1, "(a, 7) went out");
        assert_eq!(get("a", 8), 2, "(a, 8) was used last: still kept");
        assert_eq!(get("c", 8), 4);
        assert_eq!(get("b", 8), 5, "(b, 8) was the least recently used");
        assert_eq!(cache.stats.hits.load(Relaxed), 2);
        assert_eq!(cache.stats.misses.load(Relaxed), 5);
    }

    #[test]
    fn swarm_sorts_and_a_zero_size_keep_nothing() {
        let cache = ResultCache::default();
        cache.set_capacity(8);
        for sort in ["seeders", "leechers"] {
            for _ in 0..2 {
                cache
                    .get_or_run::<()>(1, 1, &params("a", sort), || Ok(page(1)))
                    .unwrap();
            }
        }
        assert!(cache.is_empty());
        cache
            .get_or_run::<()>(1, 1, &params("a", "newest"), || Ok(page(1)))
            .unwrap();
        assert_eq!(cache.len(), 1);
        cache.set_capacity(0);
        assert!(cache.is_empty(), "shrinking drops what no longer fits");
        cache
            .get_or_run::<()>(1, 1, &params("a", "newest"), || Ok(page(1)))
            .unwrap();
        assert!(cache.is_empty(), "off");
        assert_eq!(cache.stats.hits.load(Relaxed), 0);
    }
}
