//! The seed's scenario (as the README plays it) in core terms, with queries along the way.

use tabcoin_core::query::{Balance, balance, history};
use tabcoin_core::template::{TemplateSpec, build_template};
use tabcoin_core::wallet::{KeySet, PaymentError, PaymentRequest, build_payment};
use tabcoin_core::{Amount, ChainState, Encoding, SecretKey};

use crate::harness::*;

#[test]
fn the_seeds_scenario_ends_with_the_seeds_balances() {
    seeds_scenario_on(tabcoin_core::ChainParams::test());
}

/// The seed network's rules (what `./scripts/run.sh` starts), with a trivial proof of work so
/// that the test mines at once: the scenario plays as the seed wrote it.
#[test]
fn the_seeds_scenario_plays_on_the_seed_network() {
    let test = tabcoin_core::ChainParams::test();
    let seed = tabcoin_core::ChainParams::seed();
    seeds_scenario_on(tabcoin_core::ChainParams { pow_limit: test.pow_limit, difficulty: test.difficulty, ..seed });
}

/// On main the genesis output is a coinbase that must mature for 100 blocks: CENTRAL has
/// nothing to pay with yet, which is why the scenario has a network of its own.
#[test]
fn main_does_not_let_the_genesis_output_be_spent_at_once() {
    let test = tabcoin_core::ChainParams::test();
    let main = tabcoin_core::ChainParams {
        pow_limit: test.pow_limit,
        difficulty: test.difficulty,
        ..tabcoin_core::ChainParams::main()
    };
    let t = TestChain::with_params(main.clone(), &key(10));
    let central = tabcoin_core::Address::new(main.address_version, owner(&key(10)));
    assert!(t.mempool.spendable_coins(&t.chain, &central.pubkey_hash).is_empty());
}

fn seeds_scenario_on(params: tabcoin_core::ChainParams) {
    let central = key(10);
    let mut t = TestChain::with_params(params, &central);
    let params = t.chain.params().clone();

    // The wallet node creates four addresses from entropy the shell supplies.
    let mut wallet = KeySet::new();
    let w: Vec<_> = (1..=4u8).map(|i| wallet.generate([100 + i; 32], &params).unwrap()).collect();
    let restored = KeySet::from_bytes(&wallet.to_bytes()).unwrap();
    assert_eq!(restored.addresses(&params), w);

    // CENTRAL sends 10 to WALLET_1 and to WALLET_2, each mined at once with the coinbase paying
    // the sender (the seed's `send -mine`).
    let mut central_keys = KeySet::new();
    let central_address = central_keys.insert(central.clone(), &params).unwrap();
    for to in [w[0], w[1]] {
        let coins_now = t.mempool.spendable_coins(&t.chain, &central_address.pubkey_hash);
        let request = PaymentRequest { from: central_address, to, amount: coins(10), fee: Amount::ZERO };
        let tx = build_payment(&central_keys, &params, &coins_now, &request).unwrap();
        t.submit(tx.clone()).unwrap();
        t.now += 5;
        let spec = TemplateSpec {
            parent: t.chain.tip(),
            payee: central_address.pubkey_hash,
            now: t.now,
            txs: vec![tx],
            fees: Amount::ZERO,
            message: Vec::new(),
        };
        let block = build_template(&t.chain, spec).unwrap().mine().unwrap();
        t.accept(block).unwrap();
    }
    assert_eq!(t.chain.balance(&central_address.pubkey_hash), coins(10));

    // The wallet pays WALLET_1 -> WALLET_3 1 and WALLET_2 -> WALLET_4 1, fee 0, each from its
    // own address; the miner mines when two transactions wait.
    for (from, to) in [(w[0], w[2]), (w[1], w[3])] {
        let spendable = t.mempool.spendable_coins(&t.chain, &from.pubkey_hash);
        let request = PaymentRequest { from, to, amount: coins(1), fee: Amount::ZERO };
        let tx = build_payment(&wallet, &params, &spendable, &request).unwrap();
        assert_eq!(tx.outputs.len(), 2, "payment and change back to the sender");
        t.submit(tx).unwrap();
    }
    assert_eq!(t.mempool.len(), 2);
    assert_eq!(balance(&t.chain, &t.mempool, &w[0].pubkey_hash), Balance { confirmed: coins(10), pending: coins(9) });
    assert_eq!(history(&t.chain, &t.mempool, &w[2].pubkey_hash)[0].height, None);

    let miner = SecretKey::from_entropy([200; 32]);
    let block = t.mine(&miner);
    assert_eq!(block.txs.len(), 3);

    let expect = [(w[0], 9), (w[1], 9), (w[2], 1), (w[3], 1)];
    for (address, n) in expect {
        assert_eq!(t.chain.balance(&address.pubkey_hash), coins(n), "{address}");
    }
    assert_eq!(t.balance(&miner), coins(10));
    assert_eq!(t.chain.balance(&central_address.pubkey_hash), coins(10));

    // History: WALLET_1 received 10, then sent 10 and got 9 back as change.
    let h = history(&t.chain, &t.mempool, &w[0].pubkey_hash);
    assert_eq!(h.len(), 2);
    assert_eq!((h[0].received, h[0].sent, h[0].height), (coins(9), coins(10), Some(3)));
    assert_eq!((h[1].received, h[1].sent, h[1].height), (coins(10), Amount::ZERO, Some(1)));

    // A restart: the same balances from the store alone.
    let reloaded = ChainState::load(params.clone(), &t.store).unwrap();
    for (address, n) in expect {
        assert_eq!(reloaded.balance(&address.pubkey_hash), coins(n));
    }
    assert_eq!(reloaded.history(&w[0].pubkey_hash), t.chain.history(&w[0].pubkey_hash));
    t.assert_consistent();

    // Not enough funds is a typed error with what is available.
    let spendable = t.mempool.spendable_coins(&t.chain, &w[2].pubkey_hash);
    let request = PaymentRequest { from: w[2], to: w[3], amount: coins(2), fee: Amount::ZERO };
    assert_eq!(
        build_payment(&wallet, &params, &spendable, &request),
        Err(PaymentError::InsufficientFunds { available: coins(1), needed: coins(2) })
    );
    let request = PaymentRequest { from: central_address, to: w[3], amount: coins(1), fee: Amount::ZERO };
    assert_eq!(
        build_payment(&wallet, &params, &spendable, &request),
        Err(PaymentError::NotOurAddress(central_address))
    );
}
