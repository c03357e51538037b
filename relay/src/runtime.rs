//! The node's task: it owns core's [`Node`] and the store, feeds the node what the sockets,
//! the clock, the miner, the RPC and the API bring, and carries out what the node asks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::sigcheck::SignatureChecker;
use tabcoin_core::Txid;
use tabcoin_core::node::{Direction, Event, Node, Output, PeerId};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::miner::Miner;
use crate::offline;
use crate::store::Store;
use crate::turns::Turns;
use crate::verbs::{self, Verb, VerbError, now_ms};

/// Bytes queued for one peer before it counts as too slow and is dropped: a few full
/// `getdata` answers.
pub const MAX_QUEUED_BYTES: usize = 40_000_000;
/// Frames queued for one peer.
pub const MAX_QUEUED_FRAMES: usize = 4_096;
const TICK: Duration = Duration::from_secs(1);
/// Inputs handled before their outputs are carried out (and their writes committed together).
const MAX_INPUTS_PER_COMMIT: usize = 256;

/// How the node's task reaches one connection.
pub struct PeerLink {
    pub frames: mpsc::Sender<Vec<u8>>,
    pub queued_bytes: Arc<AtomicUsize>,
}

/// A read-only question from the JSON API, answered on the node's task.
pub type Query = Box<dyn FnOnce(&View<'_>) -> serde_json::Value + Send>;

/// What the API may look at.
pub struct View<'a> {
    pub node: &'a Node,
    pub counters: &'a Counters,
}

/// Traffic, for the API.
#[derive(Default, Debug, Clone, Copy, serde::Serialize)]
pub struct Counters {
    pub frames_in: u64,
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub peers_connected: u64,
    pub peers_dropped_slow: u64,
    pub blocks_committed: u64,
}

pub enum Input {
    Connected {
        peer: PeerId,
        direction: Direction,
        address: String,
        link: PeerLink,
    },
    /// A received frame and its share of the waiting frames' budget (or its peer's one free
    /// waiting frame), given back when handled.
    Frame {
        peer: PeerId,
        bytes: Vec<u8>,
        budget: OwnedSemaphorePermit,
    },
    Closed {
        peer: PeerId,
    },
    NonceFound {
        job: u64,
        nonce: u32,
    },
    NonceSpaceExhausted {
        job: u64,
    },
    Verb {
        verb: Verb,
        passphrase: Option<String>,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Query {
        query: Query,
        reply: oneshot::Sender<serde_json::Value>,
    },
}

/// Bytes of received frames, from all peers together, that may wait for the node's task
/// beyond each peer's first: a flood from many peers at once waits in their sockets (slowing
/// those peers) instead of in memory. Larger than the largest message, so that any one frame
/// gets through.
pub const MAX_WAITING_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// The least a waiting frame counts for in that budget: a flood of tiny frames is bounded in
/// count too.
pub const MIN_FRAME_CHARGE: usize = 256;

/// What a received frame of `len` bytes counts for, in the budget and in a peer's turn.
pub fn frame_charge(len: usize) -> usize {
    len.max(MIN_FRAME_CHARGE)
}

/// What all connections share: the connection numbers, and the budget of waiting frames.
pub struct PeerIds {
    last: AtomicU64,
    waiting_bytes: Arc<Semaphore>,
}

impl Default for PeerIds {
    fn default() -> PeerIds {
        PeerIds { last: AtomicU64::new(0), waiting_bytes: Arc::new(Semaphore::new(MAX_WAITING_FRAME_BYTES)) }
    }
}

impl PeerIds {
    pub fn next(&self) -> PeerId {
        self.last.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Waits until a received frame of `len` bytes fits in the budget; the frame holds its
    /// share until the node's task has handled it. `None` if the frame can never fit. Each
    /// frame counts as at least [`MIN_FRAME_CHARGE`] bytes, for what holding it costs.
    pub async fn reserve(&self, len: usize) -> Option<OwnedSemaphorePermit> {
        let len = u32::try_from(frame_charge(len)).ok().filter(|l| *l as usize <= MAX_WAITING_FRAME_BYTES)?;
        Arc::clone(&self.waiting_bytes).acquire_many_owned(len).await.ok()
    }
}

pub struct Runtime {
    node: Node,
    store: Store,
    datadir: PathBuf,
    links: HashMap<PeerId, PeerLink>,
    miner: Miner,
    checker: SignatureChecker,
    counters: Counters,
    /// `send --mine` calls waiting for their block.
    pending_mines: Vec<(Txid, oneshot::Sender<Result<String, String>>)>,
    /// CLI verbs and API questions of this round, answered after its commit.
    questions: Vec<Question>,
}

impl Runtime {
    pub fn new(node: Node, store: Store, datadir: PathBuf, miner: Miner) -> Runtime {
        Runtime {
            node,
            store,
            datadir,
            links: HashMap::new(),
            miner,
            checker: SignatureChecker::on_every_core(),
            counters: Counters::default(),
            pending_mines: Vec::new(),
            questions: Vec::new(),
        }
    }

    /// Runs until `shutdown` fires or the store fails (the error is returned: a node that
    /// cannot write must stop rather than announce what it could not keep).
    pub async fn run(
        mut self,
        mut inputs: mpsc::Receiver<Input>,
        shutdown: oneshot::Receiver<()>,
    ) -> Result<(), String> {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        self.node.tick(now_ms());
        let mut turns = Turns::default();
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = tick.tick() => self.node.tick(now_ms()),
                input = inputs.recv(), if turns.is_empty() => match input {
                    Some(input) => turns.push(input),
                    None => break,
                },
                () = std::future::ready(()), if !turns.is_empty() => {}
            }
            // Everything already waiting joins the turns, so that every peer with something
            // to say gets its turn in this round.
            while let Ok(input) = inputs.try_recv() {
                turns.push(input);
            }
            // Several inputs before the outputs are carried out, so that a burst of blocks is
            // committed in one transaction instead of one fsync each.
            for _ in 0..MAX_INPUTS_PER_COMMIT {
                let Some(input) = turns.pop() else { break };
                self.handle(input);
            }
            for peer in self.carry_out()? {
                turns.drop_frames(peer);
            }
            if !self.questions.is_empty() {
                self.answer_questions();
                for peer in self.carry_out()? {
                    turns.drop_frames(peer);
                }
            }
        }
        self.miner.stop();
        Ok(())
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Connected { peer, direction, address, link } => {
                tracing::info!(peer, %address, ?direction, "Peer connected");
                self.counters.peers_connected += 1;
                self.links.insert(peer, link);
                self.node.peer_connected(peer, direction, address, now_ms());
            }
            Input::Frame { peer, bytes, budget } => {
                self.counters.frames_in += 1;
                self.counters.bytes_in += bytes.len() as u64;
                self.node.received(peer, &bytes, now_ms());
                drop(budget);
            }
            Input::Closed { peer } => {
                if self.links.remove(&peer).is_some() {
                    tracing::info!(peer, "Peer closed the connection");
                }
                self.node.peer_disconnected(peer);
            }
            Input::NonceFound { job, nonce } => self.node.nonce_found(job, nonce, now_ms()),
            Input::NonceSpaceExhausted { job } => self.node.nonce_space_exhausted(job),
            // Answered once this round's writes are committed: what the API or the CLI shows
            // must survive a crash.
            Input::Verb { verb, passphrase, reply } => self.questions.push(Question::Verb { verb, passphrase, reply }),
            Input::Query { query, reply } => self.questions.push(Question::Query { query, reply }),
        }
    }

    fn answer_questions(&mut self) {
        for question in std::mem::take(&mut self.questions) {
            match question {
                Question::Verb { verb, passphrase, reply } => {
                    if let Err(error) = self.verb(verb, passphrase.as_deref(), reply) {
                        tracing::warn!("RPC verb failed: {error}");
                    }
                }
                Question::Query { query, reply } => {
                    let view = View { node: &self.node, counters: &self.counters };
                    let _ = reply.send(query(&view));
                }
            }
        }
    }

    /// Answers a CLI verb; `send --mine` answers once its block is committed.
    fn verb(
        &mut self,
        verb: Verb,
        passphrase: Option<&str>,
        reply: oneshot::Sender<Result<String, String>>,
    ) -> Result<(), String> {
        let answer = self.answer(verb, passphrase);
        match answer {
            Ok(Answer::Now(text)) => {
                let _ = reply.send(Ok(text));
                Ok(())
            }
            Ok(Answer::WhenMined(txid)) => {
                self.pending_mines.push((txid, reply));
                Ok(())
            }
            Err(error) => {
                let text = error.to_string();
                let _ = reply.send(Err(text.clone()));
                Err(text)
            }
        }
    }

    fn answer(&mut self, verb: Verb, passphrase: Option<&str>) -> Result<Answer, VerbError> {
        let params = self.node.params().clone();
        let no_chain = || VerbError::NeedsNode("the node has no chain yet: it adopts its peer's once it reaches one");
        match verb {
            Verb::CreateWallet => Ok(Answer::Now(format!(
                "Your new address: {}",
                offline::create_address(&self.datadir, &params, passphrase)?
            ))),
            Verb::ListAddresses => {
                Ok(Answer::Now(verbs::addresses_text(&offline::load_keys(&self.datadir, passphrase)?, &params)))
            }
            Verb::CreateBlockchain { .. } => Err(match self.node.chain() {
                _ if params.pinned_genesis.is_some() => VerbError::FixedGenesis,
                Some(_) => VerbError::ChainExists,
                None => no_chain(),
            }),
            Verb::GetBalance { address } => {
                let chain = self.node.chain().ok_or_else(no_chain)?;
                Ok(Answer::Now(verbs::balance_text(chain, self.node.mempool(), &address)?))
            }
            Verb::PrintChain => Ok(Answer::Now(verbs::chain_text(self.node.chain().ok_or_else(no_chain)?))),
            Verb::ReindexUtxo => {
                let chain = self.node.chain().ok_or_else(no_chain)?;
                let found =
                    chain.utxo_discrepancies().map_err(|e| VerbError::Failed(format!("cannot rebuild: {e}")))?;
                Ok(Answer::Now(verbs::reindex_text(&found, false)))
            }
            Verb::Send { from, to, amount, fee, mine } => {
                let keys = offline::load_keys(&self.datadir, passphrase)?;
                let chain = self.node.chain().ok_or_else(no_chain)?;
                let (tx, sender) = verbs::build_send(&keys, chain, self.node.mempool(), &from, &to, &amount, &fee)?;
                let txid = self.node.submit_transaction(tx, now_ms()).map_err(VerbError::Refused)?;
                if mine {
                    self.node.mine_once(sender.pubkey_hash);
                    Ok(Answer::WhenMined(txid))
                } else {
                    Ok(Answer::Now(format!("Success! Transaction {txid} is in the mempool and announced")))
                }
            }
        }
    }

    /// Carries out the node's outputs. Writes are gathered and committed in one transaction,
    /// then acknowledged, which may bring more outputs (the announcements).
    /// Carries out the node's outputs, committing its writes; returns the peers it cut off.
    fn carry_out(&mut self) -> Result<Vec<PeerId>, String> {
        let mut cut_off = Vec::new();
        loop {
            let mut writes = Vec::new();
            let mut last_write = None;
            while let Some(output) = self.node.poll_output() {
                match output {
                    Output::Send { peer, frame } => self.send(peer, frame),
                    Output::Disconnect { peer, reason } => {
                        tracing::info!(peer, "Disconnected peer {peer}: {reason}");
                        // Dropping the link closes the socket.
                        self.links.remove(&peer);
                        cut_off.push(peer);
                    }
                    Output::Write { id, batch } => {
                        writes.push(batch);
                        last_write = Some(id);
                    }
                    Output::Mine(job) => {
                        tracing::debug!(job = job.id, height = job.height, "Mining a block");
                        self.miner.start(job);
                    }
                    Output::StopMining => self.miner.stop(),
                    Output::Verify { id, jobs } => {
                        // On every core, off the runtime's other tasks.
                        let checked = tokio::task::block_in_place(|| self.checker.verify(&jobs));
                        self.node.signatures_verified(id, &checked.results, now_ms());
                    }
                    Output::Event(event) => self.on_event(event),
                }
            }
            let Some(id) = last_write else { return Ok(cut_off) };
            let committed = tokio::task::block_in_place(|| self.store.commit(&writes));
            if let Err(error) = committed {
                tracing::error!("Cannot write to the store, stopping: {error}");
                return Err(error.to_string());
            }
            self.node.batch_committed(id);
        }
    }

    fn send(&mut self, peer: PeerId, frame: Vec<u8>) {
        let Some(link) = self.links.get(&peer) else { return };
        let len = frame.len();
        let queued = link.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if queued > MAX_QUEUED_BYTES || link.frames.try_send(frame).is_err() {
            tracing::warn!(peer, queued, "Peer {peer} reads too slowly: its send queue is full, dropping it");
            self.counters.peers_dropped_slow += 1;
            self.links.remove(&peer);
            self.node.peer_disconnected(peer);
            return;
        }
        self.counters.frames_out += 1;
        self.counters.bytes_out += len as u64;
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Log(text) => tracing::info!("{text}"),
            Event::BlockAdded { hash, height } => {
                self.counters.blocks_committed += 1;
                tracing::info!("Added block {hash} at height {height}");
                self.answer_mined();
            }
            Event::Mined { hash, height, payee } => {
                let params = self.node.params();
                let payee = tabcoin_core::Address::new(params.address_version, payee);
                tracing::info!("Mined block {hash} at height {height}, paying {payee}");
            }
            Event::PeerJoined { peer, role, user_agent, best_height } => {
                tracing::info!(peer, ?role, %user_agent, best_height, "Peer {peer} finished the handshake");
            }
            Event::PeerLeft { peer } => tracing::info!(peer, "Peer {peer} left"),
            Event::Disconnected { peer, reason } => tracing::info!(peer, "Peer {peer} cut off: {reason}"),
            Event::ChainAdopted { genesis } => tracing::info!("Adopted the chain with genesis {genesis}"),
            Event::SyncProgress { done, total } => tracing::debug!(done, total, "Sync progress"),
            Event::BlocksDisconnected { hashes } => {
                tracing::info!("Reorganisation: {} blocks left the best chain", hashes.len());
            }
            Event::TxAccepted { txid } => tracing::info!("Accepted transaction {txid}"),
            Event::TxRejected { txid, reason } => tracing::info!("Rejected transaction {txid}: {reason}"),
            Event::RejectedByPeer { peer, reason, .. } => {
                tracing::info!(peer, "Peer {peer} refused our item: {reason}")
            }
        }
    }

    /// Answers the `send --mine` calls whose transaction is now in the best chain.
    fn answer_mined(&mut self) {
        let Some(chain) = self.node.chain() else { return };
        let pending = std::mem::take(&mut self.pending_mines);
        for (txid, reply) in pending {
            match chain.transaction(&txid) {
                Some((_, location)) if chain.is_active(&location.block_hash) => {
                    let text = format!(
                        "Success! Transaction {txid} mined in block {} at height {}",
                        location.block_hash, location.height
                    );
                    let _ = reply.send(Ok(text));
                }
                _ => self.pending_mines.push((txid, reply)),
            }
        }
    }
}

/// An input answered after the round's commit.
enum Question {
    Verb { verb: Verb, passphrase: Option<String>, reply: oneshot::Sender<Result<String, String>> },
    Query { query: Query, reply: oneshot::Sender<serde_json::Value> },
}

enum Answer {
    Now(String),
    WhenMined(Txid),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_frames_share_one_budget() {
        let ids = PeerIds::default();
        let largest = tabcoin_core::protocol::ENVELOPE_BYTES + tabcoin_core::protocol::MAX_PAYLOAD_BYTES;
        let mut held = Vec::new();
        // Frames of the largest size fill the budget; the next one waits.
        while held.len() * largest + largest <= MAX_WAITING_FRAME_BYTES {
            held.push(ids.reserve(largest).await.expect("the budget has room"));
        }
        let waiting = tokio::time::timeout(Duration::from_millis(50), ids.reserve(largest)).await;
        assert!(waiting.is_err(), "a frame beyond the budget did not wait");
        // Handling one frame gives its share back.
        held.pop();
        assert!(ids.reserve(largest).await.is_some());
        // A frame that could never fit is refused rather than waited for.
        assert!(ids.reserve(MAX_WAITING_FRAME_BYTES + 1).await.is_none());
    }
}
