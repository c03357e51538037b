//! Block templates for miners, the extra-nonce roll, and genesis creation.

use core::fmt;

use crate::address::Address;
use crate::amount::Amount;
use crate::block::Block;
use crate::chain::ChainState;
use crate::hash::{BlockHash, MerkleRoot, PubKeyHash};
use crate::header::{BlockHeader, HEADER_BYTES};
use crate::mempool::Mempool;
use crate::mining::{NonceSearch, SearchOutcome};
use crate::params::ChainParams;
use crate::pow::TargetError;
use crate::tx::{Coinbase, MAX_COINBASE_MESSAGE, Transaction, TxInputs, TxOut};

/// Block version this implementation writes.
pub const BLOCK_VERSION: u32 = 1;
/// Bytes kept free in a block for the header and the coinbase.
const COINBASE_RESERVE: usize = HEADER_BYTES + 512;

/// A block waiting for its nonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockTemplate {
    pub block: Block,
    pub height: u32,
    pub fees: Amount,
}

impl BlockTemplate {
    /// A template of `header` (Merkle root and nonce filled in later), a coinbase paying
    /// `reward` to `payee`, and `txs`.
    fn assemble(
        header: BlockHeader,
        height: u32,
        payee: PubKeyHash,
        reward: Amount,
        txs: Vec<Transaction>,
        message: Vec<u8>,
    ) -> BlockTemplate {
        let coinbase = Transaction {
            version: 1,
            inputs: TxInputs::Coinbase(Coinbase { height, extra_nonce: 0, witness_root: MerkleRoot::ZERO, message }),
            outputs: vec![TxOut { amount: reward, pubkey_hash: payee }],
        };
        let mut all = Vec::with_capacity(txs.len() + 1);
        all.push(coinbase);
        all.extend(txs);
        let mut template = BlockTemplate { block: Block { header, txs: all }, height, fees: Amount::ZERO };
        template.recommit();
        template
    }

    /// Recomputes the coinbase's signature commitment and the header's Merkle root (after the
    /// transactions changed).
    pub fn recommit(&mut self) {
        let witness_root = self.block.compute_witness_root();
        if let Some(TxInputs::Coinbase(cb)) = self.block.txs.first_mut().map(|tx| &mut tx.inputs) {
            cb.witness_root = witness_root;
        }
        self.block.header.merkle_root = self.block.compute_merkle_root().0;
    }

    /// The next extra nonce: a fresh header to search once the 32-bit nonce space is spent.
    pub fn roll_extra_nonce(&mut self) {
        if let Some(TxInputs::Coinbase(cb)) = self.block.txs.first_mut().map(|tx| &mut tx.inputs) {
            cb.extra_nonce = cb.extra_nonce.wrapping_add(1);
        }
        self.recommit();
    }

    /// The block with `nonce` in its header.
    pub fn with_nonce(&self, nonce: u32) -> Block {
        let mut block = self.block.clone();
        block.header.nonce = nonce;
        block
    }

    /// Searches every nonce, rolling the extra nonce when they run out, until the block meets
    /// its target. For tests, genesis creation and a native miner's single thread; a tab runs
    /// [`NonceSearch`] in Web Workers instead.
    pub fn mine(mut self) -> Result<Block, TargetError> {
        loop {
            let search = NonceSearch::new(&self.block.header)?;
            if let SearchOutcome::Found { nonce, .. } = search.search(0, 1 << 32) {
                return Ok(self.with_nonce(nonce));
            }
            self.roll_extra_nonce();
        }
    }
}

/// What a block template is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateSpec {
    /// The block to build on (the best tip, for a miner).
    pub parent: BlockHash,
    /// Who the coinbase pays.
    pub payee: PubKeyHash,
    /// The miner's clock; the time is raised above the parent's median time past if needed.
    pub now: u64,
    /// Transactions after the coinbase, in an order a block can hold.
    pub txs: Vec<Transaction>,
    /// What those transactions pay in fees; the coinbase claims subsidy plus this.
    pub fees: Amount,
    /// Free data in the coinbase.
    pub message: Vec<u8>,
}

/// Why a template could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// The parent is not a known block.
    UnknownParent(BlockHash),
    /// The coinbase message is longer than a block may carry.
    MessageTooLong { bytes: usize, max: usize },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::UnknownParent(hash) => {
                write!(f, "can not build on unknown block {hash}")
            }
            TemplateError::MessageTooLong { bytes, max } => {
                write!(f, "the coinbase message is {bytes} bytes, more than {max}")
            }
        }
    }
}

impl std::error::Error for TemplateError {}

/// A template as `spec` says, with the height, difficulty and time rules of its parent.
pub fn build_template(chain: &ChainState, spec: TemplateSpec) -> Result<BlockTemplate, TemplateError> {
    if spec.message.len() > MAX_COINBASE_MESSAGE {
        return Err(TemplateError::MessageTooLong { bytes: spec.message.len(), max: MAX_COINBASE_MESSAGE });
    }
    let parent = chain.block_info(&spec.parent).ok_or(TemplateError::UnknownParent(spec.parent))?;
    let params = chain.params();
    let height = parent.height.saturating_add(1);
    let min_time = chain.median_time_past(&spec.parent).saturating_add(1);
    let header = BlockHeader {
        version: BLOCK_VERSION,
        prev_blockhash: spec.parent,
        merkle_root: MerkleRoot::ZERO,
        time: u32::try_from(spec.now).unwrap_or(u32::MAX).max(min_time),
        bits: chain.next_bits(parent),
        nonce: 0,
    };
    let reward = params.subsidy(height).checked_add(spec.fees).unwrap_or(Amount::MAX_MONEY);
    let mut template = BlockTemplate::assemble(header, height, spec.payee, reward, spec.txs, spec.message);
    template.fees = spec.fees;
    Ok(template)
}

/// A miner's template on the best tip: the mempool's best transactions, the coinbase paying
/// `payee` the subsidy plus their fees.
pub fn block_template(
    chain: &ChainState,
    mempool: &Mempool,
    payee: PubKeyHash,
    now: u64,
    message: Vec<u8>,
) -> Result<BlockTemplate, TemplateError> {
    let params = chain.params();
    let entries = mempool
        .select_for_block(params.max_block_bytes.saturating_sub(COINBASE_RESERVE), params.max_block_signature_checks);
    let fees = entries.iter().fold(Amount::ZERO, |sum, e| sum.checked_add(e.fee).unwrap_or(sum));
    let spec = TemplateSpec {
        parent: chain.tip(),
        payee,
        now,
        txs: entries.into_iter().map(|e| e.tx.clone()).collect(),
        fees,
        message,
    };
    build_template(chain, spec)
}

/// The address does not belong to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenesisError {
    WrongNetwork { expected: u8, found: u8 },
    BadLimit(TargetError),
}

impl fmt::Display for GenesisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenesisError::WrongNetwork { expected, found } => {
                write!(f, "the address is for another network (version {found}, this network uses {expected})")
            }
            GenesisError::BadLimit(e) => write!(f, "the network's target limit is unusable: {e}"),
        }
    }
}

impl std::error::Error for GenesisError {}

/// The seed's `createblockchain`: a genesis block whose coinbase pays the subsidy to `address`,
/// at time `time`, mined at the network's easiest target.
pub fn create_genesis(params: &ChainParams, address: &Address, time: u32) -> Result<Block, GenesisError> {
    if address.version != params.address_version {
        return Err(GenesisError::WrongNetwork { expected: params.address_version, found: address.version });
    }
    let header = BlockHeader {
        version: BLOCK_VERSION,
        prev_blockhash: BlockHash::ZERO,
        merkle_root: MerkleRoot::ZERO,
        time,
        bits: params.pow_limit,
        nonce: 0,
    };
    let template = BlockTemplate::assemble(
        header,
        0,
        address.pubkey_hash,
        params.subsidy(0),
        Vec::new(),
        GENESIS_MESSAGE.to_vec(),
    );
    template.mine().map_err(GenesisError::BadLimit)
}

/// The message in every genesis coinbase.
const GENESIS_MESSAGE: &[u8] = b"tabcoin genesis: Building Blockchain in Go, Part 7, made real";

/// A network's fixed genesis block (main's), built from its parameters: the coinbase pays the
/// subsidy to a pubkey hash of zeros, which no key hashes to, so nobody can spend it; the
/// time and nonce are fixed. `None` for networks whose chain `createblockchain` makes.
pub fn pinned_genesis(params: &ChainParams) -> Option<Block> {
    let pinned = params.pinned_genesis?;
    let block = pinned_genesis_template(params)?.with_nonce(pinned.nonce);
    (block.block_hash() == pinned.hash).then_some(block)
}

/// The template a network's fixed genesis block is mined from (its nonce zero): how the nonce
/// in its parameters was found, and can be checked.
pub fn pinned_genesis_template(params: &ChainParams) -> Option<BlockTemplate> {
    let pinned = params.pinned_genesis?;
    let header = BlockHeader {
        version: BLOCK_VERSION,
        prev_blockhash: BlockHash::ZERO,
        merkle_root: MerkleRoot::ZERO,
        time: pinned.time,
        bits: params.pow_limit,
        nonce: 0,
    };
    Some(BlockTemplate::assemble(
        header,
        0,
        PubKeyHash([0; 20]),
        params.subsidy(0),
        Vec::new(),
        GENESIS_MESSAGE.to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainState;

    #[test]
    fn mains_genesis_is_fixed_valid_and_pays_no_one() {
        let main = ChainParams::main();
        let genesis = pinned_genesis(&main).expect("main's genesis rebuilds to its pinned hash");
        assert_eq!(
            genesis.block_hash().to_string(),
            "0000015553753b97bccb538a8262d02f0a3b770769228cfdbcc47770fcb48dc5"
        );
        assert_eq!(genesis.txs[0].outputs[0].pubkey_hash, PubKeyHash([0; 20]));
        let (chain, _) = ChainState::new(main.clone(), genesis).expect("a valid genesis");
        assert_eq!(chain.height(), 0);
        // A wrong nonce gives another hash: refused rather than a chain no one else follows.
        let mut altered = main.clone();
        if let Some(pinned) = altered.pinned_genesis.as_mut() {
            pinned.nonce += 1;
        }
        assert!(pinned_genesis(&altered).is_none());
        assert!(pinned_genesis(&ChainParams::seed()).is_none() && pinned_genesis(&ChainParams::test()).is_none());
    }
}
