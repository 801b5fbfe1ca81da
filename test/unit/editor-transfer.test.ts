import { describe, expect, it } from 'vitest'
import { fileFormat, fileName } from '../../editor/transfer.js'

describe('export and import file names', () => {
  it.each([
    ['notes', 'markdown', 'notes.md'],
    ['team/notes: draft?', 'html', 'team-notes- draft-.html'],
    ['a\u0000b<c>|d*"e"\\', 'markdown', 'a-b-c--d--e--.md'],
    ['  ', 'markdown', 'document.md'],
  ] as const)('names the %j document %s file %j', (name, format, expected) => {
    expect(fileName(name, format)).toBe(expected)
  })

  it.each([
    ['a.md', 'markdown'],
    ['A.MARKDOWN', 'markdown'],
    ['page.html', 'html'],
    ['page.HTM', 'html'],
    ['notes.txt', null],
    ['md', null],
    ['archive.md/', null],
  ] as const)('takes %j as %s', (name, format) => {
    expect(fileFormat(name)).toBe(format)
  })
})
