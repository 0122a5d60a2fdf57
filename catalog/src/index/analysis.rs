//! Text analysis, one implementation for indexing, querying and highlighting.
//!
//! Two analyzers share one pass over the text:
//!
//! - **exact**: Unicode NFKC (full-width `ＡＢＣ１２３` is `abc123`), lower
//!   case, words split at everything that is not a letter or digit (dots,
//!   underscores, brackets and dashes of release names included);
//! - **folded**: the same, then accents folded (`Amélie` is `amelie`, `ё` is
//!   `е`, `ß` is `ss`) and words stemmed: English (Snowball) for Latin
//!   words, Russian (Snowball) for Cyrillic words, and for words with a
//!   letter only Ukrainian has (`і ї є ґ`) a light suffix stripper, because
//!   Snowball has no Ukrainian stemmer: `забуті`/`забутих` and
//!   `предки`/`предків` meet at `забут` and `предк`.
//!
//! Chinese, Japanese (kana included) and Korean are written without spaces,
//! so a run of CJK characters is indexed as overlapping character bigrams
//! (Lucene's CJK approach): `進撃の巨人` is `進撃 撃の の巨 巨人`, and any
//! substring of two or more characters a user types is a phrase of bigrams
//! found at consecutive positions. The index also keeps the last character
//! of each run (at the position of the last bigram), so every character
//! starts some term and a one-character query is a prefix lookup. Bigrams
//! were chosen over a dictionary segmenter (lindera, jieba) because they
//! need no dictionary (lindera's IPADIC adds tens of MB to the binary),
//! find every substring (a dictionary segmenter misses words it splits
//! differently from the user, and names of shows and games are exactly the
//! words dictionaries lack), and cost one pass over the characters.

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use unicode_normalization::char::{compose, decompose_canonical, is_combining_mark};
use unicode_normalization::UnicodeNormalization;

/// Tokenizer name of the exact analyzer.
pub const EXACT: &str = "magnetar_exact";
/// Tokenizer name of the folded (accent-folded, stemmed) analyzer.
pub const FOLDED: &str = "magnetar_folded";
/// Tokenizer name of the variants analyzer: the folded tokens of the words
/// whose folded form is not the word as written (`Amélie` and `nights`
/// give `amelie` and `night`; `night` gives nothing). A folded name term
/// that folds to itself occurs in a name as often as the same exact term
/// and its variants together, so the exact term's documents and
/// frequencies are the folded term's less its variants' (see
/// `top_scores::all_words`).
pub const VARIANTS: &str = "magnetar_variants";
/// Longest word indexed, in bytes; longer ones are not something anyone
/// types. Measured on the word as written, by every analyzer: a name has
/// as many exact tokens as folded ones.
pub const MAX_WORD_BYTES: usize = 64;

/// How text is analyzed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Fold accents and stem.
    pub fold: bool,
    /// Indexing (adds the last character of each CJK run).
    pub index: bool,
    /// Folded, only the words whose folded form differs from the word.
    pub variants: bool,
}

impl Mode {
    pub const EXACT_INDEX: Mode = Mode {
        fold: false,
        index: true,
        variants: false,
    };
    pub const FOLDED_INDEX: Mode = Mode {
        fold: true,
        index: true,
        variants: false,
    };
    pub const VARIANTS_INDEX: Mode = Mode {
        fold: true,
        index: true,
        variants: true,
    };
    pub const EXACT_QUERY: Mode = Mode {
        fold: false,
        index: false,
        variants: false,
    };
    pub const FOLDED_QUERY: Mode = Mode {
        fold: true,
        index: false,
        variants: false,
    };
}

/// True for the characters written without spaces: Han, kana, Hangul.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3005..=0x3007       // 々 〆 〇
        | 0x3040..=0x30FF     // hiragana, katakana
        | 0x31F0..=0x31FF     // katakana extensions
        | 0x3400..=0x4DBF     // Han extension A
        | 0x4E00..=0x9FFF     // Han
        | 0xF900..=0xFAFF     // Han compatibility
        | 0x1100..=0x11FF     // Hangul jamo
        | 0x3130..=0x318F     // Hangul compatibility jamo
        | 0xAC00..=0xD7AF     // Hangul syllables
        | 0x20000..=0x2FA1F   // Han extensions B-F, compatibility supplement
    )
}

static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));
static RUSSIAN: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::Russian));

/// Ukrainian inflection endings, longest first (nouns, adjectives,
/// participles). Stripped once, keeping a stem of at least three letters.
const UKRAINIAN_ENDINGS: [&str; 41] = [
    "ями", "ами", "ові", "еві", "єві", "ого", "ому", "ими", "іми", "ові", "ної", "ній", "ною",
    "ий", "ій", "їй", "ів", "їв", "ях", "ах", "ам", "ям", "ою", "ею", "єю", "ої", "єї", "их", "іх",
    "ім", "им", "ом", "і", "ї", "є", "и", "а", "я", "у", "ю", "ь",
];

fn stem_ukrainian(word: &str) -> String {
    let letters = word.chars().count();
    for ending in UKRAINIAN_ENDINGS {
        if let Some(stem) = word.strip_suffix(ending) {
            if letters - ending.chars().count() >= 3 {
                return stem.to_owned();
            }
        }
    }
    word.to_owned()
}

fn is_cyrillic(c: char) -> bool {
    matches!(c as u32, 0x0400..=0x04FF)
}

/// Stems one folded, lower-case word (words with digits are left alone:
/// `x264`, `s01e02`, `1080p`).
fn stem(word: &str) -> String {
    if word.chars().count() < 3 || word.chars().any(|c| c.is_numeric()) {
        return word.to_owned();
    }
    if word.bytes().all(|b| b.is_ascii_lowercase()) {
        return ENGLISH.stem(word).into_owned();
    }
    if word.chars().all(is_cyrillic) {
        if word.contains(['і', 'ї', 'є', 'ґ']) {
            return stem_ukrainian(word);
        }
        return RUSSIAN.stem(word).into_owned();
    }
    word.to_owned()
}

/// Folds one lower-case character into `out`: accents off Latin and Greek
/// letters, `ё` to `е`, ligatures and special letters to ASCII. Cyrillic
/// `й` and `ї` are letters of their own and stay.
fn fold_char(c: char, out: &mut String) {
    match c {
        'ß' => out.push_str("ss"),
        'æ' => out.push_str("ae"),
        'œ' => out.push_str("oe"),
        'ø' => out.push('o'),
        'đ' | 'ð' => out.push('d'),
        'ł' => out.push('l'),
        'þ' => out.push_str("th"),
        'ı' => out.push('i'),
        'ё' => out.push('е'),
        c if matches!(c as u32, 0x00C0..=0x024F | 0x0370..=0x03FF | 0x1E00..=0x1FFF) => {
            decompose_canonical(c, |d| {
                if !is_combining_mark(d) {
                    out.push(d);
                }
            })
        }
        c if is_combining_mark(c) => {}
        c => out.push(c),
    }
}

/// A word (lower case) folded and stemmed, `buf` the room to fold it in.
fn fold_word(word: &str, buf: &mut String) -> String {
    buf.clear();
    for c in word.chars() {
        fold_char(c, buf);
    }
    stem(buf)
}

/// The folded token indexed for a word whose exact token is `exact` (a
/// name's word is indexed folded whenever it is as written), `None` for a
/// token that is no word's (a CJK bigram is its own).
pub fn folded_of_exact(exact: &str) -> Option<String> {
    if exact.chars().any(is_cjk) {
        return None;
    }
    let text = fold_word(exact, &mut String::new());
    (!text.is_empty() && exact.len() <= MAX_WORD_BYTES).then_some(text)
}

/// The folded analyzer's token at the place of the exact analyzer's token
/// `exact` (both make one token per word, and the same CJK tokens):
/// `exact` folded, or itself for a CJK token.
pub fn folded_token(exact: &str) -> Option<String> {
    if exact.chars().any(is_cjk) {
        return Some(exact.to_owned());
    }
    folded_of_exact(exact)
}

/// The analyzer state of one pass.
struct Pass<'o> {
    mode: Mode,
    out: &'o mut Vec<Token>,
    position: usize,
    word: String,
    word_from: usize,
    word_to: usize,
    run: Vec<(char, usize, usize)>,
    folded: String,
}

impl Pass<'_> {
    fn emit(&mut self, text: String, from: usize, to: usize, position: usize) {
        self.out.push(Token {
            offset_from: from,
            offset_to: to,
            position,
            text,
            position_length: 1,
        });
    }

    fn flush_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        // Whether the word is indexed at all: decided on the word as
        // written, the same in every analyzer.
        let fits = self.word.len() <= MAX_WORD_BYTES;
        let text = if self.mode.fold {
            let folded = fold_word(&self.word, &mut self.folded);
            if self.mode.variants && folded == self.word {
                String::new()
            } else {
                folded
            }
        } else {
            std::mem::take(&mut self.word)
        };
        self.word.clear();
        if !text.is_empty() && fits {
            let p = self.position;
            self.emit(text, self.word_from, self.word_to, p);
            self.position += 1;
        }
    }

    fn flush_run(&mut self) {
        if self.mode.variants {
            // CJK is never folded: no variants.
            self.run.clear();
            return;
        }
        let run = std::mem::take(&mut self.run);
        match run.len() {
            0 => {}
            1 => {
                let (c, from, to) = run[0];
                let p = self.position;
                self.emit(c.to_string(), from, to, p);
                self.position += 1;
            }
            n => {
                for pair in run.windows(2) {
                    let text: String = [pair[0].0, pair[1].0].into_iter().collect();
                    let p = self.position;
                    self.emit(text, pair[0].1, pair[1].2, p);
                    self.position += 1;
                }
                if self.mode.index {
                    let (c, from, to) = run[n - 1];
                    let p = self.position - 1;
                    self.emit(c.to_string(), from, to, p);
                }
            }
        }
        self.run = run;
        self.run.clear();
    }

    fn push(&mut self, c: char, from: usize, to: usize) {
        if is_combining_mark(c) {
            // Marks that follow their letter (decomposed input, half-width
            // voiced kana) join it: composed when Unicode has the pair.
            if let Some(last) = self.run.last_mut() {
                if let Some(composed) = compose(last.0, c) {
                    last.0 = composed;
                    last.2 = to;
                }
                return;
            }
            if let Some(prev) = self.word.pop() {
                match compose(prev, c) {
                    Some(composed) => self.word.push(composed),
                    None => {
                        self.word.push(prev);
                        self.word.push(c);
                    }
                }
                self.word_to = to;
            }
            return;
        }
        if is_cjk(c) {
            self.flush_word();
            self.run.push((c, from, to));
        } else if c.is_alphanumeric() {
            self.flush_run();
            if self.word.is_empty() {
                self.word_from = from;
            }
            self.word.extend(c.to_lowercase());
            self.word_to = to;
        } else {
            self.flush_word();
            self.flush_run();
        }
    }
}

/// Analyzes `text`, appending its tokens (byte offsets into `text`) to `out`.
pub fn analyze(text: &str, mode: Mode, out: &mut Vec<Token>) {
    let mut pass = Pass {
        mode,
        out,
        position: 0,
        word: String::new(),
        word_from: 0,
        word_to: 0,
        run: Vec::new(),
        folded: String::new(),
    };
    for (from, c) in text.char_indices() {
        let to = from + c.len_utf8();
        if c.is_ascii() {
            pass.push(c, from, to);
        } else {
            for n in std::iter::once(c).nfkc() {
                pass.push(n, from, to);
            }
        }
    }
    pass.flush_word();
    pass.flush_run();
}

/// The token texts of `text` (tests).
#[cfg(test)]
pub fn terms(text: &str, mode: Mode) -> Vec<String> {
    let mut out = Vec::new();
    analyze(text, mode, &mut out);
    out.into_iter().map(|t| t.text).collect()
}

/// The analyzers as Tantivy tokenizers (registered on every opened index).
#[derive(Clone)]
pub struct MagnetarTokenizer {
    mode: Mode,
    tokens: Vec<Token>,
}

impl MagnetarTokenizer {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            tokens: Vec::new(),
        }
    }
}

/// Tokens of one text, handed out one by one.
pub struct MagnetarTokenStream<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
    /// Handed out if asked for a token before the first `advance`.
    none: Token,
}

impl Tokenizer for MagnetarTokenizer {
    type TokenStream<'a> = MagnetarTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> MagnetarTokenStream<'a> {
        self.tokens.clear();
        analyze(text, self.mode, &mut self.tokens);
        MagnetarTokenStream {
            tokens: &mut self.tokens,
            next: 0,
            none: Token::default(),
        }
    }
}

impl TokenStream for MagnetarTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        match self.next.checked_sub(1) {
            Some(i) => self.tokens.get(i).unwrap_or(&self.none),
            None => &self.none,
        }
    }

    fn token_mut(&mut self) -> &mut Token {
        match self.next.checked_sub(1) {
            Some(i) if i < self.tokens.len() => &mut self.tokens[i],
            _ => &mut self.none,
        }
    }
}

/// Registers both analyzers on an index.
pub fn register(index: &tantivy::Index) {
    let tokenizers = index.tokenizers();
    tokenizers.register(EXACT, MagnetarTokenizer::new(Mode::EXACT_INDEX));
    tokenizers.register(FOLDED, MagnetarTokenizer::new(Mode::FOLDED_INDEX));
    tokenizers.register(VARIANTS, MagnetarTokenizer::new(Mode::VARIANTS_INDEX));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> Vec<String> {
        terms(s, Mode::EXACT_QUERY)
    }
    fn folded(s: &str) -> Vec<String> {
        terms(s, Mode::FOLDED_QUERY)
    }

    #[test]
    fn release_names_split_at_separators_and_keep_their_codes() {
        assert_eq!(
            exact("Show.Name.S01E02.1080p.WEB-DL.x264-GRP"),
            ["show", "name", "s01e02", "1080p", "web", "dl", "x264", "grp"]
        );
        assert_eq!(
            exact("[SubGroup]_Ubuntu_24.04"),
            ["subgroup", "ubuntu", "24", "04"]
        );
        assert_eq!(folded("S01E02 x264 1080p"), ["s01e02", "x264", "1080p"]);
    }

    #[test]
    fn nfkc_and_case_fold_full_width_forms() {
        assert_eq!(exact("ＡＢＣ１２３"), ["abc123"]);
        assert_eq!(exact("ABC123"), ["abc123"]);
        // Half-width katakana become full-width.
        assert_eq!(exact("ﾌｧｲﾅﾙ"), exact("ファイナル"));
        // Half-width voiced kana compose with their mark.
        assert_eq!(exact("ｴｳﾞｧﾝｹﾞﾘｵﾝ"), exact("エヴァンゲリオン"));
        // Decomposed accents compose in the exact analyzer.
        assert_eq!(exact("Ame\u{301}lie"), ["amélie"]);
    }

    #[test]
    fn accents_fold_only_in_the_folded_analyzer() {
        assert_eq!(exact("Amélie"), ["amélie"]);
        assert_eq!(folded("Amélie"), folded("amelie"));
        assert_eq!(folded("Beyoncé"), folded("beyonce"));
        assert_eq!(folded("Straße"), folded("strasse"));
        // Decomposed input folds too.
        assert_eq!(folded("Ame\u{301}lie"), folded("amelie"));
        assert_eq!(folded("ёлка"), folded("елка"));
        // й is a letter of its own, not и with an accent.
        assert_eq!(folded("йод"), ["йод"]);
    }

    #[test]
    fn english_russian_and_ukrainian_words_are_stemmed() {
        assert_eq!(folded("movies"), folded("movie"));
        assert_eq!(folded("running"), folded("run"));
        assert_eq!(folded("Маргарита"), folded("маргариты"));
        assert_eq!(folded("забуті"), folded("забутих"));
        assert_eq!(folded("предки"), folded("предків"));
        assert_eq!(folded("Тіні"), folded("тінь"));
        // Exact forms are not stemmed.
        assert_ne!(exact("забуті"), exact("забутих"));
    }

    #[test]
    fn cjk_runs_become_bigrams_and_every_substring_is_a_phrase_of_them() {
        let idx = terms("進撃の巨人 第1話", Mode::EXACT_INDEX);
        assert_eq!(idx, ["進撃", "撃の", "の巨", "巨人", "人", "第", "1", "話"]);
        assert_eq!(exact("巨人"), ["巨人"]);
        assert_eq!(
            exact("东京爱情故事"),
            ["东京", "京爱", "爱情", "情故", "故事"]
        );
        // Positions of the trailing character repeat the last bigram's.
        let mut toks = Vec::new();
        analyze("巨人X", Mode::EXACT_INDEX, &mut toks);
        let pos: Vec<(String, usize)> = toks.into_iter().map(|t| (t.text, t.position)).collect();
        assert_eq!(
            pos,
            [
                ("巨人".to_owned(), 0),
                ("人".to_owned(), 0),
                ("x".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn offsets_point_into_the_original_text() {
        let text = "Ａmélie — 巨人";
        let mut toks = Vec::new();
        analyze(text, Mode::FOLDED_INDEX, &mut toks);
        let spans: Vec<&str> = toks
            .iter()
            .map(|t| &text[t.offset_from..t.offset_to])
            .collect();
        assert_eq!(spans, ["Ａmélie", "巨人", "人"]);
    }

    #[test]
    fn overlong_words_are_not_indexed() {
        let long = "a".repeat(MAX_WORD_BYTES + 1);
        assert_eq!(exact(&format!("x {long} y")), ["x", "y"]);
        // Folded, the word would fit (`ß` is 2 bytes as written and
        // folded, the stem shorter): still left out, as in the exact name.
        let stemmed = format!("{}ing", "ß".repeat(31));
        assert_eq!(stemmed.len(), MAX_WORD_BYTES + 1);
        for mode in [Mode::EXACT_INDEX, Mode::FOLDED_INDEX, Mode::VARIANTS_INDEX] {
            assert!(terms(&stemmed, mode).is_empty(), "{mode:?}");
        }
    }

    /// What the search derives a word's exact name postings from
    /// (`top_scores`): a name has as many exact tokens as folded ones (so
    /// both fields have one length in every document), every exact token
    /// `e` has `folded_of_exact(e)` among the folded ones, and a folded
    /// token that folds to itself occurs as often as the exact tokens
    /// equal to it and its variants together. Checked on names built at
    /// random from the characters that change length, case or composition
    /// when folded, around the 64-byte limit.
    #[test]
    fn folded_tokens_are_the_exact_ones_and_their_variants() {
        let pieces = [
            "a", "Z", "ß", "ẞ", "æ", "Œ", "ø", "Đ", "ł", "þ", "ı", "İ", "ё", "Ё", "é", "e\u{301}",
            "ǅ", "ﬁ", "Ａ", "１", "ʼ", "ї", "ґ", "і", "ями", "ing", "ational", "ies", "sses",
            "\u{301}", "ῼ", "ά", "Ω", "Ⅻ", "½", "㎏", "ǰ", "ŉ", "x264", "-", " ", ".", "進", "撃",
            "night", "nights",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut words, mut variants) = (0, 0);
        for _ in 0..20_000 {
            let mut name = String::new();
            for _ in 0..1 + next(60) {
                name.push_str(pieces[next(pieces.len())]);
            }
            let (mut exact_tokens, mut folded_tokens) = (Vec::new(), Vec::new());
            analyze(&name, Mode::EXACT_INDEX, &mut exact_tokens);
            analyze(&name, Mode::FOLDED_INDEX, &mut folded_tokens);
            // Token by token, in place and text (the highlighter's one pass).
            assert_eq!(exact_tokens.len(), folded_tokens.len(), "{name:?}");
            for (e, f) in exact_tokens.iter().zip(&folded_tokens) {
                assert_eq!(
                    (e.offset_from, e.offset_to, folded_token(&e.text).as_ref()),
                    (f.offset_from, f.offset_to, Some(&f.text)),
                    "{name:?}"
                );
            }
            let exact = terms(&name, Mode::EXACT_INDEX);
            let folded = terms(&name, Mode::FOLDED_INDEX);
            let variant = terms(&name, Mode::VARIANTS_INDEX);
            let count = |of: &[String], t: &str| of.iter().filter(|x| *x == t).count();
            for e in exact.iter().filter(|e| !e.chars().any(is_cjk)) {
                let f = folded_of_exact(e).unwrap_or_else(|| panic!("{name:?}: {e:?}"));
                assert!(count(&folded, &f) > 0, "{name:?}: {e:?} folded is {f:?}");
                words += 1;
            }
            // Of a term that folds to itself (the exact term `night`, the
            // folded `night`), the exact documents are the folded ones but
            // those with only variants.
            for f in folded
                .iter()
                .filter(|f| folded_of_exact(f).as_ref() == Some(*f))
            {
                assert_eq!(
                    count(&folded, f),
                    count(&exact, f) + count(&variant, f),
                    "{name:?}: {f:?} in {exact:?} {variant:?}"
                );
            }
            variants += variant.len();
        }
        assert!(words > 20_000 && variants > 5_000, "{words} {variants}");
    }
}
