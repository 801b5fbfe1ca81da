// The editor as a library for other apps (`tandem/editor`): ESM, dependencies left as imports so the
// host app's bundler keeps exactly one copy of yjs and ProseMirror. → dist/editor-lib
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('../dist/editor-lib/', import.meta.url)),
    emptyOutDir: false,
    target: 'es2022',
    sourcemap: true,
    lib: {
      entry: fileURLToPath(new URL('./index.ts', import.meta.url)),
      formats: ['es'],
      fileName: () => 'tandem-editor.js',
    },
    rollupOptions: {
      external: (id) => /^(yjs|y-[a-z-]+|lib0|prosemirror-[a-z-]+|markdown-it)(\/|$)/.test(id),
    },
  },
})
