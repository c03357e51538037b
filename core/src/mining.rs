//! The nonce search: a pure function over a nonce range that a thread or a Web Worker runs.
//!
//! The header's first 64 bytes do not depend on the nonce, so their SHA-256 compression is done
//! once per template (the midstate); each nonce then costs two compressions instead of three.

use sha2::block_api::compress256;

use crate::hash::BlockHash;
use crate::header::{BlockHeader, HEADER_BYTES};
use crate::pow::{Target, TargetError};

const SHA256_INIT: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// Where the nonce sits in the header's second 64-byte block.
const NONCE_OFFSET: usize = 76 - 64;

/// A header prepared for searching nonces.
#[derive(Clone, Debug)]
pub struct NonceSearch {
    midstate: [u32; 8],
    /// Header bytes 64..80 followed by SHA-256 padding for an 80-byte message.
    tail: [u8; 64],
    target: Target,
    target_top: u32,
}

/// What a search over a range found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchOutcome {
    Found {
        nonce: u32,
        hash: BlockHash,
    },
    /// No nonce in the range met the target; `tried` nonces were hashed.
    Exhausted {
        tried: u64,
    },
}

impl NonceSearch {
    /// Prepares `header` (its nonce is ignored) for searching against its own `bits`.
    pub fn new(header: &BlockHeader) -> Result<Self, TargetError> {
        let target = header.bits.to_target()?;
        let bytes = header.to_array();
        let mut first = [0u8; 64];
        first.copy_from_slice(&bytes[..64]);
        let mut midstate = SHA256_INIT;
        compress256(&mut midstate, &[first]);

        let mut tail = [0u8; 64];
        tail[..HEADER_BYTES - 64].copy_from_slice(&bytes[64..]);
        tail[HEADER_BYTES - 64] = 0x80;
        tail[56..].copy_from_slice(&((HEADER_BYTES as u64) * 8).to_be_bytes());

        let target_be = target.to_be_bytes();
        let target_top = u32::from_be_bytes([target_be[0], target_be[1], target_be[2], target_be[3]]);
        Ok(NonceSearch { midstate, tail, target, target_top })
    }

    /// The padded block of the second SHA-256, with its 32 digest bytes still to fill in.
    fn second_block_template() -> [u8; 64] {
        let mut second = [0u8; 64];
        second[32] = 0x80;
        second[56..].copy_from_slice(&256u64.to_be_bytes());
        second
    }

    /// The final hash's state words for `nonce`, reusing the caller's block buffers: only the
    /// nonce and the first digest change from one nonce to the next.
    #[inline]
    fn hash_state_with(&self, nonce: u32, tail: &mut [u8; 64], second: &mut [u8; 64]) -> [u32; 8] {
        tail[NONCE_OFFSET..NONCE_OFFSET + 4].copy_from_slice(&nonce.to_le_bytes());
        let mut state = self.midstate;
        compress256(&mut state, core::slice::from_ref(tail));
        for (i, word) in state.iter().enumerate() {
            second[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
        }
        let mut out = SHA256_INIT;
        compress256(&mut out, core::slice::from_ref(second));
        out
    }

    fn state_to_hash(state: &[u32; 8]) -> BlockHash {
        let mut bytes = [0u8; 32];
        for (i, word) in state.iter().enumerate() {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
        }
        BlockHash(bytes)
    }

    /// The block hash the header would have with `nonce`.
    pub fn hash_with_nonce(&self, nonce: u32) -> BlockHash {
        let mut tail = self.tail;
        let mut second = Self::second_block_template();
        Self::state_to_hash(&self.hash_state_with(nonce, &mut tail, &mut second))
    }

    /// Tries `count` nonces from `start` (wrapping is not done: the range ends at u32::MAX).
    pub fn search(&self, start: u32, count: u64) -> SearchOutcome {
        let end = u64::from(start).saturating_add(count).min(1u64 << 32);
        let mut tail = self.tail;
        let mut second = Self::second_block_template();
        let mut nonce = u64::from(start);
        while nonce < end {
            let n = nonce as u32;
            let state = self.hash_state_with(n, &mut tail, &mut second);
            // The hash read as a little-endian number has its top 32 bits in the last word,
            // byte-swapped: compare those first and only build the hash on a near miss.
            let top = state[7].swap_bytes();
            if top <= self.target_top {
                let hash = Self::state_to_hash(&state);
                if self.target.is_met_by(&hash) {
                    return SearchOutcome::Found { nonce: n, hash };
                }
            }
            nonce += 1;
        }
        SearchOutcome::Exhausted { tried: end.saturating_sub(u64::from(start)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::Encoding;
    use crate::hash::from_hex_vec;
    use crate::pow::CompactTarget;
    use proptest::prelude::*;

    fn bitcoin_genesis() -> BlockHeader {
        let bytes = from_hex_vec("0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c").unwrap();
        BlockHeader::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn finds_bitcoins_genesis_nonce() {
        let header = bitcoin_genesis();
        let search = NonceSearch::new(&header).unwrap();
        let outcome = search.search(header.nonce - 1000, 2000);
        assert_eq!(outcome, SearchOutcome::Found { nonce: header.nonce, hash: header.block_hash() });
    }

    #[test]
    fn exhausts_a_range_without_a_solution() {
        let header = bitcoin_genesis();
        let search = NonceSearch::new(&header).unwrap();
        assert_eq!(search.search(0, 1000), SearchOutcome::Exhausted { tried: 1000 });
        assert_eq!(search.search(u32::MAX - 1, 1000), SearchOutcome::Exhausted { tried: 2 });
        assert_eq!(search.search(u32::MAX, u64::MAX), SearchOutcome::Exhausted { tried: 1 });
    }

    #[test]
    fn easy_target_is_found_quickly() {
        let header = BlockHeader { bits: CompactTarget(0x207fffff), ..bitcoin_genesis() };
        let search = NonceSearch::new(&header).unwrap();
        match search.search(0, 1000) {
            SearchOutcome::Found { nonce, hash } => {
                assert_eq!(BlockHeader { nonce, ..header }.block_hash(), hash);
                assert!(header.bits.to_target().unwrap().is_met_by(&hash));
            }
            other => panic!("no block found: {other:?}"),
        }
    }

    proptest! {
        #[test]
        fn midstate_hash_equals_full_hash(version in any::<u32>(), time in any::<u32>(), nonce in any::<u32>(), root in any::<[u8; 32]>()) {
            let header = BlockHeader {
                version,
                time,
                nonce,
                merkle_root: crate::hash::MerkleRoot(root),
                ..bitcoin_genesis()
            };
            let search = NonceSearch::new(&header).unwrap();
            prop_assert_eq!(search.hash_with_nonce(nonce), header.block_hash());
        }
    }
}
