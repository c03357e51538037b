//! ECDSA P-256 keys and signatures: SEC1 compressed public keys, 64-byte low-S signatures,
//! deterministic signing (RFC 6979) over a 32-byte digest.
//!
//! The rules on keys' and signatures' bytes (ranges, low S) need no curve arithmetic and are
//! always here. Signing, verifying and a secret key's public half need P-256 arithmetic: the
//! `ecdsa` feature. A build without it (the page's wasm, whose browser checks and signs with
//! WebCrypto) checks signatures only through jobs answered by its shell.

use core::fmt;

#[cfg(feature = "ecdsa")]
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
#[cfg(feature = "ecdsa")]
use p256::ecdsa::{Signature as EcdsaSignature, SigningKey, VerifyingKey};

use crate::encode::{DecodeError, Encoding, Reader};
use crate::hash::{PubKeyHash, sha256};

/// A SEC1 compressed P-256 public key (33 bytes, prefix 0x02 or 0x03). Decoding checks the
/// prefix; whether the point is on the curve is checked when a signature is verified.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 33]);

/// An ECDSA signature as r || s, 32 bytes each, big-endian.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

/// A private key: a scalar in [1, n − 1], big-endian. Its bytes never appear in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

/// Why a signature did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// The public key is not a point on P-256.
    InvalidPublicKey,
    /// r or s is zero or not below the group order.
    InvalidEncoding,
    /// s is in the upper half of the order: the malleated twin of a valid signature.
    HighS,
    /// The signature does not match the key and message.
    Mismatch,
    /// A checker that only answers valid or not refused it: the key is not a point, or the
    /// signature does not match it and the message.
    Refused,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureError::InvalidPublicKey => "the public key is not a valid P-256 point",
            SignatureError::InvalidEncoding => "the signature's r or s is out of range",
            SignatureError::HighS => "the signature is not in low-S form",
            SignatureError::Mismatch => "the signature does not match the key and transaction",
            SignatureError::Refused => {
                "the signature does not verify: its key is not a P-256 point or it does not match the key and transaction"
            }
        })
    }
}

impl std::error::Error for SignatureError {}

/// A private key's bytes are not a valid P-256 scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidSecretKey;

impl fmt::Display for InvalidSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the private key is zero or not below the P-256 group order")
    }
}

impl std::error::Error for InvalidSecretKey {}

/// The order n of P-256's group, big-endian: a signature's r and s must be below it.
pub const CURVE_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
    0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The prime p of P-256's field, big-endian.
const FIELD_PRIME: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

/// ⌊n / 2⌋: the largest low S.
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xde, 0x73, 0x7d,
    0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// Whether `bytes` (big-endian) is in [1, n − 1].
fn is_scalar(bytes: &[u8; 32]) -> bool {
    *bytes != [0; 32] && *bytes < CURVE_ORDER
}

/// n − `value` for a value in [1, n − 1] (big-endian, with borrow).
fn order_minus(value: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let difference = u16::from(CURVE_ORDER[i]).wrapping_sub(u16::from(value[i])).wrapping_sub(borrow);
        out[i] = difference as u8;
        borrow = (difference >> 8) & 1;
    }
    out
}

impl SecretKey {
    /// A key from 32 random bytes supplied by the caller (the shell reads them from its OS or
    /// browser). The rare bytes that are not a valid scalar are rehashed until one is.
    pub fn from_entropy(entropy: [u8; 32]) -> SecretKey {
        let mut candidate = entropy;
        while !is_scalar(&candidate) {
            candidate = sha256(&candidate);
        }
        SecretKey(candidate)
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Result<SecretKey, InvalidSecretKey> {
        if is_scalar(bytes) { Ok(SecretKey(*bytes)) } else { Err(InvalidSecretKey) }
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    #[cfg(feature = "ecdsa")]
    fn signing_key(&self) -> SigningKey {
        match SigningKey::from_slice(&self.0) {
            Ok(key) => key,
            // Checked on construction: the bytes are a scalar in range.
            Err(_) => unreachable!("a SecretKey holds a valid P-256 scalar"),
        }
    }

    #[cfg(feature = "ecdsa")]
    pub fn public_key(&self) -> PublicKey {
        let point = self.signing_key().verifying_key().to_sec1_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(point.as_bytes());
        PublicKey(out)
    }

    /// Signs a 32-byte digest deterministically (RFC 6979) and normalises to low S.
    #[cfg(feature = "ecdsa")]
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Signature {
        let signature: EcdsaSignature = match self.signing_key().sign_prehash(digest) {
            Ok(sig) => sig,
            // P-256 prehash signing only fails for digests shorter than half the field size,
            // which a 32-byte digest never is.
            Err(_) => unreachable_signing_failure(),
        };
        let mut out = [0u8; 64];
        out.copy_from_slice(signature.to_bytes().as_ref());
        Signature(out).low_s()
    }
}

#[cfg(feature = "ecdsa")]
#[cold]
fn unreachable_signing_failure() -> ! {
    unreachable!("ECDSA P-256 signing of a 32-byte digest can not fail")
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl PublicKey {
    /// Whether the prefix is a compressed key's (0x02 or 0x03); decoding refuses any other.
    pub fn is_compressed_sec1(&self) -> bool {
        matches!(self.0[0], 0x02 | 0x03)
    }

    /// Whether x (after the prefix) is below the field's prime p, as a point's must be (a
    /// verifier could otherwise reduce it and accept a key core refuses).
    pub fn x_in_field(&self) -> bool {
        self.0[1..] < FIELD_PRIME[..]
    }

    /// The compressed key of the uncompressed SEC1 point `uncompressed` (0x04, x, y): x with
    /// y's parity in the prefix (what a browser's WebCrypto exports). Whether it is a point on
    /// the curve is not checked here.
    pub fn from_uncompressed_sec1(uncompressed: &[u8; 65]) -> Option<PublicKey> {
        if uncompressed[0] != 0x04 {
            return None;
        }
        let mut out = [0u8; 33];
        out[0] = 0x02 | (uncompressed[64] & 1);
        out[1..].copy_from_slice(&uncompressed[1..33]);
        Some(PublicKey(out))
    }

    /// Whether the key is a compressed key of a point on P-256, as verifying requires (this
    /// decompresses the point: a square root).
    #[cfg(feature = "ecdsa")]
    pub fn is_valid_point(&self) -> bool {
        self.is_compressed_sec1() && VerifyingKey::from_sec1_bytes(&self.0).is_ok()
    }

    /// The key as an uncompressed SEC1 point (0x04, x, y), for a verifier that takes only
    /// those; `None` if it is not a compressed key of a point on P-256.
    #[cfg(feature = "ecdsa")]
    pub fn to_uncompressed_sec1(&self) -> Option<[u8; 65]> {
        if !self.is_compressed_sec1() {
            return None;
        }
        let point = VerifyingKey::from_sec1_bytes(&self.0).ok()?.to_sec1_point(false);
        point.as_bytes().try_into().ok()
    }

    pub fn pubkey_hash(&self) -> PubKeyHash {
        PubKeyHash::of_public_key(&self.0)
    }

    /// Verifies `signature` over a 32-byte digest; high-S signatures are refused.
    #[cfg(feature = "ecdsa")]
    pub fn verify_digest(&self, digest: &[u8; 32], signature: &Signature) -> Result<(), SignatureError> {
        // p256 also reads 0x05 (a "compact" x-only point) from 33 bytes; tabcoin's keys are
        // compressed only, whatever path the bytes took here.
        if !self.is_compressed_sec1() {
            return Err(SignatureError::InvalidPublicKey);
        }
        let key = VerifyingKey::from_sec1_bytes(&self.0).map_err(|_| SignatureError::InvalidPublicKey)?;
        signature.check_form()?;
        let sig = EcdsaSignature::from_slice(&signature.0).map_err(|_| SignatureError::InvalidEncoding)?;
        key.verify_prehash(digest, &sig).map_err(|_| SignatureError::Mismatch)
    }
}

impl Signature {
    fn r(&self) -> [u8; 32] {
        let mut r = [0u8; 32];
        r.copy_from_slice(&self.0[..32]);
        r
    }

    fn s(&self) -> [u8; 32] {
        let mut s = [0u8; 32];
        s.copy_from_slice(&self.0[32..]);
        s
    }

    fn with_s(&self, s: [u8; 32]) -> Signature {
        let mut out = self.0;
        out[32..].copy_from_slice(&s);
        Signature(out)
    }

    /// The same r with s replaced by n − s: the other signature the ECDSA equation accepts for
    /// the same key and message, which the low-S rule refuses (what a peer malleating a
    /// transaction sends, and what tests of a verifier send it). `None` if r or s is out of
    /// range.
    pub fn malleated(&self) -> Option<Signature> {
        let (r, s) = (self.r(), self.s());
        (is_scalar(&r) && is_scalar(&s)).then(|| self.with_s(order_minus(&s)))
    }

    /// The low-S one of this signature and its twin (what signers that do not normalise, such
    /// as WebCrypto, are corrected with); itself if r or s is out of range.
    pub fn low_s(&self) -> Signature {
        match self.malleated() {
            Some(twin) if self.s() > HALF_ORDER => twin,
            _ => *self,
        }
    }

    /// The rules on a signature's own bytes, before any key or message: r and s in range and
    /// s in the lower half (the ECDSA equation alone accepts either half).
    pub fn check_form(&self) -> Result<(), SignatureError> {
        let (r, s) = (self.r(), self.s());
        if !is_scalar(&r) || !is_scalar(&s) {
            return Err(SignatureError::InvalidEncoding);
        }
        if s > HALF_ORDER {
            return Err(SignatureError::HighS);
        }
        Ok(())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::hash::to_hex(&self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", crate::hash::to_hex(&self.0))
    }
}

impl Encoding for PublicKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes = r.array::<33>()?;
        if !PublicKey(bytes).is_compressed_sec1() {
            return Err(DecodeError::Invalid {
                what: "public key",
                reason: "not a SEC1 compressed key (prefix must be 0x02 or 0x03)",
            });
        }
        Ok(PublicKey(bytes))
    }
}

impl Encoding for Signature {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Signature(r.array::<64>()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_entropy([n; 32])
    }

    #[test]
    fn sign_and_verify() {
        let sk = key(1);
        let digest = sha256(b"message");
        let sig = sk.sign_digest(&digest);
        assert_eq!(sk.public_key().verify_digest(&digest, &sig), Ok(()));
        let other = sha256(b"other message");
        assert_eq!(sk.public_key().verify_digest(&other, &sig), Err(SignatureError::Mismatch));
        assert_eq!(key(2).public_key().verify_digest(&digest, &sig), Err(SignatureError::Mismatch));
    }

    #[test]
    fn signing_is_deterministic_and_low_s() {
        let sk = key(3);
        let digest = sha256(b"rfc6979");
        assert_eq!(sk.sign_digest(&digest), sk.sign_digest(&digest));
        for i in 0..32u8 {
            let sig = sk.sign_digest(&sha256(&[i]));
            // Low S: the top bit of s is clear for any s below n/2 on P-256.
            assert!(sig.0[32] < 0x80);
        }
    }

    #[test]
    fn high_s_twin_is_refused() {
        let sk = key(4);
        let digest = sha256(b"malleable");
        let sig = sk.sign_digest(&digest);
        // s' = n - s is the other valid signature for the same key and message.
        let bytes = sig.malleated().unwrap().0;
        assert_ne!(bytes, sig.0);
        assert_eq!(Signature(bytes).malleated(), Some(sig));
        assert_eq!(Signature([0; 64]).malleated(), None);
        assert_eq!(sk.public_key().verify_digest(&digest, &Signature(bytes)), Err(SignatureError::HighS));
        // The form rule alone, without key or message, as a shell checking the equation
        // elsewhere asks it.
        assert_eq!(Signature(bytes).check_form(), Err(SignatureError::HighS));
        assert_eq!(sig.check_form(), Ok(()));
        assert_eq!(Signature([0; 64]).check_form(), Err(SignatureError::InvalidEncoding));
        let mut r_is_n = sig;
        r_is_n.0[..32].copy_from_slice(&CURVE_ORDER);
        assert_eq!(r_is_n.check_form(), Err(SignatureError::InvalidEncoding));
        r_is_n.0[31] -= 1;
        assert_eq!(r_is_n.check_form(), Ok(()), "n - 1 is in range");
    }

    #[test]
    fn invalid_key_and_signature_bytes_are_errors() {
        let digest = sha256(b"x");
        let sig = key(5).sign_digest(&digest);
        let mut bad_key = key(5).public_key();
        bad_key.0[1..].fill(0xff);
        assert_eq!(bad_key.verify_digest(&digest, &sig), Err(SignatureError::InvalidPublicKey));
        assert!(!bad_key.is_valid_point() && key(5).public_key().is_valid_point());
        assert_eq!(
            key(5).public_key().verify_digest(&digest, &Signature([0; 64])),
            Err(SignatureError::InvalidEncoding)
        );
        assert_eq!(SecretKey::from_bytes(&[0; 32]), Err(InvalidSecretKey));
        assert_eq!(SecretKey::from_bytes(&[0xff; 32]), Err(InvalidSecretKey));
    }

    /// The rules on a signature's bytes, done without curve arithmetic, are p256's.
    #[test]
    fn the_byte_rules_on_signatures_are_p256s() {
        for i in 0..64u8 {
            let sig = key(i % 7 + 1).sign_digest(&sha256(&[i]));
            let twin = sig.malleated().unwrap();
            let parsed = EcdsaSignature::from_slice(&twin.0).unwrap();
            assert_eq!(parsed.normalize_s().to_bytes()[..], sig.0[..]);
            assert_eq!((twin.low_s(), sig.low_s()), (sig, sig));
            assert_eq!((twin.check_form(), sig.check_form()), (Err(SignatureError::HighS), Ok(())));
        }
        let mut edge = Signature([1; 64]);
        edge.0[32..].copy_from_slice(&HALF_ORDER);
        assert_eq!(edge.check_form(), Ok(()), "n/2 rounded down is the largest low S");
        let parsed = EcdsaSignature::from_slice(&edge.0).unwrap();
        assert_eq!(parsed.normalize_s(), parsed);
        edge.0[63] += 1;
        assert_eq!(edge.check_form(), Err(SignatureError::HighS));
        assert_ne!(EcdsaSignature::from_slice(&edge.0).unwrap().normalize_s().to_bytes()[..], edge.0[..]);
        assert_eq!(edge.low_s().check_form(), Ok(()));
    }

    #[test]
    fn a_key_whose_x_is_not_below_p_is_no_point() {
        let mut key = key(2).public_key();
        assert!(key.x_in_field());
        key.0[1..].copy_from_slice(&FIELD_PRIME);
        assert!(!key.x_in_field() && !key.is_valid_point());
        key.0[32] -= 1;
        assert!(key.x_in_field(), "p - 1 is in the field");
    }

    #[test]
    fn a_browsers_uncompressed_key_compresses_to_ours() {
        for i in 1..6 {
            let compressed = key(i).public_key();
            let uncompressed = compressed.to_uncompressed_sec1().unwrap();
            assert_eq!(PublicKey::from_uncompressed_sec1(&uncompressed), Some(compressed));
        }
        assert_eq!(PublicKey::from_uncompressed_sec1(&[2; 65]), None);
    }

    #[test]
    fn entropy_that_is_not_a_scalar_still_gives_a_key() {
        let sk = SecretKey::from_entropy([0xff; 32]);
        assert_ne!(sk.to_bytes(), [0xff; 32]);
        assert_eq!(SecretKey::from_bytes(&sk.to_bytes()).unwrap(), sk);
    }

    #[test]
    fn public_key_prefix_is_checked_on_decode() {
        let mut bytes = key(6).public_key().0;
        assert!(PublicKey::from_bytes(&bytes).is_ok());
        assert!(PublicKey(bytes).is_compressed_sec1());
        let digest = sha256(b"prefix");
        let sig = key(6).sign_digest(&digest);
        for prefix in [0x00, 0x04, 0x05, 0x06, 0x07] {
            bytes[0] = prefix;
            assert!(matches!(PublicKey::from_bytes(&bytes), Err(DecodeError::Invalid { .. })));
            assert!(!PublicKey(bytes).is_compressed_sec1());
            // Nor does a key built around the decoder verify (p256 alone reads 0x05 as an
            // x-only point).
            assert_eq!(PublicKey(bytes).verify_digest(&digest, &sig), Err(SignatureError::InvalidPublicKey));
            assert_eq!(PublicKey(bytes).to_uncompressed_sec1(), None);
        }
    }

    #[test]
    fn a_key_uncompressed_is_the_same_point() {
        for i in 7..15 {
            let compressed = key(i).public_key();
            let Some(uncompressed) = compressed.to_uncompressed_sec1() else { panic!("key {i} is a point") };
            assert_eq!(uncompressed[0], 0x04);
            assert_eq!(uncompressed[1..33], compressed.0[1..]);
            // The compressed prefix is y's parity.
            assert_eq!(compressed.0[0], 0x02 | (uncompressed[64] & 1));
        }
        let mut off_curve = key(7).public_key();
        off_curve.0[1..].fill(0xff);
        assert_eq!(off_curve.to_uncompressed_sec1(), None);
    }
}
