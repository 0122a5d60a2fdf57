//! Parse time of one `.torrent` (the cold cost of its detail page):
//! `cargo run --release -p magnetar-shared --example parse_once -- FILE [N]`
//! parses FILE N times (default 20) and prints the mean.

fn main() {
    let path = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let n: u32 = std::env::args().nth(2).map_or(20, |s| s.parse().unwrap());
    let t = std::time::Instant::now();
    for _ in 0..n {
        let m = magnetar_shared::TorrentMeta::from_torrent_bytes(&bytes).unwrap();
        std::hint::black_box(m);
    }
    println!(
        "parse: {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
    );
}
