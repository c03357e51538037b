//! Merkle roots by Bitcoin's rule: pair hashes level by level, pairing an odd last hash with
//! itself. That rule lets two different transaction lists share a root (CVE-2012-2459: repeat
//! the last transactions of a level); the computation reports such a repeat as a mutation.

use crate::hash::{MerkleRoot, sha256d};

/// The Merkle root of `leaves`, and whether two identical hashes were paired at some level (the
/// duplicate-transaction mutation). An empty list has the all-zero root.
pub fn merkle_root(leaves: &[[u8; 32]]) -> (MerkleRoot, bool) {
    if leaves.is_empty() {
        return (MerkleRoot::ZERO, false);
    }
    let mut level: Vec<[u8; 32]> = leaves.to_vec();
    let mut mutated = false;
    let mut pair = [0u8; 64];
    while level.len() > 1 {
        // A repeated pair at an even position would reproduce the odd-node duplication.
        for i in (0..level.len() - 1).step_by(2) {
            if level[i] == level[i + 1] {
                mutated = true;
            }
        }
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for chunk in level.chunks(2) {
            let left = &chunk[0];
            let right = chunk.get(1).unwrap_or(left);
            pair[..32].copy_from_slice(left);
            pair[32..].copy_from_slice(right);
            next.push(sha256d(&pair));
        }
        level = next;
    }
    (MerkleRoot(level[0]), mutated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Txid;

    fn txids(list: &[&str]) -> Vec<[u8; 32]> {
        list.iter().map(|s| s.parse::<Txid>().unwrap().0).collect()
    }

    #[test]
    fn bitcoin_block_100000_root() {
        let leaves = txids(&[
            "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
            "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
            "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
            "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
        ]);
        let (root, mutated) = merkle_root(&leaves);
        assert_eq!(root.to_string(), "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766");
        assert!(!mutated);
    }

    #[test]
    fn bitcoin_genesis_root_is_its_only_txid() {
        let leaves = txids(&["4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"]);
        assert_eq!(
            merkle_root(&leaves).0.to_string(),
            "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
        );
    }

    #[test]
    fn bitcoin_block_170_root() {
        // The first block with a transaction between people: two txids.
        let leaves = txids(&[
            "b1fea52486ce0c62bb442b530a3f0132b826c74e473d1f2c220bfa78111c5082",
            "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16",
        ]);
        assert_eq!(
            merkle_root(&leaves).0.to_string(),
            "7dac2c5666815c17a3b36427de37bb9d2e2c5ccec3f8633eb91a4205cb4c10ff"
        );
    }

    /// The reference: a plain recursive statement of Bitcoin's rule.
    fn reference_root(level: &[[u8; 32]]) -> [u8; 32] {
        if level.len() == 1 {
            return level[0];
        }
        let mut next = Vec::new();
        let mut i = 0;
        while i < level.len() {
            let right = if i + 1 < level.len() { level[i + 1] } else { level[i] };
            let mut pair = level[i].to_vec();
            pair.extend_from_slice(&right);
            next.push(sha256d(&pair));
            i += 2;
        }
        reference_root(&next)
    }

    #[test]
    fn roots_for_1_to_17_transactions() {
        for n in 1..=17u8 {
            let leaves: Vec<[u8; 32]> = (0..n).map(|i| sha256d(&[i])).collect();
            let (root, mutated) = merkle_root(&leaves);
            assert_eq!(root.0, reference_root(&leaves), "{n} leaves");
            assert!(!mutated, "{n} distinct leaves are not a mutation");
        }
    }

    #[test]
    fn duplicated_tail_has_the_same_root_and_is_flagged() {
        // [a b c] and [a b c c] share a root: the attack. The second must be flagged.
        let leaves: Vec<[u8; 32]> = (0..3u8).map(|i| sha256d(&[i])).collect();
        let mut mutated_list = leaves.clone();
        mutated_list.push(leaves[2]);
        let (root, mutated) = merkle_root(&leaves);
        let (root2, mutated2) = merkle_root(&mutated_list);
        assert_eq!(root, root2);
        assert!(!mutated);
        assert!(mutated2);

        // Six leaves, last two repeated as a pair at the next level: [1..6] vs [1..6, 5, 6].
        let six: Vec<[u8; 32]> = (0..6u8).map(|i| sha256d(&[i])).collect();
        let mut eight = six.clone();
        eight.extend_from_slice(&six[4..6]);
        assert_eq!(merkle_root(&six).0, merkle_root(&eight).0);
        assert!(merkle_root(&eight).1);
    }
}
