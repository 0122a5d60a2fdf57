//! Parse time of one `.torrent` (the cold cost of its detail page):
//! `cargo run --release -p magnetar-shared --example parse_once -- FILE [N]`
//! parses FILE N times (default 20) and prints the mean.

fn main() -> Result<(), String> {
    let usage = "usage: parse_once FILE [N]";
    let path = std::env::args().nth(1).ok_or(usage)?;
    let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let n: u32 = match std::env::args().nth(2) {
        None => 20,
        Some(s) => s.parse().map_err(|_| usage)?,
    };
    let t = std::time::Instant::now();
    for _ in 0..n {
        let meta = magnetar_shared::TorrentMeta::from_torrent_bytes(&bytes)
            .map_err(|e| format!("{path}: {e}"))?;
        std::hint::black_box(meta);
    }
    println!(
        "parse: {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0 / f64::from(n.max(1))
    );
    Ok(())
}
