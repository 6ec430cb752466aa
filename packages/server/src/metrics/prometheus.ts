import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AUTH_FAILURE_REASONS, DOORS } from './counters.js';
import { type NodeSnapshot, snapshot } from './snapshot.js';
import type { MonitorGauges, MonitorSource, MonitorStats } from './source.js';

/** Seconds buckets of the engine command latency histogram (a Redis round trip is well under 1 ms on a LAN). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

const GAP_REASONS = ['history', 'epoch', 'overflow'] as const;
const KINDS = ['pubsub', 'bus', 'job'] as const;

/** What one scrape reads: taken once per scrape, shared by every metric's collect. */
interface Scrape {
  stats: MonitorStats;
  node: NodeSnapshot;
  up: boolean;
}

/** Counts by key as label sets: every key of `keys` appears (0 when unseen), plus any other seen key. */
function byKey(map: ReadonlyMap<string, number>, keys: readonly string[]): [string, number][] {
  const out = new Map<string, number>(keys.map((k) => [k, 0]));
  for (const [k, v] of map) out.set(k, v);
  return [...out];
}

/**
 * The broker's Prometheus metrics: a prom-client registry whose metrics read the broker's
 * counters (`broker.stats()`, {@link OpsCounters}) and walk its sessions when
 * scraped, so nothing runs on the message path but plain counter increments (and the engine
 * latency histogram). Labels come from bounded sets only (doors, transports, reasons, kinds):
 * never a topic. Node.js process metrics (CPU, memory, event-loop lag, GC) come from
 * prom-client's defaults, prefixed `rt_`.
 */
export class BrokerMetrics {
  /** The registry; an application may merge it with its own (`Registry.merge`). */
  readonly registry = new Registry();
  private scrape: Scrape | undefined;

  constructor(private readonly source: MonitorSource) {
    const registers = [this.registry];
    // text() takes the scrape (with the engine's gauges) before the registry collects; a
    // registry merged into the application's and collected by it reads without them.
    const read = (): Scrape => {
      this.scrape ??= this.take();
      return this.scrape;
    };
    const counters = source.counters;
    const gauge = (name: string, help: string, value: (s: Scrape) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(read()));
        },
      });
    };
    const counter = (name: string, help: string, value: (s: Scrape) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value(read()));
        },
      });
    };
    const labelled = (
      name: string,
      help: string,
      label: string,
      values: () => [string, number][],
      type: 'counter' | 'gauge' = 'counter',
    ): void => {
      const collect = function (this: Counter<string> | Gauge<string>): void {
        this.reset();
        for (const [key, value] of values()) {
          if (this instanceof Counter) this.inc({ [label]: key }, value);
          else this.set({ [label]: key }, value);
        }
      };
      if (type === 'counter') new Counter({ name, help, labelNames: [label], registers, collect });
      else new Gauge({ name, help, labelNames: [label], registers, collect });
    };

    new Gauge({
      name: 'rt_connections',
      help: 'Open connections by door (socket.io, sse, sse-plain, raw-ws, mercure) and transport',
      labelNames: ['door', 'transport'],
      registers,
      collect() {
        this.reset();
        for (const [key, n] of read().node.connections) {
          const [door = '', transport = ''] = key.split(' ');
          this.set({ door, transport }, n);
        }
      },
    });
    const doors = Object.keys(DOORS);
    // Mercure subscribers are no sessions: only rt_connections counts them.
    const sessionDoors = doors.filter((d) => d !== 'mercure');
    labelled('rt_connections_opened_total', 'Connections opened, by door', 'door', () =>
      byKey(counters.opened, sessionDoors),
    );
    labelled('rt_connections_closed_total', 'Connections closed, by door', 'door', () =>
      byKey(counters.closed, sessionDoors),
    );
    gauge('rt_subscriptions', 'Pub/sub subscriptions held by connections on this node', (s) => s.node.subscriptions);
    gauge('rt_topics', 'Distinct topics subscribed on this node', (s) => s.node.topics.size);
    gauge('rt_bus_joins', 'Bus joins held by connections on this node', (s) => s.node.busJoins);
    gauge('rt_pullers', 'Pullers on this node', (s) => s.node.pullers);
    counter('rt_frames_in_total', 'Client frames received', (s) => s.stats.framesIn);
    counter('rt_bad_frames_total', 'Client frames refused as malformed', (s) => s.stats.badFrames);
    counter(
      'rt_messages_published_total',
      'Messages this node published (client, HTTP and server publishes the engine accepted)',
      (s) => s.stats.published,
    );
    new Counter({
      name: 'rt_messages_delivered_total',
      help: 'Messages written to connections, by door and kind (pubsub, bus, job)',
      labelNames: ['door', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const door of sessionDoors) for (const kind of KINDS) this.inc({ door, kind }, 0);
        for (const [door, delivered] of counters.delivered) {
          for (const kind of KINDS) this.inc({ door, kind }, delivered[kind]);
        }
      },
    });
    labelled(
      'rt_messages_dropped_total',
      'Messages dropped, by reason: slow_consumer (a connection that could not keep up), budget (history evicted early for maxHistoryBytes), pace (replaced or dropped by the pace a subscription asked for)',
      'reason',
      () => {
        const { stats } = read();
        return [
          ['slow_consumer', stats.outboundDropped],
          ['budget', stats.historyEvicted ?? 0],
          ['pace', counters.paceSkipped],
        ];
      },
    );
    labelled('rt_bytes_in_total', 'Payload bytes of client frames received, by door', 'door', () =>
      byKey(counters.bytesIn, sessionDoors),
    );
    labelled('rt_bytes_out_total', 'Bytes written to connections, by door', 'door', () =>
      byKey(counters.bytesOut, sessionDoors),
    );
    labelled('rt_gaps_total', 'gap frames sent to connections, by reason (history, epoch, overflow)', 'reason', () =>
      byKey(counters.gaps, GAP_REASONS),
    );
    counter(
      'rt_slow_consumer_disconnects_total',
      'Connections dropped because they could not keep up',
      (s) => s.stats.slowDisconnects,
    );
    labelled('rt_auth_failures_total', 'Refused handshakes and operations, by reason', 'reason', () =>
      byKey(counters.authFailures, AUTH_FAILURE_REASONS),
    );
    counter('rt_jobs_pushed_total', 'Jobs pushed (accepted into a work queue)', (s) => s.stats.pushed);
    counter('rt_jobs_rejected_total', 'Pushes refused because the queue was full', (s) => s.stats.pushRejected);
    counter('rt_jobs_acked_total', 'Jobs acknowledged by pullers on this node', () => counters.acked);
    counter('rt_jobs_nacked_total', 'Jobs given back (nack) by pullers on this node', () => counters.nacked);
    counter(
      'rt_jobs_redelivered_total',
      'Jobs handed out again (nack, lost puller or node)',
      (s) => s.stats.redelivered,
    );
    counter('rt_jobs_expired_total', 'Jobs that expired waiting for a puller', (s) => s.stats.pushExpired);
    counter(
      'rt_jobs_ack_expired_total',
      'Jobs taken back from a puller that missed its ack deadline',
      (s) => s.stats.ackExpired,
    );
    counter(
      'rt_deduplicated_total',
      'Publishes and pushes resent with a known idempotency key, not carried out again',
      (s) => s.stats.deduplicated,
    );
    gauge('rt_queue_depth', 'Jobs waiting for a puller, all topics (Redis: all nodes)', (s) => s.stats.queued ?? 0);
    gauge(
      'rt_queue_bytes',
      'Payload bytes of the jobs waiting for a puller, all topics (Redis: of the jobs it holds, waiting or handed out)',
      (s) => s.stats.queuedBytes ?? 0,
    );
    gauge(
      'rt_history_topics',
      'Topics with a recovery history (Redis: history streams of all nodes)',
      (s) => s.stats.historyTopics ?? 0,
    );
    gauge('rt_history_messages', 'Messages held in recovery histories, each once', (s) => s.stats.historyMessages ?? 0);
    gauge(
      'rt_history_bytes',
      'Bytes held in recovery histories, bounded by maxHistoryBytes',
      (s) => s.stats.historyBytes ?? 0,
    );
    labelled(
      'rt_history_evicted_total',
      'History evicted early by a budget: messages (maxHistoryBytes) and whole topics (maxHistoryTopics)',
      'budget',
      () => {
        const { historyEvicted, historyTopicsEvicted } = read().stats;
        return [
          ['bytes', historyEvicted ?? 0],
          ['topics', historyTopicsEvicted ?? 0],
        ];
      },
    );
    gauge('rt_idempotency_keys', 'Idempotency keys remembered, bounded by dedupeSize', (s) => s.stats.idempotencyKeys);
    gauge('rt_outbound_queued_bytes', 'Bytes queued for connections, not yet written', (s) => s.stats.outboundQueued);
    new Gauge({
      name: 'rt_engine_up',
      help: 'Whether the engine can serve (1) or not (0, e.g. Redis unreachable)',
      labelNames: ['engine'],
      registers,
      collect() {
        this.reset();
        const s = read();
        this.set({ engine: s.stats.engine }, s.up ? 1 : 0);
      },
    });
    const latency = new Histogram({
      name: 'rt_engine_command_duration_seconds',
      help: 'Duration of commands to the engine backend (Redis scripts)',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    counters.commandObserver = (seconds) => latency.observe(seconds);
    collectDefaultMetrics({ register: this.registry, prefix: 'rt_' });
  }

  private take(gauges?: MonitorGauges): Scrape {
    const stats = this.source.stats();
    if (gauges !== undefined) {
      const { queues: _, ...figures } = gauges;
      Object.assign(stats, figures);
    }
    return { stats, node: snapshot(this.source), up: this.source.health().ok };
  }

  /** The metrics in Prometheus text format. */
  async text(): Promise<string> {
    this.scrape = this.take(await this.source.gauges());
    try {
      return await this.registry.metrics();
    } finally {
      this.scrape = undefined;
    }
  }

  /** The content type of {@link text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops observing the engine (the broker closed). */
  close(): void {
    this.source.counters.commandObserver = undefined;
  }
}
