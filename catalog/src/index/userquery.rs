//! The query language users type, parsed here (not by Tantivy's parser) so
//! that each word can be looked up through both analyzers, the last word as
//! a prefix and long words with one typo, each ranked below an exact match.
//!
//! Syntax: words (all must match), `"a phrase"`, `+must`, `-not` / `NOT x`,
//! `a OR b` (binds tighter than the implicit AND), `( ... )`, and a field
//! before a word or phrase: `name:`, `file:`, `comment:`, `created_by:`,
//! `trackers:`. Nothing in it scans the whole term dictionary: there are no
//! ranges, sets or regular expressions, and a prefix expands to at most
//! [`PREFIX_EXPANSIONS`] terms.

use std::sync::Arc;

use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, PhrasePrefixQuery,
    PhraseQuery, Query, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::Token;
use tantivy::{Searcher, Term};

use super::analysis::{analyze, folded_token, is_cjk, Mode};
use super::phrase::DensePhrase;
use super::schema::Fields;
use super::search::PREFIX_UNTIL_DOCS;
use super::topk::SortCache;

/// Most terms a prefix (the last word) expands to.
pub const PREFIX_EXPANSIONS: u32 = 50;
/// Shortest word (in characters) that tolerates a typo.
pub const FUZZY_MIN_CHARS: usize = 5;
/// Shortest last word (in characters) looked up as a prefix, except a
/// single CJK character.
pub const PREFIX_MIN_CHARS: usize = 2;

/// Boosts: an exact form above a folded or stemmed one, both above a
/// prefix, a typo last; the name above file paths above the rest.
const BOOST_EXACT_NAME: f32 = 4.0;
const BOOST_FOLDED_NAME: f32 = 2.0;
const BOOST_FILE: f32 = 1.0;
const BOOST_OTHER: f32 = 0.3;
const BOOST_PREFIX_EXACT: f32 = 1.2;
const BOOST_PREFIX_FOLDED: f32 = 0.8;
const BOOST_PREFIX_FILE: f32 = 0.3;
const BOOST_FUZZY_NAME: f32 = 0.5;
const BOOST_FUZZY_FILE: f32 = 0.2;

/// Which fields a word is looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    All,
    Name,
    File,
    Comment,
    CreatedBy,
    Trackers,
}

impl Scope {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "name" | "title" => Self::Name,
            "file" | "files" => Self::File,
            "comment" => Self::Comment,
            "created_by" => Self::CreatedBy,
            "trackers" | "tracker" => Self::Trackers,
            _ => return None,
        })
    }
}

#[derive(Debug, PartialEq)]
enum Lex {
    Open,
    Close,
    Or,
    And,
    Not,
    Plus,
    Minus,
    Item {
        scope: Scope,
        text: String,
        quoted: bool,
    },
}

fn lex(q: &str) -> Vec<Lex> {
    let mut out = Vec::new();
    let mut chars = q.chars().peekable();
    let quoted = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        let mut s = String::new();
        for c in chars.by_ref() {
            if c == '"' {
                break;
            }
            s.push(c);
        }
        s
    };
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Lex::Open);
            }
            ')' => {
                chars.next();
                out.push(Lex::Close);
            }
            '"' => {
                chars.next();
                let text = quoted(&mut chars);
                out.push(Lex::Item {
                    scope: Scope::All,
                    text,
                    quoted: true,
                });
            }
            '+' | '-' => {
                chars.next();
                if chars.peek().is_some_and(|n| !n.is_whitespace()) {
                    out.push(if c == '+' { Lex::Plus } else { Lex::Minus });
                }
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '"') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                let field = word
                    .split_once(':')
                    .and_then(|(f, rest)| Some((Scope::parse(f)?, rest.to_owned())));
                match (word.as_str(), field) {
                    ("OR" | "||", _) => out.push(Lex::Or),
                    ("AND" | "&&", _) => out.push(Lex::And),
                    ("NOT", _) => out.push(Lex::Not),
                    (_, Some((scope, rest))) if rest.is_empty() => {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            let text = quoted(&mut chars);
                            out.push(Lex::Item {
                                scope,
                                text,
                                quoted: true,
                            });
                        }
                    }
                    (_, Some((scope, rest))) => out.push(Lex::Item {
                        scope,
                        text: rest,
                        quoted: false,
                    }),
                    (_, None) => out.push(Lex::Item {
                        scope: Scope::All,
                        text: word,
                        quoted: false,
                    }),
                }
            }
        }
    }
    out
}

/// One word or phrase to look up, analyzed once when parsed.
#[derive(Debug, Clone, PartialEq)]
struct Leaf {
    scope: Scope,
    quoted: bool,
    /// The last word typed: also looked up as a prefix.
    last: bool,
    /// Its tokens under the exact and the folded analyzer.
    exact: Vec<Token>,
    folded: Vec<Token>,
}

impl Leaf {
    fn new(scope: Scope, text: &str, quoted: bool, last: bool) -> Self {
        Self {
            scope,
            quoted,
            last,
            exact: tokens(text, Mode::EXACT_QUERY),
            folded: tokens(text, Mode::FOLDED_QUERY),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Leaf(Leaf),
    /// Clauses that must (not) match.
    All(Vec<(Occur, Node)>),
    /// Alternatives (`OR`).
    Any(Vec<Node>),
}

struct Parser {
    lex: std::vec::IntoIter<Lex>,
    peeked: Option<Lex>,
    items_left: usize,
}

impl Parser {
    fn peek(&mut self) -> Option<&Lex> {
        if self.peeked.is_none() {
            self.peeked = self.lex.next();
        }
        self.peeked.as_ref()
    }

    fn next(&mut self) -> Option<Lex> {
        self.peek();
        self.peeked.take()
    }

    fn seq(&mut self) -> Vec<(Occur, Node)> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(Lex::Close) => break,
                Some(Lex::And | Lex::Or) => {
                    self.next();
                }
                Some(_) => {
                    let Some((occur, mut node)) = self.unary() else {
                        continue;
                    };
                    while self.peek() == Some(&Lex::Or) {
                        self.next();
                        if let Some((_, other)) = self.unary() {
                            node = match node {
                                Node::Any(mut v) => {
                                    v.push(other);
                                    Node::Any(v)
                                }
                                n => Node::Any(vec![n, other]),
                            };
                        }
                    }
                    out.push((occur, node));
                }
            }
        }
        out
    }

    fn unary(&mut self) -> Option<(Occur, Node)> {
        let occur = match self.peek() {
            Some(Lex::Plus) => {
                self.next();
                Occur::Must
            }
            Some(Lex::Minus | Lex::Not) => {
                self.next();
                Occur::MustNot
            }
            _ => Occur::Must,
        };
        self.primary().map(|n| (occur, n))
    }

    fn primary(&mut self) -> Option<Node> {
        match self.next()? {
            Lex::Open => {
                let inner = self.seq();
                if self.peek() == Some(&Lex::Close) {
                    self.next();
                }
                Some(Node::All(inner))
            }
            Lex::Item {
                scope,
                text,
                quoted,
            } => {
                self.items_left -= 1;
                Some(Node::Leaf(Leaf::new(
                    scope,
                    &text,
                    quoted,
                    self.items_left == 0,
                )))
            }
            // A stray `)`, operator or sign: skipped.
            _ => None,
        }
    }
}

/// The parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct UserQuery {
    root: Node,
}

/// One of a word's alternatives, each in one field.
#[derive(Clone, Debug, PartialEq)]
pub enum WordPart {
    /// A term scored by BM25.
    Scored(Term),
    /// Any of these terms (a prefix's expansions), scored 1 however many.
    AnyOf(Vec<Term>),
    /// All of these terms (a CJK word's bigrams), scored by the first
    /// (the others only filter, as `sequence` has them).
    AllOf(Vec<Term>),
}

/// One word's alternatives with their boosts, in query order.
pub type WordTerms = Vec<(WordPart, f32)>;

/// Most words searched by `top_scores` (more take Tantivy's query).
pub const MAX_WORDS: usize = 8;

/// A compiled query, and for one word the single terms it is made of.
pub struct Compiled {
    pub query: Box<dyn Query>,
    /// Words all required, each looked up as single terms (or a prefix's
    /// or a typo's listed terms) in several fields: each word's parts with
    /// their boosts. Their top results are found by `top_scores` without
    /// Tantivy's query (one word: without reading every match).
    pub words: Option<Vec<WordTerms>>,
    /// With `words`: the words excluded (`-word`), their parts as theirs
    /// (a document that has any of them does not match).
    pub without: Vec<WordTerms>,
}

impl UserQuery {
    /// Parses a query; never fails (stray syntax is skipped).
    pub fn parse(q: &str) -> Self {
        let lexed = lex(q);
        let items = lexed
            .iter()
            .filter(|l| matches!(l, Lex::Item { .. }))
            .count();
        let mut p = Parser {
            lex: lexed.into_iter(),
            peeked: None,
            items_left: items,
        };
        let mut clauses = p.seq();
        // A `)` too many ends `seq`; keep reading after it.
        while p.next().is_some() {
            clauses.extend(p.seq());
        }
        Self {
            root: Node::All(clauses),
        }
    }

    /// True when some positive word is long enough to tolerate a typo.
    pub fn has_fuzzy_words(&self) -> bool {
        let mut any = false;
        walk(&self.root, true, &mut |leaf, positive| {
            if positive && !leaf.quoted {
                any |= leaf.folded.iter().any(|t| fuzzy_eligible(&t.text));
            }
        });
        any
    }

    /// [`Self::compile_with`] without a cache: phrases are Tantivy's.
    #[cfg(test)]
    pub fn compile(&self, f: &Fields, fuzzy: bool, searcher: &Searcher) -> Option<Compiled> {
        self.compile_with(f, fuzzy, searcher, None)
    }

    /// The Tantivy query; `fuzzy` adds one-edit alternatives to long words.
    /// The searcher expands the last word's prefix to the terms it has.
    /// With `dense`, a phrase's common documents are read from the bit
    /// sets it keeps, where it keeps every term ([`DensePhrase`]).
    pub fn compile_with(
        &self,
        f: &Fields,
        fuzzy: bool,
        searcher: &Searcher,
        dense: Option<&Arc<SortCache>>,
    ) -> Option<Compiled> {
        let cx = Cx {
            f,
            fuzzy,
            searcher,
            dense,
            terms_only: std::cell::Cell::new(true),
            terms: std::cell::RefCell::default(),
        };
        let query = compile(&self.root, &cx, true)?;
        // Words each required or excluded, each a union of single terms
        // over the fields.
        let all_words = matches!(&self.root, Node::All(c)
            if c.iter().all(|(o, n)| matches!(o, Occur::Must | Occur::MustNot) && matches!(n, Node::Leaf(_))));
        let (required, excluded): (Vec<_>, Vec<_>) = cx
            .terms
            .take()
            .into_iter()
            .partition(|(positive, _)| *positive);
        let words: Vec<WordTerms> = required.into_iter().map(|(_, w)| w).collect();
        let without: Vec<WordTerms> = excluded.into_iter().map(|(_, w)| w).collect();
        let fits = |w: &[WordTerms]| {
            w.len() <= MAX_WORDS && w.iter().all(|p| p.len() <= super::top_scores::MAX_TERMS)
        };
        let words = (all_words && cx.terms_only.get() && !words.is_empty())
            .then_some(words)
            .filter(|w| fits(w) && fits(&without));
        Some(Compiled {
            without: if words.is_some() { without } else { Vec::new() },
            query,
            words,
        })
    }

    /// What to highlight in results.
    pub fn highlighter(&self, fuzzy: bool) -> Highlighter {
        let mut h = Highlighter::default();
        walk(&self.root, true, &mut |leaf, positive| {
            if !positive {
                return;
            }
            let (exact, folded) = (&leaf.exact, &leaf.folded);
            h.exact.extend(exact.iter().map(|t| t.text.clone()));
            h.folded.extend(folded.iter().map(|t| t.text.clone()));
            if leaf.last && !leaf.quoted {
                if let Some(t) = exact.last().filter(|t| prefix_eligible(&t.text)) {
                    h.exact_prefixes.push(t.text.clone());
                }
                if let Some(t) = folded.last().filter(|t| prefix_eligible(&t.text)) {
                    h.folded_prefixes.push(t.text.clone());
                }
            }
            if fuzzy && !leaf.quoted {
                h.fuzzy.extend(
                    exact
                        .iter()
                        .filter(|t| fuzzy_eligible(&t.text))
                        .map(|t| t.text.clone()),
                );
                h.fuzzy.extend(
                    folded
                        .iter()
                        .filter(|t| fuzzy_eligible(&t.text))
                        .map(|t| t.text.clone()),
                );
            }
        });
        h
    }
}

fn walk(node: &Node, positive: bool, f: &mut impl FnMut(&Leaf, bool)) {
    match node {
        Node::Leaf(l) => f(l, positive),
        Node::All(v) => {
            for (occur, n) in v {
                walk(n, positive && *occur != Occur::MustNot, f);
            }
        }
        Node::Any(v) => {
            for n in v {
                walk(n, positive, f);
            }
        }
    }
}

fn tokens(text: &str, mode: Mode) -> Vec<Token> {
    let mut out = Vec::new();
    analyze(text, mode, &mut out);
    out
}

fn fuzzy_eligible(term: &str) -> bool {
    term.chars().count() >= FUZZY_MIN_CHARS && !term.chars().any(is_cjk)
}

fn prefix_eligible(term: &str) -> bool {
    let mut chars = term.chars();
    let first = chars.next();
    let n = 1 + chars.count();
    n >= PREFIX_MIN_CHARS || first.is_some_and(is_cjk)
}

fn boosted(q: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(q, boost))
}

/// The tokens as a term (one) or a phrase (several) in `field`.
fn sequence(field: Field, toks: &[Token], dense: Option<&Arc<SortCache>>) -> Box<dyn Query> {
    if let [one] = toks {
        return Box::new(TermQuery::new(
            Term::from_field_text(field, &one.text),
            IndexRecordOption::WithFreqs,
        ));
    }
    if toks.iter().all(is_cjk_token) {
        // An unquoted CJK word: every one of its overlapping bigrams,
        // wherever they are (as Lucene's and Elasticsearch's CJK analysis
        // do). Reading the positions of every candidate costs three times
        // as much at a million torrents, and a text that holds all the
        // overlapping bigrams of a word almost always holds the word.
        // Quoted, it is a phrase.
        // The first bigram alone is scored (BM25 still favours the shorter
        // text, once); the others only filter, which halves the cost.
        return Box::new(BooleanQuery::new(
            toks.iter()
                .enumerate()
                .map(|(i, t)| {
                    let term = Term::from_field_text(field, &t.text);
                    let q: Box<dyn Query> = if i == 0 {
                        Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
                    } else {
                        Box::new(ConstScoreQuery::new(
                            Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
                            0.0,
                        ))
                    };
                    (Occur::Must, q)
                })
                .collect(),
        ));
    }
    phrase(field, toks, dense)
}

/// The tokens as a phrase in `field`, at their positions (CJK bigrams
/// thinned, see [`thin`]); with `dense`, a [`DensePhrase`].
fn phrase(field: Field, toks: &[Token], dense: Option<&Arc<SortCache>>) -> Box<dyn Query> {
    let terms: Vec<(usize, Term)> = thin(toks)
        .iter()
        .map(|t| (t.position, Term::from_field_text(field, &t.text)))
        .collect();
    match dense {
        Some(cache) if terms.len() > 1 => Box::new(DensePhrase::new(terms, cache.clone())),
        _ => Box::new(PhraseQuery::new_with_offset(terms)),
    }
}

/// The tokens with the last one as a prefix, in `field`.
fn prefix(field: Field, toks: &[Token]) -> Box<dyn Query> {
    let mut q = PhrasePrefixQuery::new_with_offset(
        toks.iter()
            .map(|t| (t.position, Term::from_field_text(field, &t.text)))
            .collect(),
    );
    q.set_max_expansions(PREFIX_EXPANSIONS);
    Box::new(q)
}

/// Every token, each with one edit allowed when long enough (positions are
/// not kept: a typo anywhere breaks a phrase).
fn fuzzy_all(field: Field, toks: &[Token]) -> Box<dyn Query> {
    let parts: Vec<(Occur, Box<dyn Query>)> = toks
        .iter()
        .map(|t| {
            let term = Term::from_field_text(field, &t.text);
            let q: Box<dyn Query> = if fuzzy_eligible(&t.text) {
                Box::new(FuzzyTermQuery::new(term, 1, true))
            } else {
                Box::new(TermQuery::new(term, IndexRecordOption::Basic))
            };
            (Occur::Must, q)
        })
        .collect();
    Box::new(BooleanQuery::new(parts))
}

/// What compiling needs besides the tree.
struct Cx<'a> {
    f: &'a Fields,
    fuzzy: bool,
    searcher: &'a Searcher,
    /// Where phrases read frequent terms' bit sets.
    dense: Option<&'a Arc<SortCache>>,
    /// Cleared when an alternative is more than one term (a phrase, a
    /// prefix or typo expansion): the top results then need every match.
    terms_only: std::cell::Cell<bool>,
    /// Each word's single-term alternatives, with their boosts, in query
    /// order, and whether the word is required (not excluded).
    terms: std::cell::RefCell<Vec<(bool, WordTerms)>>,
}

/// A CJK bigram or single CJK character.
fn is_cjk_token(t: &Token) -> bool {
    t.text.chars().all(is_cjk)
}

fn is_cjk_bigram(t: &Token) -> bool {
    let mut c = t.text.chars();
    matches!((c.next(), c.next(), c.next()), (Some(a), Some(b), None) if is_cjk(a) && is_cjk(b))
}

/// Drops every other bigram inside a run of CJK bigrams (keeping the last):
/// the kept ones at their positions already fix every character, so the
/// phrase matches the same documents with half the terms to intersect.
fn thin(toks: &[Token]) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(toks.len());
    let mut prev_kept = false;
    for (i, t) in toks.iter().enumerate() {
        let inner = i > 0
            && i + 1 < toks.len()
            && is_cjk_bigram(&toks[i - 1])
            && is_cjk_bigram(t)
            && is_cjk_bigram(&toks[i + 1])
            && toks[i - 1].position + 1 == t.position
            && t.position + 1 == toks[i + 1].position;
        if inner && prev_kept {
            prev_kept = false;
            continue;
        }
        out.push(t.clone());
        prev_kept = true;
    }
    out
}

/// Most terms one edit away from a word that a page scores apart: past
/// them, Tantivy's fuzzy query reads them all.
pub const FUZZY_EXPANSIONS: usize = 64;

/// The terms of `field` within one edit of `text` (a transposition is one),
/// as Tantivy's fuzzy term query finds them; `None` when there are more
/// than [`FUZZY_EXPANSIONS`].
fn expand_fuzzy(searcher: &Searcher, field: Field, text: &str) -> Option<Vec<Term>> {
    use levenshtein_automata::{Distance, LevenshteinAutomatonBuilder, DFA, SINK_STATE};
    struct OneEdit(DFA);
    impl tantivy_fst::Automaton for OneEdit {
        type State = u32;
        fn start(&self) -> u32 {
            self.0.initial_state()
        }
        fn is_match(&self, state: &u32) -> bool {
            matches!(self.0.distance(*state), Distance::Exact(_))
        }
        fn can_match(&self, state: &u32) -> bool {
            *state != SINK_STATE
        }
        fn accept(&self, state: &u32, byte: u8) -> u32 {
            self.0.transition(*state, byte)
        }
    }
    static BUILDER: std::sync::OnceLock<LevenshteinAutomatonBuilder> = std::sync::OnceLock::new();
    let builder = BUILDER.get_or_init(|| LevenshteinAutomatonBuilder::new(1, true));
    let one_edit = OneEdit(builder.build_dfa(text));
    let mut found = std::collections::BTreeSet::new();
    for segment in searcher.segment_readers() {
        let Ok(inverted) = segment.inverted_index(field) else {
            continue;
        };
        let Ok(mut stream) = inverted.terms().search(&one_edit).into_stream() else {
            continue;
        };
        while stream.advance() {
            if let Ok(s) = std::str::from_utf8(stream.key()) {
                found.insert(s.to_owned());
                if found.len() > FUZZY_EXPANSIONS {
                    return None;
                }
            }
        }
    }
    Some(
        found
            .into_iter()
            .map(|t| Term::from_field_text(field, &t))
            .collect(),
    )
}

/// Up to [`PREFIX_EXPANSIONS`] terms of `field` that start with `prefix`
/// and are longer than it (the term itself is matched exactly elsewhere).
fn expand_prefix(searcher: &Searcher, field: Field, prefix: &str) -> Vec<Term> {
    let mut found = std::collections::BTreeSet::new();
    let lo = prefix.as_bytes();
    for segment in searcher.segment_readers() {
        let Ok(inverted) = segment.inverted_index(field) else {
            continue;
        };
        let Ok(mut stream) = inverted.terms().range().ge(lo).into_stream() else {
            continue;
        };
        let mut seen = 0;
        while stream.advance() && seen < PREFIX_EXPANSIONS {
            let key = stream.key();
            if !key.starts_with(lo) {
                break;
            }
            if key.len() > lo.len() {
                if let Ok(s) = std::str::from_utf8(key) {
                    found.insert(s.to_owned());
                    seen += 1;
                }
            }
        }
    }
    found
        .into_iter()
        .take(PREFIX_EXPANSIONS as usize)
        .map(|t| Term::from_field_text(field, &t))
        .collect()
}

/// Several tokens with the last one as a prefix, in `field` (`None` for
/// CJK bigrams).
fn prefix_query(field: Field, toks: &[Token]) -> Option<Box<dyn Query>> {
    let last = toks.last()?;
    if is_cjk_bigram(last) {
        // Bigrams already find every substring of a CJK run.
        return None;
    }
    Some(prefix(field, toks))
}

/// Whether the leaf's last word is itself in so many names that its exact
/// matches fill every page a search serves ([`PREFIX_UNTIL_DOCS`]): a match by
/// prefix alone scores at most the sum of the prefix boosts (2.3), below an
/// exact name match of any word that is not in most names, so it could
/// only ever show past the last page. Leaving the expansion out spares
/// the union three lists of up to 50 terms each.
fn common_word(cx: &Cx<'_>, leaf: &Leaf, cjk_only: bool) -> bool {
    let (field, toks) = if cjk_only {
        (cx.f.name_folded, &leaf.folded)
    } else {
        (cx.f.name, &leaf.exact)
    };
    toks.last().is_some_and(|t| {
        let term = Term::from_field_text(field, &t.text);
        cx.searcher
            .doc_freq(&term)
            .is_ok_and(|n| n >= PREFIX_UNTIL_DOCS as u64)
    })
}

fn compile_leaf(leaf: &Leaf, cx: &Cx<'_>, positive: bool) -> Option<Box<dyn Query>> {
    let (f, fuzzy) = (cx.f, cx.fuzzy);
    let (exact, folded) = (&leaf.exact, &leaf.folded);
    if folded.is_empty() {
        return None;
    }
    cx.terms.borrow_mut().push((positive, Vec::new()));
    let folded_fields: &[(Field, f32)] = match leaf.scope {
        Scope::All => &[
            (f.name_folded, BOOST_FOLDED_NAME),
            (f.file, BOOST_FILE),
            (f.comment, BOOST_OTHER),
            (f.created_by, BOOST_OTHER),
            (f.trackers, BOOST_OTHER),
        ],
        Scope::Name => &[(f.name_folded, BOOST_FOLDED_NAME)],
        Scope::File => &[(f.file, BOOST_FILE)],
        Scope::Comment => &[(f.comment, BOOST_FILE)],
        Scope::CreatedBy => &[(f.created_by, BOOST_FILE)],
        Scope::Trackers => &[(f.trackers, BOOST_FILE)],
    };
    let in_name = matches!(leaf.scope, Scope::All | Scope::Name);
    let in_file = matches!(leaf.scope, Scope::All | Scope::File);
    let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    // Every alternative but one-term ones (`seq` of one token) stops
    // pruning.
    let mut add = |q: Option<Box<dyn Query>>, boost: f32, part: Option<WordPart>| {
        if let Some(q) = q {
            match part {
                Some(part) => {
                    if let Some((_, word)) = cx.terms.borrow_mut().last_mut() {
                        word.push((part, boost));
                    }
                }
                None => cx.terms_only.set(false),
            }
            alternatives.push((Occur::Should, boosted(q, boost)));
        }
    };
    let single = |field, toks: &[Token]| match toks {
        [one] => Some(WordPart::Scored(Term::from_field_text(field, &one.text))),
        _ if !leaf.quoted && toks.iter().all(is_cjk_token) => Some(WordPart::AllOf(
            toks.iter()
                .map(|t| Term::from_field_text(field, &t.text))
                .collect(),
        )),
        _ => None,
    };
    // A single term the index does not hold is left out: it would match
    // nothing.
    let seq = |field, toks: &[Token]| -> Option<Box<dyn Query>> {
        if let [one] = toks {
            let term = Term::from_field_text(field, &one.text);
            if cx.searcher.doc_freq(&term).is_ok_and(|n| n == 0) {
                return None;
            }
        }
        Some(if leaf.quoted && toks.len() > 1 {
            phrase(field, toks, cx.dense)
        } else {
            sequence(field, toks, cx.dense)
        })
    };
    // Folding leaves CJK as it is: the folded name then holds the same
    // terms as the exact one, and looking in both would only double the work.
    let cjk_only = !exact.is_empty() && exact.iter().all(is_cjk_token);
    if in_name && !exact.is_empty() && !cjk_only {
        add(seq(f.name, exact), BOOST_EXACT_NAME, single(f.name, exact));
    }
    for &(field, boost) in folded_fields {
        let boost = if cjk_only && field == f.name_folded {
            BOOST_EXACT_NAME
        } else {
            boost
        };
        add(seq(field, folded), boost, single(field, folded));
    }
    if positive && leaf.last && !leaf.quoted && !common_word(cx, leaf, cjk_only) {
        let mut prefixed = |field, toks: &[Token], boost| {
            let Some(last) = toks.last().filter(|t| prefix_eligible(&t.text)) else {
                return;
            };
            if toks.len() == 1 {
                // One word: its expansions, which pages can score apart.
                let terms = expand_prefix(cx.searcher, field, &last.text);
                if !terms.is_empty() {
                    let q = Box::new(TermSetQuery::new(terms.clone()));
                    add(Some(q), boost, Some(WordPart::AnyOf(terms)));
                }
            } else {
                add(prefix_query(field, toks), boost, None);
            }
        };
        if in_name && cjk_only {
            prefixed(f.name_folded, folded, BOOST_PREFIX_EXACT);
        } else if in_name {
            prefixed(f.name, exact, BOOST_PREFIX_EXACT);
            prefixed(f.name_folded, folded, BOOST_PREFIX_FOLDED);
        }
        if in_file {
            prefixed(f.file, folded, BOOST_PREFIX_FILE);
        }
    }
    if positive && fuzzy && !leaf.quoted && folded.iter().any(|t| fuzzy_eligible(&t.text)) {
        // One token: the terms one edit away, listed (when there are not
        // too many) so that pages can score them apart; several: each
        // token within one edit, together.
        let mut typo = |field, toks: &[Token], boost| match toks {
            [one] if fuzzy_eligible(&one.text) => {
                if let Some(terms) = expand_fuzzy(cx.searcher, field, &one.text) {
                    if !terms.is_empty() {
                        let q = Box::new(TermSetQuery::new(terms.clone()));
                        add(Some(q), boost, Some(WordPart::AnyOf(terms)));
                    }
                } else {
                    add(Some(fuzzy_all(field, toks)), boost, None);
                }
            }
            _ => add(Some(fuzzy_all(field, toks)), boost, None),
        };
        if in_name {
            typo(f.name_folded, folded, BOOST_FUZZY_NAME);
            // Unstemmed too: a stemmer may cut two forms of a surname apart
            // (`булгакова` stems to `булгаков`, `булгаков` to `булгак`).
            if !exact.is_empty() {
                typo(f.name, exact, BOOST_FUZZY_NAME);
            }
        }
        if in_file {
            typo(f.file, folded, BOOST_FUZZY_FILE);
        }
    }
    // At least one alternative must match: said as "none required" of
    // clauses that are all optional (Tantivy then requires one anyway).
    Some(Box::new(BooleanQuery::with_minimum_required_clauses(
        alternatives,
        0,
    )))
}

fn compile(node: &Node, cx: &Cx<'_>, positive: bool) -> Option<Box<dyn Query>> {
    match node {
        Node::Leaf(leaf) => compile_leaf(leaf, cx, positive),
        Node::Any(nodes) => {
            let alts: Vec<(Occur, Box<dyn Query>)> = nodes
                .iter()
                .filter_map(|n| compile(n, cx, positive))
                .map(|q| (Occur::Should, q))
                .collect();
            (!alts.is_empty()).then(|| Box::new(BooleanQuery::new(alts)) as Box<dyn Query>)
        }
        Node::All(clauses) => {
            let mut out: Vec<(Occur, Box<dyn Query>)> = clauses
                .iter()
                .filter_map(|(occur, n)| {
                    let pos = positive && *occur != Occur::MustNot;
                    compile(n, cx, pos).map(|q| (*occur, q))
                })
                .collect();
            if out.is_empty() {
                return None;
            }
            if out.iter().all(|(o, _)| *o == Occur::MustNot) {
                out.push((Occur::Must, Box::new(AllQuery)));
            }
            if let [(Occur::Must, _)] = out.as_slice() {
                return out.pop().map(|(_, q)| q);
            }
            Some(Box::new(BooleanQuery::new(out)))
        }
    }
}

/// Marks what a query matched in a stored name or file list.
#[derive(Debug, Default, Clone)]
pub struct Highlighter {
    exact: Vec<String>,
    folded: Vec<String>,
    exact_prefixes: Vec<String>,
    folded_prefixes: Vec<String>,
    fuzzy: Vec<String>,
}

/// True when `a` and `b` differ by at most one edit (insertion, deletion,
/// substitution or a swap of neighbours).
fn one_edit(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[head..], &b[head..]);
    let tail = ra
        .iter()
        .rev()
        .zip(rb.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (ra.len() - tail.min(ra.len()), rb.len() - tail.min(rb.len()));
    if ma <= 1 && mb <= 1 {
        return true;
    }
    ma == 2 && mb == 2 && ra[0] == rb[1] && ra[1] == rb[0]
}

/// Longest snippet, in characters.
pub const SNIPPET_CHARS: usize = 200;
/// Most text (bytes of a file list) searched for a snippet.
pub const SNIPPET_SCAN_BYTES: usize = 8 * 1024;

impl Highlighter {
    fn matched(&self, text: &str) -> Vec<std::ops::Range<usize>> {
        let mut ranges = Vec::new();
        let mut toks = Vec::new();
        // One pass of the exact analyzer: the folded analyzer's tokens are
        // its tokens folded, in place (`folded_token`); analysing the text
        // twice was most of a snippet's cost.
        analyze(text, Mode::EXACT_INDEX, &mut toks);
        let hit = |t: &str, words: &[String], prefixes: &[String]| {
            words.iter().any(|w| w == t)
                || prefixes.iter().any(|p| t.starts_with(p.as_str()))
                || self.fuzzy.iter().any(|p| one_edit(p, t))
        };
        for t in &toks {
            let matched = hit(&t.text, &self.exact, &self.exact_prefixes)
                || folded_token(&t.text)
                    .is_some_and(|f| hit(&f, &self.folded, &self.folded_prefixes));
            if matched {
                ranges.push(t.offset_from..t.offset_to);
            }
        }
        ranges.sort_by_key(|r| (r.start, r.end));
        let mut merged: Vec<std::ops::Range<usize>> = Vec::new();
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        merged
    }

    /// The text (or, for a file list, its first matching line) as HTML with
    /// matches in `<b>`, cut to [`SNIPPET_CHARS`] around the first match;
    /// `None` when nothing in it matched.
    pub fn snippet(&self, text: &str) -> Option<String> {
        // Only the first SNIPPET_SCAN_BYTES are looked at: a page of 100
        // hits with 64 KiB of file paths each must not analyze 6 MiB.
        let mut scanned = 0;
        let line = text
            .lines()
            .take_while(|l| {
                scanned += l.len() + 1;
                scanned <= SNIPPET_SCAN_BYTES || scanned == l.len() + 1
            })
            .find_map(|l| {
                let ranges = self.matched(l);
                (!ranges.is_empty()).then_some((l, ranges))
            });
        let (line, ranges) = line?;
        let first = ranges.first()?.start;
        // Window of SNIPPET_CHARS characters starting a little before the first match.
        let lead: Vec<usize> = line[..first].char_indices().map(|(i, _)| i).collect();
        let start = lead.len().checked_sub(40).map_or(0, |i| lead[i]);
        let end = line[start..]
            .char_indices()
            .nth(SNIPPET_CHARS)
            .map_or(line.len(), |(i, _)| start + i);
        let mut html = String::new();
        if start > 0 {
            html.push('…');
        }
        let mut at = start;
        for r in ranges.iter().filter(|r| r.start < end && r.end > start) {
            let (s, e) = (r.start.max(at), r.end.min(end));
            escape_into(&line[at..s], &mut html);
            html.push_str("<b>");
            escape_into(&line[s..e], &mut html);
            html.push_str("</b>");
            at = e;
        }
        escape_into(&line[at..end], &mut html);
        if end < line.len() {
            html.push('…');
        }
        Some(html)
    }
}

fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(text: &str, scope: Scope, quoted: bool, last: bool) -> Node {
        Node::Leaf(Leaf::new(scope, text, quoted, last))
    }

    #[test]
    fn syntax_parses_into_the_intended_tree() {
        let q = UserQuery::parse("+ubuntu -beta \"desktop amd64\" name:24.04 (iso OR img) NOT x");
        let Node::All(c) = q.root else { panic!() };
        assert_eq!(c.len(), 6);
        assert_eq!(
            c[0],
            (Occur::Must, leaf("ubuntu", Scope::All, false, false))
        );
        assert_eq!(
            c[1],
            (Occur::MustNot, leaf("beta", Scope::All, false, false))
        );
        assert_eq!(
            c[2],
            (Occur::Must, leaf("desktop amd64", Scope::All, true, false))
        );
        assert_eq!(
            c[3],
            (Occur::Must, leaf("24.04", Scope::Name, false, false))
        );
        assert_eq!(
            c[4],
            (
                Occur::Must,
                Node::All(vec![(
                    Occur::Must,
                    Node::Any(vec![
                        leaf("iso", Scope::All, false, false),
                        leaf("img", Scope::All, false, false)
                    ])
                )])
            )
        );
        assert_eq!(c[5], (Occur::MustNot, leaf("x", Scope::All, false, true)));
    }

    #[test]
    fn stray_syntax_is_skipped_not_an_error() {
        for q in [
            "",
            ")",
            "(((",
            "OR",
            "+",
            "- -",
            "name:",
            "\"unclosed",
            "a ) b",
        ] {
            let _ = UserQuery::parse(q);
        }
        let Node::All(c) = UserQuery::parse("a ) b").root else {
            panic!()
        };
        assert_eq!(c.len(), 2);
        let Node::All(c) = UserQuery::parse("name:\"x y\" WEB-DL").root else {
            panic!()
        };
        assert_eq!(c[0], (Occur::Must, leaf("x y", Scope::Name, true, false)));
        assert_eq!(c[1], (Occur::Must, leaf("WEB-DL", Scope::All, false, true)));
    }

    #[test]
    fn cjk_phrases_keep_every_other_bigram_and_the_last() {
        let toks = tokens("ファイナルファンタジー", Mode::EXACT_QUERY);
        assert_eq!(toks.len(), 10);
        let kept: Vec<(String, usize)> = thin(&toks)
            .into_iter()
            .map(|t| (t.text, t.position))
            .collect();
        let expect: Vec<(String, usize)> = [
            ("ファ", 0),
            ("イナ", 2),
            ("ルフ", 4),
            ("ァン", 6),
            ("タジ", 8),
            ("ジー", 9),
        ]
        .into_iter()
        .map(|(t, p)| (t.to_owned(), p))
        .collect();
        assert_eq!(kept, expect);
        // Words other than CJK bigrams are all kept.
        let words = tokens("the dark side of the moon", Mode::EXACT_QUERY);
        assert_eq!(thin(&words).len(), words.len());
    }

    #[test]
    fn one_edit_means_one() {
        assert!(one_edit("matrix", "matirx"));
        assert!(one_edit("ubuntu", "ubunto"));
        assert!(one_edit("ubuntu", "ubunt"));
        assert!(one_edit("ubuntu", "ubuntu"));
        assert!(!one_edit("ubuntu", "ubxntx"));
        assert!(!one_edit("matrix", "mtarix2"));
    }

    #[test]
    fn snippets_mark_matches_in_every_script_and_escape_the_rest() {
        let h = UserQuery::parse("巨人 amelie").highlighter(false);
        assert_eq!(
            h.snippet("進撃の巨人 <i>Amélie</i>").as_deref(),
            Some("進撃の<b>巨人</b> &lt;i&gt;<b>Amélie</b>&lt;/i&gt;")
        );
        let h = UserQuery::parse("ubunt").highlighter(false);
        assert_eq!(
            h.snippet("a/readme.txt\nUbuntu/disk.iso").as_deref(),
            Some("<b>Ubuntu</b>/disk.iso")
        );
        let h = UserQuery::parse("matirx").highlighter(true);
        assert_eq!(
            h.snippet("The Matrix").as_deref(),
            Some("The <b>Matrix</b>")
        );
        assert_eq!(h.snippet("nothing here"), None);
        // A match deep in a long file list is not searched for.
        let filler = "a/b/c/filler.bin\n".repeat(SNIPPET_SCAN_BYTES / 16 + 1);
        assert_eq!(h.snippet(&format!("{filler}matrix.mkv")), None);
        assert!(h.snippet(&format!("x.bin\nmatrix.mkv\n{filler}")).is_some());
        // A single very long line is still looked at.
        assert!(h
            .snippet(&format!("{} matrix", "z".repeat(20_000)))
            .is_some());
    }
}
