// Runs the build only when dist/ is missing or older than any source file, so `npm start` is fast
// on the second run and never serves stale code.
import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const SOURCES = [
  'server',
  'persistence',
  'content',
  'protocol',
  'editor',
  'bench',
  'package.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'tsconfig.editor-lib.json',
]

function newestMtimeMs(path) {
  let stat
  try {
    stat = statSync(path)
  } catch {
    return 0
  }
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = stat.mtimeMs
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, entry)))
  return newest
}

let builtAt = 0
try {
  builtAt = statSync('dist/.build-stamp').mtimeMs
} catch {}
const sourcesAt = Math.max(...SOURCES.map(newestMtimeMs))
if (builtAt < sourcesAt) {
  console.error(builtAt === 0 ? 'tandem: building (first run)…' : 'tandem: sources changed, rebuilding…')
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' })
}
