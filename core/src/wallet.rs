//! Wallet keys and payments: a serialisable key set, and building a signed payment from an
//! address's coins, as the seed's `send -from -to -amount`.

use core::fmt;

use crate::address::Address;
use crate::amount::Amount;
use crate::encode::{DecodeError, Encoding, Reader};
use crate::hash::PubKeyHash;
use std::sync::Arc;

use crate::keys::{PublicKey, SecretKey, Signature};
use crate::params::ChainParams;
use crate::sigcheck::SignedMessage;
use crate::sort;
use crate::tx::{OutPoint, Transaction, TxIn, TxInputs, TxOut};

/// Encoding versions of [`KeySet`]: 1 holds private keys alone, 2 each with its public key.
const KEYSET_SECRETS_ONLY: u8 = 1;
const KEYSET_VERSION: u8 = 2;
/// Most keys a stored key set may hold.
pub const MAX_KEYS: usize = 100_000;

/// The keys of a wallet, each with its public key, in creation order. Shells persist its
/// encoding (encrypted at rest if the user chose a passphrase).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<(SecretKey, PublicKey)>,
}

impl KeySet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key made from 32 random bytes the shell supplies; returns its address.
    #[cfg(feature = "ecdsa")]
    pub fn generate(&mut self, entropy: [u8; 32], params: &ChainParams) -> Result<Address, KeySetFull> {
        self.insert(SecretKey::from_entropy(entropy), params)
    }

    /// Adds an existing key (an import); returns its address. A key already present is not
    /// added twice.
    #[cfg(feature = "ecdsa")]
    pub fn insert(&mut self, key: SecretKey, params: &ChainParams) -> Result<Address, KeySetFull> {
        let public = key.public_key();
        self.insert_pair(key, public, params)
    }

    /// As [`KeySet::insert`], with the key's public half worked out by the shell (a browser's
    /// WebCrypto). A wrong one only makes the key's payments fail their own signature check.
    pub fn insert_pair(
        &mut self,
        key: SecretKey,
        public: PublicKey,
        params: &ChainParams,
    ) -> Result<Address, KeySetFull> {
        let address = Address::new(params.address_version, public.pubkey_hash());
        self.add_pair(key, public)?;
        Ok(address)
    }

    /// As [`KeySet::insert_pair`], for a shell that needs no address (a key set being read):
    /// a key set holds keys, not any one network's addresses.
    pub fn add_pair(&mut self, key: SecretKey, public: PublicKey) -> Result<(), KeySetFull> {
        if !self.keys.iter().any(|(k, _)| *k == key) {
            if self.keys.len() >= MAX_KEYS {
                return Err(KeySetFull);
            }
            self.keys.push((key, public));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn addresses(&self, params: &ChainParams) -> Vec<Address> {
        self.keys.iter().map(|(_, public)| Address::new(params.address_version, public.pubkey_hash())).collect()
    }

    /// Adds every key of `other` (an import); returns the addresses added or already here.
    pub fn merge(&mut self, other: &KeySet, params: &ChainParams) -> Result<Vec<Address>, KeySetFull> {
        other.keys.iter().map(|(key, public)| self.insert_pair(key.clone(), *public, params)).collect()
    }

    /// The key paying to `owner`, with its public key.
    pub fn key_for(&self, owner: &PubKeyHash) -> Option<(&SecretKey, PublicKey)> {
        self.keys.iter().find(|(_, public)| public.pubkey_hash() == *owner).map(|(key, public)| (key, *public))
    }

    /// Whether a key set's encoding holds public keys (version 2); one that does not (version 1)
    /// needs them worked out.
    pub fn encoding_holds_public_keys(bytes: &[u8]) -> bool {
        bytes.first() == Some(&KEYSET_VERSION)
    }

    /// A key set's encoding (any version) read as its private keys alone: for a shell that
    /// works out the public keys itself, when [`KeySet::from_bytes`] can not (a version 1 set
    /// in a build without P-256 arithmetic).
    pub fn secret_keys_from_bytes(bytes: &[u8]) -> Result<Vec<SecretKey>, DecodeError> {
        let mut r = Reader::new(bytes);
        let with_public = match r.u8()? {
            KEYSET_SECRETS_ONLY => false,
            KEYSET_VERSION => true,
            _ => return Err(DecodeError::Invalid { what: "key set", reason: "unknown version" }),
        };
        let count = r.list_len("keys", MAX_KEYS, if with_public { 65 } else { 32 })?;
        let mut keys = Vec::with_capacity(count);
        for _ in 0..count {
            keys.push(read_secret_key(&mut r)?);
            if with_public {
                PublicKey::decode_from(&mut r)?;
            }
        }
        r.finish()?;
        Ok(keys)
    }
}

fn read_secret_key(r: &mut Reader<'_>) -> Result<SecretKey, DecodeError> {
    SecretKey::from_bytes(&r.array::<32>()?)
        .map_err(|_| DecodeError::Invalid { what: "private key", reason: "not a valid P-256 scalar" })
}

impl Encoding for KeySet {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(KEYSET_VERSION);
        crate::encode::write_compact_size(out, self.keys.len() as u64);
        for (key, public) in &self.keys {
            out.extend_from_slice(&key.to_bytes());
            public.encode_to(out);
        }
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            KEYSET_VERSION => {
                let count = r.list_len("keys", MAX_KEYS, 65)?;
                let mut keys = Vec::with_capacity(count);
                for _ in 0..count {
                    let (key, public) = (read_secret_key(r)?, PublicKey::decode_from(r)?);
                    // Where the arithmetic is here, a damaged file is caught before its
                    // addresses are handed out (coins sent to them could not be spent).
                    #[cfg(feature = "ecdsa")]
                    if key.public_key() != public {
                        return Err(DecodeError::Invalid {
                            what: "key set",
                            reason: "a public key is not its private key's",
                        });
                    }
                    keys.push((key, public));
                }
                Ok(KeySet { keys })
            }
            #[cfg(feature = "ecdsa")]
            KEYSET_SECRETS_ONLY => {
                let count = r.list_len("keys", MAX_KEYS, 32)?;
                let mut keys = Vec::with_capacity(count);
                for _ in 0..count {
                    let key = read_secret_key(r)?;
                    let public = key.public_key();
                    keys.push((key, public));
                }
                Ok(KeySet { keys })
            }
            #[cfg(not(feature = "ecdsa"))]
            KEYSET_SECRETS_ONLY => Err(DecodeError::Invalid {
                what: "key set",
                reason: "version 1 holds no public keys: they have to be worked out (KeySet::secret_keys_from_bytes)",
            }),
            _ => Err(DecodeError::Invalid { what: "key set", reason: "unknown version" }),
        }
    }
}

/// The key set already holds [`MAX_KEYS`] keys (more could not be stored and read back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySetFull;

impl fmt::Display for KeySetFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the wallet already holds the most keys it can store ({MAX_KEYS})")
    }
}

impl std::error::Error for KeySetFull {}

/// Why a payment could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentError {
    ZeroAmount,
    /// The address's spendable coins do not cover amount plus fee.
    InsufficientFunds {
        available: Amount,
        needed: Amount,
    },
    /// The wallet has no key for the sending address.
    NotOurAddress(Address),
    WrongNetwork {
        expected: u8,
        found: u8,
    },
    /// Amount plus fee is more than can exist.
    TooLarge,
    /// Not one signature per input.
    SignatureCount,
    /// The fee is below what the network relays for a payment of this size.
    FeeTooLow {
        fee: Amount,
        minimum: Amount,
    },
    /// The amount is below the network's dust threshold.
    Dust {
        amount: Amount,
        threshold: Amount,
    },
}

impl fmt::Display for PaymentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaymentError::ZeroAmount => f.write_str("the amount must be more than zero"),
            PaymentError::InsufficientFunds { available, needed } => {
                write!(f, "not enough funds: {available} available, {needed} needed (amount plus fee)")
            }
            PaymentError::NotOurAddress(a) => write!(f, "this wallet holds no key for {a}"),
            PaymentError::WrongNetwork { expected, found } => {
                write!(f, "the address is for another network (version {found}, this network uses {expected})")
            }
            PaymentError::TooLarge => f.write_str("the amount plus fee is more than 21000000 coins"),
            PaymentError::FeeTooLow { fee, minimum } => write!(
                f,
                "the fee {fee} is below this network's minimum of {minimum} for this payment's size; leave the fee \
                 empty (or \"auto\") to pay the minimum"
            ),
            PaymentError::Dust { amount, threshold } => write!(
                f,
                "the amount {amount} is below this network's dust threshold of {threshold}: it would cost more to \
                 spend than it is worth"
            ),
            PaymentError::SignatureCount => f.write_str("the payment needs one signature per input"),
        }
    }
}

impl std::error::Error for PaymentError {}

/// A payment's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentRequest {
    pub from: Address,
    pub to: Address,
    pub amount: Amount,
    pub fee: Amount,
}

/// Which field of a payment typed by a person is wrong, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentInputError {
    BadAddress { field: &'static str, input: String, error: crate::address::AddressError },
    BadAmount { field: &'static str, input: String, error: crate::amount::ParseAmountError },
}

impl fmt::Display for PaymentInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaymentInputError::BadAddress { field, input, error } => {
                write!(f, "{field}: {input:?} is not a valid address: {error}")
            }
            PaymentInputError::BadAmount { field, input, error } => {
                write!(f, "{field}: {input:?} is not a valid amount: {error}")
            }
        }
    }
}

impl std::error::Error for PaymentInputError {}

impl PaymentRequest {
    /// A payment as a person types it (a form, a command line): addresses for `params`'
    /// network, amounts in coins such as `9.5`.
    pub fn parse(
        params: &ChainParams,
        from: &str,
        to: &str,
        amount: &str,
        fee: &str,
    ) -> Result<PaymentRequest, PaymentInputError> {
        let address = |field: &'static str, input: &str| {
            Address::parse(input.trim(), params.address_version).map_err(|error| PaymentInputError::BadAddress {
                field,
                input: input.to_string(),
                error,
            })
        };
        let coins = |field: &'static str, input: &str| {
            input.trim().parse::<Amount>().map_err(|error| PaymentInputError::BadAmount {
                field,
                input: input.to_string(),
                error,
            })
        };
        Ok(PaymentRequest {
            from: address("from", from)?,
            to: address("to", to)?,
            amount: coins("amount", amount)?,
            // Left to the wallet: [`plan_as_typed`] pays the network's minimum instead.
            fee: if fee_left_to_wallet(fee) { Amount::ZERO } else { coins("fee", fee)? },
        })
    }
}

/// Whether a typed fee leaves the choice to the wallet: empty, or "auto".
pub fn fee_left_to_wallet(typed: &str) -> bool {
    let typed = typed.trim();
    typed.is_empty() || typed.eq_ignore_ascii_case("auto")
}

/// Plans a payment as a person typed it ([`PaymentRequest::parse`]): at the network's minimum
/// fee if `fee_typed` leaves the fee to the wallet, else paying exactly the typed fee (refused,
/// saying the minimum, if it is below it).
pub fn plan_as_typed(
    keys: &KeySet,
    params: &ChainParams,
    coins: &[(OutPoint, TxOut)],
    request: &PaymentRequest,
    fee_typed: &str,
) -> Result<UnsignedPayment, PaymentError> {
    if fee_left_to_wallet(fee_typed) {
        plan_payment_with_minimum_fee(keys, params, coins, request)
    } else {
        plan_payment(keys, params, coins, request)
    }
}

/// A payment built but not signed yet: what each input signs, and the key that signs them.
#[derive(Clone, Debug)]
pub struct UnsignedPayment {
    tx: Transaction,
    key: SecretKey,
    messages: Vec<SignedMessage>,
}

impl UnsignedPayment {
    /// The payment, its signatures still zero (its txid is final: it commits to no signature).
    pub fn transaction(&self) -> &Transaction {
        &self.tx
    }

    /// The key that signs every input.
    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    /// What each input signs, in input order: an ECDSA-P256-SHA256 signature over each.
    pub fn messages(&self) -> &[SignedMessage] {
        &self.messages
    }

    /// The payment with `signatures`, one per input in order, each in either S form (a signer
    /// that does not normalise, such as WebCrypto): the low-S one goes in.
    pub fn with_signatures(self, signatures: &[Signature]) -> Result<Transaction, PaymentError> {
        let mut tx = self.tx;
        let TxInputs::Spend(inputs) = &mut tx.inputs else { return Err(PaymentError::SignatureCount) };
        if inputs.len() != signatures.len() {
            return Err(PaymentError::SignatureCount);
        }
        for (input, signature) in inputs.iter_mut().zip(signatures) {
            input.signature = signature.low_s();
        }
        Ok(tx)
    }

    /// Signs with core's P-256 (RFC 6979).
    #[cfg(feature = "ecdsa")]
    pub fn sign(self) -> Transaction {
        let signatures: Vec<Signature> = self.messages.iter().map(|m| self.key.sign_digest(&m.digest())).collect();
        match self.with_signatures(&signatures) {
            Ok(tx) => tx,
            // One signature per message, and one message per input: always the right count.
            Err(_) => unreachable!("a payment is signed with one signature per input"),
        }
    }
}

/// Builds and signs a payment: [`plan_payment`], signed with core's P-256.
#[cfg(feature = "ecdsa")]
pub fn build_payment(
    keys: &KeySet,
    params: &ChainParams,
    coins: &[(OutPoint, TxOut)],
    request: &PaymentRequest,
) -> Result<Transaction, PaymentError> {
    plan_payment(keys, params, coins, request).map(UnsignedPayment::sign)
}

/// Builds a payment from `request.from`'s `coins` (its spendable outputs, e.g. from
/// [`crate::mempool::Mempool::spendable_coins`]): largest coins first until amount plus fee is
/// covered; the change goes back to the sender (change below the dust threshold is added to
/// the fee). The fee must be at least the network's minimum for the payment's size. It is
/// signed next.
pub fn plan_payment(
    keys: &KeySet,
    params: &ChainParams,
    coins: &[(OutPoint, TxOut)],
    request: &PaymentRequest,
) -> Result<UnsignedPayment, PaymentError> {
    let plan = plan_with_fee(keys, params, coins, request)?;
    let minimum = params.min_relay_fee_rate.fee_for(plan.tx.encoded_len());
    if request.fee < minimum {
        return Err(PaymentError::FeeTooLow { fee: request.fee, minimum });
    }
    Ok(plan)
}

/// As [`plan_payment`], paying the least fee the network relays for the payment's size
/// (`request.fee` is ignored): what a wallet does when the user leaves the fee to it.
pub fn plan_payment_with_minimum_fee(
    keys: &KeySet,
    params: &ChainParams,
    coins: &[(OutPoint, TxOut)],
    request: &PaymentRequest,
) -> Result<UnsignedPayment, PaymentError> {
    let mut fee = Amount::ZERO;
    // A higher fee may take another coin, and so more bytes: a few rounds settle it.
    for _ in 0..4 {
        let plan = plan_with_fee(keys, params, coins, &PaymentRequest { fee, ..*request })?;
        let minimum = params.min_relay_fee_rate.fee_for(plan.tx.encoded_len());
        if fee >= minimum {
            return Ok(plan);
        }
        fee = minimum;
    }
    plan_payment(keys, params, coins, &PaymentRequest { fee, ..*request })
}

/// The payment paying exactly `request.fee` (and any change below the dust threshold, which
/// no change output could carry), with no check of the fee against the network's floor.
fn plan_with_fee(
    keys: &KeySet,
    params: &ChainParams,
    coins: &[(OutPoint, TxOut)],
    request: &PaymentRequest,
) -> Result<UnsignedPayment, PaymentError> {
    for address in [&request.from, &request.to] {
        if address.version != params.address_version {
            return Err(PaymentError::WrongNetwork { expected: params.address_version, found: address.version });
        }
    }
    if request.amount == Amount::ZERO {
        return Err(PaymentError::ZeroAmount);
    }
    if request.amount < params.dust_threshold {
        return Err(PaymentError::Dust { amount: request.amount, threshold: params.dust_threshold });
    }
    let (key, pubkey) = keys.key_for(&request.from.pubkey_hash).ok_or(PaymentError::NotOurAddress(request.from))?;
    let needed =
        request.amount.checked_add(request.fee).filter(|n| n.is_valid_money()).ok_or(PaymentError::TooLarge)?;

    let mut ours: Vec<&(OutPoint, TxOut)> =
        coins.iter().filter(|(_, o)| o.pubkey_hash == request.from.pubkey_hash).collect();
    sort::sort_by(&mut ours, |a, b| b.1.amount.cmp(&a.1.amount).then(a.0.cmp(&b.0)));
    let mut chosen = Vec::new();
    let mut total = Amount::ZERO;
    for (outpoint, output) in ours {
        if total >= needed {
            break;
        }
        total = total.checked_add(output.amount).ok_or(PaymentError::TooLarge)?;
        chosen.push((*outpoint, *output));
    }
    if total < needed {
        return Err(PaymentError::InsufficientFunds { available: total, needed });
    }

    let mut outputs = vec![TxOut { amount: request.amount, pubkey_hash: request.to.pubkey_hash }];
    let change = total.saturating_sub(needed);
    // Change below the dust threshold goes to the fee: no output could carry it.
    if change > Amount::ZERO && change >= params.dust_threshold {
        outputs.push(TxOut { amount: change, pubkey_hash: request.from.pubkey_hash });
    }
    let inputs = chosen
        .iter()
        .map(|(outpoint, _)| TxIn { prev_out: *outpoint, pubkey, signature: Signature([0; 64]) })
        .collect();
    let tx = Transaction { version: 1, inputs: TxInputs::Spend(inputs), outputs };
    let amounts: Vec<Amount> = chosen.iter().map(|(_, o)| o.amount).collect();
    let prefix: Arc<[u8]> = Transaction::sighash_prefix(&tx.txid(), &amounts).into();
    let messages = (0..chosen.len() as u32).map(|index| SignedMessage::new(Arc::clone(&prefix), index)).collect();
    Ok(UnsignedPayment { tx, key: key.clone(), messages })
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_typed_payment_names_the_field_that_is_wrong() {
        let params = ChainParams::test();
        let mut keys = KeySet::new();
        let a = keys.generate([1; 32], &params).unwrap().to_string();
        let ok = PaymentRequest::parse(&params, &a, &a, " 9.5 ", "0").unwrap();
        assert_eq!(ok.amount, "9.5".parse().unwrap());
        let main = KeySet::new().generate([1; 32], &ChainParams::main()).unwrap().to_string();
        assert!(matches!(
            PaymentRequest::parse(&params, &a, &main, "1", "0"),
            Err(PaymentInputError::BadAddress { field: "to", .. })
        ));
        assert!(matches!(
            PaymentRequest::parse(&params, "x", &a, "1", "0"),
            Err(PaymentInputError::BadAddress { field: "from", .. })
        ));
        let bad_fee = PaymentRequest::parse(&params, &a, &a, "1", "0.000000001").unwrap_err();
        assert!(matches!(bad_fee, PaymentInputError::BadAmount { field: "fee", .. }));
        assert!(bad_fee.to_string().starts_with("fee: \"0.000000001\" is not a valid amount"), "{bad_fee}");
    }

    use super::*;
    use proptest::prelude::*;

    /// What a shell does: 32 bytes from the OS (or the browser's crypto) make a key.
    /// Main's fee floor and dust threshold, as a wallet meets them: a fee left to the wallet
    /// pays exactly the minimum for the payment's size; a typed fee below it is refused
    /// saying the minimum; an amount below the dust threshold is refused; change too small
    /// for an output goes to the fee.
    #[test]
    fn the_wallet_pays_the_minimum_fee_and_respects_the_dust_threshold() {
        let params = ChainParams::main();
        let mut keys = KeySet::new();
        let from = keys.generate([1; 32], &params).unwrap();
        let to = keys.generate([2; 32], &params).unwrap();
        let coin = |n: u8, amount: u64| {
            (
                OutPoint { txid: crate::hash::Txid([n; 32]), vout: 0 },
                TxOut { amount: Amount::from_base_units(amount), pubkey_hash: from.pubkey_hash },
            )
        };
        let coins = [coin(1, 100_000_000), coin(2, 50_000_000)];
        let request = PaymentRequest::parse(&params, &from.to_string(), &to.to_string(), "1.2", "").unwrap();
        let auto = plan_as_typed(&keys, &params, &coins, &request, "auto").unwrap();
        let bytes = auto.transaction().encoded_len();
        let minimum = params.min_relay_fee_rate.fee_for(bytes);
        let paid: u64 = auto.transaction().outputs.iter().map(|o| o.amount.base_units()).sum();
        assert_eq!(Amount::from_base_units(150_000_000 - paid), minimum, "two inputs: the fee covers both");
        assert_eq!(plan_as_typed(&keys, &params, &coins, &request, "").unwrap().transaction(), auto.transaction());

        let zero = PaymentRequest::parse(&params, &from.to_string(), &to.to_string(), "1.2", "0").unwrap();
        let refused = plan_as_typed(&keys, &params, &coins, &zero, "0").unwrap_err();
        assert_eq!(refused, PaymentError::FeeTooLow { fee: Amount::ZERO, minimum });
        assert!(refused.to_string().contains("auto"), "{refused}");

        let tiny = PaymentRequest { amount: Amount::from_base_units(399), ..request };
        assert!(matches!(plan_as_typed(&keys, &params, &coins, &tiny, ""), Err(PaymentError::Dust { .. })));

        // 1.5 coins less 1.49999700 and a fee of 100 leaves 200 of change: below the threshold,
        // so it goes to the fee and there is no change output.
        let exact = PaymentRequest {
            amount: Amount::from_base_units(149_999_700),
            fee: Amount::from_base_units(100),
            ..request
        };
        let no_change = plan_with_fee(&keys, &params, &coins, &exact).unwrap();
        assert_eq!(no_change.transaction().outputs.len(), 1);
    }

    #[test]
    fn keys_from_os_randomness_are_distinct_and_persist() {
        let params = ChainParams::test();
        let mut keys = KeySet::new();
        for _ in 0..4 {
            let mut entropy = [0u8; 32];
            getrandom::fill(&mut entropy).unwrap();
            keys.generate(entropy, &params).unwrap();
        }
        let addresses = keys.addresses(&params);
        assert_eq!(addresses.len(), 4);
        let mut unique = addresses.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 4);
        assert!(addresses.iter().all(|a| a.to_string().starts_with(['m', 'n'])));
        assert_eq!(KeySet::from_bytes(&keys.to_bytes()).unwrap(), keys);
    }

    #[test]
    fn a_key_is_not_added_twice() {
        let params = ChainParams::main();
        let mut keys = KeySet::new();
        let first = keys.generate([5; 32], &params).unwrap();
        let again = keys.generate([5; 32], &params).unwrap();
        assert_eq!(first, again);
        assert_eq!(keys.len(), 1);
        assert!(first.to_string().starts_with('T'));
    }

    #[test]
    fn a_stored_key_set_with_an_invalid_scalar_is_an_error() {
        let mut bytes = vec![KEYSET_SECRETS_ONLY, 1];
        bytes.extend_from_slice(&[0xff; 32]);
        assert!(matches!(KeySet::from_bytes(&bytes), Err(DecodeError::Invalid { .. })));
        assert!(matches!(KeySet::from_bytes(&[9, 0]), Err(DecodeError::Invalid { .. })));
    }

    /// Key sets stored before public keys were kept (version 1) are read, with the public
    /// keys worked out, and written as version 2; their private keys read alone are the same.
    #[test]
    fn a_key_set_of_private_keys_alone_is_read_and_written_with_public_keys() {
        let params = ChainParams::test();
        let mut keys = KeySet::new();
        keys.generate([1; 32], &params).unwrap();
        keys.generate([2; 32], &params).unwrap();
        let mut old = vec![KEYSET_SECRETS_ONLY, 2];
        for (key, _) in &keys.keys {
            old.extend_from_slice(&key.to_bytes());
        }
        assert_eq!(KeySet::from_bytes(&old).unwrap(), keys);
        let new = keys.to_bytes();
        assert_eq!(new[0], KEYSET_VERSION);
        assert_eq!(new.len(), 2 + 2 * 65);
        let secrets: Vec<SecretKey> = keys.keys.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(KeySet::secret_keys_from_bytes(&old).unwrap(), secrets);
        assert_eq!(KeySet::secret_keys_from_bytes(&new).unwrap(), secrets);
        assert!(KeySet::secret_keys_from_bytes(&new[..new.len() - 1]).is_err());
        let mut damaged = new.clone();
        damaged[2 + 32 + 5] ^= 1;
        assert!(matches!(KeySet::from_bytes(&damaged), Err(DecodeError::Invalid { .. })), "a public key not its key's");
        // A shell that works public keys out itself builds the same set.
        let mut paired = KeySet::new();
        for (key, public) in &keys.keys {
            paired.insert_pair(key.clone(), *public, &params).unwrap();
        }
        assert_eq!(paired, keys);
    }

    /// A payment signed elsewhere, in either S form, is the one core signs.
    #[test]
    fn a_payment_signed_elsewhere_in_either_s_form_is_the_same_payment() {
        let params = ChainParams::test();
        let mut keys = KeySet::new();
        let from = keys.generate([3; 32], &params).unwrap();
        let coins = vec![(
            OutPoint { txid: crate::Txid([7; 32]), vout: 0 },
            TxOut { amount: Amount::from_coins(5).unwrap(), pubkey_hash: from.pubkey_hash },
        )];
        let request = PaymentRequest { from, to: from, amount: Amount::from_coins(1).unwrap(), fee: Amount::ZERO };
        let plan = plan_payment(&keys, &params, &coins, &request).unwrap();
        assert_eq!(plan.messages().len(), 1);
        let signed_here = plan.clone().sign();
        let high: Vec<Signature> =
            plan.messages().iter().map(|m| plan.key().sign_digest(&m.digest()).malleated().unwrap()).collect();
        assert_eq!(plan.clone().with_signatures(&high).unwrap(), signed_here);
        assert_eq!(plan.with_signatures(&[]), Err(PaymentError::SignatureCount));
        assert_eq!(build_payment(&keys, &params, &coins, &request).unwrap(), signed_here);
        let spent = [coins[0].1];
        assert_eq!(signed_here.verify_inputs(&spent), Ok(()));
    }

    proptest! {
        #[test]
        fn key_set_round_trip(seeds in prop::collection::vec(any::<[u8; 32]>(), 0..6)) {
            let params = ChainParams::test();
            let mut keys = KeySet::new();
            for seed in seeds {
                keys.generate(seed, &params).unwrap();
            }
            prop_assert_eq!(KeySet::from_bytes(&keys.to_bytes()).unwrap(), keys);
        }

        #[test]
        fn decoding_random_key_sets_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            let _ = KeySet::from_bytes(&bytes);
        }
    }
}
