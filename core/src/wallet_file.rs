//! The wallet file's container, shared by the relay (RustCrypto) and the tab (WebCrypto), so
//! that keys exported from one can be imported into the other. The cryptography is the shells':
//! PBKDF2-HMAC-SHA256 over the passphrase and salt gives a 256-bit key for AES-GCM, whose
//! additional data is everything before the ciphertext.
//!
//! ```text
//! "TABCOINW" | version 1 | kind 0 | KeySet encoding                      (plain)
//! "TABCOINW" | version 1 | kind 1 | rounds u32 LE | salt 16 | nonce 12 | AES-GCM(KeySet) + tag
//! ```

use core::fmt;

pub const MAGIC: &[u8; 8] = b"TABCOINW";
pub const FORMAT_VERSION: u8 = 1;
const PLAIN: u8 = 0;
const ENCRYPTED: u8 = 1;
/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ROUNDS: u32 = 600_000;
pub const SALT_BYTES: usize = 16;
pub const NONCE_BYTES: usize = 12;
/// AES-GCM's tag, appended to the ciphertext.
pub const TAG_BYTES: usize = 16;
const HEADER_BYTES: usize = MAGIC.len() + 2;

/// The key set, in the clear or sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalletFile {
    /// A [`crate::wallet::KeySet`] encoding.
    Plain(Vec<u8>),
    Sealed(Sealed),
}

/// An encrypted key set and what it takes to open it (besides the passphrase).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub rounds: u32,
    pub salt: [u8; SALT_BYTES],
    pub nonce: [u8; NONCE_BYTES],
    /// AES-GCM output: ciphertext then tag.
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// The additional data AES-GCM authenticates: the file's bytes before the ciphertext.
    pub fn associated_data(rounds: u32, salt: &[u8; SALT_BYTES], nonce: &[u8; NONCE_BYTES]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + 4 + SALT_BYTES + NONCE_BYTES);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.push(ENCRYPTED);
        out.extend_from_slice(&rounds.to_le_bytes());
        out.extend_from_slice(salt);
        out.extend_from_slice(nonce);
        out
    }
}

/// Why bytes are not a wallet file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalletFileError {
    NotAWallet,
    UnknownVersion(u8),
    UnknownKind(u8),
    Truncated,
    /// Fewer rounds than anyone should use: a file made to be cracked.
    TooFewRounds(u32),
}

impl fmt::Display for WalletFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalletFileError::NotAWallet => f.write_str("it is not a tabcoin wallet file"),
            WalletFileError::UnknownVersion(v) => write!(f, "unknown wallet file version {v}"),
            WalletFileError::UnknownKind(k) => write!(f, "unknown wallet file kind {k}"),
            WalletFileError::Truncated => f.write_str("the wallet file is truncated"),
            WalletFileError::TooFewRounds(r) => write!(f, "the wallet file asks for only {r} key derivation rounds"),
        }
    }
}

impl std::error::Error for WalletFileError {}

/// The least number of PBKDF2 rounds a file may ask for.
pub const MIN_ROUNDS: u32 = 1_000;

impl WalletFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            WalletFile::Plain(keys) => {
                let mut out = Vec::with_capacity(HEADER_BYTES + keys.len());
                out.extend_from_slice(MAGIC);
                out.push(FORMAT_VERSION);
                out.push(PLAIN);
                out.extend_from_slice(keys);
                out
            }
            WalletFile::Sealed(sealed) => {
                let mut out = Sealed::associated_data(sealed.rounds, &sealed.salt, &sealed.nonce);
                out.extend_from_slice(&sealed.ciphertext);
                out
            }
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<WalletFile, WalletFileError> {
        if bytes.len() < HEADER_BYTES || &bytes[..MAGIC.len()] != MAGIC {
            return Err(WalletFileError::NotAWallet);
        }
        if bytes[MAGIC.len()] != FORMAT_VERSION {
            return Err(WalletFileError::UnknownVersion(bytes[MAGIC.len()]));
        }
        let body = &bytes[HEADER_BYTES..];
        match bytes[MAGIC.len() + 1] {
            PLAIN => Ok(WalletFile::Plain(body.to_vec())),
            ENCRYPTED => {
                if body.len() < 4 + SALT_BYTES + NONCE_BYTES + TAG_BYTES {
                    return Err(WalletFileError::Truncated);
                }
                let rounds = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                if rounds < MIN_ROUNDS {
                    return Err(WalletFileError::TooFewRounds(rounds));
                }
                let mut salt = [0u8; SALT_BYTES];
                salt.copy_from_slice(&body[4..4 + SALT_BYTES]);
                let mut nonce = [0u8; NONCE_BYTES];
                nonce.copy_from_slice(&body[4 + SALT_BYTES..4 + SALT_BYTES + NONCE_BYTES]);
                let ciphertext = body[4 + SALT_BYTES + NONCE_BYTES..].to_vec();
                Ok(WalletFile::Sealed(Sealed { rounds, salt, nonce, ciphertext }))
            }
            kind => Err(WalletFileError::UnknownKind(kind)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn wallet_files_round_trip(keys in prop::collection::vec(any::<u8>(), 0..200), rounds in MIN_ROUNDS.., salt in any::<[u8; 16]>(), nonce in any::<[u8; 12]>(), sealed in prop::collection::vec(any::<u8>(), 16..200)) {
            let plain = WalletFile::Plain(keys);
            prop_assert_eq!(WalletFile::from_bytes(&plain.to_bytes()).unwrap(), plain);
            let file = WalletFile::Sealed(Sealed { rounds, salt, nonce, ciphertext: sealed });
            prop_assert_eq!(WalletFile::from_bytes(&file.to_bytes()).unwrap(), file);
        }

        #[test]
        fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            let _ = WalletFile::from_bytes(&bytes);
        }
    }

    #[test]
    fn damaged_files_say_what_is_wrong() {
        assert_eq!(WalletFile::from_bytes(b"hello"), Err(WalletFileError::NotAWallet));
        assert_eq!(WalletFile::from_bytes(b"TABCOINW\x02\x00"), Err(WalletFileError::UnknownVersion(2)));
        assert_eq!(WalletFile::from_bytes(b"TABCOINW\x01\x07"), Err(WalletFileError::UnknownKind(7)));
        assert_eq!(WalletFile::from_bytes(b"TABCOINW\x01\x01\x00"), Err(WalletFileError::Truncated));
        let weak = Sealed { rounds: 10, salt: [0; 16], nonce: [0; 12], ciphertext: vec![0; 16] };
        assert_eq!(
            WalletFile::from_bytes(&WalletFile::Sealed(weak).to_bytes()),
            Err(WalletFileError::TooFewRounds(10))
        );
    }
}
