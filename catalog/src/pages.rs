//! HTML pages: home, search, detail, download, preloaded files, statistics.

use std::path::PathBuf;

use rocket::http::{ContentType, Header};
use rocket::response::content::RawHtml;
use rocket::response::Redirect;
use rocket::{get, routes, Route, State};
use serde::Serialize;

use crate::i18n::Lang;
use crate::query::{
    Category, Hit, InfoHash, RawSearch, SearchParams, SearchResults, Sort, SwarmCounts,
};
use crate::view::{self, Segment, TreeItem};
use crate::web::{App, PageError, STYLE_CSS};

/// Routes of this module.
pub fn routes() -> Vec<Route> {
    routes![home, search, by_id, preloaded_file, stats, style]
}

/// Most files listed on a detail page.
const MAX_TREE_FILES: usize = 2_000;

struct Row {
    hash: String,
    name: String,
    name_html: Option<String>,
    file_html: Option<String>,
    size: String,
    category: String,
    date: String,
    seeders: u64,
    leechers: u64,
    files: u64,
    magnet: String,
}

/// The rows of a results table, as `list.html.tera` had them (every
/// value escaped but the snippets, which the highlighter escaped).
fn rows_html(rows: &[Row], magnet_title: &str, magnet_label: &str) -> String {
    use std::fmt::Write;
    let e = crate::web::escape_html;
    let (title, label) = (e(magnet_title), e(magnet_label));
    let mut out = String::with_capacity(rows.len() * 700);
    for r in rows {
        let name = match &r.name_html {
            Some(html) => html.clone(),
            None => e(&r.name),
        };
        let snippet = r
            .file_html
            .as_ref()
            .map(|html| format!("<div class=\"snippet\">{html}</div>"))
            .unwrap_or_default();
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "\n<tr>\n  <td class=\"name\"><a href=\"/{hash}\">{name}</a> <span class=\"cat\">{cat}</span>{snippet}</td>\n  \
             <td class=\"num\">{size}</td>\n  <td class=\"num\">{files}</td>\n  <td class=\"num\">{date}</td>\n  \
             <td class=\"num seed\">{seeders}</td>\n  <td class=\"num\">{leechers}</td>\n  \
             <td><a class=\"magnet\" href=\"{magnet}\" title=\"{title}\">{label}</a></td>\n</tr>\n",
            hash = e(&r.hash),
            cat = e(&r.category),
            size = e(&r.size),
            files = r.files,
            date = e(&r.date),
            seeders = r.seeders,
            leechers = r.leechers,
            magnet = e(&r.magnet),
        );
    }
    out
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct ListView {
    site_title: String,
    title: String,
    q: String,
    min_size: String,
    max_size: String,
    from: String,
    to: String,
    categories: Vec<Choice>,
    sorts: Vec<Choice>,
    total: usize,
    /// The total (and the facet counts) are estimates: past the count cap.
    total_about: bool,
    total_docs: u64,
    /// The results' table rows, written here (a Tera loop over 50 rows
    /// was a tenth of a search page's CPU, its context's values included).
    rows: String,
    /// How many rows there are.
    row_count: usize,
    page: usize,
    pages: usize,
    prev: Option<String>,
    next: Option<String>,
    rss: String,
    json: String,
    is_search: bool,
    /// Filters the form does not show, kept when it is applied.
    hidden: Vec<(&'static str, String)>,
    /// Counts of the results by category, resolution and year, as links.
    facets: Vec<FacetGroup>,
}

#[derive(Serialize)]
struct FacetGroup {
    label: String,
    /// The search without this filter, when it is set.
    clear: Option<String>,
    items: Vec<FacetLink>,
}

#[derive(Serialize)]
struct FacetLink {
    label: String,
    count: u64,
    href: String,
    selected: bool,
}

/// Most values shown per facet (the years of a large search are many).
const MAX_FACET_VALUES: usize = 12;

/// The search page of `p` at `page`.
fn search_href(p: &SearchParams, page: usize) -> String {
    let q = view::search_query(p, page);
    if q.is_empty() {
        "/search".to_owned()
    } else {
        format!("/search?{q}")
    }
}

fn facet_groups(
    app: &App,
    lang: &Lang,
    p: &SearchParams,
    f: &crate::index::facets::Facets,
) -> Vec<FacetGroup> {
    let t = |key: &str| app.i18n.text(lang.index, key, None);
    let with = |edit: &dyn Fn(&mut SearchParams)| {
        let mut q = p.clone();
        q.page = 1;
        edit(&mut q);
        search_href(&q, 1)
    };
    let categories = FacetGroup {
        label: t("facet-category"),
        clear: (!p.cats.is_empty()).then(|| with(&|q| q.cats.clear())),
        items: f
            .categories
            .iter()
            .take(MAX_FACET_VALUES)
            .map(|&(id, count)| FacetLink {
                label: crate::category::newznab_name(id).unwrap_or("?").to_owned(),
                count,
                href: with(&|q| q.cats = vec![id]),
                selected: p.cats == [id],
            })
            .collect(),
    };
    let resolutions = FacetGroup {
        label: t("facet-resolution"),
        clear: p.resolution.map(|_| with(&|q| q.resolution = None)),
        items: f
            .resolutions
            .iter()
            .take(MAX_FACET_VALUES)
            .map(|&(lines, count)| FacetLink {
                label: format!("{lines}p"),
                count,
                href: with(&|q| q.resolution = Some(lines)),
                selected: p.resolution == Some(lines),
            })
            .collect(),
    };
    let years = FacetGroup {
        label: t("facet-year"),
        clear: p.year.map(|_| with(&|q| q.year = None)),
        items: f
            .years
            .iter()
            .take(MAX_FACET_VALUES)
            .map(|&(year, count)| FacetLink {
                label: year.to_string(),
                count,
                href: with(&|q| q.year = Some(year)),
                selected: p.year == Some(year),
            })
            .collect(),
    };
    [categories, resolutions, years]
        .into_iter()
        .filter(|g| !g.items.is_empty() || g.clear.is_some())
        .collect()
}

fn list_view(
    app: &App,
    lang: &Lang,
    p: &SearchParams,
    r: SearchResults,
    is_search: bool,
) -> ListView {
    let t = |key: &str| app.i18n.text(lang.index, key, None);
    // Most rows of a page share their day: each is written once.
    let mut dates: Vec<(chrono::NaiveDate, String)> = Vec::new();
    let mut date = |d: &chrono::DateTime<chrono::Utc>| {
        let day = d.date_naive();
        if let Some((_, s)) = dates.iter().find(|(k, _)| *k == day) {
            return s.clone();
        }
        let s = app.i18n.date(lang.index, d);
        dates.push((day, s.clone()));
        s
    };
    let rows: Vec<Row> = r
        .hits
        .into_iter()
        .map(
            |Hit {
                 torrent: t,
                 name_html,
                 file_html,
             }| Row {
                hash: t.info_hash.to_hex(),
                magnet: app
                    .catalog
                    .links()
                    .magnet(&t.info_hash, &t.name, t.size, &[]),
                name: t.name,
                name_html,
                file_html,
                size: app.i18n.size(lang.index, t.size),
                category: t.category,
                date: date(&t.indexed),
                seeders: t.seeders,
                leechers: t.leechers,
                files: t.file_count,
            },
        )
        .collect();
    let link = |page: usize| search_href(p, page);
    let query = view::search_query(p, 1);
    let opt = |v: &Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let facets = r
        .facets
        .as_ref()
        .map(|f| facet_groups(app, lang, p, f))
        .unwrap_or_default();
    let mut hidden = view::release_filters(p);
    if let Some(o) = &p.origin {
        hidden.push(("origin", o.clone()));
    }
    ListView {
        site_title: app.title().to_owned(),
        title: if p.q.is_empty() {
            t("title-newest")
        } else {
            let mut args = fluent_bundle::FluentArgs::new();
            args.set("q", p.q.clone());
            app.i18n.text(lang.index, "title-search", Some(&args))
        },
        q: p.q.clone(),
        min_size: opt(&p.min_size),
        max_size: opt(&p.max_size),
        from: p.from.map(|d| d.to_string()).unwrap_or_default(),
        to: p.to.map(|d| d.to_string()).unwrap_or_default(),
        categories: Category::ALL
            .iter()
            .map(|c| Choice {
                value: c.as_str(),
                label: c.as_str().to_owned(),
                selected: p.category == Some(*c),
            })
            .collect(),
        sorts: Sort::ALL
            .iter()
            .map(|s| Choice {
                value: s.as_str(),
                label: t(&format!("sort-{}", s.as_str())),
                selected: p.sort == *s,
            })
            .collect(),
        total: if r.total_exact {
            r.total
        } else {
            view::two_figures(r.total)
        },
        total_about: !r.total_exact,
        total_docs: app.catalog.documents(),
        row_count: rows.len(),
        rows: rows_html(&rows, &t("magnet-title"), &t("magnet")),
        page: r.page,
        pages: r.pages,
        prev: (r.page > 1).then(|| link(r.page - 1)),
        next: (r.page < r.pages).then(|| link(r.page + 1)),
        rss: if query.is_empty() {
            "/rss".into()
        } else {
            format!("/rss?{query}")
        },
        json: format!("/api/v1/search?{query}"),
        is_search,
        hidden,
        facets,
    }
}

async fn list_page(
    app: &App,
    lang: &Lang,
    raw: RawSearch,
    is_search: bool,
) -> Result<RawHtml<String>, PageError> {
    let mut params = app.catalog.params(&raw)?;
    params.facets = is_search;
    let results = app.catalog.search(params.clone()).await?;
    let view = list_view(app, lang, &params, results, is_search);
    app.templates
        .render("list.html.tera", &view, lang)
        .map(RawHtml)
}

#[get("/?<page>")]
async fn home(
    app: &State<App>,
    lang: Lang,
    page: Option<String>,
) -> Result<RawHtml<String>, PageError> {
    list_page(
        app,
        &lang,
        RawSearch {
            page,
            ..Default::default()
        },
        false,
    )
    .await
}

#[get("/search?<params..>")]
async fn search(
    app: &State<App>,
    lang: Lang,
    params: RawSearch,
) -> Result<RawHtml<String>, PageError> {
    list_page(app, &lang, params, true).await
}

/// What `/<id>` can answer.
#[derive(rocket::Responder)]
enum ById {
    Page(RawHtml<String>),
    Torrent(crate::download::Reserved, ContentType, Header<'static>),
    Redirect(Redirect),
}

#[derive(Serialize)]
struct DetailView {
    site_title: String,
    title: String,
    hash: String,
    name: String,
    size: String,
    size_bytes: u64,
    tree: Vec<TreeItem>,
    hidden_files: usize,
    file_count: usize,
    piece_length: String,
    pieces: u64,
    private: bool,
    created_by: Option<String>,
    created: Option<String>,
    indexed: Option<String>,
    category: String,
    comment: Vec<Segment>,
    trackers: Vec<String>,
    swarm: Option<SwarmCounts>,
    magnet: String,
    previews: Vec<String>,
    origin: Option<OriginView>,
    /// What the name says: `Movies/HD · 1999 · 1080p · BluRay · H.264`.
    release: Vec<String>,
    /// Other releases of the same title (and year or season).
    similar: Vec<SimilarRow>,
}

#[derive(Serialize)]
struct SimilarRow {
    hash: String,
    name: String,
    size: String,
    seeders: u64,
}

/// Most other releases listed on a detail page.
const MAX_SIMILAR: usize = 10;

/// The parts of a release worth showing, in reading order.
fn release_facts(newznab: u32, r: &crate::release::Release) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(name) = crate::category::newznab_name(newznab) {
        out.push(name.to_owned());
    }
    let range = |prefix: &str, (a, b): (u16, u16)| {
        if a == b {
            format!("{prefix}{a:02}")
        } else {
            format!("{prefix}{a:02}-{prefix}{b:02}")
        }
    };
    if let Some(y) = r.year {
        out.push(y.to_string());
    }
    match (r.seasons, r.episodes) {
        (Some(s), Some(e)) => out.push(format!("{} {}", range("S", s), range("E", e))),
        (Some(s), None) => out.push(range("S", s)),
        (None, Some(e)) => out.push(range("E", e)),
        (None, None) => {}
    }
    if let Some(x) = r.resolution {
        out.push(format!("{x}p"));
    }
    out.extend(r.source.map(str::to_owned));
    out.extend(r.codec.map(str::to_owned));
    if !r.languages.is_empty() {
        out.push(r.languages.join(", "));
    }
    out
}

/// Where a torrent came from, with a link to the others from there.
#[derive(Serialize)]
struct OriginView {
    kind: &'static str,
    url: Option<String>,
    /// `/search?origin=…` (this origin's other torrents).
    others: String,
}

/// Parses `/<id>`: 40 hex, 32 base32, or either followed by `.torrent`.
fn parse_id(id: &str) -> Result<(InfoHash, bool, bool), PageError> {
    let (raw, download) = match id.strip_suffix(".torrent") {
        Some(r) => (r, true),
        None => (id, false),
    };
    let hash: InfoHash = raw
        .parse()
        .map_err(|_| PageError::NotFound("There is nothing at this address.".into()))?;
    let canonical = raw == hash.to_hex();
    Ok((hash, download, canonical))
}

#[get("/<id>", rank = 5)]
async fn by_id(app: &State<App>, lang: Lang, id: &str) -> Result<ById, PageError> {
    let (hash, download, canonical) = parse_id(id)?;
    if !canonical {
        let target = if download {
            format!("/{hash}.torrent")
        } else {
            format!("/{hash}")
        };
        return Ok(ById::Redirect(Redirect::permanent(target)));
    }
    let catalog = &app.catalog;
    if download {
        let (body, filename) = catalog.download(hash).await?;
        return Ok(ById::Torrent(
            body,
            ContentType::new("application", "x-bittorrent"),
            crate::download::disposition(&filename),
        ));
    }
    let torrent = catalog.torrent(hash).await?;
    let swarm = catalog.swarm(hash).await;
    let previews = catalog.previews(&torrent);
    let (release, similar) = match &torrent.indexed {
        Some(t) => {
            let release = t.release();
            let facts = release_facts(t.newznab, &release);
            let others = catalog
                .similar(t.info_hash, release, MAX_SIMILAR)
                .await
                .into_iter()
                .map(|o| SimilarRow {
                    hash: o.info_hash.to_hex(),
                    size: app.i18n.size(lang.index, o.size),
                    name: o.name,
                    seeders: o.seeders,
                })
                .collect();
            (facts, others)
        }
        None => (Vec::new(), Vec::new()),
    };
    let indexed = torrent
        .indexed
        .as_ref()
        .map(|t| app.i18n.date(lang.index, &t.indexed));
    // A crafted torrent may list 100 000 files: lay out the tree off the
    // async workers.
    let (i18n, lang_index) = (app.i18n.clone(), lang.index);
    let (meta, tree) = rocket::tokio::task::spawn_blocking(move || {
        let tree = view::file_tree(
            &torrent.meta.files,
            torrent.meta.single_file,
            MAX_TREE_FILES,
            &|b| i18n.size(lang_index, b),
        );
        (torrent, tree)
    })
    .await
    .map_err(|e| PageError::Internal(e.to_string()))?;
    let meta = &meta.meta;
    let own = meta.trackers();
    let view = DetailView {
        site_title: app.title().to_owned(),
        title: meta.name.clone(),
        hash: hash.to_hex(),
        size: app.i18n.size(lang.index, meta.total_size),
        size_bytes: meta.total_size,
        tree,
        hidden_files: meta.files.len().saturating_sub(MAX_TREE_FILES),
        file_count: meta.files.len(),
        piece_length: app.i18n.size(lang.index, meta.piece_length),
        pieces: meta.piece_count,
        private: meta.private,
        created_by: meta.created_by.clone(),
        created: meta
            .creation_date
            .as_ref()
            .map(|d| app.i18n.date(lang.index, d)),
        indexed,
        category: Category::of_torrent(meta).as_str().to_owned(),
        comment: meta
            .comment
            .as_deref()
            .map(view::linkify)
            .unwrap_or_default(),
        magnet: catalog
            .links()
            .magnet(&hash, &meta.name, meta.total_size, &own),
        trackers: own,
        swarm,
        previews,
        origin: meta.origin.as_ref().map(|o| OriginView {
            kind: o.kind(),
            url: o.url().map(str::to_owned),
            others: format!("/search?origin={}", crate::links::encode(&o.to_string())),
        }),
        release,
        similar,
        name: meta.name.clone(),
    };
    app.templates
        .render("detail.html.tera", &view, &lang)
        .map(|h| ById::Page(RawHtml(h)))
}

#[get("/<id>/files/<path..>")]
async fn preloaded_file(
    app: &State<App>,
    id: &str,
    path: PathBuf,
) -> Result<(ContentType, Vec<u8>), PageError> {
    let hash = InfoHash::from_hex(id).map_err(|_| PageError::NotFound("No such file.".into()))?;
    Ok(app.catalog.preloaded_file(hash, path).await?)
}

#[derive(Serialize)]
struct StatsView {
    site_title: String,
    title: String,
    torrents: u64,
    total_size: String,
    categories: Vec<(String, u64)>,
    index_size: String,
    crawler: Option<Vec<(String, String)>>,
    tracker: Option<Vec<(String, String)>>,
}

/// The crawler's status as label and value pairs: a nested object's
/// fields under its name ("federation syncs"), underscores as spaces;
/// at most [`MAX_FACTS`] of them, three levels deep.
fn status_facts(status: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, value: &serde_json::Value, depth: u8, out: &mut Vec<(String, String)>) {
        use serde_json::Value;
        match value {
            Value::Object(fields) if depth < 3 => {
                for (key, value) in fields {
                    if out.len() >= MAX_FACTS {
                        return;
                    }
                    let label = key.replace('_', " ");
                    let label = if prefix.is_empty() {
                        label
                    } else {
                        format!("{prefix} {label}")
                    };
                    walk(&label, value, depth + 1, out);
                }
            }
            Value::Null => {}
            Value::String(text) => out.push((prefix.to_owned(), text.clone())),
            other => out.push((prefix.to_owned(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", status, 0, &mut out);
    out
}

/// Most lines of the crawler's status on `/stats`.
const MAX_FACTS: usize = 100;

#[get("/stats")]
async fn stats(app: &State<App>, lang: Lang) -> Result<RawHtml<String>, PageError> {
    let s = app.catalog.stats().await?;
    let view = StatsView {
        site_title: app.title().to_owned(),
        title: app.i18n.text(lang.index, "title-stats", None),
        torrents: s.torrents,
        total_size: app.i18n.size(lang.index, s.total_size),
        categories: s.categories.into_iter().collect(),
        index_size: app.i18n.size(lang.index, s.index_bytes),
        crawler: s.crawler.as_ref().map(status_facts),
        tracker: s.tracker.map(|m| {
            m.into_iter()
                .map(|(k, v)| (k.replace('_', " "), format!("{v}")))
                .collect()
        }),
    };
    app.templates
        .render("stats.html.tera", &view, &lang)
        .map(RawHtml)
}

#[get("/static/style.css")]
fn style() -> (ContentType, &'static str) {
    (ContentType::CSS, STYLE_CSS)
}

#[cfg(test)]
mod tests {
    use super::{status_facts, MAX_FACTS};

    /// However large or deep the status file, `/stats` shows at most
    /// [`MAX_FACTS`] lines, and nothing below the third level.
    #[test]
    fn status_facts_are_bounded_in_number_and_depth() {
        let wide: serde_json::Map<String, serde_json::Value> = (0..1000)
            .map(|i| (format!("k{i:04}"), serde_json::json!(i)))
            .collect();
        assert_eq!(status_facts(&wide.into()).len(), MAX_FACTS);
        let deep = serde_json::json!({"a": {"b": {"c": {"d": 1}}, "e": 2}, "f": null});
        assert_eq!(
            status_facts(&deep),
            vec![
                ("a b c".to_owned(), r#"{"d":1}"#.to_owned()),
                ("a e".to_owned(), "2".to_owned())
            ]
        );
    }
}
