// Prometheus metrics for a swarm (prom-client): runs (from the run channel), fuel, durations, inbox wait, in-flight work, queue lag, workers and the host event loop.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Server } from 'node:http';
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { RunResult } from '../agent/types.ts';
import { SandboxError } from '../errors.ts';
import { runChannel, type RunChannelMessage } from '../channels.ts';
import type { Residency } from '../sandbox.ts';
import type { AgentLag, AgentStats, Dispatcher } from '../swarm/dispatcher.ts';
import { AgentHistogram } from './agent-histogram.ts';

/** What the metrics read at scrape time; a swarm provides it (see serve). */
export interface MetricsSource {
  /** Only runs of this dispatcher are counted (the run channel is process-wide); without it, every swarm's. */
  dispatcher?: Dispatcher;
  stats(): AgentStats[];
  /** Subscriptions whose backend reports lag, for `sandbox_queue_lag` (Dispatcher.lags). */
  lags?(): AgentLag[];
  workerRestarts(): number;
  /** Worker threads running agents. */
  workers: number;
  /** With hibernation: stateful agents resident and hibernated, wakes and writes so far (Sandbox.residency). */
  residency?(): Residency;
}

export interface SwarmMetricsOptions {
  /** Window over which event-loop delay p99 and utilization are measured (default 5 s). */
  windowMs?: number;
  /** prom-client's process and Node metrics (default true). */
  processMetrics?: boolean;
}

const FUEL_BUCKETS = [1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
const DURATION_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];
const WAIT_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];
/** A scrape does not wait longer than this for a backend to say how far behind a subscription is. */
const LAG_TIMEOUT_MS = 2000;

export class SwarmMetrics {
  readonly registry = new Registry();
  /** agent -> status -> runs; read into `sandbox_runs_total` at scrape time (an inc per run costs a label hash). */
  private readonly runCounts = new Map<string, Map<string, number>>();
  private readonly fuel: AgentHistogram;
  private readonly duration: AgentHistogram;
  private readonly inboxWait: AgentHistogram;
  private readonly delay: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private lastElu: EventLoopUtilization;
  /** The last full window's figures. A scrape reports the worse of these and the window in progress: two
   *  scrapers get consistent numbers, and a stall shows up at once rather than when its window closes. */
  private window = { delayP99Seconds: 0, delayMaxSeconds: 0, utilization: 0 };
  private source: MetricsSource | undefined;

  constructor(options: SwarmMetricsOptions = {}) {
    const windowMs = options.windowMs ?? 5000;
    const registers = [this.registry];
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const self = this;
    new Counter({
      name: 'sandbox_runs_total',
      help: 'Agent runs by agent and status',
      labelNames: ['agent', 'status'],
      registers,
      collect() {
        this.reset();
        for (const [agent, byStatus] of self.runCounts)
          for (const [status, n] of byStatus) this.inc({ agent, status }, n);
      },
    });
    this.fuel = new AgentHistogram({
      name: 'sandbox_run_fuel',
      help: 'Fuel used per run (metered agents only)',
      buckets: FUEL_BUCKETS,
      registers,
    });
    this.duration = new AgentHistogram({
      name: 'sandbox_run_duration_seconds',
      help: 'Run wall-clock duration in the worker',
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.inboxWait = new AgentHistogram({
      name: 'sandbox_inbox_wait_seconds',
      help: 'Time a message waited between delivery to the dispatcher and the start of its run (admission, a free instance, the worker pipeline)',
      buckets: WAIT_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'sandbox_queue_lag',
      help: 'Messages on a subscription not yet acked: published and waiting, or delivered and unsettled (where the queue backend can tell)',
      labelNames: ['agent', 'pattern'],
      registers,
      async collect() {
        this.reset();
        const answers = await Promise.all(
          (self.source?.lags?.() ?? []).map(async (l) => ({ l, lag: await lagWithin(() => l.lag(), LAG_TIMEOUT_MS) })),
        );
        for (const { l, lag } of answers) if (lag !== undefined) this.set({ agent: l.agent, pattern: l.pattern }, lag);
      },
    });
    /** A per-agent series read from dispatcher.stats() at scrape time: a gauge, or a counter reporting the total. */
    const perAgent = (type: 'counter' | 'gauge', name: string, help: string, pick: (s: AgentStats) => number) => {
      const collect = (metric: Counter<'agent'> | Gauge<'agent'>) => {
        metric.reset();
        for (const s of self.source?.stats() ?? []) {
          if (metric instanceof Counter) metric.inc({ agent: s.name }, pick(s));
          else metric.set({ agent: s.name }, pick(s));
        }
      };
      const options = { name, help, labelNames: ['agent'] as const, registers };
      return type === 'counter'
        ? new Counter({
            ...options,
            collect() {
              collect(this);
            },
          })
        : new Gauge({
            ...options,
            collect() {
              collect(this);
            },
          });
    };
    /** A series without labels read at scrape time (undefined: no reading, the gauge keeps its value, the counter is 0). */
    const scalar = (type: 'counter' | 'gauge', name: string, help: string, read: () => number | undefined) =>
      type === 'counter'
        ? new Counter({
            name,
            help,
            registers,
            collect() {
              this.reset();
              const value = read();
              if (value !== undefined) this.inc(value);
            },
          })
        : new Gauge({
            name,
            help,
            registers,
            collect() {
              const value = read();
              if (value !== undefined) this.set(value);
            },
          });
    perAgent('counter', 'sandbox_acked_total', 'Messages acked after a successful run', (s) => s.acked);
    perAgent('counter', 'sandbox_retried_total', 'Failed runs handed back for redelivery', (s) => s.retried);
    perAgent('counter', 'sandbox_dead_lettered_total', 'Messages sent to the dead-letter topic', (s) => s.deadLettered);
    perAgent(
      'counter',
      'sandbox_events_published_total',
      'Events published by successful runs',
      (s) => s.eventsPublished,
    );
    perAgent(
      'counter',
      'sandbox_admission_shed_total',
      'Messages handed back to the queue by admission control (rate limited)',
      (s) => s.shed,
    );
    perAgent(
      'counter',
      'sandbox_admission_throttled_total',
      'Messages held by admission control until their token was due',
      (s) => s.throttled,
    );
    perAgent(
      'counter',
      'sandbox_admission_throttled_seconds_total',
      'Time messages spent held by admission control',
      (s) => s.throttledMs / 1000,
    );
    perAgent(
      'counter',
      'sandbox_quarantine_parked_total',
      'Messages parked while their agent was quarantined',
      (s) => s.parked,
    );
    perAgent('counter', 'sandbox_quarantines_total', 'Quarantines begun for the agent', (s) => s.quarantines);
    perAgent('gauge', 'sandbox_in_flight', 'Messages handed to an agent and not yet settled', (s) => s.inFlight);
    perAgent('gauge', 'sandbox_inbox_peak', 'The most messages the agent inbox held at once', (s) => s.inboxPeak);
    perAgent('gauge', 'sandbox_inbox_capacity', 'The bound of the agent inbox', (s) => s.inbox);
    scalar(
      'counter',
      'sandbox_worker_restarts_total',
      'Agent workers replaced after a timeout or a crash',
      () => self.source?.workerRestarts() ?? 0,
    );
    const residency = (pick: (r: Residency) => number) => () => {
      const r = self.source?.residency?.();
      return r && pick(r);
    };
    scalar(
      'gauge',
      'sandbox_agents_resident',
      'Stateful agents holding a live instance (hibernation)',
      residency((r) => r.resident),
    );
    scalar(
      'gauge',
      'sandbox_agents_hibernated',
      'Stateful agents asleep in the hibernation store',
      residency((r) => r.hibernated),
    );
    scalar(
      'counter',
      'sandbox_agent_wakes_total',
      'Agents woken from the hibernation store',
      residency((r) => r.wakes),
    );
    scalar(
      'counter',
      'sandbox_agent_hibernations_total',
      'Agents written to the hibernation store and evicted',
      residency((r) => r.hibernations),
    );
    scalar(
      'counter',
      'sandbox_agent_checkpoints_total',
      'States of resident agents written to the hibernation store',
      residency((r) => r.checkpoints),
    );
    scalar(
      'counter',
      'sandbox_agent_runs_undone_total',
      'Runs of hibernating agents that trapped and were undone (the agent continued from its state before them)',
      residency((r) => r.undone),
    );
    scalar(
      'counter',
      'sandbox_hibernation_store_errors_total',
      'Failed reads and writes of the hibernation store',
      residency((r) => r.storeErrors),
    );
    scalar('gauge', 'sandbox_workers', 'Worker threads running agents', () => self.source?.workers ?? 0);
    scalar(
      'gauge',
      'sandbox_event_loop_delay_p99_seconds',
      'p99 of the host event loop delay over the last window',
      () => Math.max(self.window.delayP99Seconds, self.delay.percentile(99) / 1e9),
    );
    scalar('gauge', 'sandbox_event_loop_delay_max_seconds', 'Maximum host event loop delay over the last window', () =>
      Math.max(self.window.delayMaxSeconds, self.delay.max / 1e9),
    );
    scalar(
      'gauge',
      'sandbox_event_loop_utilization',
      'Fraction of the last window the host event loop was busy (0-1)',
      () => Math.max(self.window.utilization, performance.eventLoopUtilization(self.lastElu).utilization),
    );
    subscribe(runChannel.name, this.onRun);
    this.delay = monitorEventLoopDelay({ resolution: 10 });
    this.delay.enable();
    this.lastElu = performance.eventLoopUtilization();
    this.timer = setInterval(() => this.closeWindow(), windowMs);
    this.timer.unref();
  }

  private closeWindow(): void {
    const elu = performance.eventLoopUtilization(this.lastElu);
    this.lastElu = performance.eventLoopUtilization();
    // The histogram is in nanoseconds; with no samples p99 reads 0.
    this.window = {
      delayP99Seconds: this.delay.percentile(99) / 1e9,
      delayMaxSeconds: this.delay.max / 1e9,
      utilization: elu.utilization,
    };
    this.delay.reset();
  }

  attach(source: MetricsSource): void {
    this.source = source;
  }

  /** Counts one run, with how long the message waited for it (ms). Runs of a swarm arrive through the
   *  `sandbox:swarm:run` channel, which the metrics subscribe to; call this for runs made elsewhere. */
  recordRun(agent: string, result: RunResult, waitMs?: number): void {
    let byStatus = this.runCounts.get(agent);
    if (byStatus === undefined) this.runCounts.set(agent, (byStatus = new Map()));
    byStatus.set(result.status, (byStatus.get(result.status) ?? 0) + 1);
    this.duration.add(agent, result.durationMs / 1000);
    if (result.fuelUsed !== null) this.fuel.add(agent, result.fuelUsed);
    if (waitMs !== undefined) this.inboxWait.add(agent, waitMs / 1000);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** The run channel's subscriber: cheap, and never throws (a throw would be an uncaught exception). */
  private readonly onRun = (message: unknown): void => {
    const m = message as RunChannelMessage;
    const only = this.source?.dispatcher;
    if (only !== undefined && m.dispatcher !== only) return;
    this.recordRun(m.agent, m.result, m.waitMs);
  };

  close(): void {
    unsubscribe(runChannel.name, this.onRun);
    clearInterval(this.timer);
    this.delay.disable();
  }
}

/** The lag, or undefined when the backend cannot answer within `timeoutMs` (the series is then left out). */
async function lagWithin(lag: () => Promise<number | undefined>, timeoutMs: number): Promise<number | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      lag().catch(() => undefined),
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Serves `GET /metrics` on host:port; resolves once listening, with the bound port. */
export async function serveMetrics(
  metrics: SwarmMetrics,
  port: number,
  host = '127.0.0.1',
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  // Loaded here, not at the top: importing node:http crashes Node 22 under --jitless (its HTTP parser is WebAssembly).
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
      return;
    }
    metrics.metrics().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new SandboxError('SANDBOX_CONNECTION', `cannot serve metrics on ${host}:${port}: ${(error as Error).message}`, {
          cause: error,
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  return {
    server,
    port: bound,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
