//! Headers must carry work before they cost anything: a flood of cheap headers, or a branch
//! with less work than ours, is neither fetched nor stored, never holds up an honest peer's
//! blocks, and its sender is cut off with a reason.

use tabcoin_core::header::BlockHeader;
use tabcoin_core::mining::{NonceSearch, SearchOutcome};
use tabcoin_core::node::{DisconnectReason, Node, Output, PeerId};
use tabcoin_core::protocol::{Inventory, MAX_HEADERS, Message};
use tabcoin_core::template::{TemplateSpec, build_template};
use tabcoin_core::{Amount, Block, BlockHash, MerkleRoot, Work};

use crate::sync::{NOW, drain, frame, join, sent, setup};

fn disconnect_reason(outputs: &[Output], peer: PeerId) -> Option<DisconnectReason> {
    outputs.iter().find_map(|o| match o {
        Output::Disconnect { peer: p, reason } if *p == peer => Some(reason.clone()),
        _ => None,
    })
}

/// A header on `prev` at `time` on the test network, its nonce found (about two tries).
fn cheap_header(prev: BlockHash, time: u32, salt: u32) -> BlockHeader {
    let mut root = [0u8; 32];
    root[..4].copy_from_slice(&salt.to_le_bytes());
    let header = BlockHeader {
        version: 1,
        prev_blockhash: prev,
        merkle_root: MerkleRoot(root),
        time,
        bits: tabcoin_core::ChainParams::test().pow_limit,
        nonce: 0,
    };
    match NonceSearch::new(&header).unwrap().search(0, 1 << 32) {
        SearchOutcome::Found { nonce, .. } => BlockHeader { nonce, ..header },
        other => panic!("no nonce: {other:?}"),
    }
}

/// One peer answers our `getheaders` with a chain of cheap headers forking at genesis, 2,000
/// at a time, meaning to send a million; mid-flood another announces one honest block. The
/// honest block is asked of its peer at once, whatever the flooder queued before it; the
/// flooder is cut off once it passes its allowance and its headers are forgotten; the honest
/// block connects.
#[test]
fn a_million_cheap_headers_do_not_hold_up_an_honest_block() {
    let (mut node, blocks) = setup(1);
    let genesis = node.chain().unwrap().genesis_hash();
    let genesis_time = node.chain().unwrap().tip_info().unwrap().header.time;
    join(&mut node, 1, 1_000_000, Work::from_be_bytes([0xff; 32]));
    join(&mut node, 2, 1, Work::from_be_bytes([0xff; 32]));
    drain(&mut node);

    let mut prev = genesis;
    let mut sent_headers = 0u32;
    let mut cut_off = None;
    while sent_headers < 1_000_000 && cut_off.is_none() {
        let batch: Vec<BlockHeader> = (0..MAX_HEADERS as u32)
            .map(|i| {
                let n = sent_headers + i;
                // Eleven seconds apart first, then a second every six headers: always past
                // the median of the previous eleven, never past the clock's allowance before
                // the cut.
                let time = if n < 11 { genesis_time + 1 + n } else { genesis_time + 12 + (n - 11) / 6 };
                let header = cheap_header(prev, time, n);
                prev = header.block_hash();
                header
            })
            .collect();
        sent_headers += MAX_HEADERS as u32;
        node.received(1, &frame(Message::Headers(batch)), NOW);
        cut_off = disconnect_reason(&drain(&mut node), 1);
        if sent_headers == 10 * MAX_HEADERS as u32 {
            // Mid-flood, 20,000 of the flooder's blocks queued before it: the honest block is
            // asked of its peer at once.
            node.received(2, &frame(Message::Headers(vec![blocks[0].header])), NOW);
            let asked = sent(&drain(&mut node), 2);
            assert!(asked.contains(&Message::GetData(vec![Inventory::Block(blocks[0].block_hash())])), "{asked:?}");
        }
    }
    assert_eq!(cut_off, Some(DisconnectReason::Misbehaving("more headers than it may have pending")));
    assert!(sent_headers <= 50_000, "cut off after {sent_headers} headers");
    assert_eq!(node.sync_status().pending_headers, 1, "the flooder's headers are forgotten, the honest one kept");

    let honest = &blocks[0];
    node.received(2, &frame(Message::Block(honest.clone())), NOW);
    assert_eq!(node.chain().unwrap().tip(), honest.block_hash());
}

/// Peer 2 joins with all of `blocks` and the node syncs them, headers then bodies.
fn synced_from_peer_2(node: &mut Node, blocks: &[Block]) {
    join(node, 2, blocks.len() as u32, Work::from_be_bytes([0xff; 32]));
    drain(node);
    node.received(2, &frame(Message::Headers(blocks.iter().map(|b| b.header).collect())), NOW);
    drain(node);
    for block in blocks {
        node.received(2, &frame(Message::Block(block.clone())), NOW);
    }
    assert_eq!(node.chain().unwrap().height(), blocks.len() as u32);
}

/// Blocks on `parent` of a chain as another node would mine them, `count` of them.
fn branch_on(node: &Node, count: usize, payee_salt: u8) -> Vec<Block> {
    let mut theirs = node.chain().unwrap().clone();
    let genesis = theirs.genesis_hash();
    let mut blocks = Vec::new();
    let mut parent = genesis;
    for i in 0..count {
        let now = 1_700_000_020 + 5 * i as u64;
        let spec = TemplateSpec {
            parent,
            payee: tabcoin_core::PubKeyHash([payee_salt; 20]),
            now,
            txs: vec![],
            fees: Amount::ZERO,
            message: vec![],
        };
        let block = build_template(&theirs, spec).unwrap().mine().unwrap();
        parent = block.block_hash();
        let _ = theirs.accept_block(block.clone(), now);
        blocks.push(block);
    }
    blocks
}

/// A branch forking at genesis with less work than our chain: its headers are kept but its
/// blocks are never asked for; pushed unasked they are not stored; and its sender, pushing
/// them on, is cut off.
#[test]
fn a_branch_with_less_work_is_neither_fetched_nor_stored() {
    let (mut node, blocks) = setup(3);
    synced_from_peer_2(&mut node, &blocks);

    let side = branch_on(&node, 2, 9);
    join(&mut node, 1, 2, Work::ZERO);
    drain(&mut node);
    node.received(1, &frame(Message::Headers(side.iter().map(|b| b.header).collect())), NOW);
    let out = drain(&mut node);
    assert!(!sent(&out, 1).iter().any(|m| matches!(m, Message::GetData(_))), "a low-work branch was asked for");
    assert_eq!(disconnect_reason(&out, 1), None);

    let mut cut_off = None;
    for _ in 0..20 {
        for block in &side {
            node.received(1, &frame(Message::Block(block.clone())), NOW);
        }
        cut_off = cut_off.or(disconnect_reason(&drain(&mut node), 1));
    }
    for block in &side {
        assert!(node.chain().unwrap().block_info(&block.block_hash()).is_none(), "a low-work block was stored");
    }
    assert_eq!(cut_off, Some(DisconnectReason::Misbehaving("unrequested block flood")));
    assert_eq!(node.chain().unwrap().height(), 3);
}

/// Headers nobody asked for are limited like other floods.
#[test]
fn unrequested_headers_are_limited() {
    let (mut node, blocks) = setup(1);
    join(&mut node, 1, 0, Work::ZERO);
    drain(&mut node);
    let mut cut_off = None;
    for _ in 0..20 {
        node.received(1, &frame(Message::Headers(vec![blocks[0].header])), NOW);
        cut_off = cut_off.or(disconnect_reason(&drain(&mut node), 1));
    }
    assert_eq!(cut_off, Some(DisconnectReason::Misbehaving("unrequested headers flood")));
}

/// `getheaders` is limited per peer: a burst of 100, then 10 a second.
#[test]
fn getheaders_floods_are_cut_off() {
    let (mut node, _) = setup(0);
    join(&mut node, 1, 0, Work::ZERO);
    drain(&mut node);
    let ask = Message::GetHeaders(tabcoin_core::protocol::GetHeaders { locator: vec![], stop: BlockHash::ZERO });
    for _ in 0..100 {
        node.received(1, &frame(ask.clone()), NOW);
    }
    assert_eq!(disconnect_reason(&drain(&mut node), 1), None);
    node.received(1, &frame(ask.clone()), NOW + 1_000);
    assert_eq!(disconnect_reason(&drain(&mut node), 1), None, "ten more a second");
    for _ in 0..20 {
        node.received(1, &frame(ask.clone()), NOW + 1_000);
    }
    assert_eq!(disconnect_reason(&drain(&mut node), 1), Some(DisconnectReason::Misbehaving("getheaders flood")));
}

/// What the docs say: a `verack` before `version` breaks the handshake like any other message,
/// and an unasked block whose proof of work fails cuts its sender off.
#[test]
fn a_verack_first_and_an_unasked_block_without_work_cut_the_sender_off() {
    let (mut node, blocks) = setup(1);
    node.peer_connected(1, tabcoin_core::node::Direction::Inbound, "test://1".into(), NOW);
    node.received(1, &frame(Message::Verack), NOW);
    assert_eq!(
        disconnect_reason(&drain(&mut node), 1),
        Some(DisconnectReason::Misbehaving("message before the handshake"))
    );

    join(&mut node, 2, 0, Work::ZERO);
    drain(&mut node);
    let mut weak = blocks[0].clone();
    let target = weak.header.bits.to_target().unwrap();
    weak.header.nonce = (0..)
        .find(|n| {
            let mut h = weak.header;
            h.nonce = *n;
            !target.is_met_by(&h.block_hash())
        })
        .unwrap();
    node.received(2, &frame(Message::Block(weak)), NOW);
    assert!(matches!(
        disconnect_reason(&drain(&mut node), 2),
        Some(DisconnectReason::InvalidBlock(tabcoin_core::BlockError::HighHash))
    ));
}

/// A `headers` message is one chain in order: one that mixes branches (junk, then a header of
/// more work that someone else announced, to get the junk fetched) cuts its sender off.
#[test]
fn headers_that_do_not_form_a_chain_cut_the_sender_off() {
    let (mut node, blocks) = setup(2);
    join(&mut node, 1, 2, Work::from_be_bytes([0xff; 32]));
    drain(&mut node);
    let genesis = node.chain().unwrap().genesis_hash();
    let genesis_time = node.chain().unwrap().tip_info().unwrap().header.time;
    let junk = cheap_header(genesis, genesis_time + 1, 7);
    node.received(1, &frame(Message::Headers(vec![junk, blocks[1].header])), NOW);
    assert_eq!(
        disconnect_reason(&drain(&mut node), 1),
        Some(DisconnectReason::Misbehaving("headers that do not form a chain"))
    );
    assert_eq!(node.sync_status().pending_headers, 0);
}

/// Headers of a side branch that will never be fetched are forgotten once they are 100 blocks
/// below the tip, so that they hold no peer's allowance for good.
#[test]
fn stale_side_headers_are_forgotten() {
    let (mut node, blocks) = setup(120);
    synced_from_peer_2(&mut node, &blocks);
    // A one-block side branch off genesis: less work, kept but never fetched.
    let genesis = node.chain().unwrap().genesis_hash();
    let genesis_time = node.chain().unwrap().block_info(&genesis).unwrap().header.time;
    join(&mut node, 1, 1, Work::ZERO);
    drain(&mut node);
    node.received(1, &frame(Message::Headers(vec![cheap_header(genesis, genesis_time + 1, 9)])), NOW);
    drain(&mut node);
    assert_eq!(node.sync_status().pending_headers, 1);
    assert_eq!(node.sync_status().to_fetch, 0);
    node.tick(NOW + 61_000);
    drain(&mut node);
    assert_eq!(node.sync_status().pending_headers, 0, "forgotten a minute later");
}
