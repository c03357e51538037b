//! Keys at rest under a passphrase, with the browser's WebCrypto: PBKDF2-HMAC-SHA256 then
//! AES-256-GCM, in core's wallet file container, so that a file the tab exports opens in the
//! relay's CLI and the other way round.

use std::fmt;

use js_sys::{Array, ArrayBuffer, Object, Reflect, Uint8Array};
use tabcoin_core::wallet_file::{DEFAULT_ROUNDS, NONCE_BYTES, SALT_BYTES, Sealed, WalletFile, WalletFileError};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VaultError {
    Corrupt(WalletFileError),
    /// The keys are encrypted and no passphrase was given.
    NeedsPassphrase,
    WrongPassphrase,
    /// No WebCrypto here (it needs a secure context: https, or http on localhost).
    NoCrypto(String),
}

impl fmt::Display for VaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultError::Corrupt(e) => e.fmt(f),
            VaultError::NeedsPassphrase => f.write_str("the keys are encrypted: enter the passphrase"),
            VaultError::WrongPassphrase => f.write_str("wrong passphrase"),
            VaultError::NoCrypto(e) => write!(f, "no WebCrypto here: {e}"),
        }
    }
}

impl std::error::Error for VaultError {}

fn no_crypto(error: JsValue) -> VaultError {
    VaultError::NoCrypto(error.as_string().unwrap_or_else(|| format!("{error:?}")))
}

fn subtle() -> Result<SubtleCrypto, VaultError> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).map_err(no_crypto)?;
    let crypto: web_sys::Crypto =
        crypto.dyn_into().map_err(|_| VaultError::NoCrypto("this page has no crypto object".to_string()))?;
    Ok(crypto.subtle())
}

fn object(fields: &[(&str, &JsValue)]) -> Result<Object, VaultError> {
    let object = Object::new();
    for (name, value) in fields {
        Reflect::set(&object, &JsValue::from_str(name), value).map_err(no_crypto)?;
    }
    Ok(object)
}

async fn aes_key(subtle: &SubtleCrypto, passphrase: &str, salt: &[u8], rounds: u32) -> Result<CryptoKey, VaultError> {
    let derive: JsValue = Array::of1(&"deriveBits".into()).into();
    let raw = Uint8Array::from(passphrase.as_bytes());
    let pbkdf2 = object(&[("name", &"PBKDF2".into())])?;
    let base = subtle.import_key_with_object("raw", &raw, &pbkdf2, false, &derive).map_err(no_crypto)?;
    let base: CryptoKey = JsFuture::from(base).await.map_err(no_crypto)?.unchecked_into();
    let params = object(&[
        ("name", &"PBKDF2".into()),
        ("salt", &Uint8Array::from(salt).into()),
        ("iterations", &JsValue::from(rounds)),
        ("hash", &"SHA-256".into()),
    ])?;
    let bits = subtle.derive_bits_with_object(&params, &base, 256).map_err(no_crypto)?;
    let bits: ArrayBuffer = JsFuture::from(bits).await.map_err(no_crypto)?.unchecked_into();
    let usages: JsValue = Array::of2(&"encrypt".into(), &"decrypt".into()).into();
    let aes = object(&[("name", &"AES-GCM".into())])?;
    let key = subtle.import_key_with_object("raw", &bits, &aes, false, &usages).map_err(no_crypto)?;
    Ok(JsFuture::from(key).await.map_err(no_crypto)?.unchecked_into())
}

fn gcm_params(nonce: &[u8], aad: &[u8]) -> Result<Object, VaultError> {
    object(&[
        ("name", &"AES-GCM".into()),
        ("iv", &Uint8Array::from(nonce).into()),
        ("additionalData", &Uint8Array::from(aad).into()),
        ("tagLength", &JsValue::from(128)),
    ])
}

/// Seals a key set's encoding under `passphrase` (fresh salt and nonce; the default rounds).
pub async fn seal(plain: &[u8], passphrase: &str) -> Result<Vec<u8>, VaultError> {
    let mut salt = [0u8; SALT_BYTES];
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut salt).map_err(|e| VaultError::NoCrypto(e.to_string()))?;
    getrandom::fill(&mut nonce).map_err(|e| VaultError::NoCrypto(e.to_string()))?;
    let subtle = subtle()?;
    let key = aes_key(&subtle, passphrase, &salt, DEFAULT_ROUNDS).await?;
    let aad = Sealed::associated_data(DEFAULT_ROUNDS, &salt, &nonce);
    let sealed = subtle.encrypt_with_object_and_u8_array(&gcm_params(&nonce, &aad)?, &key, plain).map_err(no_crypto)?;
    let sealed = Uint8Array::new(&JsFuture::from(sealed).await.map_err(no_crypto)?).to_vec();
    Ok(WalletFile::Sealed(Sealed { rounds: DEFAULT_ROUNDS, salt, nonce, ciphertext: sealed }).to_bytes())
}

/// The key set's encoding in a wallet file (sealed or not).
pub async fn unseal(file: &[u8], passphrase: Option<&str>) -> Result<Vec<u8>, VaultError> {
    match WalletFile::from_bytes(file).map_err(VaultError::Corrupt)? {
        WalletFile::Plain(keys) => Ok(keys),
        WalletFile::Sealed(sealed) => {
            let passphrase = passphrase.ok_or(VaultError::NeedsPassphrase)?;
            let subtle = subtle()?;
            let key = aes_key(&subtle, passphrase, &sealed.salt, sealed.rounds).await?;
            let aad = Sealed::associated_data(sealed.rounds, &sealed.salt, &sealed.nonce);
            let opened = subtle
                .decrypt_with_object_and_u8_array(&gcm_params(&sealed.nonce, &aad)?, &key, &sealed.ciphertext)
                .map_err(no_crypto)?;
            // WebCrypto rejects with an OperationError when the tag does not match.
            let opened = JsFuture::from(opened).await.map_err(|_| VaultError::WrongPassphrase)?;
            Ok(Uint8Array::new(&opened).to_vec())
        }
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use tabcoin_core::wallet::KeySet;
    use tabcoin_core::{ChainParams, Encoding, SecretKey};
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    /// Sealed by the relay's RustCrypto code (relay/src/wallet_file.rs holds the same bytes):
    /// the key of `SecretKey::from_entropy([42; 32])`, passphrase "tabcoin", 1,000 rounds.
    const SHARED_VECTOR: &str = "544142434f494e570101e80300001111111111111111111111111111111122222222222222222222222200c7f161fbbb7742ba9550c40d8e537a37daa29c6ee185fe9194811f1a6695cc88dac70b4bb6bde915d711df3e4a44c7c1feedfbfece7aeaf71f0f517e24d8a51a2f1872952c7009730f5ce856398ce5314f72";

    /// The same key sealed before key sets kept public keys (version 1).
    const VERSION_1_VECTOR: &str = "544142434f494e570101e80300001111111111111111111111111111111122222222222222222222222203c7f161fbbb7742ba9550c40d8e537a37daa29c6ee185fe9194811f1a6695cc88da06f9598829f14e11bc1bfc1543a04309";

    fn keys() -> KeySet {
        let mut keys = KeySet::new();
        keys.insert(SecretKey::from_entropy([42; 32]), &ChainParams::test()).unwrap();
        keys
    }

    #[wasm_bindgen_test]
    async fn a_file_sealed_by_the_relay_opens_here() {
        let file = tabcoin_core::hash::from_hex_vec(SHARED_VECTOR).unwrap();
        let plain = unseal(&file, Some("tabcoin")).await.unwrap();
        assert_eq!(KeySet::from_bytes(&plain).unwrap(), keys());
        let old = tabcoin_core::hash::from_hex_vec(VERSION_1_VECTOR).unwrap();
        let old_plain = unseal(&old, Some("tabcoin")).await.unwrap();
        assert_eq!(crate::wallet::read_key_set(&old_plain).await.unwrap(), keys());
        assert_eq!(unseal(&file, Some("Tabcoin")).await, Err(VaultError::WrongPassphrase));
        assert_eq!(unseal(&file, None).await, Err(VaultError::NeedsPassphrase));
    }

    #[wasm_bindgen_test]
    async fn sealed_keys_open_only_with_their_passphrase_and_never_show_in_the_clear() {
        let plain = keys().to_bytes();
        let file = seal(&plain, "correct horse").await.unwrap();
        assert!(!file.windows(32).any(|w| w == [42u8; 32]), "the secret key is not in the file");
        assert_eq!(unseal(&file, Some("correct horse")).await.unwrap(), plain);
        assert_eq!(unseal(&file, Some("wrong")).await, Err(VaultError::WrongPassphrase));
        let mut tampered = file.clone();
        tampered[10] ^= 1; // the rounds (600,001 now): authenticated as additional data
        assert!(unseal(&tampered, Some("correct horse")).await.is_err());
        assert_eq!(unseal(b"junk", None).await, Err(VaultError::Corrupt(WalletFileError::NotAWallet)));
    }
}
