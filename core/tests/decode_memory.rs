//! A `block` message decodes into at most four times its size on the wire, whatever a peer
//! packs into it: every byte allocated (dhat's testing mode) while `Message::from_frame`
//! decodes a frame, as a node does before any rule is checked, is counted.

use tabcoin_core::block::MIN_TX_BYTES;
use tabcoin_core::encode::write_compact_size;
use tabcoin_core::params::ChainParams;
use tabcoin_core::protocol::{MAX_PAYLOAD_BYTES, Message};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// A frame of the `block` command around `payload`, in main's magic.
fn block_frame(payload: &[u8]) -> Vec<u8> {
    let magic = ChainParams::main().magic;
    let mut frame = magic.to_vec();
    let mut command = [0u8; 12];
    command[..5].copy_from_slice(b"block");
    frame.extend_from_slice(&command);
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&tabcoin_core::hash::sha256d(payload)[..4]);
    frame.extend_from_slice(payload);
    frame
}

/// A payload of a header and `count` copies of `tx`, padded with `tail` to the payload limit.
fn payload(count: usize, tx: &[u8], tail: u8) -> Vec<u8> {
    let mut bytes = vec![0u8; 80];
    write_compact_size(&mut bytes, count as u64);
    for _ in 0..count {
        bytes.extend_from_slice(tx);
    }
    bytes.resize(MAX_PAYLOAD_BYTES.max(bytes.len()), tail);
    bytes.truncate(MAX_PAYLOAD_BYTES);
    bytes
}

/// Bytes allocated while decoding `frame` (whether it decodes or not): an upper bound on how
/// far the heap grew, since nothing allocated before is counted.
fn allocated_while_decoding(frame: &[u8]) -> u64 {
    let before = dhat::HeapStats::get().total_bytes;
    let decoded = Message::from_frame(frame, ChainParams::main().magic);
    let allocated = dhat::HeapStats::get().total_bytes - before;
    drop(decoded);
    allocated
}

#[test]
fn a_block_message_decodes_into_at_most_four_times_its_wire_size() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // A coinbase-shaped transaction of the smallest valid size: version, kind 1, height,
    // extra nonce, witness root, empty message, one output.
    let mut coinbase = vec![1, 0, 0, 0, 1];
    coinbase.extend_from_slice(&[0; 4 + 8 + 32]);
    coinbase.push(0);
    coinbase.push(1);
    coinbase.extend_from_slice(&[0; 28]);
    assert_eq!(coinbase.len(), MIN_TX_BYTES);
    // A spend with one input and no output (never valid, 140 bytes).
    let mut spend = vec![1, 0, 0, 0, 0, 1];
    spend.extend_from_slice(&[0; 36]);
    spend.push(2);
    spend.extend_from_slice(&[1; 32]);
    spend.extend_from_slice(&[1; 64]);
    spend.push(0);
    // The empty transaction: version, kind 0, no inputs, no outputs (7 bytes).
    let empty = [1, 0, 0, 0, 0, 0, 0];

    let room = MAX_PAYLOAD_BYTES - 80 - 5;
    let cases = [
        ("as many minimal coinbases as fit", payload(room / coinbase.len(), &coinbase, 0)),
        ("as many one-input spends as fit", payload(room / spend.len(), &spend, 0)),
        ("a count as large as the bytes allow, of empty transactions", payload(room / MIN_TX_BYTES, &empty, 0)),
        ("as many empty transactions as fit", payload(room / empty.len(), &empty, 0)),
    ];
    for (what, payload) in cases {
        let frame = block_frame(&payload);
        let peak = allocated_while_decoding(&frame);
        println!("{what}: {peak} bytes allocated for a frame of {} bytes", frame.len());
        assert!(peak <= 4 * frame.len() as u64, "{what}: {peak} bytes allocated for a {}-byte frame", frame.len());
    }
}
