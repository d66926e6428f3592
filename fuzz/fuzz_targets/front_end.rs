//! Any bytes as an Elixir source file: the front end records diagnostics,
//! never panics, never overflows the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cpg = partition::frontend::build_file("fuzz.ex", data);
    // Every diagnostic names the file it is about.
    assert!(cpg.diagnostics.iter().all(|d| d.file == "fuzz.ex"));
    // The summaries of what was built can be computed too.
    for fragment in &cpg.fragments {
        let _ = partition::summary::summarize(fragment);
    }
});
