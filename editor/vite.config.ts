// The app served by the server: three pages (home, document, embed example) → dist/editor.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const app = fileURLToPath(new URL('./app/', import.meta.url))

export default defineConfig({
  root: app,
  base: '/',
  publicDir: false,
  // One copy of each: two Yjs copies in a bundle break `instanceof` checks and corrupt documents.
  resolve: {
    dedupe: ['yjs', 'y-protocols', 'lib0', 'prosemirror-model', 'prosemirror-state', 'prosemirror-view'],
  },
  build: {
    outDir: fileURLToPath(new URL('../dist/editor/', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // The document page is one chunk by design (Yjs, ProseMirror and the editor, ~160 kB gzipped).
    chunkSizeWarningLimit: 640,
    rollupOptions: {
      input: {
        index: `${app}index.html`,
        doc: `${app}doc.html`,
        embed: `${app}embed.html`,
        sw: `${app}sw.ts`,
      },
      // The service worker must sit at /sw.js (its scope is its folder) and must not be hashed.
      output: { entryFileNames: (chunk) => (chunk.name === 'sw' ? 'sw.js' : 'assets/[name]-[hash].js') },
    },
  },
})
