//! tabcoin-core: consensus, wallet and chain state for tabcoin, with no IO.
//!
//! Nothing here touches a socket, a file, a clock, a thread or a global: time and randomness
//! come in as arguments and every change to persistent state comes out as a
//! [`store::WriteBatch`]. The same code runs in a browser tab (wasm) and in the native relay.

#![forbid(unsafe_code)]

pub mod address;
pub mod amount;
pub mod block;
pub mod chain;
pub mod difficulty;
pub mod encode;
#[cfg(feature = "ecdsa")]
pub mod fuzz_checks;
pub mod hash;
pub mod header;
pub mod keys;
pub mod mempool;
pub mod merkle;
pub mod mining;
pub mod node;
pub mod params;
pub mod pow;
pub mod protocol;
pub mod query;
pub mod recent;
pub mod sigcheck;
mod sort;
pub mod store;
pub mod template;
pub mod tx;
pub mod utxo;
pub mod validation;
pub mod wallet;
pub mod wallet_file;

pub use address::{Address, AddressError};
pub use amount::{Amount, COIN};
pub use block::Block;
pub use chain::{BlockAccepted, ChainState};
pub use encode::{DecodeError, Encoding};
pub use hash::{BlockHash, MerkleRoot, PubKeyHash, Txid, Wtxid};
pub use header::BlockHeader;
pub use keys::{PublicKey, SecretKey, Signature};
pub use mempool::{Mempool, MempoolError};
pub use params::{ChainParams, FeeRate, Network};
pub use pow::{CompactTarget, Target, Work};
pub use tx::{OutPoint, Transaction, TxIn, TxOut};
pub use validation::{BlockError, TxError};
