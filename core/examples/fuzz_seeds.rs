//! Writes the seed corpora of the fuzz targets: `cargo run -p tabcoin-core --example fuzz_seeds`.
//! The files are committed under `fuzz/corpus/`; the stable tests replay them.

use std::fs;
use std::path::Path;

use tabcoin_core::protocol::{
    GetHeaders, Inventory, Message, PROTOCOL_VERSION, PeerAddress, Reject, RejectCode, Role, Version,
};
use tabcoin_core::store::IndexRecord;
use tabcoin_core::template::{TemplateSpec, build_template, create_genesis};
use tabcoin_core::utxo::{BlockUndo, Coin};
use tabcoin_core::wallet::{KeySet, PaymentRequest, build_payment};
use tabcoin_core::wallet_file::WalletFile;
use tabcoin_core::{Address, Amount, BlockHash, ChainParams, ChainState, Encoding, SecretKey};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    fs::create_dir_all(&dir).expect("create the corpus folder");
    fs::write(dir.join(name), bytes).expect("write a corpus file");
}

fn main() {
    let params = ChainParams::test();
    let alice = SecretKey::from_entropy([1; 32]);
    let bob = SecretKey::from_entropy([2; 32]);
    let mut keys = KeySet::new();
    let from = keys.insert(alice.clone(), &params).unwrap();
    let to = keys.insert(bob, &params).unwrap();

    let genesis = create_genesis(&params, &from, 1_700_000_000).expect("genesis");
    let (chain, _) = ChainState::new(params.clone(), genesis.clone()).expect("chain");
    let coins = chain.utxos().coins_of(&from.pubkey_hash);
    let spendable: Vec<_> = coins.iter().map(|(op, c)| (*op, c.output)).collect();
    let request = PaymentRequest { from, to, amount: Amount::from_coins(3).expect("amount"), fee: Amount::ZERO };
    let payment = build_payment(&keys, &params, &spendable, &request).expect("payment");
    let spec = TemplateSpec {
        parent: chain.tip(),
        payee: to.pubkey_hash,
        now: 1_700_000_010,
        txs: vec![payment.clone()],
        fees: Amount::ZERO,
        message: b"seed".to_vec(),
    };
    let block = build_template(&chain, spec).expect("template").mine().expect("mined");

    write("transaction", "payment", &payment.to_bytes());
    write("transaction", "coinbase", &genesis.txs[0].to_bytes());
    write("block", "genesis", &genesis.to_bytes());
    write("block", "with_payment", &block.to_bytes());
    let jobs = tabcoin_core::sigcheck::SignatureBatch::for_blocks(&chain, std::slice::from_ref(&block)).jobs;
    let mut two_runs = jobs.clone();
    two_runs.extend(jobs.iter().cloned().map(|mut job| {
        job.message = tabcoin_core::sigcheck::SignedMessage::new(job.message.prefix()[..20].into(), 1);
        job
    }));
    write("signature_jobs", "one_payment", &tabcoin_core::sigcheck::encode_jobs(&jobs));
    write("signature_jobs", "two_runs", &tabcoin_core::sigcheck::encode_jobs(&two_runs));
    write("header", "genesis", &genesis.header.to_bytes());
    write("header", "block1", &block.header.to_bytes());

    let coin = Coin { output: payment.outputs[0], height: 1, is_coinbase: false };
    let undo = BlockUndo { spent: vec![coin, Coin { is_coinbase: true, ..coin }] };
    let record = IndexRecord { header: block.header, height: 1, has_data: true, invalid: false };
    for (tag, name, bytes) in [
        (0u8, "coin", coin.to_bytes()),
        (1, "undo", undo.to_bytes()),
        (2, "index_record", record.to_bytes()),
        (3, "keyset", keys.to_bytes()),
    ] {
        let mut data = vec![tag];
        data.extend(bytes);
        write("store_record", name, &data);
    }

    let magic = params.magic;
    let messages = [
        (
            "version",
            Message::Version(Version {
                protocol_version: PROTOCOL_VERSION,
                role: Role::Wallet,
                genesis: genesis.block_hash(),
                best_height: 1,
                best_work: chain.tip_work(),
                time: 1_700_000_000,
                nonce: 42,
                user_agent: "tabcoin/0.1".into(),
            }),
        ),
        ("verack", Message::Verack),
        ("ping", Message::Ping(7)),
        ("addr", Message::Addr(vec![PeerAddress { url: "ws://127.0.0.1:3000/ws".into(), last_seen: 1_700_000_000 }])),
        ("inv", Message::Inv(vec![Inventory::Block(block.block_hash()), Inventory::Tx(payment.txid())])),
        ("getdata", Message::GetData(vec![Inventory::Tx(payment.txid())])),
        ("getheaders", Message::GetHeaders(GetHeaders { locator: vec![genesis.block_hash()], stop: BlockHash::ZERO })),
        ("headers", Message::Headers(vec![genesis.header, block.header])),
        ("block", Message::Block(block.clone())),
        ("tx", Message::Tx(payment.clone())),
        ("mempool", Message::Mempool),
        (
            "reject",
            Message::Reject(Reject {
                item: Inventory::Tx(payment.txid()),
                code: RejectCode::Invalid,
                reason: "bad signature".into(),
            }),
        ),
    ];
    for (name, message) in &messages {
        write("message", name, &message.to_frame(magic));
    }

    // Node sessions (fuzz_checks::node_session): a peer connects, shakes hands, and sends
    // what a peer sends; with and without signatures checked as jobs.
    assert_eq!(tabcoin_core::fuzz_checks::session_genesis(&params).map(|g| g.block_hash()), Some(genesis.block_hash()));
    let frame =
        |name: &str| messages.iter().find(|(n, _)| *n == name).map(|(_, m)| m.to_frame(magic)).expect("a seed message");
    let step = |op: u8, body: &[u8]| {
        let mut bytes = vec![op];
        bytes.extend((body.len() as u16).to_be_bytes());
        bytes.extend(body);
        bytes
    };
    let session = |mode: u8, names: &[&str]| {
        let mut bytes = vec![mode];
        bytes.extend(step(0, &[]));
        for name in names {
            bytes.extend(step(1, &frame(name)));
        }
        bytes.extend(step(2, &[30]));
        bytes.extend(step(3, &[]));
        bytes
    };
    write("node_session", "block", &session(0, &["version", "verack", "headers", "block", "tx"]));
    write("node_session", "block_as_jobs", &session(1, &["version", "verack", "inv", "block"]));
    write(
        "node_session",
        "requests",
        &session(0, &["version", "verack", "getheaders", "getdata", "mempool", "ping", "addr"]),
    );
    write("node_session", "before_handshake", &session(1, &["block", "version", "version", "reject"]));

    write("user_text", "address", from.to_string().as_bytes());
    write("user_text", "main_address", Address::new(0x41, to.pubkey_hash).to_string().as_bytes());
    write("user_text", "amount", b"9.5");
    write("user_text", "tiny_amount", b"0.00000001");

    let mut keys = KeySet::new();
    keys.insert(SecretKey::from_entropy([42; 32]), &params).expect("room for a key");
    write("wallet_file", "plain", &WalletFile::Plain(keys.to_bytes()).to_bytes());
    // Sealed by the relay (relay/src/wallet_file.rs, the vector shared with the tab).
    let sealed = tabcoin_core::hash::from_hex_vec(
        "544142434f494e570101e80300001111111111111111111111111111111122222222222222222222222203c7f161fbbb7742ba9550c40d8e537a37daa29c6ee185fe9194811f1a6695cc88da06f9598829f14e11bc1bfc1543a04309",
    )
    .expect("hex");
    write("wallet_file", "sealed", &sealed);
}
