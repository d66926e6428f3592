//! Any bytes arriving on an RPC port after the greeting: cut into frames
//! and decoded as both services' requests, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    net::fuzzing::node_request(data);
    net::fuzzing::coordinator_request(data);
    net::fuzzing::stream(data);
});
