/**
 * Installs the app's service worker and hands it the page and assets already loaded, so this page
 * can be reloaded while the server is unreachable. A no-op where service workers are unavailable.
 */
export async function keepPageOffline(): Promise<void> {
  if (!('serviceWorker' in navigator)) return
  try {
    const registration = await navigator.serviceWorker.register('/sw.js', { type: 'module' })
    await navigator.serviceWorker.ready
    const loaded = performance
      .getEntriesByType('resource')
      .map((entry) => entry.name)
      .filter((name) => new URL(name).pathname.startsWith('/assets/'))
    ;(registration.active ?? navigator.serviceWorker.controller)?.postMessage({
      cache: [location.pathname, ...loaded],
    })
  } catch (error) {
    console.warn('Tandem: offline reload unavailable:', error)
  }
}
