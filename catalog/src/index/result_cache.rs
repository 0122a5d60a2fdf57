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
//! Bound: `search_cache_entries` pages, and [`MAX_BYTES`] in all (the
//! strings of the hits, estimated); a page larger than a sixteenth of that
//! is not kept.
//!
//! A search asked again while it is being computed waits for that page
//! instead of computing it too (each commit makes every kept page old, and
//! a popular search is then asked by many at once); if the first fails,
//! each computes its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::search::{SearchParams, SearchResults, Sort};

/// Most bytes the kept pages hold (estimated from their strings).
pub const MAX_BYTES: usize = 32 << 20;

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
    /// Searches that waited for the same search being computed.
    pub waited: AtomicU64,
}

/// The kept pages, least recently used first out.
#[derive(Default)]
pub struct ResultCache {
    capacity: AtomicUsize,
    entries: Mutex<Entries>,
    /// Ticks of use, for the least-recently-used choice.
    clock: AtomicU64,
    pub stats: CacheStats,
}

impl ResultCache {
    /// Sets how many pages are kept (0: none; the cache is then off).
    pub fn set_capacity(&self, entries: usize) {
        self.capacity.store(entries, Relaxed);
        let mut kept = self.entries.lock();
        while kept.map.len() > entries {
            kept.evict_oldest(&self.stats);
        }
    }

    /// Pages kept now.
    pub fn len(&self) -> usize {
        self.entries.lock().map.len()
    }

    /// Bytes the kept pages hold (estimated).
    pub fn bytes(&self) -> usize {
        self.entries.lock().bytes
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
        let flight = {
            let mut kept = self.entries.lock();
            if let Some(kept) = kept.map.get_mut(&key) {
                kept.used = tick;
                self.stats.hits.fetch_add(1, Relaxed);
                return Ok(SearchResults::clone(&kept.page));
            }
            if let Some(running) = kept.running.get(&key).cloned() {
                drop(kept);
                self.stats.waited.fetch_add(1, Relaxed);
                return match running.wait() {
                    Some(page) => Ok(SearchResults::clone(&page)),
                    None => run(),
                };
            }
            let flight = Arc::new(Flight::default());
            kept.running.insert(key.clone(), flight.clone());
            flight
        };
        // Lands when this ends, however it ends (a failure or a panic
        // lands nothing: those waiting compute their own).
        let mut landing = Landing {
            cache: self,
            key: &key,
            flight,
            page: None,
        };
        self.stats.misses.fetch_add(1, Relaxed);
        let page = run()?;
        landing.page = Some(Arc::new(page.clone()));
        let bytes = estimated_bytes(&page);
        let capacity = self.capacity.load(Relaxed);
        if capacity == 0 || bytes > MAX_BYTES / 16 {
            return Ok(page);
        }
        let mut kept = self.entries.lock();
        while !kept.map.is_empty() && (kept.map.len() >= capacity || kept.bytes + bytes > MAX_BYTES)
        {
            kept.evict_oldest(&self.stats);
        }
        kept.bytes += bytes;
        let old = kept.map.insert(
            key.clone(),
            Kept {
                page: Arc::new(page.clone()),
                used: tick,
                bytes,
            },
        );
        // Two searches may compute the same page at once: keep one.
        if let Some(old) = old {
            kept.bytes -= old.bytes;
        }
        Ok(page)
    }
}

/// A page being computed: `None` until it lands, then the page (`None`
/// if it failed).
#[derive(Default)]
struct Flight {
    page: Mutex<Option<Option<Arc<SearchResults>>>>,
    landed: Condvar,
}

impl Flight {
    /// The page once computed (`None` if that failed).
    fn wait(&self) -> Option<Arc<SearchResults>> {
        let mut page = self.page.lock();
        loop {
            if let Some(landed) = &*page {
                return landed.clone();
            }
            self.landed.wait(&mut page);
        }
    }
}

/// Lands a flight when dropped: out of the running ones, its page (if
/// any) handed to those waiting.
struct Landing<'a> {
    cache: &'a ResultCache,
    key: &'a Key,
    flight: Arc<Flight>,
    page: Option<Arc<SearchResults>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        self.cache.entries.lock().running.remove(self.key);
        *self.flight.page.lock() = Some(self.page.take());
        self.flight.landed.notify_all();
    }
}

/// One kept page.
struct Kept {
    page: Arc<SearchResults>,
    /// Tick of its last use.
    used: u64,
    bytes: usize,
}

#[derive(Default)]
struct Entries {
    map: HashMap<Key, Kept>,
    /// Searches being computed (to be kept).
    running: HashMap<Key, Arc<Flight>>,
    /// Sum of the kept pages' estimated bytes.
    bytes: usize,
}

impl Entries {
    /// Drops the least recently used page (a scan: the map holds a few
    /// hundred pages, and this runs once per computed page).
    fn evict_oldest(&mut self, stats: &CacheStats) {
        let oldest = self
            .map
            .iter()
            .min_by_key(|(_, kept)| kept.used)
            .map(|(k, _)| k.clone());
        if let Some(gone) = oldest.and_then(|k| self.map.remove(&k)) {
            self.bytes -= gone.bytes;
            stats.evictions.fetch_add(1, Relaxed);
        }
    }
}

/// What a page holds, roughly: its strings and a fixed share per hit.
fn estimated_bytes(page: &SearchResults) -> usize {
    let per_hit = std::mem::size_of::<super::search::Hit>() + 64;
    page.hits
        .iter()
        .map(|h| {
            per_hit
                + h.torrent.name.len()
                + h.torrent.category.len()
                + h.name_html.as_ref().map_or(0, String::len)
                + h.file_html.as_ref().map_or(0, String::len)
                + h.torrent
                    .preloaded
                    .iter()
                    .map(|p| p.len() + 24)
                    .sum::<usize>()
        })
        .sum::<usize>()
        + std::mem::size_of::<SearchResults>()
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
        assert_eq!(cache.bytes(), 2 * estimated_bytes(&page(0)));
    }

    #[test]
    fn the_byte_budget_holds_whatever_the_page_count() {
        let cache = ResultCache::default();
        cache.set_capacity(1_000_000);
        // A page with long names: a 60th of the budget.
        let big = |n: usize| {
            let mut p = page(n);
            let name = "x".repeat(MAX_BYTES / 60 / 10);
            for _ in 0..10 {
                p.hits.push(crate::index::search::Hit {
                    torrent: crate::index::IndexedTorrent {
                        name: name.clone(),
                        ..Default::default()
                    },
                    name_html: None,
                    file_html: None,
                });
            }
            p
        };
        for i in 0..200u64 {
            cache
                .get_or_run::<()>(1, i, &params("a", "relevance"), || Ok(big(1)))
                .unwrap();
            assert!(cache.bytes() <= MAX_BYTES, "after {i}: {}", cache.bytes());
        }
        assert!(cache.len() < 200, "pages went out for bytes, not count");
        assert!(cache.stats.evictions.load(Relaxed) > 0);
        // A page over a sixteenth of the budget is never kept.
        let huge = {
            let mut p = page(1);
            p.hits = big(1).hits.into_iter().cycle().take(50).collect();
            p
        };
        let before = cache.len();
        cache
            .get_or_run::<()>(1, 999, &params("b", "relevance"), || Ok(huge.clone()))
            .unwrap();
        assert_eq!(cache.len(), before);
    }

    /// The same search asked while it is computed waits for that page:
    /// computed once for both. When the first fails (or panics), the one
    /// waiting computes its own.
    #[test]
    fn a_search_asked_while_it_is_computed_waits_for_that_page() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::mpsc::channel;
        use std::time::{Duration, Instant};
        let cache = Arc::new(ResultCache::default());
        cache.set_capacity(8);
        let runs = Arc::new(AtomicUsize::new(0));
        // How the first search ends, once the second waits for it.
        for first in ["computed", "failed", "panicked"] {
            let q = format!("q {first}");
            let waited = cache.stats.waited.load(Relaxed);
            let (started, on_start) = channel();
            let (release, on_release) = channel::<()>();
            let leader = std::thread::spawn({
                let (cache, runs, q) = (cache.clone(), runs.clone(), q.clone());
                move || {
                    cache.get_or_run(1, 1, &params(&q, "relevance"), || {
                        started.send(()).unwrap();
                        on_release.recv().unwrap();
                        runs.fetch_add(1, Relaxed);
                        match first {
                            "computed" => Ok(page(1)),
                            "failed" => Err(()),
                            _ => panic!("a search that panics"),
                        }
                    })
                }
            });
            on_start.recv().unwrap();
            let follower = std::thread::spawn({
                let (cache, runs, q) = (cache.clone(), runs.clone(), q.clone());
                move || {
                    cache.get_or_run::<()>(1, 1, &params(&q, "relevance"), || {
                        runs.fetch_add(1, Relaxed);
                        Ok(page(2))
                    })
                }
            });
            let deadline = Instant::now() + Duration::from_secs(30);
            while cache.stats.waited.load(Relaxed) == waited {
                assert!(
                    Instant::now() < deadline,
                    "{first}: the second never waited"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            let before = runs.load(Relaxed);
            release.send(()).unwrap();
            let led = leader.join();
            let followed = follower.join().unwrap().unwrap();
            match first {
                "computed" => {
                    assert_eq!(led.unwrap().unwrap().total, 1);
                    assert_eq!(followed.total, 1, "the first's page");
                    assert_eq!(runs.load(Relaxed), before + 1, "computed once");
                }
                "failed" => {
                    assert!(led.unwrap().is_err());
                    assert_eq!(followed.total, 2, "its own page");
                    assert_eq!(runs.load(Relaxed), before + 2);
                }
                _ => {
                    assert!(led.is_err(), "the first panicked");
                    assert_eq!(followed.total, 2, "its own page");
                }
            }
            assert!(cache.entries.lock().running.is_empty(), "{first}");
        }
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
