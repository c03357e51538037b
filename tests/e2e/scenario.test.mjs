// The seed's scenario (DESIGN.md section 6) end to end: the relay's CLI for CENTRAL, and two
// headless Chromium tabs, a wallet (?node=3001) and a miner (?node=3002), driven through their
// page as a person would: clicking and typing. Then reloads with the relay down, a clean
// restart, a SIGKILL and restart, a second tab on the same node, bad sends, and a late joiner.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  Relay, launchBrowser, openNode, waitForStatus, shownBalances, lookUp, screenshots, saveDiagnosis, WAIT,
} from './harness.mjs';

const relay = new Relay();
let browser;
after(async () => {
  await browser?.close();
  await relay.cleanup();
});

const EXPECTED = { W1: '9', W2: '9', W3: '1', W4: '1', MINER: '10', CENTRAL: '10' };

async function sendFromPage(page, from, to, amount, fee = '0') {
  await page.selectOption('#send-from', from);
  await page.fill('#send-to', to);
  await page.fill('#send-amount', amount);
  await page.fill('#send-fee', fee);
  await page.click('#send-button');
  // The page checks the payment's signatures (WebCrypto) before it answers.
  await page.waitForFunction(() => !document.querySelector('#send-button').disabled
    && document.querySelector('#send-message').textContent.trim() !== '', null, WAIT);
  return (await page.textContent('#send-message')).trim();
}

async function checkBalances(walletTab, minerTab, names, what) {
  await walletTab.waitForFunction((expected) => {
    const rows = document.querySelectorAll('#addresses li[data-address]');
    return [...rows].length === Object.keys(expected).length && [...rows].every((row) =>
      row.querySelector('.confirmed').textContent === expected[row.dataset.address]);
  }, Object.fromEntries(['W1', 'W2', 'W3', 'W4'].map((n) => [names[n], EXPECTED[n]])), WAIT)
    .catch(async (error) => { throw new Error(`${what}: wallet tab shows ${JSON.stringify(await shownBalances(walletTab))}: ${error.message}`); });
  const wallet = await shownBalances(walletTab);
  for (const name of ['W1', 'W2', 'W3', 'W4']) assert.equal(wallet[names[name]], EXPECTED[name], `${what}: ${name} in the wallet tab`);
  await minerTab.waitForFunction((miner) =>
    document.querySelector(`#addresses li[data-address="${miner}"] .confirmed`)?.textContent === '10', names.MINER, WAIT);
  assert.equal((await shownBalances(minerTab))[names.MINER], EXPECTED.MINER, `${what}: MINER in the miner tab`);
  assert.equal(await lookUp(walletTab, names.CENTRAL), EXPECTED.CENTRAL, `${what}: CENTRAL looked up in the wallet tab`);
  assert.equal(await lookUp(minerTab, names.W1), EXPECTED.W1, `${what}: W1 looked up in the miner tab`);
}

async function checkRelay(names, what) {
  for (const [name, expected] of Object.entries(EXPECTED)) {
    const cli = await relay.cli('getbalance', '--address', names[name]);
    assert.match(cli, new RegExp(`^Balance of '${names[name]}': ${expected}\\b`), `${what}: ${name} from the CLI`);
    assert.equal(await relay.balance(names[name]), expected, `${what}: ${name} from the API`);
  }
}

test('the seed\'s scenario in two tabs, through reloads, restarts and a crash of the relay', { timeout: 600_000 }, async (root) => {
  const names = {};
  let walletContext, minerContext, walletTab, minerTab;
  // Steps build on each other: after a failure the rest are skipped, and what the tabs and
  // the relay showed is saved for the person reading the failure.
  let failed = false;
  const t = {
    test: (name, body) => root.test(name, async (step) => {
      if (failed) {
        step.skip('an earlier step failed');
        return;
      }
      try {
        await body(step);
      } catch (error) {
        failed = true;
        await saveDiagnosis(name, { wallet: walletTab, miner: minerTab }, relay);
        throw error;
      }
    }),
  };

  await t.test('1. the relay creates the chain, its genesis paying CENTRAL, and runs', async () => {
    await relay.start();
    assert.ok(relay.central, `the relay printed its address:\n${relay.log.join('')}`);
    names.CENTRAL = relay.central;
    browser = await launchBrowser();
  });

  await t.test('2. a wallet tab syncs and creates WALLET_1..WALLET_4', async () => {
    walletContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    walletTab = await openNode(walletContext, relay, '3001');
    await waitForStatus(walletTab, s => s.connected && s.height === 0, 'the genesis');
    // A person starts typing a reward address in the miner panel before any address exists.
    await walletTab.fill('#miner-payee', 'mg');
    for (let i = 1; i <= 4; i++) {
      await walletTab.click('#new-address');
      await walletTab.waitForFunction((n) => document.querySelectorAll('#addresses li[data-address]').length === n, i, WAIT);
    }
    const addresses = Object.keys(await shownBalances(walletTab));
    [names.W1, names.W2, names.W3, names.W4] = addresses;
    assert.equal(new Set(addresses).size, 4);
    // The miner panel offers the four addresses but leaves what the person typed alone.
    await walletTab.waitForFunction(() => document.querySelectorAll('#miner-payees option').length === 4, undefined, WAIT);
    assert.equal(await walletTab.inputValue('#miner-payee'), 'mg', 'the typed reward address was overwritten');
    await walletTab.fill('#miner-payee', '');
  });

  await t.test('3. CENTRAL sends 10 to WALLET_1 and 10 to WALLET_2 from the relay\'s CLI, mined at once', async () => {
    for (const to of [names.W1, names.W2]) {
      const out = await relay.cli('send', '--from', names.CENTRAL, '--to', to, '--amount', '10', '--mine');
      assert.match(out, /Success/i, out);
    }
    await waitForStatus(walletTab, s => s.height === 2, 'the two mined blocks in the wallet tab');
    await walletTab.waitForFunction((w) => document.querySelector(`#addresses li[data-address="${w}"] .confirmed`)?.textContent === '10', names.W2, WAIT);
  });

  await t.test('4. a miner tab syncs and mines to MINER when 2 transactions wait', async () => {
    minerContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    minerTab = await openNode(minerContext, relay, '3002');
    await waitForStatus(minerTab, s => s.connected && s.height === 2, 'the miner tab\'s sync');
    await minerTab.click('#new-address');
    await minerTab.waitForFunction(() => document.querySelectorAll('#addresses li[data-address]').length === 1, undefined, WAIT);
    [names.MINER] = Object.keys(await shownBalances(minerTab));
    // The page suggests the wallet's address as the reward address, as a person would see.
    await minerTab.waitForFunction((miner) => document.getElementById('miner-payee').value === miner, names.MINER, WAIT);
    assert.equal(await minerTab.inputValue('#miner-threshold'), '2', 'the seed\'s policy is the default');
    await minerTab.click('#miner-start');
    assert.equal(await minerTab.textContent('#miner-message'), 'Mining once the mempool holds 2.');
    await waitForStatus(minerTab, s => s.miner.on && s.miner.whenMempoolHolds === 2, 'the miner to start');
    await minerTab.waitForFunction(() => /when the mempool holds 2/.test(document.getElementById('miner-state').textContent),
      undefined, WAIT);
  });

  await t.test('5. the wallet tab sends WALLET_1 -> WALLET_3 1 and WALLET_2 -> WALLET_4 1, fee 0', async () => {
    assert.match(await sendFromPage(walletTab, names.W1, names.W3, '1'), /^Sent: transaction [0-9a-f]{64}$/);
    assert.match(await sendFromPage(walletTab, names.W2, names.W4, '1'), /^Sent: transaction [0-9a-f]{64}$/);
  });

  await t.test('6. the miner mines a block with both; the relay takes it; the wallet tab receives it', async () => {
    await waitForStatus(minerTab, s => s.miner.blocksMined === 1 && s.height === 3, 'the miner\'s block');
    await waitForStatus(walletTab, s => s.height === 3 && s.mempool === 0, 'the block in the wallet tab');
    const tip = await minerTab.evaluate(() => window.tabcoin.node.status().tip);
    const relayTip = await (await fetch(`${relay.url}api/tip`)).json();
    assert.equal(relayTip.hash, tip, 'the relay took the miner tab\'s block');
    assert.equal(relayTip.height, 3);
    // The log: protocol events as the seed printed them, newest first (the page draws the
    // node's events on its next refresh).
    await walletTab.waitForFunction(() => [...document.querySelectorAll('#log-lines li')]
      .some((line) => line.textContent.includes('at height 3')), undefined, WAIT);
    const added = await walletTab.$$eval('#log-lines li', (lines) =>
      lines.map((line) => line.textContent).filter((text) => text.includes('Added block')));
    assert.ok(added[0]?.includes(`Added block ${tip} at height 3`), `the newest line first: ${added.slice(0, 3)}`);
    assert.ok(added[1]?.includes('at height 2') && added[2]?.includes('at height 1'), `then the older ones: ${added.slice(0, 3)}`);
    // The explorer lists it; clicking it shows its three transactions.
    await walletTab.click(`#blocks li[data-hash="${tip}"]`);
    await walletTab.waitForSelector('#block-detail .tx', WAIT);
    assert.equal(await walletTab.locator('#block-detail .tx').count(), 3, 'the coinbase and both payments');
  });

  await t.test('7. balances everywhere: 9, 9, 1, 1, MINER 10, CENTRAL 10', async () => {
    await checkBalances(walletTab, minerTab, names, 'after the block');
    await checkRelay(names, 'after the block');
    await walletTab.screenshot({ path: join(screenshots, 'wallet-tab.png'), fullPage: true });
    await minerTab.screenshot({ path: join(screenshots, 'miner-tab.png'), fullPage: true });
    await walletTab.setViewportSize({ width: 390, height: 844 });
    await walletTab.screenshot({ path: join(screenshots, 'wallet-tab-phone.png') });
    await walletTab.setViewportSize({ width: 1280, height: 900 });
  });

  await t.test('a second page on the same node id says it is open in another tab', async () => {
    const second = await openNode(walletContext, relay, '3001');
    await second.waitForSelector('#notice-in-use', WAIT);
    assert.match(await second.textContent('#notice-in-use'), /open in another tab/);
    assert.equal(await second.isVisible('#panels'), false, 'it does not run the node');
    await second.close();
    // The first tab still runs.
    await waitForStatus(walletTab, s => s.connected, 'the first tab');
  });

  await t.test('a bad address or too large an amount is refused and nothing is sent', async () => {
    const before = await relay.cli('getbalance', '--address', names.W1);
    const bad = await sendFromPage(walletTab, names.W1, 'mNotAnAddress', '1');
    assert.match(bad, /^Check the address: /);
    assert.equal(await walletTab.getAttribute('#send-message', 'class'), 'message error');
    const poor = await sendFromPage(walletTab, names.W3, names.W1, '5');
    assert.match(poor, /^Not enough funds: /);
    const status = await walletTab.evaluate(() => window.tabcoin.node.status());
    assert.equal(status.mempool, 0, 'nothing went to the mempool');
    assert.equal((await (await fetch(`${relay.url}api/mempool`)).json()).count, 0, 'nor to the relay');
    assert.equal(await relay.cli('getbalance', '--address', names.W1), before);
  });

  await t.test('reloaded with the relay down, both tabs show the offline state and the same balances', async () => {
    await relay.stop('SIGTERM');
    await walletTab.reload();
    await minerTab.reload();
    for (const tab of [walletTab, minerTab]) {
      await waitForStatus(tab, s => !s.connected && s.height === 3, 'the stored chain while offline');
      await tab.waitForSelector('#connection-pill.pill-offline', WAIT);
      assert.match(await tab.textContent('#connection-pill'), /offline/);
    }
    await checkBalances(walletTab, minerTab, names, 'offline after reload');
  });

  await t.test('the relay starts again: the tabs reconnect by themselves', async () => {
    await relay.start();
    for (const tab of [walletTab, minerTab]) {
      await waitForStatus(tab, s => s.connected, 'the reconnection');
      await tab.waitForSelector('#connection-pill.pill-online', WAIT);
    }
    await checkBalances(walletTab, minerTab, names, 'after the restart');
    await checkRelay(names, 'after the restart');
  });

  await t.test('SIGKILL the relay and restart it: nothing is lost and the tabs come back', async () => {
    await relay.stop('SIGKILL');
    await waitForStatus(walletTab, s => !s.connected, 'the wallet tab to notice');
    await relay.start();
    for (const tab of [walletTab, minerTab]) await waitForStatus(tab, s => s.connected && s.height === 3, 'the reconnection');
    await checkRelay(names, 'after SIGKILL');
    await checkBalances(walletTab, minerTab, names, 'after SIGKILL');
  });

  await t.test('a late joiner on a fresh node id syncs the chain and shows the same balances', async () => {
    const lateContext = await browser.newContext();
    const late = await openNode(lateContext, relay, '3003');
    await waitForStatus(late, s => s.connected && s.height === 3 && !s.syncing, 'the late joiner\'s sync');
    for (const [name, expected] of Object.entries(EXPECTED)) {
      assert.equal(await lookUp(late, names[name]), expected, `${name} in the late joiner`);
    }
    assert.deepEqual(late.errors, []);
    await lateContext.close();
  });

  assert.deepEqual(walletTab.errors, [], 'no errors in the wallet tab');
  assert.deepEqual(minerTab.errors, [], 'no errors in the miner tab');
});
