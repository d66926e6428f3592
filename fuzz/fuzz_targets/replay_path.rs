//! Any bytes as a partition's log on disk: a node opening its data
//! directory loads what is intact and sets the rest aside, never panics
//! (an error is an answer; a crash is not).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let partitions = dir.path().join("partitions");
    if std::fs::create_dir_all(&partitions).is_err()
        || std::fs::write(partitions.join("p00003.log"), data).is_err()
    {
        return;
    }
    if let Ok(disk) = node::disk::PartitionDisk::open(dir.path()) {
        let _ = disk.load_all();
    }
});
