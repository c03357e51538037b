//! The page's API: one class, `TabcoinNode`, over [`TabNode`]. Structured answers go to the
//! page through serde-wasm-bindgen as plain objects; errors are `Error`s with a `kind` the page
//! can branch on and a message a person can read. Nothing here decides anything: it converts.

use std::fmt::Display;

use js_sys::{Promise, Uint8Array};
use serde::Serialize;
use tabcoin_core::node::{DisconnectReason, Event, MiningPolicy};
use tabcoin_core::params::ChainParams;
use tabcoin_core::protocol::Role;
use tabcoin_core::{Address, BlockHash, ChainState, Transaction};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::node::{Persistence, StartError, TabNode, now_ms};
use crate::vault::VaultError;
use crate::wallet::WalletError;

/// Blocks the explorer lists at most.
const MAX_RECENT_BLOCKS: usize = 100;

fn page_error(kind: &str, message: impl Display) -> JsValue {
    let error = js_sys::Error::new(&message.to_string());
    let _ = js_sys::Reflect::set(&error, &"kind".into(), &kind.into());
    error.into()
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    // Maps become plain objects, so the page reads fields, not `Map`s.
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    value.serialize(&serializer).map_err(|e| page_error("internal", e))
}

fn start_error(error: &StartError) -> JsValue {
    let kind = match error {
        StartError::InUse => "in_use",
        StartError::NoLocks(_) => "no_locks",
        StartError::Wallet(VaultError::NeedsPassphrase) => "needs_passphrase",
        StartError::Wallet(VaultError::WrongPassphrase) => "wrong_passphrase",
        StartError::Wallet(_) => "wallet",
        StartError::Store(_) => "store",
        StartError::Load(_) => "load",
        StartError::RulesChanged(_) => "rules_changed",
        StartError::NoRandomness(_) => "no_randomness",
        StartError::Keys(_) => "keys",
    };
    page_error(kind, error)
}

fn wallet_error(error: &WalletError) -> JsValue {
    use tabcoin_core::wallet::{PaymentError, PaymentInputError};
    let kind = match error {
        WalletError::NoChain => "no_chain",
        WalletError::BadAddress { .. } | WalletError::BadInput(PaymentInputError::BadAddress { .. }) => "bad_address",
        WalletError::BadInput(PaymentInputError::BadAmount { .. }) => "bad_amount",
        WalletError::Payment(PaymentError::InsufficientFunds { .. }) => "insufficient_funds",
        WalletError::Payment(PaymentError::FeeTooLow { .. }) => "fee_too_low",
        WalletError::Payment(PaymentError::Dust { .. }) => "dust",
        WalletError::Payment(_) => "payment",
        WalletError::Refused(_) => "refused",
        WalletError::Full(_) => "full",
        WalletError::Store(_) => "store",
        WalletError::Vault(VaultError::WrongPassphrase) => "wrong_passphrase",
        WalletError::Vault(_) => "vault",
        WalletError::Busy => "busy",
        WalletError::Keys(_) => "keys",
        WalletError::NoRandomness(_) => "no_randomness",
    };
    page_error(kind, error)
}

/// `start`'s options, read by hand: serde's deserializer would add its error machinery
/// (float formatting and all) to the page's wasm for six fields.
struct StartOptions {
    node_id: String,
    relay_url: String,
    /// "seed", "main" or "test": the relay's network (its `/api/network`).
    network: String,
    /// "wallet" (default) or "miner".
    role: Option<String>,
    passphrase: Option<String>,
    /// Mining and verification workers; default `navigator.hardwareConcurrency`.
    workers: Option<usize>,
}

impl StartOptions {
    fn from_js(options: &JsValue) -> Result<StartOptions, JsValue> {
        let given = |name: &str| {
            js_sys::Reflect::get(options, &JsValue::from_str(name)).ok().filter(|v| !v.is_undefined() && !v.is_null())
        };
        let text = |name: &str| match given(name) {
            None => Ok(None),
            Some(value) => {
                value.as_string().map(Some).ok_or_else(|| page_error("options", format!("`{name}` must be a string")))
            }
        };
        let required = |name: &str| text(name)?.ok_or_else(|| page_error("options", format!("`{name}` is missing")));
        let workers = match given("workers") {
            None => None,
            Some(value) => Some(
                value
                    .as_f64()
                    .filter(|n| n.fract() == 0.0 && (0.0..=1_000_000.0).contains(n))
                    .map(|n| n as usize)
                    .ok_or_else(|| page_error("options", "`workers` must be a whole number"))?,
            ),
        };
        Ok(StartOptions {
            node_id: required("nodeId")?,
            relay_url: required("relayUrl")?,
            network: required("network")?,
            role: text("role")?,
            passphrase: text("passphrase")?,
            workers,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerView {
    id: u64,
    address: String,
    role: String,
    user_agent: String,
    best_height: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MinerView {
    on: bool,
    payee: Option<String>,
    /// The N of "mine when the mempool holds N", or `None` for continuous.
    when_mempool_holds: Option<usize>,
    workers: usize,
    /// Nonces per second.
    hashrate: f64,
    blocks_mined: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    node_id: String,
    network: String,
    relay: String,
    connected: bool,
    height: Option<u32>,
    tip: Option<String>,
    genesis: Option<String>,
    /// The best height any peer showed (headers or version): the sync target.
    best_known_height: u32,
    syncing: bool,
    /// Every write the node asked for is committed to IndexedDB.
    settled: bool,
    peers: Vec<PeerView>,
    mempool: usize,
    /// "granted", "denied", "unsupported", or `None` until the browser answered.
    persistence: Option<&'static str>,
    /// The relay's chain differs from the stored one: (ours, theirs).
    wrong_chain: Option<(String, String)>,
    store_failure: Option<String>,
    encrypted: bool,
    miner: MinerView,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventView {
    /// "log", "peer", "sync", "block", "tx", "mined", "error".
    kind: &'static str,
    text: String,
    time_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    done: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AddressView {
    address: String,
    confirmed: String,
    pending: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryView {
    txid: String,
    height: Option<u32>,
    received: String,
    sent: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutputView {
    address: String,
    amount: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TxView {
    txid: String,
    coinbase: bool,
    /// The outputs it spends, as "txid:vout".
    inputs: Vec<String>,
    outputs: Vec<OutputView>,
    bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    fee: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BlockView {
    hash: String,
    height: u32,
    prev: String,
    time: u32,
    nonce: u32,
    tx_count: Option<usize>,
    bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    txs: Option<Vec<TxView>>,
}

fn tx_view(tx: &Transaction, params: &ChainParams) -> TxView {
    TxView {
        txid: tx.txid().to_string(),
        coinbase: tx.is_coinbase(),
        inputs: tx.spends().iter().map(|i| format!("{}:{}", i.prev_out.txid, i.prev_out.vout)).collect(),
        outputs: tx
            .outputs
            .iter()
            .map(|o| OutputView {
                address: Address::new(params.address_version, o.pubkey_hash).to_string(),
                amount: o.amount.to_string(),
            })
            .collect(),
        bytes: tx.encoded_len(),
        fee: None,
    }
}

fn block_view(chain: &ChainState, hash: &BlockHash, with_txs: bool) -> Option<BlockView> {
    let info = chain.block_info(hash)?;
    let block = chain.block(hash);
    Some(BlockView {
        hash: hash.to_string(),
        height: info.height,
        prev: info.header.prev_blockhash.to_string(),
        time: info.header.time,
        nonce: info.header.nonce,
        tx_count: block.map(|b| b.txs.len()),
        bytes: block.map(|b| b.encoded_len()),
        txs: if with_txs { block.map(|b| b.txs.iter().map(|tx| tx_view(tx, chain.params())).collect()) } else { None },
    })
}

/// The seed printed its protocol events as lines; these are those lines, with what the page
/// needs to draw (sync progress) alongside.
fn event_view(event: Event, time_ms: u64) -> EventView {
    let (kind, text, progress) = match event {
        Event::Log(text) => ("log", text, None),
        Event::PeerJoined { peer, role, user_agent, best_height } => {
            ("peer", format!("Peer {peer} joined: {role} {user_agent} at height {best_height}"), None)
        }
        Event::PeerLeft { peer } => ("peer", format!("Peer {peer} left"), None),
        Event::Disconnected { peer, reason: reason @ DisconnectReason::WrongChain { .. } } => {
            ("error", format!("Disconnected from peer {peer}: {reason}"), None)
        }
        Event::Disconnected { peer, reason } => ("peer", format!("Disconnected from peer {peer}: {reason}"), None),
        Event::ChainAdopted { genesis } => ("block", format!("Adopted the chain with genesis {genesis}"), None),
        Event::SyncProgress { done, total } => {
            ("sync", format!("Synced {done} of {total} blocks"), Some((done, total)))
        }
        Event::BlockAdded { hash, height } => ("block", format!("Added block {hash} at height {height}"), None),
        Event::BlocksDisconnected { hashes } => {
            ("block", format!("Reorganisation: {} blocks left the best chain", hashes.len()), None)
        }
        Event::TxAccepted { txid } => ("tx", format!("Transaction {txid} accepted into the mempool"), None),
        Event::TxRejected { txid, reason } => ("error", format!("Transaction {txid} rejected: {reason}"), None),
        Event::RejectedByPeer { peer, hash, reason } => {
            ("error", format!("Peer {peer} refused {}: {reason}", BlockHash(hash)), None)
        }
        Event::Mined { hash, height, .. } => ("mined", format!("Mined block {hash} at height {height}"), None),
    };
    EventView { kind, text, time_ms, done: progress.map(|p| p.0), total: progress.map(|p| p.1) }
}

/// The node of this tab, for the page.
#[wasm_bindgen(js_name = TabcoinNode)]
pub struct PageNode {
    node: TabNode,
    node_id: String,
}

#[wasm_bindgen(js_class = TabcoinNode)]
impl PageNode {
    /// Starts node `nodeId`: `{ nodeId, relayUrl, network: "seed"|"main"|"test", role?, passphrase?,
    /// workers? }`. Rejects with `kind` "in_use" when another tab runs it, "needs_passphrase"
    /// or "wrong_passphrase" for sealed keys, "rules_changed" for a chain stored under the
    /// network's earlier consensus rules (see `startChainOver`).
    pub fn start(options: JsValue) -> Promise {
        future_to_promise(async move {
            let options = StartOptions::from_js(&options)?;
            let params = match options.network.as_str() {
                "main" => ChainParams::main(),
                "seed" => ChainParams::seed(),
                "test" => ChainParams::test(),
                other => return Err(page_error("options", format!("unknown network {other:?}: seed, main or test"))),
            };
            let role = match options.role.as_deref() {
                None | Some("wallet") => Role::Wallet,
                Some("miner") => Role::Miner,
                Some(other) => return Err(page_error("options", format!("unknown role {other:?}: wallet or miner"))),
            };
            let node =
                TabNode::start(&options.node_id, &options.relay_url, params, role, options.passphrase.as_deref())
                    .await
                    .map_err(|e| start_error(&e))?;
            if let Some(count) = options.workers {
                node.set_worker_count(count);
            }
            Ok(PageNode { node, node_id: options.node_id }.into())
        })
    }

    /// Empties node `nodeId`'s chain and keeps its keys (after a change of consensus rules;
    /// it must not be running).
    #[wasm_bindgen(js_name = startChainOver)]
    pub fn start_chain_over(node_id: String) -> Promise {
        future_to_promise(async move {
            TabNode::start_chain_over(&node_id).await.map_err(|e| start_error(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Deletes node `nodeId`'s chain and keys (it must not be running).
    pub fn forget(node_id: String) -> Promise {
        future_to_promise(async move {
            TabNode::forget(&node_id).await.map_err(|e| page_error("store", e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Stops the node: connection, workers, timer; the store closes after its last commit.
    pub fn stop(&self) {
        self.node.stop();
    }

    pub fn status(&self) -> Result<JsValue, JsValue> {
        let node = &self.node;
        let (peers, mempool, best_known_height, syncing) = node.with_node(|n| {
            let peers: Vec<PeerView> = n
                .peers()
                .into_iter()
                .map(|p| PeerView {
                    id: p.id,
                    address: p.address,
                    role: p.role.to_string(),
                    user_agent: p.user_agent,
                    best_height: p.best_height,
                })
                .collect();
            let sync = n.sync_status();
            let height = n.chain().map_or(0, ChainState::height);
            let best = peers.iter().map(|p| p.best_height).chain([sync.best_header_height, height]).max().unwrap_or(0);
            (peers, n.mempool().len(), best, sync.to_fetch > 0 || sync.awaiting_signatures > 0)
        });
        let mining = node.mining();
        let status = Status {
            node_id: self.node_id.clone(),
            network: node.with_node(|n| n.params().network.to_string()),
            relay: node.relay_url(),
            connected: node.connected(),
            height: node.height(),
            tip: node.tip().map(|t| t.to_string()),
            genesis: node.with_node(|n| n.chain().map(|c| c.genesis_hash().to_string())),
            best_known_height,
            syncing,
            settled: node.settled(),
            peers,
            mempool,
            persistence: node.persistence().map(|p| match p {
                Persistence::Granted => "granted",
                Persistence::Denied => "denied",
                Persistence::Unsupported => "unsupported",
            }),
            wrong_chain: node.relay_chain_differs().map(|(ours, theirs)| (ours.to_string(), theirs.to_string())),
            store_failure: node.store_failure().map(|e| e.to_string()),
            encrypted: node.has_passphrase(),
            miner: MinerView {
                on: mining.is_some(),
                payee: mining.map(|(payee, _)| payee.to_string()),
                when_mempool_holds: mining.and_then(|(_, policy)| match policy {
                    MiningPolicy::WhenMempoolHolds(n) => Some(n),
                    MiningPolicy::Continuous => None,
                }),
                workers: node.worker_count(),
                hashrate: node.hashrate(),
                blocks_mined: node.blocks_mined(),
            },
        };
        to_js(&status)
    }

    /// The protocol events since the last call, oldest first: `{ kind, text, timeMs, done?,
    /// total? }`.
    #[wasm_bindgen(js_name = takeEvents)]
    pub fn take_events(&self) -> Result<JsValue, JsValue> {
        let now = now_ms();
        let events: Vec<EventView> = self.node.take_events().into_iter().map(|e| event_view(e, now)).collect();
        to_js(&events)
    }

    /// The wallet's addresses with their balances (empty balances before sync).
    pub fn addresses(&self) -> Result<JsValue, JsValue> {
        let views: Vec<AddressView> = self
            .node
            .addresses()
            .iter()
            .map(|address| {
                let text = address.to_string();
                let balance = self.node.balance(&text).ok();
                AddressView {
                    confirmed: balance.map_or_else(|| "0".into(), |b| b.confirmed.to_string()),
                    pending: balance.map_or_else(|| "0".into(), |b| b.pending.to_string()),
                    address: text,
                }
            })
            .collect();
        to_js(&views)
    }

    /// A new address from a new key; resolves once the key is stored.
    #[wasm_bindgen(js_name = createAddress)]
    pub fn create_address(&self) -> Promise {
        let node = self.node.clone();
        future_to_promise(async move {
            let address = node.create_address().await.map_err(|e| wallet_error(&e))?;
            Ok(address.to_string().into())
        })
    }

    /// Any address's balance: `{ address, confirmed, pending }`.
    pub fn balance(&self, address: &str) -> Result<JsValue, JsValue> {
        let balance = self.node.balance(address).map_err(|e| wallet_error(&e))?;
        to_js(&AddressView {
            address: address.trim().to_string(),
            confirmed: balance.confirmed.to_string(),
            pending: balance.pending.to_string(),
        })
    }

    /// Any address's transactions, newest first.
    pub fn history(&self, address: &str) -> Result<JsValue, JsValue> {
        let items = self.node.history(address).map_err(|e| wallet_error(&e))?;
        let views: Vec<HistoryView> = items
            .iter()
            .map(|i| HistoryView {
                txid: i.txid.to_string(),
                height: i.height,
                received: i.received.to_string(),
                sent: i.sent.to_string(),
            })
            .collect();
        to_js(&views)
    }

    /// Pays `amount` (coins, e.g. "1.5") from `from` to `to` with `fee`; the change goes back to
    /// `from`. Resolves to the txid; rejects with kind "bad_address", "bad_amount",
    /// "insufficient_funds", "refused", "busy", ...
    pub fn send(&self, from: String, to: String, amount: String, fee: String) -> Promise {
        let node = self.node.clone();
        future_to_promise(async move {
            let txid = node.send(&from, &to, &amount, &fee).await.map_err(|e| wallet_error(&e))?;
            Ok(txid.to_string().into())
        })
    }

    /// The keys as a wallet file (sealed if a passphrase is set).
    #[wasm_bindgen(js_name = exportKeys)]
    pub fn export_keys(&self) -> Promise {
        let node = self.node.clone();
        future_to_promise(async move {
            let bytes = node.export_keys().await.map_err(|e| wallet_error(&e))?;
            Ok(Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// Adds the keys of a wallet file; resolves to their addresses.
    #[wasm_bindgen(js_name = importKeys)]
    pub fn import_keys(&self, file: Vec<u8>, passphrase: Option<String>) -> Promise {
        let node = self.node.clone();
        future_to_promise(async move {
            let addresses = node.import_keys(&file, passphrase.as_deref()).await.map_err(|e| wallet_error(&e))?;
            to_js(&addresses.iter().map(ToString::to_string).collect::<Vec<_>>())
        })
    }

    /// Seals the stored keys under `passphrase`, or stores them in the clear with `null`.
    #[wasm_bindgen(js_name = setPassphrase)]
    pub fn set_passphrase(&self, passphrase: Option<String>) -> Promise {
        let node = self.node.clone();
        future_to_promise(async move {
            node.set_passphrase(passphrase.as_deref().filter(|p| !p.is_empty())).await.map_err(|e| wallet_error(&e))?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Mines blocks paying `payee`: when the mempool holds `whenMempoolHolds` transactions, or
    /// continuously with `null`.
    #[wasm_bindgen(js_name = startMining)]
    pub fn start_mining(&self, payee: &str, when_mempool_holds: Option<u32>) -> Result<(), JsValue> {
        let policy = match when_mempool_holds {
            Some(n) => MiningPolicy::WhenMempoolHolds(n as usize),
            None => MiningPolicy::Continuous,
        };
        self.node.start_mining(payee, policy).map_err(|e| wallet_error(&e))
    }

    #[wasm_bindgen(js_name = stopMining)]
    pub fn stop_mining(&self) {
        self.node.stop_mining();
    }

    /// Mines one block now with what the mempool holds (the seed's `send -mine`).
    #[wasm_bindgen(js_name = mineOnce)]
    pub fn mine_once(&self, payee: &str) -> Result<(), JsValue> {
        self.node.mine_once(payee).map_err(|e| wallet_error(&e))
    }

    #[wasm_bindgen(js_name = setWorkers)]
    pub fn set_workers(&self, count: usize) {
        self.node.set_worker_count(count);
    }

    /// The newest `count` blocks of the best chain, newest first (without transactions).
    #[wasm_bindgen(js_name = recentBlocks)]
    pub fn recent_blocks(&self, count: usize) -> Result<JsValue, JsValue> {
        let views: Vec<BlockView> = self.node.with_node(|n| {
            let Some(chain) = n.chain() else { return Vec::new() };
            chain
                .recent_blocks(count.min(MAX_RECENT_BLOCKS))
                .iter()
                .filter_map(|info| block_view(chain, &info.hash, false))
                .collect()
        });
        to_js(&views)
    }

    /// A block with its transactions, or `null` if unknown.
    pub fn block(&self, hash: &str) -> Result<JsValue, JsValue> {
        let hash: BlockHash =
            hash.trim().parse().map_err(|_| page_error("bad_hash", "a block hash is 64 hex digits"))?;
        let view = self.node.with_node(|n| n.chain().and_then(|chain| block_view(chain, &hash, true)));
        match view {
            Some(view) => to_js(&view),
            None => Ok(JsValue::NULL),
        }
    }

    /// The mempool's transactions, oldest first, with their fees.
    pub fn mempool(&self) -> Result<JsValue, JsValue> {
        let views: Vec<TxView> = self.node.with_node(|n| {
            n.mempool()
                .entries()
                .into_iter()
                .map(|entry| TxView { fee: Some(entry.fee.to_string()), ..tx_view(&entry.tx, n.params()) })
                .collect()
        });
        to_js(&views)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    fn object(fields: &[(&str, JsValue)]) -> JsValue {
        let object = js_sys::Object::new();
        for (name, value) in fields {
            let _ = js_sys::Reflect::set(&object, &(*name).into(), value);
        }
        object.into()
    }

    fn kind_and_message(error: JsValue) -> (String, String) {
        let kind = js_sys::Reflect::get(&error, &"kind".into()).ok().and_then(|k| k.as_string()).unwrap_or_default();
        let message = error.dyn_into::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_default();
        (kind, message)
    }

    #[wasm_bindgen_test]
    fn start_options_are_read_and_checked() {
        let required =
            [("nodeId", "3001".into()), ("relayUrl", "ws://127.0.0.1:1/ws".into()), ("network", "test".into())];
        let options = StartOptions::from_js(&object(&required)).expect("the required fields suffice");
        assert_eq!((options.node_id.as_str(), options.network.as_str()), ("3001", "test"));
        assert_eq!((options.role, options.passphrase, options.workers), (None, None, None));

        let mut all = required.to_vec();
        all.extend([("role", "miner".into()), ("passphrase", "pass".into()), ("workers", 3.into())]);
        let options = StartOptions::from_js(&object(&all)).expect("all fields");
        assert_eq!(options.role.as_deref(), Some("miner"));
        assert_eq!(options.passphrase.as_deref(), Some("pass"));
        assert_eq!(options.workers, Some(3));
        // What the page leaves unset comes as undefined or null.
        let mut unset = required.to_vec();
        unset.extend([("passphrase", JsValue::UNDEFINED), ("workers", JsValue::NULL)]);
        let options = StartOptions::from_js(&object(&unset)).expect("unset fields");
        assert_eq!((options.passphrase, options.workers), (None, None));

        let refused = |fields: &[(&str, JsValue)]| match StartOptions::from_js(&object(fields)) {
            Ok(_) => panic!("accepted bad options"),
            Err(error) => kind_and_message(error),
        };
        assert_eq!(refused(&required[1..]), ("options".into(), "`nodeId` is missing".into()));
        let mut bad = required.to_vec();
        bad.push(("workers", 2.5.into()));
        assert_eq!(refused(&bad), ("options".into(), "`workers` must be a whole number".into()));
        let mut bad = required.to_vec();
        bad[0] = ("nodeId", 3001.into());
        assert_eq!(refused(&bad), ("options".into(), "`nodeId` must be a string".into()));
        assert!(StartOptions::from_js(&JsValue::UNDEFINED).is_err(), "no options at all");
    }
}
