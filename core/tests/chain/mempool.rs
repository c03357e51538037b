//! Mempool policy and its consensus checks.

use tabcoin_core::params::{ChainParams, FeeRate};
use tabcoin_core::template::block_template;
use tabcoin_core::validation::TxError;
use tabcoin_core::wallet::{PaymentRequest, build_payment};
use tabcoin_core::{Amount, MempoolError};

use crate::harness::*;

/// Seed flaw: the mempool accepted a second spend of the same output.
#[test]
fn a_double_spend_across_the_mempool_is_rejected() {
    let mut t = TestChain::new(&key(1));
    let first = t.pay(&key(1), &key(2), coins(10), Amount::ZERO);
    let second = t.pay(&key(1), &key(3), coins(10), Amount::ZERO);
    t.submit(first.clone()).unwrap();
    assert_eq!(
        t.submit(second),
        Err(MempoolError::Conflict { outpoint: first.spends()[0].prev_out, with: first.txid() })
    );
    assert_eq!(t.submit(first), Err(MempoolError::AlreadyInMempool));
}

#[test]
fn a_confirmed_transaction_is_refused_again() {
    let mut t = TestChain::new(&key(1));
    let tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    t.submit(tx.clone()).unwrap();
    t.mine(&key(3));
    assert_eq!(t.submit(tx), Err(MempoolError::AlreadyConfirmed));
}

#[test]
fn chains_of_unconfirmed_transactions_are_allowed_up_to_the_depth() {
    let params = ChainParams { max_mempool_chain_depth: 3, ..ChainParams::test() };
    let mut t = TestChain::with_params(params, &key(1));
    for depth in 1..=3 {
        let tx = t.pay(&key(1), &key(1), coins(1), Amount::ZERO);
        t.submit(tx).unwrap();
        assert_eq!(t.mempool.len(), depth);
    }
    let too_deep = t.pay(&key(1), &key(1), coins(1), Amount::ZERO);
    assert_eq!(t.submit(too_deep), Err(MempoolError::ChainTooLong { depth: 4, max: 3 }));
    // All three fit in one block, parents first.
    let block = t.mine(&key(2));
    assert_eq!(block.txs.len(), 4);
    assert!(t.mempool.is_empty());
    assert_eq!(t.balance(&key(1)), coins(10));
    t.assert_consistent();
}

#[test]
fn the_minimum_fee_rate_is_enforced() {
    let params = ChainParams { min_relay_fee_rate: FeeRate(1000), ..ChainParams::test() };
    let mut t = TestChain::with_params(params, &key(1));
    let free = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    let bytes = free.encoded_len();
    let required = Amount::from_base_units(bytes as u64);
    assert_eq!(t.submit(free), Err(MempoolError::FeeTooLow { fee: Amount::ZERO, required }));
    let paid = t.pay(&key(1), &key(2), coins(1), required);
    t.submit(paid).unwrap();
}

#[test]
fn zero_fee_transactions_are_accepted_on_the_seeds_networks() {
    for params in [ChainParams::seed(), ChainParams::test()] {
        assert_eq!(params.min_relay_fee_rate, FeeRate(0));
        assert_eq!(params.coinbase_maturity, 0);
        assert_eq!(params.dust_threshold, Amount::ZERO);
    }
    let mut t = TestChain::new(&key(1));
    let tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    t.submit(tx).unwrap();
}

/// A mempool with room for about two payments of ~250 bytes, and keys 2, 3 and 4 holding
/// confirmed coins of their own, so their payments are independent.
fn small_mempool_with_funded_keys() -> TestChain {
    let params = ChainParams { max_mempool_bytes: 500, ..ChainParams::test() };
    let mut t = TestChain::with_params(params, &key(1));
    for k in 2..=4 {
        let tx = t.pay(&key(1), &key(k), coins(3), Amount::ZERO);
        t.submit(tx).unwrap();
        t.mine(&key(7));
    }
    t
}

#[test]
fn a_full_mempool_evicts_the_lowest_fee_rate() {
    let mut t = small_mempool_with_funded_keys();
    let cheap = t.pay(&key(2), &key(5), coins(1), Amount::from_base_units(100));
    let middle = t.pay(&key(3), &key(5), coins(1), Amount::from_base_units(1_000));
    let rich = t.pay(&key(4), &key(5), coins(1), Amount::from_base_units(10_000));
    t.submit(cheap.clone()).unwrap();
    t.submit(middle.clone()).unwrap();
    let accepted = t.mempool.accept(rich.clone(), &t.chain).unwrap();
    assert_eq!(accepted.evicted, vec![cheap.txid()]);
    assert!(t.mempool.contains(&middle.txid()) && t.mempool.contains(&rich.txid()));
    // Now a payment cheaper than everything held is refused outright.
    let cheaper = t.pay(&key(2), &key(6), coins(1), Amount::from_base_units(50));
    assert!(matches!(t.submit(cheaper), Err(MempoolError::Full { .. })));
    assert!(t.mempool.total_bytes() <= 500);
}

#[test]
fn templates_take_the_best_fees_and_pay_them_to_the_miner() {
    let mut t = TestChain::new(&key(1));
    let tx = t.pay(&key(1), &key(2), coins(1), coins(2));
    t.submit(tx.clone()).unwrap();
    let template = block_template(&t.chain, &t.mempool, owner(&key(3)), t.now + 5, b"hello".to_vec()).unwrap();
    assert_eq!(template.fees, coins(2));
    assert_eq!(template.block.txs[0].outputs[0].amount, coins(12));
    assert_eq!(template.block.txs[1], tx);
    let block = template.mine().unwrap();
    t.accept(block).unwrap();
    assert_eq!(t.balance(&key(3)), coins(12));
    assert_eq!(t.balance(&key(1)), coins(7));
}

#[test]
fn a_block_evicts_mempool_transactions_that_conflict_with_it() {
    let mut t = TestChain::new(&key(1));
    let ours = t.pay(&key(1), &key(2), coins(10), Amount::ZERO);
    let theirs = t.pay(&key(1), &key(3), coins(10), Amount::ZERO);
    t.submit(ours.clone()).unwrap();
    let child = t.pay(&key(2), &key(4), coins(1), Amount::ZERO);
    t.submit(child.clone()).unwrap();
    // A block confirms the other spend: ours and its child are dropped.
    let block = t.block_with(&key(5), vec![theirs]);
    let change = t.chain.accept_block(block, t.now).unwrap();
    let mut dropped = t.mempool.update_for_chain(&t.chain, &change);
    dropped.sort();
    let mut expected = vec![ours.txid(), child.txid()];
    expected.sort();
    assert_eq!(dropped, expected);
    assert!(t.mempool.is_empty());
}

#[test]
fn a_coinbase_is_refused_by_the_mempool() {
    let mut t = TestChain::new(&key(1));
    let block = t.block_with(&key(2), vec![]);
    assert_eq!(t.submit(block.txs[0].clone()), Err(MempoolError::Invalid(TxError::UnexpectedCoinbase)));
}

#[test]
fn a_transaction_that_can_not_get_in_evicts_nothing() {
    // The one that does not fit pays less than both already there.
    let mut t = small_mempool_with_funded_keys();
    let a = t.pay(&key(2), &key(5), coins(1), Amount::from_base_units(1_000));
    let b = t.pay(&key(3), &key(5), coins(1), Amount::from_base_units(2_000));
    t.submit(a.clone()).unwrap();
    t.submit(b.clone()).unwrap();
    let cheap = t.pay(&key(4), &key(5), coins(1), Amount::from_base_units(500));
    assert!(matches!(t.submit(cheap), Err(MempoolError::Full { .. })));
    assert!(t.mempool.contains(&a.txid()) && t.mempool.contains(&b.txid()));

    // A child paying well can not push out its own low-fee parent.
    let from_a: Vec<_> = t
        .mempool
        .spendable_coins(&t.chain, &owner(&key(5)))
        .into_iter()
        .filter(|(op, _)| op.txid == a.txid())
        .collect();
    let request = PaymentRequest {
        from: t.address(&key(5)),
        to: t.address(&key(6)),
        amount: Amount::from_base_units(1_000),
        fee: Amount::from_base_units(50_000),
    };
    let child_of_a = build_payment(&t.keys, t.chain.params(), &from_a, &request).unwrap();
    assert_eq!(child_of_a.spends()[0].prev_out.txid, a.txid());
    let result = t.mempool.accept(child_of_a, &t.chain);
    assert!(matches!(result, Err(MempoolError::Full { .. })), "{result:?}");
    assert_eq!(t.mempool.len(), 2);
}

#[test]
fn chain_depth_counts_only_unconfirmed_ancestors() {
    let params = ChainParams { max_mempool_chain_depth: 2, ..ChainParams::test() };
    let mut t = TestChain::with_params(params, &key(1));
    let first = t.pay(&key(1), &key(1), coins(1), Amount::ZERO);
    t.submit(first.clone()).unwrap();
    let second = t.pay(&key(1), &key(1), coins(1), Amount::ZERO);
    t.submit(second.clone()).unwrap();
    // `first` confirms on its own: `second` is now at depth 1, so a child of it fits.
    let block = t.block_with(&key(3), vec![first]);
    t.accept(block).unwrap();
    assert_eq!(t.mempool.get(&second.txid()).unwrap().depth, 1);
    let third = t.pay(&key(1), &key(1), coins(1), Amount::ZERO);
    t.submit(third).unwrap();
}

/// Signatures checked elsewhere (`signature_jobs`, then `accept_with`) count only for the
/// transaction and outputs they were checked for: answers for another transaction, or no
/// answers, leave the mempool checking them itself.
#[test]
fn signatures_checked_elsewhere_count_only_for_their_transaction() {
    use tabcoin_core::sigcheck::{SignatureBatch, SignatureMode, VerifiedTxs};
    use tabcoin_core::tx::{InputError, TxInputs};
    let mut t = TestChain::new(&key(1));
    let honest = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    let mut forged = honest.clone();
    forged.outputs[0].amount = coins(2);
    forged.outputs[1].amount = coins(8);

    let jobs = t.mempool.signature_jobs(&honest, &t.chain).unwrap();
    assert_eq!(jobs.jobs.len(), honest.spends().len());
    assert!(jobs.jobs.iter().all(|job| job.verify()));
    let honest_checked = jobs.verified(&[true]);
    // The forged payment with the honest one's answers, or with none: checked here, refused.
    for answers in [&honest_checked, &VerifiedTxs::default()] {
        let refused = t.mempool.accept_with(forged.clone(), &t.chain, SignatureMode::Prechecked(answers));
        assert!(
            matches!(refused, Err(MempoolError::Invalid(TxError::Input(InputError::BadSignature { .. })))),
            "{refused:?}"
        );
    }
    // A failed answer vouches for nothing either.
    let failed = t.mempool.signature_jobs(&forged, &t.chain).unwrap().verified(&[false]);
    assert!(t.mempool.accept_with(forged, &t.chain, SignatureMode::Prechecked(&failed)).is_err());
    // Keys that do not own what they spend get no jobs.
    let mut theft = honest.clone();
    if let TxInputs::Spend(inputs) = &mut theft.inputs {
        inputs[0].pubkey = key(3).public_key();
    }
    assert!(t.mempool.signature_jobs(&theft, &t.chain).unwrap().jobs.is_empty());
    assert_eq!(SignatureBatch::for_transaction(&honest, vec![]).jobs.len(), 0, "outputs missing");

    t.mempool.accept_with(honest.clone(), &t.chain, SignatureMode::Prechecked(&honest_checked)).unwrap();
    assert!(t.mempool.contains(&honest.txid()));
    assert_eq!(t.mempool.signature_jobs(&honest, &t.chain).err(), Some(MempoolError::AlreadyInMempool));
}

/// Main is meant to hold value: coinbases mature after 100 blocks, a fee floor, a dust
/// threshold. Shown on a chain with main's policy and rules but a trivial proof of work.
fn main_rules_cheap_work() -> ChainParams {
    let test = ChainParams::test();
    ChainParams {
        pow_limit: test.pow_limit,
        difficulty: test.difficulty,
        address_version: test.address_version,
        ..ChainParams::main()
    }
}

#[test]
fn main_has_a_coinbase_maturity_a_fee_floor_and_a_dust_threshold() {
    let main = ChainParams::main();
    assert_eq!(main.coinbase_maturity, 100);
    assert!(main.min_relay_fee_rate > FeeRate(0));
    assert!(main.dust_threshold > Amount::ZERO);

    let mut t = TestChain::with_params(main_rules_cheap_work(), &key(1));
    // The genesis output is a coinbase: not spendable for 100 blocks, so a shallow
    // reorganisation can never erase a payment built on it. The wallet does not offer it,
    // and a spend made by hand is refused.
    assert!(t.mempool.spendable_coins(&t.chain, &owner(&key(1))).is_empty());
    let genesis_coin = t.chain.utxos().coins_of(&owner(&key(1)))[0];
    let mut early = tabcoin_core::Transaction {
        version: 1,
        inputs: tabcoin_core::tx::TxInputs::Spend(vec![tabcoin_core::TxIn {
            prev_out: genesis_coin.0,
            pubkey: key(1).public_key(),
            signature: tabcoin_core::Signature([0; 64]),
        }]),
        outputs: vec![tabcoin_core::TxOut { amount: coins(9), pubkey_hash: owner(&key(2)) }],
    };
    early.sign_all(&key(1), &[coins(10)]);
    assert!(matches!(
        t.submit(early),
        Err(MempoolError::Invalid(tabcoin_core::TxError::ImmatureCoinbase { required: 100, .. }))
    ));
    for _ in 0..100 {
        t.mine(&key(3));
    }
    let fee = coins(1);
    // An output below the dust threshold is refused, saying so.
    let mut dusty = t.pay(&key(1), &key(2), Amount::from_base_units(399), fee);
    dusty.outputs.retain(|o| o.amount == Amount::from_base_units(399));
    let dusty = {
        let mut tx = dusty;
        tx.outputs.push(tabcoin_core::TxOut { amount: coins(8), pubkey_hash: owner(&key(1)) });
        tx.sign_all(&key(1), &[coins(10)]);
        tx
    };
    let refused = t.submit(dusty).unwrap_err();
    assert!(matches!(refused, MempoolError::Dust { index: 0, .. }), "{refused:?}");
    assert!(refused.to_string().contains("dust threshold"), "{refused}");
    // Mature, with a fee: taken.
    let paid = t.pay(&key(1), &key(2), coins(1), fee);
    t.submit(paid).unwrap();
}
