//! What the node asks its shell to do, and what it tells the UI.

use core::fmt;

use crate::hash::{BlockHash, PubKeyHash, Txid};
use crate::header::BlockHeader;
use crate::protocol::{ProtocolError, Role};
use crate::sigcheck::SignatureJob;
use crate::store::WriteBatch;
use crate::validation::{BlockError, TxError};

/// A connection, numbered by the shell. Unique among the node's live connections.
pub type PeerId = u64;

/// Identifies a write batch in [`Output::Write`] and [`super::Node::batch_committed`].
pub type BatchId = u64;

/// Who opened the connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// When a miner mines.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MiningPolicy {
    /// The seed's rule: once the mempool holds this many transactions (the seed used 2).
    WhenMempoolHolds(usize),
    /// Always, empty blocks included.
    Continuous,
}

/// A header to search nonces for (with [`crate::mining::NonceSearch`]); report a find with
/// [`super::Node::nonce_found`] and an exhausted nonce space with
/// [`super::Node::nonce_space_exhausted`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MiningJob {
    pub id: u64,
    pub header: BlockHeader,
    pub height: u32,
}

/// Why the node cut a peer off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// It sent bytes that are not a message.
    Malformed(ProtocolError),
    /// It follows another chain.
    WrongChain { ours: BlockHash, theirs: BlockHash },
    /// It speaks this network's protocol under earlier consensus rules (a retired magic).
    RetiredRules { magic: [u8; 4] },
    /// The connection leads back to this node.
    SelfConnection,
    /// It sent a block that breaks a consensus rule.
    InvalidBlock(BlockError),
    /// It sent a transaction that can never be valid (a bad signature, someone else's key).
    InvalidTransaction(TxError),
    /// It sent a transaction already found invalid for good.
    KnownInvalidTransaction(Txid),
    /// It broke the protocol (a message before `version`, a second `version`, an unrequested flood).
    Misbehaving(&'static str),
    /// No `version`/`verack` in time.
    HandshakeTimeout,
    /// No answer to a ping in time.
    PingTimeout,
    /// It is not serving blocks it announced.
    Stalling,
    /// Its queue of unsent messages grew past the bound.
    SendQueueFull,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Malformed(e) => write!(f, "malformed message: {e}"),
            DisconnectReason::WrongChain { ours, theirs } => {
                write!(f, "it follows another chain (genesis {theirs}, ours {ours})")
            }
            DisconnectReason::RetiredRules { magic } => write!(
                f,
                "it follows this network's earlier consensus rules (magic {}): it must upgrade and start its chain over",
                crate::hash::to_hex(magic)
            ),
            DisconnectReason::SelfConnection => f.write_str("connected to itself"),
            DisconnectReason::InvalidBlock(e) => write!(f, "invalid block: {e}"),
            DisconnectReason::InvalidTransaction(e) => write!(f, "invalid transaction: {e}"),
            DisconnectReason::KnownInvalidTransaction(txid) => {
                write!(f, "sent transaction {txid} again, already found invalid")
            }
            DisconnectReason::Misbehaving(what) => write!(f, "protocol violation: {what}"),
            DisconnectReason::HandshakeTimeout => f.write_str("no handshake in time"),
            DisconnectReason::PingTimeout => f.write_str("no answer to ping in time"),
            DisconnectReason::Stalling => f.write_str("did not deliver requested blocks"),
            DisconnectReason::SendQueueFull => f.write_str("too slow: its send queue is full"),
        }
    }
}

/// What the node tells the UI or log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A protocol event, worded as the seed printed them ("Received version command").
    Log(String),
    PeerJoined {
        peer: PeerId,
        role: Role,
        user_agent: String,
        best_height: u32,
    },
    PeerLeft {
        peer: PeerId,
    },
    Disconnected {
        peer: PeerId,
        reason: DisconnectReason,
    },
    /// This node had no chain and adopted the genesis of a peer.
    ChainAdopted {
        genesis: BlockHash,
    },
    /// Blocks connected out of those known to exist.
    SyncProgress {
        done: u32,
        total: u32,
    },
    /// A block joined the best chain (its batch is committed).
    BlockAdded {
        hash: BlockHash,
        height: u32,
    },
    /// Blocks left the best chain in a reorganisation.
    BlocksDisconnected {
        hashes: Vec<BlockHash>,
    },
    TxAccepted {
        txid: Txid,
    },
    /// A transaction was refused, with a reason a person can read.
    TxRejected {
        txid: Txid,
        reason: String,
    },
    /// A peer refused a transaction or block this node sent.
    RejectedByPeer {
        peer: PeerId,
        hash: [u8; 32],
        reason: String,
    },
    /// This node mined a block.
    Mined {
        hash: BlockHash,
        height: u32,
        payee: PubKeyHash,
    },
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send one frame (one WebSocket binary message) to a peer.
    Send {
        peer: PeerId,
        frame: Vec<u8>,
    },
    /// Close the connection.
    Disconnect {
        peer: PeerId,
        reason: DisconnectReason,
    },
    /// Commit atomically, in order, then call [`super::Node::batch_committed`].
    Write {
        id: BatchId,
        batch: WriteBatch,
    },
    /// Start searching (replacing any earlier job).
    Mine(MiningJob),
    /// Stop searching.
    StopMining,
    /// Check these signatures (on other threads or Web Workers) and report one result per
    /// job, in order, with [`super::Node::signatures_verified`].
    Verify {
        id: u64,
        jobs: Vec<SignatureJob>,
    },
    Event(Event),
}
