//! A deterministic simulation: many nodes in one process, connected by links with latency
//! and loss, in virtual time. Every random choice comes from one seed, so a failing run
//! replays exactly from the seed it prints.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use tabcoin_core::mining::{NonceSearch, SearchOutcome};
use tabcoin_core::node::{Direction, Event, Node, NodeConfig, Output, PeerId};
use tabcoin_core::protocol::Role;
use tabcoin_core::store::MemoryStore;
use tabcoin_core::{ChainParams, ChainState};

/// SplitMix64: small, fast and good enough to drive a simulation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`lo` if the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo { lo } else { lo + self.next_u64() % (hi - lo) }
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.range(0, 100) < percent
    }
}

/// One end of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct End {
    pub node: usize,
    pub peer: PeerId,
}

/// A connection: frames arrive in the order they were sent, as on a WebSocket.
#[derive(Clone, Debug)]
pub struct Link {
    pub a: End,
    pub b: End,
    pub up: bool,
    /// Earliest time the next frame towards `a` / towards `b` may arrive.
    next_to_a: u64,
    next_to_b: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Delivery {
    Frame { to: End, frame: Vec<u8> },
    Closed { to: End },
    Commit { node: usize, id: u64, generation: u64 },
    Nonce { node: usize, job: u64, nonce: u32, generation: u64 },
    Tick { node: usize, generation: u64 },
    Verified { node: usize, id: u64, results: Vec<bool>, generation: u64 },
}

pub struct SimNode {
    pub node: Node,
    pub store: MemoryStore,
    /// Batches written but not yet committed (lost if the node crashes).
    uncommitted: BTreeMap<u64, tabcoin_core::store::WriteBatch>,
    pub events: Vec<Event>,
    pub up: bool,
    /// Bumped by a crash, so deliveries meant for the old process are dropped.
    generation: u64,
    config: NodeConfig,
}

pub struct Sim {
    pub seed: u64,
    pub rng: Rng,
    pub now_ms: u64,
    pub nodes: Vec<SimNode>,
    pub links: Vec<Link>,
    queue: BinaryHeap<Reverse<(u64, u64, Delivery)>>,
    seq: u64,
    next_peer: PeerId,
    pub latency_ms: (u64, u64),
    /// Percent of frames lost on a link (the link then is closed: WebSockets do not lose
    /// frames silently, they drop the connection).
    pub loss_percent: u64,
    /// How long a found block takes to mine, in virtual milliseconds.
    pub mining_ms: (u64, u64),
    pub commit_ms: (u64, u64),
    /// New nodes hand their signature checks out (as a tab does to its workers).
    pub parallel_signatures: bool,
    /// Signature jobs carried out for the nodes.
    pub verified_jobs: usize,
}

pub fn config(role: Role, nonce: u64) -> NodeConfig {
    NodeConfig {
        params: ChainParams::test(),
        role,
        user_agent: format!("sim/{role}"),
        nonce,
        parallel_signatures: false,
        // The simulation's relays gossip made-up addresses on no real network.
        allow_private_addresses: true,
    }
}

impl Sim {
    pub fn new(seed: u64) -> Sim {
        Sim {
            seed,
            rng: Rng::new(seed),
            now_ms: 1_700_000_000_000,
            nodes: Vec::new(),
            links: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            next_peer: 1,
            latency_ms: (5, 60),
            loss_percent: 0,
            mining_ms: (2_000, 20_000),
            commit_ms: (0, 20),
            parallel_signatures: false,
            verified_jobs: 0,
        }
    }

    /// Adds a node on `chain` (with the batch that stored it, if new), returning its index.
    pub fn add_node(&mut self, role: Role, chain: Option<(ChainState, tabcoin_core::store::WriteBatch)>) -> usize {
        let nonce = self.rng.next_u64();
        let config = NodeConfig { parallel_signatures: self.parallel_signatures, ..config(role, nonce) };
        let mut store = MemoryStore::new();
        let chain = chain.map(|(chain, batch)| {
            store.apply(&batch);
            chain
        });
        let node = Node::new(config.clone(), chain);
        let index = self.nodes.len();
        self.nodes.push(SimNode {
            node,
            store,
            uncommitted: BTreeMap::new(),
            events: Vec::new(),
            up: true,
            generation: 0,
            config,
        });
        self.schedule_tick(index);
        index
    }

    fn push(&mut self, at: u64, delivery: Delivery) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, delivery)));
    }

    fn schedule_tick(&mut self, node: usize) {
        let at = self.now_ms + 1_000;
        let generation = self.nodes[node].generation;
        self.push(at, Delivery::Tick { node, generation });
    }

    /// Opens a connection from `from` to `to`.
    pub fn connect(&mut self, from: usize, to: usize) {
        let a = End { node: from, peer: self.next_peer };
        let b = End { node: to, peer: self.next_peer + 1 };
        self.next_peer += 2;
        self.links.push(Link { a, b, up: true, next_to_a: 0, next_to_b: 0 });
        let now = self.now_ms;
        self.nodes[to].node.peer_connected(b.peer, Direction::Inbound, format!("sim://{from}"), now);
        self.nodes[from].node.peer_connected(a.peer, Direction::Outbound, format!("sim://{to}"), now);
        self.drain(to);
        self.drain(from);
    }

    fn other_end(&self, end: End) -> Option<(usize, End)> {
        self.links.iter().enumerate().find_map(|(i, link)| {
            if !link.up {
                None
            } else if link.a == end {
                Some((i, link.b))
            } else if link.b == end {
                Some((i, link.a))
            } else {
                None
            }
        })
    }

    /// Closes a link: both nodes hear of it after a delay.
    pub fn cut(&mut self, link: usize) {
        if !self.links[link].up {
            return;
        }
        self.links[link].up = false;
        let (a, b) = (self.links[link].a, self.links[link].b);
        let at = self.now_ms + 1;
        self.push(at, Delivery::Closed { to: a });
        self.push(at, Delivery::Closed { to: b });
    }

    /// Carries out everything a node asked for.
    pub fn drain(&mut self, index: usize) {
        while let Some(output) = self.nodes[index].node.poll_output() {
            match output {
                Output::Send { peer, frame } => {
                    let from = End { node: index, peer };
                    if let Some((link, to)) = self.other_end(from) {
                        if self.rng.chance(self.loss_percent) {
                            self.cut(link);
                        } else {
                            let latency = self.rng.range(self.latency_ms.0, self.latency_ms.1);
                            let l = &mut self.links[link];
                            let slot = if l.a == to { &mut l.next_to_a } else { &mut l.next_to_b };
                            let at = (self.now_ms + latency).max(*slot);
                            *slot = at;
                            self.push(at, Delivery::Frame { to, frame });
                        }
                    }
                }
                Output::Disconnect { peer, .. } => {
                    let end = End { node: index, peer };
                    if let Some((link, to)) = self.other_end(end) {
                        self.links[link].up = false;
                        let at = self.now_ms + 1;
                        self.push(at, Delivery::Closed { to });
                    }
                }
                Output::Write { id, batch } => {
                    self.nodes[index].uncommitted.insert(id, batch);
                    let at = self.now_ms + self.rng.range(self.commit_ms.0, self.commit_ms.1);
                    let generation = self.nodes[index].generation;
                    self.push(at, Delivery::Commit { node: index, id, generation });
                }
                Output::Mine(job) => {
                    // The test network's target is met by about every other hash.
                    let search = NonceSearch::new(&job.header).expect("the test network's target is valid");
                    if let SearchOutcome::Found { nonce, .. } = search.search(0, 1 << 32) {
                        let at = self.now_ms + self.rng.range(self.mining_ms.0, self.mining_ms.1);
                        let generation = self.nodes[index].generation;
                        self.push(at, Delivery::Nonce { node: index, job: job.id, nonce, generation });
                    }
                }
                Output::StopMining => {}
                Output::Verify { id, jobs } => {
                    // What a pool of workers would do, a little later.
                    let results = jobs.iter().map(|job| job.verify()).collect();
                    self.verified_jobs += jobs.len();
                    let at = self.now_ms + self.rng.range(1, 30);
                    let generation = self.nodes[index].generation;
                    self.push(at, Delivery::Verified { node: index, id, results, generation });
                }
                Output::Event(event) => self.nodes[index].events.push(event),
            }
        }
    }

    fn deliver(&mut self, delivery: Delivery) {
        let now = self.now_ms;
        match delivery {
            Delivery::Frame { to, frame } => {
                let live = self.links.iter().any(|l| l.up && (l.a == to || l.b == to));
                if live && self.nodes[to.node].up {
                    self.nodes[to.node].node.received(to.peer, &frame, now);
                    self.drain(to.node);
                }
            }
            Delivery::Closed { to } => {
                if self.nodes[to.node].up {
                    self.nodes[to.node].node.peer_disconnected(to.peer);
                    self.drain(to.node);
                }
            }
            Delivery::Commit { node, id, generation } => {
                let sim_node = &mut self.nodes[node];
                if sim_node.up && sim_node.generation == generation {
                    // Batches commit in order: everything up to `id`.
                    let ids: Vec<u64> = sim_node.uncommitted.range(..=id).map(|(k, _)| *k).collect();
                    for k in ids {
                        if let Some(batch) = sim_node.uncommitted.remove(&k) {
                            sim_node.store.apply(&batch);
                        }
                    }
                    sim_node.node.batch_committed(id);
                    self.drain(node);
                }
            }
            Delivery::Nonce { node, job, nonce, generation } => {
                if self.nodes[node].up && self.nodes[node].generation == generation {
                    self.nodes[node].node.nonce_found(job, nonce, now);
                    self.drain(node);
                }
            }
            Delivery::Verified { node, id, results, generation } => {
                if self.nodes[node].up && self.nodes[node].generation == generation {
                    self.nodes[node].node.signatures_verified(id, &results, now);
                    self.drain(node);
                }
            }
            Delivery::Tick { node, generation } => {
                if self.nodes[node].up && self.nodes[node].generation == generation {
                    self.nodes[node].node.tick(now);
                    self.drain(node);
                    self.schedule_tick(node);
                }
            }
        }
    }

    /// Runs until `until_ms` of virtual time has passed.
    pub fn run_for(&mut self, duration_ms: u64) {
        let end = self.now_ms + duration_ms;
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > end {
                break;
            }
            let Some(Reverse((at, _, delivery))) = self.queue.pop() else { break };
            self.now_ms = self.now_ms.max(at);
            self.deliver(delivery);
        }
        self.now_ms = end;
    }

    /// Runs until no frame, commit or mined block is pending (ticks aside), at most `limit_ms`.
    pub fn run_until_quiet(&mut self, limit_ms: u64) {
        let end = self.now_ms + limit_ms;
        loop {
            let busy = self.queue.iter().any(|Reverse((_, _, d))| !matches!(d, Delivery::Tick { .. }));
            let Some(Reverse((at, _, _))) = self.queue.peek() else { break };
            if !busy || *at > end {
                break;
            }
            let Some(Reverse((at, _, delivery))) = self.queue.pop() else { break };
            self.now_ms = self.now_ms.max(at);
            self.deliver(delivery);
        }
    }

    /// Kills a node: what it had not committed is lost; its links close.
    pub fn crash(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        node.up = false;
        node.generation += 1;
        node.uncommitted.clear();
        for i in 0..self.links.len() {
            let link = &self.links[i];
            if link.up && (link.a.node == index || link.b.node == index) {
                self.cut(i);
            }
        }
    }

    /// Restarts a crashed node from what its store holds.
    pub fn restart(&mut self, index: usize) {
        let params = self.nodes[index].config.params.clone();
        let chain = if self.nodes[index].store.is_empty() {
            None
        } else {
            Some(
                ChainState::load(params, &self.nodes[index].store)
                    .unwrap_or_else(|e| panic!("seed {}: node {index} can not restart from its store: {e}", self.seed)),
            )
        };
        let mut config = self.nodes[index].config.clone();
        config.nonce = self.rng.next_u64();
        let sim_node = &mut self.nodes[index];
        sim_node.node = Node::new(config.clone(), chain);
        sim_node.config = config;
        sim_node.up = true;
        self.schedule_tick(index);
    }

    pub fn chain(&self, index: usize) -> &ChainState {
        self.nodes[index].node.chain().unwrap_or_else(|| panic!("seed {}: node {index} has no chain", self.seed))
    }
}
