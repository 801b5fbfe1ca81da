import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { assertBuilt, distPath } from '../helpers/built.js'
import { useTempDirs } from '../helpers/server.js'

// The benchmark harness itself works end to end (tiny sizes). Its figures are for `npm run bench`;
// nothing here asserts a speed. It runs dist/ as `npm run bench` does: the harness forks the
// compiled server, relay and Hocuspocus scripts.
describe('npm run bench (smoke)', () => {
  const tempDir = useTempDirs()

  it('runs fanout and the crash scenario against the relay, Tandem and Hocuspocus, and writes its JSON', async () => {
    assertBuilt()
    const out = join(await tempDir(), 'bench.json')
    const args = [distPath('bench/run.js'), '--scenario', 'fanout', '--scenario', 'crash', '--quick']
    args.push('--with', 'hocuspocus', '--warmup', '0.5')
    const child = spawn(
      process.execPath,
      [...args, '--rooms', '2', '--clients', '3', '--duration', '1', '--out', out],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
    expect(stdout).toContain('## fanout 2×3')
    const report = JSON.parse(await readFile(out, 'utf8')) as {
      results: {
        name: string
        rows: Record<string, unknown>[]
        checks: { what: string; value: unknown; ok: boolean }[]
      }[]
    }
    const [fanout, crash] = report.results
    expect(fanout?.rows.map((r) => r.target)).toEqual(['relay', 'tandem', 'hocuspocus'])
    expect(fanout?.rows.every((r) => r.converged === '2/2')).toBe(true)
    expect(fanout?.rows.every((r) => typeof r['p99 ms'] === 'number')).toBe(true)
    // Every target delivered edits in the measured window, counted the same way for all three.
    expect(fanout?.rows.every((r) => (r['delivered/s'] as number) > 0)).toBe(true)
    // Against the peer: its latency always (its CPU may be 0 ticks in so short a window).
    const versus = fanout?.checks.filter((c) => c.what.endsWith('Tandem ÷ hocuspocus'))
    expect(versus?.map((c) => c.what)).toEqual([
      'p99 latency: Tandem ÷ hocuspocus',
      'server CPU per delivered update: Tandem ÷ hocuspocus',
    ])
    expect(typeof versus?.[0]?.value).toBe('number')
    expect(crash?.checks).toEqual([{ what: 'relayed updates lost', value: 0, target: '0', ok: true }])
  }, 60_000)

  it('runs the big-document, stall and flood scenarios (issue 17) end to end', async () => {
    assertBuilt()
    const out = join(await tempDir(), 'bench.json')
    const args = [distPath('bench/run.js'), '--quick', '--out', out]
    for (const scenario of ['bigdoc', 'stall', 'flood']) args.push('--scenario', scenario)
    args.push('--edits', '1000', '--opens', '1', '--rooms', '2', '--clients', '2', '--warmup', '0.5')
    args.push('--duration', '1', '--big-interval', '0', '--flood-seconds', '1', '--flood-rate', '4')
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] })
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
    const report = JSON.parse(await readFile(out, 'utf8')) as {
      results: {
        rows: Record<string, unknown>[]
        checks: { what: string; value: unknown; ok: boolean }[]
      }[]
    }
    const [bigdoc, stall, flood] = report.results
    // A stock client read the whole document cold and warm, and the server's probe answered.
    const opens = bigdoc?.rows.slice(0, 2)
    expect(opens?.every((r) => (r['median ms'] as number) > 0)).toBe(true)
    expect(opens?.every((r) => typeof r['server loop busy ms (median)'] === 'number')).toBe(true)
    expect(stall?.rows.slice(0, 2).map((r) => r.mode)).toEqual(['alone', 'with big documents'])
    expect(stall?.rows[1]?.['big opens in window']).toBeGreaterThan(0)
    expect(stall?.rows.slice(0, 2).every((r) => r.converged === '2/2')).toBe(true)
    // Durability under the flood is a check that must hold, whatever the memory figure.
    expect(flood?.checks.slice(1, 3).map((c) => [c.value, c.ok])).toEqual([
      [0, true],
      [0, true],
    ])
  }, 120_000)
})
