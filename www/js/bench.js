// The browser benchmark: nonce rate per worker, plain double SHA-256 against the midstate
// search, and two workers against one. Results go to window.benchResults for scripts
// (tests/bench/browser.mjs) and to the page.

import initEcdsa, { sample_signature_jobs } from '../pkg/ecdsa/tabcoin_ecdsa.js';
import { $, el } from './dom.js';

const params = new URLSearchParams(location.search);
const RUNS = Number(params.get('runs') ?? 3);
const MS = Number(params.get('ms') ?? 2000);

// A header whose target (the main network's limit, 0x1d00ffff) no nonce range here meets.
function header() {
  const bytes = new Uint8Array(80);
  for (let i = 4; i < 68; i++) bytes[i] = (i * 37) & 0xff;
  new DataView(bytes.buffer).setUint32(72, 0x1d00ffff, true);
  return bytes;
}

async function startWorker(module) {
  const worker = new Worker(new URL('./bench-worker.js', import.meta.url), { type: 'module' });
  await new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => data.kind === 'ready' && resolve();
    worker.onerror = (error) => reject(new Error(error.message));
    worker.postMessage({ kind: 'init', module });
  });
  return worker;
}

function measure(worker, mode) {
  return new Promise((resolve) => {
    worker.onmessage = ({ data }) => resolve(data.hashes / data.seconds);
    worker.postMessage({ kind: 'run', mode, header: header(), ms: MS });
  });
}

const SIGNATURES = Number(params.get('signatures') ?? 1000);

function verifyRate(worker, jobs, mode) {
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => (data.valid === data.checked ? resolve(data.checked / data.seconds)
      : reject(new Error(`${data.checked - data.valid} sample signatures did not verify`)));
    worker.postMessage({ kind: 'run', mode, jobs });
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rate = (perSecond) => `${(perSecond / 1e6).toFixed(2)} M/s`;

async function main() {
  $('runs').textContent = RUNS;
  $('seconds').textContent = MS / 1000;
  const module = await WebAssembly.compileStreaming(fetch(new URL('../pkg/tabcoin_web_bg.wasm', import.meta.url)));
  const workers = [await startWorker(module), await startWorker(module)];
  const plain = [];
  const midstate = [];
  const two = [];
  for (let run = 0; run < RUNS; run++) {
    plain.push(await measure(workers[0], 'plain'));
    midstate.push(await measure(workers[0], 'midstate'));
    const both = await Promise.all(workers.map((worker) => measure(worker, 'midstate')));
    two.push(both[0] + both[1]);
  }
  const results = {
    cores: navigator.hardwareConcurrency,
    plain: median(plain),
    midstate: median(midstate),
    twoWorkers: median(two),
  };
  await initEcdsa();
  const jobs = sample_signature_jobs(SIGNATURES);
  const halves = [sample_signature_jobs(SIGNATURES / 2), sample_signature_jobs(SIGNATURES / 2)];
  for (const mode of ['verify', 'webcrypto']) {
    const one = [];
    const two = [];
    for (let run = 0; run < RUNS; run++) {
      one.push(await verifyRate(workers[0], jobs, mode));
      const parts = await Promise.all(workers.map((worker, i) => verifyRate(worker, halves[i], mode)));
      two.push(parts[0] + parts[1]);
    }
    results[`${mode}One`] = median(one);
    results[`${mode}Two`] = median(two);
  }
  results.midstateOverPlain = results.midstate / results.plain;
  results.twoOverOne = results.twoWorkers / results.midstate;
  workers.forEach((worker) => worker.terminate());
  window.benchResults = results;
  $('results').replaceChildren(
    el('dt', { text: 'Plain SHA-256d, one worker' }), el('dd', { text: rate(results.plain) }),
    el('dt', { text: 'Midstate search, one worker' }), el('dd', { text: `${rate(results.midstate)} (${results.midstateOverPlain.toFixed(2)}x plain)` }),
    el('dt', { text: 'Midstate search, two workers' }), el('dd', { text: `${rate(results.twoWorkers)} (${results.twoOverOne.toFixed(2)}x one)` }),
    el('dt', { text: 'P-256 verifications in wasm, one worker' }), el('dd', { text: `${results.verifyOne.toFixed(0)} /s` }),
    el('dt', { text: 'P-256 verifications in wasm, two workers' }), el('dd', { text: `${results.verifyTwo.toFixed(0)} /s` }),
    el('dt', { text: 'WebCrypto verifications, one worker' }), el('dd', { text: `${results.webcryptoOne.toFixed(0)} /s` }),
    el('dt', { text: 'WebCrypto verifications, two workers' }), el('dd', { text: `${results.webcryptoTwo.toFixed(0)} /s` }),
    el('dt', { text: 'Cores' }), el('dd', { text: String(results.cores) }));
}

main().catch((error) => {
  window.benchResults = { error: String(error) };
  $('state').textContent = `failed: ${error}`;
});
