//! Addresses: Base58Check of a version byte and a public key hash, as Bitcoin's P2PKH.

use core::fmt;

use crate::hash::{PubKeyHash, sha256d};

/// Where coins are sent: a network's version byte and the hash of the owner's public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Address {
    pub version: u8,
    pub pubkey_hash: PubKeyHash,
}

/// Why a string is not an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressError {
    Empty,
    /// A character outside the Base58 alphabet (which has no 0, O, I or l).
    InvalidCharacter {
        character: char,
        index: usize,
    },
    /// Decoded to the wrong number of bytes.
    WrongLength {
        found: usize,
    },
    /// The last 4 bytes do not match: most likely a typo.
    BadChecksum,
    /// A valid address of another network.
    WrongNetwork {
        expected: u8,
        found: u8,
    },
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Empty => f.write_str("the address is empty"),
            AddressError::InvalidCharacter { character, index } => {
                write!(f, "{character:?} at position {} can not appear in an address", index + 1)
            }
            AddressError::WrongLength { found } => {
                write!(f, "the address decodes to {found} bytes, not 25")
            }
            AddressError::BadChecksum => f.write_str("the address checksum does not match (is there a typo?)"),
            AddressError::WrongNetwork { expected, found } => {
                write!(f, "the address is for another network (version {found}, this network uses {expected})")
            }
        }
    }
}

impl std::error::Error for AddressError {}

const PAYLOAD_BYTES: usize = 21;
const ENCODED_BYTES: usize = PAYLOAD_BYTES + 4;

impl Address {
    pub fn new(version: u8, pubkey_hash: PubKeyHash) -> Self {
        Address { version, pubkey_hash }
    }

    /// Reads any well-formed address, of whatever network.
    pub fn parse_any(s: &str) -> Result<Address, AddressError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        let bytes = bs58::decode(s).into_vec().map_err(|e| match e {
            bs58::decode::Error::InvalidCharacter { character, index } => {
                AddressError::InvalidCharacter { character, index }
            }
            // Other errors concern output buffers we do not use; report the first bad position.
            _ => AddressError::WrongLength { found: 0 },
        })?;
        if bytes.len() != ENCODED_BYTES {
            return Err(AddressError::WrongLength { found: bytes.len() });
        }
        let (payload, checksum) = bytes.split_at(PAYLOAD_BYTES);
        if sha256d(payload)[..4] != *checksum {
            return Err(AddressError::BadChecksum);
        }
        let mut hash = [0u8; 20];
        hash.copy_from_slice(&payload[1..]);
        Ok(Address { version: payload[0], pubkey_hash: PubKeyHash(hash) })
    }

    /// Reads an address of the network whose version byte is `version`.
    pub fn parse(s: &str, version: u8) -> Result<Address, AddressError> {
        let address = Address::parse_any(s)?;
        if address.version != version {
            return Err(AddressError::WrongNetwork { expected: version, found: address.version });
        }
        Ok(address)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(ENCODED_BYTES);
        bytes.push(self.version);
        bytes.extend_from_slice(&self.pubkey_hash.0);
        let checksum = sha256d(&bytes);
        bytes.extend_from_slice(&checksum[..4]);
        f.write_str(&bs58::encode(bytes).into_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::from_hex;
    use proptest::prelude::*;

    /// Known answers from Bitcoin (version 0 is its mainnet P2PKH).
    const VECTORS: [(&str, &str); 3] = [
        ("f54a5851e9372b87810a8e60cdd2e7cfd80b6e31", "1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAs"),
        ("62e907b15cbf27d5425399ebf6f0fb50ebb88f18", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        ("0000000000000000000000000000000000000000", "1111111111111111111114oLvT2"),
    ];

    #[test]
    fn bitcoin_address_vectors() {
        for (hash, text) in VECTORS {
            let address = Address::new(0, PubKeyHash(from_hex::<20>(hash).unwrap()));
            assert_eq!(address.to_string(), text);
            assert_eq!(Address::parse(text, 0).unwrap(), address);
        }
    }

    #[test]
    fn malformed_addresses_are_typed_errors() {
        assert_eq!(Address::parse_any(""), Err(AddressError::Empty));
        assert_eq!(
            Address::parse_any("1PMycacnJaSqwwJqjawXBErnLsZ7RkXUA0"),
            Err(AddressError::InvalidCharacter { character: '0', index: 33 })
        );
        assert_eq!(Address::parse_any("1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAt"), Err(AddressError::BadChecksum));
        assert_eq!(Address::parse_any("1PMycacn"), Err(AddressError::WrongLength { found: 6 }));
        assert_eq!(
            Address::parse("1PMycacnJaSqwwJqjawXBErnLsZ7RkXUAs", 0x41),
            Err(AddressError::WrongNetwork { expected: 0x41, found: 0 })
        );
    }

    proptest! {
        #[test]
        fn round_trip(version in any::<u8>(), hash in any::<[u8; 20]>()) {
            let address = Address::new(version, PubKeyHash(hash));
            prop_assert_eq!(Address::parse_any(&address.to_string()).unwrap(), address);
        }

        #[test]
        fn parsing_junk_never_panics(s in "\\PC{0,60}") {
            let _ = Address::parse_any(&s);
        }
    }
}
