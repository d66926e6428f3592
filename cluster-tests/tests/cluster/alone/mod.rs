//! The tests that measure a loaded machine (latency, scan-rate and
//! error-rate bounds): each takes [`crate::alone`]. Their names sort
//! first (`alone::...`), and libtest starts tests in name order, so they
//! run one after the other before the rest begin: one taking the machine
//! in the middle of the run waited for every test already running to end,
//! with the other test threads idle meanwhile.

mod chaos;
mod production_load;
