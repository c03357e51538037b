// The page: starts this tab's node (?node=ID, as the seed's NODE_ID) and draws its state.
// Everything the node does runs in the wasm module and its workers; this file only shows it.

import init, { TabcoinNode } from '../pkg/tabcoin_web.js';
import { $, el, setMessage, short } from './dom.js';
import { WalletPanel } from './wallet.js';
import { MinerPanel } from './miner.js';
import { ExplorerPanel } from './explorer.js';

const REFRESH_MS = 250;
const MAX_LOG_LINES = 500;
// One formatter for every log line (toLocaleTimeString builds one per call: slow in a sync).
const CLOCK = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

const params = new URLSearchParams(location.search);
const nodeId = params.get('node');

function relayUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

// The relay's network, remembered so that the node also starts when the relay is down.
async function network() {
  const key = `tabcoin:${nodeId}:network`;
  try {
    const response = await fetch('/api/network', { cache: 'no-store' });
    if (response.ok) {
      const answer = await response.json();
      localStorage.setItem(key, answer.network);
      return answer.network;
    }
  } catch {
    // Offline: fall back to what this node used before.
  }
  return localStorage.getItem(key) ?? 'main';
}

function notice(id, level, text, ...actions) {
  let node = document.getElementById(id);
  if (!node) {
    node = el('div', { id, class: `notice notice-${level}`, role: level === 'error' ? 'alert' : 'status' });
    $('notices').append(node);
  }
  node.replaceChildren(el('p', { text }), ...actions);
  return node;
}

function clearNotice(id) {
  document.getElementById(id)?.remove();
}

function otherNodeLinks() {
  const others = ['3001', '3002', '3003'].filter((id) => id !== nodeId);
  return others.map((id) => el('a', { href: `?node=${id}`, text: `node ${id}` }));
}

async function startNode(passphrase) {
  const options = {
    nodeId,
    relayUrl: relayUrl(),
    network: await network(),
    role: MinerPanel.savedRole(nodeId),
    passphrase: passphrase ?? undefined,
    workers: MinerPanel.savedWorkers(nodeId),
  };
  return TabcoinNode.start(options);
}

function askPassphrase(message) {
  return new Promise((resolve) => {
    $('unlock').hidden = false;
    setMessage($('unlock-message'), message ?? '');
    const form = $('unlock-form');
    form.onsubmit = (event) => {
      event.preventDefault();
      $('unlock').hidden = true;
      resolve($('unlock-passphrase').value);
    };
    $('unlock-passphrase').focus();
  });
}

class Page {
  constructor(node) {
    this.node = node;
    this.wallet = new WalletPanel(node, nodeId);
    this.miner = new MinerPanel(node, nodeId, () => this.wallet.addressList);
    this.explorer = new ExplorerPanel(node);
    this.lastTip = null;
    this.lastMempool = -1;
    this.syncEvent = null;
  }

  refresh() {
    const status = this.node.status();
    this.drawConnection(status);
    this.drawNotices(status);
    this.drawLog(this.node.takeEvents());
    const changed = status.tip !== this.lastTip || status.mempool !== this.lastMempool;
    this.lastTip = status.tip;
    this.lastMempool = status.mempool;
    this.wallet.refresh(status, changed);
    this.miner.refresh(status);
    this.explorer.refresh(status, changed);
  }

  drawConnection(status) {
    const pill = $('connection-pill');
    const state = status.connected ? 'online' : 'offline';
    pill.className = `pill pill-${state}`;
    pill.textContent = status.connected ? 'online' : 'offline · reconnecting';
    document.body.classList.toggle('offline', !status.connected);
    $('network').textContent = status.network;
    $('relay-url').textContent = status.relay;
    $('connection-status').textContent = status.connected
      ? `connected to ${status.peers.length} peer${status.peers.length === 1 ? '' : 's'}`
      : 'offline: showing what this tab stored; reconnecting';
    $('height').textContent = status.height ?? 'no chain yet';
    const persistence = {
      granted: 'persistent',
      denied: 'may be evicted (persistence denied)',
      unsupported: 'persistence not supported here',
    };
    $('persistence').textContent = persistence[status.persistence] ?? 'asking the browser…';

    const height = status.height ?? 0;
    const target = Math.max(status.bestKnownHeight, height);
    const progress = $('sync-progress');
    progress.max = Math.max(target, 1);
    progress.value = status.height === null ? 0 : height;
    const done = status.height !== null && !status.syncing && height >= target;
    $('sync-text').textContent = status.height === null
      ? (status.connected ? 'waiting for the relay\'s chain' : 'not started')
      : `${height} / ${target}${done ? ' · synced' : ''}`;

    const peers = status.peers.map((peer) =>
      el('li', {}, el('strong', { text: peer.role }), ` ${peer.address} · ${peer.userAgent} · height ${peer.bestHeight}`));
    $('peers').replaceChildren(...(peers.length ? peers : [el('li', { class: 'empty', text: 'no peers' })]));
  }

  drawNotices(status) {
    if (status.wrongChain) {
      const [ours, theirs] = status.wrongChain;
      notice('notice-chain', 'error',
        `The relay now serves a different chain (genesis ${short(theirs)}) than the one this tab stored (genesis ${short(ours)}). ` +
        'Export your keys, then start over to follow the relay\'s chain.',
        el('button', { type: 'button', class: 'secondary', text: 'Export keys', onclick: () => this.wallet.exportKeys() }),
        el('button', { type: 'button', id: 'start-over', text: 'Start over', onclick: () => this.startOver() }));
    } else {
      clearNotice('notice-chain');
    }
    if (status.storeFailure) {
      notice('notice-store', 'error', `This tab can no longer write its store: ${status.storeFailure}. Reload the page.`);
    }
  }

  // Newest first: nothing to scroll, so drawing never forces a layout.
  drawLog(events) {
    if (events.length === 0) return;
    const list = $('log-lines');
    // A sync brings thousands of lines at once: only the ones that will stay are drawn.
    const lines = document.createDocumentFragment();
    for (const event of events.slice(-MAX_LOG_LINES).reverse()) {
      lines.append(el('li', { class: `k-${event.kind}` }, el('time', { text: CLOCK.format(event.timeMs) }), event.text));
    }
    list.prepend(lines);
    while (list.childElementCount > MAX_LOG_LINES) list.lastElementChild.remove();
  }

  async startOver() {
    if (!confirm('Delete this node\'s chain and keys from this browser and start over? Export the keys first if they hold coins.')) {
      return;
    }
    this.node.stop();
    for (let attempt = 0; attempt < 50; attempt++) {
      try {
        await TabcoinNode.forget(nodeId);
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    location.reload();
  }
}

async function main() {
  if (!nodeId || !NODE_ID_PATTERN.test(nodeId)) {
    $('chooser').hidden = false;
    $('chooser-form').onsubmit = (event) => {
      event.preventDefault();
      location.search = `?node=${encodeURIComponent($('chooser-id').value)}`;
    };
    $('connection-pill').textContent = 'no node';
    return;
  }
  if ('serviceWorker' in navigator) {
    // Keeps the page for offline reloads; the node runs without it.
    navigator.serviceWorker.register('sw.js').catch((error) => console.warn('no offline copy of the page:', error));
  }
  document.title = `tabcoin · node ${nodeId}`;
  $('node-id').textContent = nodeId;
  await init();
  let passphrase = null;
  let node = null;
  while (!node) {
    try {
      node = await startNode(passphrase);
    } catch (error) {
      if (error.kind === 'in_use') {
        notice('notice-in-use', 'error',
          `Node ${nodeId} is open in another tab of this browser. Use that tab, or open another node here:`,
          ...otherNodeLinks());
        $('connection-pill').textContent = 'open in another tab';
        return;
      }
      if (error.kind === 'needs_passphrase' || error.kind === 'wrong_passphrase') {
        passphrase = await askPassphrase(error.kind === 'wrong_passphrase' ? 'Wrong passphrase: try again.' : '');
        continue;
      }
      if (error.kind === 'rules_changed') {
        // The old chain is of no use under the new rules; the keys are, on the new chain too.
        notice('notice-start', 'error',
          `This tab's chain can not be used any more: ${error.message ?? error}. ` +
          'Starting over empties the stored chain and keeps this node\'s keys, then syncs the relay\'s chain.',
          el('button', { type: 'button', id: 'start-chain-over', text: 'Start the chain over (keys kept)',
            onclick: async () => {
              try {
                await TabcoinNode.startChainOver(nodeId);
                location.reload();
              } catch (failure) {
                notice('notice-start-over', 'error', `The chain could not be emptied: ${failure.message ?? failure}`);
              }
            } }));
        $('connection-pill').textContent = 'stopped';
        return;
      }
      notice('notice-start', 'error', `This node could not start: ${error.message ?? error}`);
      $('connection-pill').textContent = 'stopped';
      return;
    }
  }
  $('panels').hidden = false;
  const page = new Page(node);
  window.tabcoin = { node, page };
  const loop = () => {
    try {
      page.refresh();
    } catch (error) {
      console.error(error);
    }
    setTimeout(loop, REFRESH_MS);
  };
  loop();
  window.addEventListener('pagehide', () => node.stop());
}

main().catch((error) => {
  notice('notice-start', 'error', `The page could not load tabcoin: ${error.message ?? error}`);
});
