//! The properties the fuzz targets in `fuzz/` check, one function per decoder. The stable test
//! suite replays the committed corpora through the same functions, so a crash the fuzzer found
//! stays fixed.
//!
//! Each check decodes arbitrary bytes (which must never panic) and, when they decode, checks
//! that the encoding is canonical: re-encoding gives back exactly the input.

use crate::address::Address;
use crate::amount::Amount;
use crate::block::Block;
use crate::encode::Encoding;
use crate::header::BlockHeader;
use crate::store::IndexRecord;
use crate::tx::Transaction;
use crate::utxo::{BlockUndo, Coin};
use crate::wallet::KeySet;

fn round_trip<T: Encoding>(data: &[u8]) {
    if let Ok(value) = T::from_bytes(data) {
        assert_eq!(value.to_bytes(), data, "the encoding is not canonical");
    }
}

pub fn transaction(data: &[u8]) {
    round_trip::<Transaction>(data);
    if let Ok(tx) = Transaction::from_bytes(data) {
        assert_eq!(tx.encoded_len(), data.len());
        let _ = tx.txid();
    }
}

pub fn block(data: &[u8]) {
    round_trip::<Block>(data);
    if let Ok(block) = Block::from_bytes(data) {
        assert_eq!(block.encoded_len(), data.len());
        let _ = crate::validation::check_block(&block, &crate::params::ChainParams::test());
    }
}

/// A protocol frame of the test network. Anything that decodes re-encodes to the same frame.
pub fn message(data: &[u8]) {
    let magic = crate::params::ChainParams::test().magic;
    if let Ok(message) = crate::protocol::Message::from_frame(data, magic) {
        assert_eq!(message.to_frame(magic), data, "the encoding is not canonical");
    }
}

pub fn header(data: &[u8]) {
    round_trip::<BlockHeader>(data);
    if let Ok(header) = BlockHeader::from_bytes(data) {
        let _ = header.bits.to_target().map(|t| (t.to_compact(), t.work()));
    }
}

/// The stored records: the first byte picks which.
pub fn store_record(data: &[u8]) {
    let Some((which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => round_trip::<Coin>(rest),
        1 => round_trip::<BlockUndo>(rest),
        2 => round_trip::<IndexRecord>(rest),
        _ => key_set(rest),
    }
}

/// A key set: version 2 round-trips; version 1 (private keys alone) is read, and written as
/// version 2 with the same keys. Its private keys read alone are the same either way.
fn key_set(data: &[u8]) {
    let Ok(keys) = KeySet::from_bytes(data) else { return };
    let encoded = keys.to_bytes();
    if data.first() == Some(&2) {
        assert_eq!(encoded, data, "the encoding is not canonical");
    }
    assert_eq!(KeySet::from_bytes(&encoded).as_ref(), Ok(&keys));
    assert_eq!(KeySet::secret_keys_from_bytes(data), KeySet::secret_keys_from_bytes(&encoded));
}

/// Signature jobs as a shell posts them to its checkers: decoding never panics, and what
/// decodes encodes to bytes that decode to the same jobs.
pub fn signature_jobs(data: &[u8]) {
    let jobs = crate::sigcheck::decode_jobs(data);
    let encoded = crate::sigcheck::encode_jobs(&jobs);
    assert!(encoded.len() <= data.len(), "jobs grew on re-encoding");
    assert_eq!(crate::sigcheck::decode_jobs(&encoded), jobs);
}

/// Text a user types: an address or an amount. Parsing never panics; what parses prints back
/// to something that parses to the same value.
pub fn user_text(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(address) = Address::parse_any(text) {
        assert_eq!(Address::parse_any(&address.to_string()), Ok(address));
    }
    if let Ok(amount) = text.parse::<Amount>() {
        assert_eq!(amount.to_string().parse::<Amount>(), Ok(amount));
    }
}

/// A wallet file (the relay's `wallet.dat`, a tab's export): what decodes re-encodes to the
/// same bytes, and a plain file's keys decode or fail without panicking.
pub fn wallet_file(data: &[u8]) {
    if let Ok(file) = crate::wallet_file::WalletFile::from_bytes(data) {
        assert_eq!(file.to_bytes(), data, "the encoding is not canonical");
        if let crate::wallet_file::WalletFile::Plain(keys) = file {
            let _ = KeySet::from_bytes(&keys);
        }
    }
}

/// The chain a fuzzed node session starts from: the genesis of the fuzz seeds (paying the key
/// of entropy `[1; 32]`, at 1,700,000,000 s), so the seeds' `version`, `block` and `tx` fit.
pub fn session_genesis(params: &crate::params::ChainParams) -> Option<Block> {
    let owner = crate::keys::SecretKey::from_entropy([1; 32]).public_key().pubkey_hash();
    crate::template::create_genesis(params, &Address::new(params.address_version, owner), 1_700_000_000).ok()
}

/// A node's session with up to four peers, driven by the input: its first byte picks the
/// signature mode, then come steps of a step byte, a two-byte big-endian length and that many
/// bytes. The step byte's low two bits pick connect, receive (the bytes are a frame), tick (the
/// length's first byte is seconds to move the clock) or disconnect; its next two bits the peer.
/// The shell's side is kept as a shell keeps it (ids are connected once, writes committed in
/// order, signatures checked). Nothing may panic, and what the node committed must restore to
/// the chain it holds. Returns the node's height at the end.
///
/// `genesis` is [`session_genesis`] of the test network, made once by the caller: deriving its
/// key is most of the cost of a short session.
pub fn node_session(genesis: &Block, data: &[u8]) -> Option<u32> {
    use crate::node::{Direction, Node, NodeConfig, Output};
    use crate::store::MemoryStore;

    let params = crate::params::ChainParams::test();
    let (chain, first) = crate::chain::ChainState::new(params.clone(), genesis.clone()).ok()?;
    let mut store = MemoryStore::new();
    store.apply(&first);
    let (mode, mut rest) = data.split_first()?;
    let config = NodeConfig {
        params: params.clone(),
        role: crate::protocol::Role::Relay,
        user_agent: "fuzz".into(),
        nonce: 1,
        parallel_signatures: mode & 1 == 1,
        allow_private_addresses: true,
    };
    let mut node = Node::new(config, Some(chain));
    let mut now_ms = 1_700_000_100_000u64;
    let mut connected = [false; 4];
    while let [step, high, low, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*high, *low])).min(tail.len());
        let (body, next) = tail.split_at(len);
        rest = next;
        let index = usize::from((step >> 2) & 3);
        let peer = index as u64 + 1;
        match step & 3 {
            0 if !connected[index] => {
                connected[index] = true;
                let direction = if step & 0x10 == 0 { Direction::Inbound } else { Direction::Outbound };
                node.peer_connected(peer, direction, format!("ws://127.0.0.{peer}:3000/ws"), now_ms);
            }
            1 if connected[index] => node.received(peer, body, now_ms),
            2 => {
                now_ms += u64::from(*high) * 1_000;
                node.tick(now_ms);
            }
            3 if connected[index] => {
                connected[index] = false;
                node.peer_disconnected(peer);
            }
            _ => {}
        }
        while let Some(output) = node.poll_output() {
            match output {
                Output::Write { id, batch } => {
                    store.apply(&batch);
                    node.batch_committed(id);
                }
                Output::Verify { id, jobs } => {
                    let results: Vec<bool> = jobs.iter().map(crate::sigcheck::SignatureJob::verify).collect();
                    node.signatures_verified(id, &results, now_ms);
                }
                Output::Disconnect { peer, .. } => {
                    if let Some(slot) = peer.checked_sub(1).and_then(|i| connected.get_mut(i as usize))
                        && *slot
                    {
                        *slot = false;
                        node.peer_disconnected(peer);
                    }
                }
                _ => {}
            }
        }
    }
    let restored = crate::chain::ChainState::load(params, &store);
    let restored = restored.as_ref().map(crate::chain::ChainState::tip).ok();
    assert_eq!(restored, node.chain().map(crate::chain::ChainState::tip), "the committed store restores another tip");
    node.chain().map(crate::chain::ChainState::height)
}
