//! Test harness: the real `tabcoin` binary as the relay (fresh data directory, free port, test
//! network), native nodes built on the relay's library, and small helpers to wait and ask.

#![allow(dead_code)]

pub mod hostile;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tabcoin_core::hash::PubKeyHash;
use tabcoin_core::node::{MiningPolicy, Node, NodeConfig};
use tabcoin_core::params::ChainParams;
use tabcoin_core::protocol::Role;
use tabcoin_core::sigcheck::SignatureBatch;
use tabcoin_core::store::WriteBatch;
use tabcoin_core::template::{TemplateSpec, build_template, create_genesis};
use tabcoin_core::tx::{TxIn, TxInputs};
use tabcoin_core::wallet::KeySet;
use tabcoin_core::{Amount, ChainState, OutPoint, SecretKey, Signature, Transaction, TxOut};
use tabcoin_relay::daemon::{NodeHandle, spawn_node};
use tabcoin_relay::offline;
use tabcoin_relay::store::Store;
use tabcoin_relay::verbs::Verb;

pub const BIN: &str = env!("CARGO_BIN_EXE_tabcoin");

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let dir = std::env::temp_dir().join(format!("tabcoin-{name}-{:016x}", u64::from_le_bytes(bytes)));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The relay binary, running.
pub struct Relay {
    pub child: Child,
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    pub datadir: PathBuf,
    /// What the first start printed: the address the genesis pays.
    pub genesis_payee: Option<String>,
}

impl Relay {
    /// Starts `tabcoin startnode` on a free port with `extra` arguments, and waits until it
    /// listens.
    pub fn start(datadir: &Path, extra: &[&str]) -> Relay {
        Relay::start_on(datadir, 0, extra)
    }

    /// Starts on `port` (0: any free one): a restart on the port of the last run lets its
    /// peers reconnect.
    pub fn start_on(datadir: &Path, port: u16, extra: &[&str]) -> Relay {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(datadir.join("relay.log")).unwrap();
        let mut child = Command::new(BIN)
            .args(["--network", "test", "--datadir"])
            .arg(datadir)
            .args(["startnode", "--port", &port.to_string(), "--mining-threads", "1"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut genesis_payee = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines_rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the relay did not start: {}", read_log(datadir));
            };
            if let Some(rest) = line.split(" pays ").nth(1) {
                genesis_payee = Some(rest.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("tabcoin relay listening on ") {
                return Relay { child, url: url.trim().to_string(), datadir: datadir.to_path_buf(), genesis_payee };
            }
        }
    }

    pub fn ws_url(&self) -> String {
        format!("{}ws", self.url.replacen("http", "ws", 1))
    }

    pub fn port(&self) -> u16 {
        self.url.trim_end_matches('/').rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Runs a CLI verb against this relay's data directory: (succeeded, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        cli(&self.datadir, args)
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn stop(mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "the relay exited with {exit}: {}", read_log(&self.datadir));
    }

    /// GET a path of the JSON API.
    pub fn api(&self, path: &str) -> (u16, Value) {
        let (status, body) = http_get(self.port(), path);
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn read_log(datadir: &Path) -> String {
    std::fs::read_to_string(datadir.join("relay.log")).unwrap_or_default()
}

pub fn cli(datadir: &Path, args: &[&str]) -> (bool, String, String) {
    cli_on("test", datadir, args)
}

/// A CLI verb on `network`'s data in `datadir`: (succeeded, stdout, stderr).
pub fn cli_on(network: &str, datadir: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BIN)
        .args(["--network", network, "--datadir"])
        .arg(datadir)
        .args(args)
        .env_remove("TABCOIN_PASSPHRASE")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// A bare HTTP/1.1 GET over loopback: (status, body). Tests only; the product uses axum.
pub fn http_get(port: u16, path: &str) -> (u16, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut body = response[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
    out
}

/// A native node (wallet or miner) on the relay's library, with its own store, dialling
/// `peer`. It has no chain at first: it adopts the relay's.
pub fn native_node(datadir: &Path, role: Role, peer: &str, mining: Option<(String, MiningPolicy)>) -> NodeHandle {
    let params = ChainParams::test();
    let (store, chain) = offline::open_chain(datadir, &params).unwrap();
    let config = NodeConfig {
        params: params.clone(),
        role,
        user_agent: format!("test-{role:?}"),
        nonce: u64::from_le_bytes(tabcoin_relay::wallet_file::random_bytes().unwrap()),
        // As the relay's: their sync checks signatures through `Output::Verify` too.
        parallel_signatures: true,
        allow_private_addresses: true,
    };
    let mut node = Node::new(config, chain);
    if let Some((address, policy)) = mining {
        let address = tabcoin_relay::verbs::parse_address(&address, &params).unwrap();
        node.set_mining(Some((address.pubkey_hash, policy)));
    }
    spawn_node(node, store, datadir.to_path_buf(), 1, &[peer.to_string()])
}

pub async fn height(node: &NodeHandle) -> Option<u64> {
    node.query(|view| serde_json::json!(view.node.chain().map(|c| c.height()))).await.as_u64()
}

pub async fn tip(node: &NodeHandle) -> Option<String> {
    node.query(|view| serde_json::json!(view.node.chain().map(|c| c.tip().to_string())))
        .await
        .as_str()
        .map(String::from)
}

/// Polls `check` every 50 ms until it holds, for at most `secs` seconds.
pub async fn wait_until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn new_address(node: &NodeHandle) -> String {
    let text = node.verb(Verb::CreateWallet).await.unwrap();
    text.rsplit(' ').next().unwrap().to_string()
}

/// The balance a node reports for `address`, e.g. "9".
pub async fn balance(node: &NodeHandle, address: &str) -> String {
    let text = node.verb(Verb::GetBalance { address: address.to_string() }).await.unwrap();
    balance_from_text(&text)
}

pub fn balance_from_text(text: &str) -> String {
    text.split(": ").nth(1).unwrap().split_whitespace().next().unwrap().to_string()
}

/// A relay data directory holding a chain of `blocks` coinbase-only blocks after a genesis
/// that pays `keys`' first address; returns the chain as the relay will load it.
pub fn write_chain(dir: &std::path::Path, blocks: u32, keys: &mut KeySet) -> ChainState {
    write_chain_with(dir, blocks, keys, false)
}

/// Like [`write_chain`], with two signed payments in every block: the first spends the
/// second's output of the block before (the genesis coinbase at first), the second spends the
/// first's within the block. 20,000 signatures for 10,000 blocks: a full-validation sync.
pub fn write_signed_chain(dir: &std::path::Path, blocks: u32, keys: &mut KeySet) -> ChainState {
    write_chain_with(dir, blocks, keys, true)
}

fn signed_payment(key: &SecretKey, spent: OutPoint, amount: Amount, owner: PubKeyHash) -> Transaction {
    let input = TxIn { prev_out: spent, pubkey: key.public_key(), signature: Signature([0; 64]) };
    let outputs = vec![TxOut { amount, pubkey_hash: owner }];
    let mut tx = Transaction { version: 1, inputs: TxInputs::Spend(vec![input]), outputs };
    tx.sign_all(key, &[amount]);
    tx
}

fn write_chain_with(dir: &std::path::Path, blocks: u32, keys: &mut KeySet, payments: bool) -> ChainState {
    let params = ChainParams::test();
    let entropy = [11; 32];
    let owner = keys.generate(entropy, &params).unwrap();
    let key = SecretKey::from_entropy(entropy);
    tabcoin_relay::wallet_file::save(&dir.join("wallet.dat"), keys, None).unwrap();
    let start = tabcoin_relay::verbs::now_secs() - u64::from(blocks) * 5 - 60;
    let genesis = create_genesis(&params, &owner, start as u32).unwrap();
    let mut spendable = (OutPoint { txid: genesis.txs[0].txid(), vout: 0 }, genesis.txs[0].outputs[0].amount);
    let (mut chain, batch) = ChainState::new(params, genesis).unwrap();
    let store = Store::open(&dir.join("chain.redb")).unwrap();
    store.commit([&batch]).unwrap();
    let mut pending: Vec<WriteBatch> = Vec::new();
    for i in 1..=u64::from(blocks) {
        let now = start + i * 5;
        let txs = if payments {
            let (outpoint, amount) = spendable;
            let first = signed_payment(&key, outpoint, amount, owner.pubkey_hash);
            let second = signed_payment(&key, OutPoint { txid: first.txid(), vout: 0 }, amount, owner.pubkey_hash);
            spendable = (OutPoint { txid: second.txid(), vout: 0 }, amount);
            vec![first, second]
        } else {
            vec![]
        };
        let spec = TemplateSpec {
            parent: chain.tip(),
            payee: owner.pubkey_hash,
            now,
            txs,
            fees: Amount::ZERO,
            message: vec![],
        };
        let block = build_template(&chain, spec).unwrap().mine().unwrap();
        // Our own fresh signatures: writing the chain skips checking them.
        let jobs = SignatureBatch::for_blocks(&chain, std::slice::from_ref(&block));
        let trusted = jobs.clone().verified(&vec![true; jobs.jobs.len()]);
        pending.push(chain.accept_block_verified(block, now, &trusted).unwrap().batch);
        if pending.len() == 1_000 {
            store.commit(&pending).unwrap();
            pending.clear();
        }
    }
    store.commit(&pending).unwrap();
    chain
}

/// A wallet's `version` on the chain with `genesis`, at height 0.
pub fn wallet_version(
    genesis: tabcoin_core::BlockHash,
    nonce: u64,
    user_agent: &str,
) -> tabcoin_core::protocol::Message {
    tabcoin_core::protocol::Message::Version(tabcoin_core::protocol::Version {
        protocol_version: tabcoin_core::protocol::PROTOCOL_VERSION,
        role: Role::Wallet,
        genesis,
        best_height: 0,
        best_work: tabcoin_core::Work::ZERO,
        time: tabcoin_relay::verbs::now_secs(),
        nonce,
        user_agent: user_agent.to_string(),
    })
}
