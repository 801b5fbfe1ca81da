// Builds everything `npm start` serves: the server (tsc -> dist/) and, once it exists, the editor
// (Vite -> dist/editor). Writes dist/.build-stamp so ensure-built.mjs can tell when it is stale.
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'

const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit' })

run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'])
// The `tandem` bin must be executable for npx.
chmodSync('dist/server/main.js', 0o755)
if (existsSync('editor/vite.config.ts')) {
  run(process.execPath, [
    'node_modules/vite/bin/vite.js',
    'build',
    '--config',
    'editor/vite.config.ts',
    '--logLevel',
    'warn',
  ])
}
mkdirSync('dist', { recursive: true })
writeFileSync('dist/.build-stamp', new Date().toISOString())
