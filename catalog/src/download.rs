//! Download helpers: safe file names and headers for `.torrent` downloads,
//! and the checks on preloaded images.

use std::io::{Cursor, Read};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rocket::tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use rocket::tokio::sync::{OwnedSemaphorePermit, Semaphore};

use rocket::http::{ContentType, Header};

use crate::links::encode;
use crate::query::QueryError;

/// Largest preloaded file served.
const MAX_PRELOADED_BYTES: u64 = 16 * 1024 * 1024;

/// Longest a download waits for room in the budget before a 503.
const BUDGET_WAIT: Duration = Duration::from_secs(2);

/// The memory all `.torrent` downloads being sent may hold
/// (`download_memory_mib`), counted in KiB: a client that opens thousands
/// of connections to a 16 MiB torrent and reads none of them holds at most
/// this much, not thousands of copies.
pub struct DownloadBudget {
    kib: Arc<Semaphore>,
    total_kib: u32,
}

impl DownloadBudget {
    pub fn new(mib: u32) -> Self {
        let total_kib = mib.max(1).saturating_mul(1024);
        Self {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// Room for `bytes`, waiting up to [`BUDGET_WAIT`] for downloads in
    /// flight to finish; `None` when there is none by then. A download
    /// larger than the whole budget waits for all of it.
    pub async fn reserve(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        let kib = bytes.div_ceil(1024).clamp(1, u64::from(self.total_kib)) as u32;
        rocket::tokio::time::timeout(BUDGET_WAIT, self.kib.clone().acquire_many_owned(kib))
            .await
            .ok()?
            .ok()
    }

    /// KiB free now.
    #[cfg(test)]
    pub fn available_kib(&self) -> usize {
        self.kib.available_permits()
    }
}

/// A response body that keeps its budget reservation until it is dropped:
/// when its last byte is sent or the connection closes.
pub struct Reserved {
    bytes: Cursor<Vec<u8>>,
    _room: OwnedSemaphorePermit,
}

impl Reserved {
    pub fn new(bytes: Vec<u8>, room: OwnedSemaphorePermit) -> Self {
        Self {
            bytes: Cursor::new(bytes),
            _room: room,
        }
    }
}

/// Sent with its length; the reservation goes when the body is dropped.
impl<'r> rocket::response::Responder<'r, 'static> for Reserved {
    fn respond_to(self, _: &'r rocket::Request<'_>) -> rocket::response::Result<'static> {
        let len = self.bytes.get_ref().len();
        rocket::Response::build().sized_body(len, self).ok()
    }
}

impl AsyncRead for Reserved {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.bytes).poll_read(cx, buf)
    }
}

impl AsyncSeek for Reserved {
    fn start_seek(mut self: Pin<&mut Self>, position: std::io::SeekFrom) -> std::io::Result<()> {
        Pin::new(&mut self.bytes).start_seek(position)
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        Pin::new(&mut self.bytes).poll_complete(cx)
    }
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

    #[rocket::async_test]
    async fn downloads_share_a_budget_held_until_their_bodies_are_dropped() {
        let budget = DownloadBudget::new(1);
        let first = budget.reserve(700 * 1024).await.expect("room for 700 KiB");
        assert_eq!(budget.available_kib(), 324);
        // No room for a second 700 KiB while the first body is alive.
        assert!(budget.reserve(700 * 1024).await.is_none());
        let small = budget.reserve(10).await.expect("room for 1 KiB");
        let body = Reserved::new(vec![0; 10], first);
        drop(body);
        assert_eq!(budget.available_kib(), 1023);
        drop(small);
        // Larger than the whole budget: sent alone, once everything is free.
        let huge = budget
            .reserve(5 * 1024 * 1024)
            .await
            .expect("the whole budget");
        assert_eq!(budget.available_kib(), 0);
        drop(huge);
        assert_eq!(budget.available_kib(), 1024);
    }

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
