//! The tab's miner: which address its blocks pay and when it mines. The nonce search itself
//! runs in the node's Web Workers ([`crate::workers`]).

use tabcoin_core::Address;
use tabcoin_core::node::MiningPolicy;

use crate::node::TabNode;
use crate::wallet::WalletError;

impl TabNode {
    /// Mines blocks paying `payee` by `policy` (the seed's "mine when the mempool holds 2", or
    /// continuously) until [`TabNode::stop_mining`].
    pub fn start_mining(&self, payee: &str, policy: MiningPolicy) -> Result<(), WalletError> {
        let payee = self.parse_address(payee)?;
        {
            let mut inner = self.inner.borrow_mut();
            inner.node.set_mining(Some((payee.pubkey_hash, policy)));
            inner.mining = Some((payee, policy));
        }
        self.pump();
        Ok(())
    }

    pub fn stop_mining(&self) {
        {
            let mut inner = self.inner.borrow_mut();
            inner.node.set_mining(None);
            inner.mining = None;
        }
        self.pump();
    }

    /// Mines one block now with what the mempool holds (the seed's `send -mine`).
    pub fn mine_once(&self, payee: &str) -> Result<(), WalletError> {
        let payee = self.parse_address(payee)?;
        self.inner.borrow_mut().node.mine_once(payee.pubkey_hash);
        self.pump();
        Ok(())
    }

    /// Whom the miner pays and by which policy, while it is on.
    pub fn mining(&self) -> Option<(Address, MiningPolicy)> {
        self.inner.borrow().mining
    }

    /// Blocks this tab mined since it opened.
    pub fn blocks_mined(&self) -> u32 {
        self.inner.borrow().blocks_mined
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use tabcoin_core::node::{Event, MiningPolicy};
    use tabcoin_core::params::ChainParams;
    use tabcoin_core::protocol::Role;
    use tabcoin_core::{ChainState, SecretKey};
    use wasm_bindgen_test::*;

    use crate::node::TabNode;
    use crate::node::tests::{RELAY, relay_height, sleep, wait_for};

    /// The tab mines a block with its Web Workers; the relay takes it and a second tab gets it.
    #[wasm_bindgen_test]
    async fn a_tab_mines_a_block_in_its_workers_and_the_relay_takes_it() {
        let url = RELAY.expect("this test needs the relay scripts/test.sh starts");
        let miner_id = format!("test-miner-{}", (js_sys::Math::random() * 1e15) as u64);
        let miner = TabNode::start(&miner_id, url, ChainParams::test(), Role::Miner, None).await.unwrap();
        assert!(miner.worker_count() >= 1);
        miner.set_worker_count(2);
        assert_eq!(miner.worker_count(), 2);
        wait_for("sync", || miner.height().is_some_and(|h| h >= relay_height()) && miner.settled()).await;
        let payee = tabcoin_core::Address::new(
            ChainParams::test().address_version,
            SecretKey::from_entropy([77; 32]).public_key().pubkey_hash(),
        )
        .to_string();
        assert!(miner.start_mining("not an address", MiningPolicy::Continuous).is_err());
        assert!(miner.mining().is_none());
        miner.take_events();
        miner.mine_once(&payee).unwrap();
        wait_for("the block the workers mined", || miner.blocks_mined() == 1).await;
        let events = miner.take_events();
        let Some((hash, height)) = events.iter().find_map(|e| match e {
            Event::Mined { hash, height, .. } => Some((*hash, *height)),
            _ => None,
        }) else {
            panic!("no Mined event: {events:?}")
        };
        wait_for("the mined block's commit", || miner.settled()).await;
        assert!(miner.with_node(|n| n.chain().is_some_and(|c| c.is_active(&hash))));

        // Another tab syncing from the relay gets that block: the relay took it.
        let reader_id = format!("{miner_id}-reader");
        let reader = TabNode::start(&reader_id, url, ChainParams::test(), Role::Wallet, None).await.unwrap();
        wait_for("the reader to get the mined block", || {
            reader.with_node(|n| n.chain().is_some_and(|c| c.height() >= height && c.is_active(&hash)))
        })
        .await;
        assert!(reader.with_node(|n| n.chain().map(ChainState::height)) >= Some(height));
        miner.stop();
        reader.stop();
        for id in [&miner_id, &reader_id] {
            for _ in 0..100 {
                if TabNode::forget(id).await.is_ok() {
                    break;
                }
                sleep(20).await;
            }
        }
    }
}
