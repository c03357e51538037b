//! Signature checks handed out as jobs and the results taken back.

use tabcoin_core::hash::sha256;
use tabcoin_core::sigcheck::SignatureBatch;
use tabcoin_core::tx::TxInputs;
use tabcoin_core::validation::TxError;
use tabcoin_core::{Amount, BlockError, Transaction};

use crate::harness::*;

/// Two blocks: the second spends an output the first creates, and spends within itself.
fn two_blocks(t: &mut TestChain) -> Vec<tabcoin_core::Block> {
    let mut scratch = TestChain::new(&key(1));
    scratch.now = t.now;
    let a = scratch.pay(&key(1), &key(2), coins(4), Amount::ZERO);
    scratch.submit(a.clone()).unwrap();
    let first = scratch.mine(&key(3));
    let b = scratch.pay(&key(2), &key(4), coins(1), Amount::ZERO);
    scratch.submit(b.clone()).unwrap();
    let c = scratch.pay(&key(4), &key(5), coins(1), Amount::ZERO);
    scratch.submit(c).unwrap();
    let second = scratch.mine(&key(3));
    assert_eq!((first.txs.len(), second.txs.len()), (2, 3));
    t.now = scratch.now;
    vec![first, second]
}

#[test]
fn jobs_cover_every_input_of_a_run_of_blocks() {
    let mut t = TestChain::new(&key(1));
    let blocks = two_blocks(&mut t);
    let batch = SignatureBatch::for_blocks(&t.chain, &blocks);
    assert_eq!(batch.jobs.len(), 3, "one per input, including outputs made earlier in the run");
    let results: Vec<bool> = batch.jobs.iter().map(|j| j.verify()).collect();
    assert!(results.iter().all(|ok| *ok));
    let verified = batch.verified(&results);
    assert_eq!(verified.len(), 3);

    let mut plain = TestChain::new(&key(1));
    for block in &blocks {
        t.chain.accept_block_verified(block.clone(), t.now, &verified).unwrap();
        plain.chain.accept_block(block.clone(), t.now).unwrap();
    }
    assert_eq!(t.chain.tip(), plain.chain.tip());
    assert_eq!(t.chain.utxos(), plain.chain.utxos());
}

/// A job carries what its input signed, so that a shell may hand it to an ECDSA-P256-SHA256
/// that hashes for itself; the form rules such a verifier may skip are core's to check.
#[test]
fn a_job_carries_the_signed_message_and_its_form_rules() {
    let mut t = TestChain::new(&key(1));
    let blocks = two_blocks(&mut t);
    let batch = SignatureBatch::for_blocks(&t.chain, &blocks);
    let payment = &blocks[0].txs[1];
    let spent = [t.chain.utxos().get(&payment.spends()[0].prev_out).unwrap().output.amount];
    let job = &batch.jobs[0];
    assert_eq!(sha256(&job.message.to_bytes()), payment.sighash(&payment.txid(), &spent, 0));
    assert_eq!(job.message.digest(), payment.sighash(&payment.txid(), &spent, 0));
    let mut expected = Transaction::sighash_prefix(&payment.txid(), &spent);
    expected.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(job.message.to_bytes(), expected);
    assert_eq!(job.message.len(), expected.len());
    assert!(batch.jobs.iter().all(|job| job.check_form() && job.verify()));

    let mut bad_prefix = job.clone();
    bad_prefix.pubkey.0[0] = 0x05;
    assert!(!bad_prefix.check_form() && !bad_prefix.verify());
    let mut zero = job.clone();
    zero.signature.0 = [0; 64];
    assert!(!zero.check_form() && !zero.verify());
}

/// The jobs of one transaction share its sighash prefix (8 bytes an input), so a
/// transaction's jobs take memory in proportion to its inputs, not to their square.
#[test]
fn the_jobs_of_a_transaction_share_its_prefix() {
    let mut t = TestChain::new(&key(1));
    let mut scratch = TestChain::new(&key(1));
    scratch.now = t.now;
    let mut blocks = Vec::new();
    for _ in 0..2 {
        let pay = scratch.pay(&key(1), &key(2), coins(2), Amount::ZERO);
        scratch.submit(pay).unwrap();
        blocks.push(scratch.mine(&key(3)));
    }
    let both = scratch.pay(&key(2), &key(4), coins(3), Amount::ZERO);
    assert_eq!(both.spends().len(), 2);
    scratch.submit(both).unwrap();
    blocks.push(scratch.mine(&key(3)));
    t.now = scratch.now;

    let batch = SignatureBatch::for_blocks(&t.chain, &blocks);
    let (first, second) = (&batch.jobs[2], &batch.jobs[3]);
    assert!(std::sync::Arc::ptr_eq(first.message.prefix(), second.message.prefix()));
    assert_eq!((first.message.index(), second.message.index()), (0, 1));
    assert!(!std::sync::Arc::ptr_eq(batch.jobs[0].message.prefix(), first.message.prefix()));
    assert!(batch.jobs.iter().all(|job| job.verify()));
}

/// A transaction the shell did not vouch for is checked in full when connected.
#[test]
fn a_failed_or_missing_result_means_the_block_checks_the_signature_itself() {
    let mut t = TestChain::new(&key(1));
    let mut blocks = two_blocks(&mut t);
    // Forge the second block's first payment: a different split, same total.
    let forged: &mut Transaction = &mut blocks[1].txs[1];
    forged.outputs[0].amount = Amount::from_base_units(forged.outputs[0].amount.base_units() - 1);
    forged.outputs[1].amount = Amount::from_base_units(forged.outputs[1].amount.base_units() + 1);
    let second = recommit_and_mine(blocks[1].clone());
    blocks[1] = second;
    let batch = SignatureBatch::for_blocks(&t.chain, &blocks);
    let results: Vec<bool> = batch.jobs.iter().map(|j| j.verify()).collect();
    // The forged payment fails; the one spending its output now names a txid that does not
    // exist, so it gets no job at all.
    assert_eq!(results, vec![true, false]);
    let verified = batch.verified(&results);
    assert_eq!(verified.len(), 1);
    t.chain.accept_block_verified(blocks[0].clone(), t.now, &verified).unwrap();
    let err = t.chain.accept_block_verified(blocks[1].clone(), t.now, &verified).unwrap_err();
    assert!(matches!(err, BlockError::Tx { error: TxError::Input(_), .. }), "{err:?}");

    // Too few results: nothing is vouched for.
    let batch = SignatureBatch::for_blocks(&t.chain, &blocks[1..]);
    assert_eq!(batch.jobs.len(), 1);
    assert!(batch.verified(&[]).is_empty());
}

/// Results computed against other spent outputs do not carry over.
#[test]
fn a_result_only_covers_the_outputs_it_was_checked_against() {
    let mut t = TestChain::new(&key(1));
    let blocks = two_blocks(&mut t);
    let batch = SignatureBatch::for_blocks(&t.chain, &blocks);
    let verified = batch.verified(&[true, true, true]);
    let tx = &blocks[0].txs[1];
    let mut spent = vec![tabcoin_core::TxOut { amount: coins(10), pubkey_hash: owner(&key(1)) }];
    assert!(verified.covers(&tx.wtxid(), &spent));
    spent[0].amount = coins(9);
    assert!(!verified.covers(&tx.wtxid(), &spent));
    assert!(matches!(tx.inputs, TxInputs::Spend(_)));
}

/// The jobs of a run handed out while the run before it is still out: outputs the earlier run
/// creates are spendable, and the results let both connect.
#[test]
fn a_run_after_one_still_out_gets_jobs_for_what_the_earlier_run_creates() {
    let mut t = TestChain::new(&key(1));
    let blocks = two_blocks(&mut t);
    let alone = SignatureBatch::for_blocks(&t.chain, &blocks[1..]);
    assert_eq!(alone.jobs.len(), 1, "without the first block, its output is unknown: only the in-block spend");
    let after = SignatureBatch::for_blocks_after(&t.chain, &blocks[..1], &blocks[1..]);
    assert_eq!(after.jobs.len(), 2, "the second block's spend of the first block's output gets its job");
    let first = SignatureBatch::for_blocks(&t.chain, &blocks[..1]);
    let first_results: Vec<bool> = first.jobs.iter().map(|j| j.verify()).collect();
    let after_results: Vec<bool> = after.jobs.iter().map(|j| j.verify()).collect();
    assert!(first_results.iter().chain(&after_results).all(|ok| *ok));
    t.chain.accept_block_verified(blocks[0].clone(), t.now, &first.verified(&first_results)).unwrap();
    let verified = after.verified(&after_results);
    assert_eq!(verified.len(), 2);
    t.chain.accept_block_verified(blocks[1].clone(), t.now, &verified).unwrap();
    assert_eq!(t.chain.height(), 2);
}

/// Jobs go to a shell's checkers (Web Workers) as bytes: each prefix once, a partial job
/// dropped, nothing read past the end.
#[test]
fn jobs_round_trip_through_their_encoding_with_each_prefix_once() {
    use std::sync::Arc;
    use tabcoin_core::sigcheck::{JOB_BYTES, SignatureJob, SignedMessage, decode_jobs, encode_jobs};
    let signer = key(6);
    let signed =
        |prefix: &Arc<[u8]>, index| SignatureJob::signed_by(&signer, SignedMessage::new(Arc::clone(prefix), index));
    let shared: Arc<[u8]> = Arc::from(&[7u8; 300][..]);
    let jobs = vec![signed(&Arc::from(&b"one"[..]), 0), signed(&shared, 0), signed(&shared, 1)];
    let mut bytes = encode_jobs(&jobs);
    assert_eq!(bytes.len(), (4 + 3 + 4 + JOB_BYTES) + (4 + 300 + 4 + 2 * JOB_BYTES));
    let decoded = decode_jobs(&bytes);
    assert_eq!(decoded, jobs);
    assert!(Arc::ptr_eq(decoded[1].message.prefix(), decoded[2].message.prefix()));
    assert!(decoded.iter().all(SignatureJob::verify));
    bytes.truncate(bytes.len() - 1);
    assert_eq!(decode_jobs(&bytes), jobs[..2], "a partial job is not a job");
    assert_eq!(decode_jobs(&[]), vec![]);
    assert_eq!(decode_jobs(&[0xff; 9]), vec![], "a prefix longer than the bytes");
}
