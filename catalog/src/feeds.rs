//! XML interfaces: RSS 2.0 feeds, Torznab, OpenSearch. Every document is
//! written with quick-xml (escaping included) from the same search path as
//! the pages.

use std::io::Cursor;

use chrono::Datelike;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use rocket::http::{ContentType, Status};
use rocket::{get, routes, Route, State};

use crate::index::search::non_empty;
use crate::links::Links;
use crate::query::{
    Category, IndexedTorrent, QueryError, RawSearch, SearchParams, MAX_LIMIT, MAX_OFFSET,
};
use crate::web::App;

/// Routes of this module.
pub fn routes() -> Vec<Route> {
    routes![rss, torznab, opensearch]
}

type Xml = (Status, (ContentType, String));

fn rss_type() -> ContentType {
    ContentType::new("application", "rss+xml").with_params(("charset", "utf-8"))
}

/// `text` without the characters XML 1.0 forbids (C0 controls but tab, CR
/// and LF; surrogates; U+FFFE and U+FFFF), which quick-xml does not escape:
/// one such character in a torrent name or an echoed query would make the
/// whole feed unreadable to Sonarr, Prowlarr and feed readers.
pub fn xml_safe(text: &str) -> std::borrow::Cow<'_, str> {
    fn allowed(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    }
    if text.chars().all(allowed) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(text.chars().filter(|c| allowed(*c)).collect())
    }
}

/// A small builder over quick-xml's writer: every text and attribute value
/// passes [`xml_safe`], and quick-xml escapes markup.
struct Doc(Writer<Cursor<Vec<u8>>>);

impl Doc {
    fn new() -> Self {
        let mut w = Writer::new_with_indent(Cursor::new(Vec::new()), b' ', 1);
        let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        Self(w)
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        let mut e = BytesStart::new(name);
        for (k, v) in attrs {
            e.push_attribute((*k, xml_safe(v).as_ref()));
        }
        let _ = self.0.write_event(Event::Start(e));
        self
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        let mut e = BytesStart::new(name);
        for (k, v) in attrs {
            e.push_attribute((*k, xml_safe(v).as_ref()));
        }
        let _ = self.0.write_event(Event::Empty(e));
        self
    }

    fn close(&mut self, name: &str) -> &mut Self {
        let _ = self.0.write_event(Event::End(BytesEnd::new(name)));
        self
    }

    fn text(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name, &[]);
        let _ = self
            .0
            .write_event(Event::Text(BytesText::new(xml_safe(text).as_ref())));
        self.close(name)
    }

    fn finish(self) -> String {
        String::from_utf8(self.0.into_inner().into_inner()).unwrap_or_default()
    }
}

/// The Newznab parent of a magnetar category (for an index written
/// before categories were stored).
pub fn newznab_id(c: &str) -> u32 {
    match Category::parse(c) {
        Some(Category::Video) => 2000,
        Some(Category::Audio) => 3000,
        Some(Category::Software) => 4000,
        Some(Category::Book) => 7000,
        _ => 8000,
    }
}

fn item(doc: &mut Doc, links: &Links, t: &IndexedTorrent, torznab: bool) {
    let page = links.page(&t.info_hash);
    let torrent_url = links.torrent(&t.info_hash);
    let magnet = links.magnet(&t.info_hash, &t.name, t.size, &[]);
    let size = t.size.to_string();
    doc.open("item", &[]);
    doc.text("title", &t.name);
    // Torznab clients take `<link>` as the download; feed readers open it.
    doc.text("link", if torznab { &torrent_url } else { &page });
    doc.open("guid", &[("isPermaLink", "false")]);
    let _ = doc
        .0
        .write_event(Event::Text(BytesText::new(&t.info_hash.to_hex())));
    doc.close("guid");
    doc.text("comments", &page);
    // RFC 2822 has four-digit years only (chrono panics beyond them).
    if (0..=9999).contains(&t.indexed.year()) {
        doc.text("pubDate", &t.indexed.to_rfc2822());
    }
    doc.text(
        "description",
        &format!(
            "{} · {} {} · {}",
            crate::view::human_size(t.size),
            t.file_count,
            if t.file_count == 1 { "file" } else { "files" },
            t.category
        ),
    );
    doc.text("size", &size);
    doc.empty(
        "enclosure",
        &[
            ("url", &torrent_url),
            ("length", &size),
            ("type", "application/x-bittorrent"),
        ],
    );
    doc.text("torrent:infoHash", &t.info_hash.to_hex());
    doc.text("torrent:magnetURI", &magnet);
    doc.text("torrent:contentLength", &size);
    if torznab {
        let cat = t.newznab.to_string();
        let parent = (t.newznab / 1000 * 1000).to_string();
        doc.text("category", &cat);
        let peers = t.seeders.saturating_add(t.leechers).to_string();
        let mut attrs: Vec<(&str, String)> = vec![
            ("category", cat.clone()),
            ("size", size.clone()),
            ("files", t.file_count.to_string()),
            ("grabs", t.completed.to_string()),
            ("seeders", t.seeders.to_string()),
            ("leechers", t.leechers.to_string()),
            ("peers", peers),
            ("infohash", t.info_hash.to_hex()),
            ("magneturl", magnet.clone()),
            ("downloadvolumefactor", "0".into()),
            ("uploadvolumefactor", "1".into()),
        ];
        if parent != cat {
            attrs.insert(0, ("category", parent));
        }
        let r = &t.release();
        if let Some((s, _)) = r.seasons {
            attrs.push(("season", s.to_string()));
        }
        if let Some((e, _)) = r.episodes {
            attrs.push(("episode", e.to_string()));
        }
        if let Some(y) = r.year {
            attrs.push(("year", y.to_string()));
        }
        if let Some(x) = r.resolution {
            attrs.push(("resolution", format!("{x}p")));
        }
        for (name, value) in &attrs {
            doc.empty("torznab:attr", &[("name", name), ("value", value)]);
        }
    } else if let Some(name) = crate::category::newznab_name(t.newznab) {
        doc.text("category", name);
    }
    doc.close("item");
}

async fn feed(
    app: &App,
    params: SearchParams,
    self_path: &str,
    torznab: bool,
) -> Result<String, QueryError> {
    let results = app.catalog.search(params.clone()).await?;
    let hits: Vec<&IndexedTorrent> = results.hits.iter().map(|h| &h.torrent).collect();
    let channel = Channel {
        site_title: app.title(),
        q: &params.q,
        self_path,
        offset: params.offset.unwrap_or(0),
        total: results.total,
    };
    Ok(render(app.catalog.links(), &channel, &hits, torznab))
}

/// What a feed says of itself.
pub struct Channel<'a> {
    /// The instance's title.
    pub site_title: &'a str,
    /// The search the feed answers (empty: the newest torrents).
    pub q: &'a str,
    /// The feed's own site-relative URL.
    pub self_path: &'a str,
    /// Torznab: where this page starts and how many match in all.
    pub offset: usize,
    pub total: usize,
}

/// An RSS 2.0 document of `hits` (with the Torznab attributes when
/// `torznab`): well-formed XML whatever the names and the query hold.
pub fn render(links: &Links, c: &Channel, hits: &[&IndexedTorrent], torznab: bool) -> String {
    let mut doc = Doc::new();
    let mut attrs = vec![
        ("version", "2.0"),
        ("xmlns:atom", "http://www.w3.org/2005/Atom"),
        ("xmlns:torrent", "http://xmlns.ezrss.it/0.1/"),
    ];
    if torznab {
        attrs.push(("xmlns:torznab", "http://torznab.com/schemas/2015/feed"));
    }
    doc.open("rss", &attrs).open("channel", &[]);
    let title = if c.q.is_empty() {
        format!("{}: newest torrents", c.site_title)
    } else {
        format!("{}: {}", c.site_title, c.q)
    };
    doc.text("title", &title);
    doc.text("link", &links.url(""));
    doc.text("description", "Torrents indexed by magnetar");
    doc.empty(
        "atom:link",
        &[
            ("href", &links.url(c.self_path)),
            ("rel", "self"),
            ("type", "application/rss+xml"),
        ],
    );
    if torznab {
        let offset = c.offset.to_string();
        let total = c.total.to_string();
        doc.empty(
            "torznab:response",
            &[("offset", &offset), ("total", &total)],
        );
    }
    for t in hits {
        item(&mut doc, links, t, torznab);
    }
    doc.close("channel").close("rss");
    doc.finish()
}

/// A failed search as a feed answers it: the user's mistake as a 400 with
/// its message, our fault as a logged 500 "internal error".
fn query_error(e: QueryError, what: &str) -> Xml {
    match e {
        QueryError::BadParam(m) => xml_error(Status::BadRequest, 201, &m, ContentType::XML),
        QueryError::NotFound(m) => xml_error(Status::NotFound, 300, &m, ContentType::XML),
        QueryError::Gone(m) => xml_error(Status::Gone, 300, &m, ContentType::XML),
        e @ QueryError::Busy => xml_error(
            Status::ServiceUnavailable,
            900,
            &e.to_string(),
            ContentType::XML,
        ),
        e @ QueryError::Internal { .. } => {
            tracing::error!("{what}: {e}");
            xml_error(
                Status::InternalServerError,
                900,
                "internal error",
                ContentType::XML,
            )
        }
    }
}

fn xml_error(status: Status, code: u32, message: &str, content_type: ContentType) -> Xml {
    let mut doc = Doc::new();
    let code = code.to_string();
    doc.empty("error", &[("code", &code), ("description", message)]);
    (status, (content_type, doc.finish()))
}

#[get("/rss?<params..>")]
async fn rss(app: &State<App>, params: RawSearch) -> Xml {
    let p = match app.catalog.params(&params) {
        Ok(p) => p,
        Err(QueryError::BadParam(m)) => {
            return xml_error(Status::BadRequest, 400, &m, ContentType::XML)
        }
        Err(e) => return query_error(e, "rss"),
    };
    let query = crate::view::search_query(&p, p.page);
    let self_path = if query.is_empty() {
        "rss".to_owned()
    } else {
        format!("rss?{query}")
    };
    match feed(app, p, &self_path, false).await {
        Ok(xml) => (Status::Ok, (rss_type(), xml)),
        Err(e) => query_error(e, "rss"),
    }
}

/// Compares a presented key with the configured one in time that does not
/// depend on where they differ (both are hashed first, so not on their
/// lengths either): the key cannot be guessed byte by byte from timings.
fn same_secret(given: &str, expected: &str) -> bool {
    use sha1::{Digest, Sha1};
    let (a, b) = (
        Sha1::digest(given.as_bytes()),
        Sha1::digest(expected.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Torznab query parameters (others, such as `extended`, are ignored).
#[derive(Debug, Default, rocket::FromForm)]
pub struct TorznabParams {
    t: Option<String>,
    q: Option<String>,
    cat: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
    apikey: Option<String>,
    season: Option<String>,
    ep: Option<String>,
    year: Option<String>,
}

#[get("/api?<params..>")]
async fn torznab(app: &State<App>, params: TorznabParams) -> Xml {
    if let Some(key) = &app.catalog.config().torznab_apikey {
        if !same_secret(params.apikey.as_deref().unwrap_or(""), key) {
            return xml_error(
                Status::Unauthorized,
                100,
                "Incorrect user credentials",
                ContentType::XML,
            );
        }
    }
    match params.t.as_deref() {
        Some("caps") => (Status::Ok, (ContentType::XML, caps(app))),
        Some(mode @ ("search" | "tvsearch" | "movie" | "music" | "book")) => {
            let p = match torznab_search(app, mode, &params) {
                Ok(p) => p,
                Err(e) => return xml_error(Status::BadRequest, 201, &e, ContentType::XML),
            };
            match feed(app, p, &format!("api?t={mode}"), true).await {
                Ok(xml) => (Status::Ok, (rss_type(), xml)),
                Err(e) => query_error(e, "torznab"),
            }
        }
        Some(other) => xml_error(
            Status::BadRequest,
            202,
            &format!("No such function ({other})"),
            ContentType::XML,
        ),
        None => xml_error(
            Status::BadRequest,
            200,
            "Missing parameter (t)",
            ContentType::XML,
        ),
    }
}

/// The search a Torznab request asks for. `season` and `ep` belong to
/// `tvsearch`, `year` to `movie`: given elsewhere they are refused, as
/// Newznab does (201), rather than silently ignored.
fn torznab_search(app: &App, mode: &str, t: &TorznabParams) -> Result<SearchParams, String> {
    let number = |v: &Option<String>, name: &str, max: usize| -> Result<Option<usize>, String> {
        match non_empty(v) {
            None => Ok(None),
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= max)
                .map(Some)
                .ok_or_else(|| format!("{name} must be a number up to {max}")),
        }
    };
    let limit = number(&t.limit, "limit", MAX_LIMIT)?.filter(|n| *n > 0);
    let offset = number(&t.offset, "offset", MAX_OFFSET)?;
    for (name, v, allowed) in [
        ("season", &t.season, mode == "tvsearch"),
        ("ep", &t.ep, mode == "tvsearch"),
        ("year", &t.year, mode == "movie"),
    ] {
        if non_empty(v).is_some() && !allowed {
            return Err(format!("{name} is not a parameter of t={mode}"));
        }
    }
    // Sonarr writes seasons as `1` or `S01`, episodes as `2` or `E02`.
    let strip = |v: Option<&str>, prefix: char| {
        v.map(|s| {
            s.strip_prefix(prefix)
                .or_else(|| s.strip_prefix(prefix.to_ascii_lowercase()))
                .unwrap_or(s)
                .to_owned()
        })
    };
    let raw = RawSearch {
        q: t.q.clone(),
        limit: limit.map(|l| l.to_string()),
        cat: t.cat.clone(),
        season: strip(non_empty(&t.season), 'S'),
        ep: strip(non_empty(&t.ep), 'E'),
        year: non_empty(&t.year).map(str::to_owned),
        ..Default::default()
    };
    let mut p = app.catalog.params(&raw).map_err(|e| e.to_string())?;
    if p.episode.is_some() && p.season.is_none() && mode == "tvsearch" {
        // An episode without its season would match every season's.
        return Err("ep needs season".into());
    }
    p.offset = offset;
    Ok(p)
}

fn caps(app: &App) -> String {
    let mut doc = Doc::new();
    doc.open("caps", &[]);
    doc.empty(
        "server",
        &[
            ("title", app.title()),
            ("url", &app.catalog.links().url("")),
        ],
    );
    let max = MAX_LIMIT.to_string();
    let default = app
        .catalog
        .config()
        .page_size
        .clamp(1, MAX_LIMIT)
        .to_string();
    doc.empty("limits", &[("default", &default), ("max", &max)]);
    doc.open("searching", &[]);
    for (mode, params) in [
        ("search", "q"),
        ("tv-search", "q,season,ep"),
        ("movie-search", "q,year"),
        ("music-search", "q"),
        ("book-search", "q"),
    ] {
        doc.empty(mode, &[("available", "yes"), ("supportedParams", params)]);
    }
    doc.close("searching");
    doc.open("categories", &[]);
    for (id, name) in crate::category::NEWZNAB
        .iter()
        .filter(|(id, _)| id % 1000 == 0)
    {
        doc.open("category", &[("id", &id.to_string()), ("name", name)]);
        for (sub, sub_name) in crate::category::NEWZNAB
            .iter()
            .filter(|(s, _)| s / 1000 == id / 1000 && s % 1000 != 0)
        {
            doc.empty("subcat", &[("id", &sub.to_string()), ("name", sub_name)]);
        }
        doc.close("category");
    }
    doc.close("categories").close("caps");
    doc.finish()
}

#[get("/opensearch.xml")]
fn opensearch(app: &State<App>) -> (ContentType, String) {
    let mut doc = Doc::new();
    doc.open(
        "OpenSearchDescription",
        &[("xmlns", "http://a9.com/-/spec/opensearch/1.1/")],
    );
    let links = app.catalog.links();
    doc.text("ShortName", app.title());
    doc.text(
        "Description",
        &format!("Search torrents on {}", app.title()),
    );
    doc.text("InputEncoding", "UTF-8");
    doc.empty(
        "Url",
        &[
            ("type", "text/html"),
            ("method", "get"),
            ("template", &links.url("search?q={searchTerms}")),
        ],
    );
    doc.empty(
        "Url",
        &[
            ("type", "application/rss+xml"),
            ("method", "get"),
            ("template", &links.url("rss?q={searchTerms}")),
        ],
    );
    doc.empty(
        "Url",
        &[
            ("type", "application/opensearchdescription+xml"),
            ("rel", "self"),
            ("template", &links.url("opensearch.xml")),
        ],
    );
    doc.close("OpenSearchDescription");
    (
        ContentType::new("application", "opensearchdescription+xml"),
        doc.finish(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_xml_characters_are_stripped_and_text_kept() {
        assert_eq!(xml_safe("plain <&> é 東京"), "plain <&> é 東京");
        assert!(matches!(xml_safe("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(xml_safe("a\u{1}b\u{FFFF}c\u{FFFE}\td\n"), "abc\td\n");
        let mut d = Doc::new();
        d.open("x", &[("q", "\u{1}y")])
            .text("t", "n\u{FFFF}ame")
            .close("x");
        let xml = d.finish();
        assert!(roxmltree::Document::parse(&xml).is_ok(), "{xml}");
    }

    #[test]
    fn keys_are_compared_whole() {
        assert!(same_secret("k3y", "k3y"));
        assert!(!same_secret("k3", "k3y"));
        assert!(!same_secret("", "k3y"));
        assert!(!same_secret("k3z", "k3y"));
    }
}
