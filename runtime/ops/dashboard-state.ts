// The dashboard's read model: samples a swarm's metrics, stats, quarantines and dead letters into one JSON snapshot.
import type { RunStatus } from '../agent/types.ts';
import { decode } from '../codec.ts';
import { DEAD_LETTER_HEADERS, type QueueMessage } from '../queue/types.ts';
import type { Residency } from '../sandbox.ts';
import type { AgentStats } from '../swarm/dispatcher.ts';
import type { QuarantineEvent } from '../swarm/escalation.ts';
import type { SwarmMetrics } from './metrics.ts';

/** What the read model samples; `sandbox serve` wires a swarm to it. */
export interface DashboardSources {
  /** The swarm's Prometheus metrics: latency and inbox-wait histograms, queue lag and the host event loop are read
   *  from its registry by their metric names, so the page and a scrape agree. */
  metrics: SwarmMetrics;
  /** Per-agent counters (dispatcher.stats()): runs by status, acks, retries, dead letters, parked, in flight, keys. */
  stats(): AgentStats[];
  /** Quarantines in force (dispatcher.quarantined()). */
  quarantined?(): QuarantineEvent[];
  /** With hibernation: residency (sandbox.residency()). */
  residency?(): Residency;
  /** Agent worker threads, and how many were replaced so far. */
  workers: number;
  workerRestarts?(): number;
  /** The agent a dead letter's `x-dead-letter-group` belongs to (the topology's group → agent). */
  agentOfGroup?(group: string): string | undefined;
}

export interface DashboardStateOptions {
  /** Rates and percentiles cover this much of the recent past (default 10 s). */
  windowMs?: number;
  /** Dead letters kept for the page, newest first (default 50). */
  deadLetters?: number;
  /** Epoch ms (tests pass a fake). */
  now?: () => number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
}

/** Active: ran in the window; failing: at least half its runs in the window failed; quarantined: escalation
 *  holds it; idle: no run in the window. */
export type AgentState = 'active' | 'idle' | 'failing' | 'quarantined';

export interface AgentView {
  name: string;
  state: AgentState;
  runsPerSecond: number;
  failedPerSecond: number;
  /** Totals since the start. */
  runs: Partial<Record<RunStatus, number>>;
  acked: number;
  retried: number;
  deadLettered: number;
  parked: number;
  quarantines: number;
  eventsPublished: number;
  shed: number;
  inFlight: number;
  /** Per-key agents: instances loaded so far. */
  keys?: number;
  /** Run duration in the worker over the window (ms), estimated from the histogram's buckets; null without runs. */
  latencyMs: Percentiles | null;
  /** Delivery to run start over the window (ms); null without runs. */
  waitMs: Percentiles | null;
  /** Messages not yet acked per subscription pattern, where the backend can tell. */
  lag: { pattern: string; messages: number }[];
  /** Epoch ms when its quarantine ends, while it is quarantined. */
  quarantinedUntil?: number;
}

export interface DeadLetterView {
  /** Epoch ms when the dashboard saw it. */
  at: number;
  agent: string | null;
  topic: string | null;
  deliveryCount: number | null;
  reason: string;
  key: string | null;
  /** The payload as JSON, cut at 200 characters; or its size when it is not MessagePack. */
  payload: string;
}

export interface DashboardSnapshot {
  at: number;
  uptimeSeconds: number;
  /** What rates and percentiles cover now: the window, or less right after the start. */
  windowSeconds: number;
  host: {
    workers: number;
    workerRestarts: number;
    eventLoopDelayP99Ms: number | null;
    eventLoopUtilization: number | null;
  };
  residency: Residency | null;
  agents: AgentView[];
  quarantines: QuarantineEvent[];
  deadLetters: { total: number; recent: DeadLetterView[] };
}

/** One agent's cumulative figures at a sample: what rates and window percentiles are differences of. */
interface AgentSample {
  runs: number;
  failed: number;
  latency: Histogram | undefined;
  wait: Histogram | undefined;
}

interface Sample {
  at: number;
  agents: Map<string, AgentSample>;
}

/** Cumulative bucket counts (prom-client's layout) with their upper bounds, +Inf last. */
interface Histogram {
  bounds: number[];
  counts: number[];
}

type MetricValue = { labels: Record<string, string | number | undefined>; value: number; metricName?: string };

const PAYLOAD_PREVIEW = 200;
const MIN_SAMPLE_GAP_MS = 250;

export class DashboardState {
  private readonly windowMs: number;
  private readonly keep: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private samples: Sample[] = [];
  private readonly deadLetters: DeadLetterView[] = [];
  private deadLetterTotal = 0;

  constructor(
    private readonly sources: DashboardSources,
    options: DashboardStateOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 10_000;
    this.keep = options.deadLetters ?? 50;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
  }

  /** Records a message seen on the dead-letter topic (serve subscribes the dashboard to it). */
  addDeadLetter(message: QueueMessage): void {
    const h = message.headers;
    const group = h[DEAD_LETTER_HEADERS.group];
    const reason = h[DEAD_LETTER_HEADERS.reason] ?? '(no reason given)';
    const count = Number(h[DEAD_LETTER_HEADERS.deliveryCount]);
    this.deadLetterTotal++;
    this.deadLetters.unshift({
      at: this.now(),
      agent: (group !== undefined ? this.sources.agentOfGroup?.(group) : undefined) ?? group ?? null,
      topic: h[DEAD_LETTER_HEADERS.topic] ?? null,
      deliveryCount: Number.isFinite(count) ? count : null,
      reason,
      key: message.key ?? null,
      payload: preview(message.payload),
    });
    if (this.deadLetters.length > this.keep) this.deadLetters.length = this.keep;
  }

  /** Reads every source once, keeps the sample for rates, and returns the snapshot the page shows. */
  async sample(): Promise<DashboardSnapshot> {
    const at = this.now();
    const registry = this.sources.metrics.registry;
    const read = async (name: string): Promise<MetricValue[]> => {
      const metric = registry.getSingleMetric(name);
      return metric === undefined ? [] : (await metric.get()).values;
    };
    const [latency, wait, lag, delay, utilization] = await Promise.all([
      read('sandbox_run_duration_seconds'),
      read('sandbox_inbox_wait_seconds'),
      read('sandbox_queue_lag'),
      read('sandbox_event_loop_delay_p99_seconds'),
      read('sandbox_event_loop_utilization'),
    ]);
    const lagOf = new Map<string, { pattern: string; messages: number }[]>();
    for (const v of lag) {
      const agent = String(v.labels.agent);
      let list = lagOf.get(agent);
      if (list === undefined) lagOf.set(agent, (list = []));
      list.push({ pattern: String(v.labels.pattern), messages: v.value });
    }
    const latencyOf = histograms(latency, 'sandbox_run_duration_seconds');
    const waitOf = histograms(wait, 'sandbox_inbox_wait_seconds');
    const stats = this.sources.stats();
    const current: Sample = { at, agents: new Map() };
    for (const s of stats) {
      let runs = 0;
      let failed = 0;
      for (const [status, n] of Object.entries(s.runs)) {
        runs += n;
        if (status !== 'ok') failed += n;
      }
      current.agents.set(s.name, { runs, failed, latency: latencyOf.get(s.name), wait: waitOf.get(s.name) });
    }
    // The oldest sample still inside the window is the base of every difference. Older ones go: after a spell
    // with nobody watching, a rate over that whole spell would pass for a current one.
    // Samples closer together than MIN_SAMPLE_GAP_MS replace the newest instead of adding one, so a script polling
    // /api/state in a loop keeps at most window / gap samples (the base stays put).
    const newest = this.samples[this.samples.length - 1];
    if (this.samples.length > 1 && newest !== undefined && at - newest.at < MIN_SAMPLE_GAP_MS)
      this.samples[this.samples.length - 1] = current;
    else this.samples.push(current);
    while (at - this.samples[0]!.at > this.windowMs) this.samples.shift();
    const base = this.samples.length > 1 ? this.samples[0]! : undefined;
    const seconds = base === undefined ? 0 : (at - base.at) / 1000;

    const quarantines = this.sources.quarantined?.() ?? [];
    const quarantineOf = new Map(quarantines.map((q) => [q.agent, q]));
    const agents = stats.map((s): AgentView => {
      const now = current.agents.get(s.name)!;
      const before = base?.agents.get(s.name);
      const runs = now.runs - (before?.runs ?? 0);
      const failed = now.failed - (before?.failed ?? 0);
      const q = quarantineOf.get(s.name);
      const state: AgentState =
        q !== undefined ? 'quarantined' : runs === 0 ? 'idle' : failed * 2 >= runs ? 'failing' : 'active';
      const view: AgentView = {
        name: s.name,
        state,
        runsPerSecond: seconds > 0 ? round(runs / seconds) : 0,
        failedPerSecond: seconds > 0 ? round(failed / seconds) : 0,
        runs: s.runs,
        acked: s.acked,
        retried: s.retried,
        deadLettered: s.deadLettered,
        parked: s.parked,
        quarantines: s.quarantines,
        eventsPublished: s.eventsPublished,
        shed: s.shed,
        inFlight: s.inFlight,
        latencyMs: percentiles(now.latency, before?.latency),
        waitMs: percentiles(now.wait, before?.wait),
        lag: lagOf.get(s.name) ?? [],
      };
      if (s.keys !== undefined) view.keys = s.keys;
      if (q !== undefined) view.quarantinedUntil = q.until;
      return view;
    });
    const delaySeconds = delay[0]?.value;
    return {
      at,
      uptimeSeconds: round((at - this.startedAt) / 1000),
      windowSeconds: round(seconds),
      host: {
        workers: this.sources.workers,
        workerRestarts: this.sources.workerRestarts?.() ?? 0,
        eventLoopDelayP99Ms: delaySeconds === undefined ? null : round(delaySeconds * 1000),
        eventLoopUtilization: utilization[0] === undefined ? null : round(utilization[0].value),
      },
      residency: this.sources.residency?.() ?? null,
      agents,
      quarantines,
      deadLetters: { total: this.deadLetterTotal, recent: [...this.deadLetters] },
    };
  }
}

/** The per-agent histograms of one metric, from prom-client's `_bucket` values (cumulative, `le` labelled). */
function histograms(values: MetricValue[], name: string): Map<string, Histogram> {
  const out = new Map<string, Histogram>();
  for (const v of values) {
    if (v.metricName !== `${name}_bucket`) continue;
    const agent = String(v.labels.agent);
    let h = out.get(agent);
    if (h === undefined) out.set(agent, (h = { bounds: [], counts: [] }));
    h.bounds.push(v.labels.le === '+Inf' ? Infinity : Number(v.labels.le));
    h.counts.push(v.value);
  }
  return out;
}

/**
 * p50/p90/p99 in ms of the observations between two cumulative histograms, estimated as Prometheus's
 * histogram_quantile does: linear within the bucket that holds the rank, and the highest finite bound when the
 * rank falls in +Inf. Null when nothing was observed in between.
 */
export function percentiles(now: Histogram | undefined, before: Histogram | undefined): Percentiles | null {
  if (now === undefined) return null;
  const counts = now.counts.map((c, i) => c - (before?.counts[i] ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return null;
  const at = (q: number): number => {
    const rank = q * total;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i]! < rank) continue;
      const upper = now.bounds[i]!;
      if (upper === Infinity) return now.bounds[i - 1] ?? 0;
      const lower = i === 0 ? 0 : now.bounds[i - 1]!;
      const below = i === 0 ? 0 : counts[i - 1]!;
      const inBucket = counts[i]! - below;
      return inBucket > 0 ? lower + ((upper - lower) * (rank - below)) / inBucket : upper;
    }
    return now.bounds[now.bounds.length - 2] ?? 0;
  };
  return { p50: round(at(0.5) * 1000), p90: round(at(0.9) * 1000), p99: round(at(0.99) * 1000) };
}

function preview(payload: Uint8Array): string {
  let value: unknown;
  try {
    value = decode(payload);
  } catch {
    return `(${payload.length} bytes, not MessagePack)`;
  }
  // Decoded MessagePack is JSON-shaped but for undefined (JSON.stringify gives undefined) and 64-bit integers that
  // decode as BigInt (JSON.stringify throws): those are written as their digits.
  const text =
    value === undefined
      ? 'undefined'
      : JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return text.length > PAYLOAD_PREVIEW ? `${text.slice(0, PAYLOAD_PREVIEW)}…` : text;
}

/** Three significant decimals: enough for a page, and stable JSON. */
function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
