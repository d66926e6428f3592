//! Any bytes as a request to a node's `write` RPC: decoded as a server
//! decodes it (`net::fuzzing::node_writes`), checked as a node checks
//! writes before persisting them, and what passes installed into a store,
//! summarized and linked, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(writes) = net::fuzzing::node_writes(data) else {
        return;
    };
    let store = partition::store::Store::default();
    for w in writes {
        if proto::node_api::check_file_fragments(&w.file, &w.fragments).is_err() {
            continue;
        }
        store.apply_file(proto::FileCpg {
            file: w.file,
            content_hash: w.content_hash,
            fragments: w.fragments,
            diagnostics: Vec::new(),
        });
    }
    let summaries = store.summaries();
    let _ = partition::analysis::CallGraph::link(&summaries, &[]);
});
