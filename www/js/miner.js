// The miner panel: reward address, policy, workers, start/stop, hashrate. The nonce search runs
// in the node's Web Workers; settings are remembered per node so a reload resumes mining.

import { $, el, setMessage, formatRate } from './dom.js';

const key = (nodeId) => `tabcoin:${nodeId}:miner`;

function load(nodeId) {
  try {
    return JSON.parse(localStorage.getItem(key(nodeId))) ?? {};
  } catch {
    return {};
  }
}

export class MinerPanel {
  static savedRole(nodeId) {
    return load(nodeId).on ? 'miner' : 'wallet';
  }

  static savedWorkers(nodeId) {
    const workers = Number(load(nodeId).workers);
    return Number.isInteger(workers) && workers > 0 ? workers : undefined;
  }

  constructor(node, nodeId, walletAddresses) {
    this.node = node;
    this.nodeId = nodeId;
    this.walletAddresses = walletAddresses;
    const saved = load(nodeId);
    if (saved.payee) $('miner-payee').value = saved.payee;
    if (saved.threshold) $('miner-threshold').value = saved.threshold;
    if (saved.continuous) document.querySelector('input[name=policy][value=continuous]').checked = true;
    $('miner-workers').value = node.status().miner.workers;
    $('miner-payee').addEventListener('input', () => { this.payeeEdited = true; });
    $('miner-form').onsubmit = (event) => { event.preventDefault(); this.start(); };
    $('miner-stop').onclick = () => this.stop();
    $('miner-workers').onchange = () => this.setWorkers();
    if (saved.on && saved.payee) this.start();
  }

  save(on) {
    localStorage.setItem(key(this.nodeId), JSON.stringify({
      payee: $('miner-payee').value.trim(),
      threshold: Number($('miner-threshold').value),
      continuous: document.querySelector('input[name=policy]:checked').value === 'continuous',
      workers: Number($('miner-workers').value),
      on,
    }));
  }

  start() {
    const message = $('miner-message');
    const continuous = document.querySelector('input[name=policy]:checked').value === 'continuous';
    const threshold = Number($('miner-threshold').value);
    if (!continuous && !(Number.isInteger(threshold) && threshold >= 1)) {
      setMessage(message, 'The mempool threshold is a whole number of transactions, at least 1.');
      return;
    }
    try {
      this.node.startMining($('miner-payee').value.trim(), continuous ? null : threshold);
      this.save(true);
      setMessage(message, continuous ? 'Mining continuously.' : `Mining once the mempool holds ${threshold}.`, true);
    } catch (error) {
      setMessage(message, error.kind === 'bad_address' ? `Check the reward address: ${error.message}` : error.message);
    }
  }

  stop() {
    this.node.stopMining();
    this.save(false);
    setMessage($('miner-message'), 'Stopped.', true);
  }

  setWorkers() {
    const workers = Number($('miner-workers').value);
    if (!(Number.isInteger(workers) && workers >= 1 && workers <= 32)) {
      setMessage($('miner-message'), 'Workers: a whole number from 1 to 32.');
      return;
    }
    this.node.setWorkers(workers);
    this.save(this.node.status().miner.on);
  }

  refresh(status) {
    const miner = status.miner;
    $('miner-start').disabled = miner.on;
    $('miner-stop').disabled = !miner.on;
    $('miner-state').textContent = miner.on
      ? `on, paying ${miner.payee}${miner.whenMempoolHolds === null ? ', continuously' : `, when the mempool holds ${miner.whenMempoolHolds}`} · ${miner.workers} worker${miner.workers === 1 ? '' : 's'}`
      : 'stopped';
    $('hashrate').textContent = formatRate(miner.hashrate);
    $('blocks-mined').textContent = miner.blocksMined;
    const list = $('miner-payees');
    const addresses = this.walletAddresses();
    if (list.childElementCount !== addresses.length) {
      list.replaceChildren(...addresses.map((address) => el('option', { value: address })));
      // Suggest the wallet's first address, but never under the person's hands.
      const payee = $('miner-payee');
      if (!payee.value && addresses.length && document.activeElement !== payee && !this.payeeEdited) {
        payee.value = addresses[0];
      }
    }
  }
}
