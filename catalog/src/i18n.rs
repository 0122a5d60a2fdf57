//! The interface's languages: one Fluent file per language in
//! `catalog/i18n/` (embedded at build time; adding a language is adding a
//! file). A page's language comes from `?lang=` (which also sets a cookie),
//! else the `lang` cookie, else `Accept-Language`, else English.

use std::collections::HashMap;
use std::convert::Infallible;

use chrono::{DateTime, Datelike, Utc};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use rocket::http::{Cookie, SameSite};
use rocket::request::{FromRequest, Outcome};
use rocket::Request;
use serde::Serialize;
use unic_langid::LanguageIdentifier;

/// `(code, Fluent source)` of every `i18n/*.ftl`, sorted by code.
const SOURCES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/locales.rs"));
/// The language every other one falls back to.
pub const DEFAULT: &str = "en";
/// The cookie that remembers a chosen language.
pub const COOKIE: &str = "lang";

/// One language of the interface.
pub struct Language {
    pub code: String,
    /// The language's name in itself (`language-name`).
    pub name: String,
    /// `decimal-separator`, when the language has one.
    decimal: Option<String>,
    bundle: FluentBundle<FluentResource>,
}

/// Every language, the default first.
pub struct I18n {
    langs: Vec<Language>,
}

/// A problem in a language file.
#[derive(Debug, thiserror::Error)]
#[error("i18n/{code}.ftl: {message}")]
pub struct I18nError {
    pub code: String,
    pub message: String,
}

impl I18n {
    /// Parses every embedded language file.
    pub fn load() -> Result<Self, I18nError> {
        let mut langs = Vec::new();
        for (code, source) in SOURCES {
            let err = |message: String| I18nError {
                code: (*code).to_owned(),
                message,
            };
            let id: LanguageIdentifier = code
                .parse()
                .map_err(|e| err(format!("not a language code: {e}")))?;
            let resource = FluentResource::try_new((*source).to_owned())
                .map_err(|(_, errors)| err(format!("{errors:?}")))?;
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // Pages are HTML: no Unicode isolation marks around values.
            bundle.set_use_isolating(false);
            bundle
                .add_resource(resource)
                .map_err(|errors| err(format!("{errors:?}")))?;
            let mut lang = Language {
                code: (*code).to_owned(),
                name: String::new(),
                decimal: None,
                bundle,
            };
            lang.name = format(&lang, "language-name", None).unwrap_or_else(|| code.to_string());
            lang.decimal = format(&lang, "decimal-separator", None);
            langs.push(lang);
        }
        langs.sort_by_key(|l| l.code != DEFAULT);
        if langs.first().map(|l| l.code.as_str()) != Some(DEFAULT) {
            return Err(I18nError {
                code: DEFAULT.into(),
                message: "the default language file is missing".into(),
            });
        }
        Ok(Self { langs })
    }

    /// Every language, the default first.
    pub fn languages(&self) -> &[Language] {
        &self.langs
    }

    /// The index of a language code (`uk`, `uk-UA`, `UK`).
    pub fn find(&self, code: &str) -> Option<usize> {
        let primary = code.split(['-', '_']).next()?.trim().to_ascii_lowercase();
        self.langs.iter().position(|l| l.code == primary)
    }

    /// The language of a request: explicit choice, cookie, `Accept-Language`.
    pub fn negotiate(
        &self,
        explicit: Option<&str>,
        cookie: Option<&str>,
        accept: Option<&str>,
    ) -> usize {
        if let Some(i) = explicit.and_then(|c| self.find(c)) {
            return i;
        }
        if let Some(i) = cookie.and_then(|c| self.find(c)) {
            return i;
        }
        let mut wanted: Vec<(f32, usize, &str)> = accept
            .unwrap_or("")
            .split(',')
            .take(32)
            .enumerate()
            .filter_map(|(order, part)| {
                let mut it = part.split(';');
                let tag = it.next()?.trim();
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (q > 0.0 && !tag.is_empty()).then_some((q, order, tag))
            })
            .collect();
        wanted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        wanted
            .iter()
            .find_map(|(_, _, tag)| self.find(tag))
            .unwrap_or(0)
    }

    /// A message of language `lang` (falling back to the default language,
    /// then to the key itself).
    pub fn text(&self, lang: usize, key: &str, args: Option<&FluentArgs>) -> String {
        self.langs
            .get(lang)
            .and_then(|l| format(l, key, args))
            .or_else(|| format(&self.langs[0], key, args))
            .unwrap_or_else(|| key.to_owned())
    }

    /// A byte count as the language writes it (`1.5 GiB`, `1,5 ГіБ`).
    pub fn size(&self, lang: usize, bytes: u64) -> String {
        const UNITS: [&str; 6] = [
            "size-b", "size-kib", "size-mib", "size-gib", "size-tib", "size-pib",
        ];
        let (v, unit) = crate::view::scaled(bytes);
        let n = if unit == 0 {
            bytes.to_string()
        } else {
            // Looked up once, at load: a page writes fifty sizes.
            let sep = [self.langs.get(lang), self.langs.first()]
                .into_iter()
                .flatten()
                .find_map(|l| l.decimal.as_deref())
                .unwrap_or("decimal-separator");
            format!("{v:.1}").replace('.', sep)
        };
        let mut args = FluentArgs::new();
        args.set("n", n);
        self.text(lang, UNITS[unit], Some(&args))
    }

    /// A date as the language writes it (`Nov 23, 2026`, `23 листопада 2026`).
    pub fn date(&self, lang: usize, d: &DateTime<Utc>) -> String {
        let mut args = FluentArgs::new();
        args.set("day", d.day().to_string());
        args.set("year", d.year().to_string());
        args.set(
            "month",
            self.text(lang, &format!("month-{}", d.month()), None),
        );
        self.text(lang, "date", Some(&args))
    }
}

fn format(lang: &Language, key: &str, args: Option<&FluentArgs>) -> Option<String> {
    let pattern = lang.bundle.get_message(key)?.value()?;
    let mut errors = Vec::new();
    let out = lang.bundle.format_pattern(pattern, args, &mut errors);
    if !errors.is_empty() {
        tracing::debug!("i18n {}: {key}: {errors:?}", lang.code);
    }
    Some(out.into_owned())
}

/// A link that switches the current page to another language.
#[derive(Debug, Clone, Serialize)]
pub struct LangLink {
    pub code: String,
    pub name: String,
    pub href: String,
    pub current: bool,
}

/// The language of the current request (a request guard; `?lang=` sets the
/// cookie).
#[derive(Debug, Clone)]
pub struct Lang {
    pub index: usize,
    pub code: String,
    /// Links to this page in every language.
    pub links: Vec<LangLink>,
}

impl Lang {
    /// The language of a request, without touching its cookies.
    pub fn of(i18n: &I18n, req: &Request<'_>) -> Self {
        let explicit = req.query_value::<&str>("lang").and_then(Result::ok);
        let cookie = req.cookies().get(COOKIE).map(|c| c.value().to_owned());
        let accept = req.headers().get_one("Accept-Language");
        let index = i18n.negotiate(explicit, cookie.as_deref(), accept);
        let path = req.uri().path().as_str().to_owned();
        let rest: Vec<String> = req
            .uri()
            .query()
            .map(|q| {
                q.as_str()
                    .split('&')
                    .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let links = i18n
            .languages()
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut pairs = rest.clone();
                pairs.push(format!("lang={}", l.code));
                LangLink {
                    code: l.code.clone(),
                    name: l.name.clone(),
                    href: format!("{path}?{}", pairs.join("&")),
                    current: i == index,
                }
            })
            .collect();
        Self {
            index,
            code: i18n.languages()[index].code.clone(),
            links,
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Lang {
    type Error = Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Infallible> {
        let Some(app) = req.rocket().state::<crate::web::App>() else {
            return Outcome::Success(Lang {
                index: 0,
                code: DEFAULT.into(),
                links: Vec::new(),
            });
        };
        let lang = Lang::of(&app.i18n, req);
        let explicit = req.query_value::<&str>("lang").and_then(Result::ok);
        if explicit.and_then(|c| app.i18n.find(c)).is_some() {
            let current = req.cookies().get(COOKIE).map(|c| c.value().to_owned());
            if current.as_deref() != Some(lang.code.as_str()) {
                req.cookies().add(
                    Cookie::build((COOKIE, lang.code.clone()))
                        .path("/")
                        .same_site(SameSite::Lax)
                        .max_age(rocket::time::Duration::days(365)),
                );
            }
        }
        Outcome::Success(lang)
    }
}

/// The template function `t(k="key", lang=lang, …args)`.
pub struct TeraT(pub std::sync::Arc<I18n>);

impl tera::Function for TeraT {
    fn call(&self, args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
        let key = args
            .get("k")
            .and_then(|v| v.as_str())
            .ok_or_else(|| tera::Error::msg("t() needs k=\"message-key\""))?;
        let lang = args
            .get("lang")
            .and_then(|v| v.as_str())
            .and_then(|c| self.0.find(c))
            .unwrap_or(0);
        let mut fargs = FluentArgs::new();
        for (name, value) in args {
            if name == "k" || name == "lang" {
                continue;
            }
            let v: FluentValue = match value {
                tera::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => FluentValue::from(i),
                    (None, Some(f)) => FluentValue::from(f),
                    _ => FluentValue::from(n.to_string()),
                },
                tera::Value::String(s) => FluentValue::from(s.clone()),
                other => FluentValue::from(other.to_string()),
            };
            fargs.set(name.clone(), v);
        }
        Ok(tera::Value::String(self.0.text(lang, key, Some(&fargs))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_file_parses_and_has_every_key_of_the_default() {
        let i18n = I18n::load().unwrap();
        let codes: Vec<&str> = i18n.languages().iter().map(|l| l.code.as_str()).collect();
        assert_eq!(codes[0], "en");
        assert!(codes.contains(&"uk") && codes.contains(&"ja"), "{codes:?}");
        let keys = |src: &str| -> Vec<String> {
            src.lines()
                .filter(|l| !l.starts_with([' ', '#', '*', '[']) && l.contains(" ="))
                .map(|l| l.split(" =").next().unwrap_or("").to_owned())
                .collect()
        };
        let en = SOURCES.iter().find(|(c, _)| *c == "en").unwrap().1;
        for (code, src) in SOURCES {
            let mine = keys(src);
            for k in keys(en) {
                assert!(mine.contains(&k), "{code}.ftl lacks {k}");
            }
        }
    }

    #[test]
    fn language_comes_from_choice_then_cookie_then_accept_language() {
        let i18n = I18n::load().unwrap();
        let code = |i: usize| i18n.languages()[i].code.clone();
        assert_eq!(code(i18n.negotiate(None, None, None)), "en");
        assert_eq!(
            code(i18n.negotiate(None, None, Some("uk-UA,uk;q=0.9,en;q=0.8"))),
            "uk"
        );
        assert_eq!(
            code(i18n.negotiate(None, None, Some("fr;q=0.9, ja;q=0.5, en;q=0.1"))),
            "ja"
        );
        assert_eq!(code(i18n.negotiate(None, None, Some("en;q=0.2, ja"))), "ja");
        assert_eq!(code(i18n.negotiate(None, None, Some("xx, ;;;, q=q"))), "en");
        assert_eq!(code(i18n.negotiate(None, Some("ja"), Some("uk"))), "ja");
        assert_eq!(
            code(i18n.negotiate(Some("uk"), Some("ja"), Some("en"))),
            "uk"
        );
        assert_eq!(code(i18n.negotiate(Some("zz"), Some("ja"), None)), "ja");
    }

    #[test]
    fn plurals_sizes_and_dates_read_naturally_in_each_language() {
        let i18n = I18n::load().unwrap();
        let (en, uk, ja) = (
            i18n.find("en").unwrap(),
            i18n.find("uk").unwrap(),
            i18n.find("ja").unwrap(),
        );
        let count = |lang, n: i64| {
            let mut a = FluentArgs::new();
            a.set("n", n);
            i18n.text(lang, "results-count", Some(&a))
        };
        assert_eq!(count(en, 1), "1 result");
        assert_eq!(count(en, 5), "5 results");
        assert_eq!(count(uk, 1), "1 результат");
        assert_eq!(count(uk, 3), "3 результати");
        assert_eq!(count(uk, 5), "5 результатів");
        assert_eq!(count(uk, 21), "21 результат");
        assert_eq!(count(ja, 5), "5 件の結果");
        let gib = 3 * (1u64 << 29);
        assert_eq!(i18n.size(en, gib), "1.5 GiB");
        assert_eq!(i18n.size(uk, gib), "1,5 ГіБ");
        assert_eq!(i18n.size(ja, 512), "512 B");
        let d = DateTime::from_timestamp(1_795_392_000, 0).unwrap(); // 2026-11-23
        assert_eq!(i18n.date(en, &d), "Nov 23, 2026");
        assert_eq!(i18n.date(uk, &d), "23 листопада 2026");
        assert_eq!(i18n.date(ja, &d), "2026年11月23日");
        // A key only the default has falls back to it; an unknown key shows itself.
        assert_eq!(i18n.text(uk, "no-such-key", None), "no-such-key");
    }
}
