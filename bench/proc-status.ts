import { readFileSync } from 'node:fs'

/** A `kB` field of a process's `/proc/<pid>/status` (VmRSS, RssAnon…), in kB; 0 where it has none. */
export function statusKb(pid: number | 'self', field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`))
  return Number(line?.split(/\s+/)[1] ?? 0)
}
