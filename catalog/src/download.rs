//! Download helpers: safe file names and headers for `.torrent` downloads,
//! and the checks on preloaded images.

use std::io::Read;
use std::path::Path;

use rocket::http::{ContentType, Header};

use crate::links::encode;
use crate::query::QueryError;

/// Largest preloaded file served.
const MAX_PRELOADED_BYTES: u64 = 16 * 1024 * 1024;

/// ASCII-only file name for the plain `filename=` parameter.
pub fn safe_filename(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " -_.()[]".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(150)
        .collect();
    let trimmed = cleaned.trim_matches(|c| c == '.' || c == ' ');
    if trimmed.is_empty() {
        "torrent".into()
    } else {
        trimmed.to_owned()
    }
}

/// `Content-Disposition: attachment` with an ASCII and a UTF-8 file name.
pub fn disposition(filename: &str) -> Header<'static> {
    Header::new(
        "Content-Disposition",
        format!(
            "attachment; filename=\"{}\"; filename*=UTF-8''{}",
            safe_filename(filename),
            encode(filename)
        ),
    )
}

/// Serves a file from a torrent's preload dir only if it stays inside that
/// dir (symlinks resolved) and its content is an allow-listed image.
pub fn preloaded_image(dir: &Path, rel: &Path) -> Result<(ContentType, Vec<u8>), QueryError> {
    let not_found = || QueryError::NotFound("No such file.".into());
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(not_found());
    }
    let base = dir.canonicalize().map_err(|_| not_found())?;
    let full = base.join(rel).canonicalize().map_err(|_| not_found())?;
    if !full.starts_with(&base) || !full.is_file() {
        return Err(not_found());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&full)
        .and_then(|f| f.take(MAX_PRELOADED_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|_| not_found())?;
    if bytes.len() as u64 > MAX_PRELOADED_BYTES {
        return Err(not_found());
    }
    let ct = image_type(&bytes).ok_or_else(not_found)?;
    Ok((ct, bytes))
}

/// The image type of `bytes` by magic number (PNG, JPEG, GIF, WebP).
pub fn image_type(bytes: &[u8]) -> Option<ContentType> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ContentType::PNG)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(ContentType::JPEG)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(ContentType::GIF)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ContentType::WEBP)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_ascii_and_safe() {
        assert_eq!(safe_filename("a\"b\r\n;c/é.torrent"), "a_b___c__.torrent");
        assert_eq!(safe_filename("..."), "torrent");
    }

    #[test]
    fn downloads_keep_the_real_utf8_name() {
        let h = disposition("Amélie 東京.torrent");
        assert_eq!(
            h.value(),
            "attachment; filename=\"Am_lie __.torrent\"; filename*=UTF-8''Am%C3%A9lie%20%E6%9D%B1%E4%BA%AC.torrent"
        );
    }

    #[test]
    fn images_are_recognised_by_content() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nrest"), Some(ContentType::PNG));
        assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some(ContentType::WEBP));
    }
}
