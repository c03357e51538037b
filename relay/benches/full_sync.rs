//! Full-validation sync: 10,000 blocks with two signed payments each (20,000 signatures)
//! connected to a fresh chain, with the signatures checked as jobs on both cores
//! (`sigcheck::SignatureBatch`) and everything else by `ChainState::accept_block_verified`.
//! Two ways to check the jobs: the relay's (`tabcoin_relay::sigcheck`, ring for the ECDSA
//! equation) and core's own P-256 on as many threads.
//! Run: `cargo bench -p tabcoin-relay --bench full_sync` (setup signs 20,000 payments first).

use std::num::NonZeroUsize;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tabcoin_core::sigcheck::{SignatureBatch, SignatureJob};
use tabcoin_core::template::{TemplateSpec, build_template, create_genesis};
use tabcoin_core::tx::{TxIn, TxInputs};
use tabcoin_core::{
    Address, Amount, Block, ChainParams, ChainState, OutPoint, SecretKey, Signature, Transaction, TxOut,
};
use tabcoin_relay::sigcheck::SignatureChecker;

const BLOCKS: usize = 10_000;
/// Blocks whose signatures are checked together.
const CHUNK: usize = 250;
const THREADS: usize = 2;

fn payment(key: &SecretKey, spent: OutPoint, amount: Amount, outputs: Vec<TxOut>) -> Transaction {
    let input = TxIn { prev_out: spent, pubkey: key.public_key(), signature: Signature([0; 64]) };
    let mut tx = Transaction { version: 1, inputs: TxInputs::Spend(vec![input]), outputs };
    tx.sign_all(key, &[amount]);
    tx
}

/// Genesis, and blocks whose first payment spends the previous coinbase and whose second
/// spends the first's output within the block.
fn chain_with_payments() -> (ChainState, Vec<Block>, u64) {
    let params = ChainParams { halving_interval: 1_000_000, ..ChainParams::test() };
    let key = SecretKey::from_entropy([1; 32]);
    let owner = key.public_key().pubkey_hash();
    let genesis = create_genesis(&params, &Address::new(params.address_version, owner), 1_600_000_000).unwrap();
    let (fresh, _) = ChainState::new(params, genesis.clone()).unwrap();
    let mut chain = fresh.clone();
    let mut previous_coinbase = OutPoint { txid: genesis.txs[0].txid(), vout: 0 };
    let ten = Amount::from_coins(10).unwrap();
    let five = Amount::from_coins(5).unwrap();
    let mut now = 1_600_000_000u64;
    let mut blocks = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        now += 5;
        let split = payment(&key, previous_coinbase, ten, vec![TxOut { amount: five, pubkey_hash: owner }; 2]);
        let onward = payment(
            &key,
            OutPoint { txid: split.txid(), vout: 0 },
            five,
            vec![TxOut { amount: five, pubkey_hash: owner }],
        );
        let spec = TemplateSpec {
            parent: chain.tip(),
            payee: owner,
            now,
            txs: vec![split, onward],
            fees: Amount::ZERO,
            message: vec![],
        };
        let block = build_template(&chain, spec).unwrap().mine().unwrap();
        previous_coinbase = OutPoint { txid: block.txs[0].txid(), vout: 0 };
        // Our own fresh signatures: the setup skips checking them.
        let batch = SignatureBatch::for_blocks(&chain, std::slice::from_ref(&block));
        let trusted = batch.clone().verified(&vec![true; batch.jobs.len()]);
        chain.accept_block_verified(block.clone(), now, &trusted).unwrap();
        blocks.push(block);
    }
    (fresh, blocks, now)
}

/// Core's P-256 alone, the jobs split over the threads.
fn verify_with_core(jobs: &[SignatureJob]) -> Vec<bool> {
    let per_thread = jobs.len().div_ceil(THREADS).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(per_thread)
            .map(|part| scope.spawn(move || part.iter().map(SignatureJob::verify).collect::<Vec<bool>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

/// Connects every block, checking each chunk's signatures with `verify`.
fn sync(mut chain: ChainState, blocks: &[Block], now: u64, mut verify: impl FnMut(&[SignatureJob]) -> Vec<bool>) {
    for chunk in blocks.chunks(CHUNK) {
        let batch = SignatureBatch::for_blocks(&chain, chunk);
        let results = verify(&batch.jobs);
        let verified = batch.verified(&results);
        for block in chunk {
            chain.accept_block_verified(block.clone(), now, &verified).unwrap();
        }
    }
    assert_eq!(chain.height() as usize, blocks.len());
}

fn full_sync(c: &mut Criterion) {
    let (fresh, blocks, now) = chain_with_payments();
    let mut group = c.benchmark_group("full_validation_sync");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(40));
    group.throughput(Throughput::Elements(BLOCKS as u64));
    group.bench_function("10k_blocks_2_payments_relay_checker", |bench| {
        let threads = NonZeroUsize::new(THREADS).unwrap();
        bench.iter_batched(
            || (fresh.clone(), SignatureChecker::new(threads)),
            |(chain, mut checker)| {
                sync(chain, &blocks, now, |jobs| {
                    let checked = checker.verify(jobs);
                    assert_eq!(checked.by_core, 0, "ring refused a valid signature");
                    checked.results
                })
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("10k_blocks_2_payments_core_p256", |bench| {
        bench.iter_batched(
            || fresh.clone(),
            |chain| sync(chain, &blocks, now, verify_with_core),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, full_sync);
criterion_main!(benches);
