// The page's service worker: it keeps a copy of the page (HTML, scripts, styles, the wasm) so
// that a tab reloads and shows its node from IndexedDB while the relay is down. Online, the
// relay's files always win (network first), so a new build is used at once; the API and the
// WebSocket are never cached.

const CACHE = 'tabcoin-page-v1';
const SHELL = ['./', 'index.html', 'style.css', 'favicon.svg', 'js/app.js', 'js/dom.js', 'js/wallet.js',
  'js/miner.js', 'js/explorer.js'];

async function precache() {
  const cache = await caches.open(CACHE);
  await cache.addAll(SHELL);
  // The wasm build writes the list of its files (their names carry a hash).
  const listing = await fetch('pkg/files.json', { cache: 'no-store' });
  if (listing.ok) await cache.addAll((await listing.json()).map((file) => `pkg/${file}`));
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function cacheable(request) {
  const url = new URL(request.url);
  return request.method === 'GET' && url.origin === self.location.origin
    && !url.pathname.startsWith('/api/') && url.pathname !== '/ws';
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (!cacheable(request)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok) await cache.put(request, response.clone());
      return response;
    } catch (offline) {
      // Pages are cached without their query (?node=3001 and ?node=3002 are the same page).
      const cached = await cache.match(request, { ignoreSearch: request.mode === 'navigate' });
      if (cached) return cached;
      throw offline;
    }
  })());
});
