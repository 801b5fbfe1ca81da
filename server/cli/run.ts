/** Runs one admin command: opens its target, does the work, closes the target whatever happens. */
import type { AdminArgs, AdminCommand } from './args.js'
import { backup, restore } from './backup.js'
import { compactDocs } from './compact.js'
import { checkNewName, deleteDoc, exportDoc, importDoc, listDocs, listVersions } from './docs.js'
import type { CommandIO } from './format.js'
import { printStats } from './stats.js'
import { openTarget, type Target } from './target.js'

/**
 * Runs `args.command` on `args.connection`, writing to `io`. Rejects with a UsageError (exit 2) or
 * a CommandError (exit 1); anything else is a bug.
 */
export async function runAdmin(args: AdminArgs, io: CommandIO): Promise<void> {
  const { command, connection } = args
  // Restoring makes the data directory if need be, once the backup is found good.
  if (command.command === 'restore') {
    return restore(() => openTarget(connection, { create: true }), command.dir, io)
  }
  // Before the data directory is made or opened.
  if (command.command === 'docs import') checkNewName(command.name)
  const target = await openTarget(connection, { create: command.command === 'docs import' })
  try {
    await run(target, command, io)
  } catch (error) {
    // The command's failure is the one to report; the store still gets released.
    await target.close().catch(() => undefined)
    throw error
  }
  await target.close()
}

function run(
  target: Target,
  command: Exclude<AdminCommand, { command: 'restore' }>,
  io: CommandIO,
): Promise<void> {
  switch (command.command) {
    case 'docs list':
      return listDocs(target, command, io)
    case 'docs export':
      return exportDoc(target, command, io)
    case 'docs import':
      return importDoc(target, command, io)
    case 'docs delete':
      return deleteDoc(target, command, io)
    case 'docs versions':
      return listVersions(target, command, io)
    case 'compact':
      return compactDocs(target, command, io)
    case 'stats':
      return printStats(target, command, io)
    case 'backup':
      return backup(target, command.dir, io)
  }
}
