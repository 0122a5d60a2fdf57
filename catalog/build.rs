//! Embeds every `i18n/<lang>.ftl` in the binary: adding a language is
//! adding one file.
use std::fmt::Write;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("i18n");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("catalog/i18n")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ftl"))
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for f in files {
        let code = f.file_stem().and_then(|s| s.to_str()).expect("utf-8 name");
        println!("cargo:rerun-if-changed={}", f.display());
        writeln!(
            out,
            "    ({code:?}, include_str!({:?})),",
            f.display().to_string()
        )
        .unwrap();
    }
    out.push(']');
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("locales.rs");
    std::fs::write(dest, out).unwrap();
}
