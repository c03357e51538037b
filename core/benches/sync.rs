//! Protocol-only sync: 10,000 coinbase-only blocks from one in-process node to a fresh one,
//! through the real messages (headers first, windows of getdata, every block validated and
//! its batch committed). Run: `cargo bench -p tabcoin-core --bench sync`.

use std::collections::VecDeque;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tabcoin_core::node::{Direction, Node, NodeConfig, Output};
use tabcoin_core::protocol::Role;
use tabcoin_core::template::{TemplateSpec, build_template, create_genesis};
use tabcoin_core::{Address, Amount, Block, ChainParams, ChainState, SecretKey};

const BLOCKS: u32 = 10_000;
const NOW_MS: u64 = 1_800_000_000_000;

fn chain_of(blocks: u32) -> (ChainState, Block) {
    let params = ChainParams::test();
    let miner = SecretKey::from_entropy([1; 32]).public_key().pubkey_hash();
    let genesis = create_genesis(&params, &Address::new(params.address_version, miner), 1_600_000_000).unwrap();
    let (mut chain, _) = ChainState::new(params, genesis.clone()).unwrap();
    let mut now = 1_600_000_000u64;
    for _ in 0..blocks {
        now += 5;
        let spec =
            TemplateSpec { parent: chain.tip(), payee: miner, now, txs: vec![], fees: Amount::ZERO, message: vec![] };
        let block = build_template(&chain, spec).unwrap().mine().unwrap();
        chain.accept_block(block, now).unwrap();
    }
    (chain, genesis)
}

fn node(role: Role, nonce: u64, chain: ChainState) -> Node {
    let config = NodeConfig {
        params: ChainParams::test(),
        role,
        user_agent: "bench".into(),
        nonce,
        parallel_signatures: false,
        allow_private_addresses: false,
    };
    Node::new(config, Some(chain))
}

/// Passes frames between two nodes (peer 1 on each side) and commits batches at once, until
/// neither has anything left to do.
fn pump(a: &mut Node, b: &mut Node) {
    let mut to_a: VecDeque<Vec<u8>> = VecDeque::new();
    let mut to_b: VecDeque<Vec<u8>> = VecDeque::new();
    loop {
        let mut idle = true;
        for (node, outbox) in [(&mut *a, &mut to_b), (&mut *b, &mut to_a)] {
            while let Some(output) = node.poll_output() {
                idle = false;
                match output {
                    Output::Send { frame, .. } => outbox.push_back(frame),
                    Output::Write { id, .. } => node.batch_committed(id),
                    _ => {}
                }
            }
        }
        while let Some(frame) = to_a.pop_front() {
            idle = false;
            a.received(1, &frame, NOW_MS);
        }
        while let Some(frame) = to_b.pop_front() {
            idle = false;
            b.received(1, &frame, NOW_MS);
        }
        if idle {
            return;
        }
    }
}

fn protocol_sync(c: &mut Criterion) {
    let (full, genesis) = chain_of(BLOCKS);
    let empty = ChainState::new(ChainParams::test(), genesis).unwrap().0;
    let mut group = c.benchmark_group("sync");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(u64::from(BLOCKS)));
    group.bench_function("10k_coinbase_only_blocks_in_process", |bench| {
        bench.iter_batched(
            || (node(Role::Relay, 1, full.clone()), node(Role::Wallet, 2, empty.clone())),
            |(mut server, mut client)| {
                server.peer_connected(1, Direction::Inbound, "bench".into(), NOW_MS);
                client.peer_connected(1, Direction::Outbound, "bench".into(), NOW_MS);
                pump(&mut server, &mut client);
                assert_eq!(client.chain().unwrap().height(), BLOCKS);
                client
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, protocol_sync);
criterion_main!(benches);
