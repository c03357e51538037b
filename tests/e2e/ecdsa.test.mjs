// Core's P-256 module (www/pkg/ecdsa), which the page's own wasm does not carry: served by the
// relay and loaded by the page's signature checker only when WebCrypto refuses, it gives the
// second opinion; it works out keys and signs as core does.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Relay, launchBrowser, openNode, waitForStatus } from './harness.mjs';

const relay = new Relay();
let browser;

after(async () => {
  await browser?.close();
  await relay.cleanup();
});

test('a signature WebCrypto refuses gets core\'s second opinion from the P-256 module', async () => {
  await relay.start();
  browser = await launchBrowser();
  const context = await browser.newContext();
  const page = await openNode(context, relay, 'ecdsa-test');
  await waitForStatus(page, () => true, 'the node to start');
  const found = await page.evaluate(async () => {
    const ecdsa = await import('/pkg/ecdsa/tabcoin_ecdsa.js');
    await ecdsa.default();
    // Three jobs of one key, each a 60-byte prefix of its own: a run is u32 length, prefix,
    // u32 count, then the 33-byte key, 64-byte signature and u32 index.
    const jobs = ecdsa.sample_signature_jobs(3);
    const run = 4 + 60 + 4 + 33 + 64 + 4;
    jobs[run + 4 + 60 + 4 + 33 + 10] ^= 1;
    // The page's own glue, initialised by the page.
    const glue = await import('/pkg/tabcoin_web.js');
    const checker = new glue.SignatureChecker();
    const results = await checker.verify(jobs);
    return {
      results: results ? [...results] : null,
      byCore: checker.checkedByCore,
      alone: [...ecdsa.verify_signatures(jobs)],
    };
  });
  assert.deepEqual(found.results, [1, 0, 1], 'WebCrypto took the valid ones; core refused the forged one');
  assert.equal(found.byCore, 1, 'only the refused signature went to core');
  assert.deepEqual(found.alone, [1, 0, 1]);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('the page loads without the P-256 module', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const fetched = [];
  page.on('request', (request) => fetched.push(new URL(request.url()).pathname));
  await page.goto(`${relay.url}?node=ecdsa-lazy`);
  await waitForStatus(page, () => true, 'the node to start');
  assert.ok(fetched.some((path) => path.endsWith('/tabcoin_web_bg.wasm')), fetched.join(' '));
  assert.ok(!fetched.some((path) => path.includes('/ecdsa/')), `fetched: ${fetched.join(' ')}`);
  await context.close();
});
