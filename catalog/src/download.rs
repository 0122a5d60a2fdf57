//! Downloads: `.torrent` files with instance trackers, preloaded images.

use std::io::Read;
use std::path::Path;

use magnetar_shared::metainfo::{build_torrent_file, info_bytes_of};
use magnetar_shared::TorrentMeta;
use rocket::http::{ContentType, Header};

use crate::magnet::encode;
use crate::web::{App, PageError};

/// Largest preloaded file served.
const MAX_PRELOADED_BYTES: u64 = 16 * 1024 * 1024;

/// The stored `.torrent`, with the instance's public trackers put first when
/// configured, and a safe download file name.
pub fn torrent_file(app: &App, meta: &TorrentMeta, stored: &[u8]) -> (Vec<u8>, String) {
    let filename = format!("{}.torrent", safe_filename(&meta.name));
    if app.config.catalog.public_trackers.is_empty() {
        return (stored.to_vec(), filename);
    }
    let Ok(info) = info_bytes_of(stored) else {
        return (stored.to_vec(), filename);
    };
    let own = meta.trackers();
    let trackers: Vec<String> = app
        .trackers_for(&own)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let body = build_torrent_file(
        info,
        &trackers,
        meta.comment.as_deref(),
        meta.created_by.as_deref(),
        meta.creation_date,
    );
    (body, filename)
}

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
pub fn preloaded_image(dir: &Path, rel: &Path) -> Result<(ContentType, Vec<u8>), PageError> {
    let not_found = || PageError::NotFound("No such file.".into());
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
    fn images_are_recognised_by_content() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nrest"), Some(ContentType::PNG));
        assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some(ContentType::WEBP));
    }
}
