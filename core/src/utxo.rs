//! The set of unspent outputs, and the undo data that lets a block be disconnected.

use std::collections::{HashMap, HashSet};

use crate::amount::Amount;
use crate::encode::{DecodeError, Encoding, Reader, write_list};
use crate::hash::PubKeyHash;
use crate::sort;
use crate::tx::{OutPoint, TxOut};

/// An unspent output and where it was created.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Coin {
    pub output: TxOut,
    /// Height of the block that created it.
    pub height: u32,
    pub is_coinbase: bool,
}

const COIN_BYTES: usize = 8 + 20 + 4 + 1;

impl Encoding for Coin {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.output.encode_to(out);
        self.height.encode_to(out);
        out.push(u8::from(self.is_coinbase));
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let output = TxOut::decode_from(r)?;
        let height = r.u32()?;
        let is_coinbase = match r.u8()? {
            0 => false,
            1 => true,
            _ => {
                return Err(DecodeError::Invalid { what: "coin flags", reason: "must be 0 or 1" });
            }
        };
        Ok(Coin { output, height, is_coinbase })
    }
}

/// What a connected block spent, in the order its inputs spent it: enough to put the coins
/// back when the block is disconnected.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct BlockUndo {
    pub spent: Vec<Coin>,
}

impl Encoding for BlockUndo {
    fn encode_to(&self, out: &mut Vec<u8>) {
        write_list(out, &self.spent);
    }
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockUndo { spent: r.list("spent coins", usize::MAX, COIN_BYTES)? })
    }
}

/// The unspent outputs, with an index by owner so a balance costs what the owner holds.
#[derive(Clone, Debug, Default)]
pub struct UtxoSet {
    coins: HashMap<OutPoint, Coin>,
    by_owner: HashMap<PubKeyHash, HashSet<OutPoint>>,
}

impl PartialEq for UtxoSet {
    fn eq(&self, other: &Self) -> bool {
        self.coins == other.coins
    }
}

impl Eq for UtxoSet {}

impl UtxoSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.coins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.coins.is_empty()
    }

    pub fn get(&self, outpoint: &OutPoint) -> Option<&Coin> {
        self.coins.get(outpoint)
    }

    pub fn contains(&self, outpoint: &OutPoint) -> bool {
        self.coins.contains_key(outpoint)
    }

    /// Adds a coin; returns the coin it replaced, if any.
    pub fn insert(&mut self, outpoint: OutPoint, coin: Coin) -> Option<Coin> {
        self.by_owner.entry(coin.output.pubkey_hash).or_default().insert(outpoint);
        let replaced = self.coins.insert(outpoint, coin);
        if let Some(old) = &replaced
            && old.output.pubkey_hash != coin.output.pubkey_hash
        {
            self.forget_owner(&old.output.pubkey_hash, &outpoint);
        }
        replaced
    }

    pub fn remove(&mut self, outpoint: &OutPoint) -> Option<Coin> {
        let coin = self.coins.remove(outpoint)?;
        self.forget_owner(&coin.output.pubkey_hash, outpoint);
        Some(coin)
    }

    fn forget_owner(&mut self, owner: &PubKeyHash, outpoint: &OutPoint) {
        if let Some(set) = self.by_owner.get_mut(owner) {
            set.remove(outpoint);
            if set.is_empty() {
                self.by_owner.remove(owner);
            }
        }
    }

    /// The coins an owner holds, sorted by outpoint.
    pub fn coins_of(&self, owner: &PubKeyHash) -> Vec<(OutPoint, Coin)> {
        let mut coins: Vec<(OutPoint, Coin)> = self
            .by_owner
            .get(owner)
            .into_iter()
            .flatten()
            .filter_map(|op| self.coins.get(op).map(|c| (*op, *c)))
            .collect();
        sort::sort_by_key(&mut coins, |(op, _)| *op);
        coins
    }

    /// What an owner holds in total (saturating; real balances are far below u64::MAX).
    pub fn balance_of(&self, owner: &PubKeyHash) -> Amount {
        let units = self
            .by_owner
            .get(owner)
            .into_iter()
            .flatten()
            .filter_map(|op| self.coins.get(op))
            .fold(0u64, |sum, c| sum.saturating_add(c.output.amount.base_units()));
        Amount::from_base_units(units)
    }

    /// Every coin, sorted by outpoint.
    pub fn sorted(&self) -> Vec<(OutPoint, Coin)> {
        let mut all: Vec<(OutPoint, Coin)> = self.coins.iter().map(|(o, c)| (*o, *c)).collect();
        sort::sort_by_key(&mut all, |(op, _)| *op);
        all
    }

    pub fn iter(&self) -> impl Iterator<Item = (&OutPoint, &Coin)> {
        self.coins.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Txid;
    use proptest::prelude::*;

    fn coin(owner: u8, units: u64) -> Coin {
        Coin {
            output: TxOut { amount: Amount::from_base_units(units), pubkey_hash: PubKeyHash([owner; 20]) },
            height: 1,
            is_coinbase: false,
        }
    }

    #[test]
    fn owner_index_follows_inserts_and_removes() {
        let mut set = UtxoSet::new();
        let a = OutPoint { txid: Txid([1; 32]), vout: 0 };
        let b = OutPoint { txid: Txid([1; 32]), vout: 1 };
        set.insert(a, coin(1, 5));
        set.insert(b, coin(1, 7));
        assert_eq!(set.balance_of(&PubKeyHash([1; 20])), Amount::from_base_units(12));
        set.remove(&a);
        assert_eq!(set.coins_of(&PubKeyHash([1; 20])), vec![(b, coin(1, 7))]);
        set.insert(b, coin(2, 7));
        assert_eq!(set.balance_of(&PubKeyHash([1; 20])), Amount::ZERO);
        assert_eq!(set.balance_of(&PubKeyHash([2; 20])), Amount::from_base_units(7));
    }

    proptest! {
        #[test]
        fn coin_round_trip(units in any::<u64>(), owner in any::<[u8; 20]>(), height in any::<u32>(), cb in any::<bool>()) {
            let c = Coin { output: TxOut { amount: Amount::from_base_units(units), pubkey_hash: PubKeyHash(owner) }, height, is_coinbase: cb };
            prop_assert_eq!(Coin::from_bytes(&c.to_bytes()).unwrap(), c);
        }

        #[test]
        fn undo_round_trip(coins in prop::collection::vec((any::<u8>(), any::<u64>()), 0..10)) {
            let undo = BlockUndo { spent: coins.into_iter().map(|(o, u)| coin(o, u)).collect() };
            prop_assert_eq!(BlockUndo::from_bytes(&undo.to_bytes()).unwrap(), undo);
        }

        #[test]
        fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            let _ = Coin::from_bytes(&bytes);
            let _ = BlockUndo::from_bytes(&bytes);
        }
    }
}
