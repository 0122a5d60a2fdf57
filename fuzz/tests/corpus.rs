//! Every fuzz target's body over its committed seed corpus
//! (`fuzz/corpus/<target>/`): the inputs that reach the parsers' branches,
//! kept from the fuzzing runs in `fuzz/README.md`, and the findings fixed
//! since. A target without a corpus fails.

use std::path::Path;

#[test]
fn every_target_holds_over_its_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (name, body) in magnetar_fuzz::TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a corpus entry").path())
            .collect();
        inputs.sort();
        assert!(
            inputs.len() >= 5,
            "{name}: {} seed inputs, expected at least 5",
            inputs.len()
        );
        for input in &inputs {
            let data = std::fs::read(input).expect("a corpus file");
            let run = std::panic::catch_unwind(|| body(&data));
            assert!(run.is_ok(), "{name} fails on {}", input.display());
        }
        println!("{name}: {} inputs", inputs.len());
    }
}
