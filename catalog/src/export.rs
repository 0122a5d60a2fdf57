//! The export for other instances, over HTTP: `/infohash.bin` (the
//! tracker's file, raw, as aquatic-crawler and βtracker's crawler read it)
//! and `/federation/v1/torrents?after=&limit=` (JSON: the hashes this
//! catalog has metadata for, in arrival order). Both carry `ETag` and
//! `Last-Modified` and answer a matching `If-None-Match` (or, without
//! one, `If-Modified-Since`) with 304 and no body.

use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder};
use rocket::{get, routes, Request, Response, Route, State};

use crate::web::{ApiError, App};

/// Routes of this module.
pub fn routes() -> Vec<Route> {
    routes![infohash_bin, torrents]
}

/// The validators a client sent.
pub struct Conditional {
    if_none_match: Option<String>,
    if_modified_since: Option<chrono::DateTime<chrono::Utc>>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Conditional {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let headers = req.headers();
        Outcome::Success(Conditional {
            if_none_match: headers.get_one("If-None-Match").map(str::to_owned),
            if_modified_since: headers
                .get_one("If-Modified-Since")
                .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
                .map(|d| d.to_utc()),
        })
    }
}

impl Conditional {
    /// Whether the client's copy is this one (`etag` is quoted).
    fn fresh(&self, etag: &str, modified: Option<chrono::DateTime<chrono::Utc>>) -> bool {
        match &self.if_none_match {
            Some(tags) => tags
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*"),
            None => match (self.if_modified_since, modified) {
                (Some(since), Some(m)) => m.timestamp() <= since.timestamp(),
                _ => false,
            },
        }
    }
}

/// HTTP's date format (RFC 9110 IMF-fixdate).
fn http_date(d: chrono::DateTime<chrono::Utc>) -> String {
    d.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// A body with its validators, or 304 without one.
pub enum Exported {
    NotModified {
        etag: String,
    },
    File {
        file: rocket::tokio::fs::File,
        len: u64,
        etag: String,
        modified: String,
    },
    Json {
        body: String,
        etag: String,
        modified: Option<String>,
    },
}

impl<'r> Responder<'r, 'static> for Exported {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut r = Response::build();
        match self {
            Self::NotModified { etag } => {
                r.status(Status::NotModified)
                    .header(Header::new("ETag", etag));
            }
            Self::File {
                file,
                len,
                etag,
                modified,
            } => {
                r.header(ContentType::new("application", "octet-stream"))
                    .header(Header::new("ETag", etag))
                    .header(Header::new("Last-Modified", modified))
                    .sized_body(usize::try_from(len).ok(), file);
            }
            Self::Json {
                body,
                etag,
                modified,
            } => {
                r.header(ContentType::JSON)
                    .header(Header::new("ETag", etag))
                    .sized_body(body.len(), std::io::Cursor::new(body));
                if let Some(m) = modified {
                    r.header(Header::new("Last-Modified", m));
                }
            }
        }
        Ok(r.finalize())
    }
}

#[get("/infohash.bin")]
async fn infohash_bin(app: &State<App>, cond: Conditional) -> Result<Exported, ApiError> {
    let f = app.catalog.infohash_file().await?;
    let modified = chrono::DateTime::<chrono::Utc>::from(f.modified);
    let etag = format!(
        "\"{:x}-{:x}\"",
        f.len,
        modified.timestamp_nanos_opt().unwrap_or_default()
    );
    if cond.fresh(&etag, Some(modified)) {
        return Ok(Exported::NotModified { etag });
    }
    Ok(Exported::File {
        file: f.file,
        len: f.len,
        etag,
        modified: http_date(modified),
    })
}

/// `{"hashes": [hex…], "next": cursor, "more": bool}`.
#[derive(serde::Serialize)]
struct Page {
    hashes: Vec<String>,
    next: String,
    more: bool,
}

#[get("/federation/v1/torrents?<after>&<limit>")]
async fn torrents(
    app: &State<App>,
    cond: Conditional,
    after: Option<&str>,
    limit: Option<&str>,
) -> Result<Exported, ApiError> {
    let limit = match limit.map(str::trim).filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(l.parse::<usize>().map_err(|_| {
            crate::query::QueryError::BadParam(format!(
                "limit must be a number from 1 to {}",
                crate::query::MAX_FEED_PAGE
            ))
        })?),
    };
    let page = app.catalog.metadata_after(after, limit).await?;
    let etag = format!(
        "\"{}-{}-{}\"",
        page.version,
        page.next.to_text(),
        limit.unwrap_or(0)
    );
    if cond.if_none_match.is_some() && cond.fresh(&etag, None) {
        return Ok(Exported::NotModified { etag });
    }
    let modified = (page.next.indexed > 0)
        .then(|| chrono::DateTime::from_timestamp(page.next.indexed, 0))
        .flatten()
        .map(http_date);
    let body = serde_json::to_string(&Page {
        hashes: page.hashes.iter().map(|h| h.to_hex()).collect(),
        next: page.next.to_text(),
        more: page.more,
    })
    .map_err(|e| crate::query::QueryError::internal("list encoding", e))?;
    Ok(Exported::Json {
        body,
        etag,
        modified,
    })
}
