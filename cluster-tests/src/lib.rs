//! Harness for tests that start real `cpg` processes on loopback: differential,
//! failover, load and chaos tests arrive with the cluster issue (#3).
