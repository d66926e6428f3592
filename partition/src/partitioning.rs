//! Which partition a module belongs to: `xxh3_64(UTF-8 bytes of the module
//! name) mod P`. Specified over bytes so every process, platform and Rust
//! release agrees; never `std::hash::Hash`.

use proto::assignment::PartitionId;

/// The partition of a module in a cluster of `partitions` partitions.
pub fn partition_of(module: &str, partitions: u32) -> PartitionId {
    PartitionId(
        (xxhash_rust::xxh3::xxh3_64(module.as_bytes()) % u64::from(partitions.max(1))) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_of_is_xxh3_of_the_name_bytes() {
        let p = partition_of("Enum", 64);
        assert_eq!(p.0, (xxhash_rust::xxh3::xxh3_64(b"Enum") % 64) as u32);
        assert_eq!(
            partition_of("Enum", 0).0,
            0,
            "no partitions is treated as one"
        );
    }
}
