/**
 * The CLI's two kinds of failure. Command modules throw them; `server/main.ts` prints the message
 * after `tandem: ` and maps the class to the exit status.
 */

/** A bad command line; the message names the flag or argument. Exit status 2. */
export class UsageError extends Error {
  readonly code = 'TANDEM_ERR_USAGE'

  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export type CommandErrorCode =
  /** The data directory is held by a running server. */
  | 'TANDEM_ERR_DATA_DIR_LOCKED'
  /** The data directory (or backup) does not exist, or holds no Tandem store. */
  | 'TANDEM_ERR_NO_DATA_DIR'
  /** The store could not be opened, read or written. */
  | 'TANDEM_ERR_STORE'
  /** No document by that name. */
  | 'TANDEM_ERR_NOT_FOUND'
  /** The server could not be reached, or answered with an error. */
  | 'TANDEM_ERR_SERVER'
  /** A file to read or write: missing, unreadable, too large, not valid content. */
  | 'TANDEM_ERR_FILE'
  /** The backup directory exists and is not empty. */
  | 'TANDEM_ERR_BACKUP_DIR'

/** A command that could not be done; what it names is unchanged unless the message says so. Exit status 1. */
export class CommandError extends Error {
  readonly code: CommandErrorCode

  constructor(code: CommandErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CommandError'
    this.code = code
  }
}
