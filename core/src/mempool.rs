//! The mempool: valid transactions waiting for a block. Policy on top of consensus: a minimum
//! fee rate, a bound on total size (evicting the lowest fee rate), and a bound on chains of
//! unconfirmed transactions.

use core::fmt;
use std::collections::{HashMap, HashSet};

use crate::amount::Amount;
use crate::chain::{BlockAccepted, ChainState};
use crate::hash::{PubKeyHash, Txid};
use crate::params::FeeRate;
use crate::sigcheck::{Deferred, SignatureBatch, SignatureMode, VerifiedTxs, deferred};
use crate::sort;
use crate::tx::{OutPoint, Transaction, TxOut};
use crate::validation::{TxError, check_transaction};

/// A transaction in the mempool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolEntry {
    pub tx: Transaction,
    pub txid: Txid,
    pub fee: Amount,
    pub bytes: usize,
    pub fee_rate: FeeRate,
    /// 1 if it spends only confirmed coins, else one more than its deepest unconfirmed parent.
    pub depth: u32,
    /// Arrival order.
    pub sequence: u64,
    /// The outputs its inputs spend, in order: what its signatures were checked against.
    pub spent: Vec<TxOut>,
}

/// Why the mempool refused a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MempoolError {
    /// Breaks a consensus rule.
    Invalid(TxError),
    AlreadyInMempool,
    AlreadyConfirmed,
    /// Spends an output another mempool transaction already spends: a double spend.
    Conflict {
        outpoint: OutPoint,
        with: Txid,
    },
    FeeTooLow {
        fee: Amount,
        required: Amount,
    },
    /// An output carries less than the network's dust threshold.
    Dust {
        index: usize,
        amount: Amount,
        threshold: Amount,
    },
    ChainTooLong {
        depth: u32,
        max: u32,
    },
    /// The mempool is full of transactions paying a higher fee rate.
    Full {
        fee_rate: FeeRate,
    },
    /// Its signatures are still to be checked: only inside [`Mempool::accept_deferred`],
    /// which asks for them instead.
    SignaturesPending,
}

impl fmt::Display for MempoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MempoolError::Invalid(e) => e.fmt(f),
            MempoolError::AlreadyInMempool => f.write_str("the transaction is already waiting in the mempool"),
            MempoolError::AlreadyConfirmed => f.write_str("the transaction is already in the chain"),
            MempoolError::Conflict { outpoint, with } => {
                write!(f, "double spend: output {outpoint} is already spent by {with}")
            }
            MempoolError::Dust { index, amount, threshold } => write!(
                f,
                "output {index} carries {amount}, less than this network's dust threshold of {threshold}: it would cost \
                 more to spend than it is worth"
            ),
            MempoolError::FeeTooLow { fee, required } => {
                write!(f, "the fee {fee} is below the minimum {required} for its size")
            }
            MempoolError::ChainTooLong { depth, max } => {
                write!(f, "it would make a chain of {depth} unconfirmed transactions (at most {max}): wait for a block")
            }
            MempoolError::Full { fee_rate } => write!(
                f,
                "the mempool is full of transactions paying more than {} base units per 1000 bytes",
                fee_rate.0
            ),
            MempoolError::SignaturesPending => f.write_str("its signatures are still to be checked"),
        }
    }
}

impl std::error::Error for MempoolError {}

impl From<TxError> for MempoolError {
    fn from(e: TxError) -> Self {
        MempoolError::Invalid(e)
    }
}

/// What accepting a transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MempoolAccepted {
    pub txid: Txid,
    pub fee: Amount,
    /// Transactions evicted to make room (lowest fee rate first).
    pub evicted: Vec<Txid>,
}

/// What [`Mempool::accept_deferred`] did.
pub type TxAcceptance = Deferred<MempoolAccepted>;

/// What [`Mempool::check`] found: all a transaction's entry needs but its signatures.
struct Checked {
    txid: Txid,
    spent: Vec<TxOut>,
    fee: Amount,
    bytes: usize,
    depth: u32,
}

#[derive(Clone, Debug, Default)]
pub struct Mempool {
    entries: HashMap<Txid, MempoolEntry>,
    /// Which mempool transaction spends each outpoint.
    spenders: HashMap<OutPoint, Txid>,
    total_bytes: usize,
    next_sequence: u64,
}

impl Mempool {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    pub fn get(&self, txid: &Txid) -> Option<&MempoolEntry> {
        self.entries.get(txid)
    }

    /// The mempool transaction spending `outpoint`, if any.
    pub fn spender_of(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spenders.get(outpoint).copied()
    }

    /// Entries in arrival order.
    pub fn entries(&self) -> Vec<&MempoolEntry> {
        let mut all: Vec<&MempoolEntry> = self.entries.values().collect();
        sort::sort_by_key(&mut all, |e| e.sequence);
        all
    }

    /// Which of `txs` are in the mempool, vouched for with the outputs their signatures were
    /// checked against on entry: a block this node mines from its mempool is not checked twice.
    pub fn signatures_checked(&self, txs: &[Transaction]) -> VerifiedTxs {
        VerifiedTxs::from_checked(txs.iter().filter_map(|tx| {
            let entry = self.entries.get(&tx.txid()).filter(|e| e.tx == *tx)?;
            Some((tx.wtxid(), entry.spent.clone()))
        }))
    }

    /// An output of a mempool transaction.
    fn unconfirmed_output(&self, outpoint: &OutPoint) -> Option<(TxOut, u32)> {
        let parent = self.entries.get(&outpoint.txid)?;
        let output = parent.tx.outputs.get(outpoint.vout as usize)?;
        Some((*output, parent.depth))
    }

    /// Validates `tx` against the best chain and the mempool and adds it.
    #[cfg(feature = "ecdsa")]
    pub fn accept(&mut self, tx: Transaction, chain: &ChainState) -> Result<MempoolAccepted, MempoolError> {
        self.accept_with(tx, chain, SignatureMode::CheckAll)
    }

    /// Everything [`Mempool::accept`] checks but the signatures, and the jobs that check
    /// those: a shell verifies them elsewhere, then [`Mempool::accept_with`] takes the answers
    /// (the mempool and chain may have changed by then; it checks the rest again).
    pub fn signature_jobs(&self, tx: &Transaction, chain: &ChainState) -> Result<SignatureBatch, MempoolError> {
        let checked = self.check(tx, chain)?;
        Ok(SignatureBatch::for_transaction(tx, checked.spent))
    }

    /// [`Mempool::accept`], with signatures treated by `mode`: signatures verified beforehand
    /// ([`SignatureMode::Prechecked`]) count only for exactly the outputs the transaction spends.
    pub fn accept_with(
        &mut self,
        tx: Transaction,
        chain: &ChainState,
        mode: SignatureMode<'_>,
    ) -> Result<MempoolAccepted, MempoolError> {
        let checked = self.check(&tx, chain)?;
        let spent = &checked.spent;
        match mode {
            #[cfg(feature = "ecdsa")]
            SignatureMode::CheckAll => tx.verify_inputs(spent).map_err(TxError::from)?,
            SignatureMode::Trusted => {}
            #[cfg(feature = "ecdsa")]
            SignatureMode::Prechecked(verified) => {
                if !verified.covers(&tx.wtxid(), spent) {
                    tx.verify_inputs(spent).map_err(TxError::from)?;
                }
            }
            SignatureMode::Deferred { checked: answers, pending } => {
                if answers.settle(&tx, spent).map_err(TxError::from)? {
                    pending.borrow_mut().push(&tx, checked.txid, checked.spent.clone());
                    return Err(MempoolError::SignaturesPending);
                }
            }
        }
        self.admit(tx, checked, chain)
    }

    /// [`Mempool::accept`] checking no signature here: it takes the answers in `checked` (from
    /// [`SignatureBatch::verified`]) for exactly the outputs they were checked against, and
    /// returns the jobs to check first if those do not answer for the transaction as it
    /// stands now (the chain or the mempool changed since).
    pub fn accept_deferred(
        &mut self,
        tx: Transaction,
        chain: &ChainState,
        checked: &VerifiedTxs,
    ) -> Result<TxAcceptance, MempoolError> {
        deferred(checked, MempoolError::SignaturesPending, |mode| self.accept_with(tx, chain, mode))
    }

    /// Adds a transaction that passed every check, making room if it pays enough.
    fn admit(
        &mut self,
        tx: Transaction,
        checked: Checked,
        chain: &ChainState,
    ) -> Result<MempoolAccepted, MempoolError> {
        let Checked { txid, spent, fee, bytes, depth } = checked;
        let fee_rate = FeeRate::of(fee, bytes);
        // Decide what must leave to make room before changing anything: a transaction that
        // can not get in leaves the mempool as it was.
        let evict = self.eviction_plan(&tx, bytes, fee_rate, chain.params().max_mempool_bytes)?;
        let mut evicted = Vec::new();
        for txid in &evict {
            evicted.extend(self.remove_with_descendants(txid));
        }
        for input in tx.spends() {
            self.spenders.insert(input.prev_out, txid);
        }
        let entry = MempoolEntry { tx, txid, fee, bytes, fee_rate, depth, sequence: self.next_sequence, spent };
        self.next_sequence += 1;
        self.total_bytes += bytes;
        self.entries.insert(txid, entry);
        Ok(MempoolAccepted { txid, fee, evicted })
    }

    /// The checks of [`Mempool::accept`] that need no signature.
    fn check(&self, tx: &Transaction, chain: &ChainState) -> Result<Checked, MempoolError> {
        let params = chain.params();
        if tx.is_coinbase() {
            return Err(TxError::UnexpectedCoinbase.into());
        }
        check_transaction(tx, params)?;
        let txid = tx.txid();
        if self.entries.contains_key(&txid) {
            return Err(MempoolError::AlreadyInMempool);
        }
        if chain.transaction(&txid).is_some() {
            return Err(MempoolError::AlreadyConfirmed);
        }
        let next_height = chain.height().saturating_add(1);
        let mut spent = Vec::with_capacity(tx.spends().len());
        let mut input_total = Amount::ZERO;
        let mut depth = 1u32;
        for input in tx.spends() {
            if let Some(with) = self.spenders.get(&input.prev_out) {
                return Err(MempoolError::Conflict { outpoint: input.prev_out, with: *with });
            }
            let output = if let Some(coin) = chain.utxos().get(&input.prev_out) {
                let confirmations = next_height.saturating_sub(coin.height);
                if coin.is_coinbase && confirmations < params.coinbase_maturity {
                    return Err(TxError::ImmatureCoinbase {
                        outpoint: input.prev_out,
                        confirmations,
                        required: params.coinbase_maturity,
                    }
                    .into());
                }
                coin.output
            } else if let Some((output, parent_depth)) = self.unconfirmed_output(&input.prev_out) {
                depth = depth.max(parent_depth.saturating_add(1));
                output
            } else {
                return Err(TxError::MissingInput(input.prev_out).into());
            };
            input_total = input_total
                .checked_add(output.amount)
                .filter(|t| t.is_valid_money())
                .ok_or(TxError::InputTotalTooLarge)?;
            spent.push(output);
        }
        let output_total = tx.output_total().ok_or(TxError::OutputTotalTooLarge)?;
        let fee = input_total
            .checked_sub(output_total)
            .ok_or(TxError::InsufficientInputs { inputs: input_total, outputs: output_total })?;
        if depth > params.max_mempool_chain_depth {
            return Err(MempoolError::ChainTooLong { depth, max: params.max_mempool_chain_depth });
        }
        if let Some((index, output)) = tx.outputs.iter().enumerate().find(|(_, o)| o.amount < params.dust_threshold) {
            return Err(MempoolError::Dust { index, amount: output.amount, threshold: params.dust_threshold });
        }
        let bytes = tx.encoded_len();
        let required = params.min_relay_fee_rate.fee_for(bytes);
        if fee < required {
            return Err(MempoolError::FeeTooLow { fee, required });
        }
        Ok(Checked { txid, spent, fee, bytes, depth })
    }

    /// The transactions to evict, lowest fee rate first (each with its descendants), so that a
    /// new transaction of `bytes` at `fee_rate` fits in `max_bytes`. Refused if that would
    /// take a transaction paying at least as much, or one the new transaction spends from.
    fn eviction_plan(
        &self,
        tx: &Transaction,
        bytes: usize,
        fee_rate: FeeRate,
        max_bytes: usize,
    ) -> Result<Vec<Txid>, MempoolError> {
        let mut excess = (self.total_bytes + bytes).saturating_sub(max_bytes);
        if excess == 0 {
            return Ok(Vec::new());
        }
        let ancestors = self.ancestors(tx);
        let mut by_rate: Vec<&MempoolEntry> = self.entries.values().collect();
        sort::sort_by_key(&mut by_rate, |e| (e.fee_rate, std::cmp::Reverse(e.sequence)));
        let mut plan = Vec::new();
        let mut leaving: HashSet<Txid> = HashSet::new();
        for entry in by_rate {
            if excess == 0 {
                break;
            }
            if leaving.contains(&entry.txid) {
                continue;
            }
            if entry.fee_rate >= fee_rate {
                return Err(MempoolError::Full { fee_rate: entry.fee_rate });
            }
            let group = self.descendants(&entry.txid);
            if group.iter().any(|t| ancestors.contains(t)) {
                return Err(MempoolError::Full { fee_rate: entry.fee_rate });
            }
            for txid in group {
                if leaving.insert(txid) {
                    let freed = self.entries.get(&txid).map_or(0, |e| e.bytes);
                    excess = excess.saturating_sub(freed);
                }
            }
            plan.push(entry.txid);
        }
        if excess > 0 {
            return Err(MempoolError::Full { fee_rate });
        }
        Ok(plan)
    }

    /// The mempool transactions `tx` spends from, directly or through others.
    fn ancestors(&self, tx: &Transaction) -> HashSet<Txid> {
        let mut found = HashSet::new();
        let mut stack: Vec<Txid> = tx.spends().iter().map(|i| i.prev_out.txid).collect();
        while let Some(txid) = stack.pop() {
            if let Some(entry) = self.entries.get(&txid)
                && found.insert(txid)
            {
                stack.extend(entry.tx.spends().iter().map(|i| i.prev_out.txid));
            }
        }
        found
    }

    /// A mempool transaction and every mempool transaction spending from it, directly or not.
    fn descendants(&self, txid: &Txid) -> Vec<Txid> {
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        let mut stack = vec![*txid];
        while let Some(next) = stack.pop() {
            let Some(entry) = self.entries.get(&next) else {
                continue;
            };
            if !seen.insert(next) {
                continue;
            }
            found.push(next);
            for vout in 0..entry.tx.outputs.len() {
                if let Some(child) = self.spenders.get(&OutPoint { txid: next, vout: vout as u32 }) {
                    stack.push(*child);
                }
            }
        }
        found
    }

    /// Removes a transaction and every mempool transaction that spends its outputs.
    fn remove_with_descendants(&mut self, txid: &Txid) -> Vec<Txid> {
        let group = self.descendants(txid);
        for txid in &group {
            self.remove_entry(txid);
        }
        group
    }

    fn remove_entry(&mut self, txid: &Txid) -> Option<MempoolEntry> {
        let entry = self.entries.remove(txid)?;
        for input in entry.tx.spends() {
            if self.spenders.get(&input.prev_out) == Some(txid) {
                self.spenders.remove(&input.prev_out);
            }
        }
        self.total_bytes -= entry.bytes;
        Some(entry)
    }

    /// Follows a change of the best chain: drops transactions that were confirmed and those
    /// that conflict with the new blocks; after a reorganisation, takes back the transactions
    /// of disconnected blocks and checks every entry again. Returns the txids dropped as
    /// conflicting or no longer valid.
    pub fn update_for_chain(&mut self, chain: &ChainState, change: &BlockAccepted) -> Vec<Txid> {
        if !change.disconnected.is_empty() {
            return self.revalidate(chain, change.returned_txs.clone());
        }
        let mut dropped = Vec::new();
        for hash in &change.connected {
            let Some(block) = chain.block(hash) else {
                continue;
            };
            for tx in &block.txs {
                let txid = tx.txid();
                self.remove_entry(&txid);
                for input in tx.spends() {
                    if let Some(conflict) = self.spenders.get(&input.prev_out).copied() {
                        dropped.extend(self.remove_with_descendants(&conflict));
                    }
                }
            }
        }
        self.recompute_depths();
        dropped
    }

    /// Chain depths after parents confirmed: arrival order puts parents before children.
    fn recompute_depths(&mut self) {
        let order: Vec<Txid> = self.entries().into_iter().map(|e| e.txid).collect();
        for txid in order {
            let Some(entry) = self.entries.get(&txid) else {
                continue;
            };
            let depth = entry
                .tx
                .spends()
                .iter()
                .filter_map(|i| self.entries.get(&i.prev_out.txid).map(|p| p.depth.saturating_add(1)))
                .max()
                .unwrap_or(1);
            if let Some(entry) = self.entries.get_mut(&txid) {
                entry.depth = depth;
            }
        }
    }

    /// Rebuilds the mempool from `first` (the payments of blocks a reorganisation took off)
    /// then the current entries, keeping what is still valid. Signatures are not checked
    /// again: `first`'s were when their blocks connected, the entries' on entry, against the
    /// outputs they spend, which their outpoints fix (an entry's are compared all the same: one
    /// that no longer matched would be dropped, not checked here).
    fn revalidate(&mut self, chain: &ChainState, first: Vec<Transaction>) -> Vec<Txid> {
        let old: Vec<Transaction> = self.entries().into_iter().map(|e| e.tx.clone()).collect();
        let checked = VerifiedTxs::from_checked(self.entries.values().map(|e| (e.tx.wtxid(), e.spent.clone())));
        let old_txids: HashSet<Txid> = self.entries.keys().copied().collect();
        *self = Mempool { next_sequence: self.next_sequence, ..Mempool::default() };
        for tx in first {
            let _ = self.accept_with(tx, chain, SignatureMode::Trusted);
        }
        for tx in old {
            let _ = self.accept_deferred(tx, chain, &checked);
        }
        let mut dropped: Vec<Txid> =
            old_txids.into_iter().filter(|t| !self.entries.contains_key(t) && chain.transaction(t).is_none()).collect();
        sort::sort(&mut dropped);
        dropped
    }

    /// An owner's coins a payment may spend now: its confirmed outputs not spent in the
    /// mempool, but for coinbases still maturing (they could not go in the next block), and
    /// its unconfirmed outputs not spent in the mempool. Sorted by outpoint.
    pub fn spendable_coins(&self, chain: &ChainState, owner: &PubKeyHash) -> Vec<(OutPoint, TxOut)> {
        let next_height = chain.height().saturating_add(1);
        let maturity = chain.params().coinbase_maturity;
        self.coins_where(chain, owner, |coin| !coin.is_coinbase || next_height.saturating_sub(coin.height) >= maturity)
    }

    /// As [`Mempool::spendable_coins`], maturing coinbases included (what a test crafting a
    /// spend the rules refuse needs).
    pub fn unspent_coins(&self, chain: &ChainState, owner: &PubKeyHash) -> Vec<(OutPoint, TxOut)> {
        self.coins_where(chain, owner, |_| true)
    }

    fn coins_where(
        &self,
        chain: &ChainState,
        owner: &PubKeyHash,
        confirmed_ok: impl Fn(&crate::utxo::Coin) -> bool,
    ) -> Vec<(OutPoint, TxOut)> {
        let mut coins: Vec<(OutPoint, TxOut)> = chain
            .utxos()
            .coins_of(owner)
            .into_iter()
            .filter(|(_, coin)| confirmed_ok(coin))
            .filter(|(op, _)| !self.spenders.contains_key(op))
            .map(|(op, coin)| (op, coin.output))
            .collect();
        for entry in self.entries.values() {
            for (vout, output) in entry.tx.outputs.iter().enumerate() {
                let outpoint = OutPoint { txid: entry.txid, vout: vout as u32 };
                if output.pubkey_hash == *owner && !self.spenders.contains_key(&outpoint) {
                    coins.push((outpoint, *output));
                }
            }
        }
        sort::sort_by_key(&mut coins, |(op, _)| *op);
        coins
    }

    /// What the mempool would change in an owner's balance: (incoming, outgoing).
    pub fn pending(&self, chain: &ChainState, owner: &PubKeyHash) -> (Amount, Amount) {
        let mut incoming = 0u64;
        let mut outgoing = 0u64;
        for entry in self.entries.values() {
            for output in entry.tx.outputs.iter().filter(|o| o.pubkey_hash == *owner) {
                incoming = incoming.saturating_add(output.amount.base_units());
            }
            for input in entry.tx.spends() {
                let spent = chain
                    .utxos()
                    .get(&input.prev_out)
                    .map(|c| c.output)
                    .or_else(|| self.unconfirmed_output(&input.prev_out).map(|(o, _)| o));
                if let Some(output) = spent.filter(|o| o.pubkey_hash == *owner) {
                    outgoing = outgoing.saturating_add(output.amount.base_units());
                }
            }
        }
        (Amount::from_base_units(incoming), Amount::from_base_units(outgoing))
    }

    /// Transactions for a block of at most `max_bytes` and `max_signature_checks` inputs:
    /// highest fee rate first, a transaction only after its unconfirmed parents, so the list
    /// is in an order a block can hold.
    pub fn select_for_block(&self, max_bytes: usize, max_signature_checks: usize) -> Vec<&MempoolEntry> {
        let mut candidates: Vec<&MempoolEntry> = self.entries.values().collect();
        sort::sort_by_key(&mut candidates, |e| (std::cmp::Reverse(e.fee_rate), e.sequence));
        let mut chosen: Vec<&MempoolEntry> = Vec::new();
        let mut included: HashSet<Txid> = HashSet::new();
        let mut bytes = 0usize;
        let mut checks = 0usize;
        loop {
            let mut progress = false;
            for entry in &candidates {
                let inputs = entry.tx.spends().len();
                if included.contains(&entry.txid)
                    || bytes + entry.bytes > max_bytes
                    || checks + inputs > max_signature_checks
                {
                    continue;
                }
                let parents_in = entry
                    .tx
                    .spends()
                    .iter()
                    .all(|i| !self.entries.contains_key(&i.prev_out.txid) || included.contains(&i.prev_out.txid));
                if parents_in {
                    included.insert(entry.txid);
                    bytes += entry.bytes;
                    checks += inputs;
                    chosen.push(entry);
                    progress = true;
                }
            }
            if !progress {
                return chosen;
            }
        }
    }
}
