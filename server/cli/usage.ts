/** The admin commands' part of `tandem --help` (main.ts prints the server's part). */
export const ADMIN_USAGE = `Admin commands, on a stopped server's data directory or on a running server's HTTP API:
  tandem docs list [--json]         every document: a table, or with --json one JSON object a line
                                    ({"name","created","modified","size"})
  tandem docs export <name> [--format md|markdown|html|json|text] [--out <file>]
                                    the content, to standard output or <file>; the format is
                                    --format, else the --out file's extension, else markdown
  tandem docs import <name> <file> [--format md|markdown|html|json|text]
                                    replaces the content with the file's, as one ordinary change
                                    (editors merge it); the format follows from the extension
                                    (.md .markdown .html .htm .json .txt) unless given; - reads
                                    standard input
  tandem docs delete <name>         deletes the document
  tandem docs versions <name> [--json]
                                    the document's versions: number, time, name, who edited
  tandem compact [<name>]           rewrites the document (all of them without <name>) into one
                                    record; --data-dir only: a running server compacts by itself
  tandem stats [--json] [--top <n>] documents, size, records, the <n> largest (default 5)
  tandem backup <dir>               copies every document, with its versions, into a new data
                                    directory <dir> (new or empty) that a server can be started
                                    on; through --url while the server runs: all of it as of one
                                    point in time
  tandem restore <dir>              replaces each document the backup <dir> holds by its copy,
                                    versions included (other documents stay); --data-dir only

Where a command works (flags win over environment variables):
  --data-dir <path>  a stopped server's data directory      env DATA_DIR      default ./data
  --url <url>        a running server, http(s)://host:port   env TANDEM_URL    (wins over DATA_DIR)
  --token <jwt>      with --url, for a server with auth;     env TANDEM_TOKEN
                     list, delete, stats, backup and restore need an admin token
                     (npm run token -- --admin)
A data directory a running server holds is refused: reach that server with --url instead.
Progress goes to standard error when it is a terminal.
Exit status: 0 when done, 1 when the command failed, 2 for bad usage.
`
