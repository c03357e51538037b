// A benchmark worker: hashes for a given time in one of two ways and reports how many, or
// checks signatures with core's P-256 in wasm (its own module, pkg/ecdsa) or with the
// browser's WebCrypto.

import init, { SignatureChecker, WorkerSearch, plain_double_sha256 } from '../pkg/tabcoin_web.js';
import initEcdsa, { verify_signatures } from '../pkg/ecdsa/tabcoin_ecdsa.js';

const CHUNK = 1 << 14;
let ready = null;
let webcrypto = null;
const checker = () => (webcrypto ??= new SignatureChecker());

self.onmessage = async ({ data }) => {
  if (data.kind === 'init') {
    ready = Promise.all([init({ module_or_path: data.module }), initEcdsa()]);
    await ready;
    postMessage({ kind: 'ready' });
    return;
  }
  await ready;
  if (data.mode === 'verify' || data.mode === 'webcrypto') {
    const started = performance.now();
    const results = data.mode === 'verify' ? verify_signatures(data.jobs) : await checker().verify(data.jobs);
    const seconds = (performance.now() - started) / 1000;
    postMessage({ kind: 'done', checked: results.length, valid: results.reduce((a, b) => a + b, 0), seconds });
    return;
  }
  const search = data.mode === 'midstate' ? new WorkerSearch(data.header) : null;
  let nonce = 0;
  let folded = 0;
  const started = performance.now();
  while (performance.now() - started < data.ms) {
    if (search) {
      if (search.search(nonce, CHUNK) !== undefined) folded ^= 1;
    } else {
      folded ^= plain_double_sha256(data.header, nonce, CHUNK);
    }
    nonce += CHUNK;
  }
  const seconds = (performance.now() - started) / 1000;
  search?.free();
  postMessage({ kind: 'done', hashes: nonce, seconds, folded });
};
