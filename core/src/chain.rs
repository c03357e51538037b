//! The chain state: the block index (a tree of headers with cumulative work), the best chain,
//! the UTXO set with per-block undo data, and reorganisation to the most-work chain.
//!
//! Every change comes back as a [`WriteBatch`] for the shell to commit atomically; the state
//! can be restored from what was committed ([`ChainState::load`]).

use core::fmt;
use std::collections::HashMap;

use crate::amount::Amount;
use crate::block::Block;
use crate::difficulty::{self, ParentTiming};
use crate::encode::{DecodeError, Encoding};
use crate::hash::{BlockHash, PubKeyHash, Txid};
use crate::header::BlockHeader;
use crate::params::ChainParams;
use crate::params::Network;
use crate::pow::{CompactTarget, Work};
use crate::recent::RecentSet;
use crate::sigcheck::{Deferred, SignatureMode, VerifiedTxs, deferred};
use crate::sort;
use crate::store::{IndexRecord, META_RULES, META_TIP, MemoryStore, Table, WriteBatch, outpoint_key};
use crate::tx::{OutPoint, Transaction, TxOut};
use crate::utxo::{BlockUndo, Coin, UtxoSet};
use crate::validation::{BlockError, TxError, check_block, check_header_time, median_time};

/// Blocks whose time feeds the median-time-past rule.
const MEDIAN_TIME_SPAN: usize = 11;
/// Hashes remembered as invalid; past it the least recently seen is forgotten (a bound
/// against floods that can not wipe the memory of a block sent again and again).
pub const MAX_REMEMBERED_INVALID: usize = 50_000;

/// What the node knows of a block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockInfo {
    pub hash: BlockHash,
    pub header: BlockHeader,
    pub height: u32,
    /// Work of the chain from genesis up to and including this block.
    pub chain_work: Work,
    pub has_data: bool,
}

/// Where a confirmed transaction is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TxLocation {
    pub block_hash: BlockHash,
    pub height: u32,
    /// Position in the block.
    pub index: u32,
}

/// One confirmed transaction's effect on an address.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HistoryEntry {
    pub txid: Txid,
    pub block_hash: BlockHash,
    pub height: u32,
    /// Sum of its outputs paying the address.
    pub received: Amount,
    /// Sum of the address's coins it spent.
    pub sent: Amount,
}

/// What accepting a block did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockAccepted {
    /// Writes to commit atomically before anything is announced.
    pub batch: WriteBatch,
    /// Blocks connected to the best chain, in order.
    pub connected: Vec<BlockHash>,
    /// Blocks disconnected from the best chain, tip first.
    pub disconnected: Vec<BlockHash>,
    /// Transactions of the disconnected blocks (coinbases left out), oldest first: back to the
    /// mempool with them.
    pub returned_txs: Vec<Transaction>,
}

/// What [`ChainState::accept_block_deferred`] did.
pub type BlockAcceptance = Deferred<BlockAccepted>;

impl BlockAccepted {
    /// Whether the best tip changed.
    pub fn tip_changed(&self) -> bool {
        !self.connected.is_empty()
    }
}

/// Why a stored chain could not be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The store holds no chain.
    Empty,
    /// The chain was stored under another generation of the network's consensus rules: it
    /// must start over (keys stay valid; the chain does not).
    RulesChanged {
        network: Network,
        stored: u32,
        current: u32,
    },
    Decode {
        table: Table,
        error: DecodeError,
    },
    /// A record is stored under a key that does not match its contents.
    KeyMismatch {
        table: Table,
    },
    MissingIndexEntry(BlockHash),
    MissingBlock(BlockHash),
    MissingUndo(BlockHash),
    /// The stored best chain does not lead back to a genesis block.
    BrokenChain(BlockHash),
    BadGenesis(BlockError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Empty => f.write_str("the store holds no chain"),
            LoadError::RulesChanged { network, stored, current } => write!(
                f,
                "the stored chain follows the {network} network's consensus rules {stored}, and this tabcoin \
                 follows rules {current} (docs/PROTOCOL.md, section 14): no peer serves that chain any more; \
                 start the chain over (the wallet's keys stay valid)"
            ),
            LoadError::Decode { table, error } => {
                write!(f, "the store's {} table is damaged: {error}", table.name())
            }
            LoadError::KeyMismatch { table } => {
                write!(f, "the store's {} table has a record under the wrong key", table.name())
            }
            LoadError::MissingIndexEntry(h) => {
                write!(f, "the store lacks the index entry of block {h}")
            }
            LoadError::MissingBlock(h) => write!(f, "the store lacks block {h} of the best chain"),
            LoadError::MissingUndo(h) => write!(f, "the store lacks the undo data of block {h}"),
            LoadError::BrokenChain(h) => write!(f, "the stored chain is broken at block {h}"),
            LoadError::BadGenesis(e) => write!(f, "the stored genesis block is not valid: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// The node's view of the chain.
#[derive(Clone, Debug)]
pub struct ChainState {
    params: ChainParams,
    index: HashMap<BlockHash, BlockInfo>,
    /// The best chain, by height.
    active: Vec<BlockHash>,
    blocks: HashMap<BlockHash, Block>,
    undo: HashMap<BlockHash, BlockUndo>,
    utxos: UtxoSet,
    invalid: RecentSet<BlockHash>,
    /// Each stored block's children: what marking a branch invalid walks.
    children: HashMap<BlockHash, Vec<BlockHash>>,
    /// Stored blocks found invalid since the last [`ChainState::take_invalidity_batch`].
    newly_invalid: Vec<BlockHash>,
    tx_index: HashMap<Txid, TxLocation>,
    history: HashMap<PubKeyHash, Vec<HistoryEntry>>,
}

impl ChainState {
    fn empty(params: ChainParams) -> ChainState {
        ChainState {
            params,
            index: HashMap::new(),
            active: Vec::new(),
            blocks: HashMap::new(),
            undo: HashMap::new(),
            utxos: UtxoSet::new(),
            invalid: RecentSet::new(MAX_REMEMBERED_INVALID),
            children: HashMap::new(),
            newly_invalid: Vec::new(),
            tx_index: HashMap::new(),
            history: HashMap::new(),
        }
    }

    /// Starts a chain at `genesis`, which must fit the network: the network's easiest target,
    /// no parent, a coinbase of height 0 paying at most the subsidy, and nothing else.
    pub fn new(params: ChainParams, genesis: Block) -> Result<(ChainState, WriteBatch), BlockError> {
        check_block(&genesis, &params)?;
        if genesis.header.prev_blockhash != BlockHash::ZERO {
            return Err(BlockError::BadGenesis("its previous hash must be zero"));
        }
        if genesis.header.bits != params.pow_limit {
            return Err(BlockError::BadGenesis("its target must be the network's limit"));
        }
        if genesis.txs.len() != 1 {
            return Err(BlockError::BadGenesis("it must hold only the coinbase"));
        }
        let hash = genesis.block_hash();
        let work = params.pow_limit_target().work();
        let mut state = ChainState::empty(params);
        let info = BlockInfo { hash, header: genesis.header, height: 0, chain_work: work, has_data: true };
        let mut batch = WriteBatch::new();
        batch.put(Table::Meta, META_RULES.to_vec(), state.params.rules.to_le_bytes().to_vec());
        state.store_block(info, genesis, &mut batch);
        // Only a coinbase (checked above): no signature to check.
        state.connect_tip(hash, &mut batch, SignatureMode::Trusted)?;
        Ok((state, batch))
    }

    /// The chain of a network with a fixed genesis (main), started from it, with the batch
    /// that stores it; `None` on networks whose chain is made or adopted.
    pub fn from_pinned_genesis(params: &ChainParams) -> Option<Result<(ChainState, WriteBatch), BlockError>> {
        crate::template::pinned_genesis(params).map(|genesis| ChainState::new(params.clone(), genesis))
    }

    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    pub fn genesis_hash(&self) -> BlockHash {
        self.active.first().copied().unwrap_or(BlockHash::ZERO)
    }

    pub fn tip(&self) -> BlockHash {
        self.active.last().copied().unwrap_or(BlockHash::ZERO)
    }

    /// Height of the best tip (genesis is 0).
    pub fn height(&self) -> u32 {
        self.active.len().saturating_sub(1) as u32
    }

    pub fn tip_info(&self) -> Option<&BlockInfo> {
        self.index.get(&self.tip())
    }

    pub fn tip_work(&self) -> Work {
        self.tip_info().map_or(Work::ZERO, |i| i.chain_work)
    }

    pub fn block_info(&self, hash: &BlockHash) -> Option<&BlockInfo> {
        self.index.get(hash)
    }

    pub fn block(&self, hash: &BlockHash) -> Option<&Block> {
        self.blocks.get(hash)
    }

    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.active.get(height as usize).copied()
    }

    /// Whether the block is on the best chain.
    pub fn is_active(&self, hash: &BlockHash) -> bool {
        self.index.get(hash).is_some_and(|i| self.hash_at(i.height) == Some(*hash))
    }

    pub fn is_known_invalid(&self, hash: &BlockHash) -> bool {
        self.invalid.contains(hash)
    }

    pub fn utxos(&self) -> &UtxoSet {
        &self.utxos
    }

    /// A confirmed transaction and where it is.
    pub fn transaction(&self, txid: &Txid) -> Option<(&Transaction, TxLocation)> {
        let location = *self.tx_index.get(txid)?;
        let tx = self.blocks.get(&location.block_hash)?.txs.get(location.index as usize)?;
        Some((tx, location))
    }

    /// Confirmed balance of an owner.
    pub fn balance(&self, owner: &PubKeyHash) -> Amount {
        self.utxos.balance_of(owner)
    }

    /// An owner's confirmed transactions, oldest first.
    pub fn history(&self, owner: &PubKeyHash) -> &[HistoryEntry] {
        self.history.get(owner).map_or(&[], Vec::as_slice)
    }

    /// The `count` most recent blocks of the best chain, newest first.
    pub fn recent_blocks(&self, count: usize) -> Vec<&BlockInfo> {
        self.active.iter().rev().take(count).filter_map(|h| self.index.get(h)).collect()
    }

    /// A block locator for the best chain: the ten newest hashes, then ever wider steps back,
    /// ending with genesis. A peer finds the newest one it knows: the fork point.
    pub fn locator(&self) -> Vec<BlockHash> {
        let mut hashes = Vec::new();
        let mut height = self.height() as usize;
        let mut step = 1usize;
        loop {
            if let Some(hash) = self.active.get(height) {
                hashes.push(*hash);
            }
            if height == 0 {
                break;
            }
            if hashes.len() >= 10 {
                step = step.saturating_mul(2);
            }
            height = height.saturating_sub(step);
        }
        hashes
    }

    /// Height of the newest locator hash on the best chain (0, genesis, if none is).
    pub fn fork_height(&self, locator: &[BlockHash]) -> u32 {
        locator
            .iter()
            .find_map(|hash| self.index.get(hash).filter(|i| self.hash_at(i.height) == Some(*hash)))
            .map_or(0, |info| info.height)
    }

    /// What answers `getheaders`: the best chain's headers after the fork with `locator`, up to
    /// and including `stop` (zero: no stop), at most `max`. An empty locator asks for the chain
    /// from its genesis, inclusive: how a node with no chain learns which chain a peer follows.
    pub fn headers_after(&self, locator: &[BlockHash], stop: &BlockHash, max: usize) -> Vec<BlockHeader> {
        let start = if locator.is_empty() { 0 } else { self.fork_height(locator) as usize + 1 };
        let mut headers = Vec::new();
        for hash in self.active.iter().skip(start).take(max) {
            if let Some(info) = self.index.get(hash) {
                headers.push(info.header);
            }
            if hash == stop {
                break;
            }
        }
        headers
    }

    /// The ancestor of `hash` at `height`: a jump once the walk reaches the best chain.
    pub fn ancestor(&self, hash: &BlockHash, height: u32) -> Option<&BlockInfo> {
        let mut info = self.index.get(hash)?;
        if height > info.height {
            return None;
        }
        while info.height > height {
            if self.hash_at(info.height) == Some(info.hash) {
                return self.hash_at(height).and_then(|h| self.index.get(&h));
            }
            info = self.index.get(&info.header.prev_blockhash)?;
        }
        Some(info)
    }

    /// Median time of `hash` and up to ten of its ancestors: a child's time must exceed it.
    pub fn median_time_past(&self, hash: &BlockHash) -> u32 {
        let mut times = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut cursor = self.index.get(hash);
        while let Some(info) = cursor {
            times.push(info.header.time);
            if times.len() == MEDIAN_TIME_SPAN {
                break;
            }
            cursor = self.index.get(&info.header.prev_blockhash);
        }
        median_time(&times)
    }

    /// The bits a child of `parent` must carry.
    pub fn next_bits(&self, parent: &BlockInfo) -> CompactTarget {
        let grandparent_time = match parent.height {
            0 => None,
            _ => self.index.get(&parent.header.prev_blockhash).map(|g| g.header.time),
        };
        difficulty::next_bits(
            &self.params,
            ParentTiming { bits: parent.header.bits, time: parent.header.time, grandparent_time },
        )
    }

    /// Records a block that failed in a way that proves its hash invalid; a stored one is
    /// marked in the store too ([`ChainState::take_invalidity_batch`]).
    fn remember_invalid(&mut self, hash: BlockHash) {
        self.invalid.insert(hash);
        if self.index.get(&hash).is_some_and(|i| i.has_data) {
            self.newly_invalid.push(hash);
        }
    }

    /// The writes that mark stored blocks found invalid since the last call, for the shell to
    /// commit: after a restart they are still known invalid, and their branch is not tried
    /// again. Empty if none was found.
    pub fn take_invalidity_batch(&mut self) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for hash in std::mem::take(&mut self.newly_invalid) {
            if let Some(info) = self.index.get(&hash) {
                let record =
                    IndexRecord { header: info.header, height: info.height, has_data: info.has_data, invalid: true };
                batch.put(Table::Index, hash.0.to_vec(), record.to_bytes());
            }
        }
        batch
    }

    /// Remembers `failed` as invalid, and every block stored above it: a walk over the
    /// branch's children, costing the branch, not the whole index.
    fn remember_invalid_branch(&mut self, failed: BlockHash) {
        let mut stack = vec![failed];
        while let Some(hash) = stack.pop() {
            self.remember_invalid(hash);
            if let Some(children) = self.children.get(&hash) {
                stack.extend(children.iter().copied());
            }
        }
    }

    fn add_to_index(&mut self, info: BlockInfo) {
        if info.height > 0 {
            self.children.entry(info.header.prev_blockhash).or_default().push(info.hash);
        }
        self.index.insert(info.hash, info);
    }

    /// Forgets a block that was not kept.
    fn remove_from_index(&mut self, hash: &BlockHash) {
        if let Some(info) = self.index.remove(hash)
            && let Some(siblings) = self.children.get_mut(&info.header.prev_blockhash)
        {
            siblings.retain(|child| child != hash);
            if siblings.is_empty() {
                self.children.remove(&info.header.prev_blockhash);
            }
        }
        self.blocks.remove(hash);
    }

    fn store_block(&mut self, info: BlockInfo, block: Block, batch: &mut WriteBatch) {
        let record = IndexRecord { header: info.header, height: info.height, has_data: true, invalid: false };
        batch.put(Table::Index, info.hash.0.to_vec(), record.to_bytes());
        batch.put(Table::Blocks, info.hash.0.to_vec(), block.to_bytes());
        self.add_to_index(info);
        self.blocks.insert(info.hash, block);
    }

    /// Validates a block against its parent and the node's clock (`now`, seconds since the
    /// Unix epoch), stores it, and reorganises to it if its chain has the most work. On error
    /// the state is as before (but for remembering an invalid hash).
    #[cfg(feature = "ecdsa")]
    pub fn accept_block(&mut self, block: Block, now: u64) -> Result<BlockAccepted, BlockError> {
        self.accept_block_with(block, now, SignatureMode::CheckAll)
    }

    /// As [`ChainState::accept_block`], trusting the signatures of the transactions in
    /// `verified` (checked in parallel by the shell, see [`crate::sigcheck`]) when they spend
    /// exactly the outputs they were checked against; everything else is checked here.
    #[cfg(feature = "ecdsa")]
    pub fn accept_block_verified(
        &mut self,
        block: Block,
        now: u64,
        verified: &VerifiedTxs,
    ) -> Result<BlockAccepted, BlockError> {
        self.accept_block_with(block, now, SignatureMode::Prechecked(verified))
    }

    /// As [`ChainState::accept_block`], but checking no signature here: it takes the answers
    /// in `checked` (from [`SignatureBatch::verified`]) for exactly the outputs they were
    /// checked against, and if any other signature has to be checked first, returns those
    /// jobs, with the state as before. Asked again with the answers, it goes on from there.
    /// What a node whose shell checks every signature (on other threads, in Web Workers)
    /// uses for a block that did not come in a run extending its tip.
    pub fn accept_block_deferred(
        &mut self,
        block: Block,
        now: u64,
        checked: &VerifiedTxs,
    ) -> Result<BlockAcceptance, BlockError> {
        deferred(checked, BlockError::SignaturesPending, |mode| self.accept_block_with(block, now, mode))
    }

    fn accept_block_with(
        &mut self,
        block: Block,
        now: u64,
        mode: SignatureMode<'_>,
    ) -> Result<BlockAccepted, BlockError> {
        let hash = block.block_hash();
        if self.invalid.touch(&hash) {
            return Err(BlockError::KnownInvalid);
        }
        if self.index.get(&hash).is_some_and(|i| i.has_data) {
            return Err(BlockError::AlreadyKnown);
        }
        let info = match self.check_in_context(&block, now) {
            Ok(info) => info,
            Err(error) => {
                if error.proves_hash_invalid() {
                    self.remember_invalid(hash);
                }
                return Err(error);
            }
        };
        let mut accepted = BlockAccepted::default();
        self.store_block(info, block, &mut accepted.batch);
        if info.chain_work <= self.tip_work() {
            return Ok(accepted);
        }
        match self.reorganise_to(hash, &mut accepted, mode) {
            Ok(()) => Ok(accepted),
            Err((failed, error)) => {
                // The block is not kept: it is invalid or descends from an invalid block.
                self.remove_from_index(&hash);
                if error.proves_hash_invalid() {
                    self.remember_invalid(hash);
                    self.remember_invalid_branch(failed);
                }
                Err(error)
            }
        }
    }

    /// Every check that needs the parent: the block's own checks, the parent known and valid,
    /// the difficulty, the time rules and the coinbase height. Returns the index entry.
    fn check_in_context(&self, block: &Block, now: u64) -> Result<BlockInfo, BlockError> {
        check_block(block, &self.params)?;
        let parent_hash = block.header.prev_blockhash;
        if self.invalid.contains(&parent_hash) {
            return Err(BlockError::InvalidAncestor(parent_hash));
        }
        let parent = match self.index.get(&parent_hash) {
            Some(parent) if parent.has_data => parent,
            _ => return Err(BlockError::UnknownParent(parent_hash)),
        };
        let height =
            parent.height.checked_add(1).ok_or(BlockError::Inconsistent("the chain reached the largest height"))?;
        let expected_bits = self.next_bits(parent);
        if block.header.bits != expected_bits {
            return Err(BlockError::BadBits { expected: expected_bits, found: block.header.bits });
        }
        check_header_time(block.header.time, self.median_time_past(&parent_hash), now, &self.params)?;
        let claimed = block.coinbase_height().unwrap_or(u32::MAX);
        if claimed != height {
            return Err(BlockError::BadCoinbaseHeight { expected: height, found: claimed });
        }
        let work = block.header.bits.to_target().map_err(BlockError::BadTarget)?.work();
        let chain_work =
            parent.chain_work.checked_add(&work).ok_or(BlockError::Inconsistent("chain work overflowed 256 bits"))?;
        Ok(BlockInfo { hash: block.block_hash(), header: block.header, height, chain_work, has_data: true })
    }

    /// The blocks from the fork with the best chain (exclusive) to `hash`, oldest first, and
    /// the fork's height.
    fn branch_to(&self, hash: BlockHash) -> Result<(u32, Vec<BlockHash>), BlockError> {
        let mut path = Vec::new();
        let mut cursor = hash;
        loop {
            let info = self.index.get(&cursor).ok_or(BlockError::Inconsistent("a block's parent is missing"))?;
            if self.hash_at(info.height) == Some(cursor) {
                path.reverse();
                return Ok((info.height, path));
            }
            path.push(cursor);
            cursor = info.header.prev_blockhash;
        }
    }

    /// Makes `hash` the tip: disconnects back to the fork and connects the new branch. If a
    /// block of the branch fails, the old best chain is restored and that block's hash and
    /// error are returned.
    fn reorganise_to(
        &mut self,
        hash: BlockHash,
        accepted: &mut BlockAccepted,
        mode: SignatureMode<'_>,
    ) -> Result<(), (BlockHash, BlockError)> {
        let (fork_height, branch) = self.branch_to(hash).map_err(|e| (hash, e))?;
        let batch_start = accepted.batch.len();
        let mut disconnected_blocks = Vec::new();
        while self.height() > fork_height {
            match self.disconnect_tip(&mut accepted.batch) {
                Ok(block) => disconnected_blocks.push(block),
                Err(error) => {
                    self.restore_after_failed_reorg(0, &disconnected_blocks).map_err(|e| (hash, e))?;
                    accepted.batch.truncate(batch_start);
                    return Err((hash, error));
                }
            }
        }
        let mut connected = Vec::new();
        for step in &branch {
            if let Err(error) = self.connect_tip(*step, &mut accepted.batch, mode) {
                self.restore_after_failed_reorg(connected.len(), &disconnected_blocks).map_err(|e| (*step, e))?;
                accepted.batch.truncate(batch_start);
                return Err((*step, error));
            }
            connected.push(*step);
        }
        // The whole branch connected but for signatures yet to check: undone, to be done again
        // with the answers (one round of checks for the branch, not one per block).
        if let SignatureMode::Deferred { pending, .. } = mode
            && !pending.borrow().is_empty()
        {
            self.restore_after_failed_reorg(connected.len(), &disconnected_blocks).map_err(|e| (hash, e))?;
            accepted.batch.truncate(batch_start);
            return Err((hash, BlockError::SignaturesPending));
        }
        accepted.disconnected = disconnected_blocks.iter().map(|(h, _)| *h).collect();
        accepted.returned_txs = disconnected_blocks
            .into_iter()
            .rev()
            .flat_map(|(_, block)| block.txs.into_iter().filter(|tx| !tx.is_coinbase()))
            .collect();
        accepted.connected = connected;
        Ok(())
    }

    fn restore_after_failed_reorg(
        &mut self,
        connected: usize,
        disconnected: &[(BlockHash, Block)],
    ) -> Result<(), BlockError> {
        let mut scratch = WriteBatch::new();
        for _ in 0..connected {
            self.disconnect_tip(&mut scratch)?;
        }
        for (hash, _) in disconnected.iter().rev() {
            // These were valid a moment ago: no need to check their signatures again.
            self.connect_tip(*hash, &mut scratch, SignatureMode::Trusted)?;
        }
        Ok(())
    }

    /// Connects the stored block `hash`, whose parent must be the tip, enforcing every rule
    /// that needs the UTXO set. On error nothing changed.
    fn connect_tip(
        &mut self,
        hash: BlockHash,
        batch: &mut WriteBatch,
        mode: SignatureMode<'_>,
    ) -> Result<(), BlockError> {
        let info = *self.index.get(&hash).ok_or(BlockError::Inconsistent("connecting an unknown block"))?;
        if info.height != 0 && info.header.prev_blockhash != self.tip() {
            return Err(BlockError::Inconsistent("connecting a block that does not extend the tip"));
        }
        let ChainState { blocks, utxos, params, .. } = self;
        let block = blocks.get(&hash).ok_or(BlockError::Inconsistent("connecting a block without its body"))?;
        let undo = apply_block(utxos, block, info.height, params, mode)?;

        batch.put(Table::Undo, hash.0.to_vec(), undo.to_bytes());
        for tx in &block.txs {
            for input in tx.spends() {
                batch.delete(Table::Utxo, outpoint_key(&input.prev_out));
            }
            let txid = tx.txid();
            for (vout, output) in tx.outputs.iter().enumerate() {
                let outpoint = OutPoint { txid, vout: vout as u32 };
                let coin = Coin { output: *output, height: info.height, is_coinbase: tx.is_coinbase() };
                batch.put(Table::Utxo, outpoint_key(&outpoint), coin.to_bytes());
            }
        }
        batch.put(Table::Meta, META_TIP.to_vec(), hash.0.to_vec());
        index_block(&mut self.tx_index, &mut self.history, block, &undo, &info);
        self.undo.insert(hash, undo);
        self.active.push(hash);
        Ok(())
    }

    /// Disconnects the tip, putting back what it spent; returns its hash and body.
    fn disconnect_tip(&mut self, batch: &mut WriteBatch) -> Result<(BlockHash, Block), BlockError> {
        if self.active.len() <= 1 {
            return Err(BlockError::Inconsistent("the genesis block can not be disconnected"));
        }
        let hash = self.tip();
        let block = self.blocks.get(&hash).cloned().ok_or(BlockError::Inconsistent("the tip's body is missing"))?;
        let inputs: usize = block.txs.iter().map(|tx| tx.spends().len()).sum();
        if self.undo.get(&hash).map(|u| u.spent.len()) != Some(inputs) {
            return Err(BlockError::Inconsistent("the tip's undo data is missing or does not match its inputs"));
        }
        // Checked above: from here on nothing can fail half-way.
        let undo = self.undo.remove(&hash).unwrap_or_default();
        unindex_block(&mut self.tx_index, &mut self.history, &block, &undo, &hash);
        let mut restored = undo.spent.iter().rev();
        for tx in block.txs.iter().rev() {
            let txid = tx.txid();
            for vout in (0..tx.outputs.len()).rev() {
                let outpoint = OutPoint { txid, vout: vout as u32 };
                self.utxos.remove(&outpoint);
                batch.delete(Table::Utxo, outpoint_key(&outpoint));
            }
            for input in tx.spends().iter().rev() {
                let coin =
                    restored.next().ok_or(BlockError::Inconsistent("undo data is shorter than the block's inputs"))?;
                self.utxos.insert(input.prev_out, *coin);
                batch.put(Table::Utxo, outpoint_key(&input.prev_out), coin.to_bytes());
            }
        }
        self.active.pop();
        batch.delete(Table::Undo, hash.0.to_vec());
        batch.put(Table::Meta, META_TIP.to_vec(), self.tip().0.to_vec());
        Ok((hash, block))
    }

    /// Rebuilds the UTXO set from the best chain's blocks alone.
    pub fn rebuild_utxo_set(&self) -> Result<UtxoSet, BlockError> {
        let mut utxos = UtxoSet::new();
        for (height, hash) in self.active.iter().enumerate() {
            let block = self.blocks.get(hash).ok_or(BlockError::Inconsistent("a best-chain block is missing"))?;
            apply_block(&mut utxos, block, height as u32, &self.params, SignatureMode::Trusted)?;
        }
        Ok(utxos)
    }

    /// Compares the UTXO set with one rebuilt from the blocks: coins missing from the set, and
    /// coins in the set that should not be.
    pub fn utxo_discrepancies(&self) -> Result<UtxoDiscrepancies, BlockError> {
        let rebuilt = self.rebuild_utxo_set()?;
        let missing = rebuilt.sorted().into_iter().filter(|(op, c)| self.utxos.get(op) != Some(c)).collect();
        let unexpected = self.utxos.sorted().into_iter().filter(|(op, c)| rebuilt.get(op) != Some(c)).collect();
        Ok(UtxoDiscrepancies { missing, unexpected })
    }

    /// Replaces the UTXO set with one rebuilt from the blocks; the batch fixes the store.
    pub fn reindex_utxo_set(&mut self) -> Result<(UtxoDiscrepancies, WriteBatch), BlockError> {
        let found = self.utxo_discrepancies()?;
        let mut batch = WriteBatch::new();
        for (outpoint, _) in &found.unexpected {
            self.utxos.remove(outpoint);
            batch.delete(Table::Utxo, outpoint_key(outpoint));
        }
        for (outpoint, coin) in &found.missing {
            self.utxos.insert(*outpoint, *coin);
            batch.put(Table::Utxo, outpoint_key(outpoint), coin.to_bytes());
        }
        Ok((found, batch))
    }

    /// Restores the state from a store that holds what earlier batches wrote. Nothing is
    /// validated again: the store holds only what this node validated.
    pub fn load(params: ChainParams, store: &MemoryStore) -> Result<ChainState, LoadError> {
        let decode = |table: Table| move |error: DecodeError| LoadError::Decode { table, error };
        let tip_bytes = store.get(Table::Meta, META_TIP).ok_or(LoadError::Empty)?;
        let stored = match store.get(Table::Meta, META_RULES) {
            None => 1,
            Some(bytes) => {
                let bytes: [u8; 4] = bytes.try_into().map_err(|_| LoadError::Decode {
                    table: Table::Meta,
                    error: DecodeError::Invalid { what: "rules", reason: "not four bytes" },
                })?;
                u32::from_le_bytes(bytes)
            }
        };
        if stored != params.rules {
            return Err(LoadError::RulesChanged { network: params.network, stored, current: params.rules });
        }
        let tip = BlockHash::from_bytes(tip_bytes).map_err(decode(Table::Meta))?;

        let mut records = Vec::with_capacity(store.table_len(Table::Index));
        for (key, value) in store.iter(Table::Index) {
            let hash = BlockHash::from_bytes(key).map_err(decode(Table::Index))?;
            let record = IndexRecord::from_bytes(value).map_err(decode(Table::Index))?;
            if record.header.block_hash() != hash {
                return Err(LoadError::KeyMismatch { table: Table::Index });
            }
            records.push((hash, record));
        }
        // Parents before children; within a height, in hash order (the store's key order).
        sort::sort_by_key(&mut records, |(hash, r)| (r.height, *hash));

        let mut state = ChainState::empty(params);
        for (hash, record) in records {
            let work =
                record.header.bits.to_target().map_err(|e| LoadError::BadGenesis(BlockError::BadTarget(e)))?.work();
            let parent_work = if record.height == 0 {
                Some(Work::ZERO)
            } else {
                state.index.get(&record.header.prev_blockhash).map(|p| p.chain_work)
            };
            // Entries whose parent is unknown can not be on any chain; leave them out.
            let Some(chain_work) = parent_work.and_then(|w| w.checked_add(&work)) else {
                continue;
            };
            state.add_to_index(BlockInfo {
                hash,
                header: record.header,
                height: record.height,
                chain_work,
                has_data: record.has_data,
            });
            if record.invalid {
                state.invalid.insert(hash);
            }
        }

        for (key, value) in store.iter(Table::Blocks) {
            let hash = BlockHash::from_bytes(key).map_err(decode(Table::Blocks))?;
            let block = Block::from_bytes(value).map_err(decode(Table::Blocks))?;
            if block.block_hash() != hash {
                return Err(LoadError::KeyMismatch { table: Table::Blocks });
            }
            state.blocks.insert(hash, block);
        }

        let mut active = Vec::new();
        let mut cursor = tip;
        loop {
            let info = state.index.get(&cursor).ok_or(LoadError::MissingIndexEntry(cursor))?;
            if !state.blocks.contains_key(&cursor) {
                return Err(LoadError::MissingBlock(cursor));
            }
            active.push(cursor);
            if info.height == 0 {
                break;
            }
            let parent = info.header.prev_blockhash;
            if state.index.get(&parent).map(|p| p.height.saturating_add(1)) != Some(info.height) {
                return Err(LoadError::BrokenChain(cursor));
            }
            cursor = parent;
        }
        active.reverse();
        if let Some(genesis) = active.first().and_then(|h| state.blocks.get(h))
            && genesis.header.bits != state.params.pow_limit
        {
            return Err(LoadError::BadGenesis(BlockError::BadGenesis("its target is not the network's limit")));
        }

        for (key, value) in store.iter(Table::Undo) {
            let hash = BlockHash::from_bytes(key).map_err(decode(Table::Undo))?;
            let undo = BlockUndo::from_bytes(value).map_err(decode(Table::Undo))?;
            state.undo.insert(hash, undo);
        }
        for (key, value) in store.iter(Table::Utxo) {
            let outpoint = OutPoint::from_bytes(key).map_err(decode(Table::Utxo))?;
            let coin = Coin::from_bytes(value).map_err(decode(Table::Utxo))?;
            state.utxos.insert(outpoint, coin);
        }
        for hash in &active {
            let (Some(block), Some(undo), Some(info)) =
                (state.blocks.get(hash), state.undo.get(hash), state.index.get(hash))
            else {
                return Err(LoadError::MissingUndo(*hash));
            };
            index_block(&mut state.tx_index, &mut state.history, block, undo, info);
        }
        state.active = active;
        Ok(state)
    }
}

/// Coins that differ between the UTXO set and one rebuilt from the blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UtxoDiscrepancies {
    /// In the rebuilt set but absent (or different) in the kept one.
    pub missing: Vec<(OutPoint, Coin)>,
    /// In the kept set but absent (or different) in the rebuilt one.
    pub unexpected: Vec<(OutPoint, Coin)>,
}

impl UtxoDiscrepancies {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }
}

/// Applies a block to a UTXO set at `height`: every input must spend an existing, mature coin
/// with a valid signature, no transaction may create value, and the coinbase may claim at most
/// the subsidy plus fees. On error the set is left as it was.
pub fn apply_block(
    utxos: &mut UtxoSet,
    block: &Block,
    height: u32,
    params: &ChainParams,
    mode: SignatureMode<'_>,
) -> Result<BlockUndo, BlockError> {
    let mut journal = Vec::new();
    let result = apply_block_inner(utxos, block, height, params, mode, &mut journal);
    match result {
        Ok(()) => Ok(BlockUndo {
            spent: journal
                .into_iter()
                .filter_map(|change| match change {
                    UtxoChange::Spent(_, coin) => Some(coin),
                    UtxoChange::Created(_) => None,
                })
                .collect(),
        }),
        Err(error) => {
            // Undo exactly in reverse: an output created and then spent within the block
            // must end up absent, not restored.
            for change in journal.into_iter().rev() {
                match change {
                    UtxoChange::Spent(outpoint, coin) => {
                        utxos.insert(outpoint, coin);
                    }
                    UtxoChange::Created(outpoint) => {
                        utxos.remove(&outpoint);
                    }
                }
            }
            Err(error)
        }
    }
}

/// One change to the UTXO set, journaled so a failed block can be rolled back exactly.
enum UtxoChange {
    Spent(OutPoint, Coin),
    Created(OutPoint),
}

fn apply_block_inner(
    utxos: &mut UtxoSet,
    block: &Block,
    height: u32,
    params: &ChainParams,
    mode: SignatureMode<'_>,
    journal: &mut Vec<UtxoChange>,
) -> Result<(), BlockError> {
    match block.coinbase_height() {
        Some(found) if found != height => {
            return Err(BlockError::BadCoinbaseHeight { expected: height, found });
        }
        Some(_) => {}
        None => return Err(BlockError::FirstNotCoinbase),
    }
    let mut fees = Amount::ZERO;
    for (index, tx) in block.txs.iter().enumerate() {
        let txid = tx.txid();
        let fail = |error: TxError| BlockError::Tx { index, txid, error };
        if !tx.is_coinbase() {
            let mut spent_outputs: Vec<TxOut> = Vec::with_capacity(tx.spends().len());
            let mut input_total = Amount::ZERO;
            for input in tx.spends() {
                let coin = utxos.remove(&input.prev_out).ok_or_else(|| fail(TxError::MissingInput(input.prev_out)))?;
                journal.push(UtxoChange::Spent(input.prev_out, coin));
                let confirmations = height.saturating_sub(coin.height);
                if coin.is_coinbase && confirmations < params.coinbase_maturity {
                    return Err(fail(TxError::ImmatureCoinbase {
                        outpoint: input.prev_out,
                        confirmations,
                        required: params.coinbase_maturity,
                    }));
                }
                input_total = input_total
                    .checked_add(coin.output.amount)
                    .filter(|t| t.is_valid_money())
                    .ok_or_else(|| fail(TxError::InputTotalTooLarge))?;
                spent_outputs.push(coin.output);
            }
            let output_total = tx.output_total().ok_or_else(|| fail(TxError::OutputTotalTooLarge))?;
            let fee = input_total
                .checked_sub(output_total)
                .ok_or_else(|| fail(TxError::InsufficientInputs { inputs: input_total, outputs: output_total }))?;
            fees = fees.checked_add(fee).ok_or_else(|| fail(TxError::InputTotalTooLarge))?;
            match mode {
                #[cfg(feature = "ecdsa")]
                SignatureMode::CheckAll => tx.verify_inputs(&spent_outputs).map_err(|e| fail(e.into()))?,
                SignatureMode::Trusted => {}
                #[cfg(feature = "ecdsa")]
                SignatureMode::Prechecked(verified) => {
                    if !verified.covers(&tx.wtxid(), &spent_outputs) {
                        tx.verify_inputs(&spent_outputs).map_err(|e| fail(e.into()))?;
                    }
                }
                SignatureMode::Deferred { checked, pending } => {
                    if checked.settle(tx, &spent_outputs).map_err(|e| fail(e.into()))? {
                        pending.borrow_mut().push(tx, txid, spent_outputs);
                    }
                }
            }
        }
        for (vout, output) in tx.outputs.iter().enumerate() {
            let outpoint = OutPoint { txid, vout: vout as u32 };
            if utxos.contains(&outpoint) {
                return Err(fail(TxError::OverwritesUnspent(outpoint)));
            }
            utxos.insert(outpoint, Coin { output: *output, height, is_coinbase: tx.is_coinbase() });
            journal.push(UtxoChange::Created(outpoint));
        }
    }
    let coinbase = &block.txs[0];
    let paid = coinbase
        .output_total()
        .ok_or(BlockError::CoinbaseTooLarge { paid: Amount::MAX_MONEY, allowed: Amount::ZERO })?;
    let allowed =
        params.subsidy(height).checked_add(fees).ok_or(BlockError::Inconsistent("subsidy plus fees overflowed"))?;
    if paid > allowed {
        return Err(BlockError::CoinbaseTooLarge { paid, allowed });
    }
    Ok(())
}

/// Owners a transaction touched: what it paid each, and what it spent of each.
fn effects(tx: &Transaction, spent: &[Coin]) -> Vec<(PubKeyHash, Amount, Amount)> {
    let mut effects: Vec<(PubKeyHash, Amount, Amount)> = Vec::new();
    let mut add =
        |owner: PubKeyHash, received: Amount, sent: Amount| match effects.iter_mut().find(|(o, _, _)| *o == owner) {
            Some((_, r, s)) => {
                *r = Amount::from_base_units(r.base_units().saturating_add(received.base_units()));
                *s = Amount::from_base_units(s.base_units().saturating_add(sent.base_units()));
            }
            None => effects.push((owner, received, sent)),
        };
    for coin in spent {
        add(coin.output.pubkey_hash, Amount::ZERO, coin.output.amount);
    }
    for output in &tx.outputs {
        add(output.pubkey_hash, output.amount, Amount::ZERO);
    }
    effects
}

/// Splits a block's undo data into each transaction's spent coins.
fn spent_per_tx<'a>(
    block: &'a Block,
    undo: &'a BlockUndo,
) -> impl Iterator<Item = (usize, &'a Transaction, &'a [Coin])> {
    let mut offset = 0;
    block.txs.iter().enumerate().map(move |(index, tx)| {
        let n = tx.spends().len();
        let coins = undo.spent.get(offset..offset + n).unwrap_or(&[]);
        offset += n;
        (index, tx, coins)
    })
}

fn index_block(
    tx_index: &mut HashMap<Txid, TxLocation>,
    history: &mut HashMap<PubKeyHash, Vec<HistoryEntry>>,
    block: &Block,
    undo: &BlockUndo,
    info: &BlockInfo,
) {
    for (index, tx, coins) in spent_per_tx(block, undo) {
        let txid = tx.txid();
        tx_index.insert(txid, TxLocation { block_hash: info.hash, height: info.height, index: index as u32 });
        for (owner, received, sent) in effects(tx, coins) {
            history.entry(owner).or_default().push(HistoryEntry {
                txid,
                block_hash: info.hash,
                height: info.height,
                received,
                sent,
            });
        }
    }
}

fn unindex_block(
    tx_index: &mut HashMap<Txid, TxLocation>,
    history: &mut HashMap<PubKeyHash, Vec<HistoryEntry>>,
    block: &Block,
    undo: &BlockUndo,
    hash: &BlockHash,
) {
    for (_, tx, coins) in spent_per_tx(block, undo) {
        tx_index.remove(&tx.txid());
        for (owner, _, _) in effects(tx, coins) {
            if let Some(entries) = history.get_mut(&owner) {
                while entries.last().is_some_and(|e| e.block_hash == *hash) {
                    entries.pop();
                }
                if entries.is_empty() {
                    history.remove(&owner);
                }
            }
        }
    }
}
