//! Entry points for fuzzing what arrives on a socket, shared by the
//! cargo-fuzz targets (`fuzz/`) and the bounded smoke test below: bytes are
//! cut into frames exactly as a server's codec cuts them, and each frame is
//! decoded exactly as a server decodes a request. Decoding must fail
//! cleanly, never panic or allocate without bound.

use std::pin::Pin;

use tarpc::tokio_serde::Deserializer;
use tarpc::tokio_util::bytes::BytesMut;
use tarpc::tokio_util::codec::Decoder;
use tarpc::ClientMessage;

use proto::coordinator_api::CoordinatorServiceRequest;
use proto::node_api::NodeServiceRequest;

use crate::wire::Guarded;

/// Decode `frame` as a storage node's request; whether it decoded.
pub fn node_request(frame: &[u8]) -> bool {
    let mut codec: Guarded<ClientMessage<NodeServiceRequest>, ()> =
        Guarded::new(true, crate::wire::PROTOCOL_VERSION);
    Pin::new(&mut codec)
        .deserialize(&BytesMut::from(frame))
        .is_ok()
}

/// Decode `frame` as a storage node's request, as a server does: the
/// writes, when it is a `write` request (the fuzzed write path checks and
/// applies them).
pub fn node_writes(frame: &[u8]) -> Option<Vec<proto::node_api::PartitionWrite>> {
    let mut codec: Guarded<ClientMessage<NodeServiceRequest>, ()> =
        Guarded::new(true, crate::wire::PROTOCOL_VERSION);
    match Pin::new(&mut codec)
        .deserialize(&BytesMut::from(frame))
        .ok()?
    {
        ClientMessage::Request(r) => match r.message {
            NodeServiceRequest::Write { writes, .. } => Some(writes),
            _ => None,
        },
        _ => None,
    }
}

/// Decode `frame` as a coordinator's request; whether it decoded.
pub fn coordinator_request(frame: &[u8]) -> bool {
    let mut codec: Guarded<ClientMessage<CoordinatorServiceRequest>, ()> =
        Guarded::new(true, crate::wire::PROTOCOL_VERSION);
    Pin::new(&mut codec)
        .deserialize(&BytesMut::from(frame))
        .is_ok()
}

/// Cut `bytes` into frames with the servers' codec ([`crate::wire::MAX_FRAME`])
/// and decode each as both requests; how many frames were cut.
pub fn stream(bytes: &[u8]) -> usize {
    let mut codec = tarpc::tokio_util::codec::LengthDelimitedCodec::builder()
        .max_frame_length(crate::wire::MAX_FRAME)
        .new_codec();
    let mut buf = BytesMut::from(bytes);
    let mut frames = 0;
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        frames += 1;
        node_request(&frame);
        coordinator_request(&frame);
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so a failure can be replayed.
    struct Dice(u64);

    impl Dice {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Real requests, then thousands of mutations of them (bytes flipped,
    /// cut, lengths inflated) and random frames: decoding never panics.
    /// The fuzz targets search much further; this keeps the entry points
    /// honest in every test run.
    #[test]
    fn mutated_and_random_frames_are_refused_without_panicking() {
        use tarpc::tokio_serde::Serializer;
        let mut seeds: Vec<Vec<u8>> = Vec::new();
        let mut encode = |req: NodeServiceRequest| {
            let msg = ClientMessage::Request(tarpc::Request {
                context: tarpc::context::current(),
                id: 7,
                message: req,
            });
            let mut codec: Guarded<(), ClientMessage<NodeServiceRequest>> =
                Guarded::new(false, crate::wire::PROTOCOL_VERSION);
            let bytes = Pin::new(&mut codec).serialize(&msg).expect("encodes");
            seeds.push(bytes.to_vec());
        };
        encode(NodeServiceRequest::Summaries {
            epoch: 3,
            partitions: proto::assignment::PartitionId::all(4).skip(1).collect(),
        });
        encode(NodeServiceRequest::Ingest {
            epoch: 3,
            partitions: 64,
            files: vec![proto::node_api::IngestFile {
                upload: proto::node_api::SourceUpload {
                    file: "lib/a.ex".into(),
                    bytes: b"defmodule A do\nend\n".to_vec(),
                },
                before: vec![proto::assignment::PartitionId(2)],
            }],
            removed: vec![proto::node_api::RemovedFile {
                file: "lib/b.ex".into(),
                content_hash: 7,
                before: vec![proto::assignment::PartitionId(5)],
            }],
        });
        for seed in &seeds {
            assert!(node_request(seed), "a real request decodes");
        }
        let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
        for round in 0..20_000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            match dice.next() % 4 {
                0 => {
                    let i = (dice.next() as usize) % bytes.len();
                    bytes[i] ^= 1 << (dice.next() % 8);
                }
                1 => bytes.truncate((dice.next() as usize) % bytes.len()),
                2 => {
                    // A length or count inflated to the maximum.
                    let i = (dice.next() as usize) % bytes.len();
                    bytes.splice(i..i, [0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
                }
                _ => {
                    let n = (dice.next() % 64) as usize;
                    bytes = (0..n).map(|_| dice.next() as u8).collect();
                }
            }
            node_request(&bytes);
            coordinator_request(&bytes);
            let mut framed = (bytes.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            stream(&framed);
        }
    }
}
