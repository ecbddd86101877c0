//! The local API's JSON bodies: any bytes through the same serde types the
//! handlers use must give a value or a clean error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stoop_node::api::fuzzing::parse_bodies;

fuzz_target!(|data: &[u8]| {
    parse_bodies(data);
});
