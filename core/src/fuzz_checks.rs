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
        _ => round_trip::<KeySet>(rest),
    }
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
