//! The node in a tab: core's [`Node`] driven by a WebSocket to the relay, a timer, and the
//! IndexedDB store. Inputs go to the node; its outputs are carried out here: frames are sent,
//! write batches are committed in order (those that pile up while one commits go together in
//! the next transaction) and acknowledged, events are kept for the page.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Reflect, Uint8Array};
use tabcoin_core::chain::LoadError;
use tabcoin_core::node::{Direction, DisconnectReason, Event, Node, NodeConfig, Output, PeerId};
use tabcoin_core::params::ChainParams;
use tabcoin_core::protocol::Role;
use tabcoin_core::store::WriteBatch;
use tabcoin_core::wallet::KeySet;
use tabcoin_core::{BlockHash, ChainState};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, MessageEvent, WebSocket};

use crate::lock::NodeLock;
use crate::store::{IdbStore, StoreError};
use crate::vault::{self, VaultError};
use crate::workers::{Report, WorkerPool};

/// Reconnection waits double from this, up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i32 = 250;
const MAX_BACKOFF_MS: i32 = 5_000;
const TICK_MS: i32 = 1_000;
/// Events kept for the page before the oldest are dropped.
const MAX_EVENTS: usize = 10_000;
/// Ticks over which the hashrate is averaged.
const HASHRATE_SAMPLES: usize = 5;
/// More mining workers than this gain nothing on any machine a tab runs on.
pub const MAX_WORKERS: usize = 32;

pub(crate) fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// Why the tab's node could not start.
#[derive(Debug)]
pub enum StartError {
    Store(StoreError),
    /// Another tab runs this node id.
    InUse,
    /// The browser cannot lock the node id (no Web Locks outside secure contexts).
    NoLocks(String),
    /// The stored keys are encrypted and need the right passphrase.
    Wallet(VaultError),
    /// The store holds a chain that does not load.
    Load(String),
    /// The stored chain follows the network's earlier consensus rules: it must start over
    /// ([`TabNode::start_chain_over`]); the keys stay.
    RulesChanged(String),
    NoRandomness(String),
    /// The browser could not work out the stored keys' public halves.
    Keys(crate::ecdsa::EcdsaError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Store(e) => e.fmt(f),
            StartError::InUse => f.write_str("this node is open in another tab: use that tab, or another ?node= id"),
            StartError::NoLocks(e) => f.write_str(e),
            StartError::Wallet(e) => e.fmt(f),
            StartError::Load(e) => write!(f, "the stored chain cannot be read: {e}"),
            StartError::RulesChanged(e) => f.write_str(e),
            StartError::NoRandomness(e) => write!(f, "the browser gave no randomness: {e}"),
            StartError::Keys(e) => e.fmt(f),
        }
    }
}

struct Connection {
    socket: WebSocket,
    peer: PeerId,
    // Kept alive as long as the socket: dropping a closure detaches its handler.
    _handlers: [Closure<dyn FnMut(JsValue)>; 3],
}

pub(crate) struct Inner {
    pub(crate) node: Node,
    lock: NodeLock,
    pub(crate) keys: KeySet,
    /// Keys are stored sealed under it, if set.
    pub(crate) passphrase: Option<String>,
    pub(crate) store: Rc<IdbStore>,
    relay_url: String,
    connection: Option<Connection>,
    next_peer: PeerId,
    backoff_ms: i32,
    /// Batches waiting for the commit in progress to finish.
    pending: Vec<(u64, WriteBatch)>,
    committing: bool,
    store_failed: Option<StoreError>,
    events: Vec<Event>,
    /// The relay follows another chain than the one stored here: (ours, theirs).
    wrong_chain: Option<(BlockHash, BlockHash)>,
    /// The browser's answer to `navigator.storage.persist()`, once it came.
    persistence: Option<Persistence>,
    stopped: bool,
    /// Miners, signature checkers and the timer.
    pub(crate) workers: Option<WorkerPool>,
    /// (time, nonces tried so far) at recent ticks, for the hashrate.
    hash_samples: std::collections::VecDeque<(u64, u64)>,
    /// Blocks this node mined since the tab opened.
    pub(crate) blocks_mined: u32,
    /// Whom the miner pays, and when it mines, while it is on.
    pub(crate) mining: Option<(tabcoin_core::Address, tabcoin_core::node::MiningPolicy)>,
    /// The page's timer, used only when no worker could start.
    tick_handle: Option<i32>,
    /// A payment of the wallet's is being built and checked.
    pub(crate) sending: bool,
    _tick: Option<Closure<dyn FnMut()>>,
}

/// A running node in this tab. Cloning gives another handle to the same node.
#[derive(Clone)]
pub struct TabNode {
    pub(crate) inner: Rc<RefCell<Inner>>,
}

impl TabNode {
    /// Opens the node's database (`tabcoin-<node_id>`), restores its chain (or waits to adopt
    /// the relay's), and connects to `relay_url`.
    /// `passphrase` opens the stored keys if they are sealed, and seals what is stored from now on.
    pub async fn start(
        node_id: &str,
        relay_url: &str,
        params: ChainParams,
        role: Role,
        passphrase: Option<&str>,
    ) -> Result<TabNode, StartError> {
        let lock = NodeLock::acquire(&database_name(node_id))
            .await
            .map_err(|e| StartError::NoLocks(e.as_string().unwrap_or_else(|| format!("{e:?}"))))?
            .ok_or(StartError::InUse)?;
        let store = IdbStore::open(&database_name(node_id)).await.map_err(StartError::Store)?;
        let memory = store.load().await.map_err(StartError::Store)?;
        let keys = match store.wallet().await.map_err(StartError::Store)? {
            Some(file) => {
                let plain = vault::unseal(&file, passphrase).await.map_err(StartError::Wallet)?;
                crate::wallet::read_key_set(&plain).await.map_err(|error| match error {
                    Some(error) => StartError::Keys(error),
                    None => StartError::Store(StoreError::Corrupt("the wallet's keys do not decode")),
                })?
            }
            None => KeySet::new(),
        };
        let chain = if memory.is_empty() {
            // A network with a fixed genesis (main) starts from it; on the others the node
            // adopts its relay's chain.
            match ChainState::from_pinned_genesis(&params) {
                Some(started) => {
                    let (chain, batch) = started
                        .map_err(|e| StartError::Load(format!("the network's fixed genesis block is refused: {e}")))?;
                    store.commit(&[batch]).await.map_err(StartError::Store)?;
                    Some(chain)
                }
                None => None,
            }
        } else {
            Some(ChainState::load(params.clone(), &memory).map_err(|e| match e {
                LoadError::RulesChanged { .. } => StartError::RulesChanged(e.to_string()),
                other => StartError::Load(other.to_string()),
            })?)
        };
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| StartError::NoRandomness(e.to_string()))?;
        let config = NodeConfig {
            params,
            role,
            user_agent: format!("tabcoin-web/{}", env!("CARGO_PKG_VERSION")),
            nonce: u64::from_le_bytes(nonce),
            parallel_signatures: true,
            allow_private_addresses: false,
        };
        let inner = Inner {
            node: Node::new(config, chain),
            lock,
            keys,
            passphrase: passphrase.map(str::to_string),
            store: Rc::new(store),
            relay_url: relay_url.to_string(),
            connection: None,
            next_peer: 0,
            backoff_ms: FIRST_BACKOFF_MS,
            pending: Vec::new(),
            committing: false,
            store_failed: None,
            events: Vec::new(),
            wrong_chain: None,
            persistence: None,
            stopped: false,
            workers: None,
            hash_samples: std::collections::VecDeque::new(),
            blocks_mined: 0,
            mining: None,
            tick_handle: None,
            sending: false,
            _tick: None,
        };
        let node = TabNode { inner: Rc::new(RefCell::new(inner)) };
        node.request_persistence();
        node.start_workers(default_worker_count());
        node.connect();
        Ok(node)
    }

    /// Closes the connection and stops the timer; the store is closed once the last commit
    /// finished.
    pub fn stop(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.stopped = true;
        inner.lock.release();
        if let Some(connection) = inner.connection.take() {
            let _ = connection.socket.close();
        }
        if let Some(workers) = inner.workers.take() {
            workers.terminate();
        }
        if let (Some(handle), Some(window)) = (inner.tick_handle.take(), window()) {
            window.clear_interval_with_handle(handle);
        }
        if !inner.committing {
            inner.store.close();
        }
    }

    /// Reads the node's state.
    pub fn with_node<T>(&self, read: impl FnOnce(&Node) -> T) -> T {
        read(&self.inner.borrow().node)
    }

    pub fn height(&self) -> Option<u32> {
        self.with_node(|node| node.chain().map(ChainState::height))
    }

    pub fn tip(&self) -> Option<BlockHash> {
        self.with_node(|node| node.chain().map(ChainState::tip))
    }

    /// The relay this node connects to.
    pub fn relay_url(&self) -> String {
        self.inner.borrow().relay_url.clone()
    }

    /// Whether the stored keys are sealed under a passphrase.
    pub fn has_passphrase(&self) -> bool {
        self.inner.borrow().passphrase.is_some()
    }

    pub fn connected(&self) -> bool {
        self.inner.borrow().connection.is_some() && !self.with_node(|node| node.peers().is_empty())
    }

    /// Events since the last call, oldest first.
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.inner.borrow_mut().events)
    }

    /// Set when the relay serves another chain than the one stored in this tab (ours, theirs):
    /// the page offers to export the keys and start over ([`TabNode::forget`]).
    pub fn relay_chain_differs(&self) -> Option<(BlockHash, BlockHash)> {
        self.inner.borrow().wrong_chain
    }

    /// Deletes node `node_id`'s database (chain and keys): starting over. The node must be
    /// stopped, and its keys exported first if they matter.
    pub async fn forget(node_id: &str) -> Result<(), StoreError> {
        IdbStore::delete(&database_name(node_id)).await
    }

    /// Empties node `node_id`'s stored chain and keeps its keys: what a tab whose chain
    /// follows the network's earlier rules does, with the user's consent, to sync anew. The
    /// node must not be running (its lock is taken here).
    pub async fn start_chain_over(node_id: &str) -> Result<(), StartError> {
        let _lock = NodeLock::acquire(&database_name(node_id))
            .await
            .map_err(|e| StartError::NoLocks(e.as_string().unwrap_or_else(|| format!("{e:?}"))))?
            .ok_or(StartError::InUse)?;
        let store = IdbStore::open(&database_name(node_id)).await.map_err(StartError::Store)?;
        let cleared = store.clear_chain().await.map_err(StartError::Store);
        store.close();
        cleared
    }

    /// Whether the browser keeps this node's data under storage pressure: `None` until it
    /// answered. If it is denied, the page says so: the browser may evict the chain and keys.
    pub fn persistence(&self) -> Option<Persistence> {
        self.inner.borrow().persistence
    }

    /// Asks `navigator.storage.persist()` (without it, a browser may evict IndexedDB).
    fn request_persistence(&self) {
        let weak = Rc::downgrade(&self.inner);
        wasm_bindgen_futures::spawn_local(async move {
            let answer = ask_persistence().await;
            if let Some(inner) = weak.upgrade() {
                inner.borrow_mut().persistence = Some(answer);
            }
        });
    }

    /// Nothing waits to be committed.
    pub fn settled(&self) -> bool {
        let inner = self.inner.borrow();
        !inner.committing && inner.pending.is_empty()
    }

    /// A store failure stops the node from acknowledging anything more.
    pub fn store_failure(&self) -> Option<StoreError> {
        self.inner.borrow().store_failed.clone()
    }

    /// Starts the workers: `count` miners and signature checkers, and the timer. If the timer
    /// worker cannot start, the page's own timer ticks instead (throttled when hidden).
    fn start_workers(&self, count: usize) {
        let weak = Rc::downgrade(&self.inner);
        let on_report: Rc<dyn Fn(Report)> = Rc::new(move |report| {
            if let Some(inner) = weak.upgrade() {
                TabNode { inner }.worker_report(report);
            }
        });
        let pool = WorkerPool::new(count, TICK_MS as u32, on_report);
        let has_timer = pool.has_timer();
        self.inner.borrow_mut().workers = Some(pool);
        if !has_timer {
            self.start_page_timer();
        }
    }

    fn worker_report(&self, report: Report) {
        if self.inner.borrow().stopped {
            return;
        }
        {
            let mut inner = self.inner.borrow_mut();
            let now = now_ms();
            match report {
                Report::Tick => {
                    inner.node.tick(now);
                    let hashes = inner.workers.as_ref().map_or(0, WorkerPool::hashes);
                    inner.hash_samples.push_back((now, hashes));
                    while inner.hash_samples.len() > HASHRATE_SAMPLES {
                        inner.hash_samples.pop_front();
                    }
                }
                Report::Found { job, nonce } => inner.node.nonce_found(job, nonce, now),
                Report::Exhausted { job } => inner.node.nonce_space_exhausted(job),
                Report::Verified { id, results } => inner.node.signatures_verified(id, &results, now),
                Report::TimerFailed => {
                    drop(inner);
                    self.start_page_timer();
                    return;
                }
                Report::Failed(text) => {
                    let event = Event::Log(format!("A worker failed ({text}); its work is done on the page"));
                    inner.keep_event(event);
                }
            }
        }
        self.pump();
    }

    /// Nonces tried per second over the last few ticks; 0 when not mining.
    pub fn hashrate(&self) -> f64 {
        let inner = self.inner.borrow();
        if inner.workers.as_ref().and_then(WorkerPool::mining).is_none() {
            return 0.0;
        }
        match (inner.hash_samples.front(), inner.hash_samples.back()) {
            (Some((t0, h0)), Some((t1, h1))) if t1 > t0 => (h1 - h0) as f64 * 1000.0 / (t1 - t0) as f64,
            _ => 0.0,
        }
    }

    /// The number of mining and verification workers.
    pub fn worker_count(&self) -> usize {
        self.inner.borrow().workers.as_ref().map_or(0, WorkerPool::count)
    }

    /// Runs `count` workers (at least one) from now on.
    pub fn set_worker_count(&self, count: usize) {
        let workers = self.inner.borrow().workers.clone();
        if let Some(workers) = workers {
            workers.resize(count);
        }
    }

    fn start_page_timer(&self) {
        let Some(window) = window() else { return };
        let weak = Rc::downgrade(&self.inner);
        let tick = Closure::<dyn FnMut()>::new(move || {
            if let Some(inner) = weak.upgrade() {
                TabNode { inner }.worker_report(Report::Tick);
            }
        });
        let handle =
            window.set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), TICK_MS).ok();
        let mut inner = self.inner.borrow_mut();
        inner.tick_handle = handle;
        inner._tick = Some(tick);
    }

    fn connect(&self) {
        let url = self.inner.borrow().relay_url.clone();
        let socket = match WebSocket::new(&url) {
            Ok(socket) => socket,
            Err(_) => {
                self.reconnect_later();
                return;
            }
        };
        socket.set_binary_type(BinaryType::Arraybuffer);
        let peer = {
            let mut inner = self.inner.borrow_mut();
            inner.next_peer += 1;
            inner.next_peer
        };
        let weak = Rc::downgrade(&self.inner);
        let on_open = {
            let weak = weak.clone();
            let url = url.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |_| {
                let Some(inner) = weak.upgrade() else { return };
                let node = TabNode { inner };
                {
                    let mut inner = node.inner.borrow_mut();
                    inner.backoff_ms = FIRST_BACKOFF_MS;
                    inner.node.peer_connected(peer, Direction::Outbound, url.clone(), now_ms());
                }
                node.pump();
            })
        };
        let on_message = {
            let weak = weak.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let Some(inner) = weak.upgrade() else { return };
                let node = TabNode { inner };
                let Some(data) = event.dyn_ref::<MessageEvent>().map(MessageEvent::data) else { return };
                let frame = Uint8Array::new(&data).to_vec();
                node.inner.borrow_mut().node.received(peer, &frame, now_ms());
                node.pump();
            })
        };
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let Some(inner) = weak.upgrade() else { return };
            let node = TabNode { inner };
            let stopped = {
                let mut inner = node.inner.borrow_mut();
                if inner.connection.as_ref().is_some_and(|c| c.peer == peer) {
                    inner.connection = None;
                }
                inner.node.peer_disconnected(peer);
                inner.stopped
            };
            node.pump();
            if !stopped {
                node.reconnect_later();
            }
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.inner.borrow_mut().connection =
            Some(Connection { socket, peer, _handlers: [on_open, on_message, on_close] });
    }

    fn reconnect_later(&self) {
        let Some(window) = window() else { return };
        let delay = {
            let mut inner = self.inner.borrow_mut();
            let delay = inner.backoff_ms;
            inner.backoff_ms = (inner.backoff_ms * 2).min(MAX_BACKOFF_MS);
            delay
        };
        let weak = Rc::downgrade(&self.inner);
        let again = Closure::once_into_js(move || {
            if let Some(inner) = weak.upgrade() {
                let node = TabNode { inner };
                if !node.inner.borrow().stopped && node.inner.borrow().connection.is_none() {
                    node.connect();
                }
            }
        });
        let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(again.unchecked_ref(), delay);
    }

    /// Carries out what the node asks.
    pub(crate) fn pump(&self) {
        loop {
            let output = self.inner.borrow_mut().node.poll_output();
            let Some(output) = output else { break };
            match output {
                Output::Send { frame, .. } => {
                    let inner = self.inner.borrow();
                    if let Some(connection) = &inner.connection {
                        let _ = connection.socket.send_with_u8_array(&frame);
                    }
                }
                Output::Disconnect { .. } => {
                    let connection = self.inner.borrow_mut().connection.take();
                    if let Some(connection) = connection {
                        let _ = connection.socket.close();
                    }
                }
                Output::Write { id, batch } => self.inner.borrow_mut().pending.push((id, batch)),
                Output::Verify { id, jobs } => {
                    let workers = self.inner.borrow().workers.clone();
                    match workers {
                        Some(workers) => workers.verify(id, &jobs),
                        None => {
                            // No workers: WebCrypto checks them off this thread all the same.
                            let node = self.clone();
                            wasm_bindgen_futures::spawn_local(async move {
                                // No answers (core's P-256 module did not load): asked again.
                                let results = crate::sigcheck::check_here(&jobs).await.unwrap_or_default();
                                if !node.inner.borrow().stopped {
                                    node.inner.borrow_mut().node.signatures_verified(id, &results, now_ms());
                                    node.pump();
                                }
                            });
                        }
                    }
                }
                Output::Mine(job) => {
                    let workers = self.inner.borrow().workers.clone();
                    if let Some(workers) = workers {
                        workers.mine(job);
                    }
                }
                Output::StopMining => {
                    let workers = self.inner.borrow().workers.clone();
                    if let Some(workers) = workers {
                        workers.stop_mining();
                    }
                }
                Output::Event(event) => self.inner.borrow_mut().keep_event(event),
            }
        }
        self.commit_pending();
    }

    /// Commits what is pending, one transaction at a time, in order.
    fn commit_pending(&self) {
        let (batches, store) = {
            let mut inner = self.inner.borrow_mut();
            if inner.committing || inner.pending.is_empty() || inner.store_failed.is_some() {
                return;
            }
            inner.committing = true;
            (std::mem::take(&mut inner.pending), Rc::clone(&inner.store))
        };
        let node = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let last = batches.last().map(|(id, _)| *id);
            let just_batches: Vec<WriteBatch> = batches.into_iter().map(|(_, b)| b).collect();
            let result = store.commit(&just_batches).await;
            let stopped = {
                let mut inner = node.inner.borrow_mut();
                inner.committing = false;
                match result {
                    Ok(()) => {
                        if let Some(id) = last {
                            inner.node.batch_committed(id);
                        }
                    }
                    Err(error) => inner.store_failed = Some(error),
                }
                inner.stopped
            };
            if stopped {
                node.inner.borrow().store.close();
            }
            node.pump();
        });
    }
}

impl Inner {
    fn keep_event(&mut self, event: Event) {
        match &event {
            Event::Disconnected { reason: DisconnectReason::WrongChain { ours, theirs }, .. } => {
                self.wrong_chain = Some((*ours, *theirs));
            }
            Event::Mined { .. } => self.blocks_mined += 1,
            _ => {}
        }
        if self.events.len() >= MAX_EVENTS {
            self.events.remove(0);
        }
        self.events.push(event);
    }
}

/// `navigator.hardwareConcurrency`, the default number of mining workers (1 if unknown).
pub fn default_worker_count() -> usize {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok();
    let cores = navigator.and_then(|n| Reflect::get(&n, &"hardwareConcurrency".into()).ok()).and_then(|c| c.as_f64());
    cores.map_or(1, |c| (c as usize).clamp(1, MAX_WORKERS))
}

/// The browser's answer about keeping this origin's storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    Granted,
    Denied,
    /// No `navigator.storage.persist` here (not a secure context, or an old browser).
    Unsupported,
}

async fn ask_persistence() -> Persistence {
    let call = || -> Result<js_sys::Promise, JsValue> {
        let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())?;
        let storage = js_sys::Reflect::get(&navigator, &"storage".into())?;
        let persist: js_sys::Function = js_sys::Reflect::get(&storage, &"persist".into())?.dyn_into()?;
        persist.call0(&storage)?.dyn_into()
    };
    let Ok(promise) = call() else { return Persistence::Unsupported };
    match wasm_bindgen_futures::JsFuture::from(promise).await.map(|v| v.as_bool()) {
        Ok(Some(true)) => Persistence::Granted,
        Ok(Some(false)) => Persistence::Denied,
        _ => Persistence::Unsupported,
    }
}

/// The IndexedDB database of node `node_id` (the page's `?node=`).
pub fn database_name(node_id: &str) -> String {
    format!("tabcoin-{node_id}")
}

#[cfg(all(test, target_arch = "wasm32"))]
pub(crate) mod tests {
    use super::*;
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    /// Set by scripts/test.sh, which starts a relay on the test network for these tests.
    pub(crate) const RELAY: Option<&str> = option_env!("TABCOIN_TEST_RELAY");
    const RELAY_HEIGHT: Option<&str> = option_env!("TABCOIN_TEST_RELAY_HEIGHT");

    /// The relay's height when the tests start (it mines more as they pay).
    pub(crate) fn relay_height() -> u32 {
        RELAY_HEIGHT.and_then(|h| h.parse().ok()).expect("scripts/test.sh sets TABCOIN_TEST_RELAY_HEIGHT")
    }

    pub(crate) async fn sleep(ms: i32) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(window) = window() {
                let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
            }
        });
        let _ = JsFuture::from(promise).await;
    }

    /// Waits up to 15 s for `done`.
    pub(crate) async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let mut waited = 0;
        while !done() {
            assert!(waited < 15_000, "waited 15 s for {what}");
            sleep(50).await;
            waited += 50;
        }
    }

    #[wasm_bindgen_test]
    async fn a_tab_adopts_the_relays_chain_syncs_it_and_keeps_it_in_indexeddb() {
        let url =
            RELAY.expect("this test needs a relay: run scripts/test.sh, which starts one and sets TABCOIN_TEST_RELAY");
        let height = relay_height();
        let id = format!("test-{}", (js_sys::Math::random() * 1e15) as u64);
        let node = TabNode::start(&id, url, ChainParams::test(), Role::Wallet, None).await.unwrap();
        let mut waited = 0;
        while !(node.height().is_some_and(|h| h >= height) && node.settled()) {
            assert!(waited < 15_000, "no sync after 15 s: height {:?}", node.height());
            sleep(50).await;
            waited += 50;
        }
        assert!(node.connected());
        // The browser answered the request to keep this origin's data (headless Chromium
        // grants or denies; either way the page can say which).
        assert!(
            matches!(node.persistence(), Some(Persistence::Granted | Persistence::Denied)),
            "{:?}",
            node.persistence()
        );
        let events = node.take_events();
        assert!(events.iter().any(|e| matches!(e, Event::ChainAdopted { .. })), "{events:?}");
        assert!(events.iter().any(|e| matches!(e, Event::BlockAdded { height: h, .. } if *h == height)));
        let Some(tip) = node.tip() else { panic!("a synced node has a tip") };
        let second = TabNode::start(&id, url, ChainParams::test(), Role::Wallet, None).await;
        assert!(matches!(second, Err(StartError::InUse)), "a second tab on the same node id is refused");
        node.stop();

        let store = IdbStore::open(&database_name(&id)).await.unwrap();
        let restored = ChainState::load(ChainParams::test(), &store.load().await.unwrap()).unwrap();
        // The relay may have mined since (other tests pay): the store holds at least what was shown.
        assert!(restored.is_active(&tip) && restored.height() >= height, "the store holds the synced chain");
        store.close();
        IdbStore::delete(&database_name(&id)).await.unwrap();
    }

    /// A tab whose stored chain follows the network's earlier rules is refused at start with
    /// what to do; starting the chain over keeps its keys, and it then starts with no chain.
    #[wasm_bindgen_test]
    async fn a_chain_stored_under_earlier_rules_starts_over_with_its_keys_kept() {
        let id = format!("test-rules-{}", (js_sys::Math::random() * 1e15) as u64);
        let newer = ChainParams { rules: 2, ..ChainParams::test() };
        let owner = tabcoin_core::Address::new(newer.address_version, tabcoin_core::PubKeyHash([5; 20]));
        let genesis = tabcoin_core::template::create_genesis(&ChainParams::test(), &owner, 1_700_000_000).unwrap();
        // Stored under rules 1 (the test network's): the newer build refuses it.
        let (_, batch) = ChainState::new(ChainParams::test(), genesis).unwrap();
        let store = IdbStore::open(&database_name(&id)).await.unwrap();
        store.commit(&[batch]).await.unwrap();
        store.close();

        let refused = TabNode::start(&id, "ws://127.0.0.1:1/ws", newer.clone(), Role::Wallet, None).await;
        let Err(StartError::RulesChanged(message)) = refused else {
            panic!("a chain of earlier rules was not refused: {:?}", refused.err())
        };
        assert!(message.contains("rules 1") && message.contains("start the chain over"), "{message}");

        let store = IdbStore::open(&database_name(&id)).await.unwrap();
        store.set_wallet(&[9, 9]).await.unwrap();
        store.close();
        TabNode::start_chain_over(&id).await.unwrap();
        let store = IdbStore::open(&database_name(&id)).await.unwrap();
        assert!(store.load().await.unwrap().is_empty(), "the old chain is gone");
        assert_eq!(store.wallet().await.unwrap(), Some(vec![9, 9]), "the keys are kept");
        store.close();
        IdbStore::delete(&database_name(&id)).await.unwrap();
    }

    /// A fresh tab on main starts from main's fixed genesis (stored at once), not from the
    /// first chain a relay serves.
    #[wasm_bindgen_test]
    async fn a_fresh_tab_on_main_starts_from_the_fixed_genesis() {
        let id = format!("test-main-{}", (js_sys::Math::random() * 1e15) as u64);
        let main = ChainParams::main();
        let node = TabNode::start(&id, "ws://127.0.0.1:1/ws", main.clone(), Role::Wallet, None).await.unwrap();
        let pinned = tabcoin_core::template::pinned_genesis(&main).unwrap().block_hash();
        assert_eq!(node.height(), Some(0));
        assert_eq!(node.tip(), Some(pinned));
        node.stop();
        let store = IdbStore::open(&database_name(&id)).await.unwrap();
        let restored = ChainState::load(main, &store.load().await.unwrap()).unwrap();
        assert_eq!(restored.genesis_hash(), pinned, "stored before anything else");
        store.close();
        IdbStore::delete(&database_name(&id)).await.unwrap();
    }

    #[wasm_bindgen_test]
    async fn when_the_timer_worker_fails_the_pages_timer_ticks_the_node() {
        let url = RELAY.expect("this test needs the relay scripts/test.sh starts");
        let id = format!("test-timer-{}", (js_sys::Math::random() * 1e15) as u64);
        let node = TabNode::start(&id, url, ChainParams::test(), Role::Wallet, None).await.unwrap();
        let last_tick = |node: &TabNode| node.inner.borrow().hash_samples.back().map(|(at, _)| *at);
        wait_for("the worker timer's first tick", || last_tick(&node).is_some()).await;
        assert!(node.inner.borrow().tick_handle.is_none(), "the page's timer waits while the worker ticks");
        // The timer worker stops, and the pool reports it failed.
        let pool = node.inner.borrow().workers.clone().expect("a started node has workers");
        pool.stop_timer();
        node.worker_report(Report::TimerFailed);
        assert!(node.inner.borrow().tick_handle.is_some(), "the page's timer took over");
        let failed_at = now_ms();
        wait_for("a tick from the page's timer", || last_tick(&node).is_some_and(|at| at > failed_at + 1_000)).await;
        node.stop();
    }

    /// A tab whose stored chain is not the relay's says so, and after starting over it adopts
    /// the relay's chain.
    #[wasm_bindgen_test]
    async fn a_tab_on_another_chain_says_so_and_can_start_over() {
        let url = RELAY.expect("this test needs the relay scripts/test.sh starts");
        let id = format!("test-other-chain-{}", (js_sys::Math::random() * 1e15) as u64);
        let params = ChainParams::test();
        let owner = tabcoin_core::Address::new(
            params.address_version,
            tabcoin_core::SecretKey::from_entropy([3; 32]).public_key().pubkey_hash(),
        );
        let genesis = tabcoin_core::template::create_genesis(&params, &owner, 1_600_000_000).unwrap();
        let (chain, batch) = ChainState::new(params.clone(), genesis).unwrap();
        let store = IdbStore::open(&database_name(&id)).await.unwrap();
        store.commit(&[batch]).await.unwrap();
        store.close();

        let node = TabNode::start(&id, url, params.clone(), Role::Wallet, None).await.unwrap();
        let mut waited = 0;
        while node.relay_chain_differs().is_none() {
            assert!(waited < 10_000, "the different chain was not noticed");
            sleep(50).await;
            waited += 50;
        }
        let (ours, theirs) = node.relay_chain_differs().unwrap();
        assert_eq!(ours, chain.genesis_hash());
        assert_ne!(theirs, ours);
        assert_eq!(node.height(), Some(0), "nothing of the other chain was taken");
        node.stop();

        let mut forgotten = false;
        for _ in 0..100 {
            if TabNode::forget(&id).await.is_ok() {
                forgotten = true;
                break;
            }
            sleep(20).await;
        }
        assert!(forgotten);
        let mut fresh = None;
        for _ in 0..100 {
            match TabNode::start(&id, url, params.clone(), Role::Wallet, None).await {
                Ok(node) => {
                    fresh = Some(node);
                    break;
                }
                Err(StartError::InUse) => sleep(20).await,
                Err(other) => panic!("{other}"),
            }
        }
        let fresh = fresh.expect("the node id is free again");
        let mut waited = 0;
        while fresh.height().is_none_or(|h| h < relay_height()) {
            assert!(waited < 10_000, "no sync after starting over");
            sleep(50).await;
            waited += 50;
        }
        assert_eq!(fresh.with_node(|n| n.chain().map(ChainState::genesis_hash)), Some(theirs));
        fresh.stop();
        for _ in 0..100 {
            if TabNode::forget(&id).await.is_ok() {
                break;
            }
            sleep(20).await;
        }
    }
}
