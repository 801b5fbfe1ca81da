// The whole check: lint, typecheck, build, then every vitest project. Ends with one plain line
// `N passed, N failed, N skipped` read from vitest's JSON report, so a run that executed no test
// can never pass for one that did.
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'

const REPORT = '.vitest-report.json'
const node = process.execPath
const steps = [
  ['lint', ['node_modules/@biomejs/biome/bin/biome', 'check', '--error-on-warnings', '.']],
  ['typecheck', ['node_modules/typescript/bin/tsc', '--noEmit', '-p', 'tsconfig.json']],
  ['build', ['scripts/ensure-built.mjs']],
]
for (const [name, args] of steps) {
  const { status } = spawnSync(node, args, { stdio: 'inherit' })
  if (status !== 0) {
    console.error(`\n${name} failed`)
    console.log('0 passed, 1 failed')
    process.exit(1)
  }
}

rmSync(REPORT, { force: true })
const extra = process.argv.slice(2)
const vitest = spawnSync(
  node,
  [
    'node_modules/vitest/vitest.mjs',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${REPORT}`,
    ...extra,
  ],
  { stdio: 'inherit' },
)
let report
try {
  report = JSON.parse(readFileSync(REPORT, 'utf8'))
} catch {
  console.error('vitest wrote no report')
  console.log('0 passed, 1 failed')
  process.exit(1)
}
const passed = report.numPassedTests ?? 0
// Failed tests, plus files that failed without a failed test (an import error, say).
const brokenFiles = (report.testResults ?? []).filter(
  (file) => file.status === 'failed' && !file.assertionResults?.some((test) => test.status === 'failed'),
).length
const failed = (report.numFailedTests ?? 0) + brokenFiles
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(vitest.status !== 0 || failed > 0 || passed === 0 ? 1 : 0)
