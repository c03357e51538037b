//! The relay under load, on 127.0.0.1 only, bounded in count and time. Each mode starts the
//! real relay binary on a fresh data directory and prints its figures:
//!
//! - `cargo bench -p tabcoin-relay --bench load -- sync [BLOCKS]`: a native node syncs BLOCKS
//!   (default 10,000) coinbase-only blocks from the relay over a WebSocket into its own redb
//!   store; 5 runs, the median in blocks/s.
//! - `cargo bench -p tabcoin-relay --bench load -- idle [PEERS]`: PEERS (default 10,000)
//!   WebSocket peers complete the handshake and stay idle; the relay's resident memory.
//! - `cargo bench -p tabcoin-relay --bench load -- signed-chain DIR [BLOCKS]`: writes a relay
//!   data directory (test network) whose chain has BLOCKS (default 10,000) blocks with two
//!   signed payments each, for the browser's full-validation sync bench (tests/bench/).
//! - `cargo bench -p tabcoin-relay --bench load -- fanout [PEERS]`: PEERS (default 1,000)
//!   wallets connected; another peer hands the relay 20 transactions one by one; the time from
//!   sending each `tx` until each peer has the relay's `inv` for it: p50 and p99.
//! - `cargo bench -p tabcoin-relay --bench load -- attack [PEERS] [SECONDS] [BLOCKS]`: PEERS
//!   (default 1,000) hostile peers (garbage, slowloris, oversize frames, inv and tx floods;
//!   `tests/common/hostile.rs`) for SECONDS (default 180) while a fresh native wallet and miner
//!   sync BLOCKS (default 2,000) blocks of two signed payments each and pay; the sync times
//!   quiet and under attack, the relay's memory, what each kind of attacker got.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::hostile::{self, Attack, rss_kib};
use common::{Relay, TempDir, native_node, wallet_version, write_chain};
use futures_util::{SinkExt, StreamExt};
use tabcoin_core::protocol::{Inventory, Message, Role};
use tabcoin_core::wallet::{KeySet, PaymentRequest, build_payment};
use tabcoin_core::{Address, Amount, BlockHash, ChainParams, Mempool, Txid};
use tokio_tungstenite::tungstenite;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let mode = args.first().map_or("sync", String::as_str);
    let count = args.get(1).and_then(|c| c.parse().ok());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        match mode {
            "sync" => sync(count.unwrap_or(10_000) as u32).await,
            "idle" => idle(count.unwrap_or(10_000)).await,
            "fanout" => fanout(count.unwrap_or(1_000)).await,
            "attack" => {
                let seconds = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(180);
                let blocks = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2_000);
                attack(count.unwrap_or(1_000), seconds, blocks).await
            }
            "signed-chain" => signed_chain(args.get(1), args.get(2).and_then(|c| c.parse().ok()).unwrap_or(10_000)),
            other => eprintln!("unknown mode {other:?}: use sync, idle, fanout, attack or signed-chain"),
        }
    });
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn signed_chain(dir: Option<&String>, blocks: u32) {
    let Some(dir) = dir else {
        eprintln!("signed-chain needs the data directory to write");
        return;
    };
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir).unwrap();
    let started = Instant::now();
    let chain = common::write_signed_chain(dir, blocks, &mut KeySet::new());
    println!(
        "wrote {} blocks with two signed payments each to {} in {:.1} s",
        chain.height(),
        dir.display(),
        started.elapsed().as_secs_f64()
    );
}

/// Every simulated peer connects from 127.0.0.1: the per-address cap must let them all in.
const LOOPBACK_CROWD: [&str; 2] = ["--max-connections-per-address", "1000000"];

async fn sync(blocks: u32) {
    let relay_dir = TempDir::new("bench-sync-relay");
    write_chain(relay_dir.path(), blocks, &mut KeySet::new());
    let relay = Relay::start(relay_dir.path(), &LOOPBACK_CROWD);
    let mut rates = Vec::new();
    for run in 0..5 {
        let node_dir = TempDir::new("bench-sync-node");
        let started = Instant::now();
        let node = native_node(node_dir.path(), Role::Wallet, &relay.ws_url(), None);
        common::wait_until(600, "the sync", || async { common::height(&node).await == Some(u64::from(blocks)) }).await;
        let seconds = started.elapsed().as_secs_f64();
        node.stop().await.unwrap();
        let rate = f64::from(blocks) / seconds;
        println!("run {run}: {blocks} blocks in {seconds:.3} s = {rate:.0} blocks/s");
        rates.push(rate);
    }
    println!("sync from the relay over a WebSocket into redb: median {:.0} blocks/s", median(&mut rates));
}

/// Connects and sends `version` and `verack`; the relay's answers are left to the reader.
async fn join(relay: &Relay, genesis: BlockHash, nonce: u64) -> Socket {
    let magic = ChainParams::test().magic;
    let config = tabcoin_relay::peer::client_config();
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(relay.ws_url(), Some(config), true).await.unwrap();
    for message in [wallet_version(genesis, nonce, "load"), Message::Verack] {
        socket.send(tungstenite::Message::Binary(message.to_frame(magic).into())).await.unwrap();
    }
    socket
}

async fn idle(peers: usize) {
    let relay_dir = TempDir::new("bench-idle");
    let chain = write_chain(relay_dir.path(), 10, &mut KeySet::new());
    let relay = Relay::start(relay_dir.path(), &LOOPBACK_CROWD);
    let pid = relay.child.id();
    let before = rss_kib(pid);
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(peers);
    let mut joining = futures_util::stream::iter(0..peers)
        .map(|i| join(&relay, chain.genesis_hash(), 1_000 + i as u64))
        .buffer_unordered(256);
    while let Some(socket) = joining.next().await {
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, peers_json) = relay.api("/api/peers");
    let handshaken = peers_json["peers"].as_array().map_or(0, Vec::len);
    let after = rss_kib(pid);
    println!(
        "{peers} idle peers ({handshaken} through the handshake) connected in {:.1} s; relay RSS {:.1} MiB before, {:.1} MiB after ({:.1} KiB a peer)",
        started.elapsed().as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / peers as f64
    );
    drop(sockets);
}

async fn fanout(peers: usize) {
    const ROUNDS: usize = 20;
    let relay_dir = TempDir::new("bench-fanout");
    let mut keys = KeySet::new();
    let chain = write_chain(relay_dir.path(), 1, &mut keys);
    let relay = Relay::start(relay_dir.path(), &LOOPBACK_CROWD);
    let magic = ChainParams::test().magic;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut joining = futures_util::stream::iter(0..peers)
        .map(|i| join(&relay, chain.genesis_hash(), 10_000 + i as u64))
        .buffer_unordered(128);
    let mut readers = Vec::new();
    while let Some(mut socket) = joining.next().await {
        let mut stopped = stopped.clone();
        // Each reader only stamps and keeps what arrives; decoding waits until the end, so
        // that the measurement is the relay's delivery, not this process's work.
        readers.push(tokio::spawn(async move {
            let mut received: Vec<(Instant, Vec<u8>)> = Vec::new();
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    message = socket.next() => match message {
                        Some(Ok(tungstenite::Message::Binary(bytes))) => received.push((Instant::now(), bytes.to_vec())),
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                }
            }
            received
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The sender: announces each payment, answers the relay's getdata, and times from there.
    let mut sender = join(&relay, chain.genesis_hash(), 1).await;
    let params = ChainParams::test();
    let owner = keys.addresses(&params)[0];
    let mut mempool = Mempool::new();
    let mut sent_at = Vec::new();
    for round in 0..ROUNDS {
        let coins = mempool.spendable_coins(&chain, &owner.pubkey_hash);
        let request = PaymentRequest {
            from: owner,
            to: Address::new(params.address_version, tabcoin_core::PubKeyHash([round as u8; 20])),
            amount: Amount::from_base_units(1_000),
            fee: Amount::ZERO,
        };
        let tx = build_payment(&keys, &params, &coins, &request).unwrap();
        let txid = mempool.accept(tx.clone(), &chain).unwrap().txid;
        let inv = Message::Inv(vec![Inventory::Tx(txid)]).to_frame(magic);
        sender.send(tungstenite::Message::Binary(inv.into())).await.unwrap();
        loop {
            let Some(Ok(message)) = sender.next().await else { panic!("the relay cut the sender off") };
            if let tungstenite::Message::Binary(bytes) = message
                && let Ok(Message::GetData(items)) = Message::from_frame(&bytes, magic)
                && items.contains(&Inventory::Tx(txid))
            {
                break;
            }
        }
        let frame = Message::Tx(tx).to_frame(magic);
        let started = Instant::now();
        sender.send(tungstenite::Message::Binary(frame.into())).await.unwrap();
        sent_at.push((txid, started));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop.send(true);
    let mut arrivals: Vec<(Txid, Instant)> = Vec::new();
    for reader in readers {
        for (at, bytes) in reader.await.unwrap() {
            if let Ok(Message::Inv(items)) = Message::from_frame(&bytes, magic) {
                arrivals.extend(items.iter().filter_map(|i| match i {
                    Inventory::Tx(txid) => Some((*txid, at)),
                    Inventory::Block(_) => None,
                }));
            }
        }
    }
    let mut latencies: Vec<f64> = Vec::new();
    for (txid, started) in &sent_at {
        latencies.extend(
            arrivals
                .iter()
                .filter(|(t, _)| t == txid)
                .map(|(_, at)| at.duration_since(*started).as_secs_f64() * 1000.0),
        );
    }
    latencies.sort_by(f64::total_cmp);
    let expected = ROUNDS * peers;
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "tx inv fan-out to {peers} peers, {ROUNDS} transactions: {} of {expected} deliveries; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        pick(0.5),
        pick(0.99),
        pick(1.0)
    );
}

async fn attack(peers: usize, seconds: u64, blocks: u32) {
    let report = hostile::campaign(peers, seconds, blocks, 20_261_124).await;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "{blocks} signed blocks: quiet sync {:.1} s; under attack by {peers} peers for {seconds} s: wallet and miner synced in {:.1} s, \
         payments confirmed in {:.1} s (done before the attack ended: {})",
        report.quiet_sync.as_secs_f64(),
        report.attacked_sync.as_secs_f64(),
        report.payments.as_secs_f64(),
        report.honest_done_under_attack
    );
    println!(
        "relay RSS {:.1} MiB before, {:.1} MiB at most, {:.1} MiB after; {} peers left {:.1} s after the attack; \
         CPU during the attack: relay {:.0} s, attackers and honest nodes {:.0} s",
        mib(report.rss_before_kib),
        mib(report.rss_max_kib),
        mib(report.rss_after_kib),
        report.peers_after,
        report.settled.as_secs_f64(),
        report.relay_cpu_s,
        report.own_cpu_s
    );
    for attack in Attack::ALL {
        let tally = report.tally(attack);
        let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "{attack:?}: {} connections, {} cut off, {} open at the end, {:.1} MiB offered{}",
            load(&tally.connections),
            load(&tally.cut_off),
            load(&tally.open_at_deadline),
            load(&tally.bytes_sent) as f64 / 1_048_576.0,
            if attack == Attack::Slowloris {
                format!(", held at most {:.1} s", load(&tally.longest_held_ms) as f64 / 1000.0)
            } else {
                String::new()
            }
        );
    }
}
