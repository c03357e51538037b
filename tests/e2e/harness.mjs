// What the end-to-end tests start: the real relay binary on a fresh data directory and a free
// loopback port, its CLI, and headless Chromium (Debian's, through playwright-core) with one
// browser context per node, so each tab has its own IndexedDB.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '..', '..');
const binary = process.env.TABCOIN_BIN ?? join(repo, 'target', 'debug', 'tabcoin');
export const screenshots = join(repo, 'tests', 'screenshots');

export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

export class Relay {
  /** A relay on `datadir`, or on a fresh directory removed by `cleanup`. */
  constructor(datadir) {
    this.owned = !datadir;
    this.datadir = datadir ?? mkdtempSync(join(tmpdir(), 'tabcoin-e2e-'));
    this.port = null;
    this.process = null;
    this.log = [];
  }

  get url() {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** Starts the relay (the first start creates the chain) and waits until it listens. */
  async start() {
    this.port ??= await freePort();
    const child = spawn(binary, ['--network', 'test', '--datadir', this.datadir, 'startnode',
      '--port', String(this.port), '--www', join(repo, 'www')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process = child;
    const exited = new Promise((_, reject) => child.once('exit', (code) =>
      reject(new Error(`the relay exited (${code}) before listening:\n${this.log.join('')}`))));
    const listening = new Promise((resolveListening) => {
      child.stdout.on('data', (chunk) => {
        const text = chunk.toString();
        this.log.push(text);
        const central = text.match(/The relay's wallet address: (\S+)/);
        if (central) this.central = central[1];
        if (text.includes('listening on')) resolveListening();
      });
    });
    child.stderr.on('data', (chunk) => this.log.push(chunk.toString()));
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('the relay did not listen in 30 s')), 30_000));
    await Promise.race([listening, exited, timeout]);
    child.removeAllListeners('exit');
  }

  /** Stops it with `signal` (SIGTERM: a clean stop; SIGKILL: a crash) and waits for the exit. */
  async stop(signal = 'SIGTERM') {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
    child.kill(signal);
    await exited;
    this.process = null;
  }

  /** Runs a CLI verb against this relay's data directory (through its RPC while it runs). */
  async cli(...args) {
    const { stdout } = await run(binary, ['--network', 'test', '--datadir', this.datadir, ...args], { timeout: 30_000 });
    return stdout.trim();
  }

  async balance(address) {
    const response = await fetch(`${this.url}api/address/${address}`);
    return (await response.json()).confirmed;
  }

  async cleanup() {
    await this.stop('SIGKILL');
    if (this.owned) rmSync(this.datadir, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  mkdirSync(screenshots, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** A node's page in `context`, with its console errors collected for the test to show. */
export async function openNode(context, relay, nodeId) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (error) => page.errors.push(error.message));
  page.on('console', (message) => {
    // The browser's own lines about refused connections are expected: the tests stop the relay.
    if (message.type() === 'error' && !message.text().includes('net::ERR_CONNECTION_REFUSED')) {
      page.errors.push(message.text());
    }
  });
  await page.goto(`${relay.url}?node=${nodeId}`);
  return page;
}

/** How long a step waits for what it expects: generous, as CI machines are slow and shared
 *  (a bound against hanging, not a speed check). */
export const WAIT = { timeout: 60_000, polling: 100 };

/** Saves each tab's screenshot and status, and the relay's log, as `failure-*` files next to
 *  the screenshots, and prints where. */
export async function saveDiagnosis(step, tabs, relay) {
  const slug = step.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 60);
  // The relay first and the tabs last: the test command prints the end of this file when a
  // test fails, and what the tabs showed is what explains most failures.
  const lines = [`step: ${step}`, 'relay output (last 200 lines):', ...relay.log.join('').split('\n').slice(-200)];
  for (const [name, tab] of Object.entries(tabs)) {
    if (!tab || tab.isClosed()) continue;
    await tab.screenshot({ path: join(screenshots, `failure-${slug}-${name}.png`), fullPage: true }).catch(() => {});
    const status = await tab.evaluate(() => window.tabcoin?.node.status() ?? null).catch((e) => String(e));
    const shown = await tab.evaluate(() => [...document.querySelectorAll('.message, .notice, #addresses li')]
      .filter((element) => element.textContent.trim() !== '')
      .map((element) => `${element.id || element.className}: ${element.textContent.trim().slice(0, 300)}`))
      .catch((e) => [String(e)]);
    const log = await tab.evaluate(() => [...document.querySelectorAll('#log-lines li')].slice(0, 20).map((li) => li.textContent))
      .catch(() => []);
    lines.push(`--- ${name} tab`, `${name} log (newest first):`, ...log, `${name} messages shown:`, ...shown,
      `${name} errors: ${JSON.stringify(tab.errors)}`, `${name} status: ${JSON.stringify(status)}`);
  }
  const file = join(screenshots, `failure-${slug}.txt`);
  writeFileSync(file, lines.join('\n'));
  console.error(`diagnosis saved in ${file}`);
}

/** Waits until the tab's node reports a status for which `predicate` holds. The status is
 *  read in the page and checked here: the page's CSP (kept on in these tests) forbids eval. */
export async function waitForStatus(page, predicate, what) {
  const deadline = Date.now() + WAIT.timeout;
  let status = null;
  for (;;) {
    status = await page.evaluate(() => window.tabcoin?.node.status() ?? null).catch(() => null);
    if (status && predicate(status)) return status;
    if (Date.now() > deadline) {
      throw new Error(`waited ${WAIT.timeout / 1000} s for ${what}\nstatus: ${JSON.stringify(status)}\nerrors: ${page.errors}`);
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, WAIT.polling));
  }
}

/** The wallet panel's addresses and confirmed balances, as the page shows them. */
export async function shownBalances(page) {
  return page.$$eval('#addresses li[data-address]', (rows) => Object.fromEntries(rows.map((row) =>
    [row.dataset.address, row.querySelector('.confirmed').textContent])));
}

/** Types `address` into the look-up form and returns the confirmed balance it shows. */
export async function lookUp(page, address) {
  await page.fill('#lookup-address', address);
  await page.click('#lookup-form button');
  return page.textContent('#lookup-result .lookup-confirmed');
}
