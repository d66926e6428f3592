//! The network layer: how the service's processes and clients reach each
//! other. Framing of connections with their limits (`wire`), mutual TLS and
//! the certificates behind it (`certs`), the client of a storage node
//! (`node_client`), the `/metrics` listener (`metrics`), a server task
//! that can be stopped (`serving`), the frame
//! decoders the fuzz targets drive (`fuzzing`), and the link faults of
//! in-process test clusters (`faults`). The data that crosses these
//! links is defined in `proto`.

pub mod certs;
pub mod coordinator_client;
pub mod faults;
pub mod fuzzing;
pub mod metrics;
pub mod node_client;
pub mod serving;
pub mod wire;
