//! A minimal BitTorrent peer that only speaks BEP 10/BEP 9 and serves
//! whatever metadata bytes it is given (the info-hash is their SHA-1), so
//! tests can feed the crawler hostile metadata.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use magnetar_shared::InfoHash;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PIECE: usize = 16 * 1024;

/// Starts serving; returns the listen address. Runs until the runtime ends.
pub async fn serve(metadata: Vec<Vec<u8>>) -> (SocketAddr, Vec<InfoHash>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hashes: Vec<InfoHash> = metadata
        .iter()
        .map(|m| InfoHash::of_info_bytes(m))
        .collect();
    let by_hash: Arc<HashMap<InfoHash, Vec<u8>>> =
        Arc::new(hashes.iter().copied().zip(metadata).collect());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let by_hash = by_hash.clone();
            tokio::spawn(async move {
                let _ = session(stream, by_hash).await;
            });
        }
    });
    (addr, hashes)
}

async fn session(
    mut s: TcpStream,
    by_hash: Arc<HashMap<InfoHash, Vec<u8>>>,
) -> std::io::Result<()> {
    let mut hs = [0u8; 68];
    s.read_exact(&mut hs).await?;
    let hash = InfoHash::from_slice(&hs[28..48]).unwrap_or_default();
    let Some(meta) = by_hash.get(&hash) else {
        return Ok(());
    };
    let mut reply = Vec::with_capacity(68);
    reply.push(19);
    reply.extend_from_slice(b"BitTorrent protocol");
    reply.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0]);
    reply.extend_from_slice(&hash.0);
    reply.extend_from_slice(b"-FP0001-fakepeer0001");
    s.write_all(&reply).await?;
    let ext = format!("d1:md11:ut_metadatai1ee13:metadata_sizei{}ee", meta.len());
    send(&mut s, 20, 0, ext.as_bytes(), &[]).await?;
    let mut their_id = 1u8;
    loop {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            continue;
        }
        if len > 1 << 20 {
            return Ok(());
        }
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await?;
        if body[0] != 20 || body.len() < 2 {
            continue;
        }
        let payload = &body[2..];
        if body[1] == 0 {
            if let Some(id) = find_int(payload, b"11:ut_metadatai") {
                their_id = id as u8;
            }
        } else if find_int(payload, b"8:msg_typei") == Some(0) {
            let piece = find_int(payload, b"5:piecei").unwrap_or(0) as usize;
            let start = piece * PIECE;
            let end = (start + PIECE).min(meta.len());
            if start >= meta.len() {
                continue;
            }
            let head = format!(
                "d8:msg_typei1e5:piecei{piece}e10:total_sizei{}ee",
                meta.len()
            );
            send(&mut s, 20, their_id, head.as_bytes(), &meta[start..end]).await?;
        }
    }
}

async fn send(s: &mut TcpStream, id: u8, ext: u8, head: &[u8], tail: &[u8]) -> std::io::Result<()> {
    let len = (2 + head.len() + tail.len()) as u32;
    let mut msg = len.to_be_bytes().to_vec();
    msg.push(id);
    msg.push(ext);
    msg.extend_from_slice(head);
    msg.extend_from_slice(tail);
    s.write_all(&msg).await
}

fn find_int(hay: &[u8], key: &[u8]) -> Option<u64> {
    let at = hay.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: Vec<u8> = hay[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}
