// The wallet panel: addresses and balances, payments, look-ups, history, keys.

import { $, el, setMessage, short, copyButton } from './dom.js';

export class WalletPanel {
  constructor(node, nodeId) {
    this.node = node;
    this.nodeId = nodeId;
    this.addressList = [];
    this.historyAddress = null;
    this.lookedUp = null;

    $('new-address').onclick = () => this.createAddress();
    $('send-form').onsubmit = (event) => { event.preventDefault(); this.send(); };
    $('lookup-form').onsubmit = (event) => { event.preventDefault(); this.lookup($('lookup-address').value); };
    $('passphrase-form').onsubmit = (event) => { event.preventDefault(); this.setPassphrase($('passphrase').value); };
    $('passphrase-remove').onclick = () => this.setPassphrase(null);
    $('export-keys').onclick = () => this.exportKeys();
    $('import-file').onchange = (event) => this.importKeys(event.target);
    this.drawAddresses();
  }

  refresh(status, changed) {
    this.encrypted = status.encrypted;
    $('keys-state').textContent = status.encrypted
      ? 'Keys are stored encrypted under your passphrase (PBKDF2 + AES-GCM).'
      : 'Keys are stored unencrypted in this browser. Set a passphrase to encrypt them.';
    $('passphrase-remove').hidden = !status.encrypted;
    // Said here, next to the export button, rather than in a banner above the page: the
    // browser answers a while after the start, and a banner arriving then would move every
    // button under the pointer.
    $('keys-persistence').hidden = status.persistence !== 'denied';
    // A list that could not be drawn is drawn again on the next refresh, not left stale until
    // the next block.
    if (changed || this.addressesStale) {
      this.drawAddresses();
      if (this.lookedUp) this.lookup(this.lookedUp, true);
      if (this.historyAddress) this.drawHistory(this.historyAddress);
    }
  }

  drawAddresses() {
    let rows;
    try {
      rows = this.node.addresses();
    } catch (error) {
      console.error('the addresses could not be read:', error);
      this.addressesStale = true;
      return;
    }
    this.addressesStale = false;
    this.addressList = rows.map((row) => row.address);
    $('no-addresses').hidden = rows.length > 0;
    $('addresses').replaceChildren(...rows.map((row) => el('li', { 'data-address': row.address },
      el('div', { class: 'addr' },
        el('span', { class: 'mono', title: row.address, text: row.address }),
        copyButton(row.address)),
      el('div', { class: 'balances' },
        'confirmed ', el('strong', { class: 'confirmed', text: row.confirmed }),
        ' · pending ', el('strong', { class: 'pending', text: row.pending }),
        el('button', { type: 'button', class: 'link', text: 'history', onclick: () => this.drawHistory(row.address) })))));
    const from = $('send-from');
    const chosen = from.value;
    from.replaceChildren(...rows.map((row) =>
      el('option', { value: row.address, text: `${short(row.address, 8)} · ${row.pending}` })));
    if (this.addressList.includes(chosen)) from.value = chosen;
    if (!this.historyAddress && rows.length) this.drawHistory(rows[0].address);
  }

  async createAddress() {
    const button = $('new-address');
    button.disabled = true;
    try {
      const address = await this.node.createAddress();
      this.drawAddresses();
      setMessage($('keys-message'), `New address ${address}`, true);
    } catch (error) {
      setMessage($('keys-message'), error.message ?? String(error));
    } finally {
      button.disabled = false;
    }
  }

  async send() {
    const message = $('send-message');
    const button = $('send-button');
    button.disabled = true;
    setMessage(message, '');
    try {
      // An empty fee is left to the wallet: the network's minimum for the payment's size.
      const txid = await this.node.send($('send-from').value, $('send-to').value, $('send-amount').value,
        $('send-fee').value);
      setMessage(message, `Sent: transaction ${txid}`, true);
      $('send-amount').value = '';
      this.drawAddresses();
    } catch (error) {
      const words = {
        bad_address: 'Check the address',
        bad_amount: 'Check the amount',
        insufficient_funds: 'Not enough funds',
        fee_too_low: 'Raise the fee',
        dust: 'Send more',
        refused: 'The transaction was rejected',
        no_chain: 'Not synced yet',
        busy: 'Wait',
      };
      const lead = words[error.kind];
      setMessage(message, lead ? `${lead}: ${error.message}` : (error.message ?? String(error)));
    } finally {
      button.disabled = false;
    }
  }

  lookup(address, quiet = false) {
    const result = $('lookup-result');
    try {
      const balance = this.node.balance(address);
      this.lookedUp = address;
      result.replaceChildren(el('dl', { class: 'facts' },
        el('dt', { text: 'Address' }), el('dd', { class: 'mono', text: balance.address }),
        el('dt', { text: 'Confirmed' }), el('dd', { class: 'lookup-confirmed', text: balance.confirmed }),
        el('dt', { text: 'Pending' }), el('dd', { class: 'lookup-pending', text: balance.pending })));
      if (!quiet) this.drawHistory(balance.address);
    } catch (error) {
      this.lookedUp = null;
      result.replaceChildren(el('p', { class: 'message error', role: 'alert', text: error.message ?? String(error) }));
    }
  }

  drawHistory(address) {
    let items;
    try {
      items = this.node.history(address);
    } catch {
      return;
    }
    this.historyAddress = address;
    $('history-of').textContent = short(address, 8);
    const rows = items.map((item) => el('tr', {},
      el('td', { class: 'mono', title: item.txid, text: short(item.txid) }),
      el('td', { class: 'num', text: item.height ?? 'pending' }),
      el('td', { class: 'num', text: item.received }),
      el('td', { class: 'num', text: item.sent })));
    $('history').replaceChildren(...(rows.length ? rows
      : [el('tr', {}, el('td', { colspan: 4, class: 'hint', text: 'No transactions yet.' }))]));
  }

  async setPassphrase(passphrase) {
    const message = $('keys-message');
    if (passphrase !== null && passphrase.length < 8) {
      setMessage(message, 'Use a passphrase of at least 8 characters.');
      return;
    }
    try {
      await this.node.setPassphrase(passphrase);
      $('passphrase').value = '';
      setMessage(message, passphrase === null ? 'Keys are now stored unencrypted.' : 'Keys are now encrypted.', true);
    } catch (error) {
      setMessage(message, error.message ?? String(error));
    }
  }

  async exportKeys() {
    try {
      const bytes = await this.node.exportKeys();
      const link = el('a', {
        href: URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' })),
        download: `tabcoin-node-${this.nodeId}-wallet.dat`,
      });
      document.body.append(link);
      link.click();
      link.remove();
      setMessage($('keys-message'), this.encrypted
        ? 'Exported, encrypted under your passphrase.'
        : 'Exported unencrypted: keep the file private.', true);
    } catch (error) {
      setMessage($('keys-message'), error.message ?? String(error));
    }
  }

  async importKeys(input) {
    const file = input.files?.[0];
    if (!file) return;
    const message = $('keys-message');
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const passphrase = $('import-passphrase').value || null;
      const addresses = await this.node.importKeys(bytes, passphrase);
      setMessage(message, `Imported ${addresses.length} key${addresses.length === 1 ? '' : 's'}.`, true);
      this.drawAddresses();
    } catch (error) {
      setMessage(message, error.message ?? String(error));
    } finally {
      input.value = '';
    }
  }
}
