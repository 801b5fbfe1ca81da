import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { HotHistogram } from '../../server/metrics.js'

describe('HotHistogram', () => {
  const bounds = [0.001, 0.01, 0.1]
  const observations: Array<[string, string, number]> = [
    ['journal', 'ok', 0.0004],
    ['journal', 'ok', 0.001],
    ['journal', 'ok', 0.05],
    ['leveldb', 'ok', 0.3],
    ['journal', 'ok', 0.002],
    ['leveldb', 'error', 0.01],
  ]

  /** What each exposes, as Prometheus text, after the same observations (and, after them, `then`). */
  async function expositions(then: (hot: HotHistogram, reference: Histogram) => void = () => undefined) {
    const hotRegistry = new Registry()
    const hot = new HotHistogram('x_seconds', 'Help.', ['stage', 'result'], bounds)
    hotRegistry.registerMetric(hot as never)
    const referenceRegistry = new Registry()
    const reference = new Histogram({
      name: 'x_seconds',
      help: 'Help.',
      labelNames: ['stage', 'result'],
      buckets: bounds,
      registers: [referenceRegistry],
    })
    for (const [stage, result, value] of observations) {
      hot.observe(hot.series(stage, result), value)
      reference.labels(stage, result).observe(value)
    }
    then(hot, reference)
    return { hot: await hotRegistry.metrics(), reference: await referenceRegistry.metrics() }
  }

  it("exposes what prom-client's Histogram exposes for the same observations", async () => {
    const { hot, reference } = await expositions()
    expect(hot).toContain('x_seconds_bucket{le="0.01",stage="journal",result="ok"} 3')
    expect(hot).toContain('x_seconds_count{stage="leveldb",result="error"} 1')
    expect(hot.split('\n').sort()).toEqual(reference.split('\n').sort())
  })

  it('reports nothing after a reset until a series is observed again, as prom-client does', async () => {
    const { hot, reference } = await expositions((histogram, prom) => {
      histogram.reset()
      prom.reset()
      histogram.observe(histogram.series('journal', 'ok'), 0.003)
      prom.labels('journal', 'ok').observe(0.003)
    })
    expect(hot).toContain('x_seconds_count{stage="journal",result="ok"} 1')
    expect(hot).not.toContain('leveldb')
    expect(hot.split('\n').sort()).toEqual(reference.split('\n').sort())
  })

  it('gives one series per label values, and refuses a wrong number of them', () => {
    const histogram = new HotHistogram('y_seconds', 'Help.', ['stage'], [1])
    expect(histogram.series('journal')).toBe(histogram.series('journal'))
    expect(histogram.series('journal')).not.toBe(histogram.series('leveldb'))
    expect(() => histogram.series('journal', 'ok')).toThrow(RangeError)
  })
})
