//! Wallet keys and payments: a serialisable key set, and building a signed payment from an
//! address's coins, as the seed's `send -from -to -amount`.

use core::fmt;

use crate::address::Address;
use crate::amount::Amount;
use crate::encode::{DecodeError, Encoding, Reader};
use crate::hash::PubKeyHash;
use crate::keys::SecretKey;
use crate::params::ChainParams;
use crate::sort;
use crate::tx::{OutPoint, Transaction, TxIn, TxInputs, TxOut};

/// Encoding version of [`KeySet`].
const KEYSET_VERSION: u8 = 1;
/// Most keys a stored key set may hold.
pub const MAX_KEYS: usize = 100_000;

/// The private keys of a wallet, in creation order. Shells persist its encoding (encrypted at
/// rest if the user chose a passphrase).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<SecretKey>,
}

impl KeySet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key made from 32 random bytes the shell supplies; returns its address.
    pub fn generate(&mut self, entropy: [u8; 32], params: &ChainParams) -> Result<Address, KeySetFull> {
        self.insert(SecretKey::from_entropy(entropy), params)
    }

    /// Adds an existing key (an import); returns its address. A key already present is not
    /// added twice.
    pub fn insert(&mut self, key: SecretKey, params: &ChainParams) -> Result<Address, KeySetFull> {
        let address = Address::new(params.address_version, key.public_key().pubkey_hash());
        if !self.keys.contains(&key) {
            if self.keys.len() >= MAX_KEYS {
                return Err(KeySetFull);
            }
            self.keys.push(key);
        }
        Ok(address)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn addresses(&self, params: &ChainParams) -> Vec<Address> {
        self.keys.iter().map(|k| Address::new(params.address_version, k.public_key().pubkey_hash())).collect()
    }

    /// Adds every key of `other` (an import); returns the addresses added or already here.
    pub fn merge(&mut self, other: &KeySet, params: &ChainParams) -> Result<Vec<Address>, KeySetFull> {
        other.keys.iter().map(|key| self.insert(key.clone(), params)).collect()
    }

    pub fn key_for(&self, owner: &PubKeyHash) -> Option<&SecretKey> {
        self.keys.iter().find(|k| k.public_key().pubkey_hash() == *owner)
    }
}

impl Encoding for KeySet {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(KEYSET_VERSION);
        crate::encode::write_compact_size(out, self.keys.len() as u64);
        for key in &self.keys {
            out.extend_from_slice(&key.to_bytes());
        }
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if r.u8()? != KEYSET_VERSION {
            return Err(DecodeError::Invalid { what: "key set", reason: "unknown version" });
        }
        let count = r.list_len("keys", MAX_KEYS, 32)?;
        let mut keys = Vec::with_capacity(count);
        for _ in 0..count {
            let bytes = r.array::<32>()?;
            let key = SecretKey::from_bytes(&bytes)
                .map_err(|_| DecodeError::Invalid { what: "private key", reason: "not a valid P-256 scalar" })?;
            keys.push(key);
        }
        Ok(KeySet { keys })
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
            fee: coins("fee", fee)?,
        })
    }
}

/// Builds and signs a payment from `request.from`'s `coins` (its spendable outputs, e.g. from
/// [`crate::mempool::Mempool::spendable_coins`]): largest coins first until amount plus fee is
/// covered; the change goes back to the sender.
pub fn build_payment(
    keys: &KeySet,
    params: &ChainParams,
    coins: &[(OutPoint, TxOut)],
    request: &PaymentRequest,
) -> Result<Transaction, PaymentError> {
    for address in [&request.from, &request.to] {
        if address.version != params.address_version {
            return Err(PaymentError::WrongNetwork { expected: params.address_version, found: address.version });
        }
    }
    if request.amount == Amount::ZERO {
        return Err(PaymentError::ZeroAmount);
    }
    let key = keys.key_for(&request.from.pubkey_hash).ok_or(PaymentError::NotOurAddress(request.from))?;
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
    if change > Amount::ZERO {
        outputs.push(TxOut { amount: change, pubkey_hash: request.from.pubkey_hash });
    }
    let inputs = chosen
        .iter()
        .map(|(outpoint, _)| TxIn {
            prev_out: *outpoint,
            pubkey: key.public_key(),
            signature: crate::keys::Signature([0; 64]),
        })
        .collect();
    let mut tx = Transaction { version: 1, inputs: TxInputs::Spend(inputs), outputs };
    let amounts: Vec<Amount> = chosen.iter().map(|(_, o)| o.amount).collect();
    tx.sign_all(key, &amounts);
    Ok(tx)
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
        let mut bytes = vec![KEYSET_VERSION, 1];
        bytes.extend_from_slice(&[0xff; 32]);
        assert!(matches!(KeySet::from_bytes(&bytes), Err(DecodeError::Invalid { .. })));
        assert!(matches!(KeySet::from_bytes(&[9, 0]), Err(DecodeError::Invalid { .. })));
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
