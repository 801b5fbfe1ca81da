/// <reference lib="webworker" />
// The app's service worker: keeps the pages and assets this browser has opened, so a document can be
// reloaded while the server is unreachable (its content then comes from IndexedDB, see mount.ts).
// Pages are network-first (always fresh when online); hashed assets never change, so cache-first.

const sw = self as unknown as ServiceWorkerGlobalScope
const CACHE = 'tandem-shell-v1'

/** Every document page is the same HTML, so one cache entry serves them all. */
function shellKey(pathname: string): string {
  return pathname.startsWith('/d/') ? '/d/' : pathname
}

sw.addEventListener('install', () => {
  void sw.skipWaiting()
})
sw.addEventListener('activate', (event) => {
  event.waitUntil(sw.clients.claim())
})

// A page lists what it loaded (it may have loaded before this worker was in control).
sw.addEventListener('message', (event) => {
  const urls: unknown = event.data?.cache
  if (!Array.isArray(urls)) return
  event.waitUntil(
    caches.open(CACHE).then(async (cache) => {
      for (const url of urls) {
        if (typeof url !== 'string') continue
        const { origin, pathname } = new URL(url, sw.location.origin)
        if (origin !== sw.location.origin) continue
        const response = await fetch(url).catch(() => null)
        if (response?.ok) await cache.put(shellKey(pathname), response)
      }
    }),
  )
})

sw.addEventListener('fetch', (event) => {
  const request = event.request
  const url = new URL(request.url)
  if (request.method !== 'GET' || url.origin !== sw.location.origin) return
  if (url.pathname.startsWith('/assets/')) {
    event.respondWith(
      caches.match(url.pathname).then(
        (hit) =>
          hit ??
          fetch(request).then(async (response) => {
            if (response.ok) await (await caches.open(CACHE)).put(url.pathname, response.clone())
            return response
          }),
      ),
    )
  } else if (request.mode === 'navigate') {
    const key = shellKey(url.pathname)
    event.respondWith(
      fetch(request)
        .then(async (response) => {
          if (response.ok) await (await caches.open(CACHE)).put(key, response.clone())
          return response
        })
        .catch(async (error: unknown) => (await caches.match(key)) ?? Promise.reject(error)),
    )
  }
})
