//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod beam;
#[path = "../../../cluster-tests/src/scripts.rs"]
mod scripts;

pub use scripts::fetched;

/// The files among `files` whose modules a node would refuse
/// (`proto::node_api::check_file_fragments`), each with why: those the
/// front end left out for it (its diagnostic) and any it kept; BEAM export
/// tables left out. Parsed on every core.
pub fn refused_fragments(files: &[codebase::sources::SourceFile]) -> Vec<String> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = files.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .filter(|f| !f.name.ends_with(".beam"))
                        .filter_map(|f| {
                            let bytes = std::fs::read(&f.disk).ok()?;
                            let cpg = partition::frontend::build_file(&f.name, &bytes);
                            let left_out = cpg.diagnostics.iter().find(|d| {
                                d.message.starts_with(partition::frontend::NOT_WELL_FORMED)
                            });
                            match left_out {
                                Some(d) => Some(format!("{}: {}", d.file, d.message)),
                                None => {
                                    proto::node_api::check_file_fragments(&cpg.file, &cpg.fragments)
                                        .err()
                                        .map(|e| e.to_string())
                                }
                            }
                        })
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|_| vec!["a worker panicked".into()])
            })
            .collect()
    })
}
