//! Signature checks in a worker. Where the page is a secure context (https, or http on
//! localhost) the browser's own ECDSA-P256-SHA256 (WebCrypto, native code: about four times
//! the rate of this module's P-256 in wasm) checks the equation; core's P-256 checks it
//! elsewhere. Core decides: its form rules (low S) come first, and a signature WebCrypto
//! refuses, or whose key it cannot import, is checked again by core, so the two can only
//! differ on a signature both call valid.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use tabcoin_core::keys::{PublicKey, Signature};
use tabcoin_core::sigcheck::SignatureJob;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{CryptoKey, SubtleCrypto};

/// Bytes of a job before its message: key, signature, the message's length (u32 LE).
const JOB_HEAD: usize = 33 + 64 + 4;

/// Keys kept imported per worker; a chain's keys repeat, an attacker's need not.
const MAX_CACHED_KEYS: usize = 4096;

/// Signature jobs as the bytes posted to a worker.
pub fn encode_signature_jobs(jobs: &[SignatureJob]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(jobs.iter().map(|job| JOB_HEAD + job.message.len()).sum());
    for job in jobs {
        // A sighash preimage is 8 bytes an input plus about 50: far below 4 GiB.
        let len = u32::try_from(job.message.len()).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&job.pubkey.0);
        bytes.extend_from_slice(&job.signature.0);
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&job.message[..len as usize]);
    }
    bytes
}

/// The jobs [`encode_signature_jobs`] wrote; trailing bytes that make no whole job are ignored.
pub fn decode_signature_jobs(mut bytes: &[u8]) -> Vec<SignatureJob> {
    let mut jobs = Vec::new();
    while let Some((head, rest)) = bytes.split_first_chunk::<JOB_HEAD>() {
        let len = u32::from_le_bytes([head[97], head[98], head[99], head[100]]) as usize;
        let Some((message, rest)) = rest.split_at_checked(len) else { break };
        let mut pubkey = [0u8; 33];
        let mut signature = [0u8; 64];
        pubkey.copy_from_slice(&head[..33]);
        signature.copy_from_slice(&head[33..97]);
        jobs.push(SignatureJob {
            pubkey: PublicKey(pubkey),
            message: message.to_vec(),
            signature: Signature(signature),
        });
        bytes = rest;
    }
    jobs
}

/// Checks encoded jobs with core alone: one byte per job, 1 if its signature is valid.
#[wasm_bindgen]
pub fn verify_signatures(jobs: &[u8]) -> Vec<u8> {
    decode_signature_jobs(jobs).iter().map(|job| u8::from(job.verify())).collect()
}

/// A worker's signature checker: WebCrypto's imported keys, kept between batches.
#[wasm_bindgen]
pub struct SignatureChecker {
    inner: Rc<Checker>,
}

struct Checker {
    subtle: Option<SubtleCrypto>,
    /// Imported keys; `None`: WebCrypto would not import it, core checks its signatures.
    keys: RefCell<HashMap<[u8; 33], Option<CryptoKey>>>,
    /// Signatures whose equation core checked, for the tests and the benchmark.
    checked_by_core: Cell<u32>,
}

#[wasm_bindgen]
impl SignatureChecker {
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)] // a JS constructor
    pub fn new() -> SignatureChecker {
        SignatureChecker {
            inner: Rc::new(Checker { subtle: subtle(), keys: RefCell::default(), checked_by_core: Cell::new(0) }),
        }
    }

    /// Whether the browser's WebCrypto checks the equation here.
    #[wasm_bindgen(getter, js_name = usesWebCrypto)]
    pub fn uses_webcrypto(&self) -> bool {
        self.inner.subtle.is_some()
    }

    /// Signatures whose ECDSA equation core checked so far.
    #[wasm_bindgen(getter, js_name = checkedByCore)]
    pub fn checked_by_core(&self) -> u32 {
        self.inner.checked_by_core.get()
    }

    /// Checks encoded jobs; resolves to a `Uint8Array`, one byte per job, 1 if valid.
    pub fn verify(&self, jobs: Vec<u8>) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let jobs = decode_signature_jobs(&jobs);
            let results: Vec<u8> = inner.check(&jobs).await.into_iter().map(u8::from).collect();
            Ok(Uint8Array::from(results.as_slice()).into())
        })
    }
}

/// This context's `crypto.subtle`; `None` outside a secure context, where it is undefined.
fn subtle() -> Option<SubtleCrypto> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok()?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).ok()?;
    subtle.dyn_into::<SubtleCrypto>().ok()
}

fn ecdsa_params(extra: (&str, &str)) -> Object {
    let object = Object::new();
    let _ = Reflect::set(&object, &"name".into(), &"ECDSA".into());
    let _ = Reflect::set(&object, &extra.0.into(), &extra.1.into());
    object
}

async fn settle(promise: Result<Promise, JsValue>) -> Option<JsValue> {
    JsFuture::from(promise.ok()?).await.ok()
}

impl Checker {
    async fn check(&self, jobs: &[SignatureJob]) -> Vec<bool> {
        let Some(subtle) = &self.subtle else {
            self.checked_by_core.set(self.checked_by_core.get() + jobs.len() as u32);
            return jobs.iter().map(SignatureJob::verify).collect();
        };
        self.import_keys(subtle, jobs).await;
        let params = ecdsa_params(("hash", "SHA-256"));
        // Every check is started before any is awaited: WebCrypto runs them off this thread.
        let started: Vec<Option<Promise>> = {
            let keys = self.keys.borrow();
            jobs.iter()
                .map(|job| {
                    let key = keys.get(&job.pubkey.0)?.as_ref()?;
                    if !job.check_form() {
                        return None;
                    }
                    subtle
                        .verify_with_object_and_u8_array_and_u8_array(&params, key, &job.signature.0, &job.message)
                        .ok()
                })
                .collect()
        };
        let mut results = Vec::with_capacity(jobs.len());
        for (job, promise) in jobs.iter().zip(started) {
            let valid = match promise {
                Some(promise) => JsFuture::from(promise).await.ok().and_then(|v| v.as_bool()).unwrap_or(false),
                None => false,
            };
            results.push(valid || self.core_says_valid(job));
        }
        results
    }

    fn core_says_valid(&self, job: &SignatureJob) -> bool {
        self.checked_by_core.set(self.checked_by_core.get() + 1);
        job.verify()
    }

    /// Imports the keys of `jobs` not imported yet, all at once (not those of jobs that fail
    /// core's form rules: they are never asked of WebCrypto).
    async fn import_keys(&self, subtle: &SubtleCrypto, jobs: &[SignatureJob]) {
        let mut wanted: Vec<[u8; 33]> = Vec::new();
        {
            let keys = self.keys.borrow();
            for job in jobs.iter().filter(|job| job.check_form()) {
                if !keys.contains_key(&job.pubkey.0) && !wanted.contains(&job.pubkey.0) {
                    wanted.push(job.pubkey.0);
                }
            }
        }
        if wanted.is_empty() {
            return;
        }
        let params = ecdsa_params(("namedCurve", "P-256"));
        let usages: JsValue = Array::of1(&"verify".into()).into();
        let imports: Vec<_> = wanted
            .iter()
            .map(|key| subtle.import_key_with_object("raw", &Uint8Array::from(&key[..]), &params, false, &usages))
            .collect();
        let mut imported = Vec::with_capacity(wanted.len());
        for import in imports {
            imported.push(settle(import).await.map(JsValue::unchecked_into::<CryptoKey>));
        }
        let mut keys = self.keys.borrow_mut();
        if keys.len() + wanted.len() > MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.extend(wanted.into_iter().zip(imported));
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use tabcoin_core::SecretKey;
    use tabcoin_core::hash::sha256;
    use wasm_bindgen_test::*;

    /// The order of P-256, big-endian.
    const ORDER: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6,
        0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
    ];

    fn signed(key: &SecretKey, message: &[u8]) -> SignatureJob {
        SignatureJob {
            pubkey: key.public_key(),
            message: message.to_vec(),
            signature: key.sign_digest(&sha256(message)),
        }
    }

    /// `s` replaced by `order - s`: the same signature for the ECDSA equation, high S for core.
    fn high_s_twin(job: &SignatureJob) -> SignatureJob {
        let mut twin = job.clone();
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let difference = i16::from(ORDER[i]) - i16::from(job.signature.0[32 + i]) - borrow;
            borrow = i16::from(difference < 0);
            twin.signature.0[32 + i] = difference.rem_euclid(256) as u8;
        }
        twin
    }

    #[wasm_bindgen_test]
    fn jobs_round_trip_through_the_worker_encoding() {
        let key = SecretKey::from_entropy([6; 32]);
        let jobs = vec![signed(&key, b"one"), signed(&key, b""), signed(&key, &[7; 300])];
        let mut bytes = encode_signature_jobs(&jobs);
        assert_eq!(decode_signature_jobs(&bytes), jobs);
        assert_eq!(verify_signatures(&bytes), vec![1, 1, 1]);
        bytes.truncate(bytes.len() - 1);
        assert_eq!(decode_signature_jobs(&bytes), jobs[..2], "a partial job is not a job");
    }

    /// WebCrypto checks the valid signatures itself, and what it would accept but core's rules
    /// refuse (high S) is refused: the checker's answers are core's, job by job.
    #[wasm_bindgen_test]
    async fn webcrypto_answers_as_core_does_on_every_kind_of_signature() {
        let checker = SignatureChecker::new();
        assert!(checker.uses_webcrypto(), "the test page is on 127.0.0.1, a secure context");
        let alice = SecretKey::from_entropy([1; 32]);
        let bob = SecretKey::from_entropy([2; 32]);
        let valid = [signed(&alice, b"pay bob"), signed(&bob, b"pay alice"), signed(&alice, &[0; 200])];
        let mut wrong_message = signed(&alice, b"pay bob");
        wrong_message.message[0] ^= 1;
        let mut flipped = signed(&bob, b"pay alice");
        flipped.signature.0[5] ^= 1;
        let mut zero_r = signed(&alice, b"r");
        zero_r.signature.0[..32].fill(0);
        let mut zero_s = signed(&alice, b"s");
        zero_s.signature.0[32..].fill(0);
        let mut r_is_order = signed(&alice, b"n");
        r_is_order.signature.0[..32].copy_from_slice(&ORDER);
        let mut bad_prefix = signed(&alice, b"prefix");
        bad_prefix.pubkey.0[0] = 0x05;
        let mut other_key = signed(&alice, b"key");
        other_key.pubkey = bob.public_key();
        let mut jobs = valid.to_vec();
        // The high-S twins of signatures with a low S (signing normalises to low S).
        jobs.extend(valid.iter().map(high_s_twin));
        jobs.extend([wrong_message, flipped, zero_r, zero_s, r_is_order, bad_prefix, other_key]);

        let results = checker.inner.check(&jobs).await;
        let core: Vec<bool> = jobs.iter().map(SignatureJob::verify).collect();
        assert_eq!(results, core);
        let mut expected = vec![true; 3];
        expected.resize(jobs.len(), false);
        assert_eq!(results, expected);
        // Core checked everything but the valid ones: what WebCrypto refused or could not
        // import, and the high-S twins, which WebCrypto was never asked about.
        assert_eq!(checker.checked_by_core(), (jobs.len() - 3) as u32);
        // Again with the keys imported: the same answers.
        assert_eq!(checker.inner.check(&jobs).await, expected);
    }
}
