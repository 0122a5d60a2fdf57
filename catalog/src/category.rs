//! Categories derived from file extensions.

use magnetar_shared::TorrentMeta;
use serde::Serialize;

/// What a torrent mostly contains, by bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Video,
    Audio,
    Book,
    Software,
    Image,
    Archive,
    Other,
}

impl Category {
    /// Every category, in display order.
    pub const ALL: [Category; 7] = [
        Self::Video,
        Self::Audio,
        Self::Book,
        Self::Software,
        Self::Image,
        Self::Archive,
        Self::Other,
    ];

    /// The name used in URLs and the index.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Audio => "audio",
            Self::Book => "book",
            Self::Software => "software",
            Self::Image => "image",
            Self::Archive => "archive",
            Self::Other => "other",
        }
    }

    /// Parses a URL/index name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The category of one file name.
    pub fn of_extension(name: &str) -> Self {
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "mkv" | "mp4" | "avi" | "mov" | "wmv" | "m4v" | "webm" | "mpg" | "mpeg" | "ts"
            | "flv" | "vob" | "m2ts" => Self::Video,
            "mp3" | "flac" | "ogg" | "opus" | "wav" | "m4a" | "aac" | "ape" | "wma" | "alac" => {
                Self::Audio
            }
            "epub" | "pdf" | "mobi" | "azw3" | "djvu" | "fb2" | "cbz" | "cbr" | "chm" => Self::Book,
            "exe" | "msi" | "dmg" | "deb" | "rpm" | "apk" | "iso" | "appimage" | "img" | "pkg" => {
                Self::Software
            }
            "jpg" | "jpeg" | "png" | "gif" | "webp" | "bmp" | "tif" | "tiff" | "svg" | "heic" => {
                Self::Image
            }
            "zip" | "rar" | "7z" | "tar" | "gz" | "bz2" | "xz" | "zst" => Self::Archive,
            _ => Self::Other,
        }
    }

    /// The category holding most of a torrent's bytes (ties: most files).
    pub fn of_torrent(meta: &TorrentMeta) -> Self {
        let mut bytes = [0u64; 7];
        let mut counts = [0u64; 7];
        for f in &meta.files {
            let name = f
                .path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            let i = Self::of_extension(&name) as usize;
            bytes[i] = bytes[i].saturating_add(f.length);
            counts[i] += 1;
        }
        Self::ALL
            .into_iter()
            .max_by_key(|c| {
                (
                    bytes[*c as usize],
                    counts[*c as usize],
                    std::cmp::Reverse(*c as usize),
                )
            })
            .unwrap_or(Self::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_map_to_categories() {
        assert_eq!(Category::of_extension("Movie.2020.MKV"), Category::Video);
        assert_eq!(Category::of_extension("01.flac"), Category::Audio);
        assert_eq!(Category::of_extension("book.epub"), Category::Book);
        assert_eq!(Category::of_extension("README"), Category::Other);
        assert_eq!(Category::parse("audio"), Some(Category::Audio));
        assert_eq!(Category::parse("nope"), None);
    }
}
