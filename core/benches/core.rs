//! Benchmarks of tabcoin-core. Run: `cargo bench -p tabcoin-core --bench core`.
//! Figures go to docs/BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tabcoin_core::hash::sha256d;
use tabcoin_core::mining::{NonceSearch, SearchOutcome};
use tabcoin_core::pow::CompactTarget;
use tabcoin_core::template::{TemplateSpec, build_template, create_genesis};
use tabcoin_core::tx::TxInputs;
use tabcoin_core::wallet::{KeySet, PaymentRequest, build_payment};
use tabcoin_core::{
    Address, Amount, Block, BlockHeader, ChainParams, ChainState, Encoding, MerkleRoot, OutPoint, SecretKey,
    Transaction, TxOut,
};

/// Nonces per measured batch.
const NONCES: u64 = 100_000;

/// A header no nonce can satisfy, so every nonce of the range is hashed.
fn hopeless_header() -> BlockHeader {
    BlockHeader {
        version: 1,
        prev_blockhash: tabcoin_core::BlockHash([7; 32]),
        merkle_root: MerkleRoot([9; 32]),
        time: 1_700_000_000,
        bits: CompactTarget(0x0300_0001),
        nonce: 0,
    }
}

fn nonce_search(c: &mut Criterion) {
    let mut group = c.benchmark_group("nonce_search");
    group.throughput(Throughput::Elements(NONCES));
    group.measurement_time(Duration::from_secs(4));
    let header = hopeless_header();
    let target = header.bits.to_target().unwrap();

    // The reference: SHA-256d of the whole 80-byte header for every nonce.
    group.bench_function("plain_sha256d", |b| {
        b.iter(|| {
            let mut bytes = black_box(header).to_array();
            let mut found = None;
            for nonce in 0..NONCES as u32 {
                bytes[76..80].copy_from_slice(&nonce.to_le_bytes());
                let hash = tabcoin_core::BlockHash(sha256d(&bytes));
                if target.is_met_by(&hash) {
                    found = Some(nonce);
                    break;
                }
            }
            black_box(found)
        })
    });

    // core's search: the first 64 bytes hashed once (midstate), a 32-bit pre-check per nonce.
    group.bench_function("midstate", |b| {
        let search = NonceSearch::new(&header).unwrap();
        b.iter(|| {
            let outcome = black_box(&search).search(black_box(0), NONCES);
            assert_eq!(outcome, SearchOutcome::Exhausted { tried: NONCES });
            black_box(outcome)
        })
    });
    group.finish();
}

fn key(n: u8) -> SecretKey {
    SecretKey::from_entropy([n; 32])
}

fn signature_verification(c: &mut Criterion) {
    let alice = key(1);
    let spent = [TxOut { amount: Amount::from_coins(10).unwrap(), pubkey_hash: alice.public_key().pubkey_hash() }];
    let mut tx = Transaction {
        version: 1,
        inputs: TxInputs::Spend(vec![tabcoin_core::TxIn {
            prev_out: OutPoint { txid: tabcoin_core::Txid([3; 32]), vout: 0 },
            pubkey: alice.public_key(),
            signature: tabcoin_core::Signature([0; 64]),
        }]),
        outputs: vec![spent[0]],
    };
    tx.sign_all(&alice, &[spent[0].amount]);
    let mut group = c.benchmark_group("transactions");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_one_input", |b| b.iter(|| black_box(&tx).verify_inputs(black_box(&spent)).unwrap()));
    group.bench_function("sign_one_input", |b| {
        b.iter_batched(|| tx.clone(), |mut t| t.sign_all(black_box(&alice), &[spent[0].amount]), BatchSize::SmallInput)
    });
    group.finish();

    // A block at the limit of signature checks, each input its own payment with its own key:
    // what a validator falling back to core's P-256 spends on one core (the limit is set so
    // that this stays within a quarter of the 5 s block interval).
    let checks = ChainParams::main().max_block_signature_checks;
    let payments: Vec<(Transaction, [TxOut; 1])> = (0..checks)
        .map(|i| {
            let owner = SecretKey::from_entropy({
                let mut entropy = [7u8; 32];
                entropy[..8].copy_from_slice(&(i as u64).to_le_bytes());
                entropy
            });
            let spent =
                [TxOut { amount: Amount::from_coins(1).unwrap(), pubkey_hash: owner.public_key().pubkey_hash() }];
            let mut payment = tx.clone();
            if let TxInputs::Spend(inputs) = &mut payment.inputs {
                inputs[0].prev_out = OutPoint { txid: tabcoin_core::Txid([3; 32]), vout: i as u32 };
            }
            payment.outputs = vec![spent[0]];
            payment.sign_all(&owner, &[spent[0].amount]);
            (payment, spent)
        })
        .collect();
    let mut group = c.benchmark_group("block_signatures");
    group.sample_size(10);
    group.throughput(Throughput::Elements(checks as u64));
    group.bench_function(format!("verify_{checks}_inputs_one_core"), |b| {
        b.iter(|| {
            for (payment, spent) in &payments {
                black_box(payment).verify_inputs(black_box(spent)).unwrap();
            }
        })
    });
    group.finish();
}

/// A chain of `height` coinbase-only blocks on the test network (with halvings too rare to
/// matter), each paying `miner`.
fn chain_of(height: u32, miner: &SecretKey) -> (ChainState, u64) {
    let params = ChainParams { halving_interval: 1_000_000, ..ChainParams::test() };
    let address = Address::new(params.address_version, miner.public_key().pubkey_hash());
    let mut now = 1_600_000_000u64;
    let genesis = create_genesis(&params, &address, now as u32).unwrap();
    let (mut chain, _) = ChainState::new(params, genesis).unwrap();
    for _ in 0..height {
        now += 5;
        let block = next_block(&chain, miner, now, Vec::new());
        chain.accept_block(block, now).unwrap();
    }
    (chain, now)
}

fn next_block(chain: &ChainState, payee: &SecretKey, now: u64, txs: Vec<Transaction>) -> Block {
    let spec = TemplateSpec {
        parent: chain.tip(),
        payee: payee.public_key().pubkey_hash(),
        now,
        txs,
        fees: Amount::ZERO,
        message: Vec::new(),
    };
    build_template(chain, spec).unwrap().mine().unwrap()
}

/// Blocks that extend `chain`, each with `payments` signed payments spending the miner's
/// coinbase outputs, their coinbases paying a few other keys.
fn blocks_ahead(chain: &ChainState, miner: &SecretKey, mut now: u64, count: usize, payments: usize) -> Vec<Block> {
    let params = chain.params().clone();
    let mut keys = KeySet::new();
    let from = keys.insert(miner.clone(), &params).unwrap();
    let to = Address::new(params.address_version, key(2).public_key().pubkey_hash());
    let mut scratch = chain.clone();
    let mut coins = scratch.utxos().coins_of(&from.pubkey_hash).into_iter();
    let mut blocks = Vec::with_capacity(count);
    for _ in 0..count {
        let txs = (0..payments)
            .map(|_| {
                let (outpoint, coin) = coins.next().expect("the miner has enough coins");
                let request = PaymentRequest { from, to, amount: Amount::from_coins(1).unwrap(), fee: Amount::ZERO };
                build_payment(&keys, &params, &[(outpoint, coin.output)], &request).unwrap()
            })
            .collect();
        now += 5;
        let payee = key(100 + (blocks.len() % 16) as u8);
        let block = next_block(&scratch, &payee, now, txs);
        scratch.accept_block(block.clone(), now).unwrap();
        blocks.push(block);
    }
    blocks
}

/// Accepting (validating and connecting) a block on a chain of 1,000 and of 100,000 blocks:
/// with two signed payments, and coinbase-only (where the data structures' cost shows).
///
/// The chain is reset to a clone every `AHEAD` blocks. A clone's vectors have no spare
/// capacity and its memory is fresh, so the first blocks after a reset pay for regrowing and
/// faulting them in (10 ms for the first block at height 100,000): a cost of the reset, not of
/// connecting, so those blocks are connected untimed.
fn connect_at_height(c: &mut Criterion) {
    const AHEAD: usize = 400;
    const UNTIMED_AFTER_RESET: usize = 100;
    let mut group = c.benchmark_group("connect_block");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(6));
    let miner = key(1);
    for height in [1_000u32, 100_000] {
        let (base, now) = chain_of(height, &miner);
        for payments in [2usize, 0] {
            let blocks = blocks_ahead(&base, &miner, now, AHEAD, payments);
            let clock = now + 5 * AHEAD as u64 + 5;
            group.bench_function(format!("{payments}_payments_at_height_{height}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut chain = base.clone();
                    let mut next = blocks.len();
                    for _ in 0..iters {
                        if next == blocks.len() {
                            chain = base.clone();
                            for block in &blocks[..UNTIMED_AFTER_RESET] {
                                chain.accept_block(block.clone(), clock).unwrap();
                            }
                            next = UNTIMED_AFTER_RESET;
                        }
                        let block = blocks[next].clone();
                        next += 1;
                        let start = Instant::now();
                        let accepted = chain.accept_block(black_box(block), clock).unwrap();
                        total += start.elapsed();
                        black_box(accepted);
                    }
                    total
                })
            });
        }
    }
    group.finish();
}

/// A block of about 1 MB: a coinbase and 5,100 one-input payments.
fn megabyte_block() -> Block {
    let alice = key(1);
    let mut txs = Vec::new();
    for i in 0..5_100u32 {
        let mut tx = Transaction {
            version: 1,
            inputs: TxInputs::Spend(vec![tabcoin_core::TxIn {
                prev_out: OutPoint { txid: tabcoin_core::Txid(sha256d(&i.to_le_bytes())), vout: i % 3 },
                pubkey: alice.public_key(),
                signature: tabcoin_core::Signature([0; 64]),
            }]),
            outputs: vec![
                TxOut {
                    amount: Amount::from_base_units(u64::from(i) * 1000),
                    pubkey_hash: key(2).public_key().pubkey_hash(),
                },
                TxOut { amount: Amount::from_base_units(5), pubkey_hash: alice.public_key().pubkey_hash() },
            ],
        };
        if let TxInputs::Spend(inputs) = &mut tx.inputs {
            inputs[0].signature = tabcoin_core::Signature([i as u8; 64]);
        }
        txs.push(tx);
    }
    let params = ChainParams::test();
    let genesis =
        create_genesis(&params, &Address::new(params.address_version, alice.public_key().pubkey_hash()), 0).unwrap();
    let mut block = genesis;
    block.txs.extend(txs);
    block
}

fn block_codec(c: &mut Criterion) {
    let block = megabyte_block();
    let bytes = block.to_bytes();
    let mut group = c.benchmark_group("block_1mb");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| black_box(black_box(&block).to_bytes())));
    group.bench_function("decode", |b| b.iter(|| black_box(Block::from_bytes(black_box(&bytes)).unwrap())));
    group.bench_function("merkle_root", |b| b.iter(|| black_box(black_box(&block).compute_merkle_root())));
    group.finish();
}

criterion_group!(benches, nonce_search, signature_verification, connect_at_height, block_codec);
criterion_main!(benches);
