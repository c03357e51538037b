//! Consensus checks that need no chain: a transaction on its own, a block on its own.
//! Checks against the chain (parent, time, UTXO set) are in `chain`.

use core::fmt;
use std::collections::HashSet;

use crate::amount::Amount;
use crate::block::Block;
use crate::hash::{BlockHash, Txid};
use crate::params::ChainParams;
use crate::pow::{CompactTarget, TargetError};
use crate::sort;
use crate::tx::{InputError, MAX_COINBASE_MESSAGE, OutPoint, Transaction};

/// Why a transaction is invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxError {
    NoInputs,
    NoOutputs,
    /// An output's amount exceeds the money supply bound.
    OutputTooLarge {
        index: usize,
    },
    /// The outputs add up to more than the money supply bound.
    OutputTotalTooLarge,
    /// The same outpoint is spent twice within the transaction.
    DuplicateInput(OutPoint),
    TooLarge {
        bytes: usize,
        max: usize,
    },
    /// A coinbase outside a block's first position, or sent on its own.
    UnexpectedCoinbase,
    /// A coinbase message longer than any peer could decode.
    CoinbaseMessageTooLong {
        bytes: usize,
        max: usize,
    },
    /// The spent output does not exist or was already spent.
    MissingInput(OutPoint),
    /// A coinbase output spent before `coinbase_maturity` blocks.
    ImmatureCoinbase {
        outpoint: OutPoint,
        confirmations: u32,
        required: u32,
    },
    /// The outputs spend more than the inputs bring.
    InsufficientInputs {
        inputs: Amount,
        outputs: Amount,
    },
    /// Inputs add up past the money supply bound.
    InputTotalTooLarge,
    /// An output would replace an unspent output with the same outpoint (Bitcoin's BIP 30).
    OverwritesUnspent(OutPoint),
    Input(InputError),
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxError::NoInputs => f.write_str("the transaction has no inputs"),
            TxError::NoOutputs => f.write_str("the transaction has no outputs"),
            TxError::OutputTooLarge { index } => {
                write!(f, "output {index} is more than 21000000 coins")
            }
            TxError::OutputTotalTooLarge => f.write_str("the outputs add up to more than 21000000 coins"),
            TxError::DuplicateInput(op) => {
                write!(f, "output {op} is spent twice in the transaction")
            }
            TxError::TooLarge { bytes, max } => {
                write!(f, "the transaction is {bytes} bytes, more than the limit of {max}")
            }
            TxError::UnexpectedCoinbase => f.write_str("a coinbase is only allowed first in a block"),
            TxError::CoinbaseMessageTooLong { bytes, max } => {
                write!(f, "the coinbase message is {bytes} bytes, more than {max}")
            }
            TxError::MissingInput(op) => {
                write!(f, "output {op} does not exist or is already spent")
            }
            TxError::ImmatureCoinbase { outpoint, confirmations, required } => write!(
                f,
                "coinbase output {outpoint} has {confirmations} confirmations; {required} are needed to spend it"
            ),
            TxError::InsufficientInputs { inputs, outputs } => {
                write!(f, "the outputs ({outputs}) spend more than the inputs ({inputs})")
            }
            TxError::InputTotalTooLarge => f.write_str("the inputs add up to more than 21000000 coins"),
            TxError::OverwritesUnspent(op) => write!(f, "output {op} already exists unspent"),
            TxError::Input(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TxError {}

impl TxError {
    /// Whether the failure holds for these exact bytes whatever the chain: the transaction can
    /// never be valid (its spent outputs are fixed by their outpoints), so its witness hash may
    /// be remembered and whoever sends it is at fault. Not so for an input missing or not yet
    /// mature, or an output that exists already: those depend on the chain.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, TxError::MissingInput(_) | TxError::ImmatureCoinbase { .. } | TxError::OverwritesUnspent(_))
    }
}

impl From<InputError> for TxError {
    fn from(e: InputError) -> Self {
        TxError::Input(e)
    }
}

/// Why a block is invalid or can not be accepted now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockError {
    BadTarget(TargetError),
    /// The target is easier than the network allows.
    TargetAboveLimit,
    /// The hash does not meet the target the header claims.
    HighHash,
    NoTransactions,
    FirstNotCoinbase,
    ExtraCoinbase {
        index: usize,
    },
    /// The header's Merkle root does not match the transactions.
    BadMerkleRoot,
    /// Transactions repeated so that the root still matches (CVE-2012-2459).
    MutatedMerkleTree,
    /// The coinbase's commitment to the signatures does not match them.
    BadWitnessRoot,
    DuplicateTx(Txid),
    TooLarge {
        bytes: usize,
        max: usize,
    },
    /// More inputs (each a signature to check) than a block may carry.
    TooManySignatureChecks {
        count: usize,
        max: usize,
    },
    /// Two transactions of the block spend the same output.
    DoubleSpend(OutPoint),
    Tx {
        index: usize,
        txid: Txid,
        error: TxError,
    },
    /// The parent is not known (yet).
    UnknownParent(BlockHash),
    /// The block, or one of its ancestors, was found invalid before.
    KnownInvalid,
    InvalidAncestor(BlockHash),
    AlreadyKnown,
    BadBits {
        expected: CompactTarget,
        found: CompactTarget,
    },
    /// Not after the median time of the previous 11 blocks.
    TimeTooOld {
        time: u32,
        median: u32,
    },
    /// Too far ahead of the node's clock (may become valid later).
    TimeTooNew {
        time: u32,
        max: u64,
    },
    BadCoinbaseHeight {
        expected: u32,
        found: u32,
    },
    /// The coinbase pays more than the subsidy plus the fees.
    CoinbaseTooLarge {
        paid: Amount,
        allowed: Amount,
    },
    /// The genesis block does not fit the network: wrong target, parent or height.
    BadGenesis(&'static str),
    /// The chain state contradicts itself (a bug or a damaged store), not the block's fault.
    Inconsistent(&'static str),
    /// Signatures of its transactions (or of its branch's) are still to be checked: only
    /// inside [`crate::chain::ChainState::accept_block_deferred`], which asks for them instead.
    SignaturesPending,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::BadTarget(e) => e.fmt(f),
            BlockError::TargetAboveLimit => f.write_str("the target is easier than the network allows"),
            BlockError::HighHash => f.write_str("proof of work failed: the hash is above the target"),
            BlockError::NoTransactions => f.write_str("the block has no transactions"),
            BlockError::FirstNotCoinbase => f.write_str("the first transaction is not a coinbase"),
            BlockError::ExtraCoinbase { index } => {
                write!(f, "transaction {index} is a second coinbase")
            }
            BlockError::BadMerkleRoot => f.write_str("the Merkle root does not match the transactions"),
            BlockError::MutatedMerkleTree => f.write_str("duplicated transactions (CVE-2012-2459 Merkle mutation)"),
            BlockError::BadWitnessRoot => f.write_str("the coinbase's signature commitment does not match"),
            BlockError::DuplicateTx(txid) => write!(f, "transaction {txid} appears twice"),
            BlockError::TooLarge { bytes, max } => {
                write!(f, "the block is {bytes} bytes, more than {max}")
            }
            BlockError::TooManySignatureChecks { count, max } => {
                write!(f, "the block's transactions have {count} inputs to check, more than {max}")
            }
            BlockError::DoubleSpend(op) => write!(f, "output {op} is spent twice in the block"),
            BlockError::Tx { index, txid, error } => {
                write!(f, "transaction {index} ({txid}): {error}")
            }
            BlockError::UnknownParent(h) => write!(f, "the parent block {h} is unknown"),
            BlockError::KnownInvalid => f.write_str("the block was already found invalid"),
            BlockError::InvalidAncestor(h) => write!(f, "ancestor {h} is invalid"),
            BlockError::AlreadyKnown => f.write_str("the block is already known"),
            BlockError::BadBits { expected, found } => {
                write!(f, "wrong difficulty: bits {found}, expected {expected}")
            }
            BlockError::TimeTooOld { time, median } => {
                write!(f, "the block time {time} is not after the median time {median} of the previous 11 blocks")
            }
            BlockError::TimeTooNew { time, max } => {
                write!(f, "the block time {time} is too far in the future (at most {max})")
            }
            BlockError::BadCoinbaseHeight { expected, found } => {
                write!(f, "the coinbase says height {found}, the block is at height {expected}")
            }
            BlockError::CoinbaseTooLarge { paid, allowed } => {
                write!(f, "the coinbase pays {paid}, more than subsidy plus fees ({allowed})")
            }
            BlockError::BadGenesis(why) => write!(f, "not a valid genesis block: {why}"),
            BlockError::Inconsistent(why) => write!(f, "chain state inconsistent: {why}"),
            BlockError::SignaturesPending => f.write_str("signatures of its transactions are still to be checked"),
        }
    }
}

impl std::error::Error for BlockError {}

impl BlockError {
    /// Whether the failure proves that the block with this hash is invalid, so the hash may be
    /// remembered as such. Not so for failures that say the bytes are not the block the header
    /// committed to (the real block may be fine), for failed proof of work (free to produce,
    /// so not worth remembering), or for failures that depend on the node's clock or knowledge.
    pub fn proves_hash_invalid(&self) -> bool {
        !matches!(
            self,
            BlockError::BadTarget(_)
                | BlockError::TargetAboveLimit
                | BlockError::HighHash
                | BlockError::BadMerkleRoot
                | BlockError::MutatedMerkleTree
                | BlockError::BadWitnessRoot
                | BlockError::UnknownParent(_)
                | BlockError::TimeTooNew { .. }
                | BlockError::AlreadyKnown
                | BlockError::KnownInvalid
                | BlockError::Inconsistent(_)
                | BlockError::SignaturesPending
        )
    }
}

/// Checks a transaction on its own: shape, sizes, amounts, no repeated input.
pub fn check_transaction(tx: &Transaction, params: &ChainParams) -> Result<(), TxError> {
    if !tx.is_coinbase() && tx.spends().is_empty() {
        return Err(TxError::NoInputs);
    }
    if let Some(coinbase) = tx.coinbase()
        && coinbase.message.len() > MAX_COINBASE_MESSAGE
    {
        return Err(TxError::CoinbaseMessageTooLong { bytes: coinbase.message.len(), max: MAX_COINBASE_MESSAGE });
    }
    if tx.outputs.is_empty() {
        return Err(TxError::NoOutputs);
    }
    let bytes = tx.encoded_len();
    if bytes > params.max_tx_bytes {
        return Err(TxError::TooLarge { bytes, max: params.max_tx_bytes });
    }
    let mut total = Amount::ZERO;
    for (index, output) in tx.outputs.iter().enumerate() {
        if !output.amount.is_valid_money() {
            return Err(TxError::OutputTooLarge { index });
        }
        total = total.checked_add(output.amount).ok_or(TxError::OutputTotalTooLarge)?;
        if !total.is_valid_money() {
            return Err(TxError::OutputTotalTooLarge);
        }
    }
    let mut seen = HashSet::with_capacity(tx.spends().len());
    for input in tx.spends() {
        if !seen.insert(input.prev_out) {
            return Err(TxError::DuplicateInput(input.prev_out));
        }
    }
    Ok(())
}

/// Checks the header's proof of work against its own bits and the network's limit.
pub fn check_proof_of_work(
    block_hash: &BlockHash,
    bits: CompactTarget,
    params: &ChainParams,
) -> Result<(), BlockError> {
    let target = bits.to_target().map_err(BlockError::BadTarget)?;
    if target > params.pow_limit_target() {
        return Err(BlockError::TargetAboveLimit);
    }
    if !target.is_met_by(block_hash) {
        return Err(BlockError::HighHash);
    }
    Ok(())
}

/// Checks a block on its own: proof of work, coinbase placement, Merkle root and its mutation,
/// the signature commitment, size, each transaction's shape, and no output spent twice.
pub fn check_block(block: &Block, params: &ChainParams) -> Result<(), BlockError> {
    check_proof_of_work(&block.block_hash(), block.header.bits, params)?;
    // First whether these are the transactions the header commits to: every later failure is
    // then the block's own, and may be remembered against its hash.
    let (root, mutated) = block.compute_merkle_root();
    if root != block.header.merkle_root {
        return Err(BlockError::BadMerkleRoot);
    }
    if mutated {
        return Err(BlockError::MutatedMerkleTree);
    }
    let first = block.txs.first().ok_or(BlockError::NoTransactions)?;
    let Some(coinbase) = first.coinbase() else {
        return Err(BlockError::FirstNotCoinbase);
    };
    if let Some(index) = block.txs.iter().skip(1).position(Transaction::is_coinbase) {
        return Err(BlockError::ExtraCoinbase { index: index + 1 });
    }
    // The txids leave the signatures out; the coinbase's witness root covers them.
    if coinbase.witness_root != block.compute_witness_root() {
        return Err(BlockError::BadWitnessRoot);
    }
    let bytes = block.encoded_len();
    if bytes > params.max_block_bytes {
        return Err(BlockError::TooLarge { bytes, max: params.max_block_bytes });
    }
    let checks: usize = block.txs.iter().map(|tx| tx.spends().len()).sum();
    if checks > params.max_block_signature_checks {
        return Err(BlockError::TooManySignatureChecks { count: checks, max: params.max_block_signature_checks });
    }
    let mut txids = HashSet::with_capacity(block.txs.len());
    let mut spent = HashSet::new();
    for (index, tx) in block.txs.iter().enumerate() {
        let txid = tx.txid();
        if !txids.insert(txid) {
            return Err(BlockError::DuplicateTx(txid));
        }
        check_transaction(tx, params).map_err(|error| BlockError::Tx { index, txid, error })?;
        for input in tx.spends() {
            if !spent.insert(input.prev_out) {
                return Err(BlockError::DoubleSpend(input.prev_out));
            }
        }
    }
    Ok(())
}

/// The time rules of a header: after `median` (the median time past of its parent) and at most
/// `max_future_block_secs` ahead of the node's clock `now` (seconds since the Unix epoch).
pub fn check_header_time(time: u32, median: u32, now: u64, params: &ChainParams) -> Result<(), BlockError> {
    if time <= median {
        return Err(BlockError::TimeTooOld { time, median });
    }
    let max = now.saturating_add(u64::from(params.max_future_block_secs));
    if u64::from(time) > max {
        return Err(BlockError::TimeTooNew { time, max });
    }
    Ok(())
}

/// The median of up to 11 timestamps (the previous blocks'), as Bitcoin's median time past.
pub fn median_time(times: &[u32]) -> u32 {
    let mut sorted = times.to_vec();
    sort::sort(&mut sorted);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}
