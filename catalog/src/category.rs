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

/// Newznab categories, parents and the subcategories Sonarr, Radarr and
/// Lidarr ask for: `(id, name)`, a parent's id a multiple of 1000.
pub const NEWZNAB: &[(u32, &str)] = &[
    (2000, "Movies"),
    (2030, "Movies/SD"),
    (2040, "Movies/HD"),
    (2045, "Movies/UHD"),
    (3000, "Audio"),
    (3010, "Audio/MP3"),
    (3040, "Audio/Lossless"),
    (4000, "PC"),
    (4020, "PC/ISO"),
    (4030, "PC/Mac"),
    (4040, "PC/Mobile-Other"),
    (5000, "TV"),
    (5030, "TV/SD"),
    (5040, "TV/HD"),
    (5045, "TV/UHD"),
    (5070, "TV/Anime"),
    (7000, "Books"),
    (7020, "Books/EBook"),
    (7030, "Books/Comics"),
    (8000, "Other"),
];

/// The name of a Newznab category (`TV/HD`), if it is one of ours.
pub fn newznab_name(id: u32) -> Option<&'static str> {
    NEWZNAB.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

/// The Newznab category of a torrent: video split into movies and TV
/// (anime apart) by what its name says, with SD/HD/UHD from the
/// resolution (or the source: DVDs and cams are SD); audio lossless or
/// MP3; disc images, Mac and mobile software; e-books and comics. The
/// parent alone when nothing tells the subcategory.
pub fn newznab(meta: &TorrentMeta, category: Category, release: &crate::release::Release) -> u32 {
    // Bytes per subcategory of the torrent's category, its files' extensions
    // compared without allocating: the largest share names the subcategory.
    let by_bytes = |subs: &[(&[&str], u32)], parent: u32| {
        let mut bytes = [0u64; 4];
        for f in meta.files.iter().take(10_000) {
            let Some(ext) = f.path.extension().and_then(|e| e.to_str()) else {
                continue;
            };
            if let Some(i) = subs
                .iter()
                .position(|(exts, _)| exts.iter().any(|x| x.eq_ignore_ascii_case(ext)))
            {
                bytes[i] = bytes[i].saturating_add(f.length);
            }
        }
        subs.iter()
            .zip(bytes)
            .filter(|(_, b)| *b > 0)
            .max_by_key(|(_, b)| *b)
            .map_or(parent, |((_, id), _)| *id)
    };
    match category {
        Category::Video => {
            if release.anime {
                return 5070;
            }
            let base = if release.is_tv() { 5000 } else { 2000 };
            let sd_source = matches!(release.source, Some("DVD" | "DVDRip" | "CAM" | "TS"));
            base + match release.resolution {
                Some(2160..) => 45,
                Some(720..=2159) => 40,
                Some(_) => 30,
                None if sd_source => 30,
                None => 0,
            }
        }
        Category::Audio => by_bytes(
            &[
                (&["flac", "ape", "alac", "wav", "wv"], 3040),
                (&["mp3"], 3010),
            ],
            3000,
        ),
        Category::Software => by_bytes(
            &[
                (&["iso", "img"], 4020),
                (&["dmg", "pkg"], 4030),
                (&["apk"], 4040),
            ],
            4000,
        ),
        Category::Book => by_bytes(&[(&["cbz", "cbr"], 7030)], 7020),
        Category::Image | Category::Archive | Category::Other => 8000,
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

    fn meta(name: &str, files: &[&str]) -> TorrentMeta {
        crate::index::sample(0, name, files)
    }

    #[test]
    fn newznab_splits_movies_tv_and_anime_by_resolution() {
        let cases = [
            ("Show.Name.S01E02.1080p.WEB-DL.x264-GRP", "e.mkv", 5040),
            ("Show.Name.S01.2160p.WEB-DL.x265-GRP", "e.mkv", 5045),
            ("Show.Name.S01E02.480p.HDTV.x264-GRP", "e.mkv", 5030),
            ("Show.Name.S01E02.HDTV.x264-GRP", "e.mkv", 5000),
            ("[Group] Anime - 05 [1080p]", "e.mkv", 5070),
            ("Movie.Title.1999.1080p.BluRay.x264-GRP", "m.mkv", 2040),
            ("Movie Title (1999) [2160p]", "m.mkv", 2045),
            ("Movie.Title.1999.DVDRip.XviD-GRP", "m.avi", 2030),
            ("Movie Title 1999", "m.mkv", 2000),
            ("Artist - Album (2019) [FLAC]", "01.flac", 3040),
            ("Artist - Album (2019)", "01.mp3", 3010),
            ("Distro 24.04", "distro.iso", 4020),
            ("Book", "book.epub", 7020),
            ("Comic", "issue.cbz", 7030),
            ("Photos", "a.jpg", 8000),
        ];
        for (name, file, want) in cases {
            let m = meta(name, &[file]);
            let got = newznab(&m, Category::of_torrent(&m), &crate::release::parse(name));
            assert_eq!(got, want, "{name}");
            assert!(newznab_name(got).is_some(), "{got} is listed");
        }
    }
}
