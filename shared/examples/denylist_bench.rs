//! Cost of a large denylist: parse time, memory and lookup time at N
//! entries (default 1 000 000; every tenth with a reason, plus 100 name
//! rules), through the same `Moderation` handle the roles use.
//!
//! `cargo run --release -p magnetar-shared --example denylist_bench [N]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use magnetar_shared::{InfoHash, Moderation};

/// Counts the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Relaxed);
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A deterministic pseudo-random hash (splitmix64).
fn hash(mut x: u64) -> InfoHash {
    let mut out = [0u8; 20];
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
    InfoHash(out)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("magnetar-denylist-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("denylist");
    let mut text = String::with_capacity(n as usize * 60);
    for i in 0..n {
        text.push_str(&hash(i).to_hex());
        if i % 10 == 0 {
            text.push_str(" takedown request number ");
            text.push_str(&i.to_string());
        }
        text.push('\n');
    }
    for i in 0..100 {
        text.push_str(&format!("name: unwanted words {i}\n"));
    }
    std::fs::write(&path, &text).unwrap();
    let file_mb = text.len() as f64 / 1e6;
    drop(text);

    let before = LIVE.load(Relaxed);
    let started = Instant::now();
    let m = Moderation::unwatched(path.clone(), false);
    let load_s = started.elapsed().as_secs_f64();
    let bytes = LIVE.load(Relaxed) - before;
    let list = m.current();
    assert_eq!(list.hash_count() as u64, n);

    let lookups = 10_000_000u64;
    let time = |label: &str, f: &dyn Fn(u64) -> bool| {
        let started = Instant::now();
        let mut found = 0u64;
        for i in 0..lookups {
            found += u64::from(f(black_box(i)));
        }
        let ns = started.elapsed().as_nanos() as f64 / lookups as f64;
        println!("{label:<44} {ns:>6.1} ns/lookup ({found} found)");
    };
    println!(
        "denylist: {n} hashes (every tenth with a reason) + 100 name rules, {file_mb:.1} MB file"
    );
    println!("load (read + parse + build):                 {load_s:.2} s");
    println!(
        "memory held by the list:                     {:.1} MiB ({:.0} bytes per hash)",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / n as f64
    );
    time("lookup, denied hashes (Moderation handle):", &|i| {
        m.denies_hash(&hash(i % n))
    });
    time("lookup, other hashes (Moderation handle):", &|i| {
        m.denies_hash(&hash(n + i))
    });
    let empty = Moderation::unwatched(dir.join("missing"), false);
    time("lookup, empty list (Moderation handle):", &|i| {
        empty.denies_hash(&hash(i))
    });
    time("reference: making the hash alone:", &|i| hash(i).0[0] == 0);
    let names = 100_000u64;
    let started = Instant::now();
    let mut matched = 0;
    for i in 0..names {
        let name = format!("Some.Release.Name.{i}.1080p.WEB-DL.x264");
        matched += usize::from(list.name_rule_for(&name).is_some());
    }
    println!(
        "name rules (100) on a release name:          {:.2} µs/name ({matched} matched)",
        started.elapsed().as_secs_f64() * 1e6 / names as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
