// Builds everything: the server (tsc -> dist/), the editor app it serves (Vite -> dist/editor) and
// the editor library (Vite + tsc declarations -> dist/editor-lib). Writes dist/.build-stamp so ensure-built.mjs can tell when it is stale.
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'

const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit' })

run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'])
// The `tandem` bin must be executable for npx.
chmodSync('dist/server/main.js', 0o755)
// The app the server serves (dist/editor), then the editor library with its types (dist/editor-lib).
const vite = (config) =>
  run(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--config', config, '--logLevel', 'warn'])
vite('editor/vite.config.ts')
rmSync('dist/editor-lib', { recursive: true, force: true })
vite('editor/vite.lib.config.ts')
run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.editor-lib.json'])
// The editor injects its own styles; this copy is for apps that load them as a stylesheet
// (`tandem/editor/style.css`, e.g. under a CSP without inline styles).
copyFileSync('editor/style.css', 'dist/editor-lib/style.css')
mkdirSync('dist', { recursive: true })
writeFileSync('dist/.build-stamp', new Date().toISOString())
