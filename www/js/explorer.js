// The explorer panel: tip, recent blocks (click one for its transactions), the mempool.

import { $, el, short } from './dom.js';

const RECENT_BLOCKS = 15;

function txItem(tx) {
  const outputs = el('ul', { class: 'outs' }, ...tx.outputs.map((out) =>
    el('li', {}, el('span', { class: 'mono', text: out.address }), ` ← ${out.amount}`)));
  const inputs = tx.coinbase ? 'coinbase' : `${tx.inputs.length} input${tx.inputs.length === 1 ? '' : 's'}`;
  const fee = tx.fee !== undefined ? ` · fee ${tx.fee}` : '';
  return el('div', { class: 'tx' },
    el('div', {}, el('span', { class: 'mono', title: tx.txid, text: short(tx.txid) }), ` · ${inputs} · ${tx.bytes} bytes${fee}`),
    outputs);
}

export class ExplorerPanel {
  constructor(node) {
    this.node = node;
    this.selected = null;
  }

  refresh(status, changed) {
    $('tip-height').textContent = status.height ?? '–';
    $('tip-hash').textContent = status.tip ?? '–';
    $('tip-hash').title = status.tip ?? '';
    if (!changed) return;
    const blocks = this.node.recentBlocks(RECENT_BLOCKS);
    $('blocks').replaceChildren(...(blocks.length ? blocks.map((block) => el('li', {
      class: block.hash === this.selected ? 'selected' : '',
      'data-hash': block.hash,
      tabindex: 0,
      onclick: () => this.show(block.hash),
      onkeydown: (event) => { if (event.key === 'Enter') this.show(block.hash); },
    }, el('strong', { text: `#${block.height}` }), ' ', el('span', { class: 'mono', text: short(block.hash) }),
      ` · ${block.txCount} tx · ${new Date(block.time * 1000).toLocaleTimeString()}`))
      : [el('li', { class: 'empty', text: 'no chain yet' })]));
    const mempool = this.node.mempool();
    $('mempool-count').textContent = mempool.length;
    $('mempool').replaceChildren(...(mempool.length ? mempool.map((tx) => el('li', {}, txItem(tx)))
      : [el('li', { class: 'empty', text: 'empty' })]));
    if (this.selected) this.show(this.selected);
  }

  show(hash) {
    const detail = $('block-detail');
    const block = this.node.block(hash);
    if (!block) {
      detail.hidden = true;
      this.selected = null;
      return;
    }
    this.selected = hash;
    for (const item of $('blocks').children) item.classList.toggle('selected', item.dataset.hash === hash);
    detail.hidden = false;
    detail.replaceChildren(
      el('dl', { class: 'facts' },
        el('dt', { text: 'Block' }), el('dd', { class: 'mono', title: block.hash, text: block.hash }),
        el('dt', { text: 'Height' }), el('dd', { text: block.height }),
        el('dt', { text: 'Previous' }), el('dd', { class: 'mono', text: block.prev }),
        el('dt', { text: 'Time' }), el('dd', { text: new Date(block.time * 1000).toLocaleString() }),
        el('dt', { text: 'Nonce' }), el('dd', { text: block.nonce }),
        el('dt', { text: 'Size' }), el('dd', { text: `${block.bytes} bytes` })),
      ...block.txs.map(txItem));
  }
}
