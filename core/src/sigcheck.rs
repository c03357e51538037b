//! Signature checks as independent jobs, so a shell can run them on several threads or Web
//! Workers while core stays single-threaded.
//!
//! For a run of blocks that extend the best tip, [`SignatureBatch::for_blocks`] works out
//! every input's digest (which needs the spent amounts, found in the UTXO set or in earlier
//! transactions of the run) and hands out self-contained [`SignatureJob`]s. The shell verifies
//! them anywhere, in any order, and gives the results back; [`SignatureBatch::verified`] turns
//! them into [`VerifiedTxs`], which [`crate::chain::ChainState::accept_block_verified`] trusts
//! for exactly those transactions spending exactly those outputs, and checks everything else
//! itself.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use crate::block::Block;
use crate::chain::ChainState;
use crate::hash::{Sha256Prefixed, Txid, Wtxid};
use crate::keys::{PublicKey, SecretKey, Signature};
use crate::tx::{OutPoint, Transaction, TxOut};

/// One signature to check: all it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureJob {
    pub pubkey: PublicKey,
    pub message: SignedMessage,
    pub signature: Signature,
}

/// What an input signed: its transaction's sighash prefix, then its index (u32 LE). The
/// signature is over the message's SHA-256. The message rather than the digest, so that a
/// shell can hand it to an ECDSA-P256-SHA256 that hashes for itself (the browser's
/// WebCrypto); the prefix is shared by the jobs of one transaction, so jobs take memory in
/// proportion to the inputs, not to their square (a prefix holds 8 bytes per input).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedMessage {
    prefix: Arc<[u8]>,
    index: u32,
}

impl SignedMessage {
    pub fn new(prefix: Arc<[u8]>, index: u32) -> Self {
        SignedMessage { prefix, index }
    }

    pub fn prefix(&self) -> &Arc<[u8]> {
        &self.prefix
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    /// The message's length in bytes.
    pub fn len(&self) -> usize {
        self.prefix.len() + 4
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The whole message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.len());
        bytes.extend_from_slice(&self.prefix);
        bytes.extend_from_slice(&self.index.to_le_bytes());
        bytes
    }

    /// Its SHA-256: the digest the signature is over.
    pub fn digest(&self) -> [u8; 32] {
        Sha256Prefixed::new(&self.prefix).digest_with(&self.index.to_le_bytes())
    }
}

impl SignatureJob {
    /// `message` signed by `key`: a valid job (how tests and benchmarks make them).
    pub fn signed_by(key: &SecretKey, message: SignedMessage) -> SignatureJob {
        SignatureJob { pubkey: key.public_key(), signature: key.sign_digest(&message.digest()), message }
    }

    /// Checks the job in full: [`SignatureJob::check_form`], then the ECDSA equation.
    pub fn verify(&self) -> bool {
        self.pubkey.verify_digest(&self.message.digest(), &self.signature).is_ok()
    }

    /// The rules a plain ECDSA-P256-SHA256 verification may not apply: a compressed key's
    /// prefix (browsers' WebCrypto takes others), and the signature's own form, low S included
    /// ([`Signature::check_form`]). A shell that checks the equation elsewhere requires this too.
    pub fn check_form(&self) -> bool {
        self.pubkey.is_compressed_sec1() && self.signature.check_form().is_ok()
    }
}

/// The jobs of a run of blocks, and which transaction each belongs to.
#[derive(Clone, Debug, Default)]
pub struct SignatureBatch {
    pub jobs: Vec<SignatureJob>,
    /// Per transaction: its wtxid, the outputs its inputs spend, and its jobs.
    txs: Vec<(Wtxid, Vec<TxOut>, Range<usize>)>,
}

/// Transactions whose every signature was verified against the outputs they spend.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifiedTxs {
    spent: HashMap<Wtxid, Vec<TxOut>>,
}

impl VerifiedTxs {
    /// Transactions (by wtxid) whose signatures were checked against these spent outputs.
    pub(crate) fn from_checked(checked: impl Iterator<Item = (Wtxid, Vec<TxOut>)>) -> VerifiedTxs {
        VerifiedTxs { spent: checked.collect() }
    }

    /// Whether `wtxid`'s signatures were verified against exactly `spent`.
    pub fn covers(&self, wtxid: &Wtxid, spent: &[TxOut]) -> bool {
        self.spent.get(wtxid).is_some_and(|s| s.as_slice() == spent)
    }

    pub fn len(&self) -> usize {
        self.spent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spent.is_empty()
    }
}

impl SignatureBatch {
    /// The jobs for `blocks`, which extend `chain`'s best tip in this order. A transaction whose
    /// inputs can not be found, or whose keys do not own them, gets no jobs: connecting it
    /// checks (and rejects) it in full.
    pub fn for_blocks(chain: &ChainState, blocks: &[Block]) -> SignatureBatch {
        SignatureBatch::for_blocks_after(chain, &[], blocks)
    }

    /// The jobs for `blocks`, which extend `chain`'s best tip after `earlier` (blocks whose own
    /// jobs are out already and that are not connected yet): outputs `earlier` creates count as
    /// spendable. This lets a shell check one run's signatures while the node connects the run
    /// before it.
    pub fn for_blocks_after(chain: &ChainState, earlier: &[Block], blocks: &[Block]) -> SignatureBatch {
        let mut batch = SignatureBatch::default();
        let mut created: HashMap<OutPoint, TxOut> = HashMap::new();
        for tx in earlier.iter().flat_map(|block| &block.txs) {
            let txid = tx.txid();
            for (vout, output) in tx.outputs.iter().enumerate() {
                created.insert(OutPoint { txid, vout: vout as u32 }, *output);
            }
        }
        for block in blocks {
            for tx in &block.txs {
                let txid = tx.txid();
                if !tx.is_coinbase() {
                    let spent: Option<Vec<TxOut>> = tx
                        .spends()
                        .iter()
                        .map(|i| {
                            created
                                .get(&i.prev_out)
                                .copied()
                                .or_else(|| chain.utxos().get(&i.prev_out).map(|c| c.output))
                        })
                        .collect();
                    if let Some(spent) = spent {
                        batch.push(tx, txid, spent);
                    }
                }
                for (vout, output) in tx.outputs.iter().enumerate() {
                    created.insert(OutPoint { txid, vout: vout as u32 }, *output);
                }
            }
        }
        batch
    }

    /// The jobs for one transaction spending `spent` (its inputs' outputs, in order): none if
    /// its keys do not own them, or their count is not its inputs' (checking it in full
    /// rejects it).
    pub fn for_transaction(tx: &Transaction, spent: Vec<TxOut>) -> SignatureBatch {
        let mut batch = SignatureBatch::default();
        batch.push(tx, tx.txid(), spent);
        batch
    }

    fn push(&mut self, tx: &Transaction, txid: Txid, spent: Vec<TxOut>) {
        let inputs = tx.spends();
        let owned = inputs.len() == spent.len()
            && inputs.iter().zip(&spent).all(|(i, o)| i.pubkey.pubkey_hash() == o.pubkey_hash);
        if tx.is_coinbase() || !owned {
            return;
        }
        let amounts: Vec<_> = spent.iter().map(|o| o.amount).collect();
        let prefix: Arc<[u8]> = Transaction::sighash_prefix(&txid, &amounts).into();
        let start = self.jobs.len();
        for (index, input) in inputs.iter().enumerate() {
            self.jobs.push(SignatureJob {
                pubkey: input.pubkey,
                message: SignedMessage::new(Arc::clone(&prefix), index as u32),
                signature: input.signature,
            });
        }
        self.txs.push((tx.wtxid(), spent, start..self.jobs.len()));
    }

    /// The transactions all of whose jobs passed, given one result per job, in job order.
    pub fn verified(self, results: &[bool]) -> VerifiedTxs {
        let spent = self
            .txs
            .into_iter()
            .filter(|(_, _, jobs)| {
                results.get(jobs.clone()).is_some_and(|r| r.len() == jobs.len() && r.iter().all(|ok| *ok))
            })
            .map(|(wtxid, spent, _)| (wtxid, spent))
            .collect();
        VerifiedTxs { spent }
    }
}

/// How a connect treats signatures.
#[derive(Clone, Copy, Debug)]
pub enum SignatureMode<'a> {
    /// Verify every one.
    CheckAll,
    /// Verify none: blocks this node already validated (a reorganisation undone, a rebuild).
    Trusted,
    /// Skip the transactions verified in parallel beforehand; verify the rest.
    Prechecked(&'a VerifiedTxs),
}
