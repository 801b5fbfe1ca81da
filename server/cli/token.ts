/**
 * `tandem token --docs 'team/*' --mode ro --ttl 1h` (or `npm run token -- …`): the arguments of
 * a JWT for a server started with `--auth-secret` (the same secret, from --secret or AUTH_SECRET).
 * main.ts signs and prints it.
 */
import type { TokenClaims } from '../auth.js'
import { parseCommandLine } from './args.js'
import { UsageError } from './errors.js'

export const TOKEN_USAGE = `Usage: tandem token [options]      (in a checkout: npm run token -- [options])

Prints a token (JWT, HS256) that opens documents on a Tandem server started with --auth-secret.

  --secret <s>     the server's --auth-secret                 env AUTH_SECRET
  --sub <id>       who the token is for                      default "user"
  --name <name>    display name (optional)
  --docs <list>    comma-separated rooms or patterns (team/*)  required
  --mode <rw|ro>   read-write or read-only                   default rw
  --ttl <time>     lifetime: 30s, 15m, 1h, 7d                default 1h
  --admin          every document, and the server-wide HTTP API and CLI --url mode
                   (list, delete, backup); --docs is then not needed

Use it as /d/<room>?token=<jwt> in the editor, or as the token parameter of any y-websocket client.
`

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 }

/**
 * The secret and claims `argv` asks for (`env` stands in for --secret), or 'help'.
 *
 * @throws UsageError naming the flag that is wrong.
 */
export function parseTokenArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { readonly secret: string; readonly claims: TokenClaims } | 'help' {
  const { values } = parseCommandLine({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      secret: { type: 'string' },
      sub: { type: 'string' },
      name: { type: 'string' },
      docs: { type: 'string' },
      mode: { type: 'string' },
      ttl: { type: 'string' },
      admin: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return 'help'
  const secret = (values.secret as string | undefined) ?? env.AUTH_SECRET
  if (!secret) throw new UsageError('--secret (or AUTH_SECRET) is required: the server’s --auth-secret')
  if (secret.length < 32) throw new UsageError('--secret must be at least 32 characters, like the server’s')
  const docs = ((values.docs as string | undefined) ?? '')
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean)
  const admin = values.admin === true
  if (admin && docs.length === 0) docs.push('*')
  if (docs.length === 0) throw new UsageError("--docs is required: rooms or patterns, e.g. --docs 'team/*'")
  const mode = (values.mode as string | undefined) ?? 'rw'
  if (mode !== 'rw' && mode !== 'ro')
    throw new UsageError(`--mode must be rw or ro, got ${JSON.stringify(mode)}`)
  const ttl = (values.ttl as string | undefined) ?? '1h'
  const match = /^(\d+)([smhd])$/.exec(ttl)
  if (!match || Number(match[1]) === 0) {
    throw new UsageError(
      `--ttl must be a positive duration such as 30s, 15m, 1h or 7d, got ${JSON.stringify(ttl)}`,
    )
  }
  const name = values.name as string | undefined
  return {
    secret,
    claims: {
      sub: (values.sub as string | undefined) ?? 'user',
      ...(name ? { name } : {}),
      docs,
      mode,
      ttlSeconds: Number(match[1]) * (UNITS[match[2] as string] ?? 1),
      admin,
    } as const,
  }
}
