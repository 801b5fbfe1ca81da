/** `tandem stats`: how many documents, how much they weigh, the largest, the latest change. */
import { listWithProgress } from './docs.js'
import { type CommandIO, formatBytes, formatTime, table, write } from './format.js'
import type { DocSummary, Target } from './target.js'

/** The figures `tandem stats --json` prints. */
export interface Stats {
  readonly documents: number
  /** Bytes of every document's stored records. */
  readonly bytes: number
  /** Records of every document; null through the HTTP API, which does not say. */
  readonly records: number | null
  /** The `top` largest documents, largest first. */
  readonly largest: readonly { readonly name: string; readonly size: number }[]
  /** The document changed last; null without documents. */
  readonly lastModified: { readonly name: string; readonly modified: string } | null
}

/** Computes the stats of `docs` (pure). */
export function statsOf(docs: readonly DocSummary[], top: number): Stats {
  const known = docs.every((doc) => doc.records !== null)
  const latest = docs.reduce<DocSummary | null>(
    (a, b) => (a === null || b.updatedAt > a.updatedAt ? b : a),
    null,
  )
  return {
    documents: docs.length,
    bytes: docs.reduce((sum, doc) => sum + doc.bytes, 0),
    records: known ? docs.reduce((sum, doc) => sum + (doc.records ?? 0), 0) : null,
    largest: [...docs]
      .sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : 1))
      .slice(0, top)
      .map((doc) => ({ name: doc.name, size: doc.bytes })),
    lastModified: latest && { name: latest.name, modified: new Date(latest.updatedAt).toISOString() },
  }
}

/** Prints the stats of every document: a few aligned lines, or one JSON object with `json`. */
export async function printStats(
  target: Target,
  options: { readonly json: boolean; readonly top: number },
  io: CommandIO,
) {
  const stats = statsOf(await listWithProgress(target, io), options.top)
  if (options.json) {
    await write(io.stdout, `${JSON.stringify(stats)}\n`)
    return
  }
  const rows = [
    ['documents', String(stats.documents)],
    ['size', `${formatBytes(stats.bytes)} (${stats.bytes} bytes)`],
    ...(stats.records === null ? [] : [['records', String(stats.records)]]),
    ...(stats.lastModified
      ? [
          [
            'last change',
            `${formatTime(Date.parse(stats.lastModified.modified))}  ${stats.lastModified.name}`,
          ],
        ]
      : []),
  ]
  await write(io.stdout, table(rows))
  if (stats.largest.length > 0) {
    await write(io.stdout, 'largest\n')
    // An empty first column indents the rows.
    await write(
      io.stdout,
      table(
        stats.largest.map((doc) => ['', formatBytes(doc.size), doc.name]),
        [1],
      ),
    )
  }
}
