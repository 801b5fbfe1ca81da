/** `tandem compact [<name>]`: each document's records rewritten into one, on a stopped server's data. */
import { notFound } from './docs.js'
import { UsageError } from './errors.js'
import { type CommandIO, formatBytes, plural, table, write } from './format.js'
import { progress } from './progress.js'
import type { Compaction, Target } from './target.js'

/**
 * Compacts `name`, or every document when null, and prints what changed.
 *
 * @throws UsageError for a running server: it compacts its documents by itself.
 */
export async function compactDocs(target: Target, options: { readonly name: string | null }, io: CommandIO) {
  const compact = target.compact
  if (!compact) {
    throw new UsageError(
      `compact works on a stopped server's --data-dir: the server at ${target.label} compacts each document by itself (past 500 records, and when no editor has it open)`,
    )
  }
  const done: Compaction[] = []
  if (options.name !== null) {
    const result = await compact(options.name)
    if (result === null) throw notFound(target, options.name)
    done.push(result)
  } else {
    const names = (await target.list()).map((doc) => doc.name)
    const line = progress(io, 'compacting')
    try {
      for (const name of names) {
        // A document gone since the listing has nothing to compact.
        const result = await compact(name)
        if (result) done.push(result)
        line.update(done.length, names.length)
      }
    } finally {
      line.end()
    }
  }
  const changed = done.filter(({ before, after }) => before !== after)
  const describe = (doc: Compaction['before']) =>
    `${plural(doc.records ?? 0, 'record')}, ${formatBytes(doc.bytes)}`
  if (changed.length > 0) {
    const rows = changed.map(({ before, after }) => [before.name, describe(before), '→', describe(after)])
    await write(io.stdout, table(rows))
  }
  const before = changed.reduce((sum, { before }) => sum + before.bytes, 0)
  const after = changed.reduce((sum, { after }) => sum + after.bytes, 0)
  const already = done.length - changed.length
  await write(
    io.stdout,
    `compacted ${plural(changed.length, 'document')}${changed.length > 0 ? ` (${formatBytes(before)} → ${formatBytes(after)})` : ''}${already > 0 ? `; ${already} already one record` : ''}\n`,
  )
}
