//! tabcoin-relay: the native shell around core's node. It moves bytes between WebSockets,
//! redb and core, serves the page and the JSON API, and answers the seed's CLI verbs.

pub mod api;
pub mod cli;
pub mod daemon;
pub mod guard;
pub mod miner;
pub mod offline;
pub mod peer;
pub mod rpc;
pub mod runtime;
pub mod server;
pub mod sigcheck;
pub mod store;
pub mod turns;
pub mod verbs;
pub mod wallet_file;
