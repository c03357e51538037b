// Small helpers for building the page's DOM without innerHTML (nothing a peer sends is ever
// parsed as HTML).

export const $ = (id) => document.getElementById(id);

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

export function setMessage(node, text, ok = false) {
  node.textContent = text;
  node.classList.toggle('ok', ok && text !== '');
  node.classList.toggle('error', !ok && text !== '');
}

export function short(hash, keep = 10) {
  return hash && hash.length > keep * 2 ? `${hash.slice(0, keep)}…${hash.slice(-6)}` : hash;
}

export function copyButton(text) {
  return el('button', {
    type: 'button',
    class: 'copy secondary',
    title: 'Copy',
    'aria-label': `Copy ${text}`,
    text: 'Copy',
    onclick: async (event) => {
      const button = event.currentTarget;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = 'Copied';
      } catch {
        button.textContent = 'Select it';
      }
      setTimeout(() => { button.textContent = 'Copy'; }, 1500);
    },
  });
}

export function formatRate(perSecond) {
  if (!perSecond) return '–';
  const units = [['G', 1e9], ['M', 1e6], ['k', 1e3]];
  for (const [unit, size] of units) {
    if (perSecond >= size) return `${(perSecond / size).toFixed(2)} ${unit}H/s`;
  }
  return `${perSecond.toFixed(0)} H/s`;
}

export function replaceChildren(node, children) {
  node.replaceChildren(...children);
}
