//! A chain on the test network, with its mempool and the store its batches were written to.

use tabcoin_core::chain::BlockAccepted;
use tabcoin_core::store::MemoryStore;
use tabcoin_core::template::{BlockTemplate, TemplateSpec, build_template, create_genesis};
use tabcoin_core::wallet::{KeySet, PaymentRequest, build_payment};
use tabcoin_core::{
    Address, Amount, Block, BlockError, BlockHash, ChainParams, ChainState, Encoding, Mempool, MempoolError,
    PubKeyHash, SecretKey, Transaction,
};

/// The clock the tests start at.
pub const T0: u64 = 1_700_000_000;

pub fn coins(n: u64) -> Amount {
    Amount::from_coins(n).unwrap()
}

pub fn key(n: u8) -> SecretKey {
    SecretKey::from_entropy([n; 32])
}

pub fn owner(k: &SecretKey) -> PubKeyHash {
    k.public_key().pubkey_hash()
}

pub struct TestChain {
    pub chain: ChainState,
    pub mempool: Mempool,
    pub store: MemoryStore,
    pub now: u64,
    /// Keys every test spends with.
    pub keys: KeySet,
}

impl TestChain {
    pub fn new(genesis_owner: &SecretKey) -> TestChain {
        Self::with_params(ChainParams::test(), genesis_owner)
    }

    pub fn with_params(params: ChainParams, genesis_owner: &SecretKey) -> TestChain {
        let address = Address::new(params.address_version, owner(genesis_owner));
        let genesis = create_genesis(&params, &address, T0 as u32).unwrap();
        let (chain, batch) = ChainState::new(params, genesis).unwrap();
        let mut store = MemoryStore::new();
        store.apply(&batch);
        let mut keys = KeySet::new();
        for n in 0..8 {
            keys.insert(key(n), chain.params()).unwrap();
        }
        keys.insert(genesis_owner.clone(), chain.params()).unwrap();
        TestChain { chain, mempool: Mempool::new(), store, now: T0, keys }
    }

    pub fn address(&self, k: &SecretKey) -> Address {
        Address::new(self.chain.params().address_version, owner(k))
    }

    /// A template on `parent` with exactly `txs` (fees as given), the clock moved on.
    pub fn template_on(
        &mut self,
        parent: BlockHash,
        payee: &SecretKey,
        txs: Vec<Transaction>,
        fees: Amount,
    ) -> BlockTemplate {
        self.now += 5;
        let spec = TemplateSpec { parent, payee: owner(payee), now: self.now, txs, fees, message: Vec::new() };
        build_template(&self.chain, spec).unwrap()
    }

    /// A mined block on the tip with exactly `txs`.
    pub fn block_with(&mut self, payee: &SecretKey, txs: Vec<Transaction>) -> Block {
        let tip = self.chain.tip();
        self.template_on(tip, payee, txs, Amount::ZERO).mine().unwrap()
    }

    /// A mined block on `parent` with exactly `txs`.
    pub fn block_on(&mut self, parent: BlockHash, payee: &SecretKey, txs: Vec<Transaction>) -> Block {
        self.template_on(parent, payee, txs, Amount::ZERO).mine().unwrap()
    }

    /// Accepts a block as a node would: commit the batch, then update the mempool.
    pub fn accept(&mut self, block: Block) -> Result<BlockAccepted, BlockError> {
        let accepted = self.chain.accept_block(block, self.now)?;
        self.store.apply(&accepted.batch);
        self.mempool.update_for_chain(&self.chain, &accepted);
        Ok(accepted)
    }

    /// Mines the mempool's transactions on the tip, paying `payee`.
    pub fn mine(&mut self, payee: &SecretKey) -> Block {
        self.now += 5;
        let template =
            tabcoin_core::template::block_template(&self.chain, &self.mempool, owner(payee), self.now, Vec::new())
                .unwrap();
        let block = template.mine().unwrap();
        self.accept(block.clone()).unwrap();
        block
    }

    /// A signed payment from `from`'s unspent coins (confirmed, maturing or not, or in the
    /// mempool), paying exactly `fee` even below the network's policy (the wallet's own checks
    /// are left out, so that tests can see what the mempool and the chain make of any payment).
    pub fn pay(&self, from: &SecretKey, to: &SecretKey, amount: Amount, fee: Amount) -> Transaction {
        let coins = self.mempool.unspent_coins(&self.chain, &owner(from));
        let request = PaymentRequest { from: self.address(from), to: self.address(to), amount, fee };
        let any_fee = tabcoin_core::ChainParams {
            min_relay_fee_rate: tabcoin_core::FeeRate(0),
            dust_threshold: Amount::ZERO,
            ..self.chain.params().clone()
        };
        build_payment(&self.keys, &any_fee, &coins, &request).unwrap()
    }

    pub fn submit(&mut self, tx: Transaction) -> Result<(), MempoolError> {
        self.mempool.accept(tx, &self.chain).map(|_| ())
    }

    pub fn balance(&self, k: &SecretKey) -> Amount {
        self.chain.balance(&owner(k))
    }

    /// The invariants every test ends on: the UTXO set equals one rebuilt from the blocks, and
    /// the state restored from the store equals the live one.
    pub fn assert_consistent(&self) {
        let found = self.chain.utxo_discrepancies().unwrap();
        assert!(found.is_empty(), "UTXO set differs from the blocks: {found:?}");
        let loaded = ChainState::load(self.chain.params().clone(), &self.store).unwrap();
        assert_eq!(loaded.tip(), self.chain.tip());
        assert_eq!(loaded.height(), self.chain.height());
        assert_eq!(loaded.tip_work(), self.chain.tip_work());
        assert_eq!(loaded.utxos(), self.chain.utxos());
        assert!(loaded.utxo_discrepancies().unwrap().is_empty());
    }
}

/// Re-mines a block after its transactions or header were edited, keeping the edit.
pub fn remine(mut block: Block) -> Block {
    block.header.merkle_root = block.compute_merkle_root().0;
    let template = BlockTemplate { block, height: 0, fees: Amount::ZERO };
    template_mine_keep_commitments(template)
}

/// Mines without touching the coinbase commitment (so a test can break it on purpose).
pub fn template_mine_keep_commitments(template: BlockTemplate) -> Block {
    let search = tabcoin_core::mining::NonceSearch::new(&template.block.header).unwrap();
    match search.search(0, 1 << 32) {
        tabcoin_core::mining::SearchOutcome::Found { nonce, .. } => template.with_nonce(nonce),
        other => panic!("no nonce found: {other:?}"),
    }
}

/// Recomputes the witness commitment and Merkle root, then mines.
pub fn recommit_and_mine(block: Block) -> Block {
    let mut template = BlockTemplate { block, height: 0, fees: Amount::ZERO };
    template.recommit();
    template.mine().unwrap()
}

/// A block's encoding survives a decode (the bytes a peer would send).
pub fn via_wire(block: &Block) -> Block {
    Block::from_bytes(&block.to_bytes()).unwrap()
}
