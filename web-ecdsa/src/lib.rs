//! Core's P-256 for the page, in a wasm module of its own (`www/pkg/ecdsa`). The page's wasm
//! has no P-256 arithmetic: the browser's WebCrypto signs and checks. This module is loaded
//! only where WebCrypto refuses: a signature it calls invalid (a second opinion, so that the
//! two can only differ on a signature both call valid), a key it can not import, a page
//! outside a secure context; and by the benchmark page.

#![forbid(unsafe_code)]

use js_sys::{Array, Uint8Array};
use tabcoin_core::hash::sha256;
use tabcoin_core::keys::SecretKey;
use tabcoin_core::sigcheck::{SignatureJob, SignedMessage, decode_jobs, encode_jobs};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// Checks jobs encoded as the workers get them: one byte per job, 1 if its signature is valid.
#[wasm_bindgen]
pub fn verify_signatures(jobs: &[u8]) -> Vec<u8> {
    decode_jobs(jobs).iter().map(|job| u8::from(job.verify())).collect()
}

fn secret_key(secret: &[u8]) -> Result<SecretKey, JsError> {
    let bytes: [u8; 32] = secret.try_into().map_err(|_| JsError::new("a private key is 32 bytes"))?;
    SecretKey::from_bytes(&bytes).map_err(|e| JsError::new(&e.to_string()))
}

/// The compressed public key (33 bytes) of a 32-byte private key.
#[wasm_bindgen]
pub fn public_key(secret: &[u8]) -> Result<Vec<u8>, JsError> {
    Ok(secret_key(secret)?.public_key().0.to_vec())
}

/// Low-S signatures (64 bytes each, r || s, one after another) by a 32-byte private key of
/// each message (`Uint8Array`s) hashed with SHA-256.
#[wasm_bindgen]
pub fn sign(secret: &[u8], messages: Array) -> Result<Vec<u8>, JsError> {
    let key = secret_key(secret)?;
    let mut out = Vec::with_capacity(64 * messages.length() as usize);
    for message in messages.iter() {
        let message: Uint8Array = message.dyn_into().map_err(|_| JsError::new("a message is a Uint8Array"))?;
        out.extend_from_slice(&key.sign_digest(&sha256(&message.to_vec())).0);
    }
    Ok(out)
}

/// `count` valid signature jobs (as the workers get them) signed by one key, one
/// transaction's worth each (a 60-byte prefix of its own): input for the benchmark page.
#[wasm_bindgen]
pub fn sample_signature_jobs(count: u32) -> Vec<u8> {
    let key = SecretKey::from_entropy([9; 32]);
    let jobs: Vec<SignatureJob> = (0..count)
        .map(|i| {
            let mut prefix = vec![0u8; 60];
            prefix[..4].copy_from_slice(&i.to_le_bytes());
            SignatureJob::signed_by(&key, SignedMessage::new(prefix.into(), 0))
        })
        .collect();
    encode_jobs(&jobs)
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::*;

    #[wasm_bindgen_test]
    fn jobs_are_checked_signatures_made_and_keys_worked_out_as_core_does() {
        let jobs = sample_signature_jobs(3);
        assert_eq!(verify_signatures(&jobs), vec![1, 1, 1]);
        let mut forged = decode_jobs(&jobs);
        forged[1].signature.0[3] ^= 1;
        assert_eq!(verify_signatures(&encode_jobs(&forged)), vec![1, 0, 1]);

        let key = SecretKey::from_entropy([4; 32]);
        assert_eq!(public_key(&key.to_bytes()).unwrap(), key.public_key().0.to_vec());
        assert!(public_key(&[0; 32]).is_err() && public_key(&[1; 31]).is_err());
        let messages = Array::of2(&Uint8Array::from(&b"one"[..]), &Uint8Array::from(&b"two"[..]));
        let signatures = sign(&key.to_bytes(), messages).unwrap();
        assert_eq!(signatures[..64], key.sign_digest(&sha256(b"one")).0);
        assert_eq!(signatures[64..], key.sign_digest(&sha256(b"two")).0);
    }
}
