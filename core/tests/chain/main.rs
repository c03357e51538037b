//! Chain-level tests: every consensus rule broken and rejected, reorganisations, the mempool,
//! persistence through write batches, and the seed's scenario in core terms.

mod deferred;
mod harness;
mod mempool;
mod reorg;
mod rules;
mod scenario;
mod sigcheck;
mod store;
