//! Any bytes arriving on an RPC port after the greeting: cut into frames
//! and decoded as both services' requests, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    proto::fuzzing::node_request(data);
    proto::fuzzing::coordinator_request(data);
    proto::fuzzing::stream(data);
});
