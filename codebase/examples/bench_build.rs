//! Benchmark of the embedded CPG build against tree-sitter alone, on a source
//! tree (the Elixir corpus by default: see scripts/bench-build.sh).
//!
//! `cargo run --release -p codebase --example bench_build -- DIR [RUNS]`
//!
//! Prints, as medians over RUNS alternating runs of each: parse-only time
//! (tree-sitter, one thread, files already in memory), the phases of the
//! front end on one thread, and the full embedded build (`cpg analyze`'s
//! code path, all cores, files read from disk).

use std::time::Instant;

use codebase::embedded;
use partition::frontend::{build_file, parse_tree};
use partition::store::{PreparedFile, Store};

/// The benchmarks' shared arguments and sums (cluster-tests' test-support
/// library holds them; codebase cannot depend on it).
#[allow(dead_code)]
#[path = "../../cluster-tests/src/bench.rs"]
mod bench;
use bench::{dir_arg, median, ms, number_arg};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = dir_arg("usage: bench_build DIR [RUNS]")?;
    let runs: usize = number_arg(2, 5)?;
    let files = embedded::discover(&dir)?;
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|f| Ok((f.name.clone(), std::fs::read_to_string(&f.disk)?)))
        .collect::<Result<_, std::io::Error>>()?;
    let bytes: usize = sources.iter().map(|(_, s)| s.len()).sum();

    let (mut parse, mut front, mut summ, mut full) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..runs {
        // Parse only, one thread.
        let t = Instant::now();
        let mut errors = 0;
        for (_, src) in &sources {
            let tree = parse_tree(src).ok_or("parse failed")?;
            errors += usize::from(tree.root_node().has_error());
        }
        parse.push(t.elapsed());
        assert_eq!(
            errors, 0,
            "files with syntax errors in the benchmark corpus"
        );

        // Front end (parse + CPG fragments), then summaries, one thread.
        let t = Instant::now();
        let cpgs: Vec<_> = sources
            .iter()
            .map(|(n, s)| build_file(n, s.as_bytes()))
            .collect();
        front.push(t.elapsed());
        let t = Instant::now();
        let prepared: Vec<_> = cpgs.into_iter().map(PreparedFile::new).collect();
        summ.push(t.elapsed());
        let store = Store::default();
        for p in prepared {
            store.install(p);
        }
        drop(store);

        // The full embedded build.
        let t = Instant::now();
        let built = embedded::build(&dir)?;
        full.push(t.elapsed());
        last = Some(built);
    }
    let built = last.ok_or("RUNS must be at least 1")?;
    let stats = built.store.stats();
    let (p, f, s, b) = (median(parse), median(front), median(summ), median(full));
    println!(
        "files: {}  bytes: {bytes}  runs: {runs}  threads: {}",
        sources.len(),
        rayon::current_num_threads()
    );
    println!(
        "CPG nodes: {}  edges: {}  elements: {}",
        stats.nodes,
        stats.edges,
        stats.nodes + stats.edges
    );
    println!(
        "parse only (tree-sitter, 1 thread):      {:8.1} ms (median)",
        ms(p)
    );
    println!("front end  (parse + CPG, 1 thread):      {:8.1} ms", ms(f));
    println!("summaries  (1 thread):                   {:8.1} ms", ms(s));
    println!("full embedded build (all cores):         {:8.1} ms", ms(b));
    println!(
        "ratio full build / parse only:           {:8.2}",
        b.as_secs_f64() / p.as_secs_f64()
    );
    println!(
        "nodes per second (full build):           {:8.0}",
        stats.nodes as f64 / b.as_secs_f64()
    );
    println!(
        "store memory (own accounting):           {:8.1} MiB",
        built.store.memory().total as f64 / 1048576.0
    );
    Ok(())
}
