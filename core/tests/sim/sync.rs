//! Sync corner cases, driven message by message.

use tabcoin_core::node::{Direction, Node, Output, PeerId};
use tabcoin_core::protocol::{Inventory, Message, PROTOCOL_VERSION, Role, Version};
use tabcoin_core::template::{TemplateSpec, build_template, create_genesis};
use tabcoin_core::{Address, Amount, Block, ChainParams, ChainState, SecretKey, Work};

use crate::harness::config;

pub(crate) const NOW: u64 = 1_700_000_100_000;

pub(crate) fn frame(message: Message) -> Vec<u8> {
    message.to_frame(ChainParams::test().magic)
}

pub(crate) fn sent(outputs: &[Output], peer: PeerId) -> Vec<Message> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { peer: p, frame } if *p == peer => Message::from_frame(frame, ChainParams::test().magic).ok(),
            _ => None,
        })
        .collect()
}

/// A node at genesis, and `blocks` blocks extending it (from a copy of its chain).
pub(crate) fn setup(blocks: usize) -> (Node, Vec<Block>) {
    let params = ChainParams::test();
    let owner = Address::new(params.address_version, SecretKey::from_entropy([4; 32]).public_key().pubkey_hash());
    let genesis = create_genesis(&params, &owner, 1_700_000_000).unwrap();
    let (chain, _) = ChainState::new(params, genesis).unwrap();
    let mut ahead = chain.clone();
    let mut made = Vec::new();
    for i in 0..blocks {
        let now = 1_700_000_010 + 5 * i as u64;
        let spec = TemplateSpec {
            parent: ahead.tip(),
            payee: owner.pubkey_hash,
            now,
            txs: vec![],
            fees: Amount::ZERO,
            message: vec![],
        };
        let block = build_template(&ahead, spec).unwrap().mine().unwrap();
        ahead.accept_block(block.clone(), now).unwrap();
        made.push(block);
    }
    (Node::new(config(Role::Wallet, 1), Some(chain)), made)
}

pub(crate) fn join(node: &mut Node, peer: PeerId, best_height: u32, best_work: Work) {
    join_at(node, peer, best_height, best_work, NOW);
}

pub(crate) fn join_at(node: &mut Node, peer: PeerId, best_height: u32, best_work: Work, now: u64) {
    let genesis = node.chain().unwrap().genesis_hash();
    node.peer_connected(peer, Direction::Outbound, format!("ws://relay{peer}.example.org/ws"), now);
    let version = Version {
        protocol_version: PROTOCOL_VERSION,
        role: Role::Relay,
        genesis,
        best_height,
        best_work,
        time: now / 1000,
        nonce: 100 + peer,
        user_agent: "test".into(),
    };
    node.received(peer, &frame(Message::Version(version)), now);
    node.received(peer, &frame(Message::Verack), now);
}

pub(crate) fn drain(node: &mut Node) -> Vec<Output> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

/// A sends headers, is asked for the bodies, and leaves: its headers are forgotten. B connected
/// when it knew nothing of these blocks, so nothing says it has them: the node asks B for
/// headers and, learning that B has them, fetches them from B.
#[test]
fn blocks_are_fetched_from_another_peer_when_the_header_source_leaves() {
    let (mut node, blocks) = setup(3);
    join(&mut node, 1, 3, Work::from_be_bytes([0xff; 32]));
    join(&mut node, 2, 0, Work::ZERO);
    drain(&mut node);
    let headers: Vec<_> = blocks.iter().map(|b| b.header).collect();
    node.received(1, &frame(Message::Headers(headers.clone())), NOW);
    let out = drain(&mut node);
    let wanted: Vec<Inventory> = blocks.iter().map(|b| Inventory::Block(b.block_hash())).collect();
    assert!(sent(&out, 1).contains(&Message::GetData(wanted.clone())));

    // A's headers leave with it; B is asked what it has at once.
    node.peer_disconnected(1);
    let asked = sent(&drain(&mut node), 2);
    assert!(asked.iter().all(|m| !matches!(m, Message::GetData(_))));
    assert!(asked.iter().any(|m| matches!(m, Message::GetHeaders(_))), "{asked:?}");
    assert_eq!(node.sync_status().pending_headers, 0);
    node.received(2, &frame(Message::Headers(headers)), NOW + 31_000);
    let fetch = sent(&drain(&mut node), 2);
    assert!(fetch.contains(&Message::GetData(wanted)), "{fetch:?}");
    for block in blocks {
        node.received(2, &frame(Message::Block(block)), NOW + 31_000);
    }
    assert_eq!(node.chain().unwrap().height(), 3);
}

/// A header (and its block) too far ahead of the node's clock is not kept, nor held against
/// its sender; once the clock has caught up, the node asks for headers again and fetches it.
#[test]
fn a_block_from_the_future_is_fetched_once_the_clock_caught_up() {
    let (mut node, blocks) = setup(1);
    // Further before the block's time than the test network's bound (7,200 s).
    let early = (u64::from(blocks[0].header.time) - 7_300) * 1000;
    let block = &blocks[0];
    let wanted = Message::GetData(vec![Inventory::Block(block.block_hash())]);
    join_at(&mut node, 1, 1, Work::from_be_bytes([0xff; 32]), early);
    drain(&mut node);
    node.received(1, &frame(Message::Headers(vec![block.header])), early);
    let out = drain(&mut node);
    assert!(!out.iter().any(|o| matches!(o, Output::Disconnect { .. })));
    assert!(!sent(&out, 1).contains(&wanted), "a header from the future was kept");
    node.received(1, &frame(Message::Block(block.clone())), early);
    let out = drain(&mut node);
    assert!(!out.iter().any(|o| matches!(o, Output::Disconnect { .. })));
    assert_eq!(node.chain().unwrap().height(), 0);
    let caught_up = early + 131_000;
    node.tick(caught_up);
    let asked = sent(&drain(&mut node), 1);
    assert!(asked.iter().any(|m| matches!(m, Message::GetHeaders(_))), "{asked:?}");
    node.received(1, &frame(Message::Headers(vec![block.header])), caught_up);
    assert!(sent(&drain(&mut node), 1).contains(&wanted));
    node.received(1, &frame(Message::Block(block.clone())), caught_up);
    assert_eq!(node.chain().unwrap().height(), 1);
}

/// One `getdata` naming the same block many times is answered once.
#[test]
fn repeated_getdata_items_are_answered_once() {
    let (mut node, _) = setup(0);
    join(&mut node, 1, 0, Work::ZERO);
    drain(&mut node);
    let genesis = node.chain().unwrap().genesis_hash();
    node.received(1, &frame(Message::GetData(vec![Inventory::Block(genesis); 1_000])), NOW);
    let blocks = sent(&drain(&mut node), 1).into_iter().filter(|m| matches!(m, Message::Block(_))).count();
    assert_eq!(blocks, 1);
}

/// A peer that answered `notfound` for a block (it is on another branch at that height, say)
/// is not asked for it again while another peer can serve it.
#[test]
fn a_block_a_peer_lacks_is_asked_of_another() {
    let (mut node, blocks) = setup(2);
    join(&mut node, 1, 2, Work::from_be_bytes([0xff; 32]));
    join(&mut node, 2, 2, Work::from_be_bytes([0xff; 32]));
    drain(&mut node);
    let headers: Vec<_> = blocks.iter().map(|b| b.header).collect();
    let wanted: Vec<Inventory> = blocks.iter().map(|b| Inventory::Block(b.block_hash())).collect();
    node.received(1, &frame(Message::Headers(headers.clone())), NOW);
    assert!(sent(&drain(&mut node), 1).contains(&Message::GetData(wanted.clone())));
    node.received(1, &frame(Message::NotFound(wanted.clone())), NOW);
    drain(&mut node);
    node.received(2, &frame(Message::Headers(headers)), NOW);
    let out = drain(&mut node);
    assert!(sent(&out, 2).contains(&Message::GetData(wanted)), "{:?}", sent(&out, 2));
    assert!(sent(&out, 1).iter().all(|m| !matches!(m, Message::GetData(_))));
}

/// A relay reached by its address is remembered and passed on: to relays that ask (`getaddr`)
/// and, at once, to relays already connected.
#[test]
fn relays_reached_by_address_are_gossiped() {
    let (mut node, _) = setup(0);
    join(&mut node, 1, 0, Work::ZERO);
    drain(&mut node);
    let urls = |node: &Node| node.known_addresses().into_iter().map(|a| a.url).collect::<Vec<_>>();
    assert_eq!(urls(&node), vec!["ws://relay1.example.org/ws".to_string()]);
    join(&mut node, 2, 0, Work::ZERO);
    let out = drain(&mut node);
    let told = sent(&out, 1)
        .into_iter()
        .any(|m| matches!(&m, Message::Addr(list) if list.len() == 1 && list[0].url == "ws://relay2.example.org/ws"));
    assert!(told, "relay 1 hears of relay 2: {:?}", sent(&out, 1));
    let mut both = urls(&node);
    both.sort();
    assert_eq!(both, vec!["ws://relay1.example.org/ws".to_string(), "ws://relay2.example.org/ws".to_string()]);
    node.received(2, &frame(Message::GetAddr), NOW);
    let answer = sent(&drain(&mut node), 2);
    assert!(matches!(&answer[..], [Message::Addr(list)] if list.len() == 2), "{answer:?}");
}
