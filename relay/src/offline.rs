//! Verbs answered by the CLI process itself when no node is running: it opens the store.

use std::path::{Path, PathBuf};

use tabcoin_core::chain::LoadError;
use tabcoin_core::params::ChainParams;
use tabcoin_core::template::{block_template, create_genesis};
use tabcoin_core::wallet::KeySet;
use tabcoin_core::{ChainState, Mempool};

use crate::store::Store;
use crate::verbs::{self, Verb, VerbError};
use crate::wallet_file;

pub fn store_path(datadir: &Path) -> PathBuf {
    datadir.join("chain.redb")
}

pub fn wallet_path(datadir: &Path) -> PathBuf {
    datadir.join("wallet.dat")
}

/// The passphrase of the wallet file, if the user set one.
pub fn passphrase() -> Option<String> {
    std::env::var("TABCOIN_PASSPHRASE").ok().filter(|p| !p.is_empty())
}

/// Adds a fresh key to the wallet file and returns its address.
pub fn create_address(
    datadir: &Path,
    params: &ChainParams,
    passphrase: Option<&str>,
) -> Result<tabcoin_core::Address, VerbError> {
    let path = wallet_path(datadir);
    let mut keys = wallet_file::load(&path, passphrase)?;
    let address = keys
        .generate(wallet_file::random_bytes()?, params)
        .map_err(|e| VerbError::Failed(format!("cannot add an address: {e}")))?;
    wallet_file::save(&path, &keys, passphrase)?;
    Ok(address)
}

pub fn load_keys(datadir: &Path, passphrase: Option<&str>) -> Result<KeySet, VerbError> {
    Ok(wallet_file::load(&wallet_path(datadir), passphrase)?)
}

/// Opens the store and restores the chain from it (`None`: no chain yet).
pub fn open_chain(datadir: &Path, params: &ChainParams) -> Result<(Store, Option<ChainState>), VerbError> {
    std::fs::create_dir_all(datadir)
        .map_err(|e| VerbError::Failed(format!("cannot create {}: {e}", datadir.display())))?;
    let store = Store::open(&store_path(datadir))?;
    let memory = store.load()?;
    if memory.is_empty() {
        // A network with a fixed genesis (main) starts from it: nothing to create or adopt.
        let Some(started) = ChainState::from_pinned_genesis(params) else { return Ok((store, None)) };
        let (chain, batch) =
            started.map_err(|e| VerbError::Failed(format!("the network's fixed genesis block is refused: {e}")))?;
        store.commit([&batch])?;
        return Ok((store, Some(chain)));
    }
    let chain = ChainState::load(params.clone(), &memory).map_err(|error| match error {
        LoadError::RulesChanged { .. } => VerbError::Failed(format!(
            "{error}.\nTo start over, move {} aside (the wallet, {}, stays: its keys are valid on the new \
             chain), then create a chain (`tabcoin createblockchain --address ADDR`) or adopt a peer's \
             (`tabcoin startnode --peer URL`).",
            store_path(datadir).display(),
            wallet_path(datadir).display()
        )),
        other => VerbError::Load(other),
    })?;
    Ok((store, Some(chain)))
}

/// Creates the chain, its genesis paying `address`, and stores it.
pub fn create_chain(
    store: &Store,
    params: &ChainParams,
    address: &tabcoin_core::Address,
) -> Result<ChainState, VerbError> {
    let genesis = create_genesis(params, address, verbs::now_secs() as u32)
        .map_err(|e| VerbError::Failed(format!("cannot make the genesis block: {e}")))?;
    let (chain, batch) =
        ChainState::new(params.clone(), genesis).map_err(|e| VerbError::Failed(format!("genesis refused: {e}")))?;
    store.commit([&batch])?;
    Ok(chain)
}

pub fn execute(verb: &Verb, datadir: &Path, params: &ChainParams) -> Result<String, VerbError> {
    let passphrase = passphrase();
    let passphrase = passphrase.as_deref();
    match verb {
        Verb::CreateWallet => {
            std::fs::create_dir_all(datadir)
                .map_err(|e| VerbError::Failed(format!("cannot create {}: {e}", datadir.display())))?;
            Ok(format!("Your new address: {}", create_address(datadir, params, passphrase)?))
        }
        Verb::ListAddresses => Ok(verbs::addresses_text(&load_keys(datadir, passphrase)?, params)),
        Verb::CreateBlockchain { address } => {
            if params.pinned_genesis.is_some() {
                return Err(VerbError::FixedGenesis);
            }
            let address = verbs::parse_address(address, params)?;
            let (store, chain) = open_chain(datadir, params)?;
            if chain.is_some() {
                return Err(VerbError::ChainExists);
            }
            let chain = create_chain(&store, params, &address)?;
            Ok(format!("Done! Created the chain; genesis {} pays {address}", chain.tip()))
        }
        Verb::GetBalance { address } => {
            let (_, chain) = open_chain(datadir, params)?;
            verbs::balance_text(&chain.ok_or(VerbError::NoChain)?, &Mempool::new(), address)
        }
        Verb::PrintChain => {
            let (_, chain) = open_chain(datadir, params)?;
            Ok(verbs::chain_text(&chain.ok_or(VerbError::NoChain)?))
        }
        Verb::ReindexUtxo => {
            let (store, chain) = open_chain(datadir, params)?;
            let mut chain = chain.ok_or(VerbError::NoChain)?;
            let (found, batch) =
                chain.reindex_utxo_set().map_err(|e| VerbError::Failed(format!("cannot rebuild: {e}")))?;
            store.commit([&batch])?;
            Ok(verbs::reindex_text(&found, !found.is_empty()))
        }
        Verb::Send { from, to, amount, fee, mine } => {
            if !mine {
                return Err(VerbError::NeedsNode(
                    "the node is not running, so nobody would relay this payment: start `tabcoin startnode`, or add --mine to mine it here",
                ));
            }
            let keys = load_keys(datadir, passphrase)?;
            let (store, chain) = open_chain(datadir, params)?;
            let mut chain = chain.ok_or(VerbError::NoChain)?;
            let mut mempool = Mempool::new();
            let (tx, sender) = verbs::build_send(&keys, &chain, &mempool, from, to, amount, fee)?;
            let txid = mempool.accept(tx, &chain).map_err(VerbError::Refused)?.txid;
            let now = verbs::now_secs();
            let block = block_template(&chain, &mempool, sender.pubkey_hash, now, Vec::new())
                .map_err(|e| VerbError::Failed(format!("cannot build the block: {e}")))?
                .mine()
                .map_err(|e| VerbError::Failed(format!("cannot mine: {e}")))?;
            let hash = block.block_hash();
            let accepted =
                chain.accept_block(block, now).map_err(|e| VerbError::Failed(format!("mined block refused: {e}")))?;
            store.commit([&accepted.batch])?;
            Ok(format!("Success! Transaction {txid} mined in block {hash} at height {}", chain.height()))
        }
    }
}
