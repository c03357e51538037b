//! What a peer may send unasked, and what the node serves before its store has it: floods are
//! cut off, unrequested blocks that buy nothing are ignored, orphans are bounded per peer, and
//! only committed blocks are served.

use tabcoin_core::node::{DisconnectReason, Output};
use tabcoin_core::protocol::{GetHeaders, Inventory, Message};
use tabcoin_core::template::{TemplateSpec, build_template};
use tabcoin_core::{Address, Amount, BlockError, BlockHash, SecretKey, Txid, Work};

use crate::sync::{NOW, drain, frame, join, sent, setup};

/// More work than any test chain has: the peer is worth syncing from.
fn more_work() -> Work {
    Work::from_be_bytes([0xff; 32])
}

fn disconnected(outputs: &[Output]) -> Vec<DisconnectReason> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Disconnect { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn tx_items(range: std::ops::Range<u32>) -> Vec<Inventory> {
    range
        .map(|i| {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            Inventory::Tx(Txid(bytes))
        })
        .collect()
}

#[test]
fn an_inventory_flood_is_cut_off_and_bounds_what_we_request() {
    let (mut node, _) = setup(0);
    join(&mut node, 1, 0, Work::ZERO);
    drain(&mut node);
    let mut asked = 0;
    for round in 0..2 {
        node.received(1, &frame(Message::Inv(tx_items(round * 50_000..(round + 1) * 50_000))), NOW);
        let out = drain(&mut node);
        assert!(disconnected(&out).is_empty(), "one full inv after another is within the burst");
        for message in sent(&out, 1) {
            if let Message::GetData(items) = message {
                asked += items.len();
            }
        }
    }
    assert_eq!(asked, 10_000, "at most 10,000 transactions are asked of one peer at a time");
    node.received(1, &frame(Message::Inv(tx_items(100_000..100_001))), NOW);
    assert_eq!(disconnected(&drain(&mut node)), vec![DisconnectReason::Misbehaving("inventory flood")]);
}

#[test]
fn the_inventory_allowance_refills_with_time() {
    let (mut node, _) = setup(0);
    join(&mut node, 1, 0, Work::ZERO);
    drain(&mut node);
    node.received(1, &frame(Message::Inv(tx_items(0..50_000))), NOW);
    node.received(1, &frame(Message::Inv(tx_items(50_000..100_000))), NOW);
    // 10,000 items a second: five seconds later, another 50,000 are fine.
    node.received(1, &frame(Message::Inv(tx_items(100_000..150_000))), NOW + 5_000);
    assert!(disconnected(&drain(&mut node)).is_empty());
}

#[test]
fn unrequested_transactions_are_limited_and_requested_ones_are_not() {
    let (mut node, blocks) = setup(2);
    join(&mut node, 1, 0, Work::ZERO);
    drain(&mut node);
    // Payments of coins that do not exist: refused (perhaps the sender knows a block we do
    // not), never proof that the sender misbehaves.
    let spending_nothing = |n: u8| {
        let key = SecretKey::from_entropy([n; 32]);
        tabcoin_core::Transaction {
            version: 1,
            inputs: tabcoin_core::tx::TxInputs::Spend(vec![tabcoin_core::TxIn {
                prev_out: tabcoin_core::OutPoint { txid: Txid([n; 32]), vout: 0 },
                pubkey: key.public_key(),
                signature: key.sign_digest(&[n; 32]),
            }]),
            outputs: blocks[0].txs[0].outputs.clone(),
        }
    };
    let requested = spending_nothing(1);
    let unasked = spending_nothing(2);
    node.received(1, &frame(Message::Inv(vec![Inventory::Tx(requested.txid())])), NOW);
    assert!(sent(&drain(&mut node), 1).contains(&Message::GetData(vec![Inventory::Tx(requested.txid())])));
    for _ in 0..200 {
        node.received(1, &frame(Message::Tx(unasked.clone())), NOW);
    }
    node.received(1, &frame(Message::Tx(requested)), NOW);
    let out = drain(&mut node);
    assert!(disconnected(&out).is_empty(), "200 unasked and one asked-for transaction are allowed");
    assert_eq!(sent(&out, 1).iter().filter(|m| matches!(m, Message::Reject(_))).count(), 201, "each refused");
    node.received(1, &frame(Message::Tx(unasked)), NOW);
    assert_eq!(disconnected(&drain(&mut node)), vec![DisconnectReason::Misbehaving("unrequested transaction flood")]);
}

#[test]
fn unrequested_blocks_are_taken_only_as_a_new_tip_and_a_stream_of_them_is_cut_off() {
    let (mut node, blocks) = setup(3);
    let at_genesis = node.chain().unwrap().clone();
    let other_payee = Address::new(0x6f, SecretKey::from_entropy([9; 32]).public_key().pubkey_hash());
    let spec = TemplateSpec {
        parent: at_genesis.tip(),
        payee: other_payee.pubkey_hash,
        now: 1_700_000_011,
        txs: vec![],
        fees: Amount::ZERO,
        message: vec![],
    };
    let rival = build_template(&at_genesis, spec).unwrap().mine().unwrap();
    join(&mut node, 1, 0, Work::ZERO);
    drain(&mut node);

    // A miner pushing its new block: it extends the tip, so it is checked and taken.
    node.received(1, &frame(Message::Block(blocks[0].clone())), NOW);
    assert_eq!(node.chain().unwrap().tip(), blocks[0].block_hash());
    // A rival at the same height has no more work: not checked, not stored.
    node.received(1, &frame(Message::Block(rival.clone())), NOW);
    assert!(node.chain().unwrap().block_info(&rival.block_hash()).is_none());
    // A block whose parent is unknown is not held as an orphan; its sender is asked for headers.
    drain(&mut node);
    node.received(1, &frame(Message::Block(blocks[2].clone())), NOW);
    let out = drain(&mut node);
    assert_eq!(node.sync_status().orphans, 0);
    assert!(sent(&out, 1).iter().any(|m| matches!(m, Message::GetHeaders(_))));
    assert!(disconnected(&out).is_empty());

    // 16 unrequested blocks at once are allowed; the 17th is a flood.
    for _ in 3..16 {
        node.received(1, &frame(Message::Block(rival.clone())), NOW);
    }
    assert!(disconnected(&drain(&mut node)).is_empty());
    node.received(1, &frame(Message::Block(rival)), NOW);
    assert_eq!(disconnected(&drain(&mut node)), vec![DisconnectReason::Misbehaving("unrequested block flood")]);
}

/// One peer's orphans are bounded by its window: past it, its oldest orphan is dropped and
/// fetched again, and the chain still completes.
#[test]
fn one_peers_orphans_are_bounded_and_evicted_ones_are_fetched_again() {
    let (mut node, blocks) = setup(130);
    join(&mut node, 1, 130, more_work());
    drain(&mut node);
    let headers: Vec<_> = blocks.iter().map(|b| b.header).collect();
    node.received(1, &frame(Message::Headers(headers)), NOW);
    drain(&mut node);
    // Everything but block 1, so all of it waits as orphans.
    for block in &blocks[1..] {
        node.received(1, &frame(Message::Block(block.clone())), NOW);
    }
    let out = drain(&mut node);
    assert_eq!(node.sync_status().orphans, 128);
    let refetch = Message::GetData(vec![Inventory::Block(blocks[1].block_hash())]);
    assert!(sent(&out, 1).contains(&refetch), "the evicted orphan (block 2) is asked for again");
    node.received(1, &frame(Message::Block(blocks[0].clone())), NOW);
    assert_eq!(node.chain().unwrap().height(), 1, "block 2 is missing, so nothing else connects yet");
    node.received(1, &frame(Message::Block(blocks[1].clone())), NOW);
    assert_eq!(node.chain().unwrap().height(), 130);
    assert_eq!(node.sync_status().orphans, 0);
}

/// A peer that sends a tampered copy of a block (its transactions changed) is cut off and what
/// it announced forgotten; the honest peer is asked for its headers and the real block is
/// fetched from it.
#[test]
fn a_tampered_copy_does_not_make_the_honest_block_unwanted() {
    let (mut node, blocks) = setup(1);
    join(&mut node, 1, 1, more_work());
    join(&mut node, 2, 1, more_work());
    drain(&mut node);
    node.received(1, &frame(Message::Headers(vec![blocks[0].header])), NOW);
    let hash = blocks[0].block_hash();
    assert!(sent(&drain(&mut node), 1).contains(&Message::GetData(vec![Inventory::Block(hash)])));
    let mut tampered = blocks[0].clone();
    tampered.txs[0].outputs[0].amount = Amount::from_coins(1).unwrap();
    node.received(1, &frame(Message::Block(tampered)), NOW);
    let out = drain(&mut node);
    assert!(matches!(disconnected(&out).as_slice(), [DisconnectReason::InvalidBlock(BlockError::BadMerkleRoot)]));
    // What the liar announced is forgotten with it; the honest peer is asked what it has.
    assert!(sent(&out, 2).iter().any(|m| matches!(m, Message::GetHeaders(_))), "{:?}", sent(&out, 2));
    node.received(2, &frame(Message::Headers(vec![blocks[0].header])), NOW);
    assert!(sent(&drain(&mut node), 2).contains(&Message::GetData(vec![Inventory::Block(hash)])));
    node.received(2, &frame(Message::Block(blocks[0].clone())), NOW);
    assert_eq!(node.chain().unwrap().tip(), hash);
}

/// A block is served (by `getdata` and `getheaders`) only once the batch that stores it is
/// committed: a peer must never hold a block that a crash here would lose.
#[test]
fn only_committed_blocks_are_served() {
    let (mut node, blocks) = setup(1);
    join(&mut node, 1, 1, more_work());
    join(&mut node, 2, 0, Work::ZERO);
    drain(&mut node);
    let hash = blocks[0].block_hash();
    node.received(1, &frame(Message::Headers(vec![blocks[0].header])), NOW);
    node.received(1, &frame(Message::Block(blocks[0].clone())), NOW);
    let batch = drain(&mut node).into_iter().find_map(|o| match o {
        Output::Write { id, .. } => Some(id),
        _ => None,
    });
    let batch = batch.expect("the block is written");
    assert_eq!(node.chain().unwrap().tip(), hash);

    let from_genesis = Message::GetHeaders(GetHeaders { locator: vec![], stop: BlockHash::ZERO });
    node.received(2, &frame(Message::GetData(vec![Inventory::Block(hash)])), NOW);
    node.received(2, &frame(from_genesis.clone()), NOW);
    let before = sent(&drain(&mut node), 2);
    assert_eq!(before[0], Message::NotFound(vec![Inventory::Block(hash)]));
    assert!(matches!(&before[1], Message::Headers(h) if h.len() == 1), "only the genesis: {before:?}");

    node.batch_committed(batch);
    let announced = drain(&mut node);
    assert!(sent(&announced, 2).contains(&Message::Inv(vec![Inventory::Block(hash)])));
    assert!(sent(&announced, 1).is_empty(), "not back to its source");
    node.received(2, &frame(Message::GetData(vec![Inventory::Block(hash)])), NOW);
    node.received(2, &frame(from_genesis), NOW);
    let after = sent(&drain(&mut node), 2);
    assert_eq!(after[0], Message::Block(blocks[0].clone()));
    assert!(matches!(&after[1], Message::Headers(h) if h.len() == 2));
}
