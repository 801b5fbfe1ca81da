import { readdirSync, readFileSync, type Stats, statSync } from 'node:fs'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// Tests of the product as users meet it (the compiled CLI, the built editor and its bundles, the
// benchmark's processes) must run dist/. `npm test` builds first; a file run alone with
// `npx vitest run` does not, and would test whatever dist/ holds. Everything else imports the
// sources.

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const DIST = join(REPO, 'dist')

/**
 * What the build reads, as scripts/ensure-built.mjs lists it (read from there, so the two never
 * disagree): when one is newer than dist/.build-stamp, that script rebuilds and this refuses.
 */
function sources(): string[] {
  const script = readFileSync(join(REPO, 'scripts', 'ensure-built.mjs'), 'utf8')
  const list = /const SOURCES = \[([^\]]*)\]/.exec(script)?.[1]
  const names = [...(list ?? '').matchAll(/'([^']+)'/g)].map((match) => match[1] ?? '')
  if (names.length === 0) throw new Error('no SOURCES list in scripts/ensure-built.mjs')
  return names
}

/** The absolute path of `path` in dist/ (call {@link assertBuilt} before running it). */
export function distPath(path: string): string {
  return join(DIST, path)
}

/** Whether `path` (absolute, or relative to the working directory) is in dist/. */
export function inDist(path: string): boolean {
  const inside = relative(DIST, resolve(path))
  return inside !== '' && !inside.startsWith('..') && !isAbsolute(inside)
}

/**
 * Throws, naming the newest source and the command to run, unless dist/ was built after every
 * source last changed (dist/.build-stamp, as scripts/ensure-built.mjs decides).
 */
export function assertBuilt(): void {
  let builtAtMs = 0
  try {
    builtAtMs = statSync(join(DIST, '.build-stamp')).mtimeMs
  } catch {
    throw new Error('dist/ is not built: run `npm run build` (or `npm test`, which builds first)')
  }
  const newest = newestOf(sources().map((source) => join(REPO, source)))
  if (newest.mtimeMs > builtAtMs) {
    throw new Error(
      `dist/ is older than ${relative(REPO, newest.path)}: run \`npm run build\` (or \`npm test\`, ` +
        'which builds first) so this test runs the code as it is now',
    )
  }
}

function newestOf(paths: readonly string[]): { path: string; mtimeMs: number } {
  let newest = { path: '', mtimeMs: 0 }
  for (const path of paths) {
    let stat: Stats
    try {
      stat = statSync(path)
    } catch {
      continue
    }
    if (stat.mtimeMs > newest.mtimeMs) newest = { path, mtimeMs: stat.mtimeMs }
    if (stat.isDirectory()) {
      const inside = newestOf(readdirSync(path).map((entry) => join(path, entry)))
      if (inside.mtimeMs > newest.mtimeMs) newest = inside
    }
  }
  return newest
}
