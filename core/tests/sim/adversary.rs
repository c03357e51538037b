//! A peer that lies, floods or sends garbage is cut off with the right reason, and the node
//! goes on serving honest peers.

use tabcoin_core::difficulty::DifficultyRule;
use tabcoin_core::node::{Direction, DisconnectReason, Node, Output, PeerId};
use tabcoin_core::protocol::{
    GetHeaders, Inventory, Message, PROTOCOL_VERSION, PeerAddress, ProtocolError, RejectCode, Role, Version,
};
use tabcoin_core::template::{TemplateSpec, build_template, create_genesis};
use tabcoin_core::tx::{InputError, TxIn, TxInputs};
use tabcoin_core::validation::TxError;
use tabcoin_core::wallet::{KeySet, PaymentRequest, build_payment};
use tabcoin_core::{Address, Amount, BlockError, BlockHash, BlockHeader, ChainParams, ChainState, Work};

use crate::harness::config;

const NOW: u64 = 1_700_000_100_000;
const OUR_NONCE: u64 = 77;

struct Fixture {
    node: Node,
    keys: KeySet,
    owner: Address,
    magic: [u8; 4],
}

fn fixture() -> Fixture {
    fixture_on(ChainParams::test())
}

fn fixture_on(params: ChainParams) -> Fixture {
    let mut keys = KeySet::new();
    let owner = keys.generate([3; 32], &params).unwrap();
    let genesis = create_genesis(&params, &owner, 1_700_000_000).unwrap();
    let (chain, _) = ChainState::new(params.clone(), genesis).unwrap();
    let mut cfg = config(Role::Relay, OUR_NONCE);
    cfg.params = params.clone();
    // As a relay runs by default: gossip of private hosts refused.
    cfg.allow_private_addresses = false;
    Fixture { node: Node::new(cfg, Some(chain)), keys, owner, magic: params.magic }
}

fn version(genesis: BlockHash, nonce: u64) -> Message {
    Message::Version(Version {
        protocol_version: PROTOCOL_VERSION,
        role: Role::Wallet,
        genesis,
        best_height: 0,
        best_work: Work::ZERO,
        time: NOW / 1000,
        nonce,
        user_agent: "test".into(),
    })
}

/// Connects `peer` inbound and completes its handshake.
fn handshake(f: &mut Fixture, peer: PeerId) {
    f.node.peer_connected(peer, Direction::Inbound, format!("test://{peer}"), NOW);
    let genesis = f.node.chain().unwrap().genesis_hash();
    let frame = version(genesis, 1000 + peer).to_frame(f.magic);
    f.node.received(peer, &frame, NOW);
    f.node.received(peer, &Message::Verack.to_frame(f.magic), NOW);
    drain(f);
}

fn drain(f: &mut Fixture) -> Vec<Output> {
    std::iter::from_fn(|| f.node.poll_output()).collect()
}

fn disconnect_reason(outputs: &[Output], peer: PeerId) -> Option<DisconnectReason> {
    outputs.iter().find_map(|o| match o {
        Output::Disconnect { peer: p, reason } if *p == peer => Some(reason.clone()),
        _ => None,
    })
}

fn sent_to(f: &Fixture, outputs: &[Output], peer: PeerId) -> Vec<Message> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { peer: p, frame } if *p == peer => Message::from_frame(frame, f.magic).ok(),
            _ => None,
        })
        .collect()
}

#[test]
fn garbage_wrong_magic_and_oversize_frames_are_malformed() {
    let mut f = fixture();
    handshake(&mut f, 1);
    f.node.received(1, &[0xde, 0xad, 0xbe, 0xef], NOW);
    let out = drain(&mut f);
    assert_eq!(disconnect_reason(&out, 1), Some(DisconnectReason::Malformed(ProtocolError::Truncated { bytes: 4 })));

    handshake(&mut f, 2);
    let frame = Message::Ping(1).to_frame([1, 2, 3, 4]);
    f.node.received(2, &frame, NOW);
    assert!(matches!(
        disconnect_reason(&drain(&mut f), 2),
        Some(DisconnectReason::Malformed(ProtocolError::WrongMagic { .. }))
    ));

    handshake(&mut f, 3);
    let mut frame = Message::Ping(1).to_frame(f.magic);
    frame[16..20].copy_from_slice(&5_000_000u32.to_le_bytes());
    f.node.received(3, &frame, NOW);
    assert!(matches!(
        disconnect_reason(&drain(&mut f), 3),
        Some(DisconnectReason::Malformed(ProtocolError::PayloadTooLarge { .. }))
    ));
}

#[test]
fn messages_before_the_handshake_and_a_second_version_are_refused() {
    let mut f = fixture();
    f.node.peer_connected(1, Direction::Inbound, "test://1".into(), NOW);
    f.node.received(1, &Message::Ping(5).to_frame(f.magic), NOW);
    assert!(matches!(disconnect_reason(&drain(&mut f), 1), Some(DisconnectReason::Misbehaving(_))));

    handshake(&mut f, 2);
    let genesis = f.node.chain().unwrap().genesis_hash();
    let again = version(genesis, 5).to_frame(f.magic);
    f.node.received(2, &again, NOW);
    assert!(matches!(disconnect_reason(&drain(&mut f), 2), Some(DisconnectReason::Misbehaving(_))));
}

#[test]
fn self_connections_and_other_chains_are_refused() {
    let mut f = fixture();
    f.node.peer_connected(1, Direction::Inbound, "test://1".into(), NOW);
    let genesis = f.node.chain().unwrap().genesis_hash();
    let own = version(genesis, OUR_NONCE).to_frame(f.magic);
    f.node.received(1, &own, NOW);
    assert_eq!(disconnect_reason(&drain(&mut f), 1), Some(DisconnectReason::SelfConnection));

    f.node.peer_connected(2, Direction::Inbound, "test://2".into(), NOW);
    let other = version(BlockHash([9; 32]), 5).to_frame(f.magic);
    f.node.received(2, &other, NOW);
    let out = drain(&mut f);
    assert_eq!(
        disconnect_reason(&out, 2),
        Some(DisconnectReason::WrongChain { ours: genesis, theirs: BlockHash([9; 32]) })
    );
    // It is told our genesis first, so that it can tell its user why.
    assert!(matches!(sent_to(&f, &out, 2).as_slice(), [Message::Version(v)] if v.genesis == genesis));
}

#[test]
fn an_invalid_block_cuts_the_sender_off_and_honest_peers_are_still_served() {
    let mut f = fixture();
    handshake(&mut f, 1);
    handshake(&mut f, 2);
    let chain = f.node.chain().unwrap();
    let spec = TemplateSpec {
        parent: chain.tip(),
        payee: f.owner.pubkey_hash,
        now: NOW / 1000,
        txs: vec![],
        fees: Amount::ZERO,
        message: vec![],
    };
    let mut block = build_template(chain, spec).unwrap().mine().unwrap();
    block.txs[0].outputs[0].amount = Amount::from_coins(1_000).unwrap();
    let mut template = tabcoin_core::template::BlockTemplate { block, height: 1, fees: Amount::ZERO };
    template.recommit();
    let greedy = template.mine().unwrap();
    f.node.received(1, &Message::Block(greedy).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    assert!(matches!(
        disconnect_reason(&out, 1),
        Some(DisconnectReason::InvalidBlock(BlockError::CoinbaseTooLarge { .. }))
    ));
    assert_eq!(f.node.chain().unwrap().height(), 0);

    // Peer 2 still gets answers.
    let ask = Message::GetHeaders(GetHeaders { locator: vec![], stop: BlockHash::ZERO }).to_frame(f.magic);
    f.node.received(2, &ask, NOW);
    let out = drain(&mut f);
    assert!(disconnect_reason(&out, 2).is_none());
    assert!(matches!(sent_to(&f, &out, 2).as_slice(), [Message::Headers(h)] if h.len() == 1));
}

/// A transaction that can never be valid (here a signature that does not sign it) gets a
/// `reject` with the reason, and its sender is cut off.
#[test]
fn an_invalid_transaction_gets_a_reject_and_its_sender_is_cut_off() {
    let mut f = fixture();
    handshake(&mut f, 1);
    let chain = f.node.chain().unwrap();
    let coins = f.node.mempool().spendable_coins(chain, &f.owner.pubkey_hash);
    let request =
        PaymentRequest { from: f.owner, to: f.owner, amount: Amount::from_coins(1).unwrap(), fee: Amount::ZERO };
    let mut tx = build_payment(&f.keys, f.node.params(), &coins, &request).unwrap();
    // Same total, different split: only the signature can tell.
    tx.outputs[0].amount = Amount::from_coins(2).unwrap();
    tx.outputs[1].amount = Amount::from_coins(8).unwrap();
    let txid = tx.txid();
    f.node.received(1, &Message::Tx(tx).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    assert!(matches!(
        disconnect_reason(&out, 1),
        Some(DisconnectReason::InvalidTransaction(TxError::Input(InputError::BadSignature { .. })))
    ));
    match sent_to(&f, &out, 1).as_slice() {
        [Message::Reject(reject)] => {
            assert_eq!(reject.item, Inventory::Tx(txid));
            assert_eq!(reject.code, RejectCode::Invalid);
            assert!(reject.reason.contains("signature"), "{}", reject.reason);
        }
        other => panic!("expected one reject, got {other:?}"),
    }
    assert!(f.node.mempool().is_empty());
}

#[test]
fn getdata_for_unknown_items_is_answered_with_notfound() {
    let mut f = fixture();
    handshake(&mut f, 1);
    let items = vec![Inventory::Block(BlockHash([5; 32])), Inventory::Tx(tabcoin_core::Txid([6; 32]))];
    f.node.received(1, &Message::GetData(items.clone()).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    assert_eq!(sent_to(&f, &out, 1), vec![Message::NotFound(items)]);
}

#[test]
fn a_silent_peer_times_out_and_a_live_one_is_pinged() {
    let mut f = fixture();
    f.node.peer_connected(1, Direction::Inbound, "test://1".into(), NOW);
    handshake(&mut f, 2);
    f.node.tick(NOW + 61_000);
    let out = drain(&mut f);
    assert_eq!(disconnect_reason(&out, 1), Some(DisconnectReason::HandshakeTimeout));
    assert!(matches!(sent_to(&f, &out, 2).as_slice(), [Message::Ping(_)]));
    // No pong for five minutes: cut off (generous, for hidden browser tabs).
    f.node.tick(NOW + 61_000 + 4 * 60_000);
    assert!(disconnect_reason(&drain(&mut f), 2).is_none());
    f.node.tick(NOW + 61_000 + 5 * 60_000 + 1);
    assert_eq!(disconnect_reason(&drain(&mut f), 2), Some(DisconnectReason::PingTimeout));
}

/// A node that hands its signature checks to the shell, after a handshake with peer 1; its
/// chain; and a payment of its owner's, signed.
fn shell_checking_node() -> (Fixture, ChainState, tabcoin_core::Transaction) {
    let params = ChainParams::test();
    let mut keys = KeySet::new();
    let owner = keys.generate([3; 32], &params).unwrap();
    let genesis = create_genesis(&params, &owner, 1_700_000_000).unwrap();
    let (chain, _) = ChainState::new(params.clone(), genesis).unwrap();
    let cfg = tabcoin_core::node::NodeConfig { parallel_signatures: true, ..config(Role::Wallet, OUR_NONCE) };
    let mut f = Fixture { node: Node::new(cfg, Some(chain.clone())), keys, owner, magic: params.magic };
    handshake(&mut f, 1);

    let coins = f.node.mempool().spendable_coins(&chain, &owner.pubkey_hash);
    let request = PaymentRequest { from: owner, to: owner, amount: Amount::from_coins(1).unwrap(), fee: Amount::ZERO };
    let tx = build_payment(&f.keys, &params, &coins, &request).unwrap();
    (f, chain, tx)
}

/// A block on `chain`'s tip paying `f`'s owner, carrying `txs`.
fn mined_on(chain: &ChainState, f: &Fixture, txs: Vec<tabcoin_core::Transaction>) -> tabcoin_core::Block {
    mined_at(chain, f, txs, NOW / 1000)
}

/// As [`mined_on`], with the block's time.
fn mined_at(chain: &ChainState, f: &Fixture, txs: Vec<tabcoin_core::Transaction>, time: u64) -> tabcoin_core::Block {
    let spec = TemplateSpec {
        parent: chain.tip(),
        payee: f.owner.pubkey_hash,
        now: time,
        txs,
        fees: Amount::ZERO,
        message: vec![],
    };
    build_template(chain, spec).unwrap().mine().unwrap()
}

/// Blocks on `chain`'s tip, each carrying its transactions, whatever their signatures;
/// `chain` ends on the last.
fn branch_on(
    chain: &mut ChainState,
    f: &Fixture,
    txs: Vec<Vec<tabcoin_core::Transaction>>,
) -> Vec<tabcoin_core::Block> {
    let mut blocks = Vec::new();
    for (i, txs) in txs.into_iter().enumerate() {
        let block = mined_at(chain, f, txs, NOW / 1000 + 1 + i as u64);
        let jobs = tabcoin_core::sigcheck::SignatureBatch::for_blocks(chain, std::slice::from_ref(&block));
        let all_valid = vec![true; jobs.jobs.len()];
        let vouched = jobs.verified(&all_valid);
        chain.accept_block_verified(block.clone(), NOW / 1000 + 60, &vouched).unwrap();
        blocks.push(block);
    }
    blocks
}

/// Peer 1 announces `blocks`' headers, the node asks for their bodies, and peer 1 sends
/// them in the order of `order` (indexes into `blocks`); what the node did.
fn deliver(f: &mut Fixture, blocks: &[tabcoin_core::Block], order: &[usize]) -> Vec<Output> {
    let headers = blocks.iter().map(|b| b.header).collect();
    f.node.received(1, &Message::Headers(headers).to_frame(f.magic), NOW);
    let out = drain(f);
    let asked: Vec<Message> = sent_to(f, &out, 1).into_iter().filter(|m| matches!(m, Message::GetData(_))).collect();
    let wanted: Vec<Inventory> = blocks.iter().map(|b| Inventory::Block(b.block_hash())).collect();
    assert_eq!(asked, vec![Message::GetData(wanted)]);
    let mut out = Vec::new();
    for &i in order {
        f.node.received(1, &Message::Block(blocks[i].clone()).to_frame(f.magic), NOW);
        out.extend(drain(f));
    }
    out
}

/// With signature checks handed to the shell, a block with a forged signature is still
/// caught: the failed job's answer refuses it.
#[test]
fn a_forged_signature_is_caught_when_checks_run_in_the_shell() {
    let (mut f, chain, mut tx) = shell_checking_node();
    tx.outputs[0].amount = Amount::from_coins(2).unwrap();
    tx.outputs[1].amount = Amount::from_coins(8).unwrap();
    let block = mined_on(&chain, &f, vec![tx]);
    f.node.received(1, &Message::Block(block).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    let (id, jobs) = out
        .iter()
        .find_map(|o| match o {
            Output::Verify { id, jobs } => Some((*id, jobs.clone())),
            _ => None,
        })
        .expect("the checks are handed out");
    assert_eq!(f.node.chain().unwrap().height(), 0, "nothing connects before the results");
    let results: Vec<bool> = jobs.iter().map(|j| j.verify()).collect();
    assert_eq!(results, vec![false]);
    f.node.signatures_verified(id, &results, NOW);
    assert!(matches!(
        disconnect_reason(&drain(&mut f), 1),
        Some(DisconnectReason::InvalidBlock(BlockError::Tx { .. }))
    ));
    assert_eq!(f.node.chain().unwrap().height(), 0);
}

/// A body that does not match its header gets no signature checks handed out (they cost in
/// proportion to the body): it is refused at once, and its sender cut off.
#[test]
fn a_block_whose_body_fails_its_header_is_refused_before_its_checks_are_handed_out() {
    let (mut f, chain, tx) = shell_checking_node();
    let mut block = mined_on(&chain, &f, vec![tx.clone()]);
    // The header (and its proof of work) stays; the body carries the payment twice more.
    block.txs.extend([tx.clone(), tx]);
    f.node.received(1, &Message::Block(block).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    assert!(!out.iter().any(|o| matches!(o, Output::Verify { .. })), "no checks handed out: {out:?}");
    assert!(matches!(disconnect_reason(&out, 1), Some(DisconnectReason::InvalidBlock(BlockError::BadMerkleRoot))));
    assert_eq!(f.node.chain().unwrap().height(), 0);
}

/// Headers must carry the difficulty the chain requires, checked before any body is asked for.
#[test]
fn headers_with_the_wrong_difficulty_cut_the_sender_off() {
    let mut f = fixture();
    handshake(&mut f, 1);
    let chain = f.node.chain().unwrap();
    let spec = TemplateSpec {
        parent: chain.tip(),
        payee: f.owner.pubkey_hash,
        now: NOW / 1000,
        txs: vec![],
        fees: Amount::ZERO,
        message: vec![],
    };
    let mut template = build_template(chain, spec).unwrap();
    // Harder than the network's fixed target, so it has valid work but the wrong bits.
    template.block.header.bits = tabcoin_core::CompactTarget(0x2000ffff);
    let block = template.mine().unwrap();
    f.node.received(1, &Message::Headers(vec![block.header]).to_frame(f.magic), NOW);
    assert!(matches!(
        disconnect_reason(&drain(&mut f), 1),
        Some(DisconnectReason::InvalidBlock(BlockError::BadBits { .. }))
    ));
}

/// The test network with main's kind of difficulty rule: each block's bits follow its parent's
/// solve time, so a header's bits can only be checked with its parent and grandparent.
fn per_block_difficulty() -> ChainParams {
    let difficulty = DifficultyRule::Asert { half_life_secs: 50, max_solve_time_secs: 500 };
    ChainParams { difficulty, ..ChainParams::test() }
}

/// `n` blocks on the fixture's genesis, 1 s apart, as another node mined and accepted them;
/// `last` may change the last template's header (its bits or time) before it is mined.
fn their_headers(f: &Fixture, n: usize, last: impl Fn(&mut BlockHeader)) -> Vec<BlockHeader> {
    let mut theirs = f.node.chain().unwrap().clone();
    let mut headers = Vec::new();
    for i in 0..n {
        let now = 1_700_000_000 + i as u64 + 1;
        let spec = TemplateSpec {
            parent: theirs.tip(),
            payee: f.owner.pubkey_hash,
            now,
            txs: vec![],
            fees: Amount::ZERO,
            message: vec![],
        };
        let mut template = build_template(&theirs, spec).unwrap();
        if i + 1 == n {
            last(&mut template.block.header);
        }
        let block = template.mine().unwrap();
        headers.push(block.header);
        // The altered last one may be refused: only its header is sent.
        let _ = theirs.accept_block(block, now);
    }
    headers
}

/// Headers are checked against parents that are themselves only headers (pending, or earlier in
/// the same message): the bits their solve times require, and the median time past.
#[test]
fn headers_are_checked_in_the_context_of_pending_parents() {
    let mut f = fixture_on(per_block_difficulty());
    handshake(&mut f, 1);
    let good = their_headers(&f, 3, |_| {});
    assert_ne!(good[2].bits, good[1].bits, "1 s solve times on a 5 s spacing move the target");
    f.node.received(1, &Message::Headers(good.clone()).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    assert_eq!(disconnect_reason(&out, 1), None);
    let wanted: Vec<Inventory> = good.iter().map(|h| Inventory::Block(h.block_hash())).collect();
    assert!(sent_to(&f, &out, 1).contains(&Message::GetData(wanted)));

    // The third header with its parent's bits instead of the rule's.
    let mut f = fixture_on(per_block_difficulty());
    handshake(&mut f, 1);
    let lazy = their_headers(&f, 3, |h| h.bits = good[1].bits);
    f.node.received(1, &Message::Headers(lazy).to_frame(f.magic), NOW);
    assert_eq!(
        disconnect_reason(&drain(&mut f), 1),
        Some(DisconnectReason::InvalidBlock(BlockError::BadBits { expected: good[2].bits, found: good[1].bits }))
    );

    // The third header stamped at its median time past (of genesis, first and second: the
    // first's time).
    let mut f = fixture_on(per_block_difficulty());
    handshake(&mut f, 1);
    let median = good[0].time;
    let old = their_headers(&f, 3, |h| h.time = median);
    f.node.received(1, &Message::Headers(old).to_frame(f.magic), NOW);
    assert_eq!(
        disconnect_reason(&drain(&mut f), 1),
        Some(DisconnectReason::InvalidBlock(BlockError::TimeTooOld { time: median, median }))
    );
}

/// A peer still on main's first rules (its retired magic) is sent our `version` in its own
/// magic, so that it learns we follow another chain, and is cut off with the reason.
#[test]
fn a_peer_on_retired_rules_learns_why_before_it_is_cut_off() {
    let params = ChainParams::main();
    let retired = params.retired_magics[0];
    let mut f = fixture_on(params);
    f.node.peer_connected(1, Direction::Inbound, "test://1".into(), NOW);
    let genesis = BlockHash([7; 32]);
    f.node.received(1, &version(genesis, 1001).to_frame(retired), NOW);
    let out = drain(&mut f);
    let answered = out.iter().find_map(|o| match o {
        Output::Send { peer: 1, frame } => Message::from_frame(frame, retired).ok(),
        _ => None,
    });
    let ours = f.node.chain().unwrap().genesis_hash();
    assert!(matches!(&answered, Some(Message::Version(v)) if v.genesis == ours), "{answered:?}");
    assert_eq!(disconnect_reason(&out, 1), Some(DisconnectReason::RetiredRules { magic: retired }));

    // Any other magic is malformed, as before.
    f.node.peer_connected(2, Direction::Inbound, "test://2".into(), NOW);
    f.node.received(2, &version(genesis, 1002).to_frame([1, 2, 3, 4]), NOW);
    assert!(matches!(
        disconnect_reason(&drain(&mut f), 2),
        Some(DisconnectReason::Malformed(ProtocolError::WrongMagic { .. }))
    ));
}

/// A fresh node on main starts from main's fixed genesis and refuses a peer on another chain,
/// instead of adopting the first genesis it meets (as nodes of the seed and test networks do).
#[test]
fn a_fresh_main_node_refuses_other_chains_instead_of_adopting_one() {
    let params = ChainParams::main();
    let genesis = tabcoin_core::template::pinned_genesis(&params).unwrap();
    let (chain, _) = ChainState::new(params.clone(), genesis.clone()).unwrap();
    let mut cfg = config(Role::Wallet, OUR_NONCE);
    cfg.params = params.clone();
    let mut node = Node::new(cfg, Some(chain));
    node.peer_connected(1, Direction::Outbound, "ws://relay.example.org/ws".into(), NOW);
    let other = BlockHash([9; 32]);
    node.received(1, &version(other, 5).to_frame(params.magic), NOW);
    let out: Vec<Output> = std::iter::from_fn(|| node.poll_output()).collect();
    assert_eq!(
        disconnect_reason(&out, 1),
        Some(DisconnectReason::WrongChain { ours: genesis.block_hash(), theirs: other })
    );
    assert_eq!(node.chain().unwrap().genesis_hash(), genesis.block_hash());
}

/// A peer that was asked for blocks and delivers nothing for two minutes is dropped; one that
/// keeps delivering is not.
#[test]
fn a_peer_that_stops_delivering_requested_blocks_is_dropped() {
    let mut f = fixture();
    handshake(&mut f, 1);
    let chain = f.node.chain().unwrap().clone();
    let spec = TemplateSpec {
        parent: chain.tip(),
        payee: f.owner.pubkey_hash,
        now: NOW / 1000,
        txs: vec![],
        fees: Amount::ZERO,
        message: vec![],
    };
    let block = build_template(&chain, spec).unwrap().mine().unwrap();
    f.node.received(1, &Message::Headers(vec![block.header]).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    assert!(sent_to(&f, &out, 1).iter().any(|m| matches!(m, Message::GetData(_))));
    // Keep it alive with pongs: only the missing block counts.
    f.node.tick(NOW + 100_000);
    assert!(disconnect_reason(&drain(&mut f), 1).is_none());
    f.node.tick(NOW + 121_000);
    assert_eq!(disconnect_reason(&drain(&mut f), 1), Some(DisconnectReason::Stalling));
}

/// When the address table is full, a newer address replaces the least recently seen one.
#[test]
fn a_full_address_table_keeps_the_newest() {
    let mut f = fixture();
    // Sixteen sources of 63 public relays each: more than the 1,000 the table holds.
    for source in 1..=16u64 {
        handshake(&mut f, source);
        let list: Vec<PeerAddress> = (0..63u64)
            .map(|i| PeerAddress {
                url: format!("ws://relay{i}.source{source}.example.org/ws"),
                last_seen: 1_000 + source * 100 + i,
            })
            .collect();
        f.node.received(source, &Message::Addr(list).to_frame(f.magic), NOW);
    }
    assert_eq!(f.node.known_addresses().len(), 1_000);
    handshake(&mut f, 17);
    let newer = PeerAddress { url: "ws://relay.example/ws".into(), last_seen: 5_000 };
    let stale = PeerAddress { url: "ws://stale.example/ws".into(), last_seen: 1 };
    f.node.received(17, &Message::Addr(vec![newer.clone(), stale.clone()]).to_frame(f.magic), NOW);
    let known = f.node.known_addresses();
    assert_eq!(known.len(), 1_000);
    assert_eq!(known[0], newer);
    assert!(!known.contains(&stale));
    assert!(!known.iter().any(|a| a.last_seen == 1_100), "the oldest made room");
}

/// One peer's `addr` messages with 10,000 made-up URLs, a link-local one among them, can not
/// take the table over: only well-formed public relay URLs are kept, 64 at most from it.
#[test]
fn one_peers_made_up_addresses_are_filtered_and_bounded() {
    let mut f = fixture();
    handshake(&mut f, 1);
    for round in 0..10u64 {
        let mut list: Vec<PeerAddress> = (0..999u64)
            .map(|i| PeerAddress { url: format!("ws://made-up-{round}-{i}.example.org/ws"), last_seen: NOW / 1000 })
            .collect();
        list.push(PeerAddress { url: "http://169.254.169.254/".into(), last_seen: NOW / 1000 });
        f.node.received(1, &Message::Addr(list).to_frame(f.magic), NOW);
    }
    handshake(&mut f, 2);
    let private = ["ws://169.254.169.254/", "ws://127.0.0.1:3000/ws", "ws://10.0.0.1/ws", "ws://localhost/ws"];
    let list = private.iter().map(|url| PeerAddress { url: url.to_string(), last_seen: NOW / 1000 }).collect();
    f.node.received(2, &Message::Addr(list).to_frame(f.magic), NOW);
    let known = f.node.known_addresses();
    assert_eq!(known.len(), 64);
    assert!(known.iter().all(|a| a.url.starts_with("ws://made-up-")), "{known:?}");
}

/// The seed's `send -mine` on a node that mines continuously: one block for the sender,
/// then back to mining as before.
/// Searches the mining job the node just handed out, reports the nonce, and returns what the
/// node did then.
fn find_the_nonce(f: &mut Fixture) -> Vec<Output> {
    let job = drain(f)
        .into_iter()
        .find_map(|o| match o {
            Output::Mine(job) => Some(job),
            _ => None,
        })
        .expect("a mining job");
    let nonce = match tabcoin_core::mining::NonceSearch::new(&job.header).unwrap().search(0, 1 << 32) {
        tabcoin_core::mining::SearchOutcome::Found { nonce, .. } => nonce,
        other => panic!("{other:?}"),
    };
    f.node.nonce_found(job.id, nonce, NOW);
    drain(f)
}

#[test]
fn mine_once_returns_to_the_earlier_mining() {
    let mut f = fixture();
    let miner = f.owner.pubkey_hash;
    let sender = tabcoin_core::PubKeyHash([9; 20]);
    f.node.set_mining(Some((miner, tabcoin_core::node::MiningPolicy::Continuous)));
    drain(&mut f);
    f.node.mine_once(sender);
    let out = find_the_nonce(&mut f);
    let chain = f.node.chain().unwrap();
    assert_eq!(chain.height(), 1);
    assert_eq!(chain.balance(&sender), Amount::from_coins(10).unwrap());
    // A new job, paying the miner again.
    let next = out.iter().find_map(|o| match o {
        Output::Mine(job) => Some(*job),
        _ => None,
    });
    let next = next.expect("continuous mining resumed");
    assert_eq!(next.height, 2);
}

/// The signature jobs of `out`'s one [`Output::Verify`], with its id.
fn the_checks(out: &[Output]) -> (u64, Vec<tabcoin_core::sigcheck::SignatureJob>) {
    let checks: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Verify { id, jobs } => Some((*id, jobs.clone())),
            _ => None,
        })
        .collect();
    match checks.as_slice() {
        [one] => one.clone(),
        other => panic!("expected one run of checks handed out, got {other:?}"),
    }
}

/// Answers a run of checks as core would.
fn answer(f: &mut Fixture, (id, jobs): (u64, Vec<tabcoin_core::sigcheck::SignatureJob>)) -> Vec<Output> {
    let results: Vec<bool> = jobs.iter().map(|j| j.verify()).collect();
    f.node.signatures_verified(id, &results, NOW);
    drain(f)
}

/// A payment of `f`'s owner to itself spending `coin` (one of the owner's outputs).
fn paying_from(f: &Fixture, coin: (tabcoin_core::OutPoint, tabcoin_core::TxOut)) -> tabcoin_core::Transaction {
    let request =
        PaymentRequest { from: f.owner, to: f.owner, amount: Amount::from_coins(1).unwrap(), fee: Amount::ZERO };
    build_payment(&f.keys, f.node.params(), &[coin], &request).unwrap()
}

/// With checks handed to the shell, a peer's transaction waits for its answers: not in the
/// mempool, not asked for again when announced, then in and announced to the other peers.
#[test]
fn a_peers_transaction_enters_the_mempool_once_the_shell_checked_it() {
    let (mut f, _, tx) = shell_checking_node();
    handshake(&mut f, 2);
    let txid = tx.txid();
    f.node.received(1, &Message::Tx(tx).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    let checks = the_checks(&out);
    assert_eq!(checks.1.len(), 1, "one input, one job");
    assert!(f.node.mempool().is_empty(), "nothing enters before the answers");
    f.node.received(2, &Message::Inv(vec![Inventory::Tx(txid)]).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    assert!(sent_to(&f, &out, 2).is_empty(), "a transaction being checked is not asked for");

    let out = answer(&mut f, checks);
    assert!(f.node.mempool().contains(&txid));
    assert_eq!(sent_to(&f, &out, 2), vec![Message::Inv(vec![Inventory::Tx(txid)])]);
    assert!(sent_to(&f, &out, 1).is_empty(), "not announced back to its sender");
}

/// A forged payment whose checks run in the shell is refused with the reason once the
/// answers come, and its sender is cut off.
#[test]
fn a_forged_transaction_checked_in_the_shell_gets_a_reject() {
    let (mut f, _, mut tx) = shell_checking_node();
    tx.outputs[0].amount = Amount::from_coins(2).unwrap();
    tx.outputs[1].amount = Amount::from_coins(8).unwrap();
    let txid = tx.txid();
    f.node.received(1, &Message::Tx(tx).to_frame(f.magic), NOW);
    let checks = the_checks(&drain(&mut f));
    let out = answer(&mut f, checks);
    assert!(matches!(disconnect_reason(&out, 1), Some(DisconnectReason::InvalidTransaction(_))));
    match sent_to(&f, &out, 1).as_slice() {
        [Message::Reject(reject)] => {
            assert_eq!((reject.item, reject.code), (Inventory::Tx(txid), RejectCode::Invalid));
            assert!(reject.reason.contains("signature"), "{}", reject.reason);
        }
        other => panic!("expected one reject, got {other:?}"),
    }
    assert!(f.node.mempool().is_empty());
}

/// A copy of a payment with a signature that does not sign it (same txid, another witness
/// hash) costs its checks once: its sender is cut off, a repeat from another peer is refused
/// with no check handed out, and the genuine payment is still taken.
#[test]
fn a_transaction_found_invalid_is_refused_unchecked_and_does_not_block_the_genuine_one() {
    let (mut f, chain, genuine) = shell_checking_node();
    handshake(&mut f, 2);
    handshake(&mut f, 3);
    let coins = f.node.mempool().spendable_coins(&chain, &f.owner.pubkey_hash);
    let other =
        PaymentRequest { from: f.owner, to: f.owner, amount: Amount::from_coins(4).unwrap(), fee: Amount::ZERO };
    let other = build_payment(&f.keys, f.node.params(), &coins, &other).unwrap();
    let mut bad_copy = genuine.clone();
    if let (TxInputs::Spend(bad), TxInputs::Spend(theirs)) = (&mut bad_copy.inputs, &other.inputs) {
        bad[0].signature = theirs[0].signature;
    }
    assert_eq!(bad_copy.txid(), genuine.txid());
    assert_ne!(bad_copy.wtxid(), genuine.wtxid());

    f.node.received(1, &Message::Tx(bad_copy.clone()).to_frame(f.magic), NOW);
    let checks = the_checks(&drain(&mut f));
    let out = answer(&mut f, checks);
    assert!(matches!(disconnect_reason(&out, 1), Some(DisconnectReason::InvalidTransaction(_))));

    f.node.received(2, &Message::Tx(bad_copy).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    assert!(!out.iter().any(|o| matches!(o, Output::Verify { .. })), "a known bad copy is not checked again");
    assert_eq!(disconnect_reason(&out, 2), Some(DisconnectReason::KnownInvalidTransaction(genuine.txid())));
    assert!(matches!(sent_to(&f, &out, 2).as_slice(), [Message::Reject(r)] if r.code == RejectCode::Invalid));

    f.node.received(3, &Message::Tx(genuine.clone()).to_frame(f.magic), NOW);
    let checks = the_checks(&drain(&mut f));
    answer(&mut f, checks);
    assert!(f.node.mempool().contains(&genuine.txid()));
}

/// A peer's transactions may cost at most its budget of signature checks (a burst of 15,000,
/// then 1,000 a second): past it a transaction is not checked, its sender is told to send it
/// later and is not cut off; the budget refills with time.
#[test]
fn a_peers_signature_checks_are_budgeted() {
    let (mut f, chain, paid) = shell_checking_node();
    let key = tabcoin_core::SecretKey::from_entropy([3; 32]);
    let genesis_coin = f.node.mempool().spendable_coins(&chain, &f.owner.pubkey_hash)[0];
    // A block that splits the genesis coin into 700 of the owner's outputs.
    let owner = f.owner.pubkey_hash;
    let fan_out = |n: usize, each: u64| -> Vec<tabcoin_core::TxOut> {
        vec![tabcoin_core::TxOut { amount: Amount::from_base_units(each), pubkey_hash: owner }; n]
    };
    let mut split = tabcoin_core::Transaction {
        version: 1,
        inputs: TxInputs::Spend(vec![TxIn {
            prev_out: genesis_coin.0,
            pubkey: key.public_key(),
            // A placeholder until `sign_all` signs.
            signature: paid.spends()[0].signature,
        }]),
        outputs: fan_out(700, 1_000_000),
    };
    split.sign_all(&key, &[genesis_coin.1.amount]);
    let block = mined_on(&chain, &f, vec![split.clone()]);
    f.node.received(1, &Message::Block(block).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    let out =
        if out.iter().any(|o| matches!(o, Output::Verify { .. })) { answer(&mut f, the_checks(&out)) } else { out };
    assert!(disconnect_reason(&out, 1).is_none());
    assert_eq!(f.node.chain().unwrap().height(), 1);

    // Payments each spending all 700 outputs: 700 checks apiece.
    let spend_all = |i: u64| {
        let mut tx = tabcoin_core::Transaction {
            version: 1,
            inputs: TxInputs::Spend(
                (0..700u32)
                    .map(|vout| TxIn {
                        prev_out: tabcoin_core::OutPoint { txid: split.txid(), vout },
                        pubkey: key.public_key(),
                        signature: split.spends()[0].signature,
                    })
                    .collect(),
            ),
            outputs: fan_out(1, 600_000_000 - i),
        };
        tx.sign_all(&key, &vec![Amount::from_base_units(1_000_000); 700]);
        tx
    };
    let mut handed_out = 0;
    for i in 0..22 {
        f.node.received(1, &Message::Tx(spend_all(i)).to_frame(f.magic), NOW);
        let out = drain(&mut f);
        assert!(disconnect_reason(&out, 1).is_none());
        if out.iter().any(|o| matches!(o, Output::Verify { .. })) {
            handed_out += 1;
        } else {
            match sent_to(&f, &out, 1).as_slice() {
                [Message::Reject(r)] => assert!(r.code == RejectCode::Policy && r.reason.contains("again later")),
                other => panic!("expected a reject, got {other:?}"),
            }
        }
    }
    assert_eq!(handed_out, 15_000 / 700, "as many as the burst covers");
    // A second later 1,000 more checks are allowed: one more payment of 700.
    f.node.received(1, &Message::Tx(spend_all(22)).to_frame(f.magic), NOW + 1_000);
    the_checks(&drain(&mut f));
}

/// A payment spending the change of one still being checked waits for it, then is checked
/// itself; the two enter the mempool in order.
#[test]
fn a_child_transaction_waits_for_its_parents_checks() {
    let (mut f, _, parent) = shell_checking_node();
    let change = (tabcoin_core::OutPoint { txid: parent.txid(), vout: 1 }, parent.outputs[1]);
    assert_eq!(change.1.pubkey_hash, f.owner.pubkey_hash);
    let child = paying_from(&f, change);
    let grandchild = paying_from(&f, (tabcoin_core::OutPoint { txid: child.txid(), vout: 1 }, child.outputs[1]));
    let (parent_id, child_id, grandchild_id) = (parent.txid(), child.txid(), grandchild.txid());
    f.node.received(1, &Message::Tx(parent).to_frame(f.magic), NOW);
    f.node.received(1, &Message::Tx(child).to_frame(f.magic), NOW);
    f.node.received(1, &Message::Tx(grandchild).to_frame(f.magic), NOW);
    let out = drain(&mut f);
    let checks = the_checks(&out);
    assert!(sent_to(&f, &out, 1).is_empty(), "the children are not rejected as missing inputs: {out:?}");

    let out = answer(&mut f, checks);
    assert_eq!(f.node.mempool().entries().iter().map(|e| e.txid).collect::<Vec<_>>(), vec![parent_id]);
    let out = answer(&mut f, the_checks(&out));
    assert!(f.node.mempool().contains(&child_id) && !f.node.mempool().contains(&grandchild_id));
    answer(&mut f, the_checks(&out));
    let order: Vec<_> = f.node.mempool().entries().iter().map(|e| e.txid).collect();
    assert_eq!(order, vec![parent_id, child_id, grandchild_id]);
}

/// Two payments spending the same coin may both be out for checks (neither is in the mempool
/// yet); the answers do not let the second in: everything else is checked again.
#[test]
fn a_double_spend_checked_at_the_same_time_is_refused_after_its_checks() {
    let (mut f, chain, first) = shell_checking_node();
    let coins = f.node.mempool().spendable_coins(&chain, &f.owner.pubkey_hash);
    let request =
        PaymentRequest { from: f.owner, to: f.owner, amount: Amount::from_coins(3).unwrap(), fee: Amount::ZERO };
    let second = build_payment(&f.keys, f.node.params(), &coins, &request).unwrap();
    assert_eq!(first.spends()[0].prev_out, second.spends()[0].prev_out);
    f.node.received(1, &Message::Tx(first.clone()).to_frame(f.magic), NOW);
    let first_checks = the_checks(&drain(&mut f));
    f.node.received(1, &Message::Tx(second.clone()).to_frame(f.magic), NOW);
    let second_checks = the_checks(&drain(&mut f));

    answer(&mut f, first_checks);
    let out = answer(&mut f, second_checks);
    assert!(f.node.mempool().contains(&first.txid()) && !f.node.mempool().contains(&second.txid()));
    match sent_to(&f, &out, 1).as_slice() {
        [Message::Reject(reject)] => assert_eq!(reject.code, RejectCode::Duplicate, "{}", reject.reason),
        other => panic!("expected one reject, got {other:?}"),
    }
}

/// Peers' transactions held for their checks are bounded in bytes: past 8 MiB more are
/// ignored (logged, not punished), and room made by an answer is used again.
#[test]
fn transactions_waiting_for_checks_are_bounded() {
    let (mut f, _, mut tx) = shell_checking_node();
    handshake(&mut f, 2);
    // About 100 kB each: the change split into many outputs of one base unit.
    let unit = tabcoin_core::TxOut { amount: Amount::from_base_units(1), pubkey_hash: f.owner.pubkey_hash };
    tx.outputs[1].amount = tx.outputs[1].amount.checked_sub(Amount::from_base_units(10_000)).unwrap();
    tx.outputs.extend(std::iter::repeat_n(unit, 3_400));
    let variants: Vec<tabcoin_core::Transaction> = (0..90u64)
        .map(|i| {
            let mut variant = tx.clone();
            variant.outputs[2].amount = Amount::from_base_units(2 + i);
            variant
        })
        .collect();
    let bytes = variants[0].encoded_len();
    assert!(bytes > 95_000 && bytes <= f.node.params().max_tx_bytes);
    let fit = (8 << 20) / bytes;
    assert!(fit < variants.len());
    let items = variants.iter().map(|t| Inventory::Tx(t.txid())).collect();
    f.node.received(1, &Message::Inv(items).to_frame(f.magic), NOW);
    drain(&mut f);
    for variant in &variants {
        f.node.received(1, &Message::Tx(variant.clone()).to_frame(f.magic), NOW);
    }
    let out = drain(&mut f);
    let handed_out: Vec<u64> = out
        .iter()
        .filter_map(|o| match o {
            Output::Verify { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(handed_out.len(), fit);
    let ignored = out
        .iter()
        .filter(|o| matches!(o, Output::Event(tabcoin_core::node::Event::Log(line)) if line.contains("wait for their signature checks")))
        .count();
    assert_eq!(ignored, variants.len() - fit);
    assert!(disconnect_reason(&out, 1).is_none() && sent_to(&f, &out, 1).is_empty());

    // One answered (forged: refused, its sender cut off), and room for one more.
    f.node.signatures_verified(handed_out[0], &[false], NOW);
    assert!(disconnect_reason(&drain(&mut f), 1).is_some());
    f.node.received(2, &Message::Tx(variants[fit].clone()).to_frame(f.magic), NOW + 10_000);
    the_checks(&drain(&mut f));
}

/// A block the node mines from its mempool is not checked twice: its transactions'
/// signatures were checked on entry. Shown with a shell that vouches for a forged payment
/// (a shell's true answer is trusted, see ARCHITECTURE.md): the mined block connects with it,
/// where a second check would refuse the node's own block.
#[test]
fn a_mined_block_trusts_the_checks_its_transactions_passed_on_entering_the_mempool() {
    let (mut f, _, mut forged) = shell_checking_node();
    forged.outputs[0].amount = Amount::from_coins(2).unwrap();
    forged.outputs[1].amount = Amount::from_coins(8).unwrap();
    f.node.received(1, &Message::Tx(forged.clone()).to_frame(f.magic), NOW);
    let (id, jobs) = the_checks(&drain(&mut f));
    assert!(!jobs[0].verify());
    f.node.signatures_verified(id, &[true], NOW);
    drain(&mut f);
    assert!(f.node.mempool().contains(&forged.txid()));

    f.node.mine_once(f.owner.pubkey_hash);
    find_the_nonce(&mut f);
    let chain = f.node.chain().unwrap();
    assert_eq!(chain.height(), 1);
    assert!(chain.transaction(&forged.txid()).is_some());
}

/// A forged payment (with a second, honest block after it) on a branch that overtakes the
/// node's chain, and the forged payment's signature vouched for or not by the shell.
fn overtaking_branch_with_a_forged_payment(vouch: bool) -> (Fixture, Vec<tabcoin_core::Block>, Vec<Output>) {
    let (mut f, chain, mut forged) = shell_checking_node();
    forged.outputs[0].amount = Amount::from_coins(2).unwrap();
    forged.outputs[1].amount = Amount::from_coins(8).unwrap();
    // The node's chain: one empty block.
    let ours = branch_on(&mut chain.clone(), &f, vec![vec![]]);
    deliver(&mut f, &ours, &[0]);
    assert_eq!(f.node.chain().unwrap().tip(), ours[0].block_hash());
    // The branch: the forged payment, then an honest block on it.
    let branch = branch_on(&mut chain.clone(), &f, vec![vec![forged], vec![]]);
    let out = deliver(&mut f, &branch, &[0, 1]);
    let (id, jobs) = the_checks(&out);
    assert_eq!(jobs.len(), 1, "the branch's one payment");
    assert!(!jobs[0].verify());
    assert_eq!(f.node.chain().unwrap().tip(), ours[0].block_hash(), "no reorganisation before the answers");
    assert!(disconnect_reason(&out, 1).is_none());
    f.node.signatures_verified(id, &[vouch], NOW);
    let out = drain(&mut f);
    (f, branch, out)
}

/// A branch that overtakes the tip comes in block by block, not as a run extending the tip:
/// its signatures go out for checks all at once, and the node reorganises on the answers
/// alone. Shown with a shell that vouches for a forged payment (a shell's true answer is
/// trusted, see ARCHITECTURE.md): the branch connects, where a check of the node's own would
/// refuse it.
#[test]
fn a_branch_overtaking_the_tip_is_checked_by_the_shell_before_the_reorganisation() {
    let (f, branch, _) = overtaking_branch_with_a_forged_payment(true);
    let chain = f.node.chain().unwrap();
    assert_eq!(chain.tip(), branch[1].block_hash());
    assert!(chain.transaction(&branch[0].txs[1].txid()).is_some());
}

/// The same branch, the forged signature refused by the shell: the node stays on its chain
/// and cuts the sender off.
#[test]
fn a_branch_with_a_refused_signature_leaves_the_chain_and_cuts_its_sender_off() {
    let (f, branch, out) = overtaking_branch_with_a_forged_payment(false);
    let chain = f.node.chain().unwrap();
    assert_ne!(chain.tip(), branch[1].block_hash());
    assert_eq!(chain.height(), 1);
    assert!(chain.is_known_invalid(&branch[0].block_hash()));
    assert!(matches!(
        disconnect_reason(&out, 1),
        Some(DisconnectReason::InvalidBlock(BlockError::Tx { error: tabcoin_core::TxError::Input(_), .. }))
    ));
}

/// A block that came before its parent waits as an orphan; once the parent connects, its
/// signatures go out for checks and it connects on the answers (a vouched-for forged payment
/// shows the node did not check it itself).
#[test]
fn an_orphan_is_checked_by_the_shell_once_its_parent_connects() {
    let (mut f, chain, mut forged) = shell_checking_node();
    forged.outputs[0].amount = Amount::from_coins(2).unwrap();
    forged.outputs[1].amount = Amount::from_coins(8).unwrap();
    let blocks = branch_on(&mut chain.clone(), &f, vec![vec![], vec![forged.clone()]]);
    let out = deliver(&mut f, &blocks, &[1, 0]);
    let (id, jobs) = the_checks(&out);
    assert_eq!(jobs.len(), 1);
    assert_eq!(f.node.chain().unwrap().tip(), blocks[0].block_hash(), "the parent connected, the orphan waits");
    assert_eq!(f.node.sync_status().awaiting_signatures, 1);
    // Sent again while out for its checks: they are not handed out twice.
    f.node.received(1, &Message::Block(blocks[1].clone()).to_frame(f.magic), NOW);
    let again = drain(&mut f);
    assert!(!again.iter().any(|o| matches!(o, Output::Verify { .. })) && disconnect_reason(&again, 1).is_none());
    f.node.signatures_verified(id, &[true], NOW);
    drain(&mut f);
    let chain = f.node.chain().unwrap();
    assert_eq!(chain.tip(), blocks[1].block_hash());
    assert!(chain.transaction(&forged.txid()).is_some());
    assert_eq!(f.node.sync_status().awaiting_signatures, 0);
}

/// The user's own payment checked by the shell: its jobs first, then it enters on the answers
/// alone (a vouched-for forged payment shows the node checked nothing itself), announced to
/// the peers; a refusal names the input, and answers for something else answer for nothing.
#[test]
fn a_users_payment_checked_by_the_shell_enters_on_its_answers() {
    use tabcoin_core::keys::SignatureError;
    use tabcoin_core::tx::InputError;
    use tabcoin_core::{MempoolError, TxError};
    let (mut f, _, honest) = shell_checking_node();
    let mut forged = honest.clone();
    forged.outputs[0].amount = Amount::from_coins(2).unwrap();
    forged.outputs[1].amount = Amount::from_coins(8).unwrap();

    let checks = f.node.payment_checks(&forged).unwrap();
    assert_eq!(checks.jobs.len(), 1);
    assert!(!checks.jobs[0].verify());
    let refused = f.node.submit_checked(forged.clone(), &checks.clone().verified(&[false]), NOW);
    let expected = TxError::Input(InputError::BadSignature { input: 0, error: SignatureError::Refused });
    assert_eq!(refused, Err(MempoolError::Invalid(expected)));
    let others = f.node.payment_checks(&honest).unwrap().verified(&[true]);
    assert_eq!(f.node.submit_checked(forged.clone(), &others, NOW), Err(MempoolError::SignaturesPending));
    assert!(f.node.mempool().is_empty());
    drain(&mut f);

    let txid = f.node.submit_checked(forged.clone(), &checks.verified(&[true]), NOW).unwrap();
    assert_eq!(txid, forged.txid());
    assert!(f.node.mempool().contains(&txid));
    let out = drain(&mut f);
    assert_eq!(sent_to(&f, &out, 1), vec![Message::Inv(vec![Inventory::Tx(txid)])]);
}
