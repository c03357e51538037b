//! Blocks: a header and its transactions, coinbase first.

use crate::encode::{DecodeError, Encoding, Reader, write_list};
use crate::hash::{BlockHash, MerkleRoot};
use crate::header::{BlockHeader, HEADER_BYTES};
use crate::merkle::merkle_root;
use crate::tx::Transaction;

/// Most transactions a block may declare when decoded (its size limit binds earlier).
pub const MAX_BLOCK_TXS: usize = 1_000_000;
/// The smallest encoded transaction: version, kind, and two empty lists.
const MIN_TX_BYTES: usize = 4 + 1 + 1 + 1;

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
        Ok(Block { header: BlockHeader::decode_from(r)?, txs: r.list("transactions", MAX_BLOCK_TXS, MIN_TX_BYTES)? })
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
                txs,
            })
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
