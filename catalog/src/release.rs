//! Release-name parsing, offline: the title, year, season and episodes,
//! resolution, source, codec, language tags and group of names such as
//! `Show.Name.S01E02.1080p.WEB-DL.x264-GRP`, `Show Name - 1x02`,
//! `Movie Title (1999) [2160p]`, `Сериал S02 WEBRip 720p` or
//! `[SubGroup] アニメ - 05 [1080p]`.
//!
//! The name is cut into tokens at dots, underscores, spaces and brackets
//! (keeping `H.264`, `DD5.1` and `5.1` whole); each token is matched
//! against the known tags; the title is what comes before the first tag
//! or the release year. Linear in the name's length, no allocation per
//! tag, no regular expression: it runs for every indexed torrent.

use serde::Serialize;

/// What a release name says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Release {
    /// The title, separators turned to spaces (`Show Name`).
    pub title: String,
    pub year: Option<u16>,
    /// First and last season (`S01-S03`: 1..=3; `S02`: 2..=2).
    pub seasons: Option<(u16, u16)>,
    /// First and last episode (`E01E02`: 1..=2); `None` with `seasons`
    /// set is a season pack.
    pub episodes: Option<(u16, u16)>,
    /// Lines of the picture: 480, 576, 720, 1080, 2160, 4320.
    pub resolution: Option<u16>,
    /// `WEB-DL`, `WEBRip`, `BluRay`, `Remux`, `BDRip`, `HDTV`, `DVDRip`,
    /// `DVD`, `HDRip`, `CAM`, `TS`.
    pub source: Option<&'static str>,
    /// `H.264`, `H.265`, `AV1`, `VP9`, `XviD`, `DivX`, `MPEG-2`.
    pub codec: Option<&'static str>,
    /// ISO 639-1 codes of the language tags, and `multi`.
    pub languages: Vec<&'static str>,
    /// The release group (`-GRP` at the end, `[Group]` at the start).
    pub group: Option<String>,
    /// Anime naming: a `[Group]` first and an episode number or Japanese
    /// text.
    pub anime: bool,
}

impl Release {
    /// Whether the name is of a series (a season or an episode).
    pub fn is_tv(&self) -> bool {
        self.seasons.is_some() || self.episodes.is_some()
    }
}

/// The title as a key for "other releases of this": lower case, letters
/// and digits only, one space between words.
pub fn title_key(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    for word in title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// A stable 64-bit hash (FNV-1a) of [`title_key`], `None` for an empty
/// title: indexed in 8 bytes where the key would take a dictionary string
/// per torrent (two titles sharing a hash only mix their "other releases").
pub fn title_hash(title: &str) -> Option<u64> {
    let key = title_key(title);
    (!key.is_empty()).then(|| {
        key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    })
}

/// Longest name parsed (longer ones are cut: names are at most a few
/// hundred bytes, a crafted one must not cost more).
const MAX_NAME_BYTES: usize = 1024;

const EXTENSIONS: &[&str] = &[
    "mkv", "mp4", "avi", "m4v", "mov", "wmv", "ts", "m2ts", "webm", "mpg", "mpeg", "flv", "torrent",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Part of a title (or unknown).
    Word,
    /// A lone `-` (or `–`, `|`, `/`): a separator inside the title.
    Dash,
    Year(u16),
    /// Seasons and episodes, either possibly absent.
    Episode(Option<(u16, u16)>, Option<(u16, u16)>),
    /// A word that starts a multi-token season/episode phrase.
    SeasonWord,
    EpisodeWord,
    Resolution(u16),
    Source(&'static str),
    Codec(&'static str),
    Language(&'static str),
    /// Any other tag (audio, HDR, streaming service, edition, hash).
    Tag,
}

struct Token<'a> {
    text: &'a str,
    bracketed: bool,
}

/// Whether the `.` at byte `i` of `s` belongs to `5.1`/`2.0`/`H.264`.
fn dot_is_inside(s: &str, i: usize) -> bool {
    let b = s.as_bytes();
    let before = i.checked_sub(1).map(|j| b[j]);
    let after = b.get(i + 1).copied();
    let after2 = b.get(i + 2).copied();
    // H.264 / H.265
    if matches!(before, Some(b'h' | b'H'))
        && after == Some(b'2')
        && s.get(i + 1..i + 4)
            .is_some_and(|t| t == "264" || t == "265")
    {
        let start_ok = i < 2 || !b[i - 2].is_ascii_alphanumeric();
        return start_ok;
    }
    // channels: one digit, dot, one digit (5.1, 7.1, 2.0), the first not
    // after another digit, the second not before one.
    match (before, after) {
        (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
            let lone_before = i < 2 || !b[i - 2].is_ascii_digit();
            let lone_after = !after2.is_some_and(|c| c.is_ascii_alphanumeric());
            lone_before && lone_after && matches!(x, b'1'..=b'9') && matches!(y, b'0' | b'1')
        }
        _ => false,
    }
}

/// Tokens of `s`. Dots separate words only in names without spaces
/// (scene style): `Mr. Robot`, `Ubuntu 24.04` and `YTS.MX` stay whole.
fn tokenize<'a>(s: &'a str) -> Vec<Token<'a>> {
    let dots_separate = !s.contains(' ');
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = None::<usize>;
    let push = |out: &mut Vec<Token<'a>>, from: usize, to: usize, depth: i32| {
        if from < to {
            out.push(Token {
                text: &s[from..to],
                bracketed: depth > 0,
            });
        }
    };
    for (i, c) in s.char_indices() {
        let sep = match c {
            ' ' | '_' | ',' | '+' | '\t' | '~' => true,
            '.' => dots_separate && !dot_is_inside(s, i),
            '(' | '[' | '{' | '（' | '【' | '「' | ')' | ']' | '}' | '）' | '】' | '」' => {
                true
            }
            _ => false,
        };
        if sep {
            if let Some(st) = start.take() {
                push(&mut out, st, i, depth);
            }
            match c {
                '(' | '[' | '{' | '（' | '【' | '「' => depth += 1,
                ')' | ']' | '}' | '）' | '】' | '」' => depth = (depth - 1).max(0),
                _ => {}
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        push(&mut out, st, s.len(), depth);
    }
    out
}

fn number(s: &str) -> Option<u16> {
    (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `a`, `a-b`, `a-Eb`, `aEb` (the letter `e` given): a range of numbers.
fn range(s: &str, letter: char) -> Option<(u16, u16)> {
    let (a, rest) = split_digits(s);
    let first = number(a)?;
    if rest.is_empty() {
        return Some((first, first));
    }
    // E01E02E03 / E01-E03 / E01-03
    let mut last = first;
    let mut rest = rest;
    while !rest.is_empty() {
        let r = rest
            .strip_prefix('-')
            .map(|r| r.strip_prefix(letter).unwrap_or(r))
            .or_else(|| rest.strip_prefix(letter))?;
        let (d, more) = split_digits(r);
        last = number(d)?;
        rest = more;
    }
    (last >= first).then_some((first, last))
}

fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// `s01e02`, `s01e01e02`, `s01e01-e03`, `s01`, `s01-s03`, `s01-03`,
/// `1x02`, `1x02-1x03`, `e05`, `ep05` (lower case).
fn episode_token(t: &str) -> Option<Kind> {
    if let Some(rest) = t.strip_prefix('s') {
        let (d, after) = split_digits(rest);
        let season = number(d)?;
        if after.is_empty() {
            return Some(Kind::Episode(Some((season, season)), None));
        }
        if let Some(eps) = after.strip_prefix('e') {
            let eps = eps.strip_prefix('p').unwrap_or(eps);
            return range(eps, 'e').map(|e| Kind::Episode(Some((season, season)), Some(e)));
        }
        if let Some(r) = after.strip_prefix('-') {
            let r = r.strip_prefix('s').unwrap_or(r);
            let last = number(r)?;
            return (last >= season).then_some(Kind::Episode(Some((season, last)), None));
        }
        return None;
    }
    if let Some(rest) = t.strip_prefix("ep").or_else(|| t.strip_prefix('e')) {
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            return range(rest, 'e').map(|e| Kind::Episode(None, Some(e)));
        }
        return None;
    }
    // 1x02, 1x02-1x03, 1x02-03
    let (d, after) = split_digits(t);
    if d.is_empty() || d.len() > 2 {
        return None;
    }
    let after = after.strip_prefix('x')?;
    let season = number(d)?;
    let (e, more) = split_digits(after);
    let first = number(e).filter(|_| e.len() >= 2)?;
    if more.is_empty() {
        return Some(Kind::Episode(Some((season, season)), Some((first, first))));
    }
    let r = more.strip_prefix('-')?;
    let r = r
        .strip_prefix(d)
        .and_then(|r| r.strip_prefix('x'))
        .unwrap_or(r);
    let last = number(r)?;
    (last >= first).then_some(Kind::Episode(Some((season, season)), Some((first, last))))
}

/// `第05話` (episode) and `第2期` (season).
fn japanese_counter(t: &str) -> Option<Kind> {
    let inner = t.strip_prefix('第')?;
    let (n, kind) = if let Some(n) = inner.strip_suffix('話') {
        (n, 'e')
    } else if let Some(n) = inner.strip_suffix('期') {
        (n, 's')
    } else if let Some(n) = inner.strip_suffix("シーズン") {
        (n, 's')
    } else {
        return None;
    };
    let n = number(n)?;
    Some(if kind == 'e' {
        Kind::Episode(None, Some((n, n)))
    } else {
        Kind::Episode(Some((n, n)), None)
    })
}

fn resolution(t: &str) -> Option<u16> {
    Some(match t {
        "2160p" | "4k" | "uhd" | "2160" | "4kuhd" => 2160,
        "4320p" | "8k" => 4320,
        "1080p" | "1080i" | "fhd" => 1080,
        "720p" | "720i" => 720,
        "576p" | "576i" => 576,
        "480p" | "480i" => 480,
        "360p" => 360,
        _ => {
            // 1920x1080, 1280x720, 3840x2160
            let (w, h) = t.split_once('x')?;
            let (w, h) = (number(w)?, number(h)?);
            if w < 320 {
                return None;
            }
            return Some(match h {
                2000.. => 2160,
                1000..=1999 => 1080,
                700..=999 => 720,
                560..=699 => 576,
                1..=559 => 480,
                _ => return None,
            });
        }
    })
}

fn source(t: &str) -> Option<&'static str> {
    Some(match t {
        "web-dl" | "webdl" | "web" | "web-dlrip" | "webdlrip" => "WEB-DL",
        "webrip" | "web-rip" => "WEBRip",
        "bluray" | "blu-ray" | "bd" | "uhd-bluray" => "BluRay",
        "remux" | "bdremux" => "Remux",
        "bdrip" | "brrip" | "bd-rip" => "BDRip",
        "hdtv" | "hdtvrip" | "pdtv" | "tvrip" | "satrip" | "dvb" => "HDTV",
        "dvdrip" | "dvd-rip" => "DVDRip",
        "dvd" | "dvd5" | "dvd9" | "dvdr" | "dvd-r" => "DVD",
        "hdrip" => "HDRip",
        "cam" | "camrip" | "hdcam" => "CAM",
        "ts" | "hdts" | "telesync" | "tc" | "telecine" => "TS",
        _ => return None,
    })
}

fn codec(t: &str) -> Option<&'static str> {
    Some(match t {
        "x264" | "h264" | "h.264" | "avc" => "H.264",
        "x265" | "h265" | "h.265" | "hevc" => "H.265",
        "av1" => "AV1",
        "vp9" => "VP9",
        "xvid" => "XviD",
        "divx" => "DivX",
        "mpeg2" | "mpeg-2" => "MPEG-2",
        _ => return None,
    })
}

fn language(t: &str) -> Option<&'static str> {
    Some(match t {
        "rus" | "russian" | "рус" => "ru",
        "ukr" | "ukrainian" | "укр" => "uk",
        "eng" | "english" => "en",
        "jap" | "jpn" | "japanese" => "ja",
        "chi" | "chs" | "cht" | "chinese" => "zh",
        "kor" | "korean" => "ko",
        "fre" | "french" | "vff" | "vostfr" | "truefrench" => "fr",
        "ger" | "german" | "deutsch" => "de",
        "ita" | "italian" => "it",
        "spa" | "spanish" | "castellano" | "latino" => "es",
        "por" | "portuguese" => "pt",
        "pol" | "polish" => "pl",
        "multi" | "multi-audio" | "dual-audio" => "multi",
        _ => return None,
    })
}

fn other_tag(t: &str) -> bool {
    const TAGS: &[&str] = &[
        "aac",
        "aac2.0",
        "aac5.1",
        "ac3",
        "dts",
        "dts-hd",
        "dts-x",
        "dd5.1",
        "ddp5.1",
        "dd+5.1",
        "ddp",
        "dd",
        "eac3",
        "truehd",
        "atmos",
        "flac",
        "mp3",
        "opus",
        "5.1",
        "7.1",
        "2.0",
        "hdr",
        "hdr10",
        "hdr10+",
        "dv",
        "dovi",
        "sdr",
        "10bit",
        "10-bit",
        "8bit",
        "hi10p",
        "repack",
        "proper",
        "internal",
        "limited",
        "extended",
        "unrated",
        "remastered",
        "imax",
        "amzn",
        "nf",
        "dsnp",
        "hmax",
        "atvp",
        "hulu",
        "pcok",
        "itunes",
        "complete",
        "subs",
        "multisub",
        "multi-subs",
        "esub",
        "esubs",
        "dubbed",
        "hardsub",
        "softsub",
        "criterion",
        "uncut",
        "nfofix",
        "batch",
        "лицензия",
        "3d",
        "mvo",
        "dvo",
        "avo",
    ];
    TAGS.contains(&t)
}

fn classify(t: &Token<'_>, lower: &str) -> Kind {
    if matches!(lower, "-" | "–" | "—" | "|" | "/" | "::") {
        return Kind::Dash;
    }
    if let Some(n) = number(lower).filter(|n| (1900..=2099).contains(n) && lower.len() == 4) {
        return Kind::Year(n);
    }
    if let Some(k) = episode_token(lower).or_else(|| japanese_counter(lower)) {
        return k;
    }
    if let Some(r) = resolution(lower) {
        return Kind::Resolution(r);
    }
    if let Some(s) = source(lower) {
        return Kind::Source(s);
    }
    if let Some(c) = codec(lower) {
        return Kind::Codec(c);
    }
    if let Some(l) = language(lower) {
        return Kind::Language(l);
    }
    if matches!(
        lower,
        "season" | "сезон" | "сезоны" | "staffel" | "saison" | "temporada"
    ) {
        return Kind::SeasonWord;
    }
    if matches!(
        lower,
        "episode" | "episodes" | "ep" | "серия" | "серии" | "эпизод" | "эпизоды" | "folge"
    ) {
        return Kind::EpisodeWord;
    }
    if other_tag(lower) {
        return Kind::Tag;
    }
    // A CRC in brackets: [ABCD1234].
    if t.bracketed && lower.len() == 8 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Kind::Tag;
    }
    Kind::Word
}

/// `a`, `a-b` as a range of numbers (for `Season 1-3`, `Серии 1-8`).
fn loose_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b) = (number(a)?, number(b)?);
    (a <= b).then_some((a, b))
}

fn has_japanese(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(c, '\u{3040}'..='\u{30FF}' | '\u{4E00}'..='\u{9FFF}' | '\u{FF66}'..='\u{FF9F}')
    })
}

/// Parses a release name (any text: never fails, never panics).
pub fn parse(name: &str) -> Release {
    let mut name = name.trim();
    if name.len() > MAX_NAME_BYTES {
        let mut end = MAX_NAME_BYTES;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name = &name[..end];
    }
    if let Some((stem, ext)) = name.rsplit_once('.') {
        if EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()) && !stem.is_empty() {
            name = stem;
        }
    }
    let mut r = Release::default();
    // A leading [Group] (anime and P2P naming).
    let mut leading_group = false;
    if let Some(rest) = name.strip_prefix('[').or_else(|| name.strip_prefix('【')) {
        if let Some(end) = rest.find([']', '】']) {
            let group = rest[..end].trim();
            let lower = group.to_lowercase();
            let is_tag = resolution(&lower).is_some() || source(&lower).is_some();
            if !group.is_empty() && !is_tag && group.len() <= 64 {
                r.group = Some(group.to_owned());
                leading_group = true;
                let skip = rest[end..].chars().next().map_or(1, char::len_utf8);
                name = rest[end + skip..].trim_start();
            }
        }
    }
    let tokens = tokenize(name);
    let lowers: Vec<String> = tokens
        .iter()
        .map(|t| t.text.trim_matches('.').to_lowercase())
        .collect();
    let mut kinds: Vec<Kind> = tokens
        .iter()
        .zip(&lowers)
        .map(|(t, l)| classify(t, l))
        .collect();
    // A trailing `tag-GROUP` (x264-GRP, WEB-DL-GRP, 1080p-GRP): the tag
    // counts and the rest is the group.
    if let Some(last) = tokens.len().checked_sub(1) {
        if kinds[last] == Kind::Word && !tokens[last].bracketed {
            if let Some(dash) = lowers[last].rfind('-') {
                let (head, tail) = (&lowers[last][..dash], &tokens[last].text[dash + 1..]);
                let head_token = Token {
                    text: head,
                    bracketed: false,
                };
                let k = classify(&head_token, head);
                if k != Kind::Word && !tail.is_empty() && last > 0 {
                    kinds[last] = k;
                    r.group = Some(tail.to_owned());
                }
            }
        }
    }
    // Multi-token phrases: "Season 2", "Season 1-3", "2 сезон",
    // "Серии 1-8", "Episode 5"; "- 05" (anime episode after a dash).
    for i in 0..tokens.len() {
        let next = lowers.get(i + 1).map(String::as_str);
        match kinds[i] {
            Kind::SeasonWord => {
                if let Some(range) = next.and_then(loose_range) {
                    kinds[i] = Kind::Episode(Some(range), None);
                    kinds[i + 1] = Kind::Tag;
                } else if i > 0 {
                    if let Some(n) = number(&lowers[i - 1]).filter(|n| *n < 100) {
                        kinds[i - 1] = Kind::Episode(Some((n, n)), None);
                        kinds[i] = Kind::Tag;
                    }
                }
            }
            Kind::EpisodeWord => {
                if let Some(range) = next.and_then(loose_range) {
                    kinds[i] = Kind::Episode(None, Some(range));
                    kinds[i + 1] = Kind::Tag;
                }
            }
            Kind::Dash => {
                if let Some(n) = next {
                    let plain =
                        n.split_once('v').map_or(
                            n,
                            |(a, b)| {
                                if number(b).is_some() {
                                    a
                                } else {
                                    n
                                }
                            },
                        );
                    if let Some(range) = loose_range(plain).filter(|(a, _)| *a < 1900) {
                        if !tokens[i + 1].bracketed {
                            kinds[i + 1] = Kind::Episode(None, Some(range));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // Anime without a dash: `[Group] Title 05 [1080p]`: a bare number right
    // before the first bracketed tag.
    if leading_group && !kinds.iter().any(|k| matches!(k, Kind::Episode(..))) {
        if let Some(first_tag) = (0..tokens.len()).find(|&i| tokens[i].bracketed) {
            // `[01-26]`: a batch of episodes.
            if kinds[first_tag] == Kind::Word && lowers[first_tag].contains('-') {
                if let Some(range) = loose_range(&lowers[first_tag]).filter(|(_, b)| *b < 1900) {
                    kinds[first_tag] = Kind::Episode(None, Some(range));
                }
            }
            if first_tag > 1 {
                let i = first_tag - 1;
                if kinds[i] == Kind::Word {
                    if let Some(n) = number(&lowers[i]).filter(|n| *n < 1900) {
                        kinds[i] = Kind::Episode(None, Some((n, n)));
                    }
                }
            }
        }
    }
    // Words that are also tags (`Web`, `French`, `Complete`, `TS`) count
    // as tags only after another tag or the year: `Charlotte's Web (2006)`,
    // `The French Connection`.
    let mut seen_tag = false;
    for (i, k) in kinds.iter_mut().enumerate() {
        let ambiguous = match *k {
            Kind::Tag => !tokens[i].bracketed || lowers[i].len() != 8,
            Kind::Language(_) => true,
            Kind::Source(_) => matches!(
                lowers[i].as_str(),
                "web" | "ts" | "tc" | "cam" | "bd" | "dvd"
            ),
            _ => false,
        };
        if ambiguous && !seen_tag {
            *k = Kind::Word;
        }
        if !matches!(
            *k,
            Kind::Word | Kind::Dash | Kind::SeasonWord | Kind::EpisodeWord
        ) {
            seen_tag = true;
        }
    }
    // The year: the last year-like token that is not the first word.
    let year_at = (1..tokens.len())
        .rev()
        .find(|&i| matches!(kinds[i], Kind::Year(_)));
    let first_tag = (0..tokens.len()).find(|&i| {
        !matches!(
            kinds[i],
            Kind::Word | Kind::Dash | Kind::Year(_) | Kind::SeasonWord | Kind::EpisodeWord
        )
    });
    // A bracketed year ends the title even when words come after it.
    let title_end = match (year_at, first_tag) {
        (Some(y), Some(t)) => y.min(t),
        (Some(y), None) => y,
        (None, Some(t)) => t,
        (None, None) => tokens.len(),
    };
    if let Some(y) = year_at {
        if let Kind::Year(n) = kinds[y] {
            r.year = Some(n);
        }
    }
    // The title: words up to its end, stopping at the first bracketed
    // token after a word (`Title [Extra] ...`).
    let mut title = String::new();
    let mut words = 0;
    for t in tokens.iter().take(title_end) {
        if t.bracketed && words > 0 {
            break;
        }
        if t.bracketed {
            continue;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(t.text);
        words += 1;
    }
    let trimmed = title.trim_end_matches([' ', '-', '–', '—', '|', '/', ':']);
    r.title = trimmed.trim_start_matches([' ', '-', '|', '/']).to_owned();
    if r.title.is_empty() {
        // A name of tags only: its first bracketed words.
        r.title = tokens
            .iter()
            .zip(&kinds)
            .take_while(|(_, k)| **k == Kind::Word)
            .map(|(t, _)| t.text)
            .collect::<Vec<_>>()
            .join(" ");
    }
    for k in &kinds {
        match *k {
            Kind::Episode(s, e) => {
                if r.seasons.is_none() {
                    r.seasons = s;
                }
                if r.episodes.is_none() {
                    r.episodes = e;
                }
            }
            Kind::Resolution(x) if r.resolution.is_none() => r.resolution = Some(x),
            // Remux over BluRay: `BluRay.Remux` is a remux.
            Kind::Source(x) if r.source.is_none() || x == "Remux" => r.source = Some(x),
            Kind::Codec(x) if r.codec.is_none() => r.codec = Some(x),
            Kind::Language(l) if !r.languages.contains(&l) => r.languages.push(l),
            _ => {}
        }
    }
    // A trailing [group] in brackets (`[rartv]`), when nothing named one.
    if r.group.is_none() {
        if let (Some(t), Some(Kind::Word)) = (tokens.last(), kinds.last()) {
            if t.bracketed && tokens.len() > 1 && first_tag.is_some() {
                r.group = Some(t.text.to_owned());
            }
        }
    }
    r.anime = leading_group && (r.episodes.is_some() || has_japanese(&r.title));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_episode() {
        let r = parse("Show.Name.S01E02.1080p.WEB-DL.x264-GRP");
        assert_eq!(r.title, "Show Name");
        assert_eq!(r.seasons, Some((1, 1)));
        assert_eq!(r.episodes, Some((2, 2)));
        assert_eq!(r.resolution, Some(1080));
        assert_eq!(r.source, Some("WEB-DL"));
        assert_eq!(r.codec, Some("H.264"));
        assert_eq!(r.group.as_deref(), Some("GRP"));
        assert!(!r.anime);
    }

    #[test]
    fn anime_episode() {
        let r = parse("[SubGroup] アニメ - 05 [1080p].mkv");
        assert_eq!(r.title, "アニメ");
        assert_eq!(r.episodes, Some((5, 5)));
        assert_eq!(r.resolution, Some(1080));
        assert_eq!(r.group.as_deref(), Some("SubGroup"));
        assert!(r.anime);
    }

    #[test]
    fn hostile_names_do_not_panic() {
        for n in [
            "",
            "[",
            "]",
            "[]",
            "-",
            "S",
            "S99999E99999",
            "1x",
            "第話",
            "a-",
            "...",
            "[ä]ö-",
            "S01-S",
            "E1-E",
            "Season",
            "Season 5-1",
            "x-x-x",
        ] {
            let _ = parse(n);
        }
        let long = "a.".repeat(100_000);
        assert!(parse(&long).title.len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn title_keys_ignore_case_and_punctuation() {
        assert_eq!(title_key("Show: The Name!"), title_key("show the name"));
        assert_eq!(title_key("Сериал"), "сериал");
    }
}
