//! Blocks and transactions accepted with every signature checked by the shell
//! (`accept_block_deferred`, `accept_deferred`): the jobs come out first, with nothing
//! changed, and the answers decide.

use tabcoin_core::chain::BlockAcceptance;
use tabcoin_core::keys::SignatureError;
use tabcoin_core::mempool::TxAcceptance;
use tabcoin_core::sigcheck::{SignatureBatch, VerifiedTxs};
use tabcoin_core::tx::{InputError, TxInputs};
use tabcoin_core::validation::TxError;
use tabcoin_core::{Amount, Block, BlockError, MempoolError, Transaction};

use crate::harness::*;

/// The jobs `block` needs before it can be accepted on `t`'s chain (panics if it needs none).
fn jobs_for(t: &mut TestChain, block: &Block) -> SignatureBatch {
    match t.chain.accept_block_deferred(block.clone(), t.now, &VerifiedTxs::default()) {
        Ok(BlockAcceptance::NeedsSignatures(batch)) => batch,
        other => panic!("expected jobs to check, got {other:?}"),
    }
}

/// Answers as core would.
fn answers(batch: SignatureBatch) -> VerifiedTxs {
    let results: Vec<bool> = batch.jobs.iter().map(|job| job.verify()).collect();
    batch.verified(&results)
}

fn accept_deferred(t: &mut TestChain, block: &Block, checked: &VerifiedTxs) -> Result<BlockAcceptance, BlockError> {
    let result = t.chain.accept_block_deferred(block.clone(), t.now, checked);
    if let Ok(BlockAcceptance::Accepted(accepted)) = &result {
        t.store.apply(&accepted.batch);
    }
    result
}

/// A block on `t`'s tip carrying a payment of `key(1)`'s, edited by `edit` (not accepted).
fn block_paying(t: &mut TestChain, edit: impl FnOnce(&mut Transaction)) -> Block {
    let mut pay = t.pay(&key(1), &key(2), coins(4), Amount::ZERO);
    edit(&mut pay);
    let block = t.block_with(&key(3), vec![pay]);
    recommit_and_mine(block)
}

#[test]
fn a_block_asks_for_its_checks_and_changes_nothing_until_the_answers_come() {
    let mut t = TestChain::new(&key(1));
    let block = block_paying(&mut t, |_| {});
    let (tip, utxos) = (t.chain.tip(), t.chain.utxos().clone());
    let batch = jobs_for(&mut t, &block);
    assert_eq!(batch.jobs.len(), block.txs[1].spends().len(), "one job per input; the coinbase has none");
    assert_eq!((t.chain.tip(), t.chain.utxos()), (tip, &utxos));
    assert!(t.chain.block_info(&block.block_hash()).is_none(), "not stored either");
    assert!(!t.chain.is_known_invalid(&block.block_hash()));
    assert_eq!(jobs_for(&mut t, &block).jobs, batch.jobs, "asked again, the same jobs");

    let accepted = match accept_deferred(&mut t, &block, &answers(batch)).unwrap() {
        BlockAcceptance::Accepted(accepted) => accepted,
        other => panic!("{other:?}"),
    };
    assert_eq!(accepted.connected, vec![block.block_hash()]);
    let mut plain = TestChain::new(&key(1));
    plain.chain.accept_block(block, t.now).unwrap();
    assert_eq!(t.chain.utxos(), plain.chain.utxos());
    t.assert_consistent();
}

/// Core checks no signature of a deferred block itself: a shell vouching for a forged one
/// is believed (a shell's true answer is trusted, see ARCHITECTURE.md), which is the only
/// way to see that from outside.
#[test]
fn a_deferred_block_takes_the_shells_answers_and_checks_no_signature_itself() {
    let mut t = TestChain::new(&key(1));
    let forged = block_paying(&mut t, |pay| {
        pay.outputs[0].amount = coins(5);
        pay.outputs[1].amount = Amount::from_base_units(pay.outputs[1].amount.base_units() - coins(1).base_units());
    });
    let batch = jobs_for(&mut t, &forged);
    assert!(!batch.jobs[0].verify());
    let vouched = batch.verified(&[true]);
    assert!(matches!(accept_deferred(&mut t, &forged, &vouched), Ok(BlockAcceptance::Accepted(_))));
    assert_eq!(t.chain.tip(), forged.block_hash());
}

/// A refused answer fails the block with the input and, as far as core can tell from the
/// signature's bytes, why; the block is remembered as invalid.
#[test]
fn a_refused_signature_fails_the_block_with_its_input_and_reason() {
    for (malleate, reason) in [(false, SignatureError::Refused), (true, SignatureError::HighS)] {
        let mut t = TestChain::new(&key(1));
        let block = block_paying(&mut t, |pay| {
            if let TxInputs::Spend(inputs) = &mut pay.inputs {
                inputs[0].signature = if malleate {
                    inputs[0].signature.malleated().unwrap()
                } else {
                    let mut flipped = inputs[0].signature;
                    flipped.0[10] ^= 1;
                    flipped
                };
            }
        });
        let batch = jobs_for(&mut t, &block);
        let err = match accept_deferred(&mut t, &block, &answers(batch)) {
            Err(err) => err,
            other => panic!("{other:?}"),
        };
        let expected = TxError::Input(InputError::BadSignature { input: 0, error: reason });
        assert!(matches!(&err, BlockError::Tx { index: 1, error, .. } if *error == expected), "{err:?}");
        assert!(t.chain.is_known_invalid(&block.block_hash()));
        assert_eq!(t.chain.height(), 0);
    }
}

/// Keys that do not own the coins they spend need no signature check to be refused.
#[test]
fn a_theft_is_refused_at_once_with_no_checks() {
    let mut t = TestChain::new(&key(1));
    let block = block_paying(&mut t, |pay| {
        if let TxInputs::Spend(inputs) = &mut pay.inputs {
            inputs[0].pubkey = key(7).public_key();
        }
    });
    let err = accept_deferred(&mut t, &block, &VerifiedTxs::default()).unwrap_err();
    assert!(
        matches!(err, BlockError::Tx { error: TxError::Input(InputError::KeyMismatch { input: 0 }), .. }),
        "{err:?}"
    );
}

/// A branch that overtakes the best chain asks once for the checks of all its blocks, with
/// the best chain left as it was; with the answers, it reorganises.
#[test]
fn a_branch_overtaking_the_best_chain_asks_once_for_all_its_blocks() {
    let mut t = TestChain::new(&key(1));
    // The branch: two blocks from the genesis, the second spending the first's payment.
    let mut scratch = TestChain::new(&key(1));
    let first_pay = scratch.pay(&key(1), &key(2), coins(4), Amount::ZERO);
    scratch.submit(first_pay).unwrap();
    let b1 = scratch.mine(&key(3));
    let second_pay = scratch.pay(&key(2), &key(4), coins(1), Amount::ZERO);
    scratch.submit(second_pay).unwrap();
    let b2 = scratch.mine(&key(3));
    // The best chain: one block of its own.
    t.now = scratch.now;
    let a1 = t.block_with(&key(5), vec![]);
    t.accept(a1.clone()).unwrap();
    let utxos = t.chain.utxos().clone();

    // b1 alone has no more work than a1: stored, nothing to check yet.
    match accept_deferred(&mut t, &b1, &VerifiedTxs::default()).unwrap() {
        BlockAcceptance::Accepted(accepted) => assert!(accepted.connected.is_empty()),
        other => panic!("{other:?}"),
    }
    let batch = jobs_for(&mut t, &b2);
    assert_eq!(batch.jobs.len(), 2, "b1's payment and b2's, in one round");
    assert_eq!((t.chain.tip(), t.chain.utxos()), (a1.block_hash(), &utxos), "the best chain as it was");
    assert!(t.chain.block_info(&b2.block_hash()).is_none());

    let accepted = match accept_deferred(&mut t, &b2, &answers(batch)).unwrap() {
        BlockAcceptance::Accepted(accepted) => accepted,
        other => panic!("{other:?}"),
    };
    assert_eq!(accepted.disconnected, vec![a1.block_hash()]);
    assert_eq!(accepted.connected, vec![b1.block_hash(), b2.block_hash()]);
    assert_eq!(t.chain.utxos(), scratch.chain.utxos());
    t.assert_consistent();
}

/// The mempool's side: jobs first, then the answers; answers for other spent outputs (the
/// chain moved meanwhile) answer for nothing, and a refusal names the input.
#[test]
fn a_transaction_deferred_to_the_shell_enters_with_its_answers() {
    let mut t = TestChain::new(&key(1));
    let pay = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    let batch = match t.mempool.accept_deferred(pay.clone(), &t.chain, &VerifiedTxs::default()).unwrap() {
        TxAcceptance::NeedsSignatures(batch) => batch,
        other => panic!("{other:?}"),
    };
    assert!(t.mempool.is_empty());
    assert_eq!(batch.jobs, t.mempool.signature_jobs(&pay, &t.chain).unwrap().jobs);

    let refused = t.mempool.signature_jobs(&pay, &t.chain).unwrap().verified(&[false]);
    let err = t.mempool.accept_deferred(pay.clone(), &t.chain, &refused).unwrap_err();
    let expected = TxError::Input(InputError::BadSignature { input: 0, error: SignatureError::Refused });
    assert_eq!(err, MempoolError::Invalid(expected));

    // Answers computed against another amount spent: asked again.
    let other_spent = vec![tabcoin_core::TxOut { amount: coins(9), pubkey_hash: owner(&key(1)) }];
    let elsewhere = SignatureBatch::for_transaction(&pay, other_spent).verified(&[true]);
    assert!(matches!(
        t.mempool.accept_deferred(pay.clone(), &t.chain, &elsewhere),
        Ok(TxAcceptance::NeedsSignatures(_))
    ));

    assert!(matches!(t.mempool.accept_deferred(pay.clone(), &t.chain, &answers(batch)), Ok(TxAcceptance::Accepted(_))));
    assert!(t.mempool.contains(&pay.txid()));
}
