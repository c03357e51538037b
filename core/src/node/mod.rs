//! The node: a state machine that the browser tab, the relay and the simulation all run.
//!
//! Inputs are method calls (a peer connected, a frame arrived, time passed, a batch was
//! committed, a nonce was found, a user command); outputs queue up for the shell to carry out
//! ([`Node::poll_output`]): frames to send, peers to drop, batches to commit, mining jobs and
//! events. The node never touches IO, and takes the time as an argument.
//!
//! Durability before announcement: a block is announced to peers and reported to the UI only
//! after the shell reports that the batch that stored it was committed.

mod addrbook;
mod flood;
mod headers;
mod io;
mod rejects;

use std::collections::{HashMap, HashSet, VecDeque};

use litemap::LiteMap;

use addrbook::{AddressBook, OWN_SOURCE};
use flood::{FloodGuard, MAX_TXS_ASKED_PER_PEER, SIGNATURE_CHECKS_PER_SECOND};
use headers::{PendingHeader, PendingHeaders};
pub use io::{BatchId, Direction, DisconnectReason, Event, MiningJob, MiningPolicy, Output, PeerId};
use rejects::RecentRejects;

use crate::block::Block;
use crate::chain::{BlockAcceptance, BlockAccepted, ChainState};
use crate::hash::{BlockHash, PubKeyHash, Txid, Wtxid};
use crate::header::BlockHeader;
use crate::mempool::{Mempool, MempoolAccepted, MempoolError, TxAcceptance};
use crate::params::ChainParams;
use crate::pow::Work;
use crate::protocol::{
    GetHeaders, Inventory, MAX_ADDRS, MAX_HEADERS, MAX_INV_ITEMS, Message, PROTOCOL_VERSION, PeerAddress,
    ProtocolError, Reject, RejectCode, Role, Version,
};
use crate::sigcheck::{SignatureBatch, VerifiedTxs};
use crate::sort;
use crate::store::WriteBatch;
use crate::template::{BlockTemplate, block_template};
use crate::tx::Transaction;
use crate::validation::{BlockError, TxError, check_header_time, check_proof_of_work};

/// A ping goes out after this long without one.
const PING_INTERVAL_MS: u64 = 30_000;
/// Generous: a hidden browser tab may answer a minute late.
const PING_TIMEOUT_MS: u64 = 5 * 60_000;
const HANDSHAKE_TIMEOUT_MS: u64 = 60_000;
/// Block bodies requested from one peer and not yet received.
const BLOCKS_IN_FLIGHT_PER_PEER: usize = 128;
/// A requested block not delivered in this time marks the peer as stalling.
const BLOCK_REQUEST_TIMEOUT_MS: u64 = 120_000;
/// Blocks held while their parent is missing.
const MAX_ORPHANS: usize = 256;
/// Of those, blocks from one peer: one window of requests.
const MAX_ORPHANS_PER_PEER: usize = BLOCKS_IN_FLIGHT_PER_PEER;
/// Own unconfirmed transactions are announced again this often.
const REANNOUNCE_INTERVAL_MS: u64 = 60_000;
/// A peer's clock this far off is logged.
const CLOCK_SKEW_WARNING_SECS: u64 = 600;
/// A node with no chain asks its peers for theirs this often.
const CHAIN_QUERY_INTERVAL_MS: u64 = 5_000;
/// Bytes of orphan blocks held.
const MAX_ORPHAN_BYTES: usize = 64 * 1024 * 1024;
/// A block too far ahead of the clock is fetched again after this long.
const FUTURE_BLOCK_RETRY_MS: u64 = 60_000;
/// Bytes of blocks sent in answer to one `getdata` (the rest is `notfound`).
const MAX_GETDATA_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// A peer with more work than us is asked for headers again after this long.
const HEADERS_RETRY_MS: u64 = 30_000;
/// Wanted blocks looked at per request round, past ones no peer can serve now.
const MAX_REQUEST_SCAN: usize = 4_096;
/// Blocks whose signatures are handed out in one [`Output::Verify`] once that many wait (fewer
/// when nothing more is on its way)...
const VERIFY_BATCH_BLOCKS: usize = 64;
/// ...and at most this many, so that checking one run overlaps connecting the run before.
const MAX_VERIFY_BATCH_BLOCKS: usize = 256;
/// Runs out for checking at once: while the shell checks one, the node connects another.
const MAX_VERIFICATIONS: usize = 2;
/// Headers known but not yet downloaded.
const MAX_PENDING_HEADERS: usize = 400_000;
/// Pending headers one peer may have sent: we ask for no more past it (until its blocks
/// connect), and a peer that sends more anyway is cut off.
const MAX_PENDING_HEADERS_PER_PEER: usize = 40_000;
/// Headers not worth fetching this far below the tip are forgotten (the losing sides of old
/// forks), so that they neither hold a peer's allowance nor fill the global one.
const STALE_HEADER_DEPTH: u32 = 100;
/// How often stale headers are looked for.
const HEADER_PRUNE_INTERVAL_MS: u64 = 60_000;
/// Bytes of peers' transactions held while the shell checks their signatures (and of their
/// children waiting for them); beyond it new ones are ignored, not counted against the peer.
const MAX_TX_CHECK_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of blocks held while the shell checks signatures their run did not cover (a branch
/// overtaking the best chain, an orphan whose parent came); beyond it a block is dropped and
/// fetched again later.
const MAX_BLOCK_CHECK_BYTES: usize = 64 * 1024 * 1024;

/// How a node is set up.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub params: ChainParams,
    pub role: Role,
    pub user_agent: String,
    /// Random, chosen by the shell: a `version` carrying it back means a self-connection.
    pub nonce: u64,
    /// Hand the signature checks of blocks that extend the tip, and of peers' transactions,
    /// to the shell ([`Output::Verify`]), to run on several threads or Web Workers, instead of
    /// checking them here one by one.
    pub parallel_signatures: bool,
    /// Keep and pass on gossiped relay addresses on private, loopback and link-local hosts
    /// too (an operator's LAN, the loopback tests); by default only public ones.
    pub allow_private_addresses: bool,
}

/// Block download in numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncStatus {
    /// Headers received whose blocks are not connected yet.
    pub pending_headers: usize,
    /// Of those, the ones on branches with more work than ours: blocks still to fetch.
    pub to_fetch: usize,
    /// Of those, blocks no peer is being asked for right now.
    pub wanted: usize,
    pub in_flight: usize,
    pub orphans: usize,
    /// Blocks waiting for the shell's signature checks.
    pub awaiting_signatures: usize,
    pub best_header_height: u32,
}

/// A connected peer, as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub id: PeerId,
    pub address: String,
    pub direction: Direction,
    pub role: Role,
    pub user_agent: String,
    /// Its height when it connected.
    pub best_height: u32,
}

#[derive(Clone, Debug)]
struct Peer {
    direction: Direction,
    address: String,
    connected_ms: u64,
    version: Option<Version>,
    verack: bool,
    ping: Option<(u64, u64)>,
    last_ping_ms: u64,
    in_flight: LiteMap<BlockHash, u64>,
    /// When it last delivered a block: a peer with requests and no delivery for long stalls.
    last_delivery_ms: u64,
    /// The highest block it is known to have (from `version`, then its headers).
    best_known_height: u32,
    /// Its newest header we hold: where the next `getheaders` to it starts.
    sync_from: Option<BlockHash>,
    /// When we last asked it for headers.
    headers_asked_ms: u64,
    /// `getheaders` sent to it and not answered yet: a `headers` beyond them is unsolicited.
    headers_requested: u32,
    /// Asking it for more headers waits until its pending headers' blocks connect.
    headers_paused: bool,
    /// Blocks it answered `notfound` for: not asked of it again (it may be on another branch
    /// at the same height).
    lacks: HashSet<BlockHash>,
    /// Transactions we asked it for and it has not delivered.
    txs_asked: HashSet<Txid>,
    flood: FloodGuard,
}

impl Peer {
    fn ready(&self) -> bool {
        self.version.is_some() && self.verack
    }
}

/// What to announce once a batch is committed.
#[derive(Clone, Debug)]
enum Announcement {
    Block {
        hash: BlockHash,
        height: u32,
        source: Option<PeerId>,
    },
    Disconnected(Vec<BlockHash>),
    ChainAdopted(BlockHash),
    Mined {
        hash: BlockHash,
        height: u32,
        payee: PubKeyHash,
    },
    Progress {
        done: u32,
        total: u32,
    },
    /// These blocks are on disk now and may be served.
    Stored(Vec<BlockHash>),
}

#[derive(Clone, Debug)]
struct Mining {
    payee: PubKeyHash,
    policy: MiningPolicy,
    /// Mine one block, then go back to this setting (the seed's `send -mine` on a node that
    /// may be mining already): `Some(None)` means not mining.
    then: Option<Option<(PubKeyHash, MiningPolicy)>>,
    job: Option<(u64, BlockTemplate)>,
    /// Mempool size the job was built with.
    job_mempool_len: usize,
}

/// Signature jobs handed to the shell, and the blocks (with who sent them) that wait on them.
#[derive(Debug)]
struct Verification {
    id: u64,
    batch: SignatureBatch,
    blocks: Vec<(Block, Option<PeerId>)>,
    /// The shell's answer, kept until the runs before this one are connected.
    results: Option<Vec<bool>>,
}

/// A peer's transaction whose signatures the shell is checking, and the transactions spending
/// its outputs that came meanwhile (they can only be checked once it is in the mempool).
#[derive(Debug)]
struct TxCheck {
    tx: Transaction,
    txid: Txid,
    peer: PeerId,
    batch: SignatureBatch,
    children: Vec<(Transaction, Txid, PeerId)>,
}

/// A block whose signatures (or its branch's) the shell is checking before it can connect.
#[derive(Debug)]
struct BlockCheck {
    block: Block,
    hash: BlockHash,
    source: Option<PeerId>,
    batch: SignatureBatch,
}

/// What to do with a queued block.
enum Fetch {
    /// Stored, held or no longer wanted: drop it from the queue.
    Done,
    From(PeerId),
    /// No peer can serve it now: keep it queued.
    NotNow,
}

/// The node state machine.
pub struct Node {
    config: NodeConfig,
    chain: Option<ChainState>,
    mempool: Mempool,
    /// Boxed: a sorted vector of peers moves only pointers when one leaves.
    peers: LiteMap<PeerId, Box<Peer>>,
    outputs: VecDeque<Output>,
    now_ms: u64,
    next_batch: BatchId,
    awaiting_commit: VecDeque<(BatchId, Vec<Announcement>)>,
    /// The genesis asked of a peer by a node that has no chain, and when.
    wanted_genesis: Option<(BlockHash, u64)>,
    /// When a node with no chain last asked its peers which chain they follow.
    last_chain_query_ms: u64,
    pending_headers: PendingHeaders,
    /// Peers' transactions found invalid for good: a repeat is refused unchecked.
    rejects: RecentRejects,
    /// Bodies to fetch, in the order their headers came.
    best_header_height: u32,
    /// Blocks whose parent is missing, with the peer that sent each.
    orphans: LiteMap<BlockHash, (Block, Option<PeerId>)>,
    orphan_bytes: usize,
    /// Blocks too far in the future when they came, and when to fetch them again.
    deferred: Vec<(BlockHash, u64)>,
    orphan_order: VecDeque<BlockHash>,
    mining: Option<Mining>,
    next_job: u64,
    own_txs: LiteMap<Txid, Transaction>,
    last_reannounce_ms: u64,
    last_header_prune_ms: u64,
    addresses: AddressBook,
    ping_counter: u64,
    /// Blocks that extend the tip (and each other), waiting for their signatures to be handed
    /// out; and the runs the shell is verifying now, oldest first, with their blocks.
    verify_queue: Vec<(Block, Option<PeerId>)>,
    verifying: VecDeque<Verification>,
    next_verify: u64,
    /// Peers' transactions out for signature checks, by the id of their [`Output::Verify`].
    tx_checks: LiteMap<u64, TxCheck>,
    /// Every transaction those hold (out for checks, or waiting behind one), and the check
    /// holding it: what `inv` and a child's parent are looked up in.
    tx_checks_held: HashMap<Txid, u64>,
    tx_check_bytes: usize,
    /// Blocks out for signature checks outside a run, by the id of their [`Output::Verify`];
    /// and each of their hashes with that id.
    block_checks: LiteMap<u64, BlockCheck>,
    blocks_held: LiteMap<BlockHash, u64>,
    block_check_bytes: usize,
    /// Blocks stored in batches the shell has not committed yet: not served to peers, who
    /// could otherwise hold blocks that a crash here would lose.
    uncommitted: HashSet<BlockHash>,
}

/// What a payment is refused with before the node has a chain: none of its inputs exist.
fn no_chain_yet(tx: &Transaction) -> MempoolError {
    let outpoint = tx.spends().first().map_or(crate::tx::OutPoint { txid: Txid::ZERO, vout: 0 }, |i| i.prev_out);
    MempoolError::Invalid(TxError::MissingInput(outpoint))
}

impl Node {
    /// A node on `chain` (restored from its store), or on none yet: it then adopts the genesis
    /// of the first peer that has one.
    pub fn new(config: NodeConfig, chain: Option<ChainState>) -> Node {
        let addresses = AddressBook::new(config.allow_private_addresses);
        Node {
            config,
            chain,
            mempool: Mempool::new(),
            peers: LiteMap::new(),
            outputs: VecDeque::new(),
            now_ms: 0,
            next_batch: 0,
            awaiting_commit: VecDeque::new(),
            wanted_genesis: None,
            last_chain_query_ms: 0,
            pending_headers: PendingHeaders::default(),
            rejects: RecentRejects::default(),
            best_header_height: 0,
            orphan_bytes: 0,
            deferred: Vec::new(),
            orphans: LiteMap::new(),
            orphan_order: VecDeque::new(),
            mining: None,
            next_job: 0,
            own_txs: LiteMap::new(),
            last_reannounce_ms: 0,
            last_header_prune_ms: 0,
            addresses,
            ping_counter: 0,
            verify_queue: Vec::new(),
            verifying: VecDeque::new(),
            next_verify: 0,
            tx_checks: LiteMap::new(),
            tx_checks_held: HashMap::new(),
            tx_check_bytes: 0,
            block_checks: LiteMap::new(),
            blocks_held: LiteMap::new(),
            block_check_bytes: 0,
            uncommitted: HashSet::new(),
        }
    }

    pub fn chain(&self) -> Option<&ChainState> {
        self.chain.as_ref()
    }

    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    pub fn params(&self) -> &ChainParams {
        &self.config.params
    }

    pub fn role(&self) -> Role {
        self.config.role
    }

    /// Peers that finished the handshake, with what they announced.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.peers
            .iter()
            .filter(|(_, p)| p.ready())
            .filter_map(|(id, p)| {
                let version = p.version.as_ref()?;
                Some(PeerInfo {
                    id: *id,
                    address: p.address.clone(),
                    direction: p.direction,
                    role: version.role,
                    user_agent: version.user_agent.clone(),
                    best_height: version.best_height,
                })
            })
            .collect()
    }

    /// Relay addresses learnt from `addr` gossip, newest first.
    pub fn known_addresses(&self) -> Vec<PeerAddress> {
        self.addresses.list()
    }

    /// Where block download stands, for the UI and for diagnosing a stuck sync.
    pub fn sync_status(&self) -> SyncStatus {
        SyncStatus {
            pending_headers: self.pending_headers.len(),
            to_fetch: self.pending_headers.to_fetch(),
            wanted: self.pending_headers.wanted(),
            in_flight: self.peers.values().map(|p| p.in_flight.len()).sum(),
            orphans: self.orphans.len(),
            awaiting_signatures: self.verify_queue.len()
                + self.verifying.iter().map(|v| v.blocks.len()).sum::<usize>()
                + self.block_checks.len(),
            best_header_height: self.best_header_height,
        }
    }

    /// Whether signatures are checked by the shell, through [`Output::Verify`]: when asked
    /// for, and always in a build that cannot check them itself (no `ecdsa` feature).
    fn checks_in_shell(&self) -> bool {
        self.config.parallel_signatures || cfg!(not(feature = "ecdsa"))
    }

    /// The next thing the shell must do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn now_secs(&self) -> u64 {
        self.now_ms / 1000
    }

    fn advance_clock(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
    }

    fn event(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn log(&mut self, text: String) {
        self.event(Event::Log(text));
    }

    fn send(&mut self, peer: PeerId, message: &Message) {
        let frame = message.to_frame(self.config.params.magic);
        self.outputs.push_back(Output::Send { peer, frame });
    }

    fn disconnect(&mut self, peer: PeerId, reason: DisconnectReason) {
        if let Some(state) = self.peers.remove(&peer) {
            self.release_in_flight(state.in_flight.into_iter().map(|(hash, _)| hash));
            self.forget_headers_of(peer);
            self.event(Event::Disconnected { peer, reason: reason.clone() });
            self.outputs.push_back(Output::Disconnect { peer, reason });
        }
    }

    /// A peer still on this network's earlier rules: it is sent our `version` in its own
    /// magic before it is cut off, so that it learns we follow another chain (a tab on the old
    /// rules then offers to export its keys and start over) instead of seeing a silent close.
    fn turn_away_retired(&mut self, peer: PeerId, magic: [u8; 4]) {
        let frame = Message::Version(self.our_version()).to_frame(magic);
        self.outputs.push_back(Output::Send { peer, frame });
        self.disconnect(peer, DisconnectReason::RetiredRules { magic });
    }

    fn our_version(&self) -> Version {
        let (genesis, best_height, best_work) = match &self.chain {
            Some(chain) => (chain.genesis_hash(), chain.height(), chain.tip_work()),
            None => (BlockHash::ZERO, 0, Work::ZERO),
        };
        Version {
            protocol_version: PROTOCOL_VERSION,
            role: self.config.role,
            genesis,
            best_height,
            best_work,
            time: self.now_secs(),
            nonce: self.config.nonce,
            user_agent: self.config.user_agent.clone(),
        }
    }

    // ----- inputs -----

    /// A connection opened. For an outbound one the node speaks first.
    pub fn peer_connected(&mut self, peer: PeerId, direction: Direction, address: String, now_ms: u64) {
        self.advance_clock(now_ms);
        let state = Peer {
            direction,
            address,
            connected_ms: self.now_ms,
            version: None,
            verack: false,
            ping: None,
            last_ping_ms: self.now_ms,
            in_flight: LiteMap::new(),
            last_delivery_ms: self.now_ms,
            best_known_height: 0,
            sync_from: None,
            headers_asked_ms: 0,
            headers_requested: 0,
            headers_paused: false,
            lacks: HashSet::new(),
            txs_asked: HashSet::new(),
            flood: FloodGuard::new(self.now_ms),
        };
        self.peers.insert(peer, Box::new(state));
        if direction == Direction::Outbound {
            let version = self.our_version();
            self.send(peer, &Message::Version(version));
        }
    }

    /// A connection closed (by the peer, the network, or after [`Output::Disconnect`]).
    pub fn peer_disconnected(&mut self, peer: PeerId) {
        if let Some(state) = self.peers.remove(&peer) {
            if state.ready() {
                self.event(Event::PeerLeft { peer });
            }
            self.release_in_flight(state.in_flight.into_iter().map(|(hash, _)| hash));
            self.forget_headers_of(peer);
            // What it was fetching goes to other peers.
            self.request_blocks();
            self.start_verification(false);
        }
    }

    /// One frame from a peer.
    pub fn received(&mut self, peer: PeerId, frame: &[u8], now_ms: u64) {
        self.advance_clock(now_ms);
        if !self.peers.contains_key(&peer) {
            return;
        }
        let message = match Message::from_frame(frame, self.config.params.magic) {
            Ok(message) => message,
            Err(ProtocolError::WrongMagic { found, .. }) if self.config.params.retired_magics.contains(&found) => {
                self.turn_away_retired(peer, found);
                return;
            }
            Err(error) => {
                self.disconnect(peer, DisconnectReason::Malformed(error));
                return;
            }
        };
        self.log(format!("Received {} command from peer {peer}", message.command()));
        let ready = self.peers.get(&peer).is_some_and(|p| p.ready());
        match message {
            Message::Version(version) => self.on_version(peer, version),
            Message::Verack => self.on_verack(peer),
            _ if !ready => self.disconnect(peer, DisconnectReason::Misbehaving("message before the handshake")),
            Message::Ping(nonce) => self.send(peer, &Message::Pong(nonce)),
            Message::Pong(nonce) => {
                if let Some(state) = self.peers.get_mut(&peer)
                    && state.ping.is_some_and(|(n, _)| n == nonce)
                {
                    state.ping = None;
                }
            }
            Message::GetAddr => {
                let list: Vec<PeerAddress> = self.known_addresses().into_iter().take(MAX_ADDRS).collect();
                self.send(peer, &Message::Addr(list));
            }
            Message::Addr(list) => {
                let source = self.peers.get(&peer).map(|p| p.address.clone()).unwrap_or_default();
                let now = self.now_secs();
                for address in list {
                    // A time ahead of ours would pin the entry against eviction.
                    let last_seen = address.last_seen.min(now);
                    self.addresses.add(PeerAddress { last_seen, ..address }, &source);
                }
            }
            Message::Inv(items) => self.on_inv(peer, items),
            Message::GetData(items) => self.on_getdata(peer, items),
            Message::NotFound(items) => {
                let mut released = Vec::new();
                if let Some(state) = self.peers.get_mut(&peer) {
                    for item in items {
                        if let Inventory::Tx(txid) = item {
                            state.txs_asked.remove(&txid);
                        }
                        if let Inventory::Block(hash) = item
                            && state.in_flight.remove(&hash).is_some()
                        {
                            if state.lacks.len() >= MAX_PENDING_HEADERS {
                                state.lacks.clear();
                            }
                            state.lacks.insert(hash);
                            released.push(hash);
                        }
                    }
                }
                self.release_in_flight(released.into_iter());
                // Nothing more may be coming: check what is queued.
                self.start_verification(false);
            }
            Message::GetHeaders(request) => {
                let now = self.now_ms;
                if !self.peers.get_mut(&peer).is_some_and(|p| p.flood.getheaders.take(1, now)) {
                    self.disconnect(peer, DisconnectReason::Misbehaving("getheaders flood"));
                    return;
                }
                let mut headers = match &self.chain {
                    Some(chain) => chain.headers_after(&request.locator, &request.stop, MAX_HEADERS),
                    None => Vec::new(),
                };
                // Only what is on disk: blocks commit in chain order, so the rest follow.
                if !self.uncommitted.is_empty()
                    && let Some(first) = headers.iter().position(|h| self.uncommitted.contains(&h.block_hash()))
                {
                    headers.truncate(first);
                }
                self.send(peer, &Message::Headers(headers));
            }
            Message::Headers(headers) => self.on_headers(peer, headers),
            Message::Block(block) => self.on_block(peer, block),
            Message::Tx(tx) => self.on_tx(peer, tx),
            Message::Mempool => {
                let txids: Vec<Inventory> = self.mempool.entries().into_iter().map(|e| Inventory::Tx(e.txid)).collect();
                for chunk in txids.chunks(MAX_INV_ITEMS) {
                    self.send(peer, &Message::Inv(chunk.to_vec()));
                }
            }
            Message::Reject(reject) => {
                let hash = match reject.item {
                    Inventory::Tx(txid) => txid.0,
                    Inventory::Block(hash) => hash.0,
                };
                self.event(Event::RejectedByPeer { peer, hash, reason: reject.reason });
            }
        }
    }

    /// Time passed: keepalive, timeouts, re-announcements.
    pub fn tick(&mut self, now_ms: u64) {
        self.advance_clock(now_ms);
        let now = self.now_ms;
        let mut drop = Vec::new();
        let mut pings = Vec::new();
        for (id, peer) in &self.peers {
            if !peer.ready() {
                if now.saturating_sub(peer.connected_ms) > HANDSHAKE_TIMEOUT_MS {
                    drop.push((*id, DisconnectReason::HandshakeTimeout));
                }
                continue;
            }
            match peer.ping {
                Some((_, sent)) if now.saturating_sub(sent) > PING_TIMEOUT_MS => {
                    drop.push((*id, DisconnectReason::PingTimeout));
                    continue;
                }
                None if now.saturating_sub(peer.last_ping_ms) >= PING_INTERVAL_MS => pings.push(*id),
                _ => {}
            }
            // Stalling: blocks asked of it, and none delivered for a long while.
            if let Some(first_asked) = peer.in_flight.values().min() {
                let progress = peer.last_delivery_ms.max(*first_asked);
                if now.saturating_sub(progress) > BLOCK_REQUEST_TIMEOUT_MS {
                    drop.push((*id, DisconnectReason::Stalling));
                }
            }
        }
        for (id, reason) in drop {
            self.disconnect(id, reason);
        }
        for id in pings {
            self.ping_counter += 1;
            let nonce = self.config.nonce.rotate_left(17) ^ self.ping_counter;
            if let Some(peer) = self.peers.get_mut(&id) {
                peer.ping = Some((nonce, now));
                peer.last_ping_ms = now;
            }
            self.send(id, &Message::Ping(nonce));
        }
        self.start_verification(true);
        let due: Vec<BlockHash> = self.deferred.iter().filter(|(_, at)| *at <= now).map(|(h, _)| *h).collect();
        self.deferred.retain(|(_, at)| *at > now);
        for hash in due.into_iter().rev() {
            self.pending_headers.requeue(hash, true);
        }
        // Sync that went quiet: a peer with more work than us whose headers answer was lost
        // (with a dropped connection to someone else, say), or blocks we want that no peer is
        // fetching because none is known to have them. Asking for headers again tells us what
        // each peer has.
        if let Some(chain) = &self.chain {
            let work = chain.tip_work();
            // Blocks queued, or orphans waiting for a parent, and nothing being fetched.
            let waiting = self.pending_headers.wanted() > 0 || !self.orphans.is_empty();
            let stuck = waiting && self.peers.values().all(|p| p.in_flight.is_empty());
            let ask: Vec<PeerId> = self
                .peers
                .iter()
                .filter(|(_, p)| p.ready() && p.in_flight.is_empty())
                .filter(|(_, p)| stuck || p.version.as_ref().is_some_and(|v| v.best_work > work))
                .filter(|(_, p)| now.saturating_sub(p.headers_asked_ms) >= HEADERS_RETRY_MS)
                .map(|(id, _)| *id)
                .collect();
            for peer in ask {
                if stuck && let Some(state) = self.peers.get_mut(&peer) {
                    // From our own chain: what is missing may lie below its newest header.
                    state.sync_from = None;
                }
                self.send_getheaders(peer);
            }
        }
        if self.chain.is_none() {
            if self.wanted_genesis.is_some_and(|(_, asked)| now.saturating_sub(asked) > 6 * CHAIN_QUERY_INTERVAL_MS) {
                self.wanted_genesis = None;
            }
            if self.wanted_genesis.is_none() && now.saturating_sub(self.last_chain_query_ms) >= CHAIN_QUERY_INTERVAL_MS
            {
                self.last_chain_query_ms = now;
                for peer in self.ready_peers() {
                    self.query_chain(peer);
                }
            }
        }
        if now.saturating_sub(self.last_header_prune_ms) >= HEADER_PRUNE_INTERVAL_MS {
            self.last_header_prune_ms = now;
            let tip_height = self.chain.as_ref().map_or(0, ChainState::height);
            if self.pending_headers.prune_unqueued(tip_height, STALE_HEADER_DEPTH, false) > 0 {
                self.resume_header_sync();
            }
        }
        if !self.own_txs.is_empty() && now.saturating_sub(self.last_reannounce_ms) >= REANNOUNCE_INTERVAL_MS {
            self.last_reannounce_ms = now;
            let items: Vec<Inventory> = self.own_txs.keys().map(|t| Inventory::Tx(*t)).collect();
            for peer in self.ready_peers() {
                self.send(peer, &Message::Inv(items.clone()));
            }
        }
        self.request_blocks();
    }

    /// The shell committed batch `id` (and every one before it): announce what it stored.
    pub fn batch_committed(&mut self, id: BatchId) {
        while self.awaiting_commit.front().is_some_and(|(b, _)| *b <= id) {
            let Some((_, announcements)) = self.awaiting_commit.pop_front() else { break };
            for announcement in announcements {
                self.announce(announcement);
            }
        }
    }

    /// A user's transaction (a wallet's payment): into the mempool, announced to every peer,
    /// and announced again until it confirms.
    #[cfg(feature = "ecdsa")]
    pub fn submit_transaction(&mut self, tx: Transaction, now_ms: u64) -> Result<Txid, MempoolError> {
        self.submit_with(tx, now_ms, |mempool, tx, chain| mempool.accept(tx, chain))
    }

    /// The signature checks of the user's payment `tx`, all its other checks passed: for a
    /// shell that checks signatures elsewhere (the browser's WebCrypto), before
    /// [`Node::submit_checked`].
    pub fn payment_checks(&self, tx: &Transaction) -> Result<SignatureBatch, MempoolError> {
        let chain = self.chain.as_ref().ok_or_else(|| no_chain_yet(tx))?;
        self.mempool.signature_jobs(tx, chain)
    }

    /// [`Node::submit_transaction`] with the shell's answers for its signatures (from the
    /// batch of [`Node::payment_checks`]), checking none itself. If the chain or the mempool
    /// moved so that they no longer answer for it: [`MempoolError::SignaturesPending`].
    pub fn submit_checked(
        &mut self,
        tx: Transaction,
        checked: &VerifiedTxs,
        now_ms: u64,
    ) -> Result<Txid, MempoolError> {
        self.submit_with(tx, now_ms, |mempool, tx, chain| match mempool.accept_deferred(tx, chain, checked)? {
            TxAcceptance::Accepted(accepted) => Ok(accepted),
            TxAcceptance::NeedsSignatures(_) => Err(MempoolError::SignaturesPending),
        })
    }

    fn submit_with(
        &mut self,
        tx: Transaction,
        now_ms: u64,
        accept: impl FnOnce(&mut Mempool, Transaction, &ChainState) -> Result<MempoolAccepted, MempoolError>,
    ) -> Result<Txid, MempoolError> {
        self.advance_clock(now_ms);
        let chain = self.chain.as_ref().ok_or_else(|| no_chain_yet(&tx))?;
        let accepted = accept(&mut self.mempool, tx.clone(), chain)?;
        self.own_txs.insert(accepted.txid, tx);
        self.event(Event::TxAccepted { txid: accepted.txid });
        for peer in self.ready_peers() {
            self.send(peer, &Message::Inv(vec![Inventory::Tx(accepted.txid)]));
        }
        self.update_mining();
        Ok(accepted.txid)
    }

    /// Mine to `payee` by `policy`, or stop with `None`.
    pub fn set_mining(&mut self, mining: Option<(PubKeyHash, MiningPolicy)>) {
        self.mining = mining.map(|(payee, policy)| Mining { payee, policy, then: None, job: None, job_mempool_len: 0 });
        if self.mining.is_none() {
            self.outputs.push_back(Output::StopMining);
        }
        self.update_mining();
    }

    /// Mine one block now with what the mempool holds, paying `payee` (the seed's `send -mine`).
    pub fn mine_once(&mut self, payee: PubKeyHash) {
        let previous = self.mining.as_ref().map(|m| m.then.unwrap_or(Some((m.payee, m.policy))));
        let then = Some(previous.unwrap_or(None));
        self.mining = Some(Mining { payee, policy: MiningPolicy::Continuous, then, job: None, job_mempool_len: 0 });
        self.update_mining();
    }

    /// The shell found `nonce` for job `id`.
    pub fn nonce_found(&mut self, id: u64, nonce: u32, now_ms: u64) {
        self.advance_clock(now_ms);
        let Some(mining) = &mut self.mining else { return };
        let Some((job_id, template)) = &mining.job else { return };
        if *job_id != id {
            return;
        }
        let block = template.with_nonce(nonce);
        let payee = mining.payee;
        let height = template.height;
        let then = mining.then;
        mining.job = None;
        if let Some(previous) = then {
            self.mining =
                previous.map(|(payee, policy)| Mining { payee, policy, then: None, job: None, job_mempool_len: 0 });
        }
        let hash = block.block_hash();
        // Its transactions' signatures were checked as they entered the mempool.
        let checked = self.mempool.signatures_checked(&block.txs);
        if self.process_block(block, None, Some(&checked))
            && let Some((_, announcements)) = self.awaiting_commit.back_mut()
        {
            announcements.push(Announcement::Mined { hash, height, payee });
        }
        self.update_mining();
    }

    /// The shell tried every nonce of job `id`: a fresh job with the next extra nonce.
    pub fn nonce_space_exhausted(&mut self, id: u64) {
        let Some(mining) = &mut self.mining else { return };
        let Some((job_id, template)) = &mut mining.job else { return };
        if *job_id != id {
            return;
        }
        template.roll_extra_nonce();
        let header = template.block.header;
        let height = template.height;
        self.next_job += 1;
        let new_id = self.next_job;
        *job_id = new_id;
        self.outputs.push_back(Output::Mine(MiningJob { id: new_id, header, height }));
    }

    // ----- message handlers -----

    fn on_version(&mut self, peer: PeerId, version: Version) {
        let Some(state) = self.peers.get(&peer) else { return };
        let inbound = state.direction == Direction::Inbound;
        if state.version.is_some() {
            self.disconnect(peer, DisconnectReason::Misbehaving("a second version message"));
            return;
        }
        if version.nonce == self.config.nonce {
            self.disconnect(peer, DisconnectReason::SelfConnection);
            return;
        }
        if let Some(chain) = &self.chain
            && version.genesis != BlockHash::ZERO
            && version.genesis != chain.genesis_hash()
        {
            let ours = chain.genesis_hash();
            // Our own `version` first, so that the other side learns why (a tab can then say
            // that the relay serves a different chain than the one it stored).
            if inbound {
                let version = self.our_version();
                self.send(peer, &Message::Version(version));
            }
            self.disconnect(peer, DisconnectReason::WrongChain { ours, theirs: version.genesis });
            return;
        }
        let skew = version.time.abs_diff(self.now_secs());
        if skew > CLOCK_SKEW_WARNING_SECS {
            self.log(format!("Peer {peer}'s clock is {skew} s off ours"));
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.best_known_height = version.best_height;
            state.version = Some(version);
        }
        if inbound {
            let ours = self.our_version();
            self.send(peer, &Message::Version(ours));
        }
        self.send(peer, &Message::Verack);
        self.after_handshake_step(peer);
    }

    fn on_verack(&mut self, peer: PeerId) {
        let Some(state) = self.peers.get_mut(&peer) else { return };
        if state.version.is_none() {
            // `verack` acknowledges our `version` after theirs: before it, it breaks the
            // handshake like any other message.
            self.disconnect(peer, DisconnectReason::Misbehaving("message before the handshake"));
            return;
        }
        state.verack = true;
        self.after_handshake_step(peer);
    }

    fn after_handshake_step(&mut self, peer: PeerId) {
        let Some(version) = self.peers.get(&peer).filter(|p| p.ready()).and_then(|p| p.version.clone()) else {
            return;
        };
        self.event(Event::PeerJoined {
            peer,
            role: version.role,
            user_agent: version.user_agent.clone(),
            best_height: version.best_height,
        });
        match &self.chain {
            None if version.genesis != BlockHash::ZERO => self.ask_for_genesis(peer, version.genesis),
            None => {}
            Some(chain) => {
                if version.best_work > chain.tip_work() {
                    self.send_getheaders(peer);
                }
                if self.config.role != Role::Relay {
                    self.send(peer, &Message::Mempool);
                }
            }
        }
        if version.role == Role::Relay {
            self.send(peer, &Message::GetAddr);
            // A relay we reached by its address: worth telling others about.
            let now = self.now_secs();
            if let Some(state) = self.peers.get(&peer).filter(|p| p.direction == Direction::Outbound) {
                let address = PeerAddress { url: state.address.clone(), last_seen: now };
                let new = !self.addresses.contains(&address.url);
                let kept = self.addresses.add(address.clone(), OWN_SOURCE);
                // Relays that asked before we knew it hear of it now.
                let others: Vec<PeerId> = self
                    .peers
                    .iter()
                    .filter(|(id, p)| **id != peer && p.version.as_ref().is_some_and(|v| v.role == Role::Relay))
                    .map(|(id, _)| *id)
                    .collect();
                if new && kept {
                    for other in others {
                        self.send(other, &Message::Addr(vec![address.clone()]));
                    }
                }
            }
        }
    }

    fn ask_for_genesis(&mut self, peer: PeerId, genesis: BlockHash) {
        if self.wanted_genesis.is_none() {
            self.wanted_genesis = Some((genesis, self.now_ms));
            self.send(peer, &Message::GetData(vec![Inventory::Block(genesis)]));
        }
    }

    /// A node with no chain asks which chain a peer follows: an empty locator gets the headers
    /// from genesis.
    fn query_chain(&mut self, peer: PeerId) {
        self.send(peer, &Message::GetHeaders(GetHeaders { locator: Vec::new(), stop: BlockHash::ZERO }));
    }

    fn send_getheaders(&mut self, peer: PeerId) {
        let Some(chain) = &self.chain else { return };
        // An answer could take the peer past its allowance of pending headers: wait until
        // its blocks connect (`on_accepted` asks again).
        if self.pending_headers.count_from(peer) + MAX_HEADERS > MAX_PENDING_HEADERS_PER_PEER {
            if let Some(state) = self.peers.get_mut(&peer) {
                state.headers_paused = true;
            }
            return;
        }
        let mut locator = chain.locator();
        // Headers already received but not yet connected: ask for what comes after them.
        let from = self.peers.get(&peer).and_then(|p| p.sync_from).filter(|h| self.pending_headers.contains(h));
        if let Some(from) = from {
            locator.insert(0, from);
            locator.truncate(crate::protocol::MAX_LOCATOR_HASHES);
        }
        let now = self.now_ms;
        if let Some(state) = self.peers.get_mut(&peer) {
            state.headers_asked_ms = now;
            state.headers_paused = false;
            state.headers_requested = state.headers_requested.saturating_add(1);
        }
        self.send(peer, &Message::GetHeaders(GetHeaders { locator, stop: BlockHash::ZERO }));
    }

    fn on_inv(&mut self, peer: PeerId, items: Vec<Inventory>) {
        let now = self.now_ms;
        let within_rate = self.peers.get_mut(&peer).is_some_and(|p| p.flood.inv_items.take(items.len() as u64, now));
        if !within_rate {
            self.disconnect(peer, DisconnectReason::Misbehaving("inventory flood"));
            return;
        }
        let Some(chain) = &self.chain else {
            if items.iter().any(|i| matches!(i, Inventory::Block(_))) {
                self.query_chain(peer);
            }
            return;
        };
        let mut unknown_block = false;
        let mut wanted_txs = Vec::new();
        let Some(state) = self.peers.get_mut(&peer) else { return };
        for item in items {
            match item {
                Inventory::Block(hash) => {
                    if chain.block_info(&hash).is_none() && !self.pending_headers.contains(&hash) {
                        unknown_block = true;
                    }
                }
                Inventory::Tx(txid) => {
                    let unknown = !self.mempool.contains(&txid)
                        && chain.transaction(&txid).is_none()
                        && !self.tx_checks_held.contains_key(&txid);
                    // Asked already, or too much asked of it already: what it announces
                    // cannot make us send more than a bounded number of requests.
                    if unknown && state.txs_asked.len() < MAX_TXS_ASKED_PER_PEER && state.txs_asked.insert(txid) {
                        wanted_txs.push(Inventory::Tx(txid));
                    }
                }
            }
        }
        if unknown_block {
            self.send_getheaders(peer);
        }
        if !wanted_txs.is_empty() {
            self.send(peer, &Message::GetData(wanted_txs));
        }
    }

    fn on_getdata(&mut self, peer: PeerId, items: Vec<Inventory>) {
        let mut missing = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut budget = MAX_GETDATA_REPLY_BYTES;
        for item in items {
            if !seen.insert(item) {
                continue;
            }
            let found = match (&self.chain, item) {
                (Some(chain), Inventory::Block(hash)) if !self.uncommitted.contains(&hash) => {
                    chain.block(&hash).filter(|b| b.encoded_len() <= budget).cloned().map(Message::Block)
                }
                (Some(_), Inventory::Block(_)) => None,
                (None, Inventory::Block(_)) => None,
                (_, Inventory::Tx(txid)) => self.mempool.get(&txid).map(|e| Message::Tx(e.tx.clone())),
            };
            match found {
                Some(message) => {
                    if let Message::Block(block) = &message {
                        budget -= block.encoded_len();
                    }
                    self.send(peer, &message);
                }
                None => missing.push(item),
            }
        }
        if !missing.is_empty() {
            self.send(peer, &Message::NotFound(missing));
        }
    }

    fn on_headers(&mut self, peer: PeerId, headers: Vec<BlockHeader>) {
        let Some(chain) = &self.chain else {
            // The answer to an empty locator starts with the peer's genesis.
            if let Some(first) = headers.first().filter(|h| h.prev_blockhash == BlockHash::ZERO) {
                self.ask_for_genesis(peer, first.block_hash());
            }
            return;
        };
        let now = self.now_ms;
        let Some(state) = self.peers.get_mut(&peer) else { return };
        if state.headers_requested > 0 {
            state.headers_requested -= 1;
        } else if !state.flood.unrequested_headers.take(1, now) {
            self.disconnect(peer, DisconnectReason::Misbehaving("unrequested headers flood"));
            return;
        }
        let params = &self.config.params;
        let full = headers.len() == MAX_HEADERS;
        let mut new_headers: Vec<(BlockHash, PendingHeader)> = Vec::new();
        let mut newest_known: Option<(BlockHash, u32)> = None;
        // The message's headers not in our chain, known or new, in its order.
        let mut branch: Vec<BlockHash> = Vec::new();
        if headers.windows(2).any(|pair| pair[1].prev_blockhash != pair[0].block_hash()) {
            // A `headers` message is one chain, in order: anything else is not an answer.
            self.disconnect(peer, DisconnectReason::Misbehaving("headers that do not form a chain"));
            return;
        }
        for header in &headers {
            let hash = header.block_hash();
            if let Err(error) = check_proof_of_work(&hash, header.bits, params) {
                self.disconnect(peer, DisconnectReason::InvalidBlock(error));
                return;
            }
            if chain.is_known_invalid(&hash) || chain.is_known_invalid(&header.prev_blockhash) {
                self.disconnect(peer, DisconnectReason::InvalidBlock(BlockError::KnownInvalid));
                return;
            }
            if let Some(height) = chain.block_info(&hash).map(|i| i.height) {
                newest_known = Some((hash, height));
                continue;
            }
            if let Some(height) = self.pending_headers.get(&hash).map(|p| p.height) {
                newest_known = Some((hash, height));
                branch.push(hash);
                continue;
            }
            // The same checks against its parent that its block will get: bits by the
            // difficulty rule, after the median time past, not too far ahead of our clock.
            let Some(context) = self.pending_headers.child_context(chain, &new_headers, header.prev_blockhash) else {
                // Not connected to anything known: ignore the rest; a later locator fixes it.
                break;
            };
            if header.bits != context.bits {
                let error = BlockError::BadBits { expected: context.bits, found: header.bits };
                self.disconnect(peer, DisconnectReason::InvalidBlock(error));
                return;
            }
            match check_header_time(header.time, context.median_time_past, self.now_secs(), params) {
                Ok(()) => {}
                // Valid once our clock catches up: keep what came before it, ask again later.
                Err(BlockError::TimeTooNew { .. }) => break,
                Err(error) => {
                    self.disconnect(peer, DisconnectReason::InvalidBlock(error));
                    return;
                }
            }
            let work = header.bits.to_target().map(|t| t.work()).unwrap_or(Work::ZERO);
            let chain_work = context.parent_work.checked_add(&work).unwrap_or(context.parent_work);
            let pending =
                PendingHeader { header: *header, height: context.height, source: peer, chain_work, queued: false };
            new_headers.push((hash, pending));
            branch.push(hash);
        }
        let count = self.pending_headers.count_from(peer).saturating_add(new_headers.len());
        if count > MAX_PENDING_HEADERS_PER_PEER {
            self.disconnect(peer, DisconnectReason::Misbehaving("more headers than it may have pending"));
            return;
        }
        let added = self.keep_headers(new_headers, &branch);
        if added.is_some() {
            newest_known = added;
        }
        if let Some(state) = self.peers.get_mut(&peer)
            && let Some((hash, height)) = newest_known
        {
            state.sync_from = Some(hash);
            state.best_known_height = state.best_known_height.max(height);
        }
        // A full message means more may follow; a full one with nothing new would loop.
        if full && added.is_some() {
            self.send_getheaders(peer);
        }
        self.request_blocks();
    }

    /// Keeps checked headers (in chain order). Once the message's `branch` (its pending
    /// headers, known or new, in order) ends with more work than the active tip, the blocks of
    /// the whole branch not queued yet are queued for fetching, ancestors before it included.
    /// Returns the newest header kept, with its height (`None`: none was).
    fn keep_headers(
        &mut self,
        headers: Vec<(BlockHash, PendingHeader)>,
        branch: &[BlockHash],
    ) -> Option<(BlockHash, u32)> {
        if self.pending_headers.len() + headers.len() > MAX_PENDING_HEADERS {
            // Full: headers that will not be fetched make room first.
            let tip_height = self.chain.as_ref().map_or(0, ChainState::height);
            self.pending_headers.prune_unqueued(tip_height, STALE_HEADER_DEPTH, true);
        }
        let mut newest = None;
        for (hash, pending) in headers {
            if self.pending_headers.len() >= MAX_PENDING_HEADERS {
                break;
            }
            self.pending_headers.insert(hash, pending);
            newest = Some((hash, pending.height));
        }
        let tip_work = self.chain.as_ref().map_or(Work::ZERO, ChainState::tip_work);
        let best = branch.iter().rev().find_map(|h| self.pending_headers.get(h).map(|p| (*h, p.chain_work, p.height)));
        if let Some((hash, work, height)) = best
            && work > tip_work
        {
            self.pending_headers.queue_branch(hash);
            // Only a branch worth fetching counts towards the sync's total.
            self.best_header_height = self.best_header_height.max(height);
        }
        newest
    }

    fn on_block(&mut self, peer: PeerId, block: Block) {
        let hash = block.block_hash();
        let now = self.now_ms;
        let Some(state) = self.peers.get_mut(&peer) else { return };
        let requested = state.in_flight.remove(&hash).is_some();
        if requested {
            state.last_delivery_ms = now;
        }
        if self.chain.is_none() {
            if self.wanted_genesis.is_some_and(|(wanted, _)| wanted == hash) {
                self.adopt_genesis(peer, block);
            }
            return;
        }
        if self.blocks_held.contains_key(&hash) {
            // Out for its checks already: sent again, it would only cost them again.
            return;
        }
        // A block is expected if asked for, or if its header's branch is worth fetching; one of
        // a branch with less work than ours is as unasked as any.
        if !requested && !self.pending_headers.is_queued(&hash) {
            if let Err(error) = check_proof_of_work(&hash, block.header.bits, &self.config.params) {
                // Free to check, and proof that the sender sends junk.
                self.disconnect(peer, DisconnectReason::InvalidBlock(error));
                return;
            }
            let Some(state) = self.peers.get_mut(&peer) else { return };
            if !state.flood.unrequested_blocks.take(1, now) {
                self.disconnect(peer, DisconnectReason::Misbehaving("unrequested block flood"));
                return;
            }
            if !self.would_be_new_tip(&block) {
                // Checking and storing it would cost us and buy nothing: a side branch with
                // less work, or a block whose parent we lack (its headers tell us if it matters).
                self.log(format!("Ignored unrequested block {hash} from peer {peer}: it would not be our new tip"));
                let parent = block.header.prev_blockhash;
                if self.chain.as_ref().is_some_and(|c| c.block_info(&parent).is_none()) {
                    self.send_getheaders(peer);
                }
                return;
            }
        }
        // Handing out a block's signature checks costs work in proportion to its body: only a
        // body that passes the checks needing no chain (proof of work, Merkle root, sizes) is
        // handed out; any other is refused at once by `process_block`.
        if self.checks_in_shell()
            && self.extends_verification_run(&block)
            && crate::validation::check_block(&block, &self.config.params).is_ok()
        {
            self.verify_queue.push((block, Some(peer)));
            self.start_verification(false);
        } else {
            self.process_block(block, Some(peer), None);
        }
        self.request_blocks();
    }

    /// Whether `block`'s chain would have more work than the tip (before checking it).
    fn would_be_new_tip(&self, block: &Block) -> bool {
        let Some(chain) = &self.chain else { return false };
        let Some(parent) = chain.block_info(&block.header.prev_blockhash) else { return false };
        let Ok(target) = block.header.bits.to_target() else { return false };
        parent.chain_work.checked_add(&target.work()).is_some_and(|work| work > chain.tip_work())
    }

    /// Whether `block` extends the tip, through the blocks already waiting for verification.
    fn extends_verification_run(&self, block: &Block) -> bool {
        let Some(chain) = &self.chain else { return false };
        let last = self
            .verify_queue
            .last()
            .or_else(|| self.verifying.back().and_then(|v| v.blocks.last()))
            .map_or(chain.tip(), |(b, _)| b.block_hash());
        block.header.prev_blockhash == last && !self.orphans.contains_key(&block.block_hash())
    }

    /// Hands queued blocks' signatures to the shell, while fewer than [`MAX_VERIFICATIONS`] runs
    /// are out and the queue is full or nothing more is on its way (`force`: whatever is queued).
    fn start_verification(&mut self, force: bool) {
        while self.verifying.len() < MAX_VERIFICATIONS && !self.verify_queue.is_empty() {
            let more_coming = self.peers.values().any(|p| !p.in_flight.is_empty());
            if !force && more_coming && self.verify_queue.len() < VERIFY_BATCH_BLOCKS {
                return;
            }
            let Some(chain) = &self.chain else { return };
            let take = self.verify_queue.len().min(MAX_VERIFY_BATCH_BLOCKS);
            let blocks: Vec<(Block, Option<PeerId>)> = self.verify_queue.drain(..take).collect();
            let earlier: Vec<Block> =
                self.verifying.iter().flat_map(|v| v.blocks.iter().map(|(b, _)| b.clone())).collect();
            let just_blocks: Vec<Block> = blocks.iter().map(|(b, _)| b.clone()).collect();
            let batch = SignatureBatch::for_blocks_after(chain, &earlier, &just_blocks);
            self.next_verify += 1;
            let id = self.next_verify;
            if batch.jobs.is_empty() {
                // Nothing to check: it connects in turn, after the runs before it.
                self.verifying.push_back(Verification { id, batch, blocks, results: Some(Vec::new()) });
                self.connect_checked_runs();
                continue;
            }
            self.outputs.push_back(Output::Verify { id, jobs: batch.jobs.clone() });
            self.verifying.push_back(Verification { id, batch, blocks, results: None });
        }
    }

    /// The shell checked the jobs of [`Output::Verify`] `id`: one result per job, in order.
    /// Runs are connected in the order they were handed out, whatever order answers come in.
    pub fn signatures_verified(&mut self, id: u64, results: &[bool], now_ms: u64) {
        self.advance_clock(now_ms);
        if let Some(check) = self.tx_checks.remove(&id) {
            self.tx_checked(check, results);
            return;
        }
        if let Some(check) = self.block_checks.remove(&id) {
            self.block_checked(check, results);
            self.request_blocks();
            return;
        }
        let Some(verification) = self.verifying.iter_mut().find(|v| v.id == id && v.results.is_none()) else {
            return;
        };
        verification.results = Some(results.to_vec());
        self.connect_checked_runs();
        self.start_verification(false);
        self.request_blocks();
    }

    /// Connects the runs at the front whose answers came.
    fn connect_checked_runs(&mut self) {
        while self.verifying.front().is_some_and(|v| v.results.is_some()) {
            let Some(verification) = self.verifying.pop_front() else { return };
            let results = verification.results.unwrap_or_default();
            let verified = verification.batch.verified(&results);
            self.connect_verified(verification.blocks, &verified);
        }
    }

    fn connect_verified(&mut self, blocks: Vec<(Block, Option<PeerId>)>, verified: &VerifiedTxs) {
        for (block, source) in blocks {
            self.process_block(block, source, Some(verified));
        }
    }

    fn adopt_genesis(&mut self, peer: PeerId, block: Block) {
        match ChainState::new(self.config.params.clone(), block) {
            Ok((chain, batch)) => {
                let genesis = chain.genesis_hash();
                self.chain = Some(chain);
                self.wanted_genesis = None;
                self.uncommitted.insert(genesis);
                self.write(batch, vec![Announcement::Stored(vec![genesis]), Announcement::ChainAdopted(genesis)]);
                for peer in self.ready_peers() {
                    let theirs = self.peers.get(&peer).and_then(|p| p.version.as_ref()).map(|v| v.genesis);
                    match theirs {
                        Some(theirs) if theirs != BlockHash::ZERO && theirs != genesis => {
                            self.disconnect(peer, DisconnectReason::WrongChain { ours: genesis, theirs });
                        }
                        _ => self.send_getheaders(peer),
                    }
                }
                self.update_mining();
            }
            Err(error) => {
                self.wanted_genesis = None;
                self.disconnect(peer, DisconnectReason::InvalidBlock(error));
            }
        }
    }

    /// Validates and stores a block, then any orphans waiting on it. Returns whether the block
    /// was accepted.
    fn process_block(&mut self, block: Block, source: Option<PeerId>, verified: Option<&VerifiedTxs>) -> bool {
        let hash = block.block_hash();
        let accepted = self.accept_one(block, source, verified);
        if accepted {
            self.connect_orphans(hash);
        }
        accepted
    }

    /// Validates and stores one block, and deals with each way it can fail. A node whose shell
    /// checks signatures hands out those `verified` does not answer for, and holds the block.
    fn accept_one(&mut self, block: Block, source: Option<PeerId>, verified: Option<&VerifiedTxs>) -> bool {
        let Some(chain) = &mut self.chain else { return false };
        let hash = block.block_hash();
        if self.blocks_held.contains_key(&hash) {
            return false;
        }
        let parent = block.header.prev_blockhash;
        let now = self.now_ms / 1000;
        #[cfg(feature = "ecdsa")]
        let checked_here = (!self.config.parallel_signatures).then(|| match verified {
            Some(verified) => chain.accept_block_verified(block.clone(), now, verified),
            None => chain.accept_block(block.clone(), now),
        });
        #[cfg(not(feature = "ecdsa"))]
        let checked_here = None;
        let result = match checked_here {
            Some(result) => result,
            None => {
                match chain.accept_block_deferred(block.clone(), now, verified.unwrap_or(&VerifiedTxs::default())) {
                    Ok(BlockAcceptance::Accepted(accepted)) => Ok(accepted),
                    Ok(BlockAcceptance::NeedsSignatures(batch)) => {
                        self.hold_for_checks(BlockCheck { block, hash, source, batch });
                        return false;
                    }
                    Err(error) => Err(error),
                }
            }
        };
        match result {
            Ok(accepted) => {
                self.on_accepted(hash, accepted, source);
                true
            }
            Err(BlockError::UnknownParent(_)) => {
                self.add_orphan(hash, block, source);
                if let Some(peer) = source
                    && !self.pending_headers.contains(&parent)
                {
                    self.send_getheaders(peer);
                }
                false
            }
            Err(BlockError::AlreadyKnown) => false,
            Err(BlockError::TimeTooNew { .. }) => {
                // Valid later, perhaps: fetch it again in a while, without blaming anyone.
                if self.pending_headers.contains(&hash) {
                    self.deferred.push((hash, self.now_ms + FUTURE_BLOCK_RETRY_MS));
                }
                false
            }
            Err(error) => {
                self.store_invalidity();
                if error.proves_hash_invalid() {
                    self.pending_headers.remove(&hash);
                } else {
                    // A tampered copy: the real block may still come from someone honest.
                    self.pending_headers.requeue(hash, false);
                }
                match source {
                    Some(peer) => self.disconnect(peer, DisconnectReason::InvalidBlock(error)),
                    None => self.log(format!("Mined block {hash} was refused: {error}")),
                }
                false
            }
        }
    }

    /// Marks in the store the stored blocks the chain just found invalid, so that a restart
    /// remembers them.
    fn store_invalidity(&mut self) {
        let Some(chain) = &mut self.chain else { return };
        let batch = chain.take_invalidity_batch();
        if !batch.is_empty() {
            self.write(batch, Vec::new());
        }
    }

    /// Hands out the signature checks a block needs, and holds it meanwhile (or drops it, to
    /// be fetched again, if too many bytes of blocks wait already).
    fn hold_for_checks(&mut self, check: BlockCheck) {
        let bytes = check.block.encoded_len();
        if self.block_check_bytes.saturating_add(bytes) > MAX_BLOCK_CHECK_BYTES {
            self.log(format!(
                "Dropped block {}: {} bytes of blocks already wait for their signature checks",
                check.hash, self.block_check_bytes
            ));
            if self.pending_headers.contains(&check.hash) {
                self.deferred.push((check.hash, self.now_ms + FUTURE_BLOCK_RETRY_MS));
            }
            return;
        }
        self.block_check_bytes += bytes;
        self.next_verify += 1;
        let id = self.next_verify;
        self.outputs.push_back(Output::Verify { id, jobs: check.batch.jobs.clone() });
        self.blocks_held.insert(check.hash, id);
        self.block_checks.insert(id, check);
    }

    /// The shell's answers for a held block: it is accepted with them (or held again, if the
    /// chain moved meanwhile and it needs other checks), then the orphans waiting for it.
    fn block_checked(&mut self, check: BlockCheck, results: &[bool]) {
        let BlockCheck { block, hash, source, batch } = check;
        self.blocks_held.remove(&hash);
        self.block_check_bytes = self.block_check_bytes.saturating_sub(block.encoded_len());
        self.process_block(block, source, Some(&batch.verified(results)));
    }

    fn on_accepted(&mut self, hash: BlockHash, accepted: BlockAccepted, source: Option<PeerId>) {
        self.pending_headers.remove(&hash);
        self.resume_header_sync();
        let Some(chain) = &self.chain else { return };
        let height = chain.block_info(&hash).map_or(0, |i| i.height);
        let mut announcements = Vec::new();
        if !accepted.disconnected.is_empty() {
            announcements.push(Announcement::Disconnected(accepted.disconnected.clone()));
        }
        for connected in &accepted.connected {
            let connected_height = chain.block_info(connected).map_or(height, |i| i.height);
            announcements.push(Announcement::Block { hash: *connected, height: connected_height, source });
        }
        self.mempool.update_for_chain(chain, &accepted);
        let mempool = &self.mempool;
        self.own_txs.retain(|txid, _| mempool.contains(txid));
        let tip_height = chain.height();
        if self.pending_headers.to_fetch() > 0 || self.best_header_height > tip_height {
            let total = self.best_header_height.max(tip_height);
            announcements.push(Announcement::Progress { done: tip_height, total });
        }
        let mut stored = accepted.connected.clone();
        stored.push(hash);
        self.uncommitted.extend(stored.iter().copied());
        // First: the `inv` that follows may be answered with `getdata` at once.
        announcements.insert(0, Announcement::Stored(stored));
        self.write(accepted.batch, announcements);
        self.update_mining();
    }

    /// Asks peers whose header sync waited for their allowance once half of it is free again.
    fn resume_header_sync(&mut self) {
        let paused: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, p)| {
                p.headers_paused && self.pending_headers.count_from(**id) <= MAX_PENDING_HEADERS_PER_PEER / 2
            })
            .map(|(id, _)| *id)
            .collect();
        for peer in paused {
            self.send_getheaders(peer);
        }
    }

    fn add_orphan(&mut self, hash: BlockHash, block: Block, source: Option<PeerId>) {
        if self.orphans.contains_key(&hash) {
            return;
        }
        // One peer's orphans make room among themselves, so that it cannot push out the
        // blocks others sent.
        if let Some(peer) = source {
            let from_peer: Vec<BlockHash> = self
                .orphan_order
                .iter()
                .filter(|h| self.orphans.get(h).is_some_and(|(_, s)| *s == source))
                .copied()
                .collect();
            if from_peer.len() >= MAX_ORPHANS_PER_PEER
                && let Some(oldest) = from_peer.first()
            {
                self.log(format!("Peer {peer} holds {} orphan blocks: dropping its oldest", from_peer.len()));
                self.evict_orphan(*oldest);
            }
        }
        self.orphan_bytes += block.encoded_len();
        self.orphans.insert(hash, (block, source));
        self.orphan_order.push_back(hash);
        while self.orphans.len() > MAX_ORPHANS || self.orphan_bytes > MAX_ORPHAN_BYTES {
            let Some(&oldest) = self.orphan_order.front() else { break };
            self.evict_orphan(oldest);
        }
    }

    fn evict_orphan(&mut self, hash: BlockHash) {
        self.orphan_order.retain(|h| *h != hash);
        if let Some((evicted, _)) = self.orphans.remove(&hash) {
            self.orphan_bytes = self.orphan_bytes.saturating_sub(evicted.encoded_len());
        }
        // Still wanted: fetch it again once its parent is here.
        self.pending_headers.requeue(hash, false);
    }

    fn connect_orphans(&mut self, parent: BlockHash) {
        let mut parents = vec![parent];
        while let Some(parent) = parents.pop() {
            let children: Vec<BlockHash> = self
                .orphans
                .iter()
                .filter(|(_, (block, _))| block.header.prev_blockhash == parent)
                .map(|(hash, _)| *hash)
                .collect();
            for child in children {
                self.orphan_order.retain(|h| *h != child);
                let Some((block, _)) = self.orphans.remove(&child) else { continue };
                self.orphan_bytes = self.orphan_bytes.saturating_sub(block.encoded_len());
                // Whoever sent it is long forgotten: a bad orphan costs it nothing, but is
                // remembered as invalid by the chain state.
                if self.accept_one(block, None, None) {
                    parents.push(child);
                }
            }
        }
    }

    fn on_tx(&mut self, peer: PeerId, tx: Transaction) {
        let txid = tx.txid();
        let now = self.now_ms;
        let Some(state) = self.peers.get_mut(&peer) else { return };
        if !state.txs_asked.remove(&txid) && !state.flood.unrequested_txs.take(1, now) {
            self.disconnect(peer, DisconnectReason::Misbehaving("unrequested transaction flood"));
            return;
        }
        if self.rejects.seen_again(&tx.wtxid()) {
            let reason = "the transaction was already found invalid".to_string();
            self.send(peer, &Message::Reject(Reject { item: Inventory::Tx(txid), code: RejectCode::Invalid, reason }));
            self.disconnect(peer, DisconnectReason::KnownInvalidTransaction(txid));
            return;
        }
        #[cfg(feature = "ecdsa")]
        if !self.checks_in_shell() {
            if !self.take_signature_budget(peer, txid, tx.spends().len()) {
                return;
            }
            let Some(chain) = &self.chain else { return };
            let wtxid = tx.wtxid();
            let result = self.mempool.accept(tx, chain);
            return self.tx_outcome(peer, txid, wtxid, result);
        }
        self.check_tx_signatures(peer, tx);
    }

    /// Takes `checks` signature checks from `peer`'s budget; past it the transaction is not
    /// checked, and its sender is told to send it again later (not punished: a relay passing
    /// on a burst of honest payments may go past it).
    fn take_signature_budget(&mut self, peer: PeerId, txid: Txid, checks: usize) -> bool {
        let now = self.now_ms;
        let Some(state) = self.peers.get_mut(&peer) else { return false };
        if state.flood.signature_checks.take(checks as u64, now) {
            return true;
        }
        self.log(format!("Did not check transaction {txid} from peer {peer}: past its budget of signature checks"));
        let reason = format!(
            "this node checks at most {SIGNATURE_CHECKS_PER_SECOND} signatures a second from one peer: send it again later"
        );
        self.send(peer, &Message::Reject(Reject { item: Inventory::Tx(txid), code: RejectCode::Policy, reason }));
        false
    }

    /// Hands a peer's transaction's signatures to the shell once everything else about it
    /// holds; a transaction spending one still being checked waits for it.
    fn check_tx_signatures(&mut self, peer: PeerId, tx: Transaction) {
        let txid = tx.txid();
        let Some(chain) = &self.chain else { return };
        if self.tx_checks_held.contains_key(&txid) {
            return;
        }
        let batch = match self.mempool.signature_jobs(&tx, chain) {
            Ok(batch) => batch,
            Err(MempoolError::Invalid(TxError::MissingInput(outpoint))) => {
                // Behind the check holding its parent (the parent's own, or the one the parent
                // waits behind): children are checked in the order they came, after it.
                let Some(&id) = self.tx_checks_held.get(&outpoint.txid) else {
                    let error = MempoolError::Invalid(TxError::MissingInput(outpoint));
                    return self.tx_outcome(peer, txid, tx.wtxid(), Err(error));
                };
                let bytes = tx.encoded_len();
                if self.tx_check_room(txid, peer, bytes)
                    && let Some(holder) = self.tx_checks.get_mut(&id)
                {
                    self.tx_check_bytes += bytes;
                    self.tx_checks_held.insert(txid, id);
                    holder.children.push((tx, txid, peer));
                }
                return;
            }
            Err(error) => return self.tx_outcome(peer, txid, tx.wtxid(), Err(error)),
        };
        if batch.is_empty() {
            // Keys that do not own what they spend: refused with no signature to check.
            return self.enter_checked(peer, tx, &VerifiedTxs::default());
        }
        if !self.tx_check_room(txid, peer, tx.encoded_len())
            || !self.take_signature_budget(peer, txid, batch.jobs.len())
        {
            return;
        }
        self.tx_check_bytes += tx.encoded_len();
        self.next_verify += 1;
        let id = self.next_verify;
        self.outputs.push_back(Output::Verify { id, jobs: batch.jobs.clone() });
        self.tx_checks_held.insert(txid, id);
        self.tx_checks.insert(id, TxCheck { tx, txid, peer, batch, children: Vec::new() });
    }

    /// Whether `bytes` more of transactions may wait for signature checks.
    fn tx_check_room(&mut self, txid: Txid, peer: PeerId, bytes: usize) -> bool {
        if self.tx_check_bytes.saturating_add(bytes) <= MAX_TX_CHECK_BYTES {
            return true;
        }
        self.log(format!(
            "Ignored transaction {txid} from peer {peer}: {} bytes of transactions already wait for their signature checks",
            self.tx_check_bytes
        ));
        false
    }

    /// The shell's answers for a peer's transaction: into the mempool if they and everything
    /// else still hold; then the transactions that waited for it.
    fn tx_checked(&mut self, check: TxCheck, results: &[bool]) {
        let TxCheck { tx, txid, peer, batch, children } = check;
        for held in std::iter::once(&txid).chain(children.iter().map(|(_, child, _)| child)) {
            self.tx_checks_held.remove(held);
        }
        self.tx_check_bytes = self
            .tx_check_bytes
            .saturating_sub(tx.encoded_len() + children.iter().map(|(child, _, _)| child.encoded_len()).sum::<usize>());
        self.enter_checked(peer, tx, &batch.verified(results));
        for (child, _, from) in children {
            self.check_tx_signatures(from, child);
        }
    }

    /// Offers a peer's transaction to the mempool with the shell's answers; if the chain or the
    /// mempool changed so that they no longer answer for it, its checks go out again.
    fn enter_checked(&mut self, peer: PeerId, tx: Transaction, verified: &VerifiedTxs) {
        let Some(chain) = &self.chain else { return };
        let (txid, wtxid) = (tx.txid(), tx.wtxid());
        match self.mempool.accept_deferred(tx.clone(), chain, verified) {
            Ok(TxAcceptance::Accepted(accepted)) => self.tx_outcome(peer, txid, wtxid, Ok(accepted)),
            Ok(TxAcceptance::NeedsSignatures(_)) => self.check_tx_signatures(peer, tx),
            Err(error) => self.tx_outcome(peer, txid, wtxid, Err(error)),
        }
    }

    /// Announces a transaction the mempool took, or tells its sender why not; one that can
    /// never be valid is remembered and its sender cut off.
    fn tx_outcome(&mut self, peer: PeerId, txid: Txid, wtxid: Wtxid, result: Result<MempoolAccepted, MempoolError>) {
        match result {
            Ok(_) => {
                self.event(Event::TxAccepted { txid });
                for other in self.ready_peers() {
                    if other != peer {
                        self.send(other, &Message::Inv(vec![Inventory::Tx(txid)]));
                    }
                }
                self.update_mining();
            }
            Err(MempoolError::AlreadyInMempool | MempoolError::AlreadyConfirmed) => {}
            Err(error) => {
                let code = match &error {
                    MempoolError::Conflict { .. } => RejectCode::Duplicate,
                    MempoolError::Invalid(_) => RejectCode::Invalid,
                    _ => RejectCode::Policy,
                };
                let reason = error.to_string();
                self.event(Event::TxRejected { txid, reason: reason.clone() });
                if self.peers.contains_key(&peer) {
                    self.send(peer, &Message::Reject(Reject { item: Inventory::Tx(txid), code, reason }));
                }
                if let MempoolError::Invalid(error) = error
                    && error.is_permanent()
                {
                    self.rejects.insert(wtxid);
                    self.disconnect(peer, DisconnectReason::InvalidTransaction(error));
                }
            }
        }
    }

    // ----- sync and announcements -----

    fn ready_peers(&self) -> Vec<PeerId> {
        self.peers.iter().filter(|(_, p)| p.ready()).map(|(id, _)| *id).collect()
    }

    /// Asks peers for wanted block bodies, a window per peer, one `getdata` per peer.
    fn request_blocks(&mut self) {
        let ready = self.ready_peers();
        let mut capacity: usize =
            ready.iter().map(|id| BLOCKS_IN_FLIGHT_PER_PEER.saturating_sub(self.peers[id].in_flight.len())).sum();
        let mut requests: LiteMap<PeerId, Vec<BlockHash>> = LiteMap::new();
        // Each peer's headers queue their blocks apart: what one peer announced (junk no one
        // serves, say) is scanned only as far as its own queue allows and never holds up the
        // blocks another peer announced. A queue's blocks go to its owner first, else to a peer
        // known to be as high; one that no peer can serve now is set aside.
        for owner in self.pending_headers.queue_owners() {
            let mut skipped = Vec::new();
            while capacity > 0 && skipped.len() < MAX_REQUEST_SCAN {
                let Some(hash) = self.pending_headers.pop_wanted(owner) else { break };
                match self.fetch_candidate(&hash, &ready, &requests) {
                    Fetch::Done => {}
                    Fetch::From(peer) => {
                        requests.entry(peer).or_default().push(hash);
                        capacity -= 1;
                    }
                    Fetch::NotNow => skipped.push(hash),
                }
            }
            self.pending_headers.unpop_wanted(owner, skipped);
        }
        let now = self.now_ms;
        for (peer, hashes) in requests {
            if let Some(state) = self.peers.get_mut(&peer) {
                for hash in &hashes {
                    state.in_flight.insert(*hash, now);
                }
            }
            let items = hashes.into_iter().map(Inventory::Block).collect();
            self.send(peer, &Message::GetData(items));
        }
    }

    /// Who to ask for a queued block: its header's sender first, else a ready peer known to
    /// be as high that has not said it lacks it, with room in its window.
    fn fetch_candidate(&self, hash: &BlockHash, ready: &[PeerId], requests: &LiteMap<PeerId, Vec<BlockHash>>) -> Fetch {
        let stored = self.chain.as_ref().is_some_and(|c| c.block_info(hash).is_some_and(|i| i.has_data));
        let done = stored || self.orphans.contains_key(hash) || self.blocks_held.contains_key(hash);
        let Some(pending) = self.pending_headers.get(hash).filter(|_| !done) else { return Fetch::Done };
        let candidates = std::iter::once(pending.source).chain(ready.iter().copied());
        let chosen = candidates.filter(|id| ready.contains(id)).find(|id| {
            let peer = &self.peers[id];
            let asked = requests.get(id).map_or(0, Vec::len);
            let has_it =
                (peer.best_known_height >= pending.height || *id == pending.source) && !peer.lacks.contains(hash);
            has_it && peer.in_flight.len() + asked < BLOCKS_IN_FLIGHT_PER_PEER
        });
        chosen.map_or(Fetch::NotNow, Fetch::From)
    }

    /// Blocks a peer was fetching go back to the front of their queues, for another peer.
    fn release_in_flight(&mut self, hashes: impl Iterator<Item = BlockHash>) {
        let mut released: Vec<(u32, BlockHash)> =
            hashes.filter_map(|h| self.pending_headers.get(&h).map(|p| (p.height, h))).collect();
        // Lowest first at the front: blocks connect in order instead of waiting as orphans.
        sort::sort(&mut released);
        for (_, hash) in released.into_iter().rev() {
            self.pending_headers.requeue(hash, true);
        }
    }

    /// Forgets the headers a peer that left had sent, but for blocks another peer is fetching.
    /// If it had told of blocks still to fetch, the other peers are asked what they have.
    fn forget_headers_of(&mut self, peer: PeerId) {
        let had_wanted = self.pending_headers.count_from(peer) > 0;
        let peers = &self.peers;
        self.pending_headers.forget_peer(peer, |hash| {
            peers.iter().find(|(id, p)| **id != peer && p.in_flight.contains_key(hash)).map(|(id, _)| *id)
        });
        if !had_wanted {
            return;
        }
        // A dropped header may sit below others' headers: the next `getheaders` to anyone
        // starts from our own chain, not from their newest header, so that it comes again.
        for (_, state) in self.peers.iter_mut() {
            state.sync_from = None;
        }
        let tip_height = self.chain.as_ref().map_or(0, ChainState::height);
        if self.best_header_height > tip_height {
            for other in self.ready_peers() {
                self.send_getheaders(other);
            }
        }
    }

    fn write(&mut self, batch: WriteBatch, announcements: Vec<Announcement>) {
        self.next_batch += 1;
        let id = self.next_batch;
        self.outputs.push_back(Output::Write { id, batch });
        self.awaiting_commit.push_back((id, announcements));
    }

    fn announce(&mut self, announcement: Announcement) {
        match announcement {
            Announcement::Block { hash, height, source } => {
                self.event(Event::BlockAdded { hash, height });
                // Only the tip is worth announcing: a peer that lacks its ancestors asks.
                let is_tip = self.chain.as_ref().is_some_and(|c| c.tip() == hash);
                if is_tip {
                    for peer in self.ready_peers() {
                        if Some(peer) != source {
                            self.send(peer, &Message::Inv(vec![Inventory::Block(hash)]));
                        }
                    }
                }
            }
            Announcement::Disconnected(hashes) => self.event(Event::BlocksDisconnected { hashes }),
            Announcement::ChainAdopted(genesis) => self.event(Event::ChainAdopted { genesis }),
            Announcement::Mined { hash, height, payee } => self.event(Event::Mined { hash, height, payee }),
            Announcement::Progress { done, total } => self.event(Event::SyncProgress { done, total }),
            Announcement::Stored(hashes) => {
                for hash in hashes {
                    self.uncommitted.remove(&hash);
                }
            }
        }
    }

    // ----- mining -----

    /// Starts, refreshes or stops the mining job after the tip or the mempool changed.
    fn update_mining(&mut self) {
        let Some(chain) = &self.chain else { return };
        let Some(mining) = &mut self.mining else { return };
        let should_mine = match mining.policy {
            MiningPolicy::Continuous => true,
            MiningPolicy::WhenMempoolHolds(n) => self.mempool.len() >= n.max(1),
        };
        if !should_mine {
            if mining.job.take().is_some() {
                self.outputs.push_back(Output::StopMining);
            }
            return;
        }
        let stale = match &mining.job {
            None => true,
            Some((_, template)) => {
                template.block.header.prev_blockhash != chain.tip() || mining.job_mempool_len != self.mempool.len()
            }
        };
        if !stale {
            return;
        }
        let Ok(template) = block_template(chain, &self.mempool, mining.payee, self.now_ms / 1000, Vec::new()) else {
            if mining.job.take().is_some() {
                self.outputs.push_back(Output::StopMining);
            }
            return;
        };
        self.next_job += 1;
        let job = MiningJob { id: self.next_job, header: template.block.header, height: template.height };
        mining.job = Some((job.id, template));
        mining.job_mempool_len = self.mempool.len();
        self.outputs.push_back(Output::Mine(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Role;
    use crate::sigcheck::SignedMessage;
    use crate::tx::{OutPoint, TxIn, TxInputs, TxOut};

    /// A block of about `bytes` (one transaction of many outputs), and the batch of one job
    /// that holding it would hand out. Neither needs to be valid: holding looks at sizes.
    fn held(bytes: usize, tag: u8) -> BlockCheck {
        let input = TxIn {
            prev_out: OutPoint { txid: Txid([tag; 32]), vout: 0 },
            pubkey: crate::keys::PublicKey([2; 33]),
            signature: crate::keys::Signature([1; 64]),
        };
        let output = TxOut { amount: crate::Amount::from_base_units(1), pubkey_hash: PubKeyHash([tag; 20]) };
        let tx = Transaction { version: 1, inputs: TxInputs::Spend(vec![input]), outputs: vec![output; bytes / 28] };
        let header = BlockHeader {
            version: 1,
            prev_blockhash: BlockHash([tag; 32]),
            merkle_root: crate::MerkleRoot([0; 32]),
            time: 0,
            bits: crate::pow::CompactTarget(0),
            nonce: 0,
        };
        let block = Block { header, txs: vec![tx] };
        let mut batch = SignatureBatch::default();
        batch.jobs.push(crate::sigcheck::SignatureJob {
            pubkey: input.pubkey,
            message: SignedMessage::new(vec![tag].into(), 0),
            signature: input.signature,
        });
        BlockCheck { hash: block.block_hash(), block, source: None, batch }
    }

    /// Blocks held for checks outside a run are bounded in bytes: past 64 MiB one is dropped
    /// (and logged), and an answer makes room again.
    #[test]
    fn blocks_held_for_checks_are_bounded() {
        let config = NodeConfig {
            params: ChainParams::test(),
            role: Role::Relay,
            user_agent: "test".into(),
            nonce: 1,
            parallel_signatures: true,
            allow_private_addresses: false,
        };
        let mut node = Node::new(config, None);
        let size = held(1_900_000, 0).block.encoded_len();
        let fit = MAX_BLOCK_CHECK_BYTES / size;
        for tag in 0..=fit as u8 {
            node.hold_for_checks(held(1_900_000, tag));
        }
        let out: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
        let ids: Vec<u64> =
            out.iter().filter_map(|o| if let Output::Verify { id, .. } = o { Some(*id) } else { None }).collect();
        assert_eq!(ids.len(), fit);
        assert_eq!(node.sync_status().awaiting_signatures, fit);
        let dropped = held(1_900_000, fit as u8).hash;
        assert!(!node.blocks_held.contains_key(&dropped));
        assert!(out.iter().any(|o| matches!(o, Output::Event(Event::Log(line))
            if line.contains(&dropped.to_string()) && line.contains("wait for their signature checks"))));

        // An answer (here for a block the node has no chain for) lets the next one in.
        node.signatures_verified(ids[0], &[true], 0);
        assert_eq!(node.sync_status().awaiting_signatures, fit - 1);
        node.hold_for_checks(held(1_900_000, fit as u8));
        assert!(node.blocks_held.contains_key(&dropped));
    }
}
