import { Counter, Gauge, Histogram, Registry } from 'prom-client'
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
  const writeSeconds = new Histogram({
    name: 'tandem_persist_batch_seconds',
    help: 'Duration of one persistence write: a journal group (stage="journal") or a LevelDB batch behind it (stage="leveldb").',
    labelNames: ['stage', 'result'],
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers,
  })
  // One series per stage and result, looked up once: a journal write is observed every turn.
  const series = new Map<string, ReturnType<typeof writeSeconds.labels>>()
  return {
    registry,
    observeWrite(stage, durationMs, failed) {
      const key = failed ? `${stage} error` : stage
      let child = series.get(key)
      if (!child) {
        child = writeSeconds.labels(stage, failed ? 'error' : 'ok')
        series.set(key, child)
      }
      child.observe(durationMs / 1000)
    },
  }
}
