//! `search_cpu INDEX_DIR ROUNDS QUERY...`: each query's CPU time per search
//! on the index (see `magnetar_catalog::costs`), one line each, then the
//! mean. Used by `bench/search_cpu.sh`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(rounds)) = (args.first(), args.get(1).and_then(|r| r.parse().ok())) else {
        eprintln!("usage: search_cpu INDEX_DIR ROUNDS QUERY...");
        return ExitCode::from(2);
    };
    let queries = &args[2..];
    match magnetar_catalog::costs::search_cpu(&PathBuf::from(dir), queries, rounds) {
        Ok(costs) => {
            for c in &costs {
                println!(
                    "{:>8.0} us  {:>7} matches  {:?}",
                    c.micros, c.total, c.query
                );
            }
            let mean = costs.iter().map(|c| c.micros).sum::<f64>() / costs.len().max(1) as f64;
            println!(
                "mean {mean:.0} us of CPU per search over {} queries, {rounds} rounds",
                costs.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("search_cpu: {e}");
            ExitCode::FAILURE
        }
    }
}
