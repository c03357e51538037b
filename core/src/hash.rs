//! Hash functions and the hash newtypes that keep a txid from being used as a block hash.

use core::fmt;
use core::str::FromStr;

use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 of messages that start with the same prefix: the prefix is absorbed once, each
/// message's digest costs only its suffix.
#[derive(Clone)]
pub struct Sha256Prefixed(Sha256);

impl Sha256Prefixed {
    pub fn new(prefix: &[u8]) -> Self {
        Sha256Prefixed(Sha256::new_with_prefix(prefix))
    }

    /// SHA-256 of the prefix followed by `suffix`.
    pub fn digest_with(&self, suffix: &[u8]) -> [u8; 32] {
        self.0.clone().chain_update(suffix).finalize().into()
    }
}

/// SHA-256 applied twice, as Bitcoin hashes headers, transactions and checksums.
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    sha256(&sha256(data))
}

/// RIPEMD-160 of SHA-256: the hash an address is made of.
pub fn hash160(data: &[u8]) -> [u8; 20] {
    Ripemd160::digest(sha256(data)).into()
}

/// A hex string that could not be read as a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HexError {
    /// The string has the wrong number of characters.
    WrongLength { expected: usize, found: usize },
    /// An odd number of characters.
    OddLength(usize),
    /// A character that is not a hex digit.
    InvalidCharacter(char),
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::WrongLength { expected, found } => {
                write!(f, "expected {expected} hex characters, found {found}")
            }
            HexError::OddLength(n) => {
                write!(f, "hex needs an even number of characters, found {n}")
            }
            HexError::InvalidCharacter(c) => write!(f, "{c:?} is not a hex digit"),
        }
    }
}

impl std::error::Error for HexError {}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

fn hex_digit(b: u8) -> Result<u8, HexError> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(HexError::InvalidCharacter(char::from(b))),
    }
}

/// Bytes of a hex string of any even length.
pub fn from_hex_vec(s: &str) -> Result<Vec<u8>, HexError> {
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(HexError::OddLength(bytes.len()));
    }
    bytes.chunks_exact(2).map(|pair| Ok(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?)).collect()
}

/// Bytes of a hex string of exactly `N` bytes.
pub fn from_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    if s.len() != N * 2 {
        return Err(HexError::WrongLength { expected: N * 2, found: s.len() });
    }
    let bytes = from_hex_vec(s)?;
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// Defines a 32-byte SHA-256d hash newtype. Bytes are kept in the order the hash function
/// produced them (the order on the wire); text shows them reversed, as Bitcoin does.
macro_rules! hash256_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The all-zero hash.
            pub const ZERO: Self = Self([0u8; 32]);

            /// The bytes in wire order.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// SHA-256d of `data`.
            pub fn hash(data: &[u8]) -> Self {
                Self(crate::hash::sha256d(data))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut reversed = self.0;
                reversed.reverse();
                f.write_str(&to_hex(&reversed))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            /// Reads the reversed hex that `Display` writes.
            fn from_str(s: &str) -> Result<Self, HexError> {
                let mut bytes = from_hex::<32>(s)?;
                bytes.reverse();
                Ok(Self(bytes))
            }
        }

        impl crate::encode::Encoding for $name {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.0);
            }
            fn decode_from(r: &mut crate::encode::Reader<'_>) -> Result<Self, crate::encode::DecodeError> {
                Ok(Self(r.array::<32>()?))
            }
        }
    };
}

hash256_newtype!(
    /// The SHA-256d of a block's 80-byte header.
    BlockHash
);
hash256_newtype!(
    /// A transaction's id: SHA-256d of its encoding without signatures, so a signature can not
    /// change it.
    Txid
);
hash256_newtype!(
    /// SHA-256d of a transaction's full encoding, signatures included.
    Wtxid
);
hash256_newtype!(
    /// The root of a Merkle tree of transaction hashes.
    MerkleRoot
);

/// RIPEMD-160(SHA-256(public key)): what an output is locked to and an address encodes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PubKeyHash(pub [u8; 20]);

impl PubKeyHash {
    /// Hash160 of a SEC1 public key's bytes.
    pub fn of_public_key(sec1: &[u8]) -> Self {
        Self(hash160(sec1))
    }
}

impl fmt::Display for PubKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for PubKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PubKeyHash({self})")
    }
}

impl crate::encode::Encoding for PubKeyHash {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn decode_from(r: &mut crate::encode::Reader<'_>) -> Result<Self, crate::encode::DecodeError> {
        Ok(Self(r.array::<20>()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn a_prefixed_digest_is_the_digest_of_the_whole(prefix in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), suffix in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let whole = [prefix.as_slice(), suffix.as_slice()].concat();
            let hasher = Sha256Prefixed::new(&prefix);
            proptest::prop_assert_eq!(hasher.digest_with(&suffix), sha256(&whole));
            // The hasher is reused: the first suffix leaves nothing behind.
            proptest::prop_assert_eq!(hasher.digest_with(&suffix), sha256(&whole));
        }
    }

    #[test]
    fn sha256d_known_answer() {
        // SHA-256d("hello"), a widely published value.
        assert_eq!(to_hex(&sha256d(b"hello")), "9595c9df90075148eb06860365df33584b75bff782a510c6cd4883a419833d50");
    }

    #[test]
    fn hash160_known_answer() {
        // From the Bitcoin wiki's "Technical background of version 1 Bitcoin addresses".
        let key = from_hex::<33>("0250863ad64a87ae8a2fe83c1af1a8403cb53f53e486d8511dad8a04887e5b2352").unwrap();
        assert_eq!(to_hex(&hash160(&key)), "f54a5851e9372b87810a8e60cdd2e7cfd80b6e31");
    }

    #[test]
    fn block_hash_text_is_reversed_and_round_trips() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        let h = BlockHash(bytes);
        let text = h.to_string();
        assert!(text.ends_with("ab"));
        assert_eq!(text.parse::<BlockHash>().unwrap(), h);
    }

    #[test]
    fn bad_hex_is_an_error() {
        assert_eq!("zz".parse::<BlockHash>(), Err(HexError::WrongLength { expected: 64, found: 2 }));
        let s = "g".repeat(64);
        assert!("é".repeat(32).parse::<Txid>().is_err());
        assert_eq!(s.parse::<Txid>(), Err(HexError::InvalidCharacter('g')));
        assert!(from_hex_vec("abc").is_err());
        assert_eq!(from_hex_vec("00ff").unwrap(), vec![0, 255]);
    }
}
