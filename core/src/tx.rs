//! Transactions: encoding, txid (signatures left out), sighash, signing and verification.

use core::fmt;

use crate::amount::Amount;
use crate::encode::{DecodeError, Encoding, Reader, write_compact_size, write_list, write_var_bytes};
use crate::hash::{MerkleRoot, PubKeyHash, Sha256Prefixed, Txid, Wtxid};
use crate::keys::{PublicKey, Signature, SignatureError};

/// Most inputs or outputs a transaction may declare when decoded (size limits bind earlier).
pub const MAX_TX_LIST_ITEMS: usize = 100_000;
/// Most bytes of free data in a coinbase.
pub const MAX_COINBASE_MESSAGE: usize = 100;

const KIND_SPEND: u8 = 0;
const KIND_COINBASE: u8 = 1;
const OUTPOINT_BYTES: usize = 36;
const TX_IN_BYTES: usize = OUTPOINT_BYTES + 33 + 64;
const TX_OUT_BYTES: usize = 8 + 20;

/// Domain tag at the start of every sighash preimage.
const SIGHASH_TAG: &[u8] = b"tabcoin/sighash/v1";

/// A reference to one output of an earlier transaction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct OutPoint {
    pub txid: Txid,
    pub vout: u32,
}

impl fmt::Display for OutPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.txid, self.vout)
    }
}

/// Coins locked to the owner of the key that hashes to `pubkey_hash`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TxOut {
    pub amount: Amount,
    pub pubkey_hash: PubKeyHash,
}

/// Spends `prev_out` with the key that owns it and a signature over the sighash.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TxIn {
    pub prev_out: OutPoint,
    pub pubkey: PublicKey,
    pub signature: Signature,
}

/// The coinbase's one input: new coins, the block's height (so every coinbase has its own
/// txid), an extra nonce for miners who exhaust the header's nonce, the root of the block's
/// wtxids (so the block hash commits to every signature), and free data.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Coinbase {
    pub height: u32,
    pub extra_nonce: u64,
    pub witness_root: MerkleRoot,
    pub message: Vec<u8>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TxInputs {
    Coinbase(Coinbase),
    Spend(Vec<TxIn>),
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transaction {
    pub version: u32,
    pub inputs: TxInputs,
    pub outputs: Vec<TxOut>,
}

/// Why an input's signature is not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputError {
    /// The key in the input does not hash to the spent output's pubkey hash: someone else's coins.
    KeyMismatch { input: usize },
    /// The signature is invalid for this key and transaction.
    BadSignature { input: usize, error: SignatureError },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::KeyMismatch { input } => {
                write!(f, "input {input}: the key does not own the spent output (its hash differs from the output's)")
            }
            InputError::BadSignature { input, error } => write!(f, "input {input}: {error}"),
        }
    }
}

impl std::error::Error for InputError {}

impl Encoding for OutPoint {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.txid.encode_to(out);
        self.vout.encode_to(out);
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OutPoint { txid: Txid::decode_from(r)?, vout: r.u32()? })
    }
}

impl Encoding for TxOut {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.amount.encode_to(out);
        self.pubkey_hash.encode_to(out);
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TxOut { amount: Amount::decode_from(r)?, pubkey_hash: PubKeyHash::decode_from(r)? })
    }
}

impl Encoding for TxIn {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.prev_out.encode_to(out);
        self.pubkey.encode_to(out);
        self.signature.encode_to(out);
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TxIn {
            prev_out: OutPoint::decode_from(r)?,
            pubkey: PublicKey::decode_from(r)?,
            signature: Signature::decode_from(r)?,
        })
    }
}

impl Transaction {
    /// Appends the encoding, with or without the signatures.
    fn encode_with(&self, out: &mut Vec<u8>, with_signatures: bool) {
        self.version.encode_to(out);
        match &self.inputs {
            TxInputs::Spend(inputs) => {
                out.push(KIND_SPEND);
                write_compact_size(out, inputs.len() as u64);
                for input in inputs {
                    input.prev_out.encode_to(out);
                    input.pubkey.encode_to(out);
                    if with_signatures {
                        input.signature.encode_to(out);
                    }
                }
            }
            TxInputs::Coinbase(cb) => {
                out.push(KIND_COINBASE);
                cb.height.encode_to(out);
                cb.extra_nonce.encode_to(out);
                cb.witness_root.encode_to(out);
                write_var_bytes(out, &cb.message);
            }
        }
        write_list(out, &self.outputs);
    }

    /// SHA-256d of the encoding without signatures: signing does not change it.
    pub fn txid(&self) -> Txid {
        let mut bytes = Vec::with_capacity(self.encoded_len());
        self.encode_with(&mut bytes, false);
        Txid::hash(&bytes)
    }

    /// SHA-256d of the full encoding. The coinbase's is defined as zero (it commits to the rest).
    pub fn wtxid(&self) -> Wtxid {
        if self.is_coinbase() {
            return Wtxid::ZERO;
        }
        Wtxid::hash(&self.to_bytes())
    }

    pub fn is_coinbase(&self) -> bool {
        matches!(self.inputs, TxInputs::Coinbase(_))
    }

    pub fn coinbase(&self) -> Option<&Coinbase> {
        match &self.inputs {
            TxInputs::Coinbase(cb) => Some(cb),
            TxInputs::Spend(_) => None,
        }
    }

    /// The inputs that spend earlier outputs (none for a coinbase).
    pub fn spends(&self) -> &[TxIn] {
        match &self.inputs {
            TxInputs::Spend(inputs) => inputs,
            TxInputs::Coinbase(_) => &[],
        }
    }

    /// Bytes of the full encoding, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        let inputs = match &self.inputs {
            TxInputs::Spend(inputs) => compact_size_len(inputs.len()) + inputs.len() * TX_IN_BYTES,
            TxInputs::Coinbase(cb) => 4 + 8 + 32 + compact_size_len(cb.message.len()) + cb.message.len(),
        };
        4 + 1 + inputs + compact_size_len(self.outputs.len()) + self.outputs.len() * TX_OUT_BYTES
    }

    /// Sum of the outputs, `None` on overflow.
    pub fn output_total(&self) -> Option<Amount> {
        Amount::checked_sum(self.outputs.iter().map(|o| o.amount))
    }

    /// The digest input `index` signs: SHA-256 of [`Transaction::sighash_prefix`] followed by
    /// the index (u32 little-endian). ECDSA over it is ECDSA-P256-SHA256 over that message.
    pub fn sighash(&self, txid: &Txid, spent_amounts: &[Amount], index: usize) -> [u8; 32] {
        Sha256Prefixed::new(&Transaction::sighash_prefix(txid, spent_amounts))
            .digest_with(&(index as u32).to_le_bytes())
    }

    /// What every input signs before its own index: the tag, the txid (which commits to the
    /// version, every outpoint, every public key and every output) and every spent amount.
    /// Shared by all inputs, so checking a transaction's inputs hashes it once, not once each.
    pub fn sighash_prefix(txid: &Txid, spent_amounts: &[Amount]) -> Vec<u8> {
        let mut prefix = Vec::with_capacity(SIGHASH_TAG.len() + 32 + spent_amounts.len() * 8);
        prefix.extend_from_slice(SIGHASH_TAG);
        prefix.extend_from_slice(txid.as_bytes());
        for amount in spent_amounts {
            amount.encode_to(&mut prefix);
        }
        prefix
    }

    /// Signs every input with `key`, given the amounts of the outputs they spend (in input order).
    /// Fills in the input's public key too, so the txid is final before signing.
    #[cfg(feature = "ecdsa")]
    pub fn sign_all(&mut self, key: &crate::keys::SecretKey, spent_amounts: &[Amount]) {
        let pubkey = key.public_key();
        if let TxInputs::Spend(inputs) = &mut self.inputs {
            for input in inputs.iter_mut() {
                input.pubkey = pubkey;
            }
        }
        let sighasher = Sha256Prefixed::new(&Transaction::sighash_prefix(&self.txid(), spent_amounts));
        let digests: Vec<[u8; 32]> =
            (0..self.spends().len()).map(|i| sighasher.digest_with(&(i as u32).to_le_bytes())).collect();
        if let TxInputs::Spend(inputs) = &mut self.inputs {
            for (input, digest) in inputs.iter_mut().zip(&digests) {
                input.signature = key.sign_digest(digest);
            }
        }
    }

    /// Checks that each input's key hashes to the pubkey hash of the output it spends
    /// (`spent[i]` for input `i`): the part of [`Transaction::verify_inputs`] before signatures.
    pub fn check_owners(&self, spent: &[TxOut]) -> Result<(), InputError> {
        let inputs = self.spends();
        let mismatch =
            inputs.iter().zip(spent).position(|(input, prev)| input.pubkey.pubkey_hash() != prev.pubkey_hash);
        match mismatch {
            Some(input) => Err(InputError::KeyMismatch { input }),
            // An input with no spent output to own (callers pass one per input) owns nothing.
            None if spent.len() < inputs.len() => Err(InputError::KeyMismatch { input: spent.len() }),
            None => Ok(()),
        }
    }

    /// Checks every input against the outputs it spends (`spent[i]` for input `i`): the key must
    /// hash to the output's pubkey hash and the signature must be valid and low-S.
    #[cfg(feature = "ecdsa")]
    pub fn verify_inputs(&self, spent: &[TxOut]) -> Result<(), InputError> {
        self.check_owners(spent)?;
        let amounts: Vec<Amount> = spent.iter().map(|o| o.amount).collect();
        let sighasher = Sha256Prefixed::new(&Transaction::sighash_prefix(&self.txid(), &amounts));
        for (index, (input, _)) in self.spends().iter().zip(spent).enumerate() {
            let digest = sighasher.digest_with(&(index as u32).to_le_bytes());
            input
                .pubkey
                .verify_digest(&digest, &input.signature)
                .map_err(|error| InputError::BadSignature { input: index, error })?;
        }
        Ok(())
    }
}

fn compact_size_len(n: usize) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

impl Encoding for Transaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.encode_with(out, true);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u32()?;
        let inputs = match r.u8()? {
            KIND_SPEND => TxInputs::Spend(r.list("inputs", MAX_TX_LIST_ITEMS, TX_IN_BYTES)?),
            KIND_COINBASE => TxInputs::Coinbase(Coinbase {
                height: r.u32()?,
                extra_nonce: r.u64()?,
                witness_root: MerkleRoot::decode_from(r)?,
                message: r.var_bytes("coinbase message bytes", MAX_COINBASE_MESSAGE)?,
            }),
            _ => {
                return Err(DecodeError::Invalid {
                    what: "transaction kind",
                    reason: "must be 0 (spend) or 1 (coinbase)",
                });
            }
        };
        let outputs = r.list("outputs", MAX_TX_LIST_ITEMS, TX_OUT_BYTES)?;
        Ok(Transaction { version, inputs, outputs })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::SecretKey;
    use proptest::prelude::*;

    pub(crate) fn arb_txout() -> impl Strategy<Value = TxOut> {
        (any::<u64>(), any::<[u8; 20]>())
            .prop_map(|(a, h)| TxOut { amount: Amount::from_base_units(a), pubkey_hash: PubKeyHash(h) })
    }

    pub(crate) fn arb_tx() -> impl Strategy<Value = Transaction> {
        let txin =
            (any::<[u8; 32]>(), any::<u32>(), any::<bool>(), any::<[u8; 32]>(), prop::collection::vec(any::<u8>(), 64))
                .prop_map(|(txid, vout, odd, x, sig)| {
                    let mut pubkey = [0u8; 33];
                    pubkey[0] = if odd { 3 } else { 2 };
                    pubkey[1..].copy_from_slice(&x);
                    let mut signature = [0u8; 64];
                    signature.copy_from_slice(&sig);
                    TxIn {
                        prev_out: OutPoint { txid: Txid(txid), vout },
                        pubkey: PublicKey(pubkey),
                        signature: Signature(signature),
                    }
                });
        let coinbase = (
            any::<u32>(),
            any::<u64>(),
            any::<[u8; 32]>(),
            prop::collection::vec(any::<u8>(), 0..=MAX_COINBASE_MESSAGE),
        )
            .prop_map(|(height, extra_nonce, root, message)| {
                TxInputs::Coinbase(Coinbase { height, extra_nonce, witness_root: MerkleRoot(root), message })
            });
        let inputs = prop_oneof![prop::collection::vec(txin, 0..4).prop_map(TxInputs::Spend), coinbase];
        (any::<u32>(), inputs, prop::collection::vec(arb_txout(), 0..4))
            .prop_map(|(version, inputs, outputs)| Transaction { version, inputs, outputs })
    }

    fn signed_spend(key: &SecretKey, spent: &[TxOut], outputs: Vec<TxOut>) -> Transaction {
        let inputs = (0..spent.len())
            .map(|i| TxIn {
                prev_out: OutPoint { txid: Txid([7; 32]), vout: i as u32 },
                pubkey: key.public_key(),
                signature: Signature([0; 64]),
            })
            .collect();
        let mut tx = Transaction { version: 1, inputs: TxInputs::Spend(inputs), outputs };
        let amounts: Vec<Amount> = spent.iter().map(|o| o.amount).collect();
        tx.sign_all(key, &amounts);
        tx
    }

    fn out(coins: u64, owner: &SecretKey) -> TxOut {
        TxOut { amount: Amount::from_coins(coins).unwrap(), pubkey_hash: owner.public_key().pubkey_hash() }
    }

    #[test]
    fn signed_transaction_verifies() {
        let alice = SecretKey::from_entropy([1; 32]);
        let bob = SecretKey::from_entropy([2; 32]);
        let spent = [out(5, &alice), out(6, &alice)];
        let tx = signed_spend(&alice, &spent, vec![out(11, &bob)]);
        assert_eq!(tx.verify_inputs(&spent), Ok(()));
        assert_eq!(tx.encoded_len(), tx.to_bytes().len());
    }

    #[test]
    fn txid_leaves_signatures_out() {
        let alice = SecretKey::from_entropy([1; 32]);
        let spent = [out(5, &alice)];
        let tx = signed_spend(&alice, &spent, vec![out(5, &alice)]);
        let mut other = tx.clone();
        if let TxInputs::Spend(inputs) = &mut other.inputs {
            inputs[0].signature = Signature([9; 64]);
        }
        assert_eq!(tx.txid(), other.txid());
        assert_ne!(tx.wtxid(), other.wtxid());
    }

    /// The seed's flaw: anyone could spend any output. Here a key must hash to the output.
    #[test]
    fn spending_someone_elses_output_with_your_own_key_is_refused() {
        let alice = SecretKey::from_entropy([1; 32]);
        let mallory = SecretKey::from_entropy([3; 32]);
        let alices_coins = [out(10, &alice)];
        let theft = signed_spend(&mallory, &alices_coins, vec![out(10, &mallory)]);
        assert_eq!(theft.verify_inputs(&alices_coins), Err(InputError::KeyMismatch { input: 0 }));
    }

    /// The seed's flaw: outputs could be rewritten after signing. Here the sighash covers them.
    #[test]
    fn changing_an_output_after_signing_is_refused() {
        let alice = SecretKey::from_entropy([1; 32]);
        let bob = SecretKey::from_entropy([2; 32]);
        let mallory = SecretKey::from_entropy([3; 32]);
        let spent = [out(10, &alice)];
        let tx = signed_spend(&alice, &spent, vec![out(1, &bob), out(9, &alice)]);

        let mut redirected = tx.clone();
        redirected.outputs[0].pubkey_hash = mallory.public_key().pubkey_hash();
        assert!(matches!(
            redirected.verify_inputs(&spent),
            Err(InputError::BadSignature { input: 0, error: SignatureError::Mismatch })
        ));

        let mut inflated = tx.clone();
        inflated.outputs[0].amount = Amount::from_coins(2).unwrap();
        assert!(inflated.verify_inputs(&spent).is_err());
    }

    #[test]
    fn signature_commits_to_the_spent_amount() {
        let alice = SecretKey::from_entropy([1; 32]);
        let spent = [out(10, &alice)];
        let tx = signed_spend(&alice, &spent, vec![out(10, &alice)]);
        let lied_about = [out(1, &alice)];
        assert!(tx.verify_inputs(&lied_about).is_err());
    }

    #[test]
    fn swapping_signatures_between_inputs_is_refused() {
        let alice = SecretKey::from_entropy([1; 32]);
        let spent = [out(5, &alice), out(5, &alice)];
        let mut tx = signed_spend(&alice, &spent, vec![out(10, &alice)]);
        if let TxInputs::Spend(inputs) = &mut tx.inputs {
            let first = inputs[0].signature;
            inputs[0].signature = inputs[1].signature;
            inputs[1].signature = first;
        }
        assert!(tx.verify_inputs(&spent).is_err());
    }

    #[test]
    fn unknown_kind_is_a_decode_error() {
        let mut bytes = signed_spend(&SecretKey::from_entropy([1; 32]), &[], vec![]).to_bytes();
        bytes[4] = 2;
        assert!(matches!(Transaction::from_bytes(&bytes), Err(DecodeError::Invalid { .. })));
    }

    proptest! {
        #[test]
        fn round_trip(tx in arb_tx()) {
            let bytes = tx.to_bytes();
            prop_assert_eq!(bytes.len(), tx.encoded_len());
            prop_assert_eq!(Transaction::from_bytes(&bytes).unwrap(), tx);
        }

        #[test]
        fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = Transaction::from_bytes(&bytes);
        }

        #[test]
        fn decoding_truncated_transactions_fails_cleanly(tx in arb_tx(), cut in any::<prop::sample::Index>()) {
            let bytes = tx.to_bytes();
            let cut = cut.index(bytes.len());
            prop_assert!(Transaction::from_bytes(&bytes[..cut]).is_err());
        }
    }
}
