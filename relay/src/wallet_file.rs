//! The relay's wallet file: core's key set, optionally encrypted under a passphrase
//! (PBKDF2-HMAC-SHA256 then AES-256-GCM), written atomically (temporary file, fsync, rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use tabcoin_core::Encoding;
use tabcoin_core::wallet::KeySet;

const MAGIC: &[u8; 8] = b"TABCOINW";
const FORMAT_VERSION: u8 = 1;
const PLAIN: u8 = 0;
const ENCRYPTED: u8 = 1;
/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
const PBKDF2_ROUNDS: u32 = 600_000;
const SALT_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;

#[derive(Debug)]
pub enum WalletError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    Corrupt(&'static str),
    /// The file is encrypted and no passphrase was given.
    NeedsPassphrase,
    WrongPassphrase,
    Random(String),
}

impl std::fmt::Display for WalletError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalletError::Io { path, error } => write!(f, "wallet file {}: {error}", path.display()),
            WalletError::Corrupt(why) => write!(f, "the wallet file is damaged: {why}"),
            WalletError::NeedsPassphrase => {
                f.write_str("the wallet is encrypted: set TABCOIN_PASSPHRASE to its passphrase")
            }
            WalletError::WrongPassphrase => f.write_str("wrong wallet passphrase"),
            WalletError::Random(e) => write!(f, "no randomness from the system: {e}"),
        }
    }
}

impl std::error::Error for WalletError {}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], WalletError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| WalletError::Random(e.to_string()))?;
    Ok(bytes)
}

fn derive_key(passphrase: &str, salt: &[u8], rounds: u32) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase.as_bytes(), salt, rounds, &mut key);
    key
}

/// Reads the key set at `path`; a missing file is an empty key set.
pub fn load(path: &Path, passphrase: Option<&str>) -> Result<KeySet, WalletError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(KeySet::new()),
        Err(error) => return Err(WalletError::Io { path: path.to_path_buf(), error }),
    };
    decode(&bytes, passphrase)
}

fn decode(bytes: &[u8], passphrase: Option<&str>) -> Result<KeySet, WalletError> {
    let header_len = MAGIC.len() + 2;
    if bytes.len() < header_len || &bytes[..MAGIC.len()] != MAGIC {
        return Err(WalletError::Corrupt("it is not a tabcoin wallet"));
    }
    if bytes[MAGIC.len()] != FORMAT_VERSION {
        return Err(WalletError::Corrupt("unknown format version"));
    }
    let body = &bytes[header_len..];
    let plain = match bytes[MAGIC.len() + 1] {
        PLAIN => body.to_vec(),
        ENCRYPTED => {
            let passphrase = passphrase.ok_or(WalletError::NeedsPassphrase)?;
            if body.len() < 4 + SALT_BYTES + NONCE_BYTES {
                return Err(WalletError::Corrupt("truncated"));
            }
            let (rounds, rest) = body.split_at(4);
            let rounds = u32::from_le_bytes([rounds[0], rounds[1], rounds[2], rounds[3]]);
            let (salt, rest) = rest.split_at(SALT_BYTES);
            let (nonce, sealed) = rest.split_at(NONCE_BYTES);
            let key = derive_key(passphrase, salt, rounds);
            let cipher = Aes256Gcm::new(&key.into());
            let aad = &bytes[..header_len + 4 + SALT_BYTES + NONCE_BYTES];
            let nonce = Nonce::try_from(nonce).map_err(|_| WalletError::Corrupt("bad nonce"))?;
            cipher.decrypt(&nonce, Payload { msg: sealed, aad }).map_err(|_| WalletError::WrongPassphrase)?
        }
        _ => return Err(WalletError::Corrupt("unknown kind")),
    };
    KeySet::from_bytes(&plain).map_err(|_| WalletError::Corrupt("the key list does not decode"))
}

fn encode(keys: &KeySet, passphrase: Option<&str>) -> Result<Vec<u8>, WalletError> {
    encode_with_rounds(keys, passphrase, PBKDF2_ROUNDS)
}

/// The file stores its round count, so tests can use few rounds and files stay readable if
/// the default grows.
fn encode_with_rounds(keys: &KeySet, passphrase: Option<&str>, rounds: u32) -> Result<Vec<u8>, WalletError> {
    let mut out = MAGIC.to_vec();
    out.push(FORMAT_VERSION);
    let plain = keys.to_bytes();
    match passphrase {
        None => {
            out.push(PLAIN);
            out.extend_from_slice(&plain);
        }
        Some(passphrase) => {
            out.push(ENCRYPTED);
            let salt: [u8; SALT_BYTES] = random_bytes()?;
            let nonce: [u8; NONCE_BYTES] = random_bytes()?;
            out.extend_from_slice(&rounds.to_le_bytes());
            out.extend_from_slice(&salt);
            out.extend_from_slice(&nonce);
            let key = derive_key(passphrase, &salt, rounds);
            let cipher = Aes256Gcm::new(&key.into());
            let sealed = cipher
                .encrypt(&Nonce::from(nonce), Payload { msg: &plain, aad: &out })
                .map_err(|_| WalletError::Corrupt("encryption failed"))?;
            out.extend_from_slice(&sealed);
        }
    }
    Ok(out)
}

/// Writes `keys` to `path` so that a crash leaves either the old file or the new one.
pub fn save(path: &Path, keys: &KeySet, passphrase: Option<&str>) -> Result<(), WalletError> {
    let bytes = encode(keys, passphrase)?;
    let io = |error| WalletError::Io { path: path.to_path_buf(), error };
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io)?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        // The rename itself is durable once the directory is synced.
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tabcoin_core::ChainParams;

    /// Few rounds: the default's 600,000 take seconds in an unoptimised test build.
    const TEST_ROUNDS: u32 = 1_000;

    fn keys() -> KeySet {
        let mut keys = KeySet::new();
        keys.generate([5; 32], &ChainParams::test()).unwrap();
        keys.generate([6; 32], &ChainParams::test()).unwrap();
        keys
    }

    #[test]
    fn a_plain_wallet_round_trips() {
        assert_eq!(decode(&encode(&keys(), None).unwrap(), None).unwrap(), keys());
    }

    #[test]
    fn an_encrypted_wallet_needs_its_passphrase() {
        let sealed = encode_with_rounds(&keys(), Some("correct horse"), TEST_ROUNDS).unwrap();
        assert!(!sealed.windows(32).any(|w| keys().to_bytes().windows(32).any(|k| k == w)), "no key in the clear");
        assert_eq!(decode(&sealed, Some("correct horse")).unwrap(), keys());
        assert!(matches!(decode(&sealed, None), Err(WalletError::NeedsPassphrase)));
        assert!(matches!(decode(&sealed, Some("wrong")), Err(WalletError::WrongPassphrase)));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(decode(&tampered, Some("correct horse")), Err(WalletError::WrongPassphrase)));
    }

    #[test]
    fn damaged_files_are_reported_not_trusted() {
        assert!(matches!(decode(b"not a wallet", None), Err(WalletError::Corrupt(_))));
        let mut plain = encode(&keys(), None).unwrap();
        plain.truncate(plain.len() - 3);
        assert!(matches!(decode(&plain, None), Err(WalletError::Corrupt(_))));
        let sealed = encode_with_rounds(&keys(), Some("pw"), TEST_ROUNDS).unwrap();
        assert!(matches!(decode(&sealed[..20], Some("pw")), Err(WalletError::Corrupt("truncated"))));
    }
}
