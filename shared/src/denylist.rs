//! Moderation: `data/denylist`, the one list of what an instance does not
//! track, crawl or show, read by all three roles.
//!
//! One entry per line, `#` starts a comment line:
//!
//! ```text
//! # a takedown request of 2026-11-02
//! 0123456789abcdef0123456789abcdef01234567 DMCA notice 42
//! magnet:?xt=urn:btih:AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYU&dn=x spam
//! name: some words
//! name: /regular\s+expression/
//! ```
//!
//! A hash line is a 40-hex or 32-base32 info-hash, or a magnet link, and
//! optionally a reason after it (shown on the "removed" page). A `name:`
//! line is a case-insensitive rule matched against torrent names and file
//! paths: plain words match as whole words in that order (anything that is
//! not a letter or digit may separate them: `some.words`, `Some_Words`), a
//! pattern between slashes is a regular expression. With `safe_mode` on, a
//! shipped list of name rules for adult content applies as well.
//!
//! [`Moderation`] keeps the list loaded, reloads it when the file changes
//! (file watcher) and on SIGHUP, and is shared by every role of a process.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use ahash::AHashMap;
use parking_lot::{Mutex, RwLock};

use crate::layout::DataDir;
use crate::InfoHash;

/// The file name of the denylist in the data directory.
pub const FILE_NAME: &str = "denylist";
/// Most name rules (beyond, lines are reported and skipped).
pub const MAX_NAME_RULES: usize = 10_000;
/// Most bytes of compiled name rules.
const REGEX_SIZE_LIMIT: usize = 64 << 20;
/// Largest denylist file read (a million entries with reasons fit easily).
pub const MAX_FILE_BYTES: u64 = 512 << 20;
/// Longest reason kept (longer ones are cut at a character boundary).
const MAX_REASON: usize = 500;
/// Longest name rule.
const MAX_RULE: usize = 1_000;

/// The name rules shipped for `safe_mode` (adult content), in denylist syntax.
pub const SAFE_MODE_RULES: &str = include_str!("safe_mode.denylist");

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A denied info-hash, with the reason given, if any.
    Hash(InfoHash, Option<String>),
    /// A name rule as written after `name:`.
    Name(String),
}

/// Why a line was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// Parses one non-comment line.
pub fn parse_line(line: &str) -> Result<Option<Entry>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    if let Some(rule) = strip_prefix_ci(line, "name:") {
        let rule = rule.trim();
        if rule.is_empty() {
            return Err("a name rule needs a pattern after `name:`".into());
        }
        compile_rule(rule)?;
        return Ok(Some(Entry::Name(rule.to_owned())));
    }
    let (first, rest) = line
        .split_once(char::is_whitespace)
        .map_or((line, ""), |(a, b)| (a, b.trim()));
    let hash = parse_target(first)?;
    let reason = (!rest.is_empty()).then(|| cut(rest, MAX_REASON).to_owned());
    Ok(Some(Entry::Hash(hash, reason)))
}

/// An info-hash given as 40 hex, 32 base32 or a magnet link.
pub fn parse_target(s: &str) -> Result<InfoHash, String> {
    let s = s.trim();
    if let Some(query) = strip_prefix_ci(s, "magnet:?") {
        for param in query.split('&') {
            let Some(xt) = strip_prefix_ci(param, "xt=") else {
                continue;
            };
            let xt = xt.replace("%3A", ":").replace("%3a", ":");
            if let Some(h) = strip_prefix_ci(&xt, "urn:btih:") {
                return h
                    .parse()
                    .map_err(|e| format!("the magnet link's info-hash `{h}`: {e}"));
            }
        }
        return Err("the magnet link has no `xt=urn:btih:` info-hash".into());
    }
    s.parse().map_err(|e| {
        format!(
            "`{}` is not an info-hash (40 hex or 32 base32 characters) nor a magnet link: {e}",
            cut(s, 60)
        )
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Han, kana and Hangul: scripts written without spaces, where a rule's
/// word is matched anywhere, not only between separators.
fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

/// A name rule, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// Plain words: a literal searched in [`normalize`]d text.
    Words(String),
    /// A regular expression (case-insensitive) on the text as it is.
    Regex(String),
}

/// Checks and compiles one rule as written after `name:`.
fn compile_rule(rule: &str) -> Result<Rule, String> {
    if rule.len() > MAX_RULE {
        return Err(format!("a name rule is at most {MAX_RULE} bytes"));
    }
    if let Some(inner) = rule
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix('/'))
        .filter(|r| !r.is_empty())
    {
        let full = format!("(?i:{inner})");
        regex::RegexBuilder::new(&full)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| format!("bad name rule `{}`: {e}", cut(rule, 80)))?;
        return Ok(Rule::Regex(full));
    }
    let mut words = String::new();
    normalize(rule, &mut words);
    let core = words.trim();
    if core.is_empty() {
        return Err(format!(
            "the name rule `{}` has no letter or digit (a regular expression goes between slashes)",
            cut(rule, 80)
        ));
    }
    // Whole words: bounded by the separators normalize() puts around
    // every word, except at an unspaced script's edge.
    let mut literal = String::with_capacity(core.len() + 2);
    if !core.starts_with(unspaced) {
        literal.push(' ');
    }
    literal.push_str(core);
    if !core.ends_with(unspaced) {
        literal.push(' ');
    }
    Ok(Rule::Words(literal))
}

/// Lower-case letters and digits, every run of anything else one space,
/// with a space at both ends: `Some.BAD_words!` is ` some bad words `.
fn normalize(text: &str, out: &mut String) {
    out.clear();
    out.push(' ');
    let mut space = true;
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if !space {
        out.push(' ');
    }
}

/// The info-hashes of a list: sorted, with a start offset per 16-bit
/// prefix and a bitmap of the prefixes in use, so a hash that is not
/// listed (nearly every lookup) is usually answered from the bitmap, small
/// enough to stay in cache, and one that is costs a short search in one
/// contiguous run. 20 bytes per hash plus a few MiB.
#[derive(Default)]
struct HashIndex {
    sorted: Vec<InfoHash>,
    /// `starts[p]..starts[p + 1]`: the hashes whose first two bytes are `p`.
    starts: Vec<u32>,
    /// Bit `b` is set when a listed hash's top `filter_bits` bits are `b`.
    filter: Vec<u64>,
    filter_bits: u32,
}

impl HashIndex {
    fn new(mut sorted: Vec<InfoHash>) -> Self {
        if sorted.is_empty() {
            return Self::default();
        }
        sorted.sort_unstable();
        sorted.dedup();
        // About 16 filter bits per hash: roughly 1 lookup in 16 of an
        // unlisted hash goes past the bitmap.
        let filter_bits = (usize::BITS - sorted.len().leading_zeros() + 4).clamp(12, 28);
        let mut filter = vec![0u64; (1usize << filter_bits) / 64];
        let mut starts = vec![0u32; (1 << 16) + 1];
        for h in &sorted {
            let top = Self::top(h);
            let bit = (top >> (64 - filter_bits)) as usize;
            filter[bit / 64] |= 1 << (bit % 64);
            starts[(top >> 48) as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        Self {
            sorted,
            starts,
            filter,
            filter_bits,
        }
    }

    fn top(h: &InfoHash) -> u64 {
        let mut head = [0u8; 8];
        head.copy_from_slice(&h.0[..8]);
        u64::from_be_bytes(head)
    }

    fn contains(&self, h: &InfoHash) -> bool {
        if self.sorted.is_empty() {
            return false;
        }
        let top = Self::top(h);
        let bit = (top >> (64 - self.filter_bits)) as usize;
        if self.filter[bit / 64] & (1 << (bit % 64)) == 0 {
            return false;
        }
        let p = (top >> 48) as usize;
        let (lo, hi) = (self.starts[p] as usize, self.starts[p + 1] as usize);
        self.sorted[lo..hi].binary_search(h).is_ok()
    }
}

/// A parsed denylist.
#[derive(Default)]
pub struct Denylist {
    hashes: HashIndex,
    /// Reasons, for the hashes that have one.
    reasons: AHashMap<InfoHash, Box<str>>,
    /// The name rules as written.
    rules: Vec<String>,
    /// Plain-word rules: one automaton over normalized text; pattern `i`
    /// is rule `words_rule[i]`.
    words: Option<aho_corasick::AhoCorasick>,
    words_rule: Vec<usize>,
    /// Regular-expression rules; pattern `i` is rule `regex_rule[i]`.
    regexes: Option<regex::RegexSet>,
    regex_rule: Vec<usize>,
}

impl std::fmt::Debug for Denylist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Denylist")
            .field("hashes", &self.hashes.sorted.len())
            .field("rules", &self.rules)
            .finish()
    }
}

thread_local! {
    /// Scratch space for normalized names.
    static NORMALIZED: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Denylist {
    /// Parses a denylist (plus the safe-mode rules when asked); lines that
    /// cannot be used are returned beside it, the rest applies.
    pub fn parse(text: &str, safe_mode: bool) -> (Self, Vec<LineError>) {
        let mut list = Denylist::default();
        let mut errors = Vec::new();
        let mut hashes = Vec::new();
        let (mut words, mut regexes) = (Vec::new(), Vec::new());
        let safe = if safe_mode { SAFE_MODE_RULES } else { "" };
        // Safe-mode rules are numbered after the file's lines in errors.
        for (n, line) in text.lines().chain(safe.lines()).enumerate() {
            match parse_line(line) {
                Ok(None) => {}
                Ok(Some(Entry::Hash(h, reason))) => {
                    hashes.push(h);
                    if let Some(r) = reason {
                        list.reasons.insert(h, r.into_boxed_str());
                    }
                }
                Ok(Some(Entry::Name(rule))) => {
                    if list.rules.len() >= MAX_NAME_RULES {
                        errors.push(LineError {
                            line: n + 1,
                            message: format!("more than {MAX_NAME_RULES} name rules"),
                        });
                        continue;
                    }
                    if list.rules.contains(&rule) {
                        continue;
                    }
                    // Checked by parse_line.
                    let Ok(compiled) = compile_rule(&rule) else {
                        continue;
                    };
                    match compiled {
                        Rule::Words(w) => {
                            words.push(w);
                            list.words_rule.push(list.rules.len());
                        }
                        Rule::Regex(r) => {
                            regexes.push(r);
                            list.regex_rule.push(list.rules.len());
                        }
                    }
                    list.rules.push(rule);
                }
                Err(message) => errors.push(LineError {
                    line: n + 1,
                    message,
                }),
            }
        }
        list.hashes = HashIndex::new(hashes);
        if !words.is_empty() {
            match aho_corasick::AhoCorasick::new(&words) {
                Ok(ac) => list.words = Some(ac),
                Err(e) => errors.push(LineError {
                    line: 0,
                    message: format!("the plain name rules together are too large: {e}"),
                }),
            }
        }
        if !regexes.is_empty() {
            match regex::RegexSetBuilder::new(&regexes)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
            {
                Ok(set) => list.regexes = Some(set),
                Err(e) => errors.push(LineError {
                    line: 0,
                    message: format!(
                        "the regular-expression name rules together are too large: {e}"
                    ),
                }),
            }
        }
        (list, errors)
    }

    /// Whether this info-hash is denied.
    pub fn denies_hash(&self, hash: &InfoHash) -> bool {
        self.hashes.contains(hash)
    }

    /// The reason given for a denied hash.
    pub fn reason(&self, hash: &InfoHash) -> Option<&str> {
        self.reasons.get(hash).map(|r| &**r)
    }

    /// The first name rule that matches `text`, as written.
    pub fn name_rule_for(&self, text: &str) -> Option<&str> {
        if let Some(ac) = &self.words {
            let found = NORMALIZED.with(|buf| {
                let mut buf = buf.borrow_mut();
                normalize(text, &mut buf);
                ac.find(buf.as_str()).map(|m| m.pattern().as_usize())
            });
            if let Some(i) = found {
                return self.rules.get(self.words_rule[i]).map(String::as_str);
            }
        }
        let set = self.regexes.as_ref()?;
        let first = set.matches(text).into_iter().next()?;
        self.rules.get(self.regex_rule[first]).map(String::as_str)
    }

    /// The first name rule matching the name or any of the paths.
    pub fn torrent_rule<'a, I>(&self, name: &str, paths: I) -> Option<&str>
    where
        I: IntoIterator<Item = &'a str>,
    {
        if self.rules.is_empty() {
            return None;
        }
        if let Some(rule) = self.name_rule_for(name) {
            return Some(rule);
        }
        paths.into_iter().find_map(|p| self.name_rule_for(p))
    }

    /// The first name rule matching a torrent's name or file paths.
    pub fn torrent_meta_rule(&self, meta: &crate::TorrentMeta) -> Option<&str> {
        self.torrent_rule(
            &meta.name,
            meta.files.iter().filter_map(|f| f.path.to_str()),
        )
    }

    /// Denied hashes, in order.
    pub fn hashes(&self) -> impl Iterator<Item = &InfoHash> {
        self.hashes.sorted.iter()
    }

    /// How many hashes are denied.
    pub fn hash_count(&self) -> usize {
        self.hashes.sorted.len()
    }

    /// The name rules as written.
    pub fn rules(&self) -> &[String] {
        &self.rules
    }
}

thread_local! {
    /// The list a thread last read, per handle: a lookup reads the handle's
    /// generation (a shared, read-mostly word) and takes no lock unless the
    /// list changed.
    static CACHED: RefCell<Option<(usize, u64, Arc<Denylist>)>> = const { RefCell::new(None) };
}

/// A loaded denylist, reloaded when its file changes or on SIGHUP.
pub struct Moderation {
    path: PathBuf,
    safe_mode: bool,
    current: RwLock<Arc<Denylist>>,
    /// Bumped on every reload that changed the list.
    generation: AtomicU64,
    /// Whether any hash is listed (without one, a lookup is one load).
    any_hash: AtomicBool,
    /// SHA-1 of the file's content at the last load (a reload of the same
    /// content changes nothing).
    loaded: Mutex<Option<[u8; 20]>>,
    _watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

impl std::fmt::Debug for Moderation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moderation")
            .field("path", &self.path)
            .field("safe_mode", &self.safe_mode)
            .finish()
    }
}

type Registry = Mutex<HashMap<(PathBuf, bool), Weak<Moderation>>>;

fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

impl Moderation {
    /// The denylist of a data directory: one per process and directory
    /// (the roles of `up` share it), loaded now and watched from here on.
    pub fn for_data_dir(data: &DataDir, safe_mode: bool) -> Arc<Self> {
        let path = data.root().join(FILE_NAME);
        let key = (path.clone(), safe_mode);
        let mut reg = registry().lock();
        reg.retain(|_, m| m.strong_count() > 0);
        if let Some(m) = reg.get(&key).and_then(Weak::upgrade) {
            return m;
        }
        let m = Arc::new(Self::unwatched(path, safe_mode));
        m.watch();
        reg.insert(key, Arc::downgrade(&m));
        m
    }

    /// A list read from `path` now, reloaded only by [`Moderation::reload`].
    pub fn unwatched(path: PathBuf, safe_mode: bool) -> Self {
        let m = Self {
            path,
            safe_mode,
            current: RwLock::new(Arc::new(Denylist::default())),
            generation: AtomicU64::new(0),
            any_hash: AtomicBool::new(false),
            loaded: Mutex::new(None),
            _watcher: Mutex::new(None),
        };
        if let Err(e) = m.reload() {
            tracing::warn!(path = %m.path.display(), "cannot read the denylist: {e}");
        }
        m
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes each time the list does.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The list in force.
    pub fn current(&self) -> Arc<Denylist> {
        self.current.read().clone()
    }

    /// Whether `hash` is denied: no lock, and one shared read when the list
    /// has not changed since this thread last looked.
    pub fn denies_hash(&self, hash: &InfoHash) -> bool {
        self.any_hash.load(Ordering::Relaxed) && self.with_current(|l| l.denies_hash(hash))
    }

    /// Runs `f` on the list in force, cached per thread.
    pub fn with_current<R>(&self, f: impl FnOnce(&Denylist) -> R) -> R {
        let me = self as *const Self as usize;
        let generation = self.generation();
        CACHED.with(|cell| {
            let mut cached = cell.borrow_mut();
            match &*cached {
                Some((id, g, list)) if *id == me && *g == generation => f(list),
                _ => {
                    let list = self.current();
                    let out = f(&list);
                    *cached = Some((me, generation, list));
                    out
                }
            }
        })
    }

    /// Re-reads the file (a missing file is an empty list); on a read error
    /// the list in force stays. Returns whether the list changed.
    pub fn reload(&self) -> io::Result<bool> {
        let bytes = match read_bounded(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let digest: [u8; 20] = {
            use sha1::Digest;
            sha1::Sha1::digest(&bytes).into()
        };
        let mut loaded = self.loaded.lock();
        if *loaded == Some(digest) {
            return Ok(false);
        }
        let text = String::from_utf8_lossy(&bytes);
        let (list, errors) = Denylist::parse(&text, self.safe_mode);
        for e in &errors {
            tracing::warn!(path = %self.path.display(), "denylist: {e}");
        }
        tracing::info!(
            path = %self.path.display(),
            hashes = list.hash_count(),
            name_rules = list.rules().len(),
            "denylist loaded"
        );
        drop(text);
        drop(bytes);
        let any_hash = list.hash_count() > 0;
        *self.current.write() = Arc::new(list);
        self.any_hash.store(any_hash, Ordering::Release);
        *loaded = Some(digest);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }

    /// Starts the file watcher and, inside a Tokio runtime, the SIGHUP
    /// handler; both stop when the last handle is dropped.
    fn watch(self: &Arc<Self>) {
        use notify::{RecursiveMode, Watcher};
        let weak = Arc::downgrade(self);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let relevant = crate::watch::concerns(&event, |n| n == FILE_NAME);
            if let (true, Some(m)) = (relevant, weak.upgrade()) {
                if let Err(e) = m.reload() {
                    tracing::warn!(path = %m.path.display(), "denylist reload failed: {e}");
                }
            }
        });
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        match watcher {
            Ok(mut w) => {
                let _ = std::fs::create_dir_all(&dir);
                match w.watch(&dir, RecursiveMode::NonRecursive) {
                    Ok(()) => *self._watcher.lock() = Some(w),
                    Err(e) => tracing::warn!(
                        "cannot watch {} for denylist changes (SIGHUP reloads it): {e}",
                        dir.display()
                    ),
                }
            }
            Err(e) => tracing::warn!("cannot watch the denylist (SIGHUP reloads it): {e}"),
        }
        #[cfg(unix)]
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(self);
            rt.spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut hup) = signal(SignalKind::hangup()) else {
                    return;
                };
                while hup.recv().await.is_some() {
                    let Some(m) = weak.upgrade() else { return };
                    tracing::info!("SIGHUP: reloading the denylist");
                    if let Err(e) = m.reload() {
                        tracing::warn!(path = %m.path.display(), "denylist reload failed: {e}");
                    }
                }
            });
        }
    }
}

fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_FILE_BYTES >> 20),
        ));
    }
    Ok(bytes)
}

/// What [`edit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Added,
    /// The entry was there already (its reason is updated when one is given).
    AlreadyThere,
    Removed,
    NotThere,
}

/// Adds or removes entries of the denylist file, atomically and under an
/// exclusive lock (two `magnetar block` at once both land): `add` appends
/// (or updates the reason of) a hash or name rule, `remove` drops every
/// line of that hash or rule. Comments and other lines are kept as written.
pub fn edit(path: &Path, change: &Entry, remove: bool) -> io::Result<Edit> {
    let _lock = FileLock::exclusive(&path.with_file_name(format!(".{FILE_NAME}.lock")))?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let same = |line: &str| -> bool {
        match (parse_line(line), change) {
            (Ok(Some(Entry::Hash(h, _))), Entry::Hash(want, _)) => h == *want,
            (Ok(Some(Entry::Name(r))), Entry::Name(want)) => r == *want,
            _ => false,
        }
    };
    let mut out = String::with_capacity(text.len() + 100);
    let mut found = false;
    for line in text.lines() {
        if same(line) {
            if remove || found {
                found = true;
                continue;
            }
            found = true;
            match change {
                Entry::Hash(h, Some(reason)) => {
                    let _ = writeln!(out, "{h} {reason}");
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    let result = match (remove, found) {
        (true, true) => Edit::Removed,
        (true, false) => return Ok(Edit::NotThere),
        (false, true) => Edit::AlreadyThere,
        (false, false) => {
            match change {
                Entry::Hash(h, Some(reason)) => writeln!(out, "{h} {reason}"),
                Entry::Hash(h, None) => writeln!(out, "{h}"),
                Entry::Name(rule) => writeln!(out, "name: {rule}"),
            }
            .map_err(io::Error::other)?;
            Edit::Added
        }
    };
    if out != text {
        crate::write_atomic(path, out.as_bytes())?;
    }
    Ok(result)
}

/// An exclusive advisory lock on a file, released on drop.
struct FileLock(std::fs::File);

impl FileLock {
    fn exclusive(path: &Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        file.lock()?;
        Ok(Self(file))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn hashes_magnets_reasons_and_bad_lines() {
        let b = InfoHash([0xbb; 20]);
        let text = format!(
            "# comment\n\n{A} DMCA notice 42\nmagnet:?dn=x&xt=urn:btih:{} \n{}\nnot-a-hash because\nname:\n",
            b.to_base32(),
            "c".repeat(40).to_uppercase(),
        );
        let (list, errors) = Denylist::parse(&text, false);
        let a: InfoHash = A.parse().unwrap();
        assert!(list.denies_hash(&a) && list.denies_hash(&b));
        assert!(list.denies_hash(&InfoHash([0xcc; 20])));
        assert!(!list.denies_hash(&InfoHash([0xdd; 20])));
        assert_eq!(list.reason(&a), Some("DMCA notice 42"));
        assert_eq!(list.reason(&b), None);
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            [6, 7],
            "{errors:?}"
        );
        assert!(errors[0].message.contains("not an info-hash"));
        assert!(parse_target("magnet:?dn=nohash").is_err());
    }

    #[test]
    fn the_hash_index_finds_exactly_the_listed_hashes() {
        // Hashes that share prefixes (same 16-bit bucket, same filter bit)
        // and spread ones, against a plain set.
        let mut listed = Vec::new();
        for i in 0u32..20_000 {
            let mut h = [0u8; 20];
            h[..4].copy_from_slice(&(i.wrapping_mul(2_654_435_761)).to_be_bytes());
            h[19] = (i % 7) as u8;
            listed.push(InfoHash(h));
            if i % 3 == 0 {
                h[19] = 0xff;
                h[10] = 1;
                listed.push(InfoHash(h));
            }
        }
        let set: std::collections::HashSet<InfoHash> = listed.iter().copied().collect();
        let index = HashIndex::new(listed.clone());
        assert_eq!(index.sorted.len(), set.len());
        for h in &listed {
            assert!(index.contains(h));
        }
        for i in 0u32..20_000 {
            let mut h = [0u8; 20];
            h[..4].copy_from_slice(&(i.wrapping_mul(2_654_435_761)).to_be_bytes());
            h[19] = 0x80 | (i % 7) as u8;
            let h = InfoHash(h);
            assert_eq!(index.contains(&h), set.contains(&h));
        }
        assert!(!HashIndex::default().contains(&InfoHash([0; 20])));
    }

    #[test]
    fn plain_rules_match_whole_words_in_order_and_regex_rules_as_written() {
        let (list, errors) =
            Denylist::parse("name: bad words\nname: /^spam[0-9]+$/\nname: 成人\n", false);
        assert!(errors.is_empty(), "{errors:?}");
        // Whole words, any separator, any case.
        assert_eq!(list.name_rule_for("Some.BAD.Words.2024"), Some("bad words"));
        assert_eq!(list.name_rule_for("x_bad_words_y"), Some("bad words"));
        assert_eq!(list.name_rule_for("bad words"), Some("bad words"));
        assert_eq!(list.name_rule_for("badwords"), None);
        assert_eq!(list.name_rule_for("words bad"), None);
        assert_eq!(list.name_rule_for("badder words"), None);
        // A regular expression as written, case-insensitive.
        assert_eq!(list.name_rule_for("SPAM42"), Some("/^spam[0-9]+$/"));
        assert_eq!(list.name_rule_for("a spam42"), None);
        // Unspaced scripts match inside a longer word.
        assert_eq!(list.name_rule_for("成人映画"), Some("成人"));
        // Paths count as well as the name.
        assert_eq!(
            list.torrent_rule("Fine", ["ok.txt", "dir/bad-words.txt"]),
            Some("bad words")
        );
        assert_eq!(list.torrent_rule("Fine", ["ok.txt"]), None);
        assert!(Denylist::parse("name: /(/\n", false).1[0]
            .message
            .contains("bad name rule"));
        assert!(Denylist::parse("name: !!!\n", false).1[0]
            .message
            .contains("no letter or digit"));
    }

    #[test]
    fn safe_mode_adds_the_shipped_rules() {
        let name = "Some.XXX.Movie.1080p";
        assert_eq!(Denylist::parse("", false).0.name_rule_for(name), None);
        let (safe, errors) = Denylist::parse("", true);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(safe.name_rule_for(name).is_some());
        assert_eq!(safe.name_rule_for("Ubuntu 24.04 desktop amd64"), None);
    }

    #[test]
    fn edits_are_idempotent_and_keep_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "# keep me\nname: old\n").unwrap();
        let a: InfoHash = A.parse().unwrap();
        let add = Entry::Hash(a, Some("takedown".into()));
        assert_eq!(edit(&path, &add, false).unwrap(), Edit::Added);
        assert_eq!(edit(&path, &add, false).unwrap(), Edit::AlreadyThere);
        let rule = Entry::Name("new words".into());
        assert_eq!(edit(&path, &rule, false).unwrap(), Edit::Added);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("# keep me\nname: old\n{A} takedown\nname: new words\n")
        );
        assert_eq!(
            edit(&path, &Entry::Hash(a, None), true).unwrap(),
            Edit::Removed
        );
        assert_eq!(
            edit(&path, &Entry::Hash(a, None), true).unwrap(),
            Edit::NotThere
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# keep me\nname: old\nname: new words\n"
        );
    }

    #[test]
    fn a_reload_swaps_the_list_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let m = Moderation::unwatched(path.clone(), false);
        let a: InfoHash = A.parse().unwrap();
        assert!(!m.denies_hash(&a));
        let g = m.generation();
        std::fs::write(&path, format!("{A}\n")).unwrap();
        assert!(m.reload().unwrap());
        assert!(m.generation() > g);
        assert!(m.denies_hash(&a), "the per-thread cache follows the change");
        assert!(!m.reload().unwrap(), "same content: no change");
        std::fs::remove_file(&path).unwrap();
        assert!(m.reload().unwrap());
        assert!(!m.denies_hash(&a));
    }
}
