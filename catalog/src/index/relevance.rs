//! The relevance test set (`catalog/relevance/`): a fixed multilingual
//! corpus and the torrent each query means. Prints recall@10 and the share
//! of queries whose intended torrent is first.

use chrono::Utc;

use super::search::{RawSearch, SearchResults};
use super::{sample as meta, CatalogIndex};

const CORPUS: &str = include_str!("../../relevance/corpus.tsv");
const QUERIES: &str = include_str!("../../relevance/queries.tsv");

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

/// An index of `names` (name, files), in order.
pub(crate) fn index_of(dir: &std::path::Path, names: &[(&str, Vec<&str>)]) -> CatalogIndex {
    let (index, _) = CatalogIndex::open(&dir.join("index"), 1).unwrap();
    let g = index.current();
    let mut writer: tantivy::IndexWriter = g.index.writer(50_000_000).unwrap();
    for (i, (name, files)) in names.iter().enumerate() {
        writer
            .add_document(g.document(&meta(i, name, files), Utc::now(), &[]))
            .unwrap();
    }
    writer.commit().unwrap();
    g.reader.reload().unwrap();
    index
}

pub(crate) fn search(index: &CatalogIndex, q: &str, limit: usize) -> SearchResults {
    let params = RawSearch {
        q: Some(q.to_owned()),
        ..Default::default()
    }
    .validate(limit)
    .unwrap();
    index.search(&params).unwrap()
}

pub(crate) fn names(r: &SearchResults) -> Vec<String> {
    r.hits.iter().map(|h| h.torrent.name.clone()).collect()
}

fn corpus() -> Vec<(&'static str, Vec<&'static str>)> {
    lines(CORPUS)
        .map(|l| match l.split_once('\t') {
            Some((name, files)) => (name, files.split('|').collect()),
            None => (l, Vec::new()),
        })
        .collect()
}

#[test]
fn relevance_set_finds_every_intended_torrent_and_most_first() {
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(dir.path(), &corpus);
    let queries: Vec<(&str, &str)> = lines(QUERIES)
        .map(|l| l.split_once('\t').expect("query<TAB>intended name"))
        .collect();
    assert!(queries.len() >= 80, "the set has at least 80 queries");
    let langs_seen =
        |pred: fn(char) -> bool| queries.iter().filter(|(q, _)| q.chars().any(pred)).count();
    assert!(
        langs_seen(|c| ('\u{3040}'..='\u{30ff}').contains(&c)) >= 5,
        "Japanese kana"
    );
    assert!(
        langs_seen(|c| ('\u{ac00}'..='\u{d7af}').contains(&c)) >= 5,
        "Korean"
    );
    assert!(langs_seen(|c| "іїєґ".contains(c)) >= 5, "Ukrainian");
    let (mut found, mut first) = (0, 0);
    let mut report = String::new();
    for (q, intended) in &queries {
        assert!(
            corpus.iter().any(|(n, _)| n == intended),
            "{intended:?} is not in the corpus"
        );
        let got = names(&search(&index, q, 10));
        match got.iter().position(|n| n == intended) {
            Some(0) => {
                found += 1;
                first += 1;
            }
            Some(rank) => {
                found += 1;
                report.push_str(&format!(
                    "  rank {}: {q:?} -> {intended:?} (first: {:?})\n",
                    rank + 1,
                    got[0]
                ));
            }
            None => report.push_str(&format!("  MISSED: {q:?} -> {intended:?} (got {got:?})\n")),
        }
    }
    let n = queries.len() as f64;
    let recall = found as f64 / n * 100.0;
    let rank1 = first as f64 / n * 100.0;
    println!(
        "relevance: {} queries over {} torrents: recall@10 = {recall:.1}%, intended first = {rank1:.1}%\n{report}",
        queries.len(),
        corpus.len()
    );
    assert_eq!(found, queries.len(), "recall@10 must be 100%:\n{report}");
    assert!(
        rank1 >= 90.0,
        "intended first for {rank1:.1}% < 90%:\n{report}"
    );
}

fn rank(got: &[String], name: &str) -> usize {
    got.iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("{name:?} not found in {got:?}"))
}

#[test]
fn the_issues_failing_queries_all_find_their_torrent() {
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(dir.path(), &corpus);
    for (q, name) in [
        ("巨人", "進撃の巨人 第1話 1080p"),
        ("進撃", "進撃の巨人 第1話 1080p"),
        (
            "ファイナルファンタジー",
            "ファイナルファンタジーVII サウンドトラック",
        ),
        ("东京", "东京爱情故事 1991 全11集"),
        ("爱情", "东京爱情故事 1991 全11集"),
        ("amelie", "Amélie Poulain (2001) 1080p"),
        ("beyonce", "Beyoncé - Lemonade [FLAC]"),
        ("маргариты", "Мастер и Маргарита (2024) WEB-DL 1080p"),
        ("предки", "Тіні забутих предків (1965) Параджанов"),
        ("забуті", "Тіні забутих предків (1965) Параджанов"),
        ("ubunt", "Ubuntu 24.04 Desktop amd64"),
        ("ubunto", "Ubuntu 24.04 Desktop amd64"),
        ("matirx", "The.Matrix.1999.1080p.BluRay.x264-GRP"),
        ("ＡＭＥＬＩＥ", "Amélie Poulain (2001) 1080p"),
        ("巨", "進撃の巨人 第1話 1080p"),
    ] {
        rank(&names(&search(&index, q, 10)), name);
    }
}

#[test]
fn exact_forms_rank_above_folded_stemmed_prefix_and_typo_matches() {
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(dir.path(), &corpus);
    let got = |q| names(&search(&index, q, 20));
    // Accents: each spelling puts its own exact form first.
    let r = got("amelie");
    assert!(
        rank(&r, "Amelie Nothomb - Stupeur et tremblements [EPUB]")
            < rank(&r, "Amélie Poulain (2001) 1080p")
    );
    let r = got("amélie");
    assert!(
        rank(&r, "Amélie Poulain (2001) 1080p")
            < rank(&r, "Amelie Nothomb - Stupeur et tremblements [EPUB]")
    );
    let r = got("beyonce");
    assert!(
        rank(&r, "Beyonce Tribute Band - Live 2019 [MP3]") < rank(&r, "Beyoncé - Lemonade [FLAC]")
    );
    // Stems: the exact word above another form of it.
    let r = got("забуті");
    assert!(
        rank(&r, "Забуті пісні - збірка української музики [MP3]")
            < rank(&r, "Тіні забутих предків (1965) Параджанов")
    );
    let r = got("предки");
    assert!(
        rank(&r, "Предки та нащадки - історія родини (документальний)")
            < rank(&r, "Тіні забутих предків (1965) Параджанов")
    );
    // Prefix: whole words above words that only start with the query.
    let r = got("ubuntu");
    assert!(rank(&r, "Ubuntu 24.04 Desktop amd64") < rank(&r, "Ubuntustudio 24.04 amd64"));
    assert!(rank(&r, "Ubuntu Touch OTA-4 Images") < rank(&r, "Ubuntustudio 24.04 amd64"));
    // Typos: only when exact matching finds little, and below exact hits.
    let r = got("matrix");
    assert!(
        rank(&r, "The Matrix Reloaded (2003) [2160p]")
            < rank(&r, "Matrices and Linear Algebra - Lecture Notes (PDF)")
    );
    let dir = tempfile::tempdir().unwrap();
    let lemons = [
        "Lemon Tree A",
        "Lemon Tree B",
        "Lemon Tree C",
        "Lemon Tree D",
        "Lemon Tree E",
        "Lemun Pie",
    ];
    let small: Vec<(&str, Vec<&str>)> = lemons.iter().map(|n| (*n, Vec::new())).collect();
    let index = index_of(dir.path(), &small);
    let r = names(&search(&index, "lemon", 20));
    assert_eq!(r.len(), 5, "five exact hits: no typo pass: {r:?}");
    let r = names(&search(&index, "lemun", 20));
    assert_eq!(
        r.len(),
        6,
        "one exact hit: the typo pass adds the rest: {r:?}"
    );
    assert_eq!(r[0], "Lemun Pie");
}

#[test]
fn snippets_highlight_matches_in_every_script() {
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(dir.path(), &corpus);
    for (q, expect) in [
        ("巨人", "進撃の<b>巨人</b> 第1話 1080p"),
        ("маргариты", "Мастер и <b>Маргарита</b> (2024) WEB-DL 1080p"),
        (
            "amelie poulain",
            "<b>Amélie</b> <b>Poulain</b> (2001) 1080p",
        ),
        ("ubunt desktop", "<b>Ubuntu</b> 24.04 <b>Desktop</b> amd64"),
        ("기생충", "<b>기생충</b> Parasite 2019 1080p"),
    ] {
        let r = search(&index, q, 10);
        let shown: Vec<&str> = r
            .hits
            .iter()
            .filter_map(|h| h.name_html.as_deref())
            .collect();
        assert!(shown.contains(&expect), "{q}: {shown:?}");
    }
    let r = search(&index, "file:maintainers", 10);
    assert_eq!(
        r.hits[0].file_html.as_deref(),
        Some("linux-6.9.1/<b>MAINTAINERS</b>")
    );
}

#[test]
fn a_cjk_word_needs_all_its_bigrams_and_quotes_make_it_a_phrase() {
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(
        dir.path(),
        &[
            ("东京爱情故事 1991", vec![]),
            // 爱情 and 故事, but not 情故: not the word.
            ("爱情的故事", vec![]),
            // Every bigram of 爱情故事, but apart.
            ("故事 情故 爱情", vec![]),
        ],
    );
    let mut found = names(&search(&index, "爱情故事", 10));
    found.sort();
    assert_eq!(found, ["东京爱情故事 1991", "故事 情故 爱情"]);
    assert_eq!(
        names(&search(&index, "\"爱情故事\"", 10)),
        ["东京爱情故事 1991"]
    );
}

#[test]
fn a_search_on_several_threads_finds_what_one_thread_finds() {
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    let one = index_of(dir.path(), &corpus[..corpus.len() / 2]);
    // A second segment, so the threads have segments to share.
    let g = one.current();
    let mut writer: tantivy::IndexWriter = g.index.writer(15_000_000).unwrap();
    for (i, (name, files)) in corpus.iter().enumerate().skip(corpus.len() / 2) {
        writer
            .add_document(g.document(&meta(i, name, files), Utc::now(), &[]))
            .unwrap();
    }
    writer.commit().unwrap();
    drop(writer);
    g.reader.reload().unwrap();
    let (two, _) = CatalogIndex::open(&dir.path().join("index"), 2).unwrap();
    assert!(two.current().reader.searcher().segment_readers().len() >= 2);
    for q in ["the", "巨人", "ubunt", "маргарита", "-1080p", "matirx"] {
        let (a, b) = (search(&one, q, 20), search(&two, q, 20));
        assert_eq!(a.total, b.total, "{q}");
        assert!(a.total > 0, "{q}");
        assert_eq!(names(&a), names(&b), "{q}");
    }
}
