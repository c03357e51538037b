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

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use crate::block::Block;
use crate::chain::ChainState;
use crate::hash::{Sha256Prefixed, Txid, Wtxid};
use crate::keys::{PublicKey, Signature, SignatureError};
use crate::tx::{InputError, OutPoint, Transaction, TxOut};

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
    #[cfg(feature = "ecdsa")]
    pub fn signed_by(key: &crate::keys::SecretKey, message: SignedMessage) -> SignatureJob {
        SignatureJob { pubkey: key.public_key(), signature: key.sign_digest(&message.digest()), message }
    }

    /// Why a signature the shell refused is invalid: its form, if that is at fault (what
    /// [`SignatureJob::verify`] would say), else that the equation failed.
    fn refusal(&self) -> SignatureError {
        if !self.pubkey.is_compressed_sec1() || !self.pubkey.x_in_field() {
            return SignatureError::InvalidPublicKey;
        }
        self.signature.check_form().err().unwrap_or(SignatureError::Refused)
    }

    /// Checks the job in full: [`SignatureJob::check_form`], then the ECDSA equation.
    #[cfg(feature = "ecdsa")]
    pub fn verify(&self) -> bool {
        self.pubkey.verify_digest(&self.message.digest(), &self.signature).is_ok()
    }

    /// The rules a plain ECDSA-P256-SHA256 verification may not apply: a compressed key's
    /// prefix (browsers' WebCrypto takes others) and x in range, and the signature's own form, low S included
    /// ([`Signature::check_form`]). A shell that checks the equation elsewhere requires this too.
    pub fn check_form(&self) -> bool {
        self.pubkey.is_compressed_sec1() && self.pubkey.x_in_field() && self.signature.check_form().is_ok()
    }
}

/// Bytes of an encoded job after its transaction's prefix: key, signature, input index.
pub const JOB_BYTES: usize = 33 + 64 + 4;

fn push_u32(bytes: &mut Vec<u8>, value: usize) {
    // Prefixes are bounded by a block's size and jobs by its inputs: far below 4 GiB.
    bytes.extend_from_slice(&u32::try_from(value).unwrap_or(u32::MAX).to_le_bytes());
}

/// Signature jobs as the bytes a shell posts to its checkers (Web Workers): for each run of
/// jobs sharing a prefix, the prefix's length (u32 LE), the prefix, the number of jobs (u32
/// LE), then each job's key, signature and input index (u32 LE). A prefix goes once, as in
/// memory.
pub fn encode_jobs(jobs: &[SignatureJob]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut rest = jobs;
    while let Some(first) = rest.first() {
        let prefix = first.message.prefix();
        let run = rest.iter().take_while(|job| Arc::ptr_eq(job.message.prefix(), prefix)).count();
        push_u32(&mut bytes, prefix.len());
        bytes.extend_from_slice(prefix);
        push_u32(&mut bytes, run);
        for job in &rest[..run] {
            bytes.extend_from_slice(&job.pubkey.0);
            bytes.extend_from_slice(&job.signature.0);
            bytes.extend_from_slice(&job.message.index().to_le_bytes());
        }
        rest = &rest[run..];
    }
    bytes
}

fn take_u32(bytes: &mut &[u8]) -> Option<usize> {
    let (value, rest) = bytes.split_first_chunk::<4>()?;
    *bytes = rest;
    usize::try_from(u32::from_le_bytes(*value)).ok()
}

/// The jobs [`encode_jobs`] wrote; trailing bytes that make no whole job are ignored.
pub fn decode_jobs(mut bytes: &[u8]) -> Vec<SignatureJob> {
    let mut jobs = Vec::new();
    while let Some(len) = take_u32(&mut bytes) {
        let Some((prefix, rest)) = bytes.split_at_checked(len) else { break };
        let prefix: Arc<[u8]> = prefix.into();
        bytes = rest;
        let Some(count) = take_u32(&mut bytes) else { break };
        for _ in 0..count {
            let Some((job, rest)) = bytes.split_first_chunk::<JOB_BYTES>() else { return jobs };
            bytes = rest;
            let mut pubkey = [0u8; 33];
            let mut signature = [0u8; 64];
            pubkey.copy_from_slice(&job[..33]);
            signature.copy_from_slice(&job[33..97]);
            let index = u32::from_le_bytes([job[97], job[98], job[99], job[100]]);
            jobs.push(SignatureJob {
                pubkey: PublicKey(pubkey),
                message: SignedMessage::new(Arc::clone(&prefix), index),
                signature: Signature(signature),
            });
        }
    }
    jobs
}

/// The jobs of a run of blocks, and which transaction each belongs to.
#[derive(Clone, Debug, Default)]
pub struct SignatureBatch {
    pub jobs: Vec<SignatureJob>,
    /// Per transaction: its wtxid, the outputs its inputs spend, and its jobs.
    txs: Vec<(Wtxid, Vec<TxOut>, Range<usize>)>,
}

/// The shell's answers for transactions, each against the outputs it spends: all its
/// signatures valid, or the first input whose signature is not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifiedTxs {
    checked: HashMap<Wtxid, (Vec<TxOut>, Result<(), BadInput>)>,
}

/// An input whose signature the shell refused, and why as far as core can tell without
/// checking the equation itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadInput {
    pub input: usize,
    pub error: SignatureError,
}

impl VerifiedTxs {
    /// Transactions (by wtxid) whose signatures were all checked valid against these spent
    /// outputs.
    pub(crate) fn from_checked(checked: impl Iterator<Item = (Wtxid, Vec<TxOut>)>) -> VerifiedTxs {
        VerifiedTxs { checked: checked.map(|(wtxid, spent)| (wtxid, (spent, Ok(())))).collect() }
    }

    /// Whether `wtxid`'s signatures were all verified valid against exactly `spent`.
    pub fn covers(&self, wtxid: &Wtxid, spent: &[TxOut]) -> bool {
        self.answer(wtxid, spent) == Some(Ok(()))
    }

    /// The answer for `wtxid` spending exactly `spent`, if it was checked against those.
    pub fn answer(&self, wtxid: &Wtxid, spent: &[TxOut]) -> Option<Result<(), BadInput>> {
        self.checked.get(wtxid).filter(|(s, _)| s.as_slice() == spent).map(|(_, answer)| *answer)
    }

    /// For a connect or an entry that checks no signature itself: `Ok(false)` if `tx`'s
    /// signatures were answered valid against exactly `spent`, `Ok(true)` if they are still to
    /// be checked (its keys own the coins), the error if they do not or one was refused.
    pub(crate) fn settle(&self, tx: &Transaction, spent: &[TxOut]) -> Result<bool, InputError> {
        match self.answer(&tx.wtxid(), spent) {
            Some(Ok(())) => Ok(false),
            Some(Err(BadInput { input, error })) => Err(InputError::BadSignature { input, error }),
            None => tx.check_owners(spent).map(|()| true),
        }
    }

    /// Transactions whose signatures were all valid.
    pub fn len(&self) -> usize {
        self.checked.values().filter(|(_, answer)| answer.is_ok()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    pub(crate) fn push(&mut self, tx: &Transaction, txid: Txid, spent: Vec<TxOut>) {
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

    /// The answers per transaction, given one result per job, in job order (a transaction
    /// some of whose results are missing has none).
    pub fn verified(self, results: &[bool]) -> VerifiedTxs {
        let jobs = self.jobs;
        let checked = self
            .txs
            .into_iter()
            .filter_map(|(wtxid, spent, range)| {
                let answers = results.get(range.clone())?;
                let answer = match answers.iter().position(|ok| !ok) {
                    None => Ok(()),
                    Some(input) => Err(BadInput { input, error: jobs[range.start + input].refusal() }),
                };
                Some((wtxid, (spent, answer)))
            })
            .collect();
        VerifiedTxs { checked }
    }

    /// Whether there is nothing to check.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

/// What an accept that checks no signature itself did: accepted, or nothing yet.
#[derive(Debug)]
pub enum Deferred<T> {
    Accepted(T),
    /// Nothing yet: these signatures have to be checked first.
    NeedsSignatures(SignatureBatch),
}

/// Runs `accept` with [`SignatureMode::Deferred`] over `checked`: `still_pending` is the
/// error it returns when signatures remain, which becomes their jobs.
pub(crate) fn deferred<T, E: PartialEq>(
    checked: &VerifiedTxs,
    still_pending: E,
    accept: impl FnOnce(SignatureMode<'_>) -> Result<T, E>,
) -> Result<Deferred<T>, E> {
    let pending = RefCell::new(SignatureBatch::default());
    match accept(SignatureMode::Deferred { checked, pending: &pending }) {
        Ok(accepted) => Ok(Deferred::Accepted(accepted)),
        Err(error) if error == still_pending => Ok(Deferred::NeedsSignatures(pending.into_inner())),
        Err(error) => Err(error),
    }
}

/// How a connect treats signatures.
#[derive(Clone, Copy, Debug)]
pub enum SignatureMode<'a> {
    /// Verify every one.
    #[cfg(feature = "ecdsa")]
    CheckAll,
    /// Verify none: blocks this node already validated (a reorganisation undone, a rebuild).
    Trusted,
    /// Skip the transactions verified in parallel beforehand; verify the rest.
    #[cfg(feature = "ecdsa")]
    Prechecked(&'a VerifiedTxs),
    /// Verify none here: take the answers in `checked`, and add the jobs of every other
    /// transaction to `pending`. A connect that leaves jobs pending has not happened: the
    /// caller undoes it and asks for those checks.
    Deferred { checked: &'a VerifiedTxs, pending: &'a RefCell<SignatureBatch> },
}
