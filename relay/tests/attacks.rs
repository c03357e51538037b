//! The seed's flaws as attacks over the real wire: protocol messages sent through a WebSocket
//! to the running relay. Each is refused; a peer that sends an invalid block or a malformed
//! message is cut off, as the protocol says, and nothing changes on the relay.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tabcoin_core::hash::PubKeyHash;
use tabcoin_core::protocol::{Inventory, Message};
use tabcoin_core::template::{BlockTemplate, TemplateSpec, build_template};
use tabcoin_core::tx::{TxIn, TxInputs};
use tabcoin_core::wallet::KeySet;
use tabcoin_core::{
    Amount, BlockHash, ChainParams, ChainState, OutPoint, SecretKey, Signature, Transaction, TxOut, Txid,
};
use tokio_tungstenite::tungstenite;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A relay on a chain this test wrote (so it holds the same chain and the coins' key).
struct Fixture {
    dir: TempDir,
    relay: Relay,
    chain: ChainState,
    owner: SecretKey,
}

/// The key `write_chain` pays every block to.
const OWNER_ENTROPY: [u8; 32] = [11; 32];
const BLOCKS: u32 = 6;

fn fixture(name: &str) -> Fixture {
    let dir = TempDir::new(name);
    let chain = write_chain(dir.path(), BLOCKS, &mut KeySet::new());
    let relay = Relay::start(dir.path(), &[]);
    Fixture { dir, relay, chain, owner: SecretKey::from_entropy(OWNER_ENTROPY) }
}

fn magic() -> [u8; 4] {
    ChainParams::test().magic
}

fn hash_of(key: &SecretKey) -> PubKeyHash {
    key.public_key().pubkey_hash()
}

/// The owner's coins, oldest first.
fn coins(f: &Fixture) -> Vec<(OutPoint, TxOut)> {
    let mut coins: Vec<(OutPoint, TxOut)> =
        f.chain.utxos().coins_of(&hash_of(&f.owner)).into_iter().map(|(op, c)| (op, c.output)).collect();
    coins.sort_by_key(|(op, _)| *op);
    coins
}

/// A transaction spending `spent`, signed by `signer`, paying `outputs`.
fn signed(signer: &SecretKey, spent: &[(OutPoint, TxOut)], outputs: Vec<TxOut>) -> Transaction {
    let inputs =
        spent.iter().map(|(op, _)| TxIn { prev_out: *op, pubkey: signer.public_key(), signature: Signature([0; 64]) });
    let mut tx = Transaction { version: 1, inputs: TxInputs::Spend(inputs.collect()), outputs };
    let amounts: Vec<Amount> = spent.iter().map(|(_, o)| o.amount).collect();
    tx.sign_all(signer, &amounts);
    tx
}

fn pay(to: &SecretKey, amount: Amount) -> TxOut {
    TxOut { amount, pubkey_hash: hash_of(to) }
}

fn template(f: &Fixture, txs: Vec<Transaction>) -> BlockTemplate {
    let spec = TemplateSpec {
        parent: f.chain.tip(),
        payee: hash_of(&f.owner),
        now: tabcoin_relay::verbs::now_secs(),
        txs,
        fees: Amount::ZERO,
        message: vec![],
    };
    build_template(&f.chain, spec).unwrap()
}

async fn handshake(f: &Fixture) -> Socket {
    let mut socket = tokio_tungstenite::connect_async(f.relay.ws_url()).await.unwrap().0;
    let version = wallet_version(f.chain.genesis_hash(), 7, "attacker");
    send(&mut socket, &version).await;
    send(&mut socket, &Message::Verack).await;
    socket
}

async fn send(socket: &mut Socket, message: &Message) {
    socket.send(tungstenite::Message::Binary(message.to_frame(magic()).into())).await.unwrap();
}

/// What the relay sends within `ms`, and whether it closed the connection.
async fn answers(socket: &mut Socket, ms: u64) -> (Vec<Message>, bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    let mut received = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return (received, false),
            Ok(None | Some(Err(_)) | Some(Ok(tungstenite::Message::Close(_)))) => return (received, true),
            Ok(Some(Ok(tungstenite::Message::Binary(bytes)))) => {
                received.extend(Message::from_frame(&bytes, magic()).ok());
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Waits (up to 10 s) for the relay to close the connection.
async fn cut_off(socket: &mut Socket, what: &str) -> Vec<Message> {
    let (received, closed) = answers(socket, 10_000).await;
    assert!(closed, "{what}: the sender was not cut off; it got {received:?}");
    received
}

/// Waits for the relay's `reject` of `txid`; the reason it gives.
async fn rejected(socket: &mut Socket, txid: Txid, what: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (received, closed) = answers(socket, 200).await;
        for message in received {
            if let Message::Reject(reject) = message
                && reject.item == Inventory::Tx(txid)
            {
                return reject.reason;
            }
        }
        assert!(!closed && tokio::time::Instant::now() < deadline, "{what}: no reject for {txid}");
    }
}

/// Waits for the relay's `reject` of `txid` and for it to close the connection; the reason.
async fn rejected_and_cut_off(socket: &mut Socket, txid: Txid, what: &str) -> String {
    let received = cut_off(socket, what).await;
    received
        .into_iter()
        .find_map(|message| match message {
            Message::Reject(reject) if reject.item == Inventory::Tx(txid) => Some(reject.reason),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{what}: no reject for {txid}"))
}

fn mempool_txids(f: &Fixture) -> Vec<String> {
    let (_, mempool) = f.relay.api("/api/mempool");
    mempool["txs"].as_array().unwrap().iter().map(|tx| tx["txid"].as_str().unwrap().to_string()).collect()
}

fn tip_height(f: &Fixture) -> u64 {
    f.relay.api("/api/tip").1["height"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_that_break_the_rules_are_rejected_and_never_reach_the_mempool() {
    let f = fixture("attack-txs");
    let thief = SecretKey::from_entropy([66; 32]);
    let coins = coins(&f);
    let mut socket = handshake(&f).await;

    // The seed let anyone spend any output: the thief signs the owner's coin with its own key.
    // Such a payment can never be valid: a reject, and the sender is cut off.
    let theft = signed(&thief, &coins[..1], vec![pay(&thief, coins[0].1.amount)]);
    send(&mut socket, &Message::Tx(theft.clone())).await;
    let reason = rejected_and_cut_off(&mut socket, theft.txid(), "spending someone else's output").await;
    assert!(!reason.is_empty());
    // Sent again on a new connection: refused as already found invalid, cut off again.
    let mut socket = handshake(&f).await;
    send(&mut socket, &Message::Tx(theft.clone())).await;
    let reason = rejected_and_cut_off(&mut socket, theft.txid(), "the same theft again").await;
    assert!(reason.contains("already found invalid"), "{reason}");

    // The seed signed a truncated string: here an output changed after signing breaks the
    // signature.
    let mut socket = handshake(&f).await;
    let mut altered = signed(&f.owner, &coins[1..2], vec![pay(&f.owner, coins[1].1.amount)]);
    altered.outputs[0].pubkey_hash = hash_of(&thief);
    send(&mut socket, &Message::Tx(altered.clone())).await;
    rejected_and_cut_off(&mut socket, altered.txid(), "altering outputs after signing").await;
    assert!(mempool_txids(&f).is_empty(), "neither reached the mempool");

    // A double spend across the mempool: the first spend is taken, the second refused (its
    // sender may not have heard of the first: not cut off).
    let mut socket = handshake(&f).await;
    let honest = signed(&f.owner, &coins[2..3], vec![pay(&thief, coins[2].1.amount)]);
    send(&mut socket, &Message::Tx(honest.clone())).await;
    wait_until(10, "the honest payment in the mempool", || async { mempool_txids(&f).len() == 1 }).await;
    let double = signed(&f.owner, &coins[2..3], vec![pay(&f.owner, coins[2].1.amount)]);
    send(&mut socket, &Message::Tx(double.clone())).await;
    rejected(&mut socket, double.txid(), "a double spend across the mempool").await;
    assert_eq!(mempool_txids(&f), vec![honest.txid().to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_that_break_the_rules_cut_the_sender_off_and_change_nothing() {
    let f = fixture("attack-blocks");
    let coins = coins(&f);
    let other = SecretKey::from_entropy([67; 32]);
    let height = tip_height(&f);
    assert_eq!(height, u64::from(BLOCKS));

    // A double spend inside one block.
    let first = signed(&f.owner, &coins[..1], vec![pay(&other, coins[0].1.amount)]);
    let second = signed(&f.owner, &coins[..1], vec![pay(&f.owner, coins[0].1.amount)]);
    let double_spend = template(&f, vec![first, second]).mine().unwrap();
    // Proof of work not met: a nonce whose hash misses the (easy) test target.
    let weak = {
        let template = template(&f, vec![]);
        let target = template.block.header.bits.to_target().unwrap();
        let nonce = (0..).find(|n| !target.is_met_by(&template.with_nonce(*n).block_hash())).unwrap();
        template.with_nonce(nonce)
    };
    // A lying height: the coinbase claims another height than the block's.
    let lying = {
        let mut template = template(&f, vec![]);
        if let TxInputs::Coinbase(coinbase) = &mut template.block.txs[0].inputs {
            coinbase.height += 5;
        }
        template.recommit();
        template.mine().unwrap()
    };
    // Five payments, their order changed after the Merkle root was computed (the seed's tree
    // broke on five or more transactions; here the root must match exactly).
    let payments: Vec<Transaction> = coins[1..6]
        .iter()
        .map(|coin| signed(&f.owner, std::slice::from_ref(coin), vec![pay(&other, coin.1.amount)]))
        .collect();
    let five = template(&f, payments);
    let reordered = {
        let mut block = five.clone().mine().unwrap();
        block.txs.swap(1, 5);
        block
    };

    // Inside blocks that would be the new tip, so their signatures go to the relay's checks on
    // every core (ring, then core for a refusal): outputs altered after signing, and a coin
    // spent under the thief's own (valid) signature.
    let altered = {
        let mut tx = signed(&f.owner, &coins[1..2], vec![pay(&f.owner, coins[1].1.amount)]);
        tx.outputs[0].pubkey_hash = hash_of(&other);
        template(&f, vec![tx]).mine().unwrap()
    };
    let theft = template(&f, vec![signed(&other, &coins[1..2], vec![pay(&other, coins[1].1.amount)])]).mine().unwrap();

    for (what, block) in [
        ("outputs altered after signing, in a block", altered),
        ("someone else's coin spent, in a block", theft),
        ("a double spend inside one block", double_spend),
        ("proof of work not met", weak),
        ("a lying coinbase height", lying),
        ("five transactions under a Merkle root of another order", reordered),
    ] {
        let mut socket = handshake(&f).await;
        send(&mut socket, &Message::Block(block.clone())).await;
        cut_off(&mut socket, what).await;
        assert_eq!(tip_height(&f), height, "{what}: the relay's tip moved");
        let (status, _) = f.relay.api(&format!("/api/block/{}", block.block_hash()));
        assert_ne!(status, 200, "{what}: the block is served");
    }
    let log = read_log(f.dir.path());
    assert!(log.contains("invalid block"), "the reasons are logged");

    // A wrong link: a valid block on a parent nobody has is not connected.
    let mut socket = handshake(&f).await;
    let orphan = {
        let mut template = template(&f, vec![]);
        template.block.header.prev_blockhash = BlockHash([9; 32]);
        template.mine().unwrap()
    };
    send(&mut socket, &Message::Block(orphan.clone())).await;
    answers(&mut socket, 500).await;
    assert_eq!(tip_height(&f), height, "a wrong link: the relay's tip moved");
    assert_ne!(f.relay.api(&format!("/api/block/{}", orphan.block_hash())).0, 200);

    // The same five payments, committed as they are: taken, the seed's Merkle flaw is not ours.
    // The reordered copy above had this very header: a tampered body does not make the honest
    // block with the same hash unwanted.
    let block = five.mine().unwrap();
    send(&mut socket, &Message::Block(block.clone())).await;
    wait_until(10, "the valid six-transaction block", || async { tip_height(&f) == height + 1 }).await;
    assert_eq!(f.relay.api("/api/tip").1["hash"].as_str(), Some(block.block_hash().to_string().as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_cut_the_sender_off_and_unknown_items_get_notfound() {
    let f = fixture("attack-frames");
    // getdata for items the relay does not have: answered with notfound, connection kept.
    let mut socket = handshake(&f).await;
    let unknown = vec![Inventory::Tx(Txid([1; 32])), Inventory::Block(BlockHash([2; 32]))];
    send(&mut socket, &Message::GetData(unknown.clone())).await;
    let (received, closed) = answers(&mut socket, 2_000).await;
    assert!(!closed);
    assert!(received.contains(&Message::NotFound(unknown)), "{received:?}");

    let block = template(&f, vec![]).mine().unwrap();
    let frame = Message::Block(block).to_frame(magic());
    let mut wrong_magic = frame.clone();
    wrong_magic[0] ^= 0xff;
    let mut bad_checksum = frame.clone();
    bad_checksum[30] ^= 1;
    for (what, bytes) in [
        ("a truncated block", frame[..frame.len() / 2].to_vec()),
        ("a frame of another network", wrong_magic),
        ("a payload that fails its checksum", bad_checksum),
        ("an envelope and nothing else", frame[..10].to_vec()),
    ] {
        let mut socket = handshake(&f).await;
        socket.send(tungstenite::Message::Binary(bytes.into())).await.unwrap();
        cut_off(&mut socket, what).await;
    }
    assert_eq!(tip_height(&f), u64::from(BLOCKS), "nothing was connected");
}
