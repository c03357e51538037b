//! The relay's wallet file: core's key set, optionally encrypted under a passphrase
//! (PBKDF2-HMAC-SHA256 then AES-256-GCM), written atomically (temporary file, fsync, rename).

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use tabcoin_core::Encoding;
use tabcoin_core::wallet::KeySet;
use tabcoin_core::wallet_file::{DEFAULT_ROUNDS, NONCE_BYTES, SALT_BYTES, Sealed, WalletFile};

#[derive(Debug)]
pub enum WalletError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    Corrupt(String),
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
    let plain = match WalletFile::from_bytes(bytes).map_err(|e| WalletError::Corrupt(e.to_string()))? {
        WalletFile::Plain(keys) => keys,
        WalletFile::Sealed(sealed) => {
            let passphrase = passphrase.ok_or(WalletError::NeedsPassphrase)?;
            let key = derive_key(passphrase, &sealed.salt, sealed.rounds);
            let cipher = Aes256Gcm::new(&key.into());
            let aad = Sealed::associated_data(sealed.rounds, &sealed.salt, &sealed.nonce);
            cipher
                .decrypt(&Nonce::from(sealed.nonce), Payload { msg: &sealed.ciphertext, aad: &aad })
                .map_err(|_| WalletError::WrongPassphrase)?
        }
    };
    KeySet::from_bytes(&plain).map_err(|_| WalletError::Corrupt("the key list does not decode".to_string()))
}

fn encode(keys: &KeySet, passphrase: Option<&str>) -> Result<Vec<u8>, WalletError> {
    encode_with_rounds(keys, passphrase, DEFAULT_ROUNDS)
}

/// The file stores its round count, so tests can use few rounds and files stay readable if
/// the default grows.
fn encode_with_rounds(keys: &KeySet, passphrase: Option<&str>, rounds: u32) -> Result<Vec<u8>, WalletError> {
    let plain = keys.to_bytes();
    let file = match passphrase {
        None => WalletFile::Plain(plain),
        Some(passphrase) => WalletFile::Sealed(seal(&plain, passphrase, rounds, random_bytes()?, random_bytes()?)?),
    };
    Ok(file.to_bytes())
}

fn seal(
    plain: &[u8],
    passphrase: &str,
    rounds: u32,
    salt: [u8; SALT_BYTES],
    nonce: [u8; NONCE_BYTES],
) -> Result<Sealed, WalletError> {
    let key = derive_key(passphrase, &salt, rounds);
    let cipher = Aes256Gcm::new(&key.into());
    let aad = Sealed::associated_data(rounds, &salt, &nonce);
    let ciphertext = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad: &aad })
        .map_err(|_| WalletError::Corrupt("encryption failed".to_string()))?;
    Ok(Sealed { rounds, salt, nonce, ciphertext })
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

    /// A file sealed here that the tab's WebCrypto must open too (web/src/vault.rs holds the
    /// same bytes): the key of `SecretKey::from_entropy([42; 32])`, passphrase "tabcoin",
    /// 1,000 rounds, salt 0x11.., nonce 0x22...
    const SHARED_VECTOR: &str = "544142434f494e570101e80300001111111111111111111111111111111122222222222222222222222200c7f161fbbb7742ba9550c40d8e537a37daa29c6ee185fe9194811f1a6695cc88dac70b4bb6bde915d711df3e4a44c7c1feedfbfece7aeaf71f0f517e24d8a51a2f1872952c7009730f5ce856398ce5314f72";

    /// The same key sealed before key sets kept public keys (version 1): still opens.
    const VERSION_1_VECTOR: &str = "544142434f494e570101e80300001111111111111111111111111111111122222222222222222222222203c7f161fbbb7742ba9550c40d8e537a37daa29c6ee185fe9194811f1a6695cc88da06f9598829f14e11bc1bfc1543a04309";

    #[test]
    fn the_vector_shared_with_the_tab_opens() {
        let mut keys = KeySet::new();
        keys.insert(tabcoin_core::SecretKey::from_entropy([42; 32]), &ChainParams::test()).unwrap();
        let sealed = seal(&keys.to_bytes(), "tabcoin", 1_000, [0x11; 16], [0x22; 12]).unwrap();
        let bytes = WalletFile::Sealed(sealed).to_bytes();
        assert_eq!(tabcoin_core::hash::to_hex(&bytes), SHARED_VECTOR);
        assert_eq!(decode(&bytes, Some("tabcoin")).unwrap(), keys);
        let old = tabcoin_core::hash::from_hex_vec(VERSION_1_VECTOR).unwrap();
        assert_eq!(decode(&old, Some("tabcoin")).unwrap(), keys);
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
        assert!(matches!(decode(&sealed[..20], Some("pw")), Err(WalletError::Corrupt(_))));
    }
}
