//! Web Workers for what must not run on the page's thread: the nonce search, signature checks,
//! and the node's timer (a hidden tab's page timers are throttled to about once a minute; a
//! worker's are not).
//!
//! Each worker instantiates its own copy of this wasm module, posted to it compiled, and gets
//! self-contained jobs: a header and a nonce range, or a run of signatures. Answers come back
//! as [`Report`]s to the callback the node gave.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Object, Reflect, Uint8Array};
use tabcoin_core::Encoding;
use tabcoin_core::header::BlockHeader;
use tabcoin_core::mining::{NonceSearch, SearchOutcome};
use tabcoin_core::node::MiningJob;
use tabcoin_core::sigcheck::SignatureJob;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker};

#[wasm_bindgen(module = "/src/js/worker.js")]
extern "C" {
    #[wasm_bindgen(catch)]
    fn spawn_worker(script: Option<&str>) -> Result<Worker, JsValue>;
}

/// The glue wasm-bindgen generated for this module, relative to the worker script (its
/// snippet folder, `snippets/<crate>-<hash>/src/js/`). The test runner names its glue apart.
const GLUE_FROM_WORKER: &str =
    if cfg!(test) { "../../../../wasm-bindgen-test.js" } else { "../../../../tabcoin_web.js" };

/// What the workers tell the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// A nonce meets the target of job `job`.
    Found { job: u64, nonce: u32 },
    /// Every worker searched its whole range of job `job` without a find.
    Exhausted { job: u64 },
    /// The results of verification `id`, one per job, in order; none if they could not all
    /// be had (the node asks again).
    Verified { id: u64, results: Vec<bool> },
    /// The timer fired.
    Tick,
    /// A worker could not start or run; what it said.
    Failed(String),
    /// The timer worker could not start: the page must tick the node itself.
    TimerFailed,
}

/// A header prepared for the nonce search, for a worker.
#[wasm_bindgen]
pub struct WorkerSearch(NonceSearch);

#[wasm_bindgen]
impl WorkerSearch {
    /// Prepares the 80-byte header `header` (its nonce is ignored).
    #[wasm_bindgen(constructor)]
    pub fn new(header: &[u8]) -> Result<WorkerSearch, JsError> {
        let header = BlockHeader::from_bytes(header).map_err(|e| JsError::new(&format!("not a header: {e}")))?;
        NonceSearch::new(&header).map(WorkerSearch).map_err(|e| JsError::new(&e.to_string()))
    }

    /// The first nonce from `start` (of `count`) whose hash meets the target, if any.
    pub fn search(&self, start: u32, count: u32) -> Option<u32> {
        match self.0.search(start, u64::from(count)) {
            SearchOutcome::Found { nonce, .. } => Some(nonce),
            SearchOutcome::Exhausted { .. } => None,
        }
    }
}

struct Slot {
    worker: Worker,
    /// The worker set its handler up: messages can be posted.
    alive: bool,
    /// Posted once it is alive.
    queue: Vec<JsValue>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

struct PendingVerification {
    /// Kept to check them here if a worker fails.
    jobs: Vec<SignatureJob>,
    /// Each part's answers once they came (none if the worker could not answer).
    parts: Vec<Option<Vec<bool>>>,
    /// Jobs per part.
    per_part: usize,
}

struct State {
    slots: Vec<Slot>,
    ticker: Option<Slot>,
    job: Option<MiningJob>,
    /// Workers that searched their whole range of the current job.
    exhausted: usize,
    /// Signature checks out in the workers, by id: a few at a time (the node asks for the next
    /// run while one is checked), so a list.
    verifications: Vec<(u64, PendingVerification)>,
    /// Nonces tried since the pool started.
    hashes: u64,
    /// No worker could start: work is done here instead.
    broken: bool,
    /// The glue the workers import, relative to their script.
    glue: &'static str,
    /// The timer's script, relative to the workers' own; `None`: the same script.
    ticker_script: Option<&'static str>,
}

/// The node's workers: `count` for mining and signatures, one for the timer.
#[derive(Clone)]
pub struct WorkerPool {
    state: Rc<RefCell<State>>,
    on_report: Rc<dyn Fn(Report)>,
}

fn message(kind: &str, fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    let _ = Reflect::set(&object, &"kind".into(), &kind.into());
    for (name, value) in fields {
        let _ = Reflect::set(&object, &(*name).into(), value);
    }
    object.into()
}

fn field(data: &JsValue, name: &str) -> JsValue {
    Reflect::get(data, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

fn number(data: &JsValue, name: &str) -> Option<f64> {
    field(data, name).as_f64()
}

impl WorkerPool {
    /// Starts `count` workers (at least one) and the timer, ticking every `tick_ms`.
    pub fn new(count: usize, tick_ms: u32, on_report: Rc<dyn Fn(Report)>) -> WorkerPool {
        WorkerPool::with_scripts(count, tick_ms, on_report, GLUE_FROM_WORKER, None)
    }

    fn with_scripts(
        count: usize,
        tick_ms: u32,
        on_report: Rc<dyn Fn(Report)>,
        glue: &'static str,
        ticker_script: Option<&'static str>,
    ) -> WorkerPool {
        let pool = WorkerPool {
            state: Rc::new(RefCell::new(State {
                slots: Vec::new(),
                ticker: None,
                job: None,
                exhausted: 0,
                verifications: Vec::new(),
                hashes: 0,
                broken: false,
                glue,
                ticker_script,
            })),
            on_report,
        };
        let ticker = pool.spawn(None);
        if let Some(ticker) = &ticker {
            let _ = ticker.worker.post_message(&message("ticker", &[("ms", tick_ms.into())]));
        }
        pool.state.borrow_mut().ticker = ticker;
        pool.resize(count);
        pool
    }

    /// The number of mining and verification workers.
    pub fn count(&self) -> usize {
        self.state.borrow().slots.len()
    }

    /// Whether the timer worker runs.
    pub fn has_timer(&self) -> bool {
        self.state.borrow().ticker.is_some()
    }

    /// Nonces tried since the pool started.
    pub fn hashes(&self) -> u64 {
        self.state.borrow().hashes
    }

    /// Starts or stops workers to have `count` (at least one); a running search restarts on
    /// the new split of the nonce space.
    pub fn resize(&self, count: usize) {
        let count = count.clamp(1, crate::node::MAX_WORKERS);
        loop {
            let len = self.count();
            if len > count {
                if let Some(slot) = self.state.borrow_mut().slots.pop() {
                    slot.worker.terminate();
                }
            } else if len < count {
                let index = len;
                match self.spawn(Some(index)) {
                    Some(slot) => {
                        let glue = self.state.borrow().glue;
                        let init = message("init", &[("module", wasm_bindgen::module()), ("glue", glue.into())]);
                        let mut state = self.state.borrow_mut();
                        state.slots.push(slot);
                        state.slots[index].queue.push(init);
                    }
                    None => {
                        self.state.borrow_mut().broken = true;
                        break;
                    }
                }
            } else {
                break;
            }
        }
        let job = self.state.borrow().job;
        if let Some(job) = job {
            self.mine(job);
        }
    }

    /// A worker with its handlers; `index` is its place among the miners, `None` for the timer.
    fn spawn(&self, index: Option<usize>) -> Option<Slot> {
        let script = if index.is_none() { self.state.borrow().ticker_script } else { None };
        let worker = spawn_worker(script).ok()?;
        let weak = Rc::downgrade(&self.state);
        let on_report = Rc::clone(&self.on_report);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(state) = weak.upgrade() else { return };
            let pool = WorkerPool { state, on_report: Rc::clone(&on_report) };
            pool.received(index, &event.data());
        });
        let weak = Rc::downgrade(&self.state);
        let on_report = Rc::clone(&self.on_report);
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let text = field(&event, "message").as_string().unwrap_or_else(|| "a worker failed".into());
            let Some(state) = weak.upgrade() else { return };
            let pool = WorkerPool { state, on_report: Rc::clone(&on_report) };
            if index.is_some() {
                pool.failed(text);
            } else {
                pool.state.borrow_mut().ticker = None;
                (pool.on_report)(Report::TimerFailed);
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Some(Slot { worker, alive: false, queue: Vec::new(), _on_message: on_message, _on_error: on_error })
    }

    fn received(&self, index: Option<usize>, data: &JsValue) {
        let kind = field(data, "kind").as_string().unwrap_or_default();
        match kind.as_str() {
            "alive" => {
                let mut state = self.state.borrow_mut();
                let slot = match index {
                    Some(i) => state.slots.get_mut(i),
                    None => state.ticker.as_mut(),
                };
                if let Some(slot) = slot {
                    slot.alive = true;
                    for queued in slot.queue.drain(..) {
                        let _ = slot.worker.post_message(&queued);
                    }
                }
            }
            "tick" => (self.on_report)(Report::Tick),
            "hashes" => {
                let current = self.state.borrow().job.map(|j| j.id);
                if number(data, "job").map(|j| j as u64) == current {
                    self.state.borrow_mut().hashes += number(data, "count").unwrap_or(0.0) as u64;
                }
            }
            "found" => {
                let (Some(job), Some(nonce)) = (number(data, "job"), number(data, "nonce")) else { return };
                let job = job as u64;
                let current = self.state.borrow().job.map(|j| j.id);
                if current == Some(job) {
                    self.stop_mining();
                    (self.on_report)(Report::Found { job, nonce: nonce as u32 });
                }
            }
            "exhausted" => {
                let job = number(data, "job").map(|j| j as u64);
                let all = {
                    let mut state = self.state.borrow_mut();
                    if job.is_none() || state.job.map(|j| j.id) != job {
                        return;
                    }
                    state.exhausted += 1;
                    state.exhausted == state.slots.len()
                };
                if let (true, Some(job)) = (all, job) {
                    self.state.borrow_mut().job = None;
                    (self.on_report)(Report::Exhausted { job });
                }
            }
            "verified" => {
                let (Some(id), Some(part)) = (number(data, "id"), number(data, "part")) else { return };
                let results = field(data, "results");
                let results = if results.is_undefined() || results.is_null() {
                    Vec::new()
                } else {
                    Uint8Array::new(&results).to_vec().into_iter().map(|b| b == 1).collect()
                };
                self.verified_part(id as u64, part as usize, results);
            }
            "failed" => {
                let text = field(data, "error").as_string().unwrap_or_else(|| "a worker failed".into());
                self.failed(text);
            }
            _ => {}
        }
    }

    fn verified_part(&self, id: u64, part: usize, results: Vec<bool>) {
        let done = {
            let mut state = self.state.borrow_mut();
            let Some(at) = state.verifications.iter().position(|(pending_id, _)| *pending_id == id) else { return };
            let pending = &mut state.verifications[at].1;
            if let Some(slot) = pending.parts.get_mut(part) {
                *slot = Some(results);
            }
            if pending.parts.iter().all(Option::is_some) { Some(state.verifications.swap_remove(at).1) } else { None }
        };
        if let Some(pending) = done {
            // Every part answered in full, or no answer at all (a part that could not answer
            // gave none): answers never shift onto other jobs.
            let expected = pending.jobs.chunks(pending.per_part.max(1)).map(<[SignatureJob]>::len);
            let whole =
                pending.parts.iter().zip(expected).all(|(part, len)| part.as_ref().is_some_and(|r| r.len() == len));
            let results = if whole { pending.parts.into_iter().flatten().flatten().collect() } else { Vec::new() };
            (self.on_report)(Report::Verified { id, results });
        }
    }

    /// A worker broke (the module did not load, or it threw): the node is told, and the
    /// outstanding signature checks are done here so that sync goes on.
    fn failed(&self, text: String) {
        let outstanding: Vec<(u64, PendingVerification)> = {
            let mut state = self.state.borrow_mut();
            state.broken = true;
            std::mem::take(&mut state.verifications)
        };
        (self.on_report)(Report::Failed(text));
        for (id, pending) in outstanding {
            self.verify_here(id, pending.jobs);
        }
    }

    /// Checks `jobs` on this thread's WebCrypto (its own thread does the work); the results
    /// come as [`Report::Verified`].
    fn verify_here(&self, id: u64, jobs: Vec<SignatureJob>) {
        let on_report = Rc::clone(&self.on_report);
        wasm_bindgen_futures::spawn_local(async move {
            let results = crate::sigcheck::check_here(&jobs).await.unwrap_or_default();
            on_report(Report::Verified { id, results });
        });
    }

    fn post(&self, index: usize, message: JsValue) {
        let mut state = self.state.borrow_mut();
        let Some(slot) = state.slots.get_mut(index) else { return };
        if slot.alive {
            let _ = slot.worker.post_message(&message);
        } else {
            slot.queue.push(message);
        }
    }

    /// Searches `job`'s nonces, split evenly among the workers, replacing any earlier job.
    pub fn mine(&self, job: MiningJob) {
        let count = {
            let mut state = self.state.borrow_mut();
            state.job = Some(job);
            state.exhausted = 0;
            state.slots.len()
        };
        if count == 0 {
            return;
        }
        let header = Uint8Array::from(job.header.to_bytes().as_slice());
        let slice = (1u64 << 32) / count as u64;
        for index in 0..count {
            let start = slice * index as u64;
            let end = if index + 1 == count { 1u64 << 32 } else { start + slice };
            let message = message(
                "mine",
                &[
                    ("job", (job.id as f64).into()),
                    ("header", header.clone().into()),
                    ("start", (start as f64).into()),
                    ("end", (end as f64).into()),
                ],
            );
            self.post(index, message);
        }
    }

    pub fn stop_mining(&self) {
        let count = {
            let mut state = self.state.borrow_mut();
            state.job = None;
            state.slots.len()
        };
        for index in 0..count {
            self.post(index, message("stop", &[]));
        }
    }

    /// Whether the workers are searching.
    pub fn mining(&self) -> Option<MiningJob> {
        self.state.borrow().job
    }

    /// Checks `jobs` in the workers, split evenly; the results come as [`Report::Verified`].
    /// Even one job goes to a worker (a peer's payment): there WebCrypto checks it, off the
    /// page's thread. Without working workers they are checked here.
    pub fn verify(&self, id: u64, jobs: &[SignatureJob]) {
        let (count, broken) = {
            let state = self.state.borrow();
            (state.slots.len(), state.broken)
        };
        if broken || count == 0 || jobs.is_empty() {
            return self.verify_here(id, jobs.to_vec());
        }
        let parts = count.min(jobs.len());
        let per_part = jobs.len().div_ceil(parts);
        let chunks: Vec<&[SignatureJob]> = jobs.chunks(per_part).collect();
        self.state
            .borrow_mut()
            .verifications
            .push((id, PendingVerification { jobs: jobs.to_vec(), parts: vec![None; chunks.len()], per_part }));
        for (part, chunk) in chunks.iter().enumerate() {
            let bytes = Uint8Array::from(tabcoin_core::sigcheck::encode_jobs(chunk).as_slice());
            let message = message(
                "verify",
                &[("id", (id as f64).into()), ("part", (part as f64).into()), ("jobs", bytes.into())],
            );
            self.post(part, message);
        }
    }

    /// Stops the timer worker, as a failure would.
    #[cfg(all(test, target_arch = "wasm32"))]
    pub(crate) fn stop_timer(&self) {
        if let Some(ticker) = self.state.borrow_mut().ticker.take() {
            ticker.worker.terminate();
        }
    }

    /// Stops every worker.
    pub fn terminate(&self) {
        let mut state = self.state.borrow_mut();
        for slot in state.slots.drain(..) {
            slot.worker.terminate();
        }
        if let Some(ticker) = state.ticker.take() {
            ticker.worker.terminate();
        }
        state.job = None;
        state.verifications.clear();
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use tabcoin_core::hash::MerkleRoot;
    use tabcoin_core::params::ChainParams;
    use tabcoin_core::{BlockHash, SecretKey};
    use wasm_bindgen_test::*;

    use crate::node::tests::sleep;

    fn collecting_pool(count: usize) -> (WorkerPool, Rc<RefCell<Vec<Report>>>) {
        let reports = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&reports);
        let pool = WorkerPool::new(count, 100, Rc::new(move |report| sink.borrow_mut().push(report)));
        (pool, reports)
    }

    async fn wait_for_report(reports: &Rc<RefCell<Vec<Report>>>, wanted: impl Fn(&Report) -> bool) -> Report {
        for _ in 0..300 {
            if let Some(report) = reports.borrow().iter().find(|r| wanted(r)) {
                return report.clone();
            }
            assert!(!reports.borrow().iter().any(|r| matches!(r, Report::Failed(_))), "{:?}", reports.borrow());
            sleep(50).await;
        }
        panic!("no such report in 15 s: {:?}", reports.borrow());
    }

    fn signed(key: &SecretKey, prefix: &[u8]) -> SignatureJob {
        SignatureJob::signed_by(key, tabcoin_core::sigcheck::SignedMessage::new(prefix.into(), 0))
    }

    fn header(bits: tabcoin_core::CompactTarget) -> BlockHeader {
        BlockHeader {
            version: 1,
            prev_blockhash: BlockHash([7; 32]),
            merkle_root: MerkleRoot([9; 32]),
            time: 1_700_000_000,
            bits,
            nonce: 0,
        }
    }

    #[wasm_bindgen_test]
    async fn workers_find_a_nonce_that_meets_the_test_networks_target_and_tick() {
        let (pool, reports) = collecting_pool(2);
        let header = header(ChainParams::test().pow_limit);
        pool.mine(MiningJob { id: 5, header, height: 1 });
        let Report::Found { job, nonce } = wait_for_report(&reports, |r| matches!(r, Report::Found { .. })).await
        else {
            unreachable!()
        };
        assert_eq!(job, 5);
        let search = NonceSearch::new(&header).unwrap();
        assert!(header.bits.to_target().unwrap().is_met_by(&search.hash_with_nonce(nonce)));
        assert!(pool.hashes() >= 1);
        assert!(pool.mining().is_none(), "a find stops the search");
        wait_for_report(&reports, |r| *r == Report::Tick).await;
        pool.terminate();
    }

    #[wasm_bindgen_test]
    async fn a_hard_search_reports_a_hashrate_and_stops_when_told() {
        let (pool, reports) = collecting_pool(2);
        // Main network difficulty: no find in a test's time.
        pool.mine(MiningJob { id: 1, header: header(ChainParams::main().pow_limit), height: 1 });
        let mut waited = 0;
        while pool.hashes() < 100_000 {
            assert!(waited < 15_000, "the workers hashed {} nonces in 15 s", pool.hashes());
            sleep(50).await;
            waited += 50;
        }
        pool.stop_mining();
        sleep(300).await;
        let stopped_at = pool.hashes();
        sleep(300).await;
        assert_eq!(pool.hashes(), stopped_at, "no hashing after stop");
        assert!(!reports.borrow().iter().any(|r| matches!(r, Report::Found { .. } | Report::Failed(_))));
        pool.terminate();
    }

    #[wasm_bindgen_test]
    async fn workers_check_signatures_and_answer_in_order() {
        let (pool, reports) = collecting_pool(2);
        let key = SecretKey::from_entropy([5; 32]);
        let mut jobs: Vec<SignatureJob> = (0..7u8).map(|i| signed(&key, &[i; 40])).collect();
        // Refused by core's form rules in the workers (high S, r zero).
        jobs[2].signature = jobs[2].signature.malleated().unwrap();
        jobs[5].signature.0[..32].fill(0);
        pool.verify(42, &jobs);
        let Report::Verified { id, results } =
            wait_for_report(&reports, |r| matches!(r, Report::Verified { .. })).await
        else {
            unreachable!()
        };
        assert_eq!(id, 42);
        assert_eq!(results, vec![true, true, false, true, true, false, true]);
        pool.terminate();
    }

    /// A signature WebCrypto refuses needs core's second opinion, from its P-256 module (which
    /// the test server does not serve): without it the workers give no answers at all, which
    /// the node asks again later, rather than a "no" that would call a block invalid.
    #[wasm_bindgen_test]
    async fn without_cores_second_opinion_there_is_no_answer() {
        let (pool, reports) = collecting_pool(2);
        let key = SecretKey::from_entropy([7; 32]);
        let mut jobs: Vec<SignatureJob> = (0..4u8).map(|i| signed(&key, &[i; 40])).collect();
        jobs[3].signature.0[10] ^= 1;
        pool.verify(44, &jobs);
        let answer = wait_for_report(&reports, |r| matches!(r, Report::Verified { .. })).await;
        assert_eq!(answer, Report::Verified { id: 44, results: vec![] });
        pool.terminate();
    }

    /// One signature (a peer's payment) goes to a worker too, not checked on the page's
    /// thread: no answer comes before the worker's.
    #[wasm_bindgen_test]
    async fn a_single_signature_is_checked_in_a_worker() {
        let (pool, reports) = collecting_pool(2);
        let key = SecretKey::from_entropy([6; 32]);
        pool.verify(43, &[signed(&key, &[1; 40])]);
        assert!(reports.borrow().is_empty(), "answered on the page's thread: {:?}", reports.borrow());
        let answer = wait_for_report(&reports, |r| matches!(r, Report::Verified { .. })).await;
        assert_eq!(answer, Report::Verified { id: 43, results: vec![true] });
        pool.terminate();
    }

    /// Workers that cannot load the module say so, and the checks they were given are done
    /// here instead: sync goes on.
    #[wasm_bindgen_test]
    async fn when_the_workers_cannot_load_the_module_signatures_are_checked_here() {
        let reports = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&reports);
        let on_report: Rc<dyn Fn(Report)> = Rc::new(move |report| sink.borrow_mut().push(report));
        let pool = WorkerPool::with_scripts(2, 100, on_report, "../../../../no-such-glue.js", None);
        let key = SecretKey::from_entropy([8; 32]);
        let mut jobs: Vec<SignatureJob> = (0..4u8).map(|i| signed(&key, &[i; 40])).collect();
        jobs[1].signature = jobs[1].signature.malleated().unwrap();
        pool.verify(9, &jobs);
        for _ in 0..300 {
            if reports.borrow().iter().any(|r| matches!(r, Report::Verified { .. })) {
                break;
            }
            sleep(50).await;
        }
        let reports = reports.borrow();
        assert!(reports.iter().any(|r| matches!(r, Report::Failed(_))), "{reports:?}");
        assert!(reports.contains(&Report::Verified { id: 9, results: vec![true, false, true, true] }), "{reports:?}");
        pool.terminate();
    }

    #[wasm_bindgen_test]
    async fn a_timer_that_cannot_load_is_reported_and_the_miners_still_work() {
        let reports = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&reports);
        let on_report: Rc<dyn Fn(Report)> = Rc::new(move |report| sink.borrow_mut().push(report));
        let pool = WorkerPool::with_scripts(1, 100, on_report, GLUE_FROM_WORKER, Some("./no-such-timer.js"));
        crate::node::tests::wait_for("the timer's failure", || {
            reports.borrow().iter().any(|r| matches!(r, Report::TimerFailed))
        })
        .await;
        assert!(!pool.has_timer());
        assert!(!reports.borrow().iter().any(|r| matches!(r, Report::Tick)), "no ticks from a timer that never ran");
        pool.mine(MiningJob { id: 8, header: header(ChainParams::test().pow_limit), height: 1 });
        let found = wait_for_report(&reports, |r| matches!(r, Report::Found { .. })).await;
        assert!(matches!(found, Report::Found { job: 8, .. }), "{found:?}");
        pool.terminate();
    }
}
