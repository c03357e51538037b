//! Signature checks in a worker. Where the page is a secure context (https, or http on
//! localhost) the browser's own ECDSA-P256-SHA256 (WebCrypto, native code: about six times
//! the rate of this module's P-256 in wasm) checks the equation; core's P-256 checks it
//! elsewhere. Core decides: its form rules (key prefix, low S) come first, only keys core
//! reads as points are imported, and a signature WebCrypto refuses, or whose key it cannot
//! import, is checked again by core, so the two can only differ on a signature both call
//! valid.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use tabcoin_core::keys::{PublicKey, Signature};
use tabcoin_core::sigcheck::{SignatureJob, SignedMessage};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{CryptoKey, SubtleCrypto};

/// Bytes of a job after its transaction's prefix: key, signature, input index (u32 LE).
const JOB_BYTES: usize = 33 + 64 + 4;

/// Message bytes handed to WebCrypto at once: it copies each message, and one transaction's
/// messages together grow with the square of its inputs.
const MAX_BYTES_IN_FLIGHT: usize = 4 << 20;

/// Keys kept imported per worker; a chain's keys repeat, an attacker's need not.
const MAX_CACHED_KEYS: usize = 4096;

fn push_u32(bytes: &mut Vec<u8>, value: usize) {
    // Prefixes are bounded by a block's size and jobs by its inputs: far below 4 GiB.
    bytes.extend_from_slice(&u32::try_from(value).unwrap_or(u32::MAX).to_le_bytes());
}

/// Signature jobs as the bytes posted to a worker: for each run of jobs sharing a prefix, the
/// prefix's length (u32 LE), the prefix, the number of jobs (u32 LE), then each job's key,
/// signature and index. A prefix goes once, as in memory.
pub fn encode_signature_jobs(jobs: &[SignatureJob]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut rest = jobs;
    while let Some(first) = rest.first() {
        let prefix = first.message.prefix();
        let run = rest.iter().take_while(|job| Arc::ptr_eq(job.message.prefix(), prefix)).count();
        push_u32(&mut bytes, prefix.len());
        bytes.extend_from_slice(prefix);
        push_u32(&mut bytes, run);
        for job in &rest[..run] {
            bytes.extend_from_slice(&job.pubkey.0);
            bytes.extend_from_slice(&job.signature.0);
            bytes.extend_from_slice(&job.message.index().to_le_bytes());
        }
        rest = &rest[run..];
    }
    bytes
}

fn take_u32(bytes: &mut &[u8]) -> Option<usize> {
    let (value, rest) = bytes.split_first_chunk::<4>()?;
    *bytes = rest;
    usize::try_from(u32::from_le_bytes(*value)).ok()
}

/// The jobs [`encode_signature_jobs`] wrote; trailing bytes that make no whole job are ignored.
pub fn decode_signature_jobs(mut bytes: &[u8]) -> Vec<SignatureJob> {
    let mut jobs = Vec::new();
    while let Some(len) = take_u32(&mut bytes) {
        let Some((prefix, rest)) = bytes.split_at_checked(len) else { break };
        let prefix: Arc<[u8]> = prefix.into();
        bytes = rest;
        let Some(count) = take_u32(&mut bytes) else { break };
        for _ in 0..count {
            let Some((job, rest)) = bytes.split_first_chunk::<JOB_BYTES>() else { return jobs };
            bytes = rest;
            let mut pubkey = [0u8; 33];
            let mut signature = [0u8; 64];
            pubkey.copy_from_slice(&job[..33]);
            signature.copy_from_slice(&job[33..97]);
            let index = u32::from_le_bytes([job[97], job[98], job[99], job[100]]);
            jobs.push(SignatureJob {
                pubkey: PublicKey(pubkey),
                message: SignedMessage::new(Arc::clone(&prefix), index),
                signature: Signature(signature),
            });
        }
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
        SignatureChecker { inner: Rc::new(Checker::new()) }
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

/// Checks `jobs` in this context with a checker of their own: the page's own payment, whose
/// few signatures WebCrypto checks off this thread.
pub(crate) async fn check_here(jobs: &[SignatureJob]) -> Vec<bool> {
    Checker::new().check(jobs).await
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
    fn new() -> Checker {
        Checker { subtle: subtle(), keys: RefCell::default(), checked_by_core: Cell::new(0) }
    }

    async fn check(&self, jobs: &[SignatureJob]) -> Vec<bool> {
        let Some(subtle) = &self.subtle else {
            self.checked_by_core.set(self.checked_by_core.get() + jobs.len() as u32);
            return jobs.iter().map(SignatureJob::verify).collect();
        };
        self.import_keys(subtle, jobs).await;
        let mut results = Vec::with_capacity(jobs.len());
        let mut rest = jobs;
        while !rest.is_empty() {
            // At least one job a window, however long its message.
            let mut bytes = 0;
            let window = 1 + rest[1..]
                .iter()
                .take_while(|job| {
                    bytes += job.message.len();
                    bytes <= MAX_BYTES_IN_FLIGHT
                })
                .count();
            results.extend(self.check_window(subtle, &rest[..window]).await);
            rest = &rest[window..];
        }
        results
    }

    /// Starts every check of `jobs` before awaiting any: WebCrypto runs them off this thread.
    async fn check_window(&self, subtle: &SubtleCrypto, jobs: &[SignatureJob]) -> Vec<bool> {
        let params = ecdsa_params(("hash", "SHA-256"));
        let started: Vec<Option<Promise>> = {
            let keys = self.keys.borrow();
            jobs.iter()
                .map(|job| {
                    let key = keys.get(&job.pubkey.0)?.as_ref()?;
                    if !job.check_form() {
                        return None;
                    }
                    let message = job.message.to_bytes();
                    subtle.verify_with_object_and_u8_array_and_u8_array(&params, key, &job.signature.0, &message).ok()
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
        // Only keys core reads as points go to WebCrypto, so that a browser lax about a key's
        // encoding can never accept a signature for a key core refuses.
        let (wanted, refused): (Vec<[u8; 33]>, Vec<[u8; 33]>) =
            wanted.into_iter().partition(|key| PublicKey(*key).is_valid_point());
        self.remember(refused.into_iter().map(|key| (key, None)).collect());
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
        self.remember(wanted.into_iter().zip(imported).collect());
    }

    fn remember(&self, entries: Vec<([u8; 33], Option<CryptoKey>)>) {
        let mut keys = self.keys.borrow_mut();
        if keys.len() + entries.len() > MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.extend(entries);
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use tabcoin_core::SecretKey;
    use tabcoin_core::keys::CURVE_ORDER;
    use wasm_bindgen_test::*;

    fn signed_with(key: &SecretKey, prefix: &Arc<[u8]>, index: u32) -> SignatureJob {
        SignatureJob::signed_by(key, SignedMessage::new(Arc::clone(prefix), index))
    }

    fn signed(key: &SecretKey, prefix: &[u8]) -> SignatureJob {
        signed_with(key, &Arc::from(prefix), 0)
    }

    /// `s` replaced by `order - s`: the same signature for the ECDSA equation, high S for core.
    fn high_s_twin(job: &SignatureJob) -> SignatureJob {
        SignatureJob { signature: job.signature.malleated().unwrap(), ..job.clone() }
    }

    #[wasm_bindgen_test]
    fn jobs_round_trip_through_the_worker_encoding_with_each_prefix_once() {
        let key = SecretKey::from_entropy([6; 32]);
        let shared: Arc<[u8]> = Arc::from(&[7u8; 300][..]);
        let jobs = vec![signed(&key, b"one"), signed_with(&key, &shared, 0), signed_with(&key, &shared, 1)];
        let mut bytes = encode_signature_jobs(&jobs);
        assert_eq!(bytes.len(), (4 + 3 + 4 + JOB_BYTES) + (4 + 300 + 4 + 2 * JOB_BYTES));
        let decoded = decode_signature_jobs(&bytes);
        assert_eq!(decoded, jobs);
        assert!(Arc::ptr_eq(decoded[1].message.prefix(), decoded[2].message.prefix()));
        assert_eq!(verify_signatures(&bytes), vec![1, 1, 1]);
        bytes.truncate(bytes.len() - 1);
        assert_eq!(decode_signature_jobs(&bytes), jobs[..2], "a partial job is not a job");
        assert_eq!(decode_signature_jobs(&[]), vec![]);
        assert_eq!(decode_signature_jobs(&[0xff; 9]), vec![], "a prefix longer than the bytes");
    }

    /// Long messages go to WebCrypto a window of a few MiB at a time, all still checked there.
    #[wasm_bindgen_test]
    async fn long_messages_are_checked_a_window_at_a_time() {
        let checker = SignatureChecker::new();
        let key = SecretKey::from_entropy([3; 32]);
        let prefix: Arc<[u8]> = vec![9u8; 3 << 20].into();
        let jobs: Vec<SignatureJob> = (0..3).map(|i| signed_with(&key, &prefix, i)).collect();
        assert_eq!(checker.inner.check(&jobs).await, vec![true; 3]);
        assert_eq!(checker.checked_by_core(), 0);
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
        wrong_message.message = SignedMessage::new(Arc::clone(wrong_message.message.prefix()), 1);
        let mut flipped = signed(&bob, b"pay alice");
        flipped.signature.0[5] ^= 1;
        let mut zero_r = signed(&alice, b"r");
        zero_r.signature.0[..32].fill(0);
        let mut zero_s = signed(&alice, b"s");
        zero_s.signature.0[32..].fill(0);
        let mut r_is_order = signed(&alice, b"n");
        r_is_order.signature.0[..32].copy_from_slice(&CURVE_ORDER);
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
