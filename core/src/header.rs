//! The 80-byte block header, laid out exactly as Bitcoin's.

use crate::encode::{DecodeError, Encoding, Reader};
use crate::hash::{BlockHash, MerkleRoot};
use crate::pow::CompactTarget;

/// Encoded size of a header.
pub const HEADER_BYTES: usize = 80;

/// A block header: version, previous block hash, Merkle root, time, compact target, nonce;
/// integers little-endian.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockHeader {
    pub version: u32,
    pub prev_blockhash: BlockHash,
    pub merkle_root: MerkleRoot,
    /// Seconds since the Unix epoch.
    pub time: u32,
    pub bits: CompactTarget,
    pub nonce: u32,
}

impl BlockHeader {
    /// The header's 80 bytes.
    pub fn to_array(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        out[0..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..36].copy_from_slice(self.prev_blockhash.as_bytes());
        out[36..68].copy_from_slice(self.merkle_root.as_bytes());
        out[68..72].copy_from_slice(&self.time.to_le_bytes());
        out[72..76].copy_from_slice(&self.bits.0.to_le_bytes());
        out[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    /// SHA-256d of the 80 bytes.
    pub fn block_hash(&self) -> BlockHash {
        BlockHash::hash(&self.to_array())
    }
}

impl Encoding for BlockHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_array());
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockHeader {
            version: r.u32()?,
            prev_blockhash: BlockHash::decode_from(r)?,
            merkle_root: MerkleRoot::decode_from(r)?,
            time: r.u32()?,
            bits: CompactTarget(r.u32()?),
            nonce: r.u32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::from_hex_vec;

    /// Bitcoin's genesis header, as published.
    pub const BITCOIN_GENESIS_HEADER: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

    #[test]
    fn bitcoin_genesis_header_hashes_to_its_known_hash() {
        let bytes = from_hex_vec(BITCOIN_GENESIS_HEADER).unwrap();
        let header = BlockHeader::from_bytes(&bytes).unwrap();
        assert_eq!(header.version, 1);
        assert_eq!(header.time, 1231006505);
        assert_eq!(header.bits, CompactTarget(0x1d00ffff));
        assert_eq!(header.nonce, 2083236893);
        assert_eq!(header.merkle_root.to_string(), "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b");
        assert_eq!(header.block_hash().to_string(), "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
        assert!(header.bits.to_target().unwrap().is_met_by(&header.block_hash()));
        assert_eq!(header.to_bytes(), bytes);
    }

    #[test]
    fn bitcoin_block_100000_header() {
        let header = BlockHeader {
            version: 1,
            prev_blockhash: "000000000002d01c1fccc21636b607dfd930d31d01c3a62104612a1719011250".parse().unwrap(),
            merkle_root: "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766".parse().unwrap(),
            time: 1293623863,
            bits: CompactTarget(0x1b04864c),
            nonce: 274148111,
        };
        let hash = header.block_hash();
        assert_eq!(hash.to_string(), "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506");
        assert!(header.bits.to_target().unwrap().is_met_by(&hash));
        // One nonce off and the work is gone.
        let tampered = BlockHeader { nonce: header.nonce + 1, ..header };
        assert!(!header.bits.to_target().unwrap().is_met_by(&tampered.block_hash()));
    }

    proptest::proptest! {
        #[test]
        fn round_trip(bytes in proptest::prelude::any::<[u8; 80]>()) {
            // Every 80 bytes are a header, and encode back to themselves.
            let header = BlockHeader::from_bytes(&bytes).unwrap();
            proptest::prop_assert_eq!(header.to_array(), bytes);
        }
    }

    #[test]
    fn short_header_is_an_error() {
        assert!(matches!(BlockHeader::from_bytes(&[0u8; 79]), Err(DecodeError::UnexpectedEnd { .. })));
        assert_eq!(BlockHeader::from_bytes(&[0u8; 81]), Err(DecodeError::TrailingBytes(1)));
    }
}
