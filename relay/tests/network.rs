//! The relay's network face: hostile input over WebSockets, the static files, and federation.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tabcoin_core::protocol::{Message, Role};
use tabcoin_core::template::{TemplateSpec, build_template};
use tabcoin_core::{Amount, BlockHash, ChainParams, ChainState};
use tokio_tungstenite::tungstenite;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(relay: &Relay) -> Socket {
    tokio_tungstenite::connect_async(relay.ws_url()).await.expect("the relay accepts WebSockets").0
}

/// Waits for the relay to close `socket`; returns the protocol messages it sent before.
async fn closed_by_relay(socket: &mut Socket) -> Vec<Message> {
    let magic = ChainParams::test().magic;
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => panic!("the relay did not close the connection; it sent {received:?}"),
            Ok(None | Some(Err(_)) | Some(Ok(tungstenite::Message::Close(_)))) => return received,
            Ok(Some(Ok(tungstenite::Message::Binary(bytes)))) => {
                received.extend(Message::from_frame(&bytes, magic).ok());
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Connects and completes the handshake as a wallet on the relay's chain.
async fn handshake(relay: &Relay) -> Socket {
    let magic = ChainParams::test().magic;
    let genesis: BlockHash = relay.api("/api/network").1["genesis"].as_str().unwrap().parse().unwrap();
    let mut socket = connect(relay).await;
    let version = wallet_version(genesis, 42, "attacker");
    socket.send(tungstenite::Message::Binary(version.to_frame(magic).into())).await.unwrap();
    socket.send(tungstenite::Message::Binary(Message::Verack.to_frame(magic).into())).await.unwrap();
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_cuts_the_offender_off_and_the_relay_keeps_serving_the_others() {
    let relay_dir = TempDir::new("bad-input");
    let wallet_dir = TempDir::new("bad-input-wallet");
    let relay = Relay::start(relay_dir.path(), &[]);
    let honest = native_node(wallet_dir.path(), Role::Wallet, &relay.ws_url(), None);
    wait_until(30, "the honest node to join", || async { height(&honest).await == Some(0) }).await;

    // Garbage.
    let mut socket = connect(&relay).await;
    socket.send(tungstenite::Message::Binary(vec![0xde, 0xad, 0xbe, 0xef].into())).await.unwrap();
    closed_by_relay(&mut socket).await;
    // Text instead of a binary protocol message.
    let mut socket = connect(&relay).await;
    socket.send(tungstenite::Message::Text("version".into())).await.unwrap();
    closed_by_relay(&mut socket).await;
    // A frame larger than any protocol message: refused by the WebSocket layer.
    let mut socket = connect(&relay).await;
    let _ = socket.send(tungstenite::Message::Binary(vec![0u8; 4_100_000].into())).await;
    closed_by_relay(&mut socket).await;
    // A message before the handshake.
    let mut socket = connect(&relay).await;
    let ping = Message::Ping(1).to_frame(ChainParams::test().magic);
    socket.send(tungstenite::Message::Binary(ping.into())).await.unwrap();
    closed_by_relay(&mut socket).await;

    // An invalid block after a proper handshake: a coinbase claiming 1,000 coins.
    let mut socket = handshake(&relay).await;
    let relay_chain = relay_chain(&relay);
    let spec = TemplateSpec {
        parent: relay_chain.tip(),
        payee: tabcoin_core::PubKeyHash([7; 20]),
        now: tabcoin_relay::verbs::now_secs(),
        txs: vec![],
        fees: Amount::ZERO,
        message: vec![],
    };
    let mut template = build_template(&relay_chain, spec).unwrap();
    template.block.txs[0].outputs[0].amount = Amount::from_coins(1_000).unwrap();
    template.recommit();
    let greedy = template.mine().unwrap();
    let frame = Message::Block(greedy).to_frame(ChainParams::test().magic);
    socket.send(tungstenite::Message::Binary(frame.into())).await.unwrap();
    let answered = closed_by_relay(&mut socket).await;
    assert!(matches!(answered.first(), Some(Message::Version(_))), "the handshake happened first: {answered:?}");
    assert!(read_log(relay_dir.path()).contains("invalid block"), "the reason is logged");
    assert_eq!(relay.api("/api/tip").1["height"], 0, "the block was refused");

    // The honest node is still connected and still gets new blocks.
    let (ok, listed, _) = relay.cli(&["listaddresses"]);
    assert!(ok);
    let (ok, _, err) = relay.cli(&["send", "--from", &listed, "--to", &listed, "--amount", "1", "--mine"]);
    assert!(ok, "{err}");
    wait_until(30, "the honest node to get the new block", || async { height(&honest).await == Some(1) }).await;
    honest.stop().await.unwrap();
}

/// The relay's chain, read from a copy of its store (the relay holds the store open, so this
/// asks the API for the genesis and rebuilds nothing: it uses the genesis block it serves).
fn relay_chain(relay: &Relay) -> ChainState {
    let genesis = relay.api("/api/network").1["genesis"].as_str().unwrap().to_string();
    let block = relay.api(&format!("/api/block/{genesis}")).1;
    assert_eq!(block["height"], 0);
    // The relay prints its genesis payee on first start; rebuild the same genesis block.
    let payee = relay.genesis_payee.clone().unwrap();
    let params = ChainParams::test();
    let address = tabcoin_relay::verbs::parse_address(&payee, &params).unwrap();
    let time = block["time"].as_u64().unwrap() as u32;
    let genesis_block = tabcoin_core::template::create_genesis(&params, &address, time).unwrap();
    assert_eq!(genesis_block.block_hash().to_string(), genesis);
    ChainState::new(params, genesis_block).unwrap().0
}

#[test]
fn static_files_are_served_with_their_types_and_never_from_outside_www() {
    let root = TempDir::new("www-root");
    let www = root.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "<!doctype html><title>tabcoin</title>").unwrap();
    std::fs::write(www.join("app.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(www.join("app.wasm.gz"), b"the gzip copy").unwrap();
    std::fs::write(www.join("app.js"), "export {};").unwrap();
    std::fs::write(root.path().join("secret.txt"), "do not serve").unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let relay = Relay::start(&data, &["--www", www.to_str().unwrap()]);

    let (status, head, body) = http_get_with_head(relay.port(), "/?node=3001", "");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("<title>tabcoin</title>"));
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("content-security-policy: default-src 'self'"), "{head}");
    let (status, head, _) = http_get_with_head(relay.port(), "/app.wasm", "");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/wasm"), "{head}");
    let (_, head, _) = http_get_with_head(relay.port(), "/app.js", "");
    assert!(head.contains("content-type: text/javascript"), "{head}");
    // The build's gzip copy goes to browsers that accept gzip, with the original's type.
    let (status, head, body) = http_get_with_head(relay.port(), "/app.wasm", "Accept-Encoding: gzip, br\r\n");
    assert_eq!(status, 200);
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("content-type: application/wasm"), "{head}");
    assert_eq!(body, b"the gzip copy");
    let (_, head, body) = http_get_with_head(relay.port(), "/app.wasm", "");
    assert!(!head.contains("content-encoding"), "{head}");
    assert_eq!(body, b"\0asm\x01\0\0\0");
    let (_, head, _) = http_get_with_head(relay.port(), "/app.js", "Accept-Encoding: gzip\r\n");
    assert!(!head.contains("content-encoding"), "no copy, so the original: {head}");
    for path in
        ["/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt", "/www/../../secret.txt"]
    {
        let (status, _, body) = http_get_with_head(relay.port(), path, "");
        assert!(!String::from_utf8_lossy(&body).contains("do not serve"), "{path} escaped www");
        assert!(status == 404 || status == 400, "{path}: {status}");
    }
    let (status, json) = relay.api("/api/block/not-a-hash");
    assert_eq!(status, 400, "{json}");
    let (status, _) = relay.api(&format!("/api/block/{}", "00".repeat(32)));
    assert_eq!(status, 404);
}

/// `headers`: extra request header lines, each ending in CRLF.
fn http_get_with_head(port: u16, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head, response[split + 4..].to_vec())
}

/// Three relays in a line (A <- B <- C), a wallet on C and a miner on A: a payment from C's
/// wallet crosses to A's miner, and the block comes back; every relay ends on the same tip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_federated_relays_converge() {
    let dirs: Vec<TempDir> = ["fed-a", "fed-b", "fed-c", "fed-wallet", "fed-miner"].map(TempDir::new).into();
    // On one machine every relay is on loopback: gossip of private hosts allowed, as an
    // operator of a LAN of relays would.
    let a = Relay::start(dirs[0].path(), &["--allow-private-addresses"]);
    let a_url = a.ws_url();
    let b = Relay::start(dirs[1].path(), &["--peer", &a_url, "--allow-private-addresses"]);
    let b_url = b.ws_url();
    let c = Relay::start(dirs[2].path(), &["--peer", &b_url, "--allow-private-addresses"]);
    let central = a.genesis_payee.clone().unwrap();

    let wallet = native_node(dirs[3].path(), Role::Wallet, &c.ws_url(), None);
    wait_until(30, "the wallet on C to get A's chain", || async { height(&wallet).await == Some(0) }).await;
    let w1 = new_address(&wallet).await;
    let (ok, _, err) = a.cli(&["send", "--from", &central, "--to", &w1, "--amount", "5", "--mine"]);
    assert!(ok, "{err}");
    wait_until(30, "the payment to reach the wallet on C", || async { balance(&wallet, &w1).await == "5" }).await;

    let (ok, out, err) = cli(dirs[4].path(), &["createwallet"]);
    assert!(ok, "{err}");
    let miner_address = out.rsplit(' ').next().unwrap().to_string();
    let policy = tabcoin_core::node::MiningPolicy::WhenMempoolHolds(1);
    let miner = native_node(dirs[4].path(), Role::Miner, &a_url, Some((miner_address.clone(), policy)));
    wait_until(30, "the miner on A to sync", || async { height(&miner).await == Some(1) }).await;
    let sent = wallet
        .verb(tabcoin_relay::verbs::Verb::Send {
            from: w1.clone(),
            to: central.clone(),
            amount: "2".into(),
            fee: "0".into(),
            mine: false,
        })
        .await;
    assert!(sent.is_ok(), "{sent:?}");
    wait_until(30, "the miner's block to reach every relay and the wallet", || async {
        let tips: Vec<_> = [&a, &b, &c].iter().map(|r| r.api("/api/tip").1).collect();
        tips.iter().all(|t| t["height"] == 2 && t["hash"] == tips[0]["hash"]) && height(&wallet).await == Some(2)
    })
    .await;
    assert_eq!(balance(&wallet, &w1).await, "3");
    assert_eq!(balance(&wallet, &miner_address).await, "10");
    for relay in [&a, &b, &c] {
        let (_, json) = relay.api(&format!("/api/address/{central}"));
        // Genesis 10, less 5 to W1, plus its own block's coinbase 10, plus 2 from W1.
        assert_eq!(json["confirmed"], "17");
    }
    // B dialled A, so it tells C about A: relay addresses spread by gossip.
    let (_, peers) = c.api("/api/peers");
    let known: Vec<&str> = peers["known_relays"].as_array().unwrap().iter().filter_map(|a| a["url"].as_str()).collect();
    assert!(known.contains(&a_url.as_str()), "C learnt of A through B: {known:?}");
    let (_, peers) = b.api("/api/peers");
    assert_eq!(peers["peers"].as_array().map(Vec::len), Some(2), "B is peered with A and C: {peers}");
    wallet.stop().await.unwrap();
    miner.stop().await.unwrap();
}

/// A peer that asks for a lot and never reads: its queue fills and the relay drops it, instead
/// of buffering without bound, and goes on serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_read_is_dropped() {
    let dir = TempDir::new("slow-peer");
    let chain = write_chain(dir.path(), 2_000, &mut tabcoin_core::wallet::KeySet::new());
    let relay = Relay::start(dir.path(), &[]);
    let mut socket = handshake(&relay).await;
    let magic = ChainParams::test().magic;
    let all: Vec<tabcoin_core::protocol::Inventory> =
        (1..=2_000).filter_map(|h| chain.hash_at(h)).map(tabcoin_core::protocol::Inventory::Block).collect();
    // 60 requests for 2,000 blocks each: 120,000 blocks, about 30 MB, never read.
    for _ in 0..60 {
        let frame = Message::GetData(all.clone()).to_frame(magic);
        if socket.send(tungstenite::Message::Binary(frame.into())).await.is_err() {
            break;
        }
    }
    wait_until(30, "the relay to drop the peer that does not read", || async {
        relay.api("/api/peers").1["counters"]["peers_dropped_slow"] == 1
    })
    .await;
    assert!(read_log(dir.path()).contains("reads too slowly"));
    let (status, tip) = relay.api("/api/tip");
    assert_eq!((status, tip["height"].as_u64()), (200, Some(2_000)), "still serving");
}

/// With a certificate the relay serves https and wss on the same port (for a LAN, where
/// browsers need a secure context).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_serves_wss_with_a_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = TempDir::new("tls");
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (cert_arg, key_arg) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let relay = Relay::start(&data, &["--tls-cert", cert_arg, "--tls-key", key_arg]);
    assert!(relay.url.starts_with("https://127.0.0.1:"), "{}", relay.url);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let connector = tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(config));
    let (mut socket, _) =
        tokio_tungstenite::connect_async_tls_with_config(relay.ws_url(), None, true, Some(connector)).await.unwrap();
    socket.send(tungstenite::Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    closed_by_relay(&mut socket).await;

    // Plain http on the TLS port gets no page.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", relay.port())).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    use std::io::{Read, Write};
    plain.write_all(b"GET /api/network HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("\"network\""));

    let (ok, _, err) = cli(&data, &["startnode", "--tls-cert", cert_arg]);
    assert!(!ok && err.contains("--tls-key"), "{err}");
}
