// SwarmMetrics: what a scrape shows after runs (recorded, or from the run channel), lag and in-flight from its source, and /metrics over HTTP.
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../../runtime/agent/types.ts';
import { serveMetrics, SwarmMetrics } from '../../runtime/ops/metrics.ts';
import { parsePrometheusText, sumSamples } from '../../runtime/ops/prom-text.ts';
import { createQueue } from '../../runtime/queue/index.ts';
import type { QueueMessage } from '../../runtime/queue/types.ts';
import type { AgentLag, Dispatcher } from '../../runtime/swarm/dispatcher.ts';
import { runChannel, type RunChannelMessage } from '../../runtime/channels.ts';

const result = (status: RunResult['status'], fuelUsed: number | null, durationMs: number): RunResult => ({
  status,
  output: null,
  events: [],
  logs: [],
  logsDropped: 0,
  fuelUsed,
  memoryPeakBytes: 65536,
  durationMs,
  engine: 'wasm',
});

describe('SwarmMetrics', () => {
  it('exposes runs by agent and status, fuel and duration histograms, dispatcher counters and workers', async () => {
    const m = new SwarmMetrics({ processMetrics: false });
    m.attach({
      stats: () => [
        {
          name: 'triage',
          runs: { ok: 2 },
          acked: 2,
          retried: 1,
          deadLettered: 3,
          eventsPublished: 4,
          throttled: 5,
          throttledMs: 1500,
          shed: 6,
          inboxPeak: 9,
          inbox: 64,
          parked: 0,
          quarantines: 1,
          inFlight: 3,
        },
      ],
      workerRestarts: () => 7,
      workers: 2,
    });
    m.recordRun('triage', result('ok', 1000, 2));
    m.recordRun('triage', result('ok', 3000, 4));
    m.recordRun('triage', result('trap', null, 1));
    const s = parsePrometheusText(await m.metrics());
    m.close();
    expect(sumSamples(s, 'sandbox_runs_total', { agent: 'triage', status: 'ok' })).toBe(2);
    expect(sumSamples(s, 'sandbox_runs_total', { status: 'trap' })).toBe(1);
    expect(sumSamples(s, 'sandbox_run_fuel_count')).toBe(2);
    expect(sumSamples(s, 'sandbox_run_fuel_sum')).toBe(4000);
    expect(sumSamples(s, 'sandbox_run_duration_seconds_sum')).toBeCloseTo(0.007);
    expect(sumSamples(s, 'sandbox_acked_total', { agent: 'triage' })).toBe(2);
    expect(sumSamples(s, 'sandbox_dead_lettered_total')).toBe(3);
    expect(sumSamples(s, 'sandbox_worker_restarts_total')).toBe(7);
    expect(sumSamples(s, 'sandbox_admission_shed_total', { agent: 'triage' })).toBe(6);
    expect(sumSamples(s, 'sandbox_admission_throttled_seconds_total')).toBe(1.5);
    expect(sumSamples(s, 'sandbox_inbox_peak')).toBe(9);
    expect(sumSamples(s, 'sandbox_quarantines_total')).toBe(1);
    expect(sumSamples(s, 'sandbox_workers')).toBe(2);
    expect(sumSamples(s, 'sandbox_in_flight', { agent: 'triage' })).toBe(3);
    expect(sumSamples(s, 'sandbox_event_loop_delay_p99_seconds')).not.toBeNull();
    expect(sumSamples(s, 'sandbox_event_loop_utilization')).not.toBeNull();
    expect(sumSamples(s, 'process_cpu_seconds_total')).toBeNull();
  });

  it('measures event-loop delay over its window', async () => {
    const m = new SwarmMetrics({ processMetrics: false, windowMs: 1000 });
    try {
      // The monitor's first tick only sets its reference time, so block after it has ticked.
      await new Promise((r) => setTimeout(r, 50));
      const end = Date.now() + 150;
      while (Date.now() < end); // block the loop for 150 ms, inside the first window
      await new Promise((r) => setTimeout(r, 1050));
      const s = parsePrometheusText(await m.metrics());
      expect(sumSamples(s, 'sandbox_event_loop_delay_max_seconds')!).toBeGreaterThan(0.12);
      expect(sumSamples(s, 'sandbox_event_loop_utilization')!).toBeGreaterThan(0.1);
    } finally {
      m.close();
    }
  });

  it('counts runs published on the sandbox:swarm:run channel (its dispatcher only), and serves /metrics over HTTP', async () => {
    const m = new SwarmMetrics();
    const mine = {} as Dispatcher;
    const other = {} as Dispatcher;
    m.attach({ dispatcher: mine, stats: () => [], workerRestarts: () => 0, workers: 1 });
    const run = (dispatcher: Dispatcher, agent: string, status: RunResult['status']) =>
      runChannel.publish({
        dispatcher,
        agent,
        message: {} as QueueMessage,
        result: result(status, 10, 1),
        receivedAt: 0,
        waitMs: 0.5,
      } satisfies RunChannelMessage);
    run(mine, 'a', 'ok');
    run(mine, 'a', 'trap');
    run(other, 'a', 'ok');
    const server = await serveMetrics(m, 0);
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      const s = parsePrometheusText(await res.text());
      expect(sumSamples(s, 'sandbox_runs_total', { agent: 'a', status: 'ok' })).toBe(1);
      expect(sumSamples(s, 'sandbox_runs_total', { agent: 'a', status: 'trap' })).toBe(1);
      expect(sumSamples(s, 'sandbox_inbox_wait_seconds_count', { agent: 'a' })).toBe(2);
      expect(sumSamples(s, 'process_cpu_seconds_total')).toBeGreaterThan(0);
      expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
    } finally {
      await server.close();
      m.close();
    }
    // Closed metrics no longer listen.
    expect(runChannel.hasSubscribers).toBe(false);
  });

  it('observes inbox wait per agent as a histogram (seconds)', async () => {
    const m = new SwarmMetrics({ processMetrics: false });
    m.recordRun('a', result('ok', null, 1), 0.2); // 200 µs
    m.recordRun('a', result('ok', null, 1), 30); // 30 ms
    m.recordRun('b', result('ok', null, 1), 2500); // 2.5 s
    m.recordRun('b', result('ok', null, 1)); // no timing: not observed
    const s = parsePrometheusText(await m.metrics());
    m.close();
    expect(sumSamples(s, 'sandbox_inbox_wait_seconds_count', { agent: 'a' })).toBe(2);
    expect(sumSamples(s, 'sandbox_inbox_wait_seconds_sum', { agent: 'a' })).toBeCloseTo(0.0302);
    expect(sumSamples(s, 'sandbox_inbox_wait_seconds_bucket', { agent: 'a', le: '0.0005' })).toBe(1);
    expect(sumSamples(s, 'sandbox_inbox_wait_seconds_bucket', { agent: 'a', le: '0.05' })).toBe(2);
    expect(sumSamples(s, 'sandbox_inbox_wait_seconds_bucket', { agent: 'b', le: '1' })).toBe(0);
    expect(sumSamples(s, 'sandbox_inbox_wait_seconds_bucket', { agent: 'b', le: '5' })).toBe(1);
    expect(sumSamples(s, 'sandbox_inbox_wait_seconds_bucket', { agent: 'b', le: '+Inf' })).toBe(1);
    expect(sumSamples(s, 'sandbox_runs_total', { agent: 'b', status: 'ok' })).toBe(2);
    // The run histograms kept their layout: cumulative buckets, +Inf equal to the count.
    expect(sumSamples(s, 'sandbox_run_duration_seconds_bucket', { agent: 'a', le: '+Inf' })).toBe(2);
    expect(sumSamples(s, 'sandbox_run_duration_seconds_bucket', { agent: 'a', le: '0.0005' })).toBe(0);
    expect(sumSamples(s, 'sandbox_run_duration_seconds_bucket', { agent: 'a', le: '0.001' })).toBe(2);
  });

  it('reports queue lag per subscription from the memory queue: waiting plus unsettled, down to 0 when drained', async () => {
    const m = new SwarmMetrics({ processMetrics: false });
    const queue = await createQueue('memory');
    const lags: AgentLag[] = [];
    m.attach({ stats: () => [], workerRestarts: () => 0, workers: 1, lags: () => lags });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let handled = 0;
    const sub = await queue.subscribe(
      'lag.>',
      async () => {
        await gate;
        handled++;
      },
      { group: 'g', concurrency: 2 },
    );
    lags.push({ agent: 'agent-g', pattern: 'lag.>', lag: () => sub.lag!() });
    for (let i = 0; i < 10; i++) await queue.publish({ topic: 'lag.x', payload: new Uint8Array([i]) });
    await new Promise((r) => setTimeout(r, 20));
    const lag = () =>
      m
        .metrics()
        .then((t) => sumSamples(parsePrometheusText(t), 'sandbox_queue_lag', { agent: 'agent-g', pattern: 'lag.>' }));
    try {
      expect(await lag()).toBe(10); // 2 in handlers, 8 waiting
      expect(await sub.lag!()).toBe(10);
      release();
      while (handled < 10) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 10));
      expect(await lag()).toBe(0);
      await sub.close();
      lags.length = 0;
      // A subscription the source no longer lists leaves the metric.
      expect(await lag()).toBeNull();
    } finally {
      release();
      await queue.close();
      m.close();
    }
  });

  it('leaves out the lag of a subscription whose backend cannot answer in time', async () => {
    const m = new SwarmMetrics({ processMetrics: false });
    m.attach({
      stats: () => [],
      workerRestarts: () => 0,
      workers: 1,
      lags: () => [{ agent: 'x', pattern: 'a.>', lag: () => Promise.reject(new Error('broker unreachable')) }],
    });
    try {
      const s = parsePrometheusText(await m.metrics());
      expect(sumSamples(s, 'sandbox_queue_lag')).toBeNull();
      expect(sumSamples(s, 'sandbox_workers')).not.toBeNull();
    } finally {
      m.close();
    }
  });

  it('exposes hibernation: resident and hibernated agents, wakes, hibernations, checkpoints and store errors', async () => {
    const m = new SwarmMetrics({ processMetrics: false });
    m.attach({
      stats: () => [],
      workerRestarts: () => 0,
      workers: 2,
      residency: () => ({
        resident: 8192,
        hibernated: 991_808,
        wakes: 12,
        hibernations: 34,
        checkpoints: 56,
        storeErrors: 1,
        writeMs: 3,
        undone: 2,
      }),
    });
    const s = parsePrometheusText(await m.metrics());
    m.close();
    expect(sumSamples(s, 'sandbox_agents_resident')).toBe(8192);
    expect(sumSamples(s, 'sandbox_agents_hibernated')).toBe(991_808);
    expect(sumSamples(s, 'sandbox_agent_wakes_total')).toBe(12);
    expect(sumSamples(s, 'sandbox_agent_hibernations_total')).toBe(34);
    expect(sumSamples(s, 'sandbox_agent_checkpoints_total')).toBe(56);
    expect(sumSamples(s, 'sandbox_hibernation_store_errors_total')).toBe(1);
    expect(sumSamples(s, 'sandbox_agent_runs_undone_total')).toBe(2);
  });
});
