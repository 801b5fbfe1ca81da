import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { assertBuilt, distPath } from '../helpers/built.js'

// These read the build output itself. `npm test` builds before running (scripts/ensure-built.mjs);
// run alone, they refuse a dist/ older than the sources.
// Yjs prints this warning when a second copy is loaded; its text is in every copy of yjs.
const YJS_MARKER = 'Yjs was already imported'

async function scripts(dir: string): Promise<string[]> {
  const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.js'))
  return Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')))
}

describe('the editor bundles', () => {
  beforeAll(() => assertBuilt())

  it('the app carries exactly one copy of yjs', async () => {
    const copies = (await scripts(distPath('editor'))).map((code) => code.split(YJS_MARKER).length - 1)
    expect(copies.reduce((a, b) => a + b, 0)).toBe(1)
  })

  it('the library leaves yjs, y-* and ProseMirror to the host app as imports', async () => {
    const [library] = await scripts(distPath('editor-lib'))
    expect(library).toBeDefined()
    expect(library).not.toContain(YJS_MARKER)
    for (const dependency of [
      'yjs',
      'y-websocket',
      'y-prosemirror',
      'prosemirror-view',
      'prosemirror-schema-list',
    ]) {
      expect(library).toMatch(new RegExp(`from ["']${dependency}["']`))
    }
  })
})
