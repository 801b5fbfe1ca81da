/**
 * How the CLI writes for people: sizes, times, aligned tables, and writes that respect the
 * stream's backpressure. Machine output (`--json`) does not come through here.
 */
import { once } from 'node:events'
import type { Writable } from 'node:stream'

/** The streams a command writes to and reads from. */
export interface CommandIO {
  /** Results (a listing, an exported document, a summary line). */
  readonly stdout: Writable
  /** Progress, when it is a terminal (`isTTY`). */
  readonly stderr: Writable & { readonly isTTY?: boolean }
  /** Content to import from `-`. */
  readonly stdin: NodeJS.ReadableStream
}

/** Writes `text`, and waits for the stream to drain when its buffer is full. */
export async function write(stream: Writable, text: string | Uint8Array): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain')
}

/** `1234` → `1.2 KiB`; below 1 KiB, bytes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

/** UTC, to the second: `2025-01-31 09:05:00Z`. */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`
}

/** `n thing` / `n things`. */
export function plural(n: number, thing: string): string {
  return `${n} ${thing}${n === 1 ? '' : 's'}`
}

/**
 * Rows as lines of columns padded to the widest cell, two spaces apart; the columns listed in
 * `right` are aligned right (numbers). The last column is not padded.
 */
export function table(rows: readonly (readonly string[])[], right: readonly number[] = []): string {
  const widths: number[] = []
  for (const row of rows)
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length)
  return rows
    .map((row) =>
      row
        .map((cell, i) => {
          if (right.includes(i)) return cell.padStart(widths[i] ?? 0)
          return i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)
        })
        .join('  '),
    )
    .map((line) => `${line}\n`)
    .join('')
}
