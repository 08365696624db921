// The dashboard's read model: window rates and percentiles from SwarmMetrics, agent states, quarantines, dead letters.
import { afterEach, describe, expect, it } from 'vitest';
import type { RunResult, RunStatus } from '../../runtime/agent/types.ts';
import { encode } from '../../runtime/codec.ts';
import { DashboardState, percentiles, type DashboardSnapshot } from '../../runtime/ops/dashboard-state.ts';
import { SwarmMetrics } from '../../runtime/ops/metrics.ts';
import { DEAD_LETTER_HEADERS, type QueueMessage } from '../../runtime/queue/types.ts';
import { newAgentStats, type AgentStats } from '../../runtime/swarm/dispatcher.ts';
import type { QuarantineEvent } from '../../runtime/swarm/escalation.ts';

const opened: SwarmMetrics[] = [];
afterEach(() => {
  for (const m of opened.splice(0)) m.close();
});

function metrics(): SwarmMetrics {
  const m = new SwarmMetrics({ processMetrics: false });
  opened.push(m);
  return m;
}

const result = (status: RunStatus, durationMs: number): RunResult =>
  ({ status, durationMs, fuelUsed: null, output: null, events: [], logs: [] }) as unknown as RunResult;

/** A dispatcher's stats for one agent, counted as runs are recorded. */
class FakeSwarm {
  readonly stats: AgentStats[] = [];
  quarantines: QuarantineEvent[] = [];

  constructor(
    readonly metrics: SwarmMetrics,
    names: string[],
  ) {
    for (const name of names) this.stats.push(newAgentStats(name));
  }

  run(agent: string, status: RunStatus, durationMs: number, times = 1): void {
    const s = this.stats.find((x) => x.name === agent)!;
    for (let i = 0; i < times; i++) {
      s.runs[status] = (s.runs[status] ?? 0) + 1;
      if (status === 'ok') s.acked++;
      this.metrics.recordRun(agent, result(status, durationMs), 0.05);
    }
  }
}

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const deadLetter = (headers: Record<string, string>, payload: Uint8Array, key?: string): QueueMessage => ({
  topic: 'dl',
  payload,
  key,
  headers,
  deliveryCount: 1,
  ack() {},
  nak: () => 'dead-letter',
  term: () => 'dead-letter',
});

describe('percentiles (as histogram_quantile estimates them)', () => {
  const bounds = [0.001, 0.005, 0.01, Infinity];

  it('interpolates within the bucket that holds the rank, over the difference of two cumulative histograms', () => {
    // 100 observations between the two: 50 in (0, 1 ms], 40 in (1, 5 ms], 10 in (5, 10 ms].
    const before = { bounds, counts: [7, 7, 7, 7] };
    const now = { bounds, counts: [57, 97, 107, 107] };
    const p = percentiles(now, before)!;
    expect(p.p50).toBeCloseTo(1, 6); // rank 50: the top of the first bucket
    expect(p.p90).toBeCloseTo(5, 6); // rank 90: the top of the second
    expect(p.p99).toBeCloseTo(9.5, 6); // rank 99: 9 of the 10 in (5, 10]
  });

  it('reads the highest finite bound when the rank falls in +Inf, and null when nothing was observed', () => {
    expect(percentiles({ bounds, counts: [0, 0, 0, 4] }, undefined)).toEqual({ p50: 10, p90: 10, p99: 10 });
    expect(percentiles({ bounds, counts: [3, 3, 3, 3] }, { bounds, counts: [3, 3, 3, 3] })).toBeNull();
    expect(percentiles(undefined, undefined)).toBeNull();
  });
});

describe('DashboardState', () => {
  it('gives per-agent rates and run-time percentiles over the window only, from the metrics SwarmMetrics records', async () => {
    const m = metrics();
    const swarm = new FakeSwarm(m, ['fast', 'slow']);
    const c = clock();
    const state = new DashboardState(
      { metrics: m, stats: () => swarm.stats, workers: 2 },
      { windowMs: 10_000, now: c.now },
    );
    // Before the window: slow runs that must not weigh on the window's percentiles later.
    swarm.run('fast', 'ok', 400, 50);
    const first = await state.sample();
    expect(first.windowSeconds).toBe(0);
    expect(first.agents.map((a) => a.name)).toEqual(['fast', 'slow']);
    expect(first.agents[0]!.runsPerSecond).toBe(0);

    c.advance(2000);
    swarm.run('fast', 'ok', 0.2, 100);
    const second = await state.sample();
    expect(second.windowSeconds).toBe(2);
    const fast = second.agents[0]!;
    expect(fast).toMatchObject({ name: 'fast', state: 'active', runsPerSecond: 50, failedPerSecond: 0, acked: 150 });
    expect(fast.runs).toEqual({ ok: 150 });
    // 0.2 ms runs fall in the (0.1, 0.5] ms bucket: the 400 ms runs before the window are not in the estimate.
    expect(fast.latencyMs!.p99).toBeGreaterThan(0.1);
    expect(fast.latencyMs!.p99).toBeLessThanOrEqual(0.5);
    expect(second.agents[1]).toMatchObject({ name: 'slow', state: 'idle', runsPerSecond: 0, latencyMs: null });
    expect(second.host).toMatchObject({ workers: 2, workerRestarts: 0 });
    expect(second.residency).toBeNull();
  });

  it('starts the rates over when the last sample is older than the window (nobody was watching)', async () => {
    const m = metrics();
    const swarm = new FakeSwarm(m, ['a']);
    const c = clock();
    const state = new DashboardState(
      { metrics: m, stats: () => swarm.stats, workers: 1 },
      { windowMs: 5000, now: c.now },
    );
    await state.sample();
    swarm.run('a', 'ok', 1, 600);
    c.advance(60_000);
    // A rate over the whole minute would read 10/s; the window holds no earlier sample, so there is no rate yet.
    const late = await state.sample();
    expect(late.windowSeconds).toBe(0);
    expect(late.agents[0]!.runsPerSecond).toBe(0);
    c.advance(1000);
    swarm.run('a', 'ok', 1, 7);
    expect((await state.sample()).agents[0]!.runsPerSecond).toBe(7);
  });

  it('keeps the base of its rates when a script polls faster than samples are kept', async () => {
    const m = metrics();
    const swarm = new FakeSwarm(m, ['a']);
    const c = clock();
    const state = new DashboardState({ metrics: m, stats: () => swarm.stats, workers: 1 }, { now: c.now });
    await state.sample();
    let last: DashboardSnapshot | undefined;
    for (let i = 0; i < 40; i++) {
      c.advance(25);
      swarm.run('a', 'ok', 1);
      last = await state.sample();
    }
    expect(last?.windowSeconds).toBe(1);
    expect(last?.agents[0]!.runsPerSecond).toBe(40);
  });

  it('marks an agent failing when half its runs in the window failed, and quarantined while escalation holds it', async () => {
    const m = metrics();
    const swarm = new FakeSwarm(m, ['a', 'b']);
    const c = clock();
    const state = new DashboardState(
      { metrics: m, stats: () => swarm.stats, quarantined: () => swarm.quarantines, workers: 1 },
      { now: c.now },
    );
    await state.sample();
    c.advance(1000);
    swarm.run('a', 'ok', 1, 2);
    swarm.run('a', 'trap', 1, 2);
    swarm.run('b', 'ok', 1, 3);
    swarm.run('b', 'trap', 1, 1);
    let s = await state.sample();
    expect(s.agents.map((a) => [a.name, a.state, a.failedPerSecond])).toEqual([
      ['a', 'failing', 2],
      ['b', 'active', 1],
    ]);
    const q = { agent: 'b', failures: 5, window: 60_000, until: c.now() + 30_000 };
    swarm.quarantines = [q];
    c.advance(1000);
    s = await state.sample();
    expect(s.agents[1]).toMatchObject({ name: 'b', state: 'quarantined', quarantinedUntil: q.until });
    expect(s.quarantines).toEqual([q]);
  });

  it('reads messages in flight from the stats, and queue lag as the metrics ask the dispatcher for it', async () => {
    const m = metrics();
    const swarm = new FakeSwarm(m, ['a', 'b']);
    swarm.stats[0]!.inFlight = 4;
    m.attach({
      stats: () => swarm.stats,
      lags: () => [
        { agent: 'a', pattern: 'in.x', lag: () => Promise.resolve(3) },
        { agent: 'a', pattern: 'in.y', lag: () => Promise.resolve(0) },
      ],
      workerRestarts: () => 0,
      workers: 1,
    });
    const state = new DashboardState({ metrics: m, stats: () => swarm.stats, workers: 1 });
    const s = await state.sample();
    expect(s.agents[0]).toMatchObject({
      inFlight: 4,
      lag: [
        { pattern: 'in.x', messages: 3 },
        { pattern: 'in.y', messages: 0 },
      ],
    });
    expect(s.agents[1]).toMatchObject({ inFlight: 0, lag: [] });
  });

  it('keeps the newest dead letters with their reason, agent, topic and a payload preview', async () => {
    const m = metrics();
    const state = new DashboardState(
      { metrics: m, stats: () => [], workers: 1, agentOfGroup: (g) => (g === 'poison-g' ? 'poison' : undefined) },
      { deadLetters: 2 },
    );
    const h = (reason: string, group?: string) => ({
      [DEAD_LETTER_HEADERS.reason]: reason,
      [DEAD_LETTER_HEADERS.topic]: 'in.x',
      [DEAD_LETTER_HEADERS.deliveryCount]: '3',
      ...(group !== undefined ? { [DEAD_LETTER_HEADERS.group]: group } : {}),
    });
    state.addDeadLetter(deadLetter(h('poison: trap: unreachable', 'poison-g'), encode({ id: 1 }), 'k1'));
    state.addDeadLetter(deadLetter(h('other: payload is not MessagePack', 'unknown-g'), new Uint8Array([0xc1, 1])));
    state.addDeadLetter(deadLetter(h('poison: trap: unreachable', 'poison-g'), encode({ text: 'x'.repeat(500) })));
    let { deadLetters } = await state.sample();
    expect(deadLetters.total).toBe(3);
    expect(deadLetters.recent).toHaveLength(2);
    const [newest, older] = deadLetters.recent;
    expect(newest).toMatchObject({ agent: 'poison', topic: 'in.x', deliveryCount: 3, key: null });
    expect(newest!.payload).toHaveLength(201);
    expect(newest!.payload.endsWith('…')).toBe(true);
    // A group the topology does not know is shown as it is.
    expect(older).toMatchObject({ agent: 'unknown-g', reason: 'other: payload is not MessagePack' });
    expect(older!.payload).toBe('(2 bytes, not MessagePack)');
    // A 64-bit integer that decodes as a BigInt has no JSON form: its digits are shown.
    state.addDeadLetter(deadLetter(h('a: trap'), encode({ n: 2n ** 63n + 1n })));
    ({ deadLetters } = await state.sample());
    expect(deadLetters.recent[0]!.payload).toBe('{"n":"9223372036854775809"}');
  });
});
