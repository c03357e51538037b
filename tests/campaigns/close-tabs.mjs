// Campaign: close a tab's browser mid-sync, again and again, and reopen it on the same
// profile. Each reopen must find a consistent store (the node starts from IndexedDB, at least
// as high as the last height it had committed) and sync must resume to the relay's tip.
//
//   node tests/campaigns/close-tabs.mjs --chain DIR [--rounds 20] [--seed 1]
//
// DIR: a relay data directory, e.g. written by
// `cargo bench -p tabcoin-relay --bench load -- signed-chain DIR 10000`.
// TABCOIN_BIN picks the relay binary (a release build). Results go to docs/RELIABILITY.md.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Relay } from '../e2e/harness.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const chain = option('--chain');
if (!chain) throw new Error('--chain DIR is required');
const rounds = Number(option('--rounds', 20));
let state = Number(option('--seed', 1)) >>> 0 || 1;
// xorshift32: the same seed closes at the same moments.
const random = () => {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state / 2 ** 32;
};

const relay = new Relay(chain);
await relay.start();
const tip = await (await fetch(`${relay.url}api/tip`)).json();
const profile = mkdtempSync(join(tmpdir(), 'tabcoin-close-'));
const url = `${relay.url}?node=close-campaign`;
const launch = () => chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

async function open(context) {
  const page = context.pages()[0] ?? await context.newPage();
  await page.goto(url);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const started = await page.evaluate(() => {
      const notice = document.querySelector('#notice-start, #notice-in-use');
      if (notice) return { error: notice.textContent };
      return window.tabcoin ? { status: window.tabcoin.node.status() } : null;
    }).catch(() => null);
    if (started) return { page, ...started };
    if (Date.now() > deadline) return { page, error: 'the node did not start in 60 s' };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const status = (page) => page.evaluate(() => window.tabcoin.node.status()).catch(() => null);
const failures = [];
let committed = 0;
try {
  for (let round = 1; round <= rounds; round++) {
    const context = await launch();
    const { page, status: first, error } = await open(context);
    if (error) {
      failures.push(`round ${round}: ${error}`);
      await context.close();
      break;
    }
    const restored = first.height ?? 0;
    if (restored < committed) failures.push(`round ${round}: restored height ${restored} below the ${committed} committed before`);
    const closeAfter = 500 + random() * 8_000;
    const started = Date.now();
    let last = first;
    while (Date.now() - started < closeAfter) {
      const now = await status(page);
      if (now) {
        last = now;
        if (now.settled && now.height !== null) committed = Math.max(committed, now.height);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    console.log(`round ${round}: restored at ${restored}, closed after ${(closeAfter / 1000).toFixed(1)} s at height ${last.height} (${last.settled ? 'settled' : 'writing'})`);
    await context.close();
  }
  // Reopen once more: sync resumes to the relay's tip, on the relay's chain.
  const context = await launch();
  const { page, error } = await open(context);
  if (error) {
    failures.push(`final reopen: ${error}`);
  } else {
    const deadline = Date.now() + 600_000;
    let now = null;
    while (Date.now() < deadline) {
      now = await status(page);
      if (now && now.height === tip.height && now.settled) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    if (!(now && now.height === tip.height && now.tip === tip.hash)) {
      failures.push(`final sync: ${JSON.stringify(now)}; relay tip ${tip.height} ${tip.hash}`);
    } else {
      console.log(`final reopen: synced to the relay's tip ${tip.height} ${tip.hash}`);
    }
  }
  await context.close();
} finally {
  await relay.cleanup();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${rounds} closes mid-sync: ${failures.length} failures`);
for (const failure of failures) console.log(`  ${failure}`);
process.exitCode = failures.length ? 1 : 0;
