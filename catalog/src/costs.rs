//! The CPU cost of searches on an index, measured in the process (for
//! `bench/search_cpu.sh`): no HTTP, no page rendering, no load generator
//! sharing the cores, and the calling thread's CPU time rather than the
//! wall clock (time it waits for the cores is not counted). The searches
//! are those of the search page (facets counted, 50 results, their
//! snippets) on one thread.

use std::path::Path;

use crate::index::search::RawSearch;
use crate::index::CatalogIndex;
use crate::swarm::thread_cpu;

/// One query's cost.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryCost {
    pub query: String,
    /// Its matches, as the page counts them.
    pub total: usize,
    /// CPU time of one search, in microseconds (the mean of the rounds).
    pub micros: f64,
}

/// Runs every query once to warm up, then `rounds` times round robin, on
/// the index in `index_dir` (opened as the catalog opens it, searching on
/// this one thread), and returns each query's mean CPU time.
pub fn search_cpu(
    index_dir: &Path,
    queries: &[String],
    rounds: usize,
) -> Result<Vec<QueryCost>, String> {
    if !index_dir.join("meta.json").is_file() {
        return Err(format!("{}: no index there", index_dir.display()));
    }
    let (index, _) = CatalogIndex::open(index_dir, 1).map_err(|e| e.to_string())?;
    let params = queries
        .iter()
        .map(|q| {
            let mut p = RawSearch {
                q: Some(q.clone()),
                ..Default::default()
            }
            .validate(50)
            .map_err(|e| format!("{q:?}: {e}"))?;
            p.facets = true;
            Ok(p)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut costs: Vec<QueryCost> = Vec::with_capacity(queries.len());
    for (q, p) in queries.iter().zip(&params) {
        let r = index.search(p).map_err(|e| format!("{q:?}: {e}"))?;
        costs.push(QueryCost {
            query: q.clone(),
            total: r.total,
            micros: 0.0,
        });
    }
    let mut spent = vec![0.0; params.len()];
    for _ in 0..rounds {
        for (s, p) in spent.iter_mut().zip(&params) {
            let start = thread_cpu();
            let r = index.search(p).map_err(|e| e.to_string())?;
            *s += thread_cpu() - start;
            std::hint::black_box(r);
        }
    }
    for (c, s) in costs.iter_mut().zip(spent) {
        c.micros = s * 1e6 / rounds.max(1) as f64;
    }
    Ok(costs)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::index::sample;

    /// Each query's total is the search's, its CPU time is measured (not
    /// left at 0 for a search that reads postings), and a directory
    /// without an index is an error that says so.
    #[test]
    fn costs_are_measured_per_query_with_its_total() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        {
            let (index, _) = CatalogIndex::open(&path, 1).unwrap();
            let g = index.current();
            let mut writer: tantivy::IndexWriter =
                g.index.writer_with_num_threads(1, 20_000_000).unwrap();
            for i in 0..3000 {
                let name = if i % 3 == 0 {
                    "jazz night"
                } else {
                    "blues sky"
                };
                let meta = sample(i, &format!("{name} {i}"), &[]);
                writer
                    .add_document(g.document(&meta, Utc::now(), &[]))
                    .unwrap();
            }
            writer.commit().unwrap();
        }
        let queries = ["jazz night".to_string(), "sky".into(), "zzzz".into()];
        let costs = search_cpu(&path, &queries, 3).unwrap();
        let totals: Vec<usize> = costs.iter().map(|c| c.total).collect();
        assert_eq!(totals, [1000, 2000, 0]);
        assert!(costs.iter().all(|c| c.micros >= 0.0));
        assert!(costs[0].micros > 0.0, "{costs:?}");
        let err = search_cpu(&dir.path().join("none"), &queries, 1).unwrap_err();
        assert!(err.contains("no index"), "{err}");
    }
}
