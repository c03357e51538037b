// The browser benchmarks, in headless Chromium against the real relay (127.0.0.1 only):
//
//   node tests/bench/browser.mjs [--chain DIR] [--runs N]
//
// - nonce rate per worker: the midstate search against plain double SHA-256 in the same run,
//   and two workers against one (www/bench.html);
// - with --chain DIR (a relay data directory written by
//   `cargo bench -p tabcoin-relay --bench load -- signed-chain DIR`): a fresh tab's
//   full-validation sync of that chain into IndexedDB, from opening the page to the last
//   block committed; N runs (default 3), each in a new browser context.
// TABCOIN_BIN picks the relay binary (use a release build: target/release/tabcoin).

import { Relay, launchBrowser, openNode, waitForStatus, WAIT } from '../e2e/harness.mjs';

const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const chain = option('--chain');
const runs = Number(option('--runs') ?? 3);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const relay = new Relay(chain);
await relay.start();
const browser = await launchBrowser();
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${relay.url}bench.html`);
  await page.waitForFunction(() => window.benchResults, undefined, { timeout: 120_000 });
  const nonce = await page.evaluate(() => window.benchResults);
  if (nonce.error) throw new Error(nonce.error);
  console.log(`nonce rate, one worker: plain SHA-256d ${(nonce.plain / 1e6).toFixed(2)} M/s, `
    + `midstate ${(nonce.midstate / 1e6).toFixed(2)} M/s (${nonce.midstateOverPlain.toFixed(2)}x plain)`);
  console.log(`two workers: ${(nonce.twoWorkers / 1e6).toFixed(2)} M/s (${nonce.twoOverOne.toFixed(2)}x one); `
    + `navigator.hardwareConcurrency ${nonce.cores}`);
  console.log(`P-256 signature checks in wasm: one worker ${nonce.verifyOne.toFixed(0)}/s, two workers ${nonce.verifyTwo.toFixed(0)}/s`);
  console.log(`WebCrypto signature checks: one worker ${nonce.webcryptoOne.toFixed(0)}/s, two workers ${nonce.webcryptoTwo.toFixed(0)}/s`);
  await context.close();

  if (chain) {
    const tip = await (await fetch(`${relay.url}api/tip`)).json();
    const seconds = [];
    for (let run = 0; run < runs; run++) {
      const fresh = await browser.newContext();
      const started = performance.now();
      const tab = await openNode(fresh, relay, `sync-bench-${Date.now()}`);
      WAIT.timeout = 600_000;
      WAIT.polling = 50;
      await waitForStatus(tab, (s) => s.height === tip.height && s.settled && !s.syncing, 'the sync');
      const elapsed = (performance.now() - started) / 1000;
      seconds.push(elapsed);
      console.log(`run ${run}: ${tip.height} blocks synced and committed in ${elapsed.toFixed(2)} s`);
      await fresh.close();
    }
    console.log(`fresh-tab full-validation sync of ${tip.height} blocks into IndexedDB: median ${median(seconds).toFixed(2)} s`);
  }
} finally {
  await browser.close();
  await relay.cleanup();
}
