//! Questions a wallet or explorer asks: an address's balance and history.

use crate::amount::Amount;
use crate::chain::{ChainState, HistoryEntry};
use crate::hash::{PubKeyHash, Txid};
use crate::mempool::Mempool;

/// An address's balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balance {
    /// What the best chain says.
    pub confirmed: Amount,
    /// What it will be once the mempool's transactions confirm.
    pub pending: Amount,
}

pub fn balance(chain: &ChainState, mempool: &Mempool, owner: &PubKeyHash) -> Balance {
    let confirmed = chain.balance(owner);
    let (incoming, outgoing) = mempool.pending(chain, owner);
    let pending = Amount::from_base_units(
        confirmed.base_units().saturating_add(incoming.base_units()).saturating_sub(outgoing.base_units()),
    );
    Balance { confirmed, pending }
}

/// One transaction in an address's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryItem {
    pub txid: Txid,
    /// `None` while it waits in the mempool.
    pub height: Option<u32>,
    pub received: Amount,
    pub sent: Amount,
}

impl From<&HistoryEntry> for HistoryItem {
    fn from(e: &HistoryEntry) -> Self {
        HistoryItem { txid: e.txid, height: Some(e.height), received: e.received, sent: e.sent }
    }
}

/// An address's transactions, newest first: unconfirmed ones, then confirmed by height.
pub fn history(chain: &ChainState, mempool: &Mempool, owner: &PubKeyHash) -> Vec<HistoryItem> {
    let mut items = Vec::new();
    for entry in mempool.entries().into_iter().rev() {
        let received =
            entry.tx.outputs.iter().filter(|o| o.pubkey_hash == *owner).map(|o| o.amount.base_units()).sum::<u64>();
        let sent = entry
            .tx
            .spends()
            .iter()
            .filter_map(|i| {
                chain.utxos().get(&i.prev_out).map(|c| c.output).or_else(|| {
                    mempool.get(&i.prev_out.txid).and_then(|p| p.tx.outputs.get(i.prev_out.vout as usize).copied())
                })
            })
            .filter(|o| o.pubkey_hash == *owner)
            .map(|o| o.amount.base_units())
            .sum::<u64>();
        if received > 0 || sent > 0 {
            items.push(HistoryItem {
                txid: entry.txid,
                height: None,
                received: Amount::from_base_units(received),
                sent: Amount::from_base_units(sent),
            });
        }
    }
    items.extend(chain.history(owner).iter().rev().map(HistoryItem::from));
    items
}
