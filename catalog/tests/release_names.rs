//! Release-name parsing over a table of real-looking names (scene and P2P
//! styles, English, Cyrillic, Japanese anime naming): prints the accuracy
//! of every field and fails below 95 % for any of them, and shows each miss.

use magnetar_catalog::release::{parse, Release};

const TABLE: &str = include_str!("data/release_names.tsv");

fn opt_range(s: &str) -> Option<(u16, u16)> {
    if s == "-" {
        return None;
    }
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    Some((a.parse().unwrap(), b.parse().unwrap()))
}

fn opt<T: std::str::FromStr>(s: &str) -> Option<T>
where
    T::Err: std::fmt::Debug,
{
    (s != "-").then(|| s.parse().unwrap())
}

#[test]
fn release_names_parse_with_per_field_accuracy() {
    type Check = (&'static str, fn(&Release, &[&str]) -> bool);
    let checks: [Check; 9] = [
        ("title", |r, e| r.title == e[1]),
        ("year", |r, e| r.year == opt(e[2])),
        ("seasons", |r, e| r.seasons == opt_range(e[3])),
        ("episodes", |r, e| r.episodes == opt_range(e[4])),
        ("resolution", |r, e| r.resolution == opt(e[5])),
        ("source", |r, e| r.source == opt::<String>(e[6]).as_deref()),
        ("codec", |r, e| r.codec == opt::<String>(e[7]).as_deref()),
        ("languages", |r, e| {
            let want: Vec<&str> = if e[8] == "-" {
                Vec::new()
            } else {
                e[8].split(',').collect()
            };
            r.languages == want
        }),
        ("anime", |r, e| r.anime == (e[9] == "y")),
    ];
    let mut right = [0usize; 9];
    let mut rows = 0;
    for line in TABLE
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let e: Vec<&str> = line.split('\t').collect();
        assert_eq!(e.len(), 10, "a row has 10 columns: {line:?}");
        let r = parse(e[0]);
        rows += 1;
        for (i, (field, check)) in checks.iter().enumerate() {
            if check(&r, &e) {
                right[i] += 1;
            } else {
                println!("miss {field:<10} {:?}: got {r:?}", e[0]);
            }
        }
    }
    assert!(rows >= 150, "at least 150 names, not {rows}");
    let mut low = Vec::new();
    for (i, (field, _)) in checks.iter().enumerate() {
        let pct = 100.0 * right[i] as f64 / rows as f64;
        println!("{field:<10} {}/{rows} = {pct:.1} %", right[i]);
        if pct < 95.0 {
            low.push(*field);
        }
    }
    assert!(low.is_empty(), "below 95 %: {low:?}");
}
