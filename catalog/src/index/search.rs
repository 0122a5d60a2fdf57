//! One search path for every interface: pages, RSS, JSON, Torznab.

use std::ops::Bound;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, EmptyQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, Searcher, Term};

use super::count::Counted;
use super::top_scores;
use super::topk;
use super::userquery::{UserQuery, WordTerms};
use super::{Generation, IndexError, IndexedTorrent};
use crate::category::Category;

/// Longest accepted query, in bytes.
pub const MAX_QUERY_BYTES: usize = 512;
/// Most terms/operators in a query.
pub const MAX_CLAUSES: usize = 32;
/// Deepest parenthesis nesting (the parser is exponential in it).
pub const MAX_NESTING: usize = 4;
/// Fewer exact results than this and long words are retried with one typo.
pub const FUZZY_BELOW: usize = 5;
/// Largest result offset served.
pub const MAX_OFFSET: usize = 10_000;
/// Most results per page.
pub const MAX_LIMIT: usize = 100;
/// A last word found in this many names is not also looked up as a
/// prefix: its exact matches fill every page that can be served.
pub const PREFIX_UNTIL_DOCS: usize = MAX_OFFSET + MAX_LIMIT;

/// Result order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    Relevance,
    Newest,
    Oldest,
    Size,
    Name,
    Seeders,
    Leechers,
}

impl Sort {
    /// Every order, as offered in forms.
    pub const ALL: [Sort; 7] = [
        Self::Relevance,
        Self::Newest,
        Self::Oldest,
        Self::Size,
        Self::Name,
        Self::Seeders,
        Self::Leechers,
    ];

    /// The URL name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Relevance => "relevance",
            Self::Newest => "newest",
            Self::Oldest => "oldest",
            Self::Size => "size",
            Self::Name => "name",
            Self::Seeders => "seeders",
            Self::Leechers => "leechers",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A validated search request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct SearchParams {
    pub q: String,
    pub category: Option<Category>,
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub sort: Sort,
    /// 1-based page number.
    pub page: usize,
    pub limit: usize,
    /// Explicit result offset (Torznab); overrides `page` when set.
    pub offset: Option<usize>,
    /// Only torrents of this origin: a kind (`tracker`, `source`, `peer`)
    /// or a whole origin (`peer http://…`).
    pub origin: Option<String>,
    /// Only these Newznab categories (a parent, `5000`, takes its
    /// subcategories too); any of them.
    pub cats: Vec<u32>,
    /// Only releases of this year, season, episode, resolution (lines).
    pub year: Option<u16>,
    pub season: Option<u16>,
    pub episode: Option<u16>,
    pub resolution: Option<u16>,
    /// Count the results by category, resolution and year (the search page).
    pub facets: bool,
}

/// Most categories in one `cat=`.
pub const MAX_CATS: usize = 32;

/// Raw query-string values, as any interface receives them.
#[derive(Clone, Debug, Default, rocket::FromForm)]
pub struct RawSearch {
    pub q: Option<String>,
    pub category: Option<String>,
    pub min_size: Option<String>,
    pub max_size: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub sort: Option<String>,
    pub page: Option<String>,
    pub limit: Option<String>,
    pub origin: Option<String>,
    /// Newznab categories, comma-separated (`5000,2040`).
    pub cat: Option<String>,
    pub year: Option<String>,
    pub season: Option<String>,
    pub ep: Option<String>,
    pub resolution: Option<String>,
}

/// A parameter that is not acceptable, with an explanation for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadParam(pub String);

fn bad(msg: impl Into<String>) -> BadParam {
    BadParam(msg.into())
}

/// Parses sizes such as `700000`, `700MB`, `1.5 GiB`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0_f64.powi(4),
        _ => return None,
    };
    let v = num * mult;
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v as u64)
}

impl RawSearch {
    /// Validates every parameter; `default_limit` applies when none is given.
    pub fn validate(&self, default_limit: usize) -> Result<SearchParams, BadParam> {
        let q = non_empty(&self.q).unwrap_or("").to_owned();
        check_query(&q)?;
        let category = non_empty(&self.category)
            .map(|c| Category::parse(c).ok_or_else(|| bad(format!("unknown category {c:?}"))))
            .transpose()?;
        let size = |v: &Option<String>, name: &str| {
            non_empty(v)
                .map(|s| {
                    parse_size(s).ok_or_else(|| bad(format!("{name} must be a size like 700MB")))
                })
                .transpose()
        };
        let date = |v: &Option<String>, name: &str| {
            non_empty(v)
                .map(|s| {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .map_err(|_| bad(format!("{name} must be a date like 2024-01-31")))
                })
                .transpose()
        };
        let sort = match non_empty(&self.sort) {
            Some(s) => Sort::parse(s).ok_or_else(|| bad(format!("unknown sort {s:?}")))?,
            None if q.is_empty() => Sort::Newest,
            None => Sort::Relevance,
        };
        let number = |v: &Option<String>, name: &str, max: usize| {
            non_empty(v)
                .map(|s| {
                    s.parse::<usize>()
                        .ok()
                        .filter(|n| (1..=max).contains(n))
                        .ok_or_else(|| bad(format!("{name} must be a number from 1 to {max}")))
                })
                .transpose()
        };
        let limit =
            number(&self.limit, "limit", MAX_LIMIT)?.unwrap_or(default_limit.clamp(1, MAX_LIMIT));
        let page = number(&self.page, "page", MAX_OFFSET / limit + 1)?.unwrap_or(1);
        let params = SearchParams {
            q,
            category,
            min_size: size(&self.min_size, "min_size")?,
            max_size: size(&self.max_size, "max_size")?,
            from: date(&self.from, "from")?,
            to: date(&self.to, "to")?,
            sort,
            page,
            limit,
            offset: None,
            origin: non_empty(&self.origin)
                .map(|o| match o {
                    "tracker" | "source" | "peer" => Ok(o.to_owned()),
                    o => magnetar_shared::Origin::parse(o)
                        .map(|o| o.to_string())
                        .ok_or_else(|| {
                            bad("origin must be tracker, source, peer, or `peer <URL>`")
                        }),
                })
                .transpose()?,
            cats: parse_cats(non_empty(&self.cat).unwrap_or(""))?,
            year: small(non_empty(&self.year), "year", 1800, 2200)?,
            season: small(non_empty(&self.season), "season", 0, 9999)?,
            episode: small(non_empty(&self.ep), "ep", 0, 9999)?,
            resolution: non_empty(&self.resolution)
                .map(|r| {
                    let digits = r.strip_suffix(['p', 'P']).unwrap_or(r);
                    digits
                        .parse::<u16>()
                        .ok()
                        .filter(|n| (100..=9999).contains(n))
                        .ok_or_else(|| bad("resolution must be lines like 1080 or 1080p"))
                })
                .transpose()?,
            facets: false,
        };
        Ok(params)
    }
}

/// A parameter's value, trimmed, unless absent or blank.
pub fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A number from `min` to `max`, or `None` when absent.
fn small(v: Option<&str>, name: &str, min: u16, max: u16) -> Result<Option<u16>, BadParam> {
    v.map(|s| {
        s.parse::<u16>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| bad(format!("{name} must be a number from {min} to {max}")))
    })
    .transpose()
}

/// `5000,2040`: Newznab category ids (unknown ones simply match nothing).
pub fn parse_cats(s: &str) -> Result<Vec<u32>, BadParam> {
    let mut cats = Vec::new();
    for c in s.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let id = c
            .parse::<u32>()
            .ok()
            .filter(|n| (1000..=99_999).contains(n))
            .ok_or_else(|| bad(format!("bad category {c:?}: a Newznab id such as 5040")))?;
        if !cats.contains(&id) {
            cats.push(id);
        }
    }
    if cats.len() > MAX_CATS {
        return Err(bad(format!("more than {MAX_CATS} categories")));
    }
    Ok(cats)
}

/// Rejects the query syntax that scans every term of a field: ranges
/// (`[a TO b]`, `{a TO b}`, `>x`, `<x` after a field), sets (`IN [...]`) and
/// regular expressions (`field:/re/`). Quoted phrases are left alone.
fn check_expensive_syntax(q: &str) -> Result<(), BadParam> {
    let mut outside = String::with_capacity(q.len());
    for (i, part) in q.split('"').enumerate() {
        if i % 2 == 0 {
            outside.push_str(part);
            outside.push(' ');
        }
    }
    let ranges = outside.contains(['[', ']', '{', '}']);
    let compact: String = outside.split_whitespace().collect::<Vec<_>>().join(" ");
    let compare = compact.contains(":>")
        || compact.contains(":<")
        || compact.contains(": >")
        || compact.contains(": <");
    let set = compact.split(' ').any(|w| w == "IN");
    let regex = compact.contains(":/");
    if ranges || compare || set || regex {
        return Err(bad(
            "ranges ([a TO b], >, <), sets (IN [...]) and regular expressions are not supported \
             in queries: they scan the whole index; use the size and date filters",
        ));
    }
    Ok(())
}

/// Rejects queries that are too long or too complex for the parser.
fn check_query(q: &str) -> Result<(), BadParam> {
    if q.len() > MAX_QUERY_BYTES {
        return Err(bad(format!("query longer than {MAX_QUERY_BYTES} bytes")));
    }
    check_expensive_syntax(q)?;
    let (mut depth, mut max_depth) = (0usize, 0usize);
    for c in q.chars() {
        match c {
            '(' => {
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if max_depth > MAX_NESTING {
        return Err(bad(format!(
            "query nests parentheses deeper than {MAX_NESTING}"
        )));
    }
    if q.split_whitespace().count() > MAX_CLAUSES {
        return Err(bad(format!("query has more than {MAX_CLAUSES} terms")));
    }
    Ok(())
}

/// One result with highlighted snippets (HTML, already escaped by Tantivy).
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    #[serde(flatten)]
    pub torrent: IndexedTorrent,
    pub name_html: Option<String>,
    pub file_html: Option<String>,
}

/// A page of results.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// Matches: exact, or past [`COUNT_CAP`] an estimate (`total_exact` false).
    pub total: usize,
    pub total_exact: bool,
    pub hits: Vec<Hit>,
    pub page: usize,
    pub pages: usize,
    /// Counts of every match by category, resolution and year, when asked.
    pub facets: Option<super::facets::Facets>,
}

/// The words of a search read by [`top_scores`]: required, and excluded.
type Words = (Vec<WordTerms>, Vec<WordTerms>);

impl Generation {
    /// The query of a search, and for a search of words and no filter
    /// their terms (see [`top_scores`]).
    fn query(
        &self,
        searcher: &Searcher,
        p: &SearchParams,
        text: Option<&UserQuery>,
        fuzzy: bool,
    ) -> (Box<dyn Query>, Option<Words>) {
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut words = None;
        if let Some(text) = text {
            // A query with no word left after analysis (`!!!`) finds nothing.
            let q = match text.compile_with(f, fuzzy, searcher, Some(&self.sort_cache)) {
                Some(c) => {
                    words = c.words.map(|w| (w, c.without));
                    c.query
                }
                None => Box::new(EmptyQuery),
            };
            clauses.push((Occur::Must, q));
        }
        if let Some(c) = p.category {
            let term = Term::from_field_text(f.category, c.as_str());
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        if let Some(q) = self.release_filters(p) {
            clauses.push((Occur::Must, q));
        }
        if let Some(origin) = &p.origin {
            // An index without origins has none of them.
            let q: Box<dyn Query> = match f.origin {
                Some(field) => Box::new(TermQuery::new(
                    Term::from_field_text(field, origin),
                    IndexRecordOption::Basic,
                )),
                None => Box::new(EmptyQuery),
            };
            clauses.push((Occur::Must, q));
        }
        if p.min_size.is_some() || p.max_size.is_some() {
            let b = |v: Option<u64>| {
                v.map_or(Bound::Unbounded, |v| {
                    Bound::Included(Term::from_field_u64(f.size, v))
                })
            };
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(b(p.min_size), b(p.max_size))),
            ));
        }
        if p.from.is_some() || p.to.is_some() {
            let term = |d: NaiveDate| {
                let secs = d
                    .and_hms_opt(0, 0, 0)
                    .map_or(0, |t| t.and_utc().timestamp());
                Term::from_field_date(f.indexed, super::index_date(secs))
            };
            let lower = p
                .from
                .map_or(Bound::Unbounded, |d| Bound::Included(term(d)));
            let upper =
                p.to.and_then(|d| d.succ_opt())
                    .map_or(Bound::Unbounded, |d| Bound::Excluded(term(d)));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        let query: Box<dyn Query> = match clauses.len() {
            0 => Box::new(AllQuery),
            1 => clauses
                .pop()
                .map(|(_, q)| q)
                .unwrap_or_else(|| Box::new(AllQuery)),
            _ => {
                words = None;
                Box::new(BooleanQuery::new(clauses))
            }
        };
        (query, words)
    }

    /// The filters on what names say, as one query (`None`: no such filter).
    /// An index without these fields matches none of them.
    fn release_filters(&self, p: &SearchParams) -> Option<Box<dyn Query>> {
        let wanted = !p.cats.is_empty()
            || p.year.is_some()
            || p.season.is_some()
            || p.episode.is_some()
            || p.resolution.is_some();
        if !wanted {
            return None;
        }
        let Some(r) = self.fields.release else {
            return Some(Box::new(EmptyQuery));
        };
        let term = |field, v: u16| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_u64(field, u64::from(v)),
                IndexRecordOption::Basic,
            ))
        };
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !p.cats.is_empty() {
            let any: Vec<(Occur, Box<dyn Query>)> = p
                .cats
                .iter()
                .map(|&id| {
                    let q: Box<dyn Query> = if id % 1000 == 0 {
                        let at = |v: u32| Term::from_field_u64(r.newznab, u64::from(v));
                        Box::new(RangeQuery::new(
                            Bound::Included(at(id)),
                            Bound::Excluded(at(id + 1000)),
                        ))
                    } else {
                        Box::new(TermQuery::new(
                            Term::from_field_u64(r.newznab, u64::from(id)),
                            IndexRecordOption::Basic,
                        ))
                    };
                    (Occur::Should, q)
                })
                .collect();
            must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        for (field, v) in [
            (r.year, p.year),
            (r.season, p.season),
            (r.episode, p.episode),
            (r.resolution, p.resolution),
        ] {
            if let Some(v) = v {
                must.push((Occur::Must, term(field, v)));
            }
        }
        Some(Box::new(BooleanQuery::new(must)))
    }

    /// Other releases of what `release` names (same title, and the same
    /// year or season when it has one), not `hash` itself, at most `limit`.
    pub fn similar(
        &self,
        hash: &magnetar_shared::InfoHash,
        release: &crate::release::Release,
        limit: usize,
    ) -> Result<Vec<IndexedTorrent>, IndexError> {
        let Some(r) = self.fields.release else {
            return Ok(Vec::new());
        };
        let Some(key) = crate::release::title_hash(&release.title) else {
            return Ok(Vec::new());
        };
        let term =
            |t: Term| -> Box<dyn Query> { Box::new(TermQuery::new(t, IndexRecordOption::Basic)) };
        let mut clauses = vec![
            (Occur::Must, term(Term::from_field_u64(r.title_key, key))),
            (
                Occur::MustNot,
                term(Term::from_field_text(self.fields.info_hash, &hash.to_hex())),
            ),
        ];
        if let Some(y) = release.year {
            clauses.push((
                Occur::Must,
                term(Term::from_field_u64(r.year, u64::from(y))),
            ));
        }
        if let Some((s, _)) = release.seasons {
            clauses.push((
                Occur::Must,
                term(Term::from_field_u64(r.season, u64::from(s))),
            ));
        }
        let searcher = self.reader.searcher();
        let query = BooleanQuery::new(clauses);
        let top = searcher.search(&query, &TopDocs::with_limit(limit.clamp(1, MAX_LIMIT)))?;
        // Episodes in order, then the best picture first.
        let mut keyed: Vec<_> = top
            .into_iter()
            .filter_map(|(_, addr)| {
                let t = self.load(&searcher, addr)?;
                let r = t.release();
                Some(((r.episodes, std::cmp::Reverse(r.resolution)), t))
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        Ok(keyed.into_iter().map(|(_, t)| t).collect())
    }

    /// Runs a search; the offset is already bounded by validation. When
    /// the exact pass finds fewer than [`FUZZY_BELOW`] results and a word is
    /// long enough, it runs again with one typo allowed in such words.
    pub fn search(&self, p: &SearchParams) -> Result<SearchResults, IndexError> {
        self.search_counted(p, None)
    }

    /// [`Self::search`], sorting by seeders or leechers with `counts`
    /// (without, every torrent counts 0).
    pub(crate) fn search_counted(
        &self,
        p: &SearchParams,
        counts: Option<&Arc<dyn topk::CountTable>>,
    ) -> Result<SearchResults, IndexError> {
        self.search_on(&self.reader.searcher(), p, counts)
    }

    /// [`Self::search_counted`] on a given searcher (one state of the index).
    pub(crate) fn search_on(
        &self,
        searcher: &Searcher,
        p: &SearchParams,
        counts: Option<&Arc<dyn topk::CountTable>>,
    ) -> Result<SearchResults, IndexError> {
        let text = (!p.q.is_empty()).then(|| UserQuery::parse(&p.q));
        let mut fuzzy = false;
        let (mut counted, mut addrs) = self.run(searcher, p, text.as_ref(), false, counts)?;
        if let Some(t) = &text {
            if counted.total < FUZZY_BELOW && t.has_fuzzy_words() {
                fuzzy = true;
                (counted, addrs) = self.run(searcher, p, text.as_ref(), true, counts)?;
            }
        }
        let Counted {
            total,
            exact,
            facets,
        } = counted;
        let highlighter = text.as_ref().map(|t| t.highlighter(fuzzy));
        let mut hits = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let Ok(mut doc) = searcher.doc::<super::Stored>(addr) else {
                continue;
            };
            let Some(torrent) = self.torrent_of(&mut doc) else {
                continue;
            };
            let (mut name_html, mut file_html) = (None, None);
            if let Some(h) = &highlighter {
                name_html = h.snippet(&torrent.name);
                // A file line is shown only to explain a hit whose name
                // does not: analysing up to 8 KiB of paths per hit was a
                // fifth of a results page's cost.
                if name_html.is_none() {
                    file_html = doc
                        .first(self.fields.file)
                        .and_then(|v| v.as_str())
                        .and_then(|files| h.snippet(files));
                }
            }
            hits.push(Hit {
                torrent,
                name_html,
                file_html,
            });
        }
        let limit = p.limit.clamp(1, MAX_LIMIT);
        let pages = total.div_ceil(limit).clamp(1, MAX_OFFSET / limit + 1);
        Ok(SearchResults {
            total,
            total_exact: exact,
            hits,
            page: p.page,
            pages,
            facets,
        })
    }

    /// The count (with the facets, if asked) and the addresses of the page.
    fn run(
        &self,
        searcher: &Searcher,
        p: &SearchParams,
        text: Option<&UserQuery>,
        fuzzy: bool,
        counts: Option<&Arc<dyn topk::CountTable>>,
    ) -> Result<(Counted, Vec<DocAddress>), IndexError> {
        let (query, words) = self.query(searcher, p, text, fuzzy);
        let limit = p.limit.clamp(1, MAX_LIMIT);
        let offset = p
            .offset
            .unwrap_or((p.page.max(1) - 1) * limit)
            .min(MAX_OFFSET);
        use topk::Direction::{Asc, Desc};
        let cache = self.sort_cache.clone();
        cache.retain_segments_of(searcher);
        let facets = p.facets.then(|| super::facets::FacetCollector {
            cache: cache.clone(),
        });
        let keys = match p.sort {
            Sort::Relevance => {
                if let Some((words, without)) = words {
                    // Words, each required or excluded, without phrases
                    // or filters: read from their postings directly.
                    let (page, counted) = top_scores::words(
                        searcher,
                        &self.fields,
                        &words,
                        &without,
                        limit,
                        offset,
                        facets,
                        Some(&cache.dense),
                    )?;
                    return Ok((counted, strip(page)));
                }
                // Anything else scores every match: counting them all in
                // the same pass costs nothing more.
                let top = TopDocs::with_limit(limit).and_offset(offset);
                let (total, page, facets) = searcher.search(&query, &(Count, top, facets))?;
                return Ok((Counted::exact(total, facets), strip(page)));
            }
            Sort::Newest => topk::date_field(cache, "indexed", Desc),
            Sort::Oldest => topk::date_field(cache, "indexed", Asc),
            Sort::Size => topk::u64_field(cache, "size", Desc),
            Sort::Name => topk::u64_field(cache, "name_sort", Asc),
            Sort::Seeders | Sort::Leechers => {
                let table = counts.cloned().unwrap_or_else(|| Arc::new(topk::NoCounts));
                let leechers = p.sort == Sort::Leechers;
                topk::swarm_counts(cache, self.fields.info_hash, table, leechers)
            }
        };
        let top = topk::TopByKey::new(offset + limit, keys);
        let ((total, mut page), facets) = searcher.search(&query, &(top, facets))?;
        let page = page.split_off(offset.min(page.len()));
        Ok((Counted::exact(total, facets), page))
    }
}

fn strip<T>(v: Vec<(T, DocAddress)>) -> Vec<DocAddress> {
    v.into_iter().map(|(_, a)| a).collect()
}

/// Formats a date as `YYYY-MM-DD`.
pub fn format_date(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(q: &str) -> RawSearch {
        RawSearch {
            q: Some(q.into()),
            ..Default::default()
        }
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("700"), Some(700));
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("2 GiB"), Some(2 << 30));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("1e999"), None);
    }

    #[test]
    fn validation_rejects_bad_input() {
        assert!(raw(&"a".repeat(513)).validate(50).is_err());
        assert!(raw("((((((a))))))").validate(50).is_err());
        assert!(raw(&"a ".repeat(40)).validate(50).is_err());
        let mut r = raw("x");
        r.page = Some("99999999999".into());
        assert!(r.validate(50).is_err());
        r.page = Some("0".into());
        assert!(r.validate(50).is_err());
        r.page = Some("201".into());
        assert!(r.validate(50).is_ok(), "offset 10 000 is the limit");
        r.page = Some("202".into());
        assert!(r.validate(50).is_err());
        let mut r = raw("");
        r.category = Some("nope".into());
        assert!(r.validate(50).is_err());
        let mut r = raw("");
        r.from = Some("2024-13-01".into());
        assert!(r.validate(50).is_err());
    }

    #[test]
    fn whole_index_scans_are_rejected_and_plain_syntax_kept() {
        for q in [
            "file:[0 TO z]",
            "name:[* TO *]",
            "name:{a TO b}",
            "name: IN [a b c]",
            "size:>5",
            "name:<m",
            "name:/.*x.*/",
        ] {
            let e = raw(q).validate(50).unwrap_err();
            assert!(e.0.contains("not supported"), "{q}: {e}");
        }
        for q in [
            "ubuntu 24.04",
            "+must -not",
            "\"a [bracketed] phrase\"",
            "name:ubuntu file:iso",
            "S01E02 1080p x264",
            "AC/DC",
            "(a OR b) AND c",
        ] {
            assert!(raw(q).validate(50).is_ok(), "{q}");
        }
    }

    #[test]
    fn defaults_depend_on_the_query() {
        assert_eq!(raw("").validate(50).unwrap().sort, Sort::Newest);
        assert_eq!(raw("x").validate(50).unwrap().sort, Sort::Relevance);
        assert_eq!(raw("x").validate(50).unwrap().limit, 50);
    }
}
