import { describe, expect, it } from 'vitest'
import { OptionsError } from '../../server/errors.js'
import { DEFAULTS, resolveOptions } from '../../server/options.js'

describe('server options', () => {
  it('fills in safe defaults', () => {
    const resolved = resolveOptions()
    expect(resolved.port).toBe(1234)
    expect(resolved.host).toBe('127.0.0.1')
    expect(resolved.dataDir).toBe('./data')
    expect(resolved).toMatchObject(DEFAULTS)
  })

  it('treats undefined as "use the default"', () => {
    expect(resolveOptions({ port: undefined }).port).toBe(1234)
  })

  it.each([
    ['port', { port: -1 }, 'port must be an integer from 0 to 65535, got -1'],
    ['port', { port: 1.5 }, 'port must be an integer from 0 to 65535, got 1.5'],
    [
      'maxMessageBytes',
      { maxMessageBytes: 0 },
      'maxMessageBytes must be an integer from 64 to 2147483647, got 0',
    ],
    ['host', { host: '' }, 'host must be a non-empty string, got ""'],
    ['dataDir', { dataDir: '' }, 'dataDir must be a non-empty path, got ""'],
    [
      'logLevel',
      { logLevel: 'loud' },
      'logLevel must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
  ])('names the bad option %s', (option, options, message) => {
    let caught: unknown
    try {
      resolveOptions(options as never)
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(OptionsError)
    expect(caught).toMatchObject({ option, message, code: 'TANDEM_ERR_INVALID_OPTION' })
  })
})
