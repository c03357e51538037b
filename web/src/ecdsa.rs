//! A key's public half and ECDSA-P256-SHA256 signatures, by the browser's WebCrypto: the
//! page's wasm carries no P-256 arithmetic. Where WebCrypto refuses (a browser that will not
//! import a private key without its public half), core's P-256 does it, in a module of its own
//! (`www/pkg/ecdsa`) loaded only then.

use std::fmt;

use js_sys::{Array, ArrayBuffer, Object, Promise, Reflect, Uint8Array};
use tabcoin_core::keys::{PublicKey, SecretKey, Signature};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

/// A P-256 private key as PKCS #8 without its optional public key: this, then the 32-byte
/// scalar (RFC 5915 inside RFC 5208; WebCrypto works the public key out).
const PKCS8_PREFIX: [u8; 35] = [
    0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20,
];

#[wasm_bindgen(module = "/src/js/worker.js")]
extern "C" {
    /// Core's P-256 module (loaded on first use): the public key of a 32-byte private key, or
    /// 64-byte signatures (r || s) of messages, one after another.
    #[wasm_bindgen(catch)]
    fn public_key_elsewhere(secret: &[u8]) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch)]
    fn sign_elsewhere(secret: &[u8], messages: Array) -> Result<Promise, JsValue>;
}

/// Neither WebCrypto nor the P-256 module could do it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcdsaError(pub String);

impl fmt::Display for EcdsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the browser could not use the key: {}", self.0)
    }
}

impl std::error::Error for EcdsaError {}

fn js_error(error: JsValue) -> EcdsaError {
    EcdsaError(error.as_string().unwrap_or_else(|| format!("{error:?}")))
}

/// This context's `crypto.subtle`; `None` outside a secure context, where it is undefined.
pub(crate) fn subtle() -> Option<SubtleCrypto> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok()?;
    Reflect::get(&crypto, &"subtle".into()).ok()?.dyn_into().ok()
}

/// WebCrypto's parameters for ECDSA with one more field (the curve, or the hash).
pub(crate) fn ecdsa_params(extra: (&str, &str)) -> Object {
    let object = Object::new();
    let _ = Reflect::set(&object, &"name".into(), &"ECDSA".into());
    let _ = Reflect::set(&object, &extra.0.into(), &extra.1.into());
    object
}

/// `secret` imported into WebCrypto for signing.
async fn import(subtle: &SubtleCrypto, secret: &SecretKey, extractable: bool) -> Result<CryptoKey, JsValue> {
    let mut der = PKCS8_PREFIX.to_vec();
    der.extend_from_slice(&secret.to_bytes());
    let usages: JsValue = Array::of1(&"sign".into()).into();
    let algorithm = ecdsa_params(("namedCurve", "P-256"));
    let key =
        subtle.import_key_with_object("pkcs8", &Uint8Array::from(der.as_slice()), &algorithm, extractable, &usages)?;
    Ok(JsFuture::from(key).await?.unchecked_into())
}

/// The 32 bytes of a JWK coordinate (base64url, no padding).
fn coordinate(jwk: &JsValue, name: &str) -> Option<[u8; 32]> {
    let text = Reflect::get(jwk, &name.into()).ok()?.as_string()?;
    let mut out = [0u8; 32];
    let (mut bits, mut count, mut written) = (0u32, 0u32, 0usize);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            *out.get_mut(written)? = (bits >> count) as u8;
            written += 1;
        }
    }
    (written == 32).then_some(out)
}

async fn public_key_by_webcrypto(secret: &SecretKey) -> Result<PublicKey, JsValue> {
    let subtle = subtle().ok_or_else(|| JsValue::from_str("no WebCrypto here"))?;
    let key = import(&subtle, secret, true).await?;
    let jwk = JsFuture::from(subtle.export_key("jwk", &key)?).await?;
    let (Some(x), Some(y)) = (coordinate(&jwk, "x"), coordinate(&jwk, "y")) else {
        return Err(JsValue::from_str("the exported key has no coordinates"));
    };
    let mut uncompressed = [0u8; 65];
    uncompressed[0] = 0x04;
    uncompressed[1..33].copy_from_slice(&x);
    uncompressed[33..].copy_from_slice(&y);
    PublicKey::from_uncompressed_sec1(&uncompressed).ok_or_else(|| JsValue::from_str("not a point"))
}

/// The public key of `secret`.
pub async fn public_key(secret: &SecretKey) -> Result<PublicKey, EcdsaError> {
    if let Ok(public) = public_key_by_webcrypto(secret).await {
        return Ok(public);
    }
    let bytes = JsFuture::from(public_key_elsewhere(&secret.to_bytes()).map_err(js_error)?).await.map_err(js_error)?;
    let bytes: [u8; 33] =
        Uint8Array::new(&bytes).to_vec().try_into().map_err(|_| EcdsaError("a public key is 33 bytes".into()))?;
    Ok(PublicKey(bytes))
}

async fn sign_by_webcrypto(secret: &SecretKey, messages: &[Vec<u8>]) -> Result<Vec<Signature>, JsValue> {
    let subtle = subtle().ok_or_else(|| JsValue::from_str("no WebCrypto here"))?;
    let key = import(&subtle, secret, false).await?;
    let algorithm = ecdsa_params(("hash", "SHA-256"));
    let mut signatures = Vec::with_capacity(messages.len());
    for message in messages {
        let signed = subtle.sign_with_object_and_u8_array(&algorithm, &key, message)?;
        let signed: ArrayBuffer = JsFuture::from(signed).await?.unchecked_into();
        let bytes: [u8; 64] = Uint8Array::new(&signed)
            .to_vec()
            .try_into()
            .map_err(|_| JsValue::from_str("a P-256 signature is 64 bytes"))?;
        signatures.push(Signature(bytes));
    }
    Ok(signatures)
}

/// ECDSA-P256-SHA256 signatures of `messages` by `secret`, in either S form (the payment
/// normalises them).
pub async fn sign(secret: &SecretKey, messages: &[Vec<u8>]) -> Result<Vec<Signature>, EcdsaError> {
    if let Ok(signatures) = sign_by_webcrypto(secret, messages).await {
        return Ok(signatures);
    }
    let list = Array::new();
    for message in messages {
        list.push(&Uint8Array::from(message.as_slice()));
    }
    let bytes = JsFuture::from(sign_elsewhere(&secret.to_bytes(), list).map_err(js_error)?).await.map_err(js_error)?;
    let bytes = Uint8Array::new(&bytes).to_vec();
    if bytes.len() != 64 * messages.len() {
        return Err(EcdsaError("one 64-byte signature per message".into()));
    }
    Ok(bytes
        .chunks_exact(64)
        .map(|chunk| {
            let mut signature = [0u8; 64];
            signature.copy_from_slice(chunk);
            Signature(signature)
        })
        .collect())
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use tabcoin_core::hash::sha256;
    use wasm_bindgen_test::*;

    #[wasm_bindgen_test]
    async fn webcrypto_works_out_the_public_key_core_does() {
        for i in 1..8u8 {
            let secret = SecretKey::from_entropy([i; 32]);
            assert_eq!(public_key_by_webcrypto(&secret).await.unwrap(), secret.public_key());
            assert_eq!(public_key(&secret).await.unwrap(), secret.public_key());
        }
    }

    #[wasm_bindgen_test]
    async fn webcrypto_signatures_verify_with_core_once_in_low_s_form() {
        let secret = SecretKey::from_entropy([9; 32]);
        let messages: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 40 + usize::from(i)]).collect();
        let signatures = sign(&secret, &messages).await.unwrap();
        assert_eq!(signatures.len(), messages.len());
        for (message, signature) in messages.iter().zip(&signatures) {
            let low = signature.low_s();
            assert_eq!(secret.public_key().verify_digest(&sha256(message), &low), Ok(()));
        }
        assert_eq!(sign(&secret, &[]).await.unwrap(), vec![]);
    }

    #[wasm_bindgen_test]
    fn a_jwk_coordinate_decodes_and_a_bad_one_does_not() {
        let jwk = Object::new();
        let _ = Reflect::set(&jwk, &"x".into(), &"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8".into());
        let _ = Reflect::set(&jwk, &"y".into(), &"AAEC*".into());
        let expected: Vec<u8> = (0..32).collect();
        assert_eq!(coordinate(&jwk, "x").map(|x| x.to_vec()), Some(expected));
        assert_eq!(coordinate(&jwk, "y"), None);
        assert_eq!(coordinate(&jwk, "z"), None);
    }
}
