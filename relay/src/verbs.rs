//! The seed's CLI verbs, worked out against a chain state, a mempool and the wallet. The same
//! code answers them in the running node (through the RPC) and in the CLI process when the
//! node is not running.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use tabcoin_core::chain::LoadError;
use tabcoin_core::params::ChainParams;
use tabcoin_core::wallet::{KeySet, PaymentError, PaymentInputError, PaymentRequest, plan_as_typed};
use tabcoin_core::{Address, AddressError, ChainState, Mempool, MempoolError, Transaction, query};

use crate::cli::Command;
use crate::store::StoreError;
use crate::wallet_file::WalletError;

/// A verb as the RPC carries it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Verb {
    CreateBlockchain { address: String },
    CreateWallet,
    ListAddresses,
    GetBalance { address: String },
    Send { from: String, to: String, amount: String, fee: String, mine: bool },
    PrintChain,
    ReindexUtxo,
}

impl Verb {
    /// Every command but `startnode`.
    pub fn from_command(command: &Command) -> Option<Verb> {
        Some(match command {
            Command::Createblockchain { address } => Verb::CreateBlockchain { address: address.clone() },
            Command::Createwallet => Verb::CreateWallet,
            Command::Listaddresses => Verb::ListAddresses,
            Command::Getbalance { address } => Verb::GetBalance { address: address.clone() },
            Command::Send { from, to, amount, fee, mine } => {
                Verb::Send { from: from.clone(), to: to.clone(), amount: amount.clone(), fee: fee.clone(), mine: *mine }
            }
            Command::Printchain => Verb::PrintChain,
            Command::Reindexutxo => Verb::ReindexUtxo,
            Command::Startnode(_) => return None,
        })
    }
}

/// Why a verb failed.
#[derive(Debug)]
pub enum VerbError {
    BadAddress {
        input: String,
        error: AddressError,
    },
    BadPayment(PaymentInputError),
    Payment(PaymentError),
    Refused(MempoolError),
    Wallet(WalletError),
    Store(StoreError),
    Load(LoadError),
    NoChain,
    ChainExists,
    /// The network's genesis is fixed (main): no chain is created.
    FixedGenesis,
    /// The verb needs the running node.
    NeedsNode(&'static str),
    /// Anything else, said in words.
    Failed(String),
}

impl std::fmt::Display for VerbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerbError::BadAddress { input, error } => write!(f, "{input:?} is not a valid address: {error}"),
            VerbError::BadPayment(e) => e.fmt(f),
            VerbError::Payment(e) => write!(f, "cannot pay: {e}"),
            VerbError::Refused(e) => write!(f, "the transaction was refused: {e}"),
            VerbError::Wallet(e) => e.fmt(f),
            VerbError::Store(e) => e.fmt(f),
            VerbError::Load(e) => write!(f, "the stored chain cannot be read: {e}"),
            VerbError::NoChain => f.write_str("there is no chain yet: run `tabcoin createblockchain --address ADDR`"),
            VerbError::ChainExists => f.write_str("a chain exists already in this data directory"),
            VerbError::FixedGenesis => f.write_str(
                "this network's genesis block is fixed and pays no one: its chain starts by itself (`tabcoin startnode`); \
                 `createblockchain` makes chains on the seed and test networks",
            ),
            VerbError::NeedsNode(why) => f.write_str(why),
            VerbError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for VerbError {}

impl From<WalletError> for VerbError {
    fn from(e: WalletError) -> Self {
        VerbError::Wallet(e)
    }
}

impl From<StoreError> for VerbError {
    fn from(e: StoreError) -> Self {
        VerbError::Store(e)
    }
}

pub fn parse_address(input: &str, params: &ChainParams) -> Result<Address, VerbError> {
    Address::parse(input.trim(), params.address_version)
        .map_err(|error| VerbError::BadAddress { input: input.to_string(), error })
}

pub fn balance_text(chain: &ChainState, mempool: &Mempool, input: &str) -> Result<String, VerbError> {
    let address = parse_address(input, chain.params())?;
    let balance = query::balance(chain, mempool, &address.pubkey_hash);
    let mut text = format!("Balance of '{address}': {}", balance.confirmed);
    if balance.pending != balance.confirmed {
        let _ = write!(text, " ({} with unconfirmed transactions)", balance.pending);
    }
    Ok(text)
}

pub fn addresses_text(keys: &KeySet, params: &ChainParams) -> String {
    keys.addresses(params).iter().map(|a| format!("{a}\n")).collect::<String>().trim_end().to_string()
}

/// The seed's `printchain`: each block of the best chain from the tip back, with its proof of
/// work and its transactions.
pub fn chain_text(chain: &ChainState) -> String {
    let mut text = String::new();
    for height in (0..=chain.height()).rev() {
        let Some(hash) = chain.hash_at(height) else { continue };
        let (Some(info), Some(block)) = (chain.block_info(&hash), chain.block(&hash)) else { continue };
        let pow = tabcoin_core::validation::check_proof_of_work(&hash, info.header.bits, chain.params()).is_ok();
        let _ = writeln!(text, "============ Block {hash} ============");
        let _ = writeln!(text, "Height: {height}");
        let _ = writeln!(text, "Prev. block: {}", info.header.prev_blockhash);
        let _ = writeln!(text, "Time: {}", info.header.time);
        let _ = writeln!(text, "PoW: {pow}");
        for tx in &block.txs {
            let _ = writeln!(text, "--- Transaction {}:", tx.txid());
            for input in tx.spends() {
                let _ = writeln!(text, "     Input: {}:{}", input.prev_out.txid, input.prev_out.vout);
            }
            for (index, output) in tx.outputs.iter().enumerate() {
                let to = Address::new(chain.params().address_version, output.pubkey_hash);
                let _ = writeln!(text, "     Output {index}: {} to {to}", output.amount);
            }
        }
        text.push('\n');
    }
    text.trim_end().to_string()
}

/// A signed payment from one of `keys`'s addresses, spending what the chain and mempool leave
/// it; returns it with the sending address.
pub fn build_send(
    keys: &KeySet,
    chain: &ChainState,
    mempool: &Mempool,
    from: &str,
    to: &str,
    amount: &str,
    fee: &str,
) -> Result<(Transaction, Address), VerbError> {
    let params = chain.params();
    let request = PaymentRequest::parse(params, from, to, amount, fee).map_err(VerbError::BadPayment)?;
    let coins = mempool.spendable_coins(chain, &request.from.pubkey_hash);
    let tx = plan_as_typed(keys, params, &coins, &request, fee).map_err(VerbError::Payment)?.sign();
    Ok((tx, request.from))
}

pub fn reindex_text(discrepancies: &tabcoin_core::chain::UtxoDiscrepancies, repaired: bool) -> String {
    if discrepancies.is_empty() {
        return "The stored UTXO set equals the one rebuilt from the blocks.".to_string();
    }
    let mut text = format!(
        "The stored UTXO set differs from the one rebuilt from the blocks: {} missing, {} unexpected.",
        discrepancies.missing.len(),
        discrepancies.unexpected.len()
    );
    for (outpoint, coin) in &discrepancies.missing {
        let _ = write!(text, "\n  missing {}:{} ({})", outpoint.txid, outpoint.vout, coin.output.amount);
    }
    for (outpoint, coin) in &discrepancies.unexpected {
        let _ = write!(text, "\n  unexpected {}:{} ({})", outpoint.txid, outpoint.vout, coin.output.amount);
    }
    text.push_str(if repaired {
        "\nRepaired: the rebuilt set is stored."
    } else {
        "\nStop the node and run `tabcoin reindexutxo` to store the rebuilt set."
    });
    text
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    now_ms() / 1000
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
