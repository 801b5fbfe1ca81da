/**
 * `tandem backup <dir>` and `tandem restore <dir>`. A backup is every record of the store from
 * one point in time (documents, their versions and metadata; see persistence/backup.ts), written
 * into a LevelDB data directory that a server can be started on as it is. A restore copies each
 * document of a backup whole (state and versions) into a stopped server's data directory.
 */
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { writeBackup } from '../../persistence/backup.js'
import { isMetaKey } from '../../persistence/keys.js'
import type { StoredRecord } from '../../persistence/store.js'
import { listWithProgress } from './docs.js'
import { CommandError } from './errors.js'
import { type CommandIO, formatBytes, plural, write } from './format.js'
import { openLevelTarget } from './level-target.js'
import { progress } from './progress.js'
import type { Target } from './target.js'

/**
 * Copies every record of `source` into a new LevelDB data directory at `dir`, synced to disk:
 * one consistent point in time, taken (through a running server) while it goes on. Refuses a
 * `dir` that exists and is not empty; on failure removes what it wrote.
 */
export async function backup(source: Target, dir: string, io: CommandIO): Promise<void> {
  const existed = await checkEmpty(dir)
  const line = progress(io, 'backup')
  let documents = 0
  let bytes = 0
  async function* counted(records: AsyncIterable<StoredRecord>): AsyncGenerator<StoredRecord> {
    for await (const record of records) {
      bytes += record.key.byteLength + record.value.byteLength
      if (isMetaKey(record.key)) line.update(++documents)
      yield record
    }
  }
  try {
    await writeBackup(dir, counted(source.records()))
    line.update(documents, documents)
  } catch (error) {
    await removeBackup(dir, existed)
    throw error instanceof CommandError
      ? error
      : new CommandError('TANDEM_ERR_STORE', `backup ${dir}: ${(error as Error).message}`, { cause: error })
  } finally {
    line.end()
  }
  await write(
    io.stdout,
    `backed up ${plural(documents, 'document')} (${formatBytes(bytes)}) from ${source.label} to ${dir}\n`,
  )
}

/**
 * Replaces each document of the target that the backup (or data directory) at `dir` holds by the
 * backup's, state and versions; documents the backup lacks are left as they are. The backup is
 * opened first, so that a wrong `dir` makes no data directory.
 */
export async function restore(openTarget: () => Promise<Target>, dir: string, io: CommandIO): Promise<void> {
  const from = await openLevelTarget(dir, `restore ${dir}`, { create: false, role: 'backup' })
  let target: Target | null = null
  let documents = 0
  let bytes = 0
  try {
    target = await openTarget()
    const { copy } = from
    const { replace } = target
    // Both are data directories (the arguments refuse a restore through --url).
    if (!copy || !replace) throw new Error('restore needs two data directories')
    const docs = await listWithProgress(from, io)
    const line = progress(io, 'restore')
    try {
      for (const { name } of docs) {
        const whole = await copy(name)
        if (whole === null) continue
        await replace(name, whole)
        documents++
        bytes += whole.state.byteLength + whole.deltas.reduce((sum, delta) => sum + delta.byteLength, 0)
        line.update(documents, docs.length)
      }
    } finally {
      line.end()
    }
    await target.close()
  } catch (error) {
    await target?.close().catch(() => undefined)
    throw error
  } finally {
    await from.close()
  }
  await write(
    io.stdout,
    `restored ${plural(documents, 'document')} (${formatBytes(bytes)}) from ${dir} into ${target.label}\n`,
  )
}

/**
 * Resolves whether `dir` exists (and is empty); rejects when it is not empty or not a directory,
 * so that a backup never mixes with other files.
 */
async function checkEmpty(dir: string): Promise<boolean> {
  let entries: string[]
  try {
    entries = await readdir(dir)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return false
    throw new CommandError(
      'TANDEM_ERR_BACKUP_DIR',
      `backup ${dir}: not a directory we can use (${code ?? error})`,
      {
        cause: error,
      },
    )
  }
  if (entries.length > 0) {
    throw new CommandError(
      'TANDEM_ERR_BACKUP_DIR',
      `backup ${dir}: the directory exists and is not empty; back up into a new or empty directory`,
    )
  }
  return true
}

/** Removes a failed backup: the directory when it made it, else what it put in it (it was empty). */
async function removeBackup(dir: string, existed: boolean): Promise<void> {
  if (!existed) {
    await rm(dir, { recursive: true, force: true })
    return
  }
  for (const entry of await readdir(dir).catch(() => [])) {
    await rm(join(dir, entry), { recursive: true, force: true })
  }
}
