//! View data for templates: everything is prepared here, templates only lay it out.

use std::path::Path;

use magnetar_shared::{FileEntry, InfoHash};
use serde::Serialize;

use crate::index::search::{SearchParams, Sort};
use crate::links::encode;

/// `1536` → `1.5 KiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
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
pub fn file_tree(files: &[FileEntry], single_file: bool, limit: usize) -> Vec<TreeItem> {
    let mut sorted: Vec<&FileEntry> = files.iter().collect();
    if !single_file {
        sorted.sort_by(|a, b| a.path.cmp(&b.path));
    }
    sorted.truncate(limit);
    let dir_size = |prefix: &Path| -> u64 {
        files
            .iter()
            .filter(|f| f.path.starts_with(prefix))
            .map(|f| f.length)
            .sum()
    };
    let mut out = Vec::new();
    let mut open: Vec<String> = Vec::new();
    for f in sorted {
        let comps: Vec<String> = f
            .path
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let Some((file, dirs)) = comps.split_last() else {
            continue;
        };
        let common = open.iter().zip(dirs).take_while(|(a, b)| a == b).count();
        while open.len() > common {
            open.pop();
            out.push(TreeItem::Close);
        }
        for d in &dirs[common..] {
            open.push(d.clone());
            let prefix: std::path::PathBuf = open.iter().collect();
            out.push(TreeItem::Open {
                name: d.clone(),
                size: human_size(dir_size(&prefix)),
            });
        }
        out.push(TreeItem::File {
            name: file.clone(),
            size: human_size(f.length),
        });
    }
    out.extend(open.iter().map(|_| TreeItem::Close));
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
        let items = file_tree(&[f("a/x", 1), f("a/b/y", 2), f("z", 4)], false, 100);
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
    fn only_http_links_are_linkified() {
        let s = linkify("see https://example.org/x and javascript:alert(1) ok");
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].href.as_deref(), Some("https://example.org/x"));
        assert!(s[2].href.is_none() && s[2].text.contains("javascript:"));
    }
}
