//! The relay's signature checks: the node's jobs ([`SignatureJob`]) split over threads, with
//! ring's ECDSA-P256-SHA256 (assembly: about four times the rate of core's P-256 here) for the
//! equation. Core decides, as in the browser's workers: its form rules (key prefix, r and s in
//! range, low S) come first, keys are read as points by core, and a signature ring refuses is
//! checked again by core, so the two can only differ on a signature both call valid.

use std::collections::HashMap;
use std::num::NonZeroUsize;

use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use tabcoin_core::keys::PublicKey;
use tabcoin_core::sigcheck::SignatureJob;

/// Keys kept decompressed; a chain's keys repeat, an attacker's need not.
const MAX_CACHED_KEYS: usize = 4096;

/// Below this many jobs a second thread costs more than it saves.
const MIN_JOBS_PER_THREAD: usize = 16;

/// What a batch of checks came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Per job, in the jobs' order: whether its signature is valid.
    pub results: Vec<bool>,
    /// Jobs whose equation core checked (ring refused them), for the tests and the benchmark.
    pub by_core: usize,
}

/// Checks signature jobs on `threads` threads, keeping decompressed keys between batches.
pub struct SignatureChecker {
    threads: NonZeroUsize,
    /// Keys as ring reads them (uncompressed SEC1); `None`: not a point, and core refuses
    /// every signature under it.
    keys: HashMap<PublicKey, Option<[u8; 65]>>,
}

impl SignatureChecker {
    pub fn new(threads: NonZeroUsize) -> SignatureChecker {
        SignatureChecker { threads, keys: HashMap::new() }
    }

    /// One thread per core.
    pub fn on_every_core() -> SignatureChecker {
        SignatureChecker::new(std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
    }

    pub fn verify(&mut self, jobs: &[SignatureJob]) -> Checked {
        // Each new key is decompressed once (a square root), here, before the threads share
        // the cache.
        for job in jobs {
            if !self.keys.contains_key(&job.pubkey) {
                if self.keys.len() >= MAX_CACHED_KEYS {
                    self.keys.clear();
                }
                self.keys.insert(job.pubkey, job.pubkey.to_uncompressed_sec1());
            }
        }
        let keys = &self.keys;
        let threads = self.threads.get().min(jobs.len() / MIN_JOBS_PER_THREAD).max(1);
        if threads == 1 {
            return check_all(keys, jobs);
        }
        let per_thread = jobs.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let running: Vec<_> =
                jobs.chunks(per_thread).map(|part| scope.spawn(move || check_all(keys, part))).collect();
            let mut checked = Checked { results: Vec::with_capacity(jobs.len()), by_core: 0 };
            for thread in running {
                // A panic while checking is a bug here, not something a peer sent: pass it on.
                let part = thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                checked.results.extend(part.results);
                checked.by_core += part.by_core;
            }
            checked
        })
    }
}

fn check_all(keys: &HashMap<PublicKey, Option<[u8; 65]>>, jobs: &[SignatureJob]) -> Checked {
    let mut checked = Checked { results: Vec::with_capacity(jobs.len()), by_core: 0 };
    for job in jobs {
        let valid = if !job.check_form() {
            false
        } else if let Some(Some(key)) = keys.get(&job.pubkey)
            && UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key)
                .verify(&job.message.to_bytes(), &job.signature.0)
                .is_ok()
        {
            true
        } else {
            // Ring refused it, or the key is no point: core's answer.
            checked.by_core += 1;
            job.verify()
        };
        checked.results.push(valid);
    }
    checked
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tabcoin_core::SecretKey;
    use tabcoin_core::keys::CURVE_ORDER;
    use tabcoin_core::sigcheck::SignedMessage;

    use super::*;

    fn signed(key: &SecretKey, text: &str, index: u32) -> SignatureJob {
        SignatureJob::signed_by(key, SignedMessage::new(Arc::from(text.as_bytes()), index))
    }

    /// Valid signatures and every way core refuses one, with what core says of each.
    fn cases() -> Vec<(&'static str, SignatureJob)> {
        let key = SecretKey::from_entropy([3; 32]);
        let other = SecretKey::from_entropy([4; 32]);
        let valid = signed(&key, "a transaction's sighash prefix", 0);
        let mut cases = vec![("valid", valid.clone()), ("valid, second input", signed(&key, "another prefix", 1))];
        cases.push(("high S", SignatureJob { signature: valid.signature.malleated().unwrap(), ..valid.clone() }));
        cases.push(("wrong message", SignatureJob { message: signed(&key, "x", 0).message, ..valid.clone() }));
        cases.push((
            "wrong input index",
            SignatureJob { message: SignedMessage::new(Arc::clone(valid.message.prefix()), 1), ..valid.clone() },
        ));
        let mut flipped = valid.signature;
        flipped.0[40] ^= 1;
        cases.push(("flipped bit", SignatureJob { signature: flipped, ..valid.clone() }));
        let mut zero_r = valid.signature;
        zero_r.0[..32].fill(0);
        cases.push(("r = 0", SignatureJob { signature: zero_r, ..valid.clone() }));
        let mut zero_s = valid.signature;
        zero_s.0[32..].fill(0);
        cases.push(("s = 0", SignatureJob { signature: zero_s, ..valid.clone() }));
        let mut r_is_n = valid.signature;
        r_is_n.0[..32].copy_from_slice(&CURVE_ORDER);
        cases.push(("r = n", SignatureJob { signature: r_is_n, ..valid.clone() }));
        let mut x_only = valid.pubkey;
        x_only.0[0] = 0x05;
        cases.push(("0x05 key", SignatureJob { pubkey: x_only, ..valid.clone() }));
        let mut x_not_below_p = valid.pubkey;
        x_not_below_p.0[1..].fill(0xff);
        cases.push(("key with x not below p", SignatureJob { pubkey: x_not_below_p, ..valid.clone() }));
        let mut off_curve = x_not_below_p;
        off_curve.0[1] = 0xec; // x³ − 3x + b is no square for this x
        cases.push(("key not on the curve", SignatureJob { pubkey: off_curve, ..valid.clone() }));
        cases.push(("another key", SignatureJob { pubkey: other.public_key(), ..valid.clone() }));
        cases
    }

    #[test]
    fn ring_and_core_agree_and_core_sees_only_what_ring_refuses() {
        let cases = cases();
        let jobs: Vec<SignatureJob> = cases.iter().map(|(_, job)| job.clone()).collect();
        let checked = SignatureChecker::new(NonZeroUsize::MIN).verify(&jobs);
        for ((name, job), valid) in cases.iter().zip(&checked.results) {
            assert_eq!(*valid, job.verify(), "{name}: the checker and core differ");
            assert_eq!(*valid, name.starts_with("valid"), "{name}");
        }
        // Core looked at the refusals whose form and key passed (ring's answer is confirmed),
        // and at the keys that are no point; never at a valid signature.
        let refused_by_ring = ["wrong message", "wrong input index", "flipped bit", "another key"];
        let not_points = ["key not on the curve"];
        assert_eq!(checked.by_core, refused_by_ring.len() + not_points.len());
    }

    #[test]
    fn many_jobs_on_several_threads_keep_their_order() {
        let keys: Vec<SecretKey> = (0..5u8).map(|i| SecretKey::from_entropy([i + 10; 32])).collect();
        let jobs: Vec<SignatureJob> = (0..200u32)
            .map(|i| {
                let job = signed(&keys[i as usize % keys.len()], "prefix", i);
                // Every seventh is another input's signature.
                if i % 7 == 3 {
                    SignatureJob { message: signed(&keys[0], "prefix", i + 1).message, ..job }
                } else {
                    job
                }
            })
            .collect();
        let mut checker = SignatureChecker::new(NonZeroUsize::new(3).unwrap());
        let checked = checker.verify(&jobs);
        let expected: Vec<bool> = (0..200).map(|i| i % 7 != 3).collect();
        assert_eq!(checked.results, expected);
        // Again, with the keys cached.
        assert_eq!(checker.verify(&jobs).results, expected);
        assert_eq!(checker.verify(&[]).results, Vec::<bool>::new());
    }
}
