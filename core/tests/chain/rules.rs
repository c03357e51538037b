//! Every consensus rule, broken once, with the specific rejection. Among them the seed's flaws
//! (the Go original's, listed in the README, "What it fixes in the seed"): each of those blocks would be
//! accepted by the seed.

use tabcoin_core::difficulty::{self, DifficultyRule, ParentTiming};
use tabcoin_core::keys::Signature;
use tabcoin_core::params::ChainParams;
use tabcoin_core::pow::{CompactTarget, TargetError};
use tabcoin_core::template::create_genesis;
use tabcoin_core::tx::{InputError, TxIn, TxInputs};
use tabcoin_core::validation::TxError;
use tabcoin_core::{Address, Amount, BlockError, BlockHash, ChainState, OutPoint, Transaction, TxOut};

use crate::harness::*;

fn tx_error(result: Result<impl std::fmt::Debug, BlockError>) -> TxError {
    match result {
        Err(BlockError::Tx { error, .. }) => error,
        other => panic!("expected a transaction error, got {other:?}"),
    }
}

/// A chain where key 1 owns the genesis output (10 coins).
fn chain() -> TestChain {
    TestChain::new(&key(1))
}

#[test]
fn a_valid_block_is_accepted_and_extends_the_chain() {
    let mut t = chain();
    let tx = t.pay(&key(1), &key(2), coins(3), Amount::ZERO);
    let block = t.block_with(&key(3), vec![tx]);
    let accepted = t.accept(via_wire(&block)).unwrap();
    assert_eq!(accepted.connected, vec![block.block_hash()]);
    assert_eq!(t.chain.height(), 1);
    assert_eq!(t.balance(&key(1)), coins(7));
    assert_eq!(t.balance(&key(2)), coins(3));
    assert_eq!(t.balance(&key(3)), coins(10));
    t.assert_consistent();
}

/// Seed flaw: anyone could spend any output.
#[test]
fn spending_someone_elses_output_with_your_own_key_is_rejected() {
    let mut t = chain();
    let genesis_coinbase = t.chain.block(&t.chain.genesis_hash()).unwrap().txs[0].txid();
    let mallory = key(6);
    let mut theft = Transaction {
        version: 1,
        inputs: TxInputs::Spend(vec![TxIn {
            prev_out: OutPoint { txid: genesis_coinbase, vout: 0 },
            pubkey: mallory.public_key(),
            signature: Signature([0; 64]),
        }]),
        outputs: vec![TxOut { amount: coins(10), pubkey_hash: owner(&mallory) }],
    };
    theft.sign_all(&mallory, &[coins(10)]);
    let block = t.block_with(&mallory, vec![theft.clone()]);
    assert_eq!(tx_error(t.accept(block)), TxError::Input(InputError::KeyMismatch { input: 0 }));
    assert_eq!(t.chain.height(), 0);
    assert!(matches!(
        t.submit(theft),
        Err(tabcoin_core::MempoolError::Invalid(TxError::Input(InputError::KeyMismatch { input: 0 })))
    ));
}

/// Seed flaw: outputs could be rewritten after signing.
#[test]
fn changing_an_output_after_signing_is_rejected() {
    let mut t = chain();
    let mut tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    tx.outputs[0].pubkey_hash = owner(&key(6));
    let block = t.block_with(&key(3), vec![tx.clone()]);
    assert!(matches!(tx_error(t.accept(block)), TxError::Input(InputError::BadSignature { input: 0, .. })));
    assert!(t.submit(tx).is_err());
}

/// Seed flaw: double spends inside a block were accepted.
#[test]
fn a_double_spend_inside_one_block_is_rejected() {
    let mut t = chain();
    let first = t.pay(&key(1), &key(2), coins(10), Amount::ZERO);
    let second = t.pay(&key(1), &key(3), coins(10), Amount::ZERO);
    assert_ne!(first.txid(), second.txid());
    let spent = first.spends()[0].prev_out;
    let block = t.block_with(&key(4), vec![first, second]);
    assert_eq!(t.accept(block), Err(BlockError::DoubleSpend(spent)));
}

#[test]
fn spending_an_output_already_spent_in_an_earlier_block_is_rejected() {
    let mut t = chain();
    let first = t.pay(&key(1), &key(2), coins(10), Amount::ZERO);
    let second = t.pay(&key(1), &key(3), coins(10), Amount::ZERO);
    let spent = second.spends()[0].prev_out;
    let block = t.block_with(&key(4), vec![first]);
    t.accept(block).unwrap();
    let block = t.block_with(&key(4), vec![second]);
    assert_eq!(tx_error(t.accept(block)), TxError::MissingInput(spent));
    t.assert_consistent();
}

#[test]
fn a_transaction_spending_the_same_output_twice_is_rejected() {
    let mut t = chain();
    let mut tx = t.pay(&key(1), &key(2), coins(5), Amount::ZERO);
    if let TxInputs::Spend(inputs) = &mut tx.inputs {
        inputs.push(inputs[0]);
    }
    let spent = tx.spends()[0].prev_out;
    tx.sign_all(&key(1), &[coins(10), coins(10)]);
    let block = t.block_with(&key(4), vec![tx]);
    assert_eq!(tx_error(t.accept(block)), TxError::DuplicateInput(spent));
}

#[test]
fn a_block_with_a_wrong_merkle_root_is_rejected() {
    let mut t = chain();
    let mut block = t.block_with(&key(2), vec![]);
    block.header.merkle_root.0[0] ^= 1;
    let block =
        template_mine_keep_commitments(tabcoin_core::template::BlockTemplate { block, height: 1, fees: Amount::ZERO });
    assert_eq!(t.accept(block), Err(BlockError::BadMerkleRoot));
}

/// CVE-2012-2459: the same header with its last transactions repeated. The mutated copy is
/// rejected without condemning the hash, so the real block is still accepted afterwards.
#[test]
fn a_merkle_mutation_is_rejected_and_the_real_block_still_accepted() {
    let mut t = chain();
    // [coinbase, a, b]: three transactions, so the last is paired with itself.
    let a = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    t.submit(a.clone()).unwrap();
    let b = t.pay(&key(2), &key(3), coins(1), Amount::ZERO);
    t.submit(b.clone()).unwrap();
    let real = t.block_with(&key(4), vec![a, b.clone()]);
    let mut mutated = real.clone();
    mutated.txs.push(b);
    assert_eq!(mutated.compute_merkle_root().0, real.header.merkle_root);
    assert_eq!(mutated.block_hash(), real.block_hash());
    assert_eq!(t.accept(mutated), Err(BlockError::MutatedMerkleTree));
    assert!(!t.chain.is_known_invalid(&real.block_hash()));
    t.accept(real).unwrap();
    assert_eq!(t.chain.height(), 1);
    t.assert_consistent();
}

/// The header commits to the signatures through the coinbase: a block relayed with one
/// signature swapped is not the block that was mined, and is not held against the real one.
#[test]
fn a_changed_signature_breaks_the_witness_commitment() {
    let mut t = chain();
    let tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    let real = t.block_with(&key(3), vec![tx]);
    let mut forged = real.clone();
    if let TxInputs::Spend(inputs) = &mut forged.txs[1].inputs {
        inputs[0].signature.0[10] ^= 1;
    }
    assert_eq!(forged.block_hash(), real.block_hash());
    assert_eq!(t.accept(forged), Err(BlockError::BadWitnessRoot));
    t.accept(real).unwrap();
}

#[test]
fn invalid_proof_of_work_is_rejected() {
    let mut t = chain();
    let mut block = t.block_with(&key(2), vec![]);
    let target = block.header.bits.to_target().unwrap();
    while target.is_met_by(&block.block_hash()) {
        block.header.nonce = block.header.nonce.wrapping_add(1);
    }
    assert_eq!(t.accept(block.clone()), Err(BlockError::HighHash));
    // Failed work costs nothing to make, so it is not remembered.
    assert!(!t.chain.is_known_invalid(&block.block_hash()));
}

#[test]
fn a_target_easier_than_the_network_limit_is_rejected() {
    let params = ChainParams::main();
    let mut block = create_genesis(&ChainParams::test(), &Address::new(0x6f, owner(&key(1))), T0 as u32).unwrap();
    block.header.bits = CompactTarget(0x207fffff);
    assert_eq!(tabcoin_core::validation::check_block(&block, &params), Err(BlockError::TargetAboveLimit));
    block.header.bits = CompactTarget(0x04923456);
    assert_eq!(
        tabcoin_core::validation::check_block(&block, &params),
        Err(BlockError::BadTarget(TargetError::Negative))
    );
}

#[test]
fn a_block_with_the_wrong_previous_hash_is_rejected() {
    let mut t = chain();
    let mut block = t.block_with(&key(2), vec![]);
    block.header.prev_blockhash = BlockHash([0x42; 32]);
    let block =
        template_mine_keep_commitments(tabcoin_core::template::BlockTemplate { block, height: 1, fees: Amount::ZERO });
    assert_eq!(t.accept(block), Err(BlockError::UnknownParent(BlockHash([0x42; 32]))));
}

/// Seed flaw: it never checked what a coinbase pays.
#[test]
fn a_coinbase_paying_more_than_subsidy_plus_fees_is_rejected() {
    let mut t = chain();
    let tx = t.pay(&key(1), &key(2), coins(9), coins(1));
    let tip = t.chain.tip();

    let over = t.template_on(tip, &key(3), vec![tx.clone()], coins(1));
    let mut block = over.block.clone();
    block.txs[0].outputs[0].amount = Amount::from_base_units(coins(11).base_units() + 1);
    let block = recommit_and_mine(block);
    assert_eq!(
        t.accept(block),
        Err(BlockError::CoinbaseTooLarge {
            paid: Amount::from_base_units(coins(11).base_units() + 1),
            allowed: coins(11)
        })
    );

    // Exactly subsidy plus fees is fine.
    let exact = t.template_on(tip, &key(3), vec![tx], coins(1)).mine().unwrap();
    assert_eq!(exact.txs[0].outputs[0].amount, coins(11));
    t.accept(exact).unwrap();
    assert_eq!(t.balance(&key(3)), coins(11));
    t.assert_consistent();
}

#[test]
fn a_coinbase_may_not_split_its_claim_past_the_limit() {
    let mut t = chain();
    let mut block = t.block_with(&key(2), vec![]);
    block.txs[0].outputs.push(TxOut { amount: Amount::from_base_units(1), pubkey_hash: owner(&key(3)) });
    let block = recommit_and_mine(block);
    assert!(matches!(t.accept(block), Err(BlockError::CoinbaseTooLarge { .. })));
}

#[test]
fn timestamps_must_exceed_the_median_of_the_previous_eleven() {
    let mut t = chain();
    for _ in 0..11 {
        t.mine(&key(2));
    }
    let median = t.chain.median_time_past(&t.chain.tip());
    let mut block = t.block_with(&key(2), vec![]);
    block.header.time = median;
    let block = remine(block);
    assert_eq!(t.accept(block), Err(BlockError::TimeTooOld { time: median, median }));

    let mut block = t.block_with(&key(2), vec![]);
    block.header.time = median + 1;
    t.accept(remine(block)).unwrap();
}

#[test]
fn timestamps_too_far_ahead_of_the_clock_wait_until_the_clock_catches_up() {
    let mut t = chain();
    let max_ahead = u64::from(t.chain.params().max_future_block_secs);
    let mut block = t.block_with(&key(2), vec![]);
    block.header.time = (t.now + max_ahead + 1) as u32;
    let block = remine(block);
    assert_eq!(
        t.accept(block.clone()),
        Err(BlockError::TimeTooNew { time: block.header.time, max: t.now + max_ahead })
    );
    // Not condemned: once the node's clock moves on, the same block is fine.
    t.now += 1;
    t.accept(block).unwrap();
}

#[test]
fn the_coinbase_must_carry_the_block_height() {
    let mut t = chain();
    let mut block = t.block_with(&key(2), vec![]);
    if let TxInputs::Coinbase(cb) = &mut block.txs[0].inputs {
        cb.height = 7;
    }
    let block = recommit_and_mine(block);
    assert_eq!(t.accept(block), Err(BlockError::BadCoinbaseHeight { expected: 1, found: 7 }));
}

#[test]
fn the_coinbase_must_come_first_and_only_first() {
    let mut t = chain();
    let tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);

    let mut block = t.block_with(&key(2), vec![tx.clone()]);
    block.txs.swap(0, 1);
    assert_eq!(t.accept(recommit_and_mine(block)), Err(BlockError::FirstNotCoinbase));

    let mut block = t.block_with(&key(2), vec![]);
    let mut second = block.txs[0].clone();
    second.outputs[0].pubkey_hash = owner(&key(5));
    block.txs.push(second);
    assert_eq!(t.accept(recommit_and_mine(block)), Err(BlockError::ExtraCoinbase { index: 1 }));

    let mut block = t.block_with(&key(2), vec![]);
    block.txs.clear();
    assert_eq!(t.accept(remine(block)), Err(BlockError::NoTransactions));
}

#[test]
fn a_transaction_included_twice_is_rejected() {
    let mut t = chain();
    let a = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    t.submit(a.clone()).unwrap();
    let b = t.pay(&key(1), &key(3), coins(1), Amount::ZERO);
    // [cb, a, b, a]: not adjacent, so not the Merkle mutation; a different, invalid list.
    let mut block = t.block_with(&key(2), vec![a.clone(), b]);
    block.txs.push(a.clone());
    assert_eq!(t.accept(recommit_and_mine(block)), Err(BlockError::DuplicateTx(a.txid())));
}

#[test]
fn the_difficulty_must_follow_the_per_block_rule() {
    let difficulty = DifficultyRule::Asert { half_life_secs: 50, max_solve_time_secs: 500 };
    let params = ChainParams { difficulty, target_spacing_secs: 50, ..ChainParams::test() };
    let mut t = TestChain::with_params(params, &key(1));
    for _ in 0..3 {
        t.mine(&key(2));
    }
    // The blocks came every 5 s instead of 50: each child's target is its parent's times
    // 2^((5 - 50) / 50), harder than the parent's.
    let tip = t.chain.tip_info().copied().unwrap();
    let grandparent = t.chain.block_info(&tip.header.prev_blockhash).copied().unwrap();
    let expected = t.chain.next_bits(&tip);
    let timing =
        ParentTiming { bits: tip.header.bits, time: tip.header.time, grandparent_time: Some(grandparent.header.time) };
    assert_eq!(expected, difficulty::next_bits(t.chain.params(), timing));
    assert!(expected.to_target().unwrap() < tip.header.bits.to_target().unwrap());

    let mut lazy = t.block_with(&key(2), vec![]);
    assert_eq!(lazy.header.bits, expected);
    lazy.header.bits = tip.header.bits;
    assert_eq!(t.accept(remine(lazy)), Err(BlockError::BadBits { expected, found: tip.header.bits }));
    let honest = t.block_with(&key(2), vec![]);
    t.accept(honest).unwrap();
    assert_eq!(t.chain.height(), 4);
}

#[test]
fn bits_other_than_the_networks_are_rejected_without_retarget() {
    let mut t = chain();
    let mut block = t.block_with(&key(2), vec![]);
    block.header.bits = CompactTarget(0x2000ffff);
    assert_eq!(
        t.accept(remine(block)),
        Err(BlockError::BadBits { expected: CompactTarget(0x207fffff), found: CompactTarget(0x2000ffff) })
    );
}

#[test]
fn blocks_and_transactions_over_the_size_limits_are_rejected() {
    let params = ChainParams { max_tx_bytes: 300, ..ChainParams::test() };
    let mut t = TestChain::with_params(params, &key(1));
    let mut tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    for _ in 0..6 {
        tx.outputs.push(TxOut { amount: Amount::from_base_units(1), pubkey_hash: owner(&key(2)) });
    }
    let bytes = tx.encoded_len();
    assert!(bytes > 300);
    let block = t.block_with(&key(2), vec![tx]);
    assert_eq!(tx_error(t.accept(block)), TxError::TooLarge { bytes, max: 300 });

    let params = ChainParams { max_block_bytes: 400, ..ChainParams::test() };
    let mut t = TestChain::with_params(params, &key(1));
    // A small payment and a coinbase with 100 bytes of message: over 400 bytes together.
    let a = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    let mut block = t.block_with(&key(2), vec![a]);
    block.txs[0].inputs = TxInputs::Coinbase(tabcoin_core::tx::Coinbase {
        height: 1,
        extra_nonce: 0,
        witness_root: tabcoin_core::MerkleRoot::ZERO,
        message: vec![0; 100],
    });
    let block = recommit_and_mine(block);
    assert!(block.encoded_len() > 400);
    assert_eq!(t.accept(block.clone()), Err(BlockError::TooLarge { bytes: block.encoded_len(), max: 400 }));
}

/// A block may carry at most `max_block_signature_checks` inputs (each a signature to check):
/// one more is refused before any signature is checked, and a miner's template stops short.
#[test]
fn blocks_with_more_signature_checks_than_the_limit_are_rejected() {
    let params = ChainParams { max_block_signature_checks: 2, ..ChainParams::test() };
    let mut t = TestChain::with_params(params, &key(1));
    // Three payments of one input each, from three coins.
    t.mine(&key(2));
    t.mine(&key(3));
    let a = t.pay(&key(1), &key(4), coins(1), Amount::ZERO);
    let b = t.pay(&key(2), &key(4), coins(1), Amount::ZERO);
    let c = t.pay(&key(3), &key(4), coins(1), Amount::ZERO);
    let block = t.block_with(&key(5), vec![a.clone(), b.clone(), c.clone()]);
    assert_eq!(t.accept(block), Err(BlockError::TooManySignatureChecks { count: 3, max: 2 }));

    for tx in [a, b, c] {
        t.submit(tx).unwrap();
    }
    let template =
        tabcoin_core::template::block_template(&t.chain, &t.mempool, owner(&key(5)), t.now + 5, vec![]).unwrap();
    assert_eq!(template.block.txs.len(), 3, "the coinbase and two payments");
    t.accept(template.mine().unwrap()).unwrap();
}

#[test]
fn amounts_out_of_range_are_rejected() {
    let mut t = chain();
    let mut tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    tx.outputs[0].amount = Amount::from_base_units(Amount::MAX_MONEY.base_units() + 1);
    tx.sign_all(&key(1), &[coins(10)]);
    let block = t.block_with(&key(2), vec![tx]);
    assert_eq!(tx_error(t.accept(block)), TxError::OutputTooLarge { index: 0 });

    let mut tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    tx.outputs[0].amount = Amount::MAX_MONEY;
    tx.outputs[1].amount = Amount::MAX_MONEY;
    tx.sign_all(&key(1), &[coins(10)]);
    let block = t.block_with(&key(2), vec![tx]);
    assert_eq!(tx_error(t.accept(block)), TxError::OutputTotalTooLarge);

    // u64 overflow: two outputs that wrap around to a small total.
    let mut tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    tx.outputs[0].amount = Amount::from_base_units(u64::MAX);
    tx.outputs[1].amount = Amount::from_base_units(2);
    tx.sign_all(&key(1), &[coins(10)]);
    let block = t.block_with(&key(2), vec![tx]);
    assert_eq!(tx_error(t.accept(block)), TxError::OutputTooLarge { index: 0 });
}

#[test]
fn spending_more_than_the_inputs_is_rejected() {
    let mut t = chain();
    let mut tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    tx.outputs[1].amount = coins(10);
    tx.sign_all(&key(1), &[coins(10)]);
    let block = t.block_with(&key(2), vec![tx]);
    assert_eq!(tx_error(t.accept(block)), TxError::InsufficientInputs { inputs: coins(10), outputs: coins(11) });
}

#[test]
fn transactions_without_inputs_or_outputs_are_rejected() {
    let mut t = chain();
    let mut tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    tx.outputs.clear();
    tx.sign_all(&key(1), &[coins(10)]);
    let block = t.block_with(&key(2), vec![tx]);
    assert_eq!(tx_error(t.accept(block)), TxError::NoOutputs);

    let empty = Transaction {
        version: 1,
        inputs: TxInputs::Spend(vec![]),
        outputs: vec![TxOut { amount: coins(1), pubkey_hash: owner(&key(2)) }],
    };
    let block = t.block_with(&key(2), vec![empty]);
    assert_eq!(tx_error(t.accept(block)), TxError::NoInputs);
}

#[test]
fn spending_an_unknown_output_is_rejected() {
    let mut t = chain();
    let mut tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    let missing = OutPoint { txid: tabcoin_core::Txid([9; 32]), vout: 0 };
    if let TxInputs::Spend(inputs) = &mut tx.inputs {
        inputs[0].prev_out = missing;
    }
    tx.sign_all(&key(1), &[coins(10)]);
    let block = t.block_with(&key(2), vec![tx]);
    assert_eq!(tx_error(t.accept(block)), TxError::MissingInput(missing));
}

#[test]
fn an_immature_coinbase_can_not_be_spent_when_maturity_is_set() {
    let params = ChainParams { coinbase_maturity: 3, ..ChainParams::test() };
    let mut t = TestChain::with_params(params, &key(1));
    let tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    let spent = tx.spends()[0].prev_out;
    assert!(matches!(
        t.submit(tx.clone()),
        Err(tabcoin_core::MempoolError::Invalid(TxError::ImmatureCoinbase { confirmations: 1, required: 3, .. }))
    ));
    let block = t.block_with(&key(3), vec![tx.clone()]);
    assert_eq!(tx_error(t.accept(block)), TxError::ImmatureCoinbase { outpoint: spent, confirmations: 1, required: 3 });
    t.mine(&key(3));
    t.mine(&key(3));
    let block = t.block_with(&key(3), vec![tx]);
    t.accept(block).unwrap();
}

#[test]
fn a_high_s_signature_is_rejected() {
    let mut t = chain();
    let mut tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    if let TxInputs::Spend(inputs) = &mut tx.inputs {
        inputs[0].signature = inputs[0].signature.malleated().unwrap();
    }
    let block = t.block_with(&key(2), vec![tx]);
    assert_eq!(
        tx_error(t.accept(block)),
        TxError::Input(InputError::BadSignature { input: 0, error: tabcoin_core::keys::SignatureError::HighS })
    );
}

#[test]
fn an_invalid_block_is_remembered_and_so_are_its_children() {
    let mut t = chain();
    let mut tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    tx.outputs[0].amount = coins(50);
    tx.sign_all(&key(1), &[coins(10)]);
    let bad = t.block_with(&key(2), vec![tx]);
    assert!(matches!(t.accept(bad.clone()), Err(BlockError::Tx { .. })));
    assert!(t.chain.is_known_invalid(&bad.block_hash()));
    assert_eq!(t.accept(bad.clone()), Err(BlockError::KnownInvalid));

    // A child of it: rejected for its ancestry before any of its own checks.
    let mut child = t.block_with(&key(2), vec![]);
    child.header.prev_blockhash = bad.block_hash();
    if let TxInputs::Coinbase(cb) = &mut child.txs[0].inputs {
        cb.height = 2;
    }
    let child = recommit_and_mine(child);
    assert_eq!(t.accept(child), Err(BlockError::InvalidAncestor(bad.block_hash())));
    t.assert_consistent();
}

#[test]
fn a_known_block_is_not_accepted_twice() {
    let mut t = chain();
    let block = t.block_with(&key(2), vec![]);
    t.accept(block.clone()).unwrap();
    assert_eq!(t.accept(block), Err(BlockError::AlreadyKnown));
}

#[test]
fn genesis_blocks_must_fit_the_network() {
    let params = ChainParams::test();
    let address = Address::new(params.address_version, owner(&key(1)));
    let genesis = create_genesis(&params, &address, T0 as u32).unwrap();
    assert!(ChainState::new(params.clone(), genesis.clone()).is_ok());

    let mut with_parent = genesis.clone();
    with_parent.header.prev_blockhash = BlockHash([1; 32]);
    assert!(matches!(ChainState::new(params.clone(), remine(with_parent)), Err(BlockError::BadGenesis(_))));

    let mut greedy = genesis.clone();
    greedy.txs[0].outputs[0].amount = coins(11);
    assert!(matches!(
        ChainState::new(params.clone(), recommit_and_mine(greedy)),
        Err(BlockError::CoinbaseTooLarge { .. })
    ));

    let mut wrong_height = genesis;
    if let TxInputs::Coinbase(cb) = &mut wrong_height.txs[0].inputs {
        cb.height = 1;
    }
    assert!(matches!(
        ChainState::new(params.clone(), recommit_and_mine(wrong_height)),
        Err(BlockError::BadCoinbaseHeight { expected: 0, found: 1 })
    ));

    let other_network = Address::new(ChainParams::main().address_version, owner(&key(1)));
    assert!(create_genesis(&params, &other_network, T0 as u32).is_err());
}

/// A block that creates an output, spends it, then fails: the rollback must not bring the
/// spent-in-block output back as a coin.
#[test]
fn a_failed_block_leaves_the_utxo_set_exactly_as_it_was() {
    let mut t = chain();
    let before = t.chain.utxos().clone();
    let create = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    t.submit(create.clone()).unwrap();
    let spend_created = t.pay(&key(2), &key(3), coins(1), Amount::ZERO);
    t.submit(spend_created.clone()).unwrap();
    let mut forged = t.pay(&key(1), &key(4), coins(1), Amount::ZERO);
    forged.outputs[0].amount = coins(2);
    let block = t.block_with(&key(5), vec![create, spend_created, forged]);
    assert!(matches!(t.accept(block), Err(BlockError::Tx { index: 3, .. })));
    assert_eq!(t.chain.utxos(), &before);
    t.assert_consistent();
}

#[test]
fn an_overlong_coinbase_message_is_rejected() {
    let mut t = chain();
    let mut block = t.block_with(&key(2), vec![]);
    if let TxInputs::Coinbase(cb) = &mut block.txs[0].inputs {
        cb.message = vec![7; 101];
    }
    let block = recommit_and_mine(block);
    assert_eq!(tx_error(t.accept(block)), TxError::CoinbaseMessageTooLong { bytes: 101, max: 100 });
    // Nor will a template carry one.
    let spec = tabcoin_core::template::TemplateSpec {
        parent: t.chain.tip(),
        payee: owner(&key(2)),
        now: t.now,
        txs: vec![],
        fees: Amount::ZERO,
        message: vec![7; 101],
    };
    assert!(tabcoin_core::template::build_template(&t.chain, spec).is_err());
}

/// Rules 2 and later are checked only once the transactions are known to be the ones the
/// header commits to: otherwise anyone could relay a real header with a reordered or empty
/// list and get the real block remembered as invalid.
#[test]
fn a_real_header_with_tampered_transactions_does_not_condemn_the_block() {
    let mut t = chain();
    let tx = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    let real = t.block_with(&key(3), vec![tx]);
    let mut reordered = real.clone();
    reordered.txs.swap(0, 1);
    let mut emptied = real.clone();
    emptied.txs.clear();
    let mut extra = real.clone();
    extra.txs.push(real.txs[0].clone());
    for tampered in [reordered, emptied, extra] {
        assert_eq!(tampered.block_hash(), real.block_hash());
        let err = t.accept(tampered).unwrap_err();
        assert!(!err.proves_hash_invalid(), "{err:?}");
        assert!(!t.chain.is_known_invalid(&real.block_hash()));
    }
    t.accept(real).unwrap();
}

/// The memory of invalid blocks is bounded but is not wiped by a flood: after 12,000 other
/// invalid blocks (more than the old memory held before it was cleared whole) a bad block
/// sent again is still known, and refused without being checked again.
#[test]
fn a_flood_of_invalid_blocks_does_not_make_a_known_bad_one_forgotten() {
    let mut t = chain();
    let lying_height = |t: &mut TestChain, claimed: u32| {
        let mut block = t.block_with(&key(2), vec![]);
        if let TxInputs::Coinbase(cb) = &mut block.txs[0].inputs {
            cb.height = claimed;
        }
        recommit_and_mine(block)
    };
    let bad = lying_height(&mut t, 7);
    assert_eq!(t.accept(bad.clone()), Err(BlockError::BadCoinbaseHeight { expected: 1, found: 7 }));
    for claimed in 0..12_000 {
        let flood = lying_height(&mut t, 1_000 + claimed);
        assert!(matches!(t.accept(flood), Err(BlockError::BadCoinbaseHeight { .. })));
        if claimed % 1_000 == 0 {
            // The bad block is sent again now and then, as an attacker would to make it cost.
            assert_eq!(t.accept(bad.clone()), Err(BlockError::KnownInvalid));
        }
    }
    assert_eq!(t.accept(bad), Err(BlockError::KnownInvalid));
}
