//! The read-only JSON API: what the page and a person with `curl` may ask the relay. Each
//! answer is worked out on the node's task from core's state.

use std::str::FromStr;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tabcoin_core::chain::ChainState;
use tabcoin_core::params::ChainParams;
use tabcoin_core::{Address, Block, BlockHash, Transaction, Txid, query};
use tokio::sync::oneshot;

use crate::runtime::{Input, View};
use crate::server::AppState;

const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most blocks one `/api/blocks` answer lists.
const MAX_BLOCKS_LISTED: usize = 500;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// Runs `query` on the node's task.
async fn ask(state: &AppState, query: impl FnOnce(&View<'_>) -> Value + Send + 'static) -> Response {
    let (reply, answer) = oneshot::channel();
    if state.inputs.send(Input::Query { query: Box::new(query), reply }).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the node is shutting down");
    }
    match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
        Ok(Ok(value)) if value.get("error").is_some() => (StatusCode::NOT_FOUND, Json(value)).into_response(),
        Ok(Ok(value)) => Json(value).into_response(),
        _ => error(StatusCode::SERVICE_UNAVAILABLE, "the node did not answer in time"),
    }
}

fn not_found(what: impl std::fmt::Display) -> Value {
    json!({ "error": format!("{what} is not known here") })
}

fn no_chain() -> Value {
    json!({ "error": "the relay has no chain yet" })
}

pub fn tx_json(tx: &Transaction, params: &ChainParams) -> Value {
    let inputs: Vec<Value> =
        tx.spends().iter().map(|i| json!({ "txid": i.prev_out.txid.to_string(), "vout": i.prev_out.vout })).collect();
    let outputs: Vec<Value> = tx
        .outputs
        .iter()
        .map(|o| {
            let address = Address::new(params.address_version, o.pubkey_hash);
            json!({ "amount": o.amount.to_string(), "address": address.to_string() })
        })
        .collect();
    json!({
        "txid": tx.txid().to_string(),
        "coinbase": tx.is_coinbase(),
        "inputs": inputs,
        "outputs": outputs,
        "bytes": tx.encoded_len(),
    })
}

fn block_summary(chain: &ChainState, hash: &BlockHash) -> Option<Value> {
    let info = chain.block_info(hash)?;
    let block = chain.block(hash);
    Some(json!({
        "hash": hash.to_string(),
        "height": info.height,
        "prev": info.header.prev_blockhash.to_string(),
        "time": info.header.time,
        "bits": format!("{:08x}", info.header.bits.0),
        "nonce": info.header.nonce,
        "merkle_root": info.header.merkle_root.to_string(),
        "tx_count": block.map(|b| b.txs.len()),
        "bytes": block.map(Block::encoded_len),
        "in_best_chain": chain.is_active(hash),
    }))
}

pub async fn network(State(state): State<AppState>) -> Response {
    ask(&state, |view| {
        let params = view.node.params();
        let chain = view.node.chain();
        json!({
            "network": params.network.to_string(),
            "magic": tabcoin_core::hash::to_hex(&params.magic),
            "address_version": params.address_version,
            "genesis": chain.map(|c| c.genesis_hash().to_string()),
            "tip": chain.map(|c| c.tip().to_string()),
            "height": chain.map(ChainState::height),
            "target_spacing_secs": params.target_spacing_secs,
            "initial_subsidy": params.initial_subsidy.to_string(),
            "max_block_bytes": params.max_block_bytes,
            "min_relay_fee_rate": params.min_relay_fee_rate.0,
            "protocol_version": tabcoin_core::protocol::PROTOCOL_VERSION,
            "websocket": "/ws",
        })
    })
    .await
}

pub async fn tip(State(state): State<AppState>) -> Response {
    ask(&state, |view| {
        let Some(chain) = view.node.chain() else { return no_chain() };
        let sync = view.node.sync_status();
        json!({
            "hash": chain.tip().to_string(),
            "height": chain.height(),
            "work": chain.tip_work().to_string(),
            "best_header_height": sync.best_header_height,
            "blocks_to_fetch": sync.to_fetch,
        })
    })
    .await
}

#[derive(Deserialize)]
pub struct BlocksQuery {
    count: Option<usize>,
}

pub async fn blocks(State(state): State<AppState>, Query(q): Query<BlocksQuery>) -> Response {
    let count = q.count.unwrap_or(20).min(MAX_BLOCKS_LISTED);
    ask(&state, move |view| {
        let Some(chain) = view.node.chain() else { return no_chain() };
        let list: Vec<Value> =
            chain.recent_blocks(count).iter().filter_map(|i| block_summary(chain, &i.hash)).collect();
        json!({ "blocks": list })
    })
    .await
}

pub async fn block(State(state): State<AppState>, Path(hash): Path<String>) -> Response {
    let Ok(hash) = BlockHash::from_str(&hash) else {
        return error(StatusCode::BAD_REQUEST, "a block hash is 64 hex digits");
    };
    ask(&state, move |view| {
        let Some(chain) = view.node.chain() else { return no_chain() };
        let (Some(mut summary), Some(block)) = (block_summary(chain, &hash), chain.block(&hash)) else {
            return not_found(format!("block {hash}"));
        };
        let txs: Vec<Value> = block.txs.iter().map(|tx| tx_json(tx, chain.params())).collect();
        summary["txs"] = Value::Array(txs);
        summary
    })
    .await
}

pub async fn transaction(State(state): State<AppState>, Path(txid): Path<String>) -> Response {
    let Ok(txid) = Txid::from_str(&txid) else {
        return error(StatusCode::BAD_REQUEST, "a transaction id is 64 hex digits");
    };
    ask(&state, move |view| {
        let Some(chain) = view.node.chain() else { return no_chain() };
        if let Some(entry) = view.node.mempool().get(&txid) {
            let mut value = tx_json(&entry.tx, chain.params());
            value["status"] = json!("mempool");
            value["fee"] = json!(entry.fee.to_string());
            return value;
        }
        match chain.transaction(&txid) {
            Some((tx, location)) => {
                let mut value = tx_json(tx, chain.params());
                value["status"] = json!("confirmed");
                value["block"] = json!(location.block_hash.to_string());
                value["height"] = json!(location.height);
                value
            }
            None => not_found(format!("transaction {txid}")),
        }
    })
    .await
}

pub async fn address(State(state): State<AppState>, Path(address): Path<String>) -> Response {
    ask(&state, move |view| {
        let Some(chain) = view.node.chain() else { return no_chain() };
        let address = match Address::parse(address.trim(), chain.params().address_version) {
            Ok(address) => address,
            Err(e) => return json!({ "error": format!("{address:?} is not a valid address: {e}") }),
        };
        let balance = query::balance(chain, view.node.mempool(), &address.pubkey_hash);
        let history: Vec<Value> = query::history(chain, view.node.mempool(), &address.pubkey_hash)
            .iter()
            .map(|item| {
                json!({
                    "txid": item.txid.to_string(),
                    "height": item.height,
                    "received": item.received.to_string(),
                    "sent": item.sent.to_string(),
                })
            })
            .collect();
        json!({
            "address": address.to_string(),
            "confirmed": balance.confirmed.to_string(),
            "pending": balance.pending.to_string(),
            "history": history,
        })
    })
    .await
}

pub async fn mempool(State(state): State<AppState>) -> Response {
    ask(&state, |view| {
        let params = view.node.params();
        let entries: Vec<Value> = view
            .node
            .mempool()
            .entries()
            .into_iter()
            .map(|e| {
                let mut value = tx_json(&e.tx, params);
                value["fee"] = json!(e.fee.to_string());
                value["depth"] = json!(e.depth);
                value
            })
            .collect();
        json!({ "count": entries.len(), "bytes": view.node.mempool().total_bytes(), "txs": entries })
    })
    .await
}

pub async fn peers(State(state): State<AppState>) -> Response {
    ask(&state, |view| {
        let peers: Vec<Value> = view
            .node
            .peers()
            .into_iter()
            .map(|p| {
                json!({
                    "id": p.id,
                    "address": p.address,
                    "direction": format!("{:?}", p.direction).to_lowercase(),
                    "role": format!("{:?}", p.role).to_lowercase(),
                    "user_agent": p.user_agent,
                    "best_height": p.best_height,
                })
            })
            .collect();
        let known: Vec<Value> = view
            .node
            .known_addresses()
            .into_iter()
            .map(|a| json!({ "url": a.url, "last_seen": a.last_seen }))
            .collect();
        json!({ "peers": peers, "known_relays": known, "counters": view.counters })
    })
    .await
}
