//! `tabcoin startnode`: opens the store, restores or creates the chain, and runs the node's
//! task, the HTTP/WebSocket server, the RPC and the dialers until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::sync::{mpsc, oneshot};

use tabcoin_core::node::{MiningPolicy, Node, NodeConfig};
use tabcoin_core::params::ChainParams;
use tabcoin_core::protocol::Role;

use crate::cli::{Common, StartNode};
use crate::guard::{self, GuardedAcceptor};
use crate::miner::Miner;
use crate::offline;
use crate::runtime::{Input, PeerIds, Runtime, View};
use crate::server::{self, AppState};
use crate::store::Store;
use crate::verbs::{self, Verb, VerbError};
use crate::{peer, rpc, wallet_file};

/// Inputs waiting for the node's task.
const INPUT_QUEUE: usize = 4_096;

fn parse_policy(text: &str) -> Result<MiningPolicy, VerbError> {
    match text.trim() {
        "continuous" => Ok(MiningPolicy::Continuous),
        n => n.parse::<usize>().ok().filter(|n| *n >= 1).map(MiningPolicy::WhenMempoolHolds).ok_or_else(|| {
            VerbError::Failed(format!("--mine-when takes a count of 1 or more, or `continuous`: {n:?}"))
        }),
    }
}

pub async fn run(common: &Common, options: &StartNode) -> Result<(), VerbError> {
    let params = ChainParams::for_network(common.network);
    let datadir = common.datadir();
    let passphrase = offline::passphrase();
    let mining = match &options.miner {
        Some(address) => Some((verbs::parse_address(address, &params)?.pubkey_hash, parse_policy(&options.mine_when)?)),
        None => None,
    };
    let (store, chain) = offline::open_chain(&datadir, &params)?;
    let chain = match chain {
        Some(chain) if chain.height() == 0 && params.pinned_genesis.is_some() => {
            println!("The chain starts from the {} network's fixed genesis {}", params.network, chain.tip());
            Some(chain)
        }
        Some(chain) => {
            println!("Restored the chain: height {}, tip {}", chain.height(), chain.tip());
            Some(chain)
        }
        None if options.peers.is_empty() => {
            let central = relay_address(&datadir, &params, passphrase.as_deref())?;
            let chain = offline::create_chain(&store, &params, &central)?;
            println!("Created the chain: genesis {} pays {central}", chain.tip());
            Some(chain)
        }
        None => {
            println!("No chain yet: adopting the chain of the first peer relay reached");
            None
        }
    };
    if let Ok(keys) = offline::load_keys(&datadir, passphrase.as_deref())
        && let Some(first) = keys.addresses(&params).first()
    {
        println!("The relay's wallet address: {first}");
    }

    let config = NodeConfig {
        params: params.clone(),
        role: Role::Relay,
        user_agent: format!("tabcoin-relay/{}", env!("CARGO_PKG_VERSION")),
        nonce: u64::from_le_bytes(wallet_file::random_bytes().map_err(VerbError::Wallet)?),
        // Blocks that extend the tip have their signatures checked on every core
        // (`sigcheck::SignatureChecker`), not one by one on the node's task.
        parallel_signatures: true,
        allow_private_addresses: options.allow_private_addresses,
    };
    let mut node = Node::new(config, chain);
    node.set_mining(mining);
    let threads = options.mining_threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let handle = spawn_node(node, store, datadir.clone(), threads, &options.peers);
    let inputs = handle.inputs.clone();
    let ids = Arc::clone(&handle.ids);

    let cookie = rpc::serve(&datadir, inputs.clone())
        .await
        .map_err(|e| VerbError::Failed(format!("cannot start the RPC: {e}")))?;
    let port = options.port.unwrap_or(common.node_id);
    let app = server::router(AppState { inputs: inputs.clone(), ids: Arc::clone(&ids) }, options.www.clone());
    let shutdown = shutdown_signal();
    let local = match serve_http(app, SocketAddr::new(options.bind, port), options).await {
        Ok(local) => local,
        Err(error) => {
            let _ = std::fs::remove_file(&cookie);
            return Err(error);
        }
    };
    // Printed for people and for scripts that start the relay on port 0.
    println!("tabcoin relay listening on {local}");
    if options.www.join("index.html").is_file() {
        println!("Open {local}?node=3001 for a wallet tab and {local}?node=3002 for a miner tab");
    } else {
        println!(
            "No page to serve ({} has no index.html): the API and the WebSocket endpoint are up",
            options.www.display()
        );
    }
    drop(inputs);

    let result = handle.run_until(shutdown).await;
    let _ = std::fs::remove_file(&cookie);
    println!("tabcoin relay stopped");
    result.map_err(VerbError::Failed)
}

/// A node running on its own task: what the relay runs, and what tests run in-process as
/// native wallet and miner nodes.
pub struct NodeHandle {
    pub inputs: mpsc::Sender<Input>,
    pub ids: Arc<PeerIds>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl NodeHandle {
    /// Carries out a CLI verb on the node, as the RPC does.
    pub async fn verb(&self, verb: Verb) -> Result<String, String> {
        let (reply, answer) = oneshot::channel();
        self.inputs
            .send(Input::Verb { verb, passphrase: offline::passphrase(), reply })
            .await
            .map_err(|_| "the node stopped")?;
        answer.await.map_err(|_| "the node dropped the request")?
    }

    /// Asks the node a question, as the API does.
    pub async fn query(
        &self,
        query: impl FnOnce(&View<'_>) -> serde_json::Value + Send + 'static,
    ) -> serde_json::Value {
        let (reply, answer) = oneshot::channel();
        if self.inputs.send(Input::Query { query: Box::new(query), reply }).await.is_err() {
            return serde_json::Value::Null;
        }
        answer.await.unwrap_or(serde_json::Value::Null)
    }

    /// Stops the node's task and waits for it; its store is closed when this returns.
    pub async fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(());
        self.task.await.map_err(|e| format!("the node's task failed: {e}"))?
    }

    /// Runs until `signal` fires (then stops the node) or the node's task ends by itself (a
    /// store failure).
    pub async fn run_until(mut self, signal: impl std::future::Future<Output = ()>) -> Result<(), String> {
        tokio::select! {
            _ = signal => {}
            ended = &mut self.task => return ended.map_err(|e| format!("the node's task failed: {e}"))?,
        }
        self.stop().await
    }
}

/// Starts the node's task, its miner and a dialer for each of `peers`.
pub fn spawn_node(node: Node, store: Store, datadir: PathBuf, threads: usize, peers: &[String]) -> NodeHandle {
    let (inputs, receiver) = mpsc::channel(INPUT_QUEUE);
    let miner = Miner::new(threads, inputs.clone());
    let ids = Arc::new(PeerIds::default());
    for url in peers {
        tokio::spawn(peer::dial_forever(url.clone(), Arc::clone(&ids), inputs.clone()));
    }
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(Runtime::new(node, store, datadir, miner).run(receiver, stopped));
    NodeHandle { inputs, ids, stop, task }
}

/// A client must send a request's headers within this long; after that its connection is
/// closed, so that a peer trickling bytes (slowloris) cannot hold connections open forever.
/// A WebSocket, once upgraded, is watched by the node's handshake and ping timeouts instead.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `app` on `address`, over TLS if a certificate was given; returns the base URL.
async fn serve_http(app: axum::Router, address: SocketAddr, options: &StartNode) -> Result<String, VerbError> {
    let failed = |e: std::io::Error| VerbError::Failed(format!("cannot listen on {address}: {e}"));
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let descriptors = guard::raise_open_file_limit();
    let limits = guard::Limits::for_descriptors(descriptors, options.max_connections_per_address);
    tracing::info!(
        "open-file limit {descriptors}: at most {} connections, {} from one address",
        limits.total,
        limits.per_source
    );
    let gate = guard::Gate::new(limits);
    let listener = std::net::TcpListener::bind(address).map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    let mut server =
        axum_server::from_tcp(listener).map_err(failed)?.first_request_timeout(guard::FIRST_REQUEST_TIMEOUT);
    server.http_builder().http1().header_read_timeout(HEADER_READ_TIMEOUT);
    // Protocol messages are small and latency matters (a tx `inv` to every peer): no Nagle.
    let plain = NoDelayAcceptor::new();
    match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => {
            let config = RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|e| VerbError::Failed(format!("cannot load the TLS certificate or key: {e}")))?;
            let tls = RustlsAcceptor::new(config).acceptor(plain);
            let server = server.acceptor(GuardedAcceptor::new(tls, gate));
            tokio::spawn(async move {
                if let Err(e) = server.serve(service).await {
                    tracing::error!("HTTPS server stopped: {e}");
                }
            });
            Ok(format!("https://{local}/"))
        }
        _ => {
            let server = server.acceptor(GuardedAcceptor::new(plain, gate));
            tokio::spawn(async move {
                if let Err(e) = server.serve(service).await {
                    tracing::error!("HTTP server stopped: {e}");
                }
            });
            Ok(format!("http://{local}/"))
        }
    }
}

/// The address the genesis pays on a relay's first start: its wallet's first, made if needed.
fn relay_address(
    datadir: &Path,
    params: &ChainParams,
    passphrase: Option<&str>,
) -> Result<tabcoin_core::Address, VerbError> {
    let keys = offline::load_keys(datadir, passphrase)?;
    match keys.addresses(params).first() {
        Some(first) => Ok(*first),
        None => offline::create_address(datadir, params, passphrase),
    }
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future is
/// first polled: a signal sent as soon as the relay says it is listening must stop it cleanly,
/// not kill it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
        async move {
            match handlers {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
