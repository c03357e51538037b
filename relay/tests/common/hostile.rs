//! Hostile peers for load under attack: each one connects to the relay, misbehaves in one way
//! until the relay cuts it off, and connects again, until a deadline. Seeded, so that a run can
//! be repeated; on 127.0.0.1 only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tabcoin_core::hash::PubKeyHash;
use tabcoin_core::node::MiningPolicy;
use tabcoin_core::protocol::Role;
use tabcoin_core::protocol::{Inventory, Message};
use tabcoin_core::tx::{TxIn, TxInputs};
use tabcoin_core::wallet::KeySet;
use tabcoin_core::{
    Amount, BlockHash, ChainParams, OutPoint, PublicKey, SecretKey, Signature, Transaction, TxOut, Txid,
};
use tabcoin_relay::verbs::Verb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Relay, TempDir, balance, cli, height, native_node, new_address, wait_until, write_signed_chain};

/// The ways a hostile peer misbehaves; peer `i` is `ALL[i % ALL.len()]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Binary frames of random bytes.
    Garbage,
    /// The HTTP upgrade request's headers, one byte a second.
    Slowloris,
    /// One WebSocket frame larger than the largest protocol message.
    Oversize,
    /// After the handshake, `inv`s of 1,000 made-up transaction ids, as fast as it can send.
    InvFlood,
    /// After the handshake, transactions nobody asked for that spend made-up outputs.
    TxFlood,
}

impl Attack {
    pub const ALL: [Attack; 5] =
        [Attack::Garbage, Attack::Slowloris, Attack::Oversize, Attack::InvFlood, Attack::TxFlood];
}

/// What the hostile peers of one kind did.
#[derive(Default)]
pub struct Tally {
    pub connections: AtomicU64,
    /// Connections the relay ended (closed, reset, or refused the upgrade).
    pub cut_off: AtomicU64,
    /// Connections still open at the deadline.
    pub open_at_deadline: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// For slowloris: the longest a connection was held before the relay closed it, in ms.
    pub longest_held_ms: AtomicU64,
}

/// Tallies by attack, in the order of [`Attack::ALL`].
pub type Tallies = Arc<[Tally; 5]>;

pub fn tallies() -> Tallies {
    Arc::new(Default::default())
}

fn index(attack: Attack) -> usize {
    Attack::ALL.iter().position(|a| *a == attack).unwrap_or(0)
}

/// xorshift64*: the attack's bytes need only be arbitrary and repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.next() as u8)
    }

    fn fill(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Where the hostile peers go and which chain they pretend to follow.
#[derive(Clone)]
pub struct Target {
    pub port: u16,
    pub genesis: BlockHash,
    pub magic: [u8; 4],
}

/// Runs hostile peer `i` until `deadline`: connects, misbehaves until cut off, and again.
pub async fn run(i: usize, seed: u64, target: Target, deadline: Instant, tallies: Tallies) {
    let attack = Attack::ALL[i % Attack::ALL.len()];
    let tally = &tallies[index(attack)];
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64 + 1));
    let pubkey = SecretKey::from_entropy([(i % 251) as u8 + 1; 32]).public_key();
    while Instant::now() < deadline {
        tally.connections.fetch_add(1, Ordering::Relaxed);
        let attempt = match attack {
            Attack::Slowloris => slowloris(&target, deadline, tally).await,
            _ => websocket(attack, &target, deadline, tally, &mut rng, pubkey).await,
        };
        match attempt {
            Ended::CutOff => {
                tally.cut_off.fetch_add(1, Ordering::Relaxed);
            }
            Ended::Deadline => {
                tally.open_at_deadline.fetch_add(1, Ordering::Relaxed);
            }
        }
        // A pause before the next connection, so that the attackers do not only fight each
        // other for this machine's two cores.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

enum Ended {
    CutOff,
    Deadline,
}

async fn slowloris(target: &Target, deadline: Instant, tally: &Tally) -> Ended {
    let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", target.port)).await else { return Ended::CutOff };
    let opened = Instant::now();
    let request = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Slow: ";
    let mut buffer = [0u8; 256];
    let mut sent = 0usize;
    loop {
        let byte = request.get(sent).copied().unwrap_or(b'a');
        if tcp.write_all(&[byte]).await.is_err() {
            break;
        }
        sent += 1;
        tally.bytes_sent.fetch_add(1, Ordering::Relaxed);
        // Wait a second for the next byte, noticing if the relay closes the connection.
        let wait = tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buffer));
        match wait.await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(_)) => break, // an answer (408 or 400) ends it as well
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return Ended::Deadline;
        }
    }
    tally.longest_held_ms.fetch_max(opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    Ended::CutOff
}

/// Opens a WebSocket by hand: the attackers write their frames themselves, so that they cost
/// this process no masking and no buffering and the figures are the relay's.
async fn open_websocket(port: u16) -> Option<TcpStream> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        if tcp.read(&mut byte).await.ok()? == 0 || answer.len() > 4_096 {
            return None;
        }
        answer.push(byte[0]);
    }
    answer.starts_with(b"HTTP/1.1 101").then_some(tcp)
}

/// A client's binary WebSocket frame header for a payload of `len` bytes: masked, as a
/// client's must be, with the all-zero key, which leaves the payload as it is.
fn frame_header(len: usize) -> Vec<u8> {
    let mut header = vec![0x82];
    match len {
        0..=125 => header.push(0x80 | len as u8),
        126..=65_535 => {
            header.push(0x80 | 126);
            header.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            header.push(0x80 | 127);
            header.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    header.extend_from_slice(&[0; 4]);
    header
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = frame_header(payload.len());
    frame.extend_from_slice(payload);
    frame
}

async fn websocket(
    attack: Attack,
    target: &Target,
    deadline: Instant,
    tally: &Tally,
    rng: &mut Rng,
    pubkey: PublicKey,
) -> Ended {
    let Ok(Some(tcp)) = tokio::time::timeout(Duration::from_secs(10), open_websocket(target.port)).await else {
        return Ended::CutOff;
    };
    let (mut reader, mut writer) = tcp.into_split();
    let mut send = async |bytes: Vec<u8>| {
        tally.bytes_sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        writer.write_all(&bytes).await.is_ok()
    };
    if matches!(attack, Attack::InvFlood | Attack::TxFlood) {
        let version = super::wallet_version(target.genesis, rng.next(), "hostile");
        for message in [version, Message::Verack] {
            if !send(frame(&message.to_frame(target.magic))).await {
                return Ended::CutOff;
            }
        }
    }
    // Whatever the relay says is read and dropped, so that this side is not the slow reader;
    // the end of the stream is the relay cutting this peer off.
    let drain = async {
        let mut buffer = vec![0u8; 16 * 1024];
        while matches!(reader.read(&mut buffer).await, Ok(n) if n > 0) {}
    };
    // A few `inv`s made once and sent in turn: making 32,000 random bytes for each would cost
    // this process more than the relay.
    let invs: Vec<Vec<u8>> = if attack == Attack::InvFlood {
        (0..4)
            .map(|_| {
                let items = (0..1_000).map(|_| Inventory::Tx(Txid(rng.bytes()))).collect();
                frame(&Message::Inv(items).to_frame(target.magic))
            })
            .collect()
    } else {
        Vec::new()
    };
    let misbehave = async {
        for round in 0usize.. {
            let bytes = match attack {
                Attack::Garbage => {
                    let len = 24 + (rng.next() % 1_000) as usize;
                    frame(&rng.fill(len))
                }
                // Only the header and a little of the payload: the relay must refuse the frame
                // on its declared length, before reading it.
                Attack::Oversize => {
                    let mut bytes = frame_header(tabcoin_relay::peer::MAX_WS_MESSAGE + 1);
                    bytes.extend_from_slice(&rng.fill(1_000));
                    bytes
                }
                Attack::InvFlood => invs[round % invs.len()].clone(),
                Attack::TxFlood => frame(&Message::Tx(made_up_spend(rng, pubkey)).to_frame(target.magic)),
                Attack::Slowloris => return,
            };
            if !send(bytes).await {
                return;
            }
            if attack == Attack::Oversize {
                // The rest of the frame never comes; wait to be cut off.
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = drain => Ended::CutOff,
        () = misbehave => Ended::CutOff,
        () = tokio::time::sleep_until(deadline.into()) => Ended::Deadline,
    }
}

/// A payment spending an output that does not exist, signed with nonsense.
fn made_up_spend(rng: &mut Rng, pubkey: PublicKey) -> Transaction {
    let input =
        TxIn { prev_out: OutPoint { txid: Txid(rng.bytes()), vout: 0 }, pubkey, signature: Signature(rng.bytes()) };
    Transaction {
        version: 1,
        inputs: TxInputs::Spend(vec![input]),
        outputs: vec![TxOut { amount: Amount::from_base_units(1_000), pubkey_hash: PubKeyHash(rng.bytes()) }],
    }
}

/// CPU seconds (user and system) a process has used, from /proc; `self` for this one.
/// Assumes the usual 100 clock ticks a second.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The relay's resident memory in KiB, from /proc.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// What a campaign measured.
pub struct Report {
    pub peers: usize,
    pub blocks: u32,
    /// A fresh native wallet's full sync of the chain with the relay to itself.
    pub quiet_sync: Duration,
    /// A fresh native wallet and a fresh native miner, both synced, under attack.
    pub attacked_sync: Duration,
    /// From the relay's `send` until the wallet's own payment is confirmed, under attack.
    pub payments: Duration,
    /// Whether the honest work ended before the attack did.
    pub honest_done_under_attack: bool,
    pub rss_before_kib: u64,
    pub rss_max_kib: u64,
    pub rss_after_kib: u64,
    /// CPU seconds used during the attack by the relay and by this process (the attackers
    /// and the honest nodes).
    pub relay_cpu_s: f64,
    pub own_cpu_s: f64,
    pub tallies: Tallies,
    /// The relay's peers once the attackers are gone (the two honest nodes), and how long
    /// after the attack ended it got there (at most a minute is waited).
    pub peers_after: usize,
    pub settled: Duration,
}

impl Report {
    pub fn tally(&self, attack: Attack) -> &Tally {
        &self.tallies[index(attack)]
    }
}

/// The campaign: a relay holding `blocks` blocks of two signed payments each; an honest
/// wallet syncs it alone (the quiet figure); then `peers` hostile peers attack for `seconds`
/// while a fresh wallet and a fresh miner sync, the relay pays the wallet, the wallet pays
/// itself from one address to another and the miner confirms it. Panics if the honest nodes
/// do not get there within `seconds`.
pub async fn campaign(peers: usize, seconds: u64, blocks: u32, seed: u64) -> Report {
    let relay_dir = TempDir::new("hostile-relay");
    let mut keys = KeySet::new();
    let params = ChainParams::test();
    let chain = write_signed_chain(relay_dir.path(), blocks, &mut keys);
    let owner = keys.addresses(&params)[0].to_string();
    let relay = Relay::start(relay_dir.path(), &[]);
    let pid = relay.child.id();
    let tip_height = Some(u64::from(blocks));

    let quiet_dir = TempDir::new("hostile-quiet");
    let started = Instant::now();
    let quiet = native_node(quiet_dir.path(), Role::Wallet, &relay.ws_url(), None);
    wait_until(seconds, "the quiet sync", || async { height(&quiet).await == tip_height }).await;
    let quiet_sync = started.elapsed();
    let _ = quiet.stop().await;

    let rss_before_kib = rss_kib(pid);
    let (stop_sampling, mut sampling_stopped) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(async move {
        let mut max = 0;
        loop {
            max = max.max(rss_kib(pid));
            tokio::select! {
                _ = sampling_stopped.changed() => return max,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let cpu_at_start = (cpu_seconds(&pid.to_string()), cpu_seconds("self"));
    let tallies = tallies();
    let target = Target { port: relay.port(), genesis: chain.genesis_hash(), magic: params.magic };
    // The attackers get a thread and a runtime of their own, as if on another machine: on this
    // one, 1,000 busy attacker tasks would otherwise delay the honest nodes' tasks themselves.
    let attack_tallies = tallies.clone();
    let attackers = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let tasks: Vec<_> = (0..peers)
                .map(|i| tokio::spawn(run(i, seed, target.clone(), deadline, attack_tallies.clone())))
                .collect();
            for task in tasks {
                let _ = task.await;
            }
        });
        Ok::<(), std::io::Error>(())
    });
    tokio::time::sleep(Duration::from_secs(2)).await;

    let wallet_dir = TempDir::new("hostile-wallet");
    let miner_dir = TempDir::new("hostile-miner");
    let started = Instant::now();
    let (ok, out, err) = cli(miner_dir.path(), &["createwallet"]);
    assert!(ok, "{err}");
    let miner_address = out.rsplit(' ').next().unwrap_or_default().to_string();
    let wallet = native_node(wallet_dir.path(), Role::Wallet, &relay.ws_url(), None);
    let miner = native_node(
        miner_dir.path(),
        Role::Miner,
        &relay.ws_url(),
        Some((miner_address, MiningPolicy::WhenMempoolHolds(1))),
    );
    let remaining = || deadline.saturating_duration_since(Instant::now()).as_secs().max(1);
    let mut last_said = Instant::now();
    loop {
        let heights = (height(&wallet).await, height(&miner).await);
        if heights == (tip_height, tip_height) {
            break;
        }
        if last_said.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "{:.0} s under attack: the wallet at {:?}, the miner at {:?}",
                started.elapsed().as_secs_f64(),
                heights.0,
                heights.1
            );
            last_said = Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "the honest nodes' sync did not finish under attack: at {heights:?} of {blocks}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let attacked_sync = started.elapsed();

    let started = Instant::now();
    let (first, second) = (new_address(&wallet).await, new_address(&wallet).await);
    let (ok, out, err) = relay.cli(&["send", "--from", &owner, "--to", &first, "--amount", "3"]);
    assert!(ok && out.starts_with("Success!"), "the relay's payment: {out} {err}");
    wait_until(remaining(), "the relay's payment confirmed", || async { balance(&wallet, &first).await == "3" }).await;
    let paid = wallet
        .verb(Verb::Send { from: first.clone(), to: second.clone(), amount: "1".into(), fee: "0".into(), mine: false })
        .await;
    assert!(paid.is_ok(), "the wallet's payment: {paid:?}");
    wait_until(remaining(), "the wallet's payment confirmed", || async {
        let (_, json) = relay.api(&format!("/api/address/{second}"));
        json["confirmed"] == "1" && balance(&wallet, &second).await == "1" && balance(&wallet, &first).await == "2"
    })
    .await;
    let payments = started.elapsed();
    let honest_done_under_attack = Instant::now() < deadline;

    let attack_ended = tokio::task::spawn_blocking(move || attackers.join()).await;
    assert!(matches!(attack_ended, Ok(Ok(Ok(())))), "the attackers' thread failed");
    let relay_cpu_s = cpu_seconds(&pid.to_string()) - cpu_at_start.0;
    let own_cpu_s = cpu_seconds("self") - cpu_at_start.1;
    // The relay works through what the attackers left waiting, notices they are gone, and
    // is left with the honest nodes.
    let attack_over = Instant::now();
    let peer_count = || relay.api("/api/peers").1["peers"].as_array().map_or(0, Vec::len);
    while peer_count() > 2 && attack_over.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let settled = attack_over.elapsed();
    let peers_after = peer_count();
    let _ = stop_sampling.send(true);
    let rss_max_kib = sampler.await.unwrap_or(0);
    let rss_after_kib = rss_kib(pid);
    let _ = wallet.stop().await;
    let _ = miner.stop().await;
    Report {
        peers,
        blocks,
        quiet_sync,
        attacked_sync,
        payments,
        honest_done_under_attack,
        rss_before_kib,
        rss_max_kib,
        rss_after_kib,
        relay_cpu_s,
        own_cpu_s,
        tallies,
        peers_after,
        settled,
    }
}
