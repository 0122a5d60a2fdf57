//! View data for templates: everything is prepared here, templates only lay it out.

use magnetar_shared::{FileEntry, InfoHash};
use serde::Serialize;

use crate::index::search::{SearchParams, Sort};
use crate::links::encode;

/// A byte count as a value and a binary unit index (0 = B, 1 = KiB, … 5 = PiB).
pub fn scaled(bytes: u64) -> (f64, usize) {
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < 5 {
        v /= 1024.0;
        unit += 1;
    }
    (v, unit)
}

/// `n` to two significant figures (133 554 → 130 000): how an estimate
/// is shown, so it does not look exact.
pub fn two_figures(n: usize) -> usize {
    let mut unit = 1;
    while n / unit >= 100 {
        unit *= 10;
    }
    (n + unit / 2) / unit * unit
}

/// `1536` → `1.5 KiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let (v, unit) = scaled(bytes);
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// One line of a file tree, rendered in order with `<details>` for folders.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TreeItem {
    Open { name: String, size: String },
    File { name: String, size: String },
    Close,
}

/// Flattens files into open/file/close items; `limit` caps the files shown.
///
/// One pass over the files in path order: a folder's files are contiguous,
/// so its size is summed while it is open and written into its `Open` item
/// when it closes (folders cut off by `limit` still count every file).
/// O(n log n) for n files whatever the depth.
pub fn file_tree(
    files: &[FileEntry],
    single_file: bool,
    limit: usize,
    size_text: &dyn Fn(u64) -> String,
) -> Vec<TreeItem> {
    struct Dir<'a> {
        name: std::borrow::Cow<'a, str>,
        /// Index of its `Open` item, when shown.
        item: Option<usize>,
        size: u64,
    }
    let mut sorted: Vec<&FileEntry> = files.iter().collect();
    if !single_file {
        // By the bytes of the whole path: every folder's files are still
        // contiguous (they share the prefix `folder/`), and a comparison
        // is one memcmp rather than a walk over both paths' components.
        sorted.sort_unstable_by(|a, b| {
            a.path
                .as_os_str()
                .as_encoded_bytes()
                .cmp(b.path.as_os_str().as_encoded_bytes())
        });
    }
    let mut out = Vec::with_capacity(limit.min(files.len()) * 2);
    let mut stack: Vec<Dir<'_>> = Vec::new();
    let close = |stack: &mut Vec<Dir<'_>>, out: &mut Vec<TreeItem>| {
        if let Some(dir) = stack.pop() {
            if let Some(parent) = stack.last_mut() {
                parent.size += dir.size;
            }
            if let Some(i) = dir.item {
                if let Some(TreeItem::Open { size, .. }) = out.get_mut(i) {
                    *size = size_text(dir.size);
                }
                out.push(TreeItem::Close);
            }
        }
    };
    for (n, f) in sorted.into_iter().enumerate() {
        let shown = n < limit;
        let comps: Vec<std::borrow::Cow<'_, str>> =
            f.path.iter().map(|c| c.to_string_lossy()).collect();
        let Some((file, dirs)) = comps.split_last() else {
            continue;
        };
        let common = stack
            .iter()
            .zip(dirs)
            .take_while(|(open, d)| open.name == **d)
            .count();
        while stack.len() > common {
            close(&mut stack, &mut out);
        }
        for d in &dirs[common..] {
            let item = shown.then(|| {
                out.push(TreeItem::Open {
                    name: d.to_string(),
                    size: String::new(),
                });
                out.len() - 1
            });
            stack.push(Dir {
                name: d.clone(),
                item,
                size: 0,
            });
        }
        if let Some(dir) = stack.last_mut() {
            dir.size += f.length;
        }
        if shown {
            out.push(TreeItem::File {
                name: file.to_string(),
                size: size_text(f.length),
            });
        }
    }
    while !stack.is_empty() {
        close(&mut stack, &mut out);
    }
    out
}

/// A piece of a comment: plain text, or a link that is safe to follow.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub href: Option<String>,
}

/// Splits text into plain and `http(s)://` link segments (other schemes stay text).
pub fn linkify(text: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut plain = String::new();
    for word in text.split_inclusive(char::is_whitespace) {
        let trimmed = word.trim_end();
        let is_link = (trimmed.starts_with("http://") || trimmed.starts_with("https://"))
            && trimmed.len() > 8
            && !trimmed.contains(['"', '<', '>', '\'']);
        if is_link {
            if !plain.is_empty() {
                out.push(Segment {
                    text: std::mem::take(&mut plain),
                    href: None,
                });
            }
            out.push(Segment {
                text: trimmed.to_owned(),
                href: Some(trimmed.to_owned()),
            });
            plain.push_str(&word[trimmed.len()..]);
        } else {
            plain.push_str(word);
        }
    }
    if !plain.is_empty() {
        out.push(Segment {
            text: plain,
            href: None,
        });
    }
    out
}

/// The filters on what names say that `p` sets, as query parameters
/// (values need no escaping: digits and commas).
pub fn release_filters(p: &SearchParams) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !p.cats.is_empty() {
        let cats: Vec<String> = p.cats.iter().map(u32::to_string).collect();
        out.push(("cat", cats.join(",")));
    }
    for (name, v) in [
        ("year", p.year),
        ("season", p.season),
        ("ep", p.episode),
        ("resolution", p.resolution),
    ] {
        if let Some(v) = v {
            out.push((name, v.to_string()));
        }
    }
    out
}

/// A query string for the given search at `page` (for links).
pub fn search_query(p: &SearchParams, page: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !p.q.is_empty() {
        parts.push(format!("q={}", encode(&p.q)));
    }
    if let Some(c) = p.category {
        parts.push(format!("category={}", c.as_str()));
    }
    if let Some(v) = p.min_size {
        parts.push(format!("min_size={v}"));
    }
    if let Some(v) = p.max_size {
        parts.push(format!("max_size={v}"));
    }
    if let Some(v) = p.from {
        parts.push(format!("from={v}"));
    }
    if let Some(v) = p.to {
        parts.push(format!("to={v}"));
    }
    if let Some(o) = &p.origin {
        parts.push(format!("origin={}", encode(o)));
    }
    for (name, v) in release_filters(p) {
        parts.push(format!("{name}={v}"));
    }
    let default_sort = if p.q.is_empty() {
        Sort::Newest
    } else {
        Sort::Relevance
    };
    if p.sort != default_sort {
        parts.push(format!("sort={}", p.sort.as_str()));
    }
    if page > 1 {
        parts.push(format!("page={page}"));
    }
    parts.join("&")
}

/// URL of a preloaded file of a torrent.
pub fn preload_url(hash: &InfoHash, rel: &str) -> String {
    let path: Vec<String> = rel.split('/').map(encode).collect();
    format!("/{hash}/files/{}", path.join("/"))
}

/// True for file names shown as image previews.
pub fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".jpg", ".jpeg", ".png", ".gif", ".webp"]
        .iter()
        .any(|e| lower.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_keep_two_figures() {
        assert_eq!(two_figures(133_554), 130_000);
        assert_eq!(two_figures(10_149), 10_000);
        assert_eq!(two_figures(10_150), 10_000);
        assert_eq!(two_figures(10_500), 11_000);
        assert_eq!(two_figures(99), 99);
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(5), "5 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn tree_nests_folders() {
        let f = |p: &str, l| FileEntry {
            path: p.into(),
            length: l,
        };
        let items = file_tree(
            &[f("a/x", 1), f("a/b/y", 2), f("z", 4)],
            false,
            100,
            &human_size,
        );
        let kinds: Vec<String> = items
            .iter()
            .map(|i| match i {
                TreeItem::Open { name, .. } => format!("+{name}"),
                TreeItem::File { name, .. } => name.clone(),
                TreeItem::Close => "-".into(),
            })
            .collect();
        assert_eq!(kinds, ["+a", "+b", "y", "-", "x", "-", "z"]);
        assert_eq!(
            items[0],
            TreeItem::Open {
                name: "a".into(),
                size: "3 B".into()
            }
        );
    }

    #[test]
    fn a_cut_tree_still_counts_every_file_in_its_folder_sizes() {
        let f = |p: String, l| FileEntry {
            path: p.into(),
            length: l,
        };
        // 30 folders deep, 3 000 files: only 10 shown, sizes of all.
        let deep = (0..30)
            .map(|i| format!("d{i}"))
            .collect::<Vec<_>>()
            .join("/");
        let files: Vec<FileEntry> = (0..3_000)
            .map(|i| f(format!("{deep}/f{i:04}"), 1024))
            .chain([f("top/other".into(), 1)])
            .collect();
        let items = file_tree(&files, false, 10, &human_size);
        let shown = items
            .iter()
            .filter(|i| matches!(i, TreeItem::File { .. }))
            .count();
        assert_eq!(shown, 10);
        assert_eq!(
            items[0],
            TreeItem::Open {
                name: "d0".into(),
                size: human_size(3_000 * 1024)
            }
        );
        let opens = items
            .iter()
            .filter(|i| matches!(i, TreeItem::Open { .. }))
            .count();
        let closes = items
            .iter()
            .filter(|i| matches!(i, TreeItem::Close))
            .count();
        assert_eq!(
            (opens, closes),
            (30, 30),
            "balanced, the cut-off folder not opened"
        );
    }

    #[test]
    fn only_http_links_are_linkified() {
        let s = linkify("see https://example.org/x and javascript:alert(1) ok");
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].href.as_deref(), Some("https://example.org/x"));
        assert!(s[2].href.is_none() && s[2].text.contains("javascript:"));
    }
}
