//! Persistence through write batches: what a crash between batches leaves, and damaged stores.

use tabcoin_core::chain::LoadError;
use tabcoin_core::store::{META_RULES, META_TIP, MemoryStore, Table};
use tabcoin_core::{Amount, ChainState};

use crate::harness::*;

#[test]
fn a_crash_before_a_batch_is_committed_leaves_the_previous_state() {
    let mut t = TestChain::new(&key(1));
    t.mine(&key(2));
    let committed = t.store.clone();
    let tip_before = t.chain.tip();

    // The next block is accepted in memory but the shell dies before committing its batch.
    let tx = t.pay(&key(2), &key(3), coins(4), Amount::ZERO);
    let block = t.block_with(&key(4), vec![tx]);
    let _lost = t.chain.accept_block(block.clone(), t.now).unwrap();

    let restored = ChainState::load(t.chain.params().clone(), &committed).unwrap();
    assert_eq!(restored.tip(), tip_before);
    assert_eq!(restored.balance(&owner(&key(2))), coins(10));
    assert!(restored.utxo_discrepancies().unwrap().is_empty());
    // The restored node accepts the block again when it is re-sent.
    let mut restored = restored;
    let again = restored.accept_block(block, t.now).unwrap();
    assert!(again.tip_changed());
    assert_eq!(restored.balance(&owner(&key(3))), coins(4));
}

#[test]
fn a_reorg_is_one_batch() {
    let mut t = TestChain::new(&key(1));
    let genesis = t.chain.genesis_hash();
    t.mine(&key(2));
    let b1 = t.block_on(genesis, &key(3), vec![]);
    let b1_hash = b1.block_hash();
    t.accept(b1).unwrap();
    let b2 = t.block_on(b1_hash, &key(3), vec![]);
    let before = t.store.clone();
    let change = t.chain.accept_block(b2.clone(), t.now).unwrap();
    assert_eq!(change.disconnected.len(), 1);
    // Before the batch: the old chain, consistent. After: the new one, consistent.
    let old = ChainState::load(t.chain.params().clone(), &before).unwrap();
    assert!(old.utxo_discrepancies().unwrap().is_empty());
    let mut after = before;
    after.apply(&change.batch);
    let new = ChainState::load(t.chain.params().clone(), &after).unwrap();
    assert_eq!(new.tip(), b2.block_hash());
    assert!(new.utxo_discrepancies().unwrap().is_empty());
}

#[test]
fn loading_an_empty_or_damaged_store_is_a_clear_error() {
    let params = tabcoin_core::ChainParams::test();
    assert_eq!(ChainState::load(params.clone(), &MemoryStore::new()).unwrap_err(), LoadError::Empty);

    let mut t = TestChain::new(&key(1));
    t.mine(&key(2));

    let mut bad_tip = t.store.clone();
    bad_tip.insert(Table::Meta, META_TIP.to_vec(), vec![1, 2, 3]);
    assert!(matches!(ChainState::load(params.clone(), &bad_tip), Err(LoadError::Decode { table: Table::Meta, .. })));

    let tip = t.chain.tip();
    let mut no_block = MemoryStore::new();
    for table in Table::ALL {
        for (k, v) in t.store.iter(table) {
            if !(table == Table::Blocks && k == tip.0.as_slice()) {
                no_block.insert(table, k.to_vec(), v.to_vec());
            }
        }
    }
    assert_eq!(ChainState::load(params.clone(), &no_block).unwrap_err(), LoadError::MissingBlock(tip));

    let mut garbage = t.store.clone();
    garbage.insert(Table::Utxo, vec![0; 36], vec![0xff; 3]);
    assert!(matches!(ChainState::load(params.clone(), &garbage), Err(LoadError::Decode { table: Table::Utxo, .. })));

    let mut wrong_key = t.store.clone();
    let genesis_bytes = t.store.get(Table::Blocks, t.chain.genesis_hash().0.as_slice()).unwrap().to_vec();
    wrong_key.insert(Table::Blocks, tip.0.to_vec(), genesis_bytes);
    assert_eq!(ChainState::load(params, &wrong_key).unwrap_err(), LoadError::KeyMismatch { table: Table::Blocks });
}

#[test]
fn reindexing_repairs_a_damaged_utxo_set() {
    let mut t = TestChain::new(&key(1));
    t.mine(&key(2));
    let params = t.chain.params().clone();
    let mut damaged = t.store.clone();
    let (some_key, _) = t.store.iter(Table::Utxo).next().map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap();
    let mut remove = tabcoin_core::store::WriteBatch::new();
    remove.delete(Table::Utxo, some_key);
    damaged.apply(&remove);
    let mut state = ChainState::load(params.clone(), &damaged).unwrap();
    let found = state.utxo_discrepancies().unwrap();
    assert_eq!((found.missing.len(), found.unexpected.len()), (1, 0));
    let (_, fix) = state.reindex_utxo_set().unwrap();
    damaged.apply(&fix);
    let repaired = ChainState::load(params, &damaged).unwrap();
    assert!(repaired.utxo_discrepancies().unwrap().is_empty());
    assert_eq!(repaired.utxos(), t.chain.utxos());
}

/// A chain stored under a network's earlier consensus rules is refused with what to do, not
/// loaded to fork silently; one stored under the current rules loads.
#[test]
fn a_chain_stored_under_earlier_rules_is_refused() {
    let params = tabcoin_core::ChainParams { rules: 2, ..tabcoin_core::ChainParams::test() };
    let mut t = TestChain::with_params(params.clone(), &key(1));
    t.mine(&key(2));
    assert_eq!(t.store.get(Table::Meta, META_RULES), Some(&2u32.to_le_bytes()[..]));
    assert!(ChainState::load(params.clone(), &t.store).is_ok());

    // Written before the rules were recorded: generation 1.
    let mut first_rules = MemoryStore::new();
    for table in Table::ALL {
        for (k, v) in t.store.iter(table) {
            if !(table == Table::Meta && k == META_RULES) {
                first_rules.insert(table, k.to_vec(), v.to_vec());
            }
        }
    }
    let error = ChainState::load(params.clone(), &first_rules).unwrap_err();
    assert_eq!(error, LoadError::RulesChanged { network: params.network, stored: 1, current: 2 });
    assert!(error.to_string().contains("start the chain over"), "{error}");

    let mut later_rules = t.store.clone();
    later_rules.insert(Table::Meta, META_RULES.to_vec(), 3u32.to_le_bytes().to_vec());
    assert!(matches!(ChainState::load(params, &later_rules), Err(LoadError::RulesChanged { stored: 3, .. })));
}
