//! Blocks: a header and its transactions, coinbase first.

use crate::encode::{DecodeError, Encoding, Reader, write_list};
use crate::hash::{BlockHash, MerkleRoot};
use crate::header::{BlockHeader, HEADER_BYTES};
use crate::merkle::merkle_root;
use crate::tx::Transaction;

/// Most transactions a block may declare when decoded (its size limit binds earlier).
pub const MAX_BLOCK_TXS: usize = 1_000_000;
/// The smallest transaction that can be valid: a coinbase with an empty message and one output
/// (version 4, kind 1, height 4, extra nonce 8, witness root 32, message length 1, one output
/// 1 + 28). Every spend is larger (an input alone is 133 bytes). Bounding a block's declared
/// count by it keeps a block of tiny, never-valid transactions from decoding into many times
/// its size in memory before any rule is checked.
pub const MIN_TX_BYTES: usize = 4 + 1 + 4 + 8 + 32 + 1 + 1 + 28;

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Block {
    pub header: BlockHeader,
    pub txs: Vec<Transaction>,
}

impl Block {
    pub fn block_hash(&self) -> BlockHash {
        self.header.block_hash()
    }

    /// The Merkle root of the txids and whether the list is a duplicate-transaction mutation.
    pub fn compute_merkle_root(&self) -> (MerkleRoot, bool) {
        let txids: Vec<[u8; 32]> = self.txs.iter().map(|tx| tx.txid().0).collect();
        merkle_root(&txids)
    }

    /// The Merkle root of the wtxids (the coinbase's counted as zero), which the coinbase carries.
    pub fn compute_witness_root(&self) -> MerkleRoot {
        let wtxids: Vec<[u8; 32]> = self.txs.iter().map(|tx| tx.wtxid().0).collect();
        merkle_root(&wtxids).0
    }

    /// Bytes of the full encoding, computed without encoding.
    pub fn encoded_len(&self) -> usize {
        let count = self.txs.len();
        let prefix = match count {
            0..=0xfc => 1,
            0xfd..=0xffff => 3,
            _ => 5,
        };
        HEADER_BYTES + prefix + self.txs.iter().map(Transaction::encoded_len).sum::<usize>()
    }

    /// The height the coinbase claims, if there is a coinbase first.
    pub fn coinbase_height(&self) -> Option<u32> {
        self.txs.first().and_then(|tx| tx.coinbase()).map(|cb| cb.height)
    }
}

impl Encoding for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        write_list(out, &self.txs);
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = BlockHeader::decode_from(r)?;
        let count = r.list_len("transactions", MAX_BLOCK_TXS, MIN_TX_BYTES)?;
        // Reserved whole: the count is bounded by the bytes left, and growing by doubling would
        // hold both the old and the new list at once.
        let mut txs = Vec::with_capacity(count);
        for _ in 0..count {
            txs.push(Transaction::decode_from(r)?);
        }
        Ok(Block { header, txs })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hash::MerkleRoot;
    use crate::pow::CompactTarget;
    use crate::tx::tests::arb_tx;
    use proptest::prelude::*;

    pub(crate) fn arb_block() -> impl Strategy<Value = Block> {
        (
            any::<u32>(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(arb_tx(), 0..5),
        )
            .prop_map(|(version, prev, root, time, bits, nonce, txs)| Block {
                header: BlockHeader {
                    version,
                    prev_blockhash: BlockHash(prev),
                    merkle_root: MerkleRoot(root),
                    time,
                    bits: CompactTarget(bits),
                    nonce,
                },
                // Each at least as long as the smallest transaction that can be valid, as a
                // block's decoder requires.
                txs: txs
                    .into_iter()
                    .map(|mut tx: crate::tx::Transaction| {
                        while tx.encoded_len() < MIN_TX_BYTES {
                            tx.outputs.push(crate::tx::TxOut {
                                amount: crate::amount::Amount::ZERO,
                                pubkey_hash: crate::hash::PubKeyHash([0; 20]),
                            });
                        }
                        tx
                    })
                    .collect(),
            })
    }

    #[test]
    fn more_transactions_than_could_be_valid_in_the_bytes_are_refused_before_decoding() {
        // The header, a count of 1,000 and 1,000 seven-byte transactions (version, kind, two
        // empty lists): never valid, and 1,000 of them need 79,000 bytes to be.
        let mut bytes = vec![0u8; 80];
        crate::encode::write_compact_size(&mut bytes, 1_000);
        for _ in 0..1_000 {
            bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0]);
        }
        assert!(matches!(Block::from_bytes(&bytes), Err(DecodeError::UnexpectedEnd { needed: 79_000, .. })));
    }

    proptest! {
        #[test]
        fn round_trip(block in arb_block()) {
            let bytes = block.to_bytes();
            prop_assert_eq!(bytes.len(), block.encoded_len());
            prop_assert_eq!(Block::from_bytes(&bytes).unwrap(), block);
        }

        #[test]
        fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = Block::from_bytes(&bytes);
        }

        #[test]
        fn trailing_bytes_are_rejected(block in arb_block(), extra in 1..8usize) {
            let mut bytes = block.to_bytes();
            bytes.extend(std::iter::repeat_n(0u8, extra));
            prop_assert_eq!(Block::from_bytes(&bytes), Err(DecodeError::TrailingBytes(extra)));
        }
    }
}
