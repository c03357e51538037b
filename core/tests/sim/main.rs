//! The node state machine in a deterministic simulation: the seed's scenario, convergence of
//! many nodes with competing miners and partitions, and crashes.

mod adversary;
mod difficulty;
mod harness;
mod headers;
mod limits;
mod sync;

use tabcoin_core::node::{Event, MiningPolicy};
use tabcoin_core::protocol::Role;
use tabcoin_core::template::create_genesis;
use tabcoin_core::wallet::{KeySet, PaymentRequest, build_payment};
use tabcoin_core::{Address, Amount, ChainParams, ChainState, SecretKey};

use harness::Sim;

fn coins(n: u64) -> Amount {
    Amount::from_coins(n).unwrap()
}

/// A payment from `from` built against `node`'s view, submitted to that node.
fn pay(sim: &mut Sim, node: usize, keys: &KeySet, from: Address, to: Address, amount: Amount) {
    let n = &sim.nodes[node].node;
    let chain = n.chain().expect("the paying node has a chain");
    let coins = n.mempool().spendable_coins(chain, &from.pubkey_hash);
    let request = PaymentRequest { from, to, amount, fee: Amount::ZERO };
    let tx = build_payment(keys, n.params(), &coins, &request).unwrap_or_else(|e| panic!("seed {}: {e}", sim.seed));
    let now = sim.now_ms;
    sim.nodes[node].node.submit_transaction(tx, now).unwrap_or_else(|e| panic!("seed {}: {e}", sim.seed));
    sim.drain(node);
}

/// A chain whose genesis pays `owner`, as `createblockchain` makes it.
fn new_chain(owner: &Address) -> (ChainState, tabcoin_core::store::WriteBatch) {
    let params = ChainParams::test();
    let genesis = create_genesis(&params, owner, 1_700_000_000).unwrap();
    ChainState::new(params, genesis).unwrap()
}

/// The seed's scenario (README, "The seed's scenario by hand"), with the relay, a wallet node and a miner node.
fn seeds_scenario(seed: u64) {
    let params = ChainParams::test();
    let mut relay_keys = KeySet::new();
    let central = relay_keys.generate([1; 32], &params).unwrap();
    let mut sim = Sim::new(seed);
    // Odd seeds: every node hands its signature checks out, as a tab does to its workers.
    sim.parallel_signatures = seed % 2 == 1;
    let relay = sim.add_node(Role::Relay, Some(new_chain(&central)));

    // 2. A wallet node with no chain syncs from the relay and makes four addresses.
    let wallet = sim.add_node(Role::Wallet, None);
    sim.connect(wallet, relay);
    sim.run_until_quiet(60_000);
    assert_eq!(sim.chain(wallet).genesis_hash(), sim.chain(relay).genesis_hash(), "seed {seed}");
    assert!(sim.nodes[wallet].events.iter().any(|e| matches!(e, Event::ChainAdopted { .. })));
    let mut wallet_keys = KeySet::new();
    let w: Vec<Address> = (0..4u8).map(|i| wallet_keys.generate([10 + i; 32], &params).unwrap()).collect();

    // 3. CENTRAL sends 10 to WALLET_1 and to WALLET_2, each mined at once by the relay, the
    //    coinbase paying CENTRAL.
    for to in [w[0], w[1]] {
        pay(&mut sim, relay, &relay_keys, central, to, coins(10));
        sim.nodes[relay].node.mine_once(central.pubkey_hash);
        sim.drain(relay);
        sim.run_until_quiet(120_000);
    }
    assert_eq!(sim.chain(relay).height(), 2, "seed {seed}");
    assert_eq!(sim.chain(wallet).tip(), sim.chain(relay).tip(), "seed {seed}");

    // 4. A miner node syncs and mines to MINER once two transactions wait.
    let miner_key = SecretKey::from_entropy([99; 32]);
    let miner_address = Address::new(params.address_version, miner_key.public_key().pubkey_hash());
    let miner = sim.add_node(Role::Miner, None);
    sim.connect(miner, relay);
    sim.run_until_quiet(60_000);
    sim.nodes[miner].node.set_mining(Some((miner_address.pubkey_hash, MiningPolicy::WhenMempoolHolds(2))));
    sim.drain(miner);
    assert_eq!(sim.chain(miner).tip(), sim.chain(relay).tip(), "seed {seed}");

    // 5. The wallet sends WALLET_1 -> WALLET_3 1 and WALLET_2 -> WALLET_4 1, fee 0.
    pay(&mut sim, wallet, &wallet_keys, w[0], w[2], coins(1));
    sim.run_until_quiet(10_000);
    assert_eq!(sim.chain(miner).height(), 2, "seed {seed}: one transaction is not enough to mine");
    pay(&mut sim, wallet, &wallet_keys, w[1], w[3], coins(1));

    // 6. The miner mines a block with both; the relay takes it; the wallet receives it.
    sim.run_until_quiet(300_000);
    for node in [relay, wallet, miner] {
        let chain = sim.chain(node);
        assert_eq!(chain.height(), 3, "seed {seed}: node {node}");
        assert_eq!(chain.block(&chain.tip()).unwrap().txs.len(), 3, "seed {seed}");
        // 7. Balances everywhere.
        let expect = [(w[0], 9), (w[1], 9), (w[2], 1), (w[3], 1), (miner_address, 10), (central, 10)];
        for (address, n) in expect {
            assert_eq!(chain.balance(&address.pubkey_hash), coins(n), "seed {seed}: node {node}, {address}");
        }
        assert!(sim.nodes[node].node.mempool().is_empty(), "seed {seed}: node {node}");
        // And the same from the store alone, as after a reload.
        let reloaded = ChainState::load(params.clone(), &sim.nodes[node].store).unwrap();
        assert_eq!(reloaded.tip(), chain.tip(), "seed {seed}: node {node}");
        assert_eq!(reloaded.utxos(), chain.utxos(), "seed {seed}: node {node}");
    }
    assert!(sim.nodes[miner].events.iter().any(|e| matches!(e, Event::Mined { .. })));
    // With parallel checks on, the payments' signatures went through the shell's "workers".
    assert_eq!(sim.verified_jobs > 0, sim.parallel_signatures, "seed {seed}");
    assert!(sim.nodes[wallet].events.iter().any(|e| matches!(e, Event::Log(l) if l.starts_with("Received version"))));
}

/// Seeds `first..first + count`, or as many as `SIM_SEEDS` says (for long campaigns:
/// `SIM_SEEDS=10000 cargo test --release --test sim`). A failure names its seed;
/// `SIM_SEED_FIRST=<seed> SIM_SEEDS=1` replays it alone, and `SIM_DEBUG=1` adds the stuck
/// node's state.
fn seeds(first: u64, count: u64) -> std::ops::Range<u64> {
    let count = std::env::var("SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(count);
    let first = std::env::var("SIM_SEED_FIRST").ok().and_then(|v| v.parse().ok()).unwrap_or(first);
    first..first + count
}

#[test]
fn the_seeds_scenario() {
    for seed in seeds(0, 50) {
        seeds_scenario(seed);
    }
}

/// Lets the network go quiet, has `miner` mine one more block (branches of equal work stay
/// split, each node keeping the one it saw first, until a block breaks the tie), and gives
/// every node a few ticks (retries, queued checks) before the final checks.
fn settle(sim: &mut Sim, miner: usize) {
    sim.run_until_quiet(600_000);
    let payee = SecretKey::from_entropy([1; 32]).public_key().pubkey_hash();
    sim.nodes[miner].node.mine_once(payee);
    sim.drain(miner);
    sim.run_until_quiet(600_000);
    sim.run_for(5_000);
    sim.run_until_quiet(600_000);
}

/// Many nodes in a random mesh, several miners, random partitions that heal: every node
/// ends on the same most-work tip with the same UTXO set.
/// Returns how many reorganisations the nodes went through.
fn convergence(seed: u64, nodes: usize, miners: usize) -> usize {
    let params = ChainParams::test();
    let owner = Address::new(params.address_version, SecretKey::from_entropy([7; 32]).public_key().pubkey_hash());
    let mut sim = Sim::new(seed);
    sim.parallel_signatures = seed % 2 == 1;
    let first = sim.add_node(Role::Relay, Some(new_chain(&owner)));
    for i in 1..nodes {
        let role = if i <= miners { Role::Miner } else { Role::Wallet };
        let node = sim.add_node(role, None);
        // Each node dials one or two earlier nodes: a connected random mesh.
        let target = sim.rng.range(0, i as u64) as usize;
        sim.connect(node, target);
        if i > 2 && sim.rng.chance(60) {
            let other = sim.rng.range(0, i as u64) as usize;
            if other != target {
                sim.connect(node, other);
            }
        }
    }
    let _ = first;
    sim.run_until_quiet(120_000);
    for i in 1..=miners {
        let payee = SecretKey::from_entropy([i as u8; 32]).public_key().pubkey_hash();
        sim.nodes[i].node.set_mining(Some((payee, MiningPolicy::Continuous)));
        sim.drain(i);
    }
    // Mine for a while, cutting random links and adding new ones now and then.
    for _ in 0..6 {
        sim.run_for(20_000);
        let links = sim.links.len() as u64;
        for _ in 0..3 {
            let link = sim.rng.range(0, links) as usize;
            sim.cut(link);
        }
        sim.run_for(20_000);
        for _ in 0..3 {
            let a = sim.rng.range(0, nodes as u64) as usize;
            let b = sim.rng.range(0, nodes as u64) as usize;
            if a != b {
                sim.connect(a, b);
            }
        }
    }
    for i in 1..=miners {
        sim.nodes[i].node.set_mining(None);
        sim.drain(i);
    }
    // Heal: a ring through every node, then let everything settle.
    for i in 0..nodes {
        sim.connect(i, (i + 1) % nodes);
    }
    settle(&mut sim, 1);

    let tip = sim.chain(0).tip();
    let work = sim.chain(0).tip_work();

    assert!(sim.chain(0).height() > 3, "seed {seed}: too few blocks mined to test anything");
    for i in 0..nodes {
        let chain = sim.chain(i);
        // `SIM_DEBUG=1` shows why a node did not converge: its sync state and last events.
        if chain.tip() != tip && std::env::var("SIM_DEBUG").is_ok() {
            eprintln!(
                "node {i}: height {} work {} vs height {} work {}",
                chain.height(),
                chain.tip_work(),
                sim.chain(0).height(),
                work
            );
            eprintln!(
                "peers: {:?}",
                sim.nodes[i].node.peers().iter().map(|p| (p.id, p.best_height)).collect::<Vec<_>>()
            );
            eprintln!("sync: {:?}", sim.nodes[i].node.sync_status());
            for e in sim.nodes[i].events.iter().rev().take(40) {
                eprintln!("  {e:?}");
            }
        }
        assert_eq!(chain.tip(), tip, "seed {seed}: node {i} is on another tip (height {})", chain.height());
        assert_eq!(chain.tip_work(), work, "seed {seed}");
        assert_eq!(chain.utxos(), sim.chain(0).utxos(), "seed {seed}: node {i}");
        assert!(chain.utxo_discrepancies().unwrap().is_empty(), "seed {seed}: node {i}");
    }
    sim.nodes.iter().map(|n| n.events.iter().filter(|e| matches!(e, Event::BlocksDisconnected { .. })).count()).sum()
}

#[test]
fn fifty_nodes_with_competing_miners_converge() {
    let reorgs: usize = seeds(1_000, 200).map(|seed| convergence(seed, 50, 5)).sum();
    // The partitions made competing branches: the runs did exercise reorganisation.
    assert!(reorgs > 0);
}

/// Nodes crash at random and restart from what they committed; the network still converges
/// and every restarted node's store is consistent.
#[test]
fn nodes_that_crash_and_restart_converge() {
    for seed in seeds(2_000, 50) {
        let params = ChainParams::test();
        let owner = Address::new(params.address_version, SecretKey::from_entropy([7; 32]).public_key().pubkey_hash());
        let mut sim = Sim::new(seed);
        sim.add_node(Role::Relay, Some(new_chain(&owner)));
        for i in 1..10 {
            let node = sim.add_node(if i < 3 { Role::Miner } else { Role::Wallet }, None);
            sim.connect(node, 0);
        }
        sim.run_until_quiet(60_000);
        for i in 1..3 {
            let payee = SecretKey::from_entropy([i as u8; 32]).public_key().pubkey_hash();
            sim.nodes[i].node.set_mining(Some((payee, MiningPolicy::Continuous)));
            sim.drain(i);
        }
        for _ in 0..8 {
            sim.run_for(15_000);
            let victim = sim.rng.range(3, 10) as usize;
            // What it announced (its batches were committed first) must survive the crash.
            let announced: Vec<_> = sim.nodes[victim]
                .events
                .iter()
                .filter_map(|e| match e {
                    Event::BlockAdded { hash, .. } => Some(*hash),
                    _ => None,
                })
                .collect();
            sim.crash(victim);
            for hash in &announced {
                let key = hash.0.as_slice();
                assert!(
                    sim.nodes[victim].store.get(tabcoin_core::store::Table::Blocks, key).is_some(),
                    "seed {seed}: node {victim} announced block {hash} but lost it in a crash"
                );
            }
            let down_ms = sim.rng.range(0, 5_000);
            sim.run_for(down_ms);
            sim.restart(victim);
            sim.connect(victim, 0);
        }
        for i in 1..3 {
            sim.nodes[i].node.set_mining(None);
            sim.drain(i);
        }
        settle(&mut sim, 1);
        let tip = sim.chain(0).tip();
        for i in 0..10 {
            assert_eq!(sim.chain(i).tip(), tip, "seed {seed}: node {i}");
            let stored = ChainState::load(params.clone(), &sim.nodes[i].store).unwrap();
            assert_eq!(stored.tip(), tip, "seed {seed}: node {i}'s store");
            assert!(stored.utxo_discrepancies().unwrap().is_empty(), "seed {seed}: node {i}");
        }
    }
}

/// More than one `headers` message (2,000 headers) of chain: the fresh node keeps asking from
/// where the last answer ended, then fetches every body.
#[test]
fn a_long_chain_syncs_across_several_headers_messages() {
    let params = ChainParams::test();
    let owner = Address::new(params.address_version, SecretKey::from_entropy([7; 32]).public_key().pubkey_hash());
    let (mut chain, batch) = new_chain(&owner);
    let mut now = 1_700_000_000u64;
    for _ in 0..2_500 {
        now += 5;
        let spec = tabcoin_core::template::TemplateSpec {
            parent: chain.tip(),
            payee: owner.pubkey_hash,
            now,
            txs: vec![],
            fees: Amount::ZERO,
            message: vec![],
        };
        let block = tabcoin_core::template::build_template(&chain, spec).unwrap().mine().unwrap();
        chain.accept_block(block, now).unwrap();
    }
    let tip = chain.tip();
    let mut sim = Sim::new(5);
    sim.now_ms = (now + 10) * 1000;
    let relay = sim.add_node(Role::Relay, Some((chain, batch)));
    let wallet = sim.add_node(Role::Wallet, None);
    sim.connect(wallet, relay);
    sim.run_until_quiet(600_000);
    assert_eq!(sim.chain(wallet).tip(), tip);
    assert_eq!(sim.chain(wallet).height(), 2_500);
    let progress = sim.nodes[wallet].events.iter().filter(|e| matches!(e, Event::SyncProgress { .. })).count();
    assert!(progress > 0);
    assert!(ChainState::load(params, &sim.nodes[wallet].store).unwrap().tip() == tip);
}
