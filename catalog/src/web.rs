//! Shared web plumbing: application state, templates, errors, security headers.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{ContentType, Header, Status};
use rocket::response::{self, Responder};
use rocket::{Request, Response};
use serde::Serialize;

use crate::i18n::{I18n, Lang};
use crate::query::{Catalog, QueryError};

/// Everything a request handler needs: the query service, the templates and
/// the interface's languages.
pub struct App {
    pub catalog: Catalog,
    pub templates: Templates,
    pub i18n: std::sync::Arc<I18n>,
}

impl App {
    /// The site's title.
    pub fn title(&self) -> &str {
        &self.catalog.config().title
    }
}

/// The Tera templates: embedded at build time, optionally overridden from a directory.
pub struct Templates(tera::Tera);

macro_rules! embedded {
    ($($name:literal),*) => {
        [$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

impl Templates {
    /// Embedded templates, with files of the same name in `dir` taking precedence.
    pub fn load(
        dir: Option<&std::path::Path>,
        i18n: std::sync::Arc<I18n>,
    ) -> Result<Self, tera::Error> {
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![".html.tera"]);
        tera.set_escape_fn(escape_html);
        tera.register_function("t", crate::i18n::TeraT(i18n));
        let mut sources: Vec<(String, String)> = embedded!(
            "base.html.tera",
            "list.html.tera",
            "detail.html.tera",
            "stats.html.tera",
            "error.html.tera"
        )
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
        if let Some(dir) = dir {
            for (name, source) in sources.iter_mut() {
                if let Ok(text) = std::fs::read_to_string(dir.join(&*name)) {
                    tracing::info!("template {name} overridden from {}", dir.display());
                    *source = text;
                }
            }
        }
        tera.add_raw_templates(sources)?;
        Ok(Self(tera))
    }

    /// Renders a template with a serializable context, in a language.
    pub fn render(
        &self,
        name: &str,
        context: &impl Serialize,
        lang: &Lang,
    ) -> Result<String, PageError> {
        let mut ctx = tera::Context::from_serialize(context)
            .map_err(|e| PageError::Internal(e.to_string()))?;
        ctx.insert("lang", &lang.code);
        ctx.insert("languages", &lang.links);
        self.0.render(name, &ctx).map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            PageError::Internal(msg)
        })
    }
}

/// Escapes text for HTML content and quoted attribute values.
pub fn escape_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 16);
    // Runs without a special character are copied whole (they are ASCII
    // bytes, so every cut is at a character boundary).
    let mut from = 0;
    for (i, b) in input.bytes().enumerate() {
        let with = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#x27;",
            _ => continue,
        };
        out.push_str(&input[from..i]);
        out.push_str(with);
        from = i + 1;
    }
    out.push_str(&input[from..]);
    out
}

/// The stylesheet (embedded).
pub const STYLE_CSS: &str = include_str!("../../templates/style.css");

/// Errors of HTML pages, rendered in the site's layout.
#[derive(Debug)]
pub enum PageError {
    NotFound(String),
    /// Removed by the operator: 410.
    Gone(String),
    BadRequest(String),
    /// Overloaded: 503 with `Retry-After`.
    Unavailable(String),
    Internal(String),
}

#[derive(Serialize)]
struct ErrorView<'a> {
    title: &'a str,
    site_title: &'a str,
    status: u16,
    message: &'a str,
}

impl From<QueryError> for PageError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::NotFound(m) => Self::NotFound(m),
            QueryError::Gone(m) => Self::Gone(m),
            QueryError::BadParam(m) => Self::BadRequest(m),
            e @ QueryError::Busy => Self::Unavailable(e.to_string()),
            e @ QueryError::Internal { .. } => Self::Internal(e.to_string()),
        }
    }
}

impl PageError {
    fn status(&self) -> Status {
        match self {
            Self::NotFound(_) => Status::NotFound,
            Self::Gone(_) => Status::Gone,
            Self::BadRequest(_) => Status::BadRequest,
            Self::Unavailable(_) => Status::ServiceUnavailable,
            Self::Internal(_) => Status::InternalServerError,
        }
    }
}

/// Renders an error page (plain text if even templates fail).
pub fn error_page(
    app: Option<&App>,
    req: &Request<'_>,
    status: Status,
    message: &str,
) -> (Status, (ContentType, String)) {
    let view = ErrorView {
        title: status.reason().unwrap_or("Error"),
        site_title: app.map_or("magnetar", App::title),
        status: status.code,
        message,
    };
    let body = app
        .and_then(|a| {
            let lang = Lang::of(&a.i18n, req);
            a.templates.render("error.html.tera", &view, &lang).ok()
        })
        .map(|html| (ContentType::HTML, html))
        .unwrap_or_else(|| (ContentType::Plain, format!("{} {}\n", status.code, message)));
    (status, body)
}

impl<'r> Responder<'r, 'static> for PageError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let app = req.rocket().state::<App>();
        let message = match &self {
            Self::NotFound(m) | Self::Gone(m) | Self::BadRequest(m) | Self::Unavailable(m) => {
                m.clone()
            }
            Self::Internal(m) => {
                tracing::error!("internal error on {}: {m}", req.uri());
                "Something went wrong on our side.".to_owned()
            }
        };
        let mut response = error_page(app, req, self.status(), &message).respond_to(req)?;
        if matches!(self, Self::Unavailable(_)) {
            response.set_header(Header::new("Retry-After", RETRY_AFTER_SECS.to_string()));
        }
        Ok(response)
    }
}

/// What an overloaded catalog asks clients to wait, seconds.
pub const RETRY_AFTER_SECS: u32 = 2;

/// Adds the security headers to every response.
pub struct SecurityHeaders;

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info {
            name: "security headers",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, _req: &'r Request<'_>, res: &mut Response<'r>) {
        res.set_header(Header::new(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ));
        res.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        res.set_header(Header::new("Referrer-Policy", "no-referrer"));
        res.set_header(Header::new("X-Frame-Options", "DENY"));
    }
}

#[rocket::catch(default)]
pub fn default_catcher(status: Status, req: &Request<'_>) -> (Status, (ContentType, String)) {
    // Rocket answers malformed parameters with 422; to clients that is a bad request.
    let status = if status.code == 422 {
        Status::BadRequest
    } else {
        status
    };
    let message = match status.code {
        404 => "There is nothing at this address.",
        400 | 422 => "The request could not be understood.",
        _ => "Something went wrong.",
    };
    error_page(req.rocket().state::<App>(), req, status, message)
}

/// A JSON error: `{"error": {"status": 400, "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError {
    body: (Status, String),
    retry_after: Option<rocket::http::Header<'static>>,
}

impl<'r> rocket::response::Responder<'r, 'static> for ApiError {
    fn respond_to(self, req: &'r rocket::Request<'_>) -> rocket::response::Result<'static> {
        let (status, body) = self.body;
        let mut response = (status, (ContentType::JSON, body)).respond_to(req)?;
        if let Some(h) = self.retry_after {
            response.set_header(h);
        }
        Ok(response)
    }
}

impl ApiError {
    pub fn new(status: Status, message: &str) -> Self {
        let body = serde_json::json!({ "error": { "status": status.code, "message": message } });
        Self {
            body: (status, body.to_string()),
            retry_after: None,
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::NotFound(m) => Self::new(Status::NotFound, &m),
            QueryError::Gone(m) => Self::new(Status::Gone, &m),
            QueryError::BadParam(m) => Self::new(Status::BadRequest, &m),
            e @ QueryError::Busy => Self {
                retry_after: Some(rocket::http::Header::new(
                    "Retry-After",
                    crate::web::RETRY_AFTER_SECS.to_string(),
                )),
                ..Self::new(Status::ServiceUnavailable, &e.to_string())
            },
            e @ QueryError::Internal { .. } => {
                tracing::error!("api internal error: {e}");
                Self::new(Status::InternalServerError, "internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape_html;

    #[test]
    fn every_special_character_is_escaped_and_the_rest_kept() {
        assert_eq!(escape_html("a<b>&\"c'd"), "a&lt;b&gt;&amp;&quot;c&#x27;d");
        // Text around them in any script, at the start and the end.
        assert_eq!(
            escape_html("<進撃の巨人 & Amélie>"),
            "&lt;進撃の巨人 &amp; Amélie&gt;"
        );
        assert_eq!(escape_html("Москва"), "Москва");
        assert_eq!(escape_html(""), "");
    }
}
