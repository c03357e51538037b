//! Signature checks in a worker. The browser's own ECDSA-P256-SHA256 (WebCrypto, native code:
//! about six times the rate of core's P-256 in wasm) checks the equation; the page's wasm has
//! no P-256 arithmetic of its own. Core decides: its form rules (key prefix and range, r and s
//! in range, low S) come first, only keys that pass them are imported, and a signature
//! WebCrypto refuses, or whose key it cannot import, is checked again by core's P-256 in a
//! module of its own, loaded only then (or everywhere, outside a secure context), so the two
//! can only differ on a signature both call valid.

use js_sys::{Array, Promise, Uint8Array};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use tabcoin_core::sigcheck::{SignatureJob, decode_jobs, encode_jobs};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{CryptoKey, SubtleCrypto};

use crate::ecdsa::{ecdsa_params, subtle};

/// Message bytes handed to WebCrypto at once: it copies each message, and one transaction's
/// messages together grow with the square of its inputs.
const MAX_BYTES_IN_FLIGHT: usize = 4 << 20;

/// Keys kept imported per worker; a chain's keys repeat, an attacker's need not.
const MAX_CACHED_KEYS: usize = 4096;

#[wasm_bindgen(module = "/src/js/worker.js")]
extern "C" {
    /// Core's P-256 module (loaded on first use): one byte per encoded job, 1 if valid.
    #[wasm_bindgen(catch)]
    fn verify_elsewhere(jobs: &[u8]) -> Result<Promise, JsValue>;
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
    /// Signatures whose equation core's P-256 module checked, for the tests.
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

    /// Checks encoded jobs; resolves to a `Uint8Array`, one byte per job, 1 if valid, or to
    /// `undefined` if they could not all be answered (core's P-256 module did not load).
    pub fn verify(&self, jobs: Vec<u8>) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let jobs = decode_jobs(&jobs);
            Ok(match inner.check(&jobs).await {
                Some(results) => {
                    let bytes: Vec<u8> = results.into_iter().map(u8::from).collect();
                    Uint8Array::from(bytes.as_slice()).into()
                }
                None => JsValue::UNDEFINED,
            })
        })
    }
}

/// Checks `jobs` in this context with a checker of their own: the page's own payment, whose
/// few signatures WebCrypto checks off this thread.
pub(crate) async fn check_here(jobs: &[SignatureJob]) -> Option<Vec<bool>> {
    Checker::new().check(jobs).await
}

async fn settle(promise: Result<Promise, JsValue>) -> Option<JsValue> {
    JsFuture::from(promise.ok()?).await.ok()
}

impl Checker {
    fn new() -> Checker {
        Checker { subtle: subtle(), keys: RefCell::default(), checked_by_core: Cell::new(0) }
    }

    /// One answer per job; `None` if some could not be answered: a refusal of WebCrypto's
    /// whose second opinion could not be had is no answer (the node asks again later), never
    /// a "no" that would call a block invalid.
    async fn check(&self, jobs: &[SignatureJob]) -> Option<Vec<bool>> {
        let Some(subtle) = &self.subtle else {
            let all: Vec<usize> = (0..jobs.len()).collect();
            return self.core_says_valid(jobs, &all).await;
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
            results.extend(self.check_window(subtle, &rest[..window]).await?);
            rest = &rest[window..];
        }
        Some(results)
    }

    /// Starts every check of `jobs` before awaiting any: WebCrypto runs them off this thread.
    async fn check_window(&self, subtle: &SubtleCrypto, jobs: &[SignatureJob]) -> Option<Vec<bool>> {
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
        for promise in started {
            let valid = match promise {
                Some(promise) => JsFuture::from(promise).await.ok().and_then(|v| v.as_bool()).unwrap_or(false),
                None => false,
            };
            results.push(valid);
        }
        // What WebCrypto refused or could not take, but for signatures core's form rules refuse
        // anyway, gets a second opinion from core.
        let again: Vec<usize> = (0..jobs.len()).filter(|&i| !results[i] && jobs[i].check_form()).collect();
        if !again.is_empty() {
            for (i, valid) in again.iter().zip(self.core_says_valid(jobs, &again).await?) {
                results[*i] = valid;
            }
        }
        Some(results)
    }

    /// Core's answers for `jobs[i]` for each i of `which`, from the P-256 module; `None` if
    /// it could not load (tried again after a while, `web/src/js/worker.js`).
    async fn core_says_valid(&self, jobs: &[SignatureJob], which: &[usize]) -> Option<Vec<bool>> {
        self.checked_by_core.set(self.checked_by_core.get() + which.len() as u32);
        let picked: Vec<SignatureJob> = which.iter().map(|&i| jobs[i].clone()).collect();
        let answers = match verify_elsewhere(&encode_jobs(&picked)) {
            Ok(promise) => JsFuture::from(promise).await.map(|bytes| Uint8Array::new(&bytes).to_vec()),
            Err(error) => Err(error),
        };
        // The console gets the error itself (the page's build prints no derived `Debug`).
        match answers {
            Ok(bytes) if bytes.len() == which.len() => Some(bytes.iter().map(|b| *b == 1).collect()),
            Ok(bytes) => {
                let counts = format!("{} answers for {} signatures", bytes.len(), which.len());
                web_sys::console::error_2(
                    &"core's P-256 module gave a wrong number of answers:".into(),
                    &counts.into(),
                );
                None
            }
            Err(error) => {
                web_sys::console::error_2(&"core's P-256 module gave no answers:".into(), &error);
                None
            }
        }
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
        // Only keys that pass core's form rules (prefix, x below the field's prime) go to
        // WebCrypto, so that a browser lax about a key's encoding can never accept a signature
        // for a key core refuses; one that is not a point, it can not import.
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
    use std::sync::Arc;
    use tabcoin_core::SecretKey;
    use tabcoin_core::keys::CURVE_ORDER;
    use tabcoin_core::sigcheck::SignedMessage;
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

    /// Long messages go to WebCrypto a window of a few MiB at a time, all still checked there.
    #[wasm_bindgen_test]
    async fn long_messages_are_checked_a_window_at_a_time() {
        let checker = SignatureChecker::new();
        let key = SecretKey::from_entropy([3; 32]);
        let prefix: Arc<[u8]> = vec![9u8; 3 << 20].into();
        let jobs: Vec<SignatureJob> = (0..3).map(|i| signed_with(&key, &prefix, i)).collect();
        assert_eq!(checker.inner.check(&jobs).await, Some(vec![true; 3]));
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
        let mut off_curve = signed(&alice, b"no point");
        off_curve.pubkey.0[1..].fill(0xff);
        off_curve.pubkey.0[1] = 0xec; // x³ − 3x + b is no square for this x
        assert!(off_curve.pubkey.x_in_field() && !off_curve.pubkey.is_valid_point());
        let mut x_not_below_p = signed(&alice, b"x");
        x_not_below_p.pubkey.0[1..].fill(0xff);
        let mut jobs = valid.to_vec();
        // The high-S twins of signatures with a low S (signing normalises to low S).
        jobs.extend(valid.iter().map(high_s_twin));
        jobs.extend([zero_r, zero_s, r_is_order, bad_prefix, x_not_below_p]);

        // WebCrypto's answers and core's form rules alone: core's answers, job by job, with
        // no second opinion needed.
        let results = checker.inner.check(&jobs).await.expect("no job needed core's P-256 module");
        let core: Vec<bool> = jobs.iter().map(SignatureJob::verify).collect();
        assert_eq!(results, core);
        let mut expected = vec![true; 3];
        expected.resize(jobs.len(), false);
        assert_eq!(results, expected);
        assert_eq!(checker.checked_by_core(), 0, "the high-S twins and bad encodings never reached WebCrypto or core");

        // What WebCrypto refuses or can not import goes to core's P-256 module, which the test
        // server does not serve: then there is no answer (the node asks again later), never a
        // "no" that would call a block invalid.
        let refused = [wrong_message, flipped, other_key, off_curve];
        assert!(refused.iter().all(|job| !job.verify()));
        jobs.extend(refused);
        assert_eq!(checker.inner.check(&jobs).await, None);
        assert_eq!(checker.checked_by_core(), 4);
        // Again with the keys imported: the same answers.
        assert_eq!(checker.inner.check(&jobs[..jobs.len() - 4]).await, Some(expected));
    }
}
