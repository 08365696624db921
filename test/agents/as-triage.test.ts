// The AssemblyScript agent `triage`: severity rules, alert events, burst detection with bounded state, invalid input.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Agent, RunResult } from '../../runtime/index.ts';
import { MATRIX, sandboxPerBlock } from '../support/engines.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const triageWasm = resolve(repoRoot, 'agents', 'build', 'triage.wasm');

const BURST_COUNT = 5;
const BURST_WINDOW_MS = 60_000;
const MAX_SERVICES = 1024;

interface LogRecord {
  ts: number;
  level: string;
  service: string;
  msg: string;
}

describe.each(MATRIX)('assemblyscript agent: triage ($engine, $isolation)', ({ engine, isolation }) => {
  const sandbox = sandboxPerBlock(engine, { isolation });

  async function fresh(): Promise<Agent> {
    return sandbox().load(triageWasm, { limits: { timeoutMs: 20_000 } });
  }

  async function triage(agent: Agent, record: LogRecord): Promise<RunResult> {
    const r = await agent.run(record);
    expect(r.status, r.message).toBe('ok');
    return r;
  }

  it.each([
    ['info', 'user logged in', 'low', 'level info'],
    ['debug', 'cache hit', 'low', 'level debug'],
    ['warn', 'slow response', 'medium', 'level warn'],
    ['WARNING', 'disk 85% full', 'medium', 'level warning'],
    ['error', 'request failed', 'high', 'level error'],
    ['ERR', 'request failed', 'high', 'level err'],
    ['fatal', 'shutting down', 'critical', 'level fatal'],
    ['Critical', 'cluster lost', 'critical', 'level critical'],
    ['error', 'worker OOM-killed', 'critical', 'error matching "oom"'],
    ['error', 'goroutine panic: nil map', 'critical', 'error matching "panic"'],
    ['info', 'upstream Timeout after 30s', 'high', 'message matching "timeout"'],
    ['warn', 'connection refused by db:5432', 'high', 'message matching "refused"'],
    ['debug', 'request timed out', 'high', 'message matching "timed out"'],
    ['info', 'meeting room booked', 'low', 'level info'], // "oom" inside a word does not count
  ])('rates level %s with msg "%s" as %s', async (level, msg, severity, reason) => {
    const agent = await fresh();
    const r = await triage(agent, { ts: 1_700_000_000_000, level, service: 'api', msg });
    expect(r.output).toEqual({ severity });
    if (severity === 'high' || severity === 'critical') {
      expect(r.events).toEqual([
        { topic: 'alerts.api', payload: { service: 'api', severity, ts: 1_700_000_000_000, msg, reason } },
      ]);
    } else {
      expect(r.events).toEqual([]);
    }
  });

  it('makes the service a valid topic token, keeping the original name in the payload', async () => {
    const agent = await fresh();
    const r = await triage(agent, { ts: 5, level: 'error', service: 'db/main.eu w1', msg: 'x' });
    expect(r.events).toHaveLength(1);
    expect(r.events[0]!.topic).toBe('alerts.db_main_eu_w1');
    expect(r.events[0]!.payload).toMatchObject({ service: 'db/main.eu w1' });
  });

  it('keeps a fractional timestamp exact', async () => {
    const agent = await fresh();
    const r = await triage(agent, { ts: 1_700_000_000_000.5, level: 'error', service: 'api', msg: 'x' });
    expect(r.events[0]!.payload).toMatchObject({ ts: 1_700_000_000_000.5 });
  });

  it(`raises one burst alert when a service logs ${BURST_COUNT} errors within ${BURST_WINDOW_MS} ms`, async () => {
    const agent = await fresh();
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < BURST_COUNT - 1; i++) {
      const r = await triage(agent, { ts: t0 + i * 1000, level: 'error', service: 'pay', msg: `e${i}` });
      expect(r.events).toHaveLength(1);
    }
    // Another service's errors do not count towards pay's burst.
    expect((await triage(agent, { ts: t0 + 4500, level: 'error', service: 'auth', msg: 'a' })).events).toHaveLength(1);
    const r = await triage(agent, { ts: t0 + 5000, level: 'error', service: 'pay', msg: 'e4' });
    expect(r.events).toEqual([
      {
        topic: 'alerts.pay',
        payload: { service: 'pay', severity: 'high', ts: t0 + 5000, msg: 'e4', reason: 'level error' },
      },
      {
        topic: 'alerts.pay',
        payload: {
          service: 'pay',
          severity: 'critical',
          ts: t0 + 5000,
          msg: 'e4',
          reason: `burst: ${BURST_COUNT} errors within ${BURST_WINDOW_MS} ms`,
          count: BURST_COUNT,
        },
      },
    ]);
    // The burst was reported; the next error starts a new count.
    expect((await triage(agent, { ts: t0 + 6000, level: 'error', service: 'pay', msg: 'e5' })).events).toHaveLength(1);
  });

  it('raises no burst alert when the errors are spread wider than the window', async () => {
    const agent = await fresh();
    for (let i = 0; i < 3 * BURST_COUNT; i++) {
      const r = await triage(agent, { ts: i * (BURST_WINDOW_MS / 2), level: 'error', service: 'slow', msg: 'x' });
      expect(r.events).toHaveLength(1);
    }
  });

  it('does not count warnings towards a burst', async () => {
    const agent = await fresh();
    for (let i = 0; i < 2 * BURST_COUNT; i++) {
      const r = await triage(agent, { ts: i, level: 'warn', service: 'noisy', msg: 'hmm' });
      expect(r.events).toEqual([]);
    }
  });

  it(`remembers at most ${MAX_SERVICES} services, forgetting the least recently seen`, async () => {
    const agent = await fresh();
    for (let i = 0; i < BURST_COUNT - 1; i++)
      await triage(agent, { ts: i, level: 'error', service: 'victim', msg: 'x' });
    let peak = 0;
    for (let i = 0; i < MAX_SERVICES + 200; i++) {
      const r = await triage(agent, { ts: 1000 + i, level: 'error', service: `svc-${i}`, msg: 'x' });
      peak = Math.max(peak, r.memoryPeakBytes);
    }
    // Had victim's four errors been kept, this fifth one (within the window) would raise a burst alert.
    const r = await triage(agent, { ts: 3000, level: 'error', service: 'victim', msg: 'x' });
    expect(r.events).toHaveLength(1);
    expect(peak).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it.each([
    [
      'ts missing',
      { level: 'error', service: 'a', msg: 'x' },
      2,
      'triage: field `ts` must be a number (milliseconds since the epoch)',
    ],
    [
      'ts a string',
      { ts: '2024-01-01', level: 'error', service: 'a', msg: 'x' },
      2,
      'triage: field `ts` must be a number (milliseconds since the epoch)',
    ],
    ['level not a string', { ts: 1, level: 3, service: 'a', msg: 'x' }, 2, 'triage: field `level` must be a string'],
    ['service missing', { ts: 1, level: 'error', msg: 'x' }, 2, 'triage: field `service` must be a string'],
    ['msg nil', { ts: 1, level: 'error', service: 'a', msg: null }, 2, 'triage: field `msg` must be a string'],
    [
      'service empty',
      { ts: 1, level: 'error', service: '', msg: 'x' },
      2,
      'triage: field `service` must be 1 to 128 bytes',
    ],
    [
      'service too long',
      { ts: 1, level: 'error', service: 's'.repeat(129), msg: 'x' },
      2,
      'triage: field `service` must be 1 to 128 bytes',
    ],
    ['not a map', ['error'], 1, 'triage: input must be a log record {ts, level, service, msg}'],
  ])('refuses input with %s: status error, code and message, no events', async (_what, input, code, message) => {
    const agent = await fresh();
    const r = await agent.run(input);
    expect(r.status).toBe('error');
    expect(r.errorCode).toBe(code);
    expect(r.message).toBe(message);
    expect(r.events).toEqual([]);
    expect(r.output).toBeNull();
  });
});
