// One file, two roles. Imported by wasm-bindgen's glue on the page's thread, it exports
// `spawn_worker`; run as a module worker (by `spawn_worker`), it is a tabcoin worker: a ticker
// (no wasm), or a miner and signature checker that instantiates the page's compiled wasm module.
// The worker is this same file so that it is served wherever the glue's snippets are.

// `script`, when given, is another worker script relative to this one (tests use one that does
// not exist, to see a worker fail to load).
export function spawn_worker(script) {
  const url = script ? new URL(script, import.meta.url) : new URL(import.meta.url);
  return new Worker(url, { type: 'module', name: 'tabcoin' });
}

// Core's P-256 in a module of its own, loaded the first time WebCrypto refuses something:
// the page's own wasm has no P-256 arithmetic. It sits in the page's pkg/ecdsa (this file is
// served from pkg/snippets/<crate>/src/js/).
let ecdsa = null;
// A failed load is tried again only after this long (doubling to 30 s), so that a node asking
// again at once does not spin while the module can not be fetched.
let retryAt = 0;
let backoff = 1000;

async function loadEcdsa() {
  const wait = retryAt - Date.now();
  if (!ecdsa && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  ecdsa ??= (async () => {
    const module = await import(new URL('../../../../ecdsa/tabcoin_ecdsa.js', import.meta.url));
    await module.default();
    return module;
  })();
  try {
    const module = await ecdsa;
    backoff = 1000;
    return module;
  } catch (error) {
    ecdsa = null;
    retryAt = Date.now() + backoff;
    backoff = Math.min(backoff * 2, 30_000);
    throw error;
  }
}

// The byte arguments are views into the caller's wasm memory, valid only until it runs again:
// copied before anything is awaited.
export async function verify_elsewhere(jobs) {
  const copy = jobs.slice();
  return (await loadEcdsa()).verify_signatures(copy);
}

export async function public_key_elsewhere(secret) {
  const copy = secret.slice();
  return (await loadEcdsa()).public_key(copy);
}

export async function sign_elsewhere(secret, messages) {
  const copy = secret.slice();
  return (await loadEcdsa()).sign(copy, messages);
}

// Nonces per wasm call: a few tens of milliseconds, so a new job or a stop is seen quickly.
const CHUNK = 1 << 16;

function isWorker() {
  return typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope;
}

// Yields to the event loop without setTimeout's clamping, so queued messages are handled.
function yieldNow() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(0);
  });
}

if (isWorker()) {
  let glue = null;
  let ready = null;
  // Bumped by every new job or stop: a running search loop ends when it no longer matches.
  let generation = 0;

  async function mine(message) {
    const mine_generation = ++generation;
    let search;
    try {
      search = new glue.WorkerSearch(message.header);
    } catch (error) {
      postMessage({ kind: 'failed', error: String(error) });
      return;
    }
    let next = message.start;
    try {
      while (next < message.end && generation === mine_generation) {
        const count = Math.min(CHUNK, message.end - next);
        const found = search.search(next, count);
        if (found !== undefined) {
          postMessage({ kind: 'hashes', job: message.job, count: found - next + 1 });
          postMessage({ kind: 'found', job: message.job, nonce: found });
          return;
        }
        next += count;
        postMessage({ kind: 'hashes', job: message.job, count });
        await yieldNow();
      }
      if (generation === mine_generation) {
        postMessage({ kind: 'exhausted', job: message.job });
      }
    } finally {
      search.free();
    }
  }

  // Made on the first check: it keeps the keys WebCrypto imported.
  let checker = null;

  async function verify(message) {
    let results;
    try {
      checker ??= new glue.SignatureChecker();
      results = await checker.verify(message.jobs);
    } catch (error) {
      postMessage({ kind: 'failed', error: `the signature checks failed: ${error}` });
      return;
    }
    // `undefined`: not all could be answered (core's P-256 module did not load).
    postMessage({ kind: 'verified', id: message.id, part: message.part, results }, results ? [results.buffer] : []);
  }

  self.onmessage = async (event) => {
    const message = event.data;
    switch (message.kind) {
      case 'ticker':
        setInterval(() => postMessage({ kind: 'tick' }), message.ms);
        return;
      case 'init':
        ready = (async () => {
          glue = await import(message.glue);
          await glue.default({ module_or_path: message.module });
        })();
        try {
          await ready;
          postMessage({ kind: 'ready' });
        } catch (error) {
          postMessage({ kind: 'failed', error: `the worker could not load the wasm: ${error}` });
        }
        return;
      case 'stop':
        generation++;
        return;
    }
    try {
      await ready;
    } catch {
      return;
    }
    if (message.kind === 'mine') {
      await mine(message);
    } else if (message.kind === 'verify') {
      await verify(message);
    }
  };
  postMessage({ kind: 'alive' });
}
