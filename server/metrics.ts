import { Counter, Gauge, type Metric, Registry } from 'prom-client'
import type { BatchInfo } from '../persistence/level.js'
import type { ErrorCode } from './errors.js'

/**
 * Hot-path counters as plain numbers (an increment costs nothing); the Prometheus registry reads
 * them only when scraped. One instance per server: two servers in one process share nothing.
 */
export class Stats {
  connections = 0
  /** Connections whose socket is not read now (back-pressure: their updates wait for the store). */
  pausedConnections = 0
  messagesIn = 0
  messagesOut = 0
  bytesIn = 0
  bytesOut = 0
  /** Sync step 1s answered from stored bytes while their large document loaded. */
  answeredFromStore = 0
  /** Cluster mode: messages and bytes heard from Redis Pub/Sub, and catch-ups from the store. */
  clusterMessagesIn = 0
  clusterBytesIn = 0
  clusterCatchUps = 0
  readonly errors = new Map<ErrorCode | string, number>()

  countError(code: ErrorCode | string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1)
  }
}

export interface Metrics {
  readonly registry: Registry
  /** Records one journal write (it acknowledges updates) or LevelDB batch (behind it). */
  observeWrite(stage: BatchInfo['stage'], durationMs: number, failed: boolean): void
}

export interface Gauges {
  /** Documents in memory. */
  readonly roomsLoaded: () => number
  readonly roomsLoading: () => number
  /** Large documents served from their stored bytes, not built. */
  readonly roomsReading: () => number
  /** Cluster mode: whether Redis is reachable (null on a single node: no such metric). */
  readonly redisUp: (() => boolean) | null
}

/** Builds the `/metrics` registry over `stats` and the live gauges. */
export function createMetrics(
  stats: Stats,
  { roomsLoaded, roomsLoading, roomsReading, redisUp }: Gauges,
): Metrics {
  const registry = new Registry()
  const registers = [registry]
  const fromStats = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset()
        this.inc(read())
      },
    })
  new Gauge({
    name: 'tandem_connections',
    help: 'Open WebSocket connections.',
    registers,
    collect() {
      this.set(stats.connections)
    },
  })
  new Gauge({
    name: 'tandem_connections_paused',
    help: 'Connections not read now: more of what they sent than --max-unsaved-bytes waits for the store.',
    registers,
    collect() {
      this.set(stats.pausedConnections)
    },
  })
  new Gauge({
    name: 'tandem_rooms_loaded',
    help: 'Documents held in memory.',
    registers,
    collect() {
      this.set(roomsLoaded())
    },
  })
  new Gauge({
    name: 'tandem_rooms_loading',
    help: 'Documents being read from the store or built in memory (not yet counted as loaded).',
    registers,
    collect() {
      this.set(roomsLoading())
    },
  })
  new Gauge({
    name: 'tandem_rooms_reading',
    help: 'Large documents whose clients only read, served from their stored bytes (not built, not counted as loaded).',
    registers,
    collect() {
      this.set(roomsReading())
    },
  })
  if (redisUp) {
    new Gauge({
      name: 'tandem_redis_up',
      help: 'Cluster mode: 1 while this node reaches Redis (store and relay), 0 while it reconnects.',
      registers,
      collect() {
        this.set(redisUp() ? 1 : 0)
      },
    })
    fromStats(
      'tandem_cluster_messages_received_total',
      'Cluster mode: messages heard from other nodes (and own appends) on Redis Pub/Sub.',
      () => stats.clusterMessagesIn,
    )
    fromStats(
      'tandem_cluster_bytes_received_total',
      'Cluster mode: bytes of those messages.',
      () => stats.clusterBytesIn,
    )
    fromStats(
      'tandem_cluster_catch_ups_total',
      'Cluster mode: reads of a document log after a missed message or a reconnection.',
      () => stats.clusterCatchUps,
    )
  }
  fromStats(
    'tandem_sync_answered_from_store_total',
    'Sync step 1 of clients of a large document answered from its stored bytes, without building it.',
    () => stats.answeredFromStore,
  )
  fromStats('tandem_messages_received_total', 'WebSocket messages received.', () => stats.messagesIn)
  fromStats('tandem_messages_sent_total', 'WebSocket messages sent.', () => stats.messagesOut)
  fromStats('tandem_bytes_received_total', 'WebSocket payload bytes received.', () => stats.bytesIn)
  fromStats('tandem_bytes_sent_total', 'WebSocket payload bytes sent.', () => stats.bytesOut)
  new Counter({
    name: 'tandem_errors_total',
    help: 'Errors and refusals, by stable error code.',
    labelNames: ['code'],
    registers,
    collect() {
      this.reset()
      for (const [code, count] of stats.errors) this.inc({ code }, count)
    },
  })
  const writeSeconds = new HotHistogram(
    'tandem_persist_batch_seconds',
    'Duration of one persistence write: a journal group (stage="journal") or a LevelDB batch behind it (stage="leveldb").',
    ['stage', 'result'],
    [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  )
  // Exposed through the registry like prom-client's own metrics (it reads name, help, get, reset).
  registry.registerMetric(writeSeconds as unknown as Metric)
  const outcomes = (stage: BatchInfo['stage']) =>
    [writeSeconds.series(stage, 'ok'), writeSeconds.series(stage, 'error')] as const
  const series = { journal: outcomes('journal'), leveldb: outcomes('leveldb') }
  return {
    registry,
    observeWrite(stage, durationMs, failed) {
      writeSeconds.observe(series[stage][failed ? 1 : 0], durationMs / 1000)
    },
  }
}

/** One label set of a HotHistogram: its counts per bucket (the last past every bound). */
interface HotSeries {
  readonly labels: Readonly<Record<string, string>>
  readonly counts: Float64Array
  sum: number
  count: number
}

/**
 * A Prometheus histogram for the hot path, exposed as prom-client's Histogram would expose it:
 * an observation is a bucket search and three additions on a series looked up once (prom-client's
 * `observe` validates and hashes its labels on every call, and a journal write is observed every
 * turn). prom-client formats it when scraped.
 */
export class HotHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  /** Every series asked for, by its label values; reported once observed (as prom-client does). */
  private readonly known = new Map<string, HotSeries>()

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {}

  /** The series of `values`, one per label name, in order (the same object for the same values). */
  series(...values: string[]): HotSeries {
    if (values.length !== this.labelNames.length)
      throw new RangeError(`${this.name}: ${this.labelNames.length} label values expected`)
    const key = values.join('\0')
    let series = this.known.get(key)
    if (!series) {
      const labels = Object.fromEntries(this.labelNames.map((name, i) => [name, values[i] as string]))
      series = { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 }
      this.known.set(key, series)
    }
    return series
  }

  observe(series: HotSeries, value: number): void {
    let bucket = 0
    while (bucket < this.bounds.length && value > (this.bounds[bucket] as number)) bucket++
    series.counts[bucket] = (series.counts[bucket] as number) + 1
    series.sum += value
    series.count++
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: object[] } {
    const values: object[] = []
    const bucketName = `${this.name}_bucket`
    for (const { labels, counts, sum, count } of this.known.values()) {
      if (count === 0) continue
      let below = 0
      this.bounds.forEach((le, i) => {
        below += counts[i] as number
        values.push({ labels: { le, ...labels }, value: below, metricName: bucketName })
      })
      values.push({ labels: { le: '+Inf', ...labels }, value: count, metricName: bucketName })
      values.push({ labels, value: sum, metricName: `${this.name}_sum` })
      values.push({ labels, value: count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** Counts from zero: no series is reported until it is observed again. */
  reset(): void {
    for (const series of this.known.values()) {
      series.counts.fill(0)
      series.sum = 0
      series.count = 0
    }
  }
}
