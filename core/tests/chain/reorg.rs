//! Reorganisation to the most-work chain, and its invariants.

use proptest::prelude::*;
use tabcoin_core::{Amount, BlockError, BlockHash, Transaction};

use crate::harness::*;

#[test]
fn a_longer_branch_takes_over_and_returns_transactions_to_the_mempool() {
    let mut t = TestChain::new(&key(1));
    let genesis = t.chain.genesis_hash();
    let pay = t.pay(&key(1), &key(2), coins(4), Amount::ZERO);
    t.submit(pay.clone()).unwrap();
    let a1 = t.mine(&key(3));
    assert_eq!(a1.txs.len(), 2);
    assert!(t.mempool.is_empty());
    let a2 = t.mine(&key(3));
    assert_eq!(t.balance(&key(2)), coins(4));

    // A competing branch from genesis: equal length first (no switch), then longer.
    let b1 = t.block_on(genesis, &key(4), vec![]);
    assert!(!t.accept(b1.clone()).unwrap().tip_changed());
    let b2 = t.block_on(b1.block_hash(), &key(4), vec![]);
    assert!(!t.accept(b2.clone()).unwrap().tip_changed());
    assert_eq!(t.chain.tip(), a2.block_hash(), "equal work: the first seen stays");

    let b3 = t.block_on(b2.block_hash(), &key(4), vec![]);
    let change = t.accept(b3.clone()).unwrap();
    assert_eq!(change.disconnected, vec![a2.block_hash(), a1.block_hash()]);
    assert_eq!(change.connected, vec![b1.block_hash(), b2.block_hash(), b3.block_hash()]);
    assert_eq!(change.returned_txs, vec![pay.clone()]);
    assert_eq!(t.chain.tip(), b3.block_hash());
    assert_eq!(t.chain.height(), 3);

    // The payment is unconfirmed again, and still valid on the new chain.
    assert!(t.mempool.contains(&pay.txid()));
    assert_eq!(t.balance(&key(2)), Amount::ZERO);
    assert_eq!(t.balance(&key(3)), Amount::ZERO);
    assert_eq!(t.balance(&key(4)), coins(30));
    assert!(t.chain.transaction(&pay.txid()).is_none());
    assert!(t.chain.history(&owner(&key(3))).is_empty());
    t.assert_consistent();

    // It confirms again on the new chain.
    t.mine(&key(5));
    assert_eq!(t.balance(&key(2)), coins(4));
    assert!(t.mempool.is_empty());
    t.assert_consistent();
}

#[test]
fn a_reorg_drops_mempool_transactions_that_the_new_chain_invalidates() {
    let mut t = TestChain::new(&key(1));
    let genesis = t.chain.genesis_hash();
    // Key 3 mines a1 and spends its reward in the mempool; the reorg removes that reward.
    let a1 = t.mine(&key(3));
    let spend_reward = t.pay(&key(3), &key(2), coins(1), Amount::ZERO);
    t.submit(spend_reward.clone()).unwrap();
    let change = overtake_with_two_blocks_on(&mut t, genesis);
    assert_eq!(change.disconnected, vec![a1.block_hash()]);
    assert!(!t.mempool.contains(&spend_reward.txid()));
    t.assert_consistent();
}

/// Two empty blocks on `parent`, paying key 4: a branch that overtakes a one-block tip.
fn overtake_with_two_blocks_on(t: &mut TestChain, parent: BlockHash) -> tabcoin_core::chain::BlockAccepted {
    let b1 = t.block_on(parent, &key(4), vec![]);
    let b1_hash = b1.block_hash();
    t.accept(b1).unwrap();
    let b2 = t.block_on(b1_hash, &key(4), vec![]);
    t.accept(b2).unwrap()
}

#[test]
fn a_heavier_branch_with_an_invalid_block_leaves_the_chain_as_it_was() {
    let mut t = TestChain::new(&key(1));
    let genesis = t.chain.genesis_hash();
    let pay = t.pay(&key(1), &key(2), coins(4), Amount::ZERO);
    t.submit(pay).unwrap();
    let a1 = t.mine(&key(3));
    let before = t.chain.utxos().clone();

    // b1 is valid alone (less work); b2 carries a payment whose output was raised after
    // signing: the branch fails when b2 connects.
    let b1 = t.block_on(genesis, &key(4), vec![]);
    t.accept(b1.clone()).unwrap();
    let mut forged = t.pay(&key(1), &key(6), coins(1), Amount::ZERO);
    forged.outputs[0].amount = coins(5);
    let b2 = t.block_on(b1.block_hash(), &key(6), vec![forged]);
    let err = t.accept(b2.clone()).unwrap_err();
    assert!(matches!(err, BlockError::Tx { .. }), "{err:?}");
    assert_eq!(t.chain.tip(), a1.block_hash());
    assert_eq!(t.chain.utxos(), &before);
    assert!(t.chain.is_known_invalid(&b2.block_hash()));
    assert!(!t.chain.is_active(&b1.block_hash()));
    t.assert_consistent();

    // The stored batch left nothing of the failed attempt either: b2 is not stored.
    assert!(t.chain.block(&b2.block_hash()).is_none());
}

/// One step of a random history.
#[derive(Clone, Debug)]
enum Step {
    /// Mine on the block `back` places behind the tip (0: the tip), with up to `payments`
    /// payments from the mempool.
    Mine { back: u8, payments: u8 },
    /// Submit a payment between two of the test keys.
    Pay { from: u8, to: u8, coins: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..4, 0u8..3).prop_map(|(back, payments)| Step::Mine { back, payments }),
        2 => (1u8..5, 1u8..5, 1u8..6).prop_map(|(from, to, coins)| Step::Pay { from, to, coins }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// After any sequence of blocks, forks and reorganisations, the incrementally kept UTXO set
    /// equals one rebuilt from the blocks, and the store restores the same state.
    #[test]
    fn incremental_utxo_set_equals_the_rebuilt_one(steps in prop::collection::vec(step(), 1..40)) {
        let mut t = TestChain::new(&key(1));
        // Fork points: every block ever made, by height, so "back" reaches side branches too.
        let mut made: Vec<BlockHash> = vec![t.chain.genesis_hash()];
        for s in steps {
            match s {
                Step::Pay { from, to, coins: n } => {
                    let coins_of = t.mempool.spendable_coins(&t.chain, &owner(&key(from)));
                    let have: u64 = coins_of.iter().map(|(_, o)| o.amount.base_units()).sum();
                    if have >= coins(u64::from(n)).base_units() {
                        let tx = t.pay(&key(from), &key(to), coins(u64::from(n)), Amount::ZERO);
                        let _ = t.submit(tx);
                    }
                }
                Step::Mine { back, payments } => {
                    let idx = made.len().saturating_sub(1 + usize::from(back));
                    let parent = made[idx];
                    let txs: Vec<Transaction> = if parent == t.chain.tip() {
                        t.mempool.select_for_block(usize::MAX, usize::MAX).into_iter().take(usize::from(payments)).map(|e| e.tx.clone()).collect()
                    } else {
                        Vec::new()
                    };
                    let block = t.block_on(parent, &key(1 + back % 4), txs);
                    let hash = block.block_hash();
                    t.accept(block).unwrap();
                    made.push(hash);
                }
            }
        }
        let found = t.chain.utxo_discrepancies().unwrap();
        prop_assert!(found.is_empty(), "{:?}", found);
        t.assert_consistent();
        // Mempool entries are all still valid against the chain: mining them all succeeds.
        let tip = t.chain.tip();
        let everything: Vec<Transaction> = t.mempool.select_for_block(usize::MAX, usize::MAX).into_iter().map(|e| e.tx.clone()).collect();
        let block = t.block_on(tip, &key(7), everything);
        prop_assert!(t.accept(block).is_ok());
    }
}

/// When a branch fails, the blocks stored above the failing one are condemned with it: a
/// further child of them is refused at once instead of replaying the failed reorganisation.
#[test]
fn descendants_of_a_block_that_failed_are_remembered_as_invalid() {
    let mut t = TestChain::new(&key(1));
    let genesis = t.chain.genesis_hash();
    for _ in 0..3 {
        t.mine(&key(3));
    }
    let b1 = t.block_on(genesis, &key(4), vec![]);
    t.accept(b1.clone()).unwrap();
    let mut forged = t.pay(&key(1), &key(6), coins(1), Amount::ZERO);
    forged.outputs[0].amount = coins(5);
    let b2 = t.block_on(b1.block_hash(), &key(4), vec![forged]);
    assert!(!t.accept(b2.clone()).unwrap().tip_changed(), "less work: stored, not connected");
    let b3 = t.block_on(b2.block_hash(), &key(4), vec![]);
    assert!(!t.accept(b3.clone()).unwrap().tip_changed(), "equal work: stored, not connected");
    let b4 = t.block_on(b3.block_hash(), &key(4), vec![]);
    assert!(matches!(t.accept(b4), Err(BlockError::Tx { .. })));
    assert!(t.chain.is_known_invalid(&b2.block_hash()));
    assert!(t.chain.is_known_invalid(&b3.block_hash()));
    assert!(!t.chain.is_known_invalid(&b1.block_hash()));

    let another = t.block_on(b3.block_hash(), &key(5), vec![]);
    assert_eq!(t.accept(another.clone()), Err(BlockError::InvalidAncestor(b3.block_hash())));
    assert_eq!(t.chain.height(), 3);
    t.assert_consistent();

    // The stored blocks found invalid are marked in the store: a restart still knows them,
    // and their branch is not tried again.
    let marks = t.chain.take_invalidity_batch();
    assert_eq!(marks.len(), 2, "b2 and b3 were stored");
    assert!(t.chain.take_invalidity_batch().is_empty(), "taken once");
    t.store.apply(&marks);
    let mut restarted = tabcoin_core::ChainState::load(t.chain.params().clone(), &t.store).unwrap();
    assert!(restarted.is_known_invalid(&b2.block_hash()) && restarted.is_known_invalid(&b3.block_hash()));
    assert!(!restarted.is_known_invalid(&b1.block_hash()));
    assert_eq!(restarted.accept_block(another, t.now), Err(BlockError::InvalidAncestor(b3.block_hash())));
}

#[test]
fn locators_and_headers_find_the_fork() {
    let mut t = TestChain::new(&key(1));
    for _ in 0..300 {
        t.mine(&key(2));
    }
    let locator = t.chain.locator();
    // Ten newest, then doubling steps, genesis last: short even for long chains.
    assert_eq!(locator[0], t.chain.tip());
    assert_eq!(locator[9], t.chain.hash_at(291).unwrap());
    assert_eq!(locator[10], t.chain.hash_at(289).unwrap());
    assert_eq!(*locator.last().unwrap(), t.chain.genesis_hash());
    assert!(locator.len() < 30, "{}", locator.len());

    // A peer that has the chain up to 120 (and a side block of its own) gets 121 onwards.
    let peer_locator = vec![BlockHash([0xaa; 32]), t.chain.hash_at(120).unwrap(), t.chain.genesis_hash()];
    assert_eq!(t.chain.fork_height(&peer_locator), 120);
    let headers = t.chain.headers_after(&peer_locator, &BlockHash::ZERO, 2000);
    assert_eq!(headers.len(), 180);
    assert_eq!(headers[0].block_hash(), t.chain.hash_at(121).unwrap());
    assert_eq!(headers[179].block_hash(), t.chain.tip());

    // At most `max`, and no further than `stop`.
    assert_eq!(t.chain.headers_after(&peer_locator, &BlockHash::ZERO, 50).len(), 50);
    let stop = t.chain.hash_at(130).unwrap();
    let to_stop = t.chain.headers_after(&peer_locator, &stop, 2000);
    assert_eq!(to_stop.len(), 10);
    assert_eq!(to_stop.last().unwrap().block_hash(), stop);

    // A locator of unknown hashes starts after genesis; a peer at the tip gets nothing.
    assert_eq!(t.chain.headers_after(&[BlockHash([1; 32])], &BlockHash::ZERO, 2000).len(), 300);
    assert!(t.chain.headers_after(&locator, &BlockHash::ZERO, 2000).is_empty());
}

/// A reorganisation does not check the signatures of the mempool's payments again (they were
/// checked on entry, against the outputs they spend). Shown with an entry whose checks were
/// vouched for elsewhere although forged (a shell's true answer is trusted): it stays, where
/// a second check would drop it. Its inputs and amounts are still checked: the spend of a
/// reward the reorganisation takes away goes.
#[test]
fn a_reorg_keeps_the_signature_checks_of_mempool_entries() {
    use tabcoin_core::sigcheck::SignatureMode;
    let mut t = TestChain::new(&key(1));
    let genesis = t.chain.genesis_hash();
    let a1 = t.mine(&key(3));
    let spend_reward = t.pay(&key(3), &key(2), coins(1), Amount::ZERO);
    t.submit(spend_reward.clone()).unwrap();
    let mut forged = t.pay(&key(1), &key(2), coins(1), Amount::ZERO);
    forged.outputs[0].amount = coins(2);
    forged.outputs[1].amount = coins(8);
    let vouched = t.mempool.signature_jobs(&forged, &t.chain).unwrap().verified(&[true]);
    t.mempool.accept_with(forged.clone(), &t.chain, SignatureMode::Prechecked(&vouched)).unwrap();

    assert_eq!(overtake_with_two_blocks_on(&mut t, genesis).disconnected, vec![a1.block_hash()]);
    assert!(t.mempool.contains(&forged.txid()), "not checked again");
    assert!(!t.mempool.contains(&spend_reward.txid()), "its input is gone");
}
