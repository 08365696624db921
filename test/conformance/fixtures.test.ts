// Runs every hostile and edge-case fixture through Sandbox.run and checks the status it must get, then that the host is still healthy.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  Sandbox,
  SandboxError,
  type Agent,
  type EngineName,
  type Limits,
  type RunResult,
  type RunStatus,
} from '../../runtime/index.ts';
import { encode } from '../../runtime/codec.ts';
import { MATRIX } from '../support/engines.ts';
import { fixturePath, repoRoot, requireBuilt } from '../support/paths.ts';

interface Row {
  fixture: string;
  /** What this row adds, when a fixture has several rows. */
  label?: string;
  limits?: Partial<Limits>;
  input?: unknown;
  /** The status, or the statuses a design may choose between (all of them deterministic). */
  status: RunStatus | readonly RunStatus[];
  message?: RegExp;
  errorCode?: number;
  /** Wall-clock bound on the whole run as the caller sees it, in ms. */
  within?: number;
  check?: (r: RunResult) => void;
}

// Small fuel limits keep out-of-fuel rows fast; a 5 s timeout makes sure the meter, not the clock, stopped them
// (their status says which did, so they carry no wall-clock bound of their own: on a loaded 2-core machine the
// emulator's 10M fuel has taken over a second). Timeout rows bound the whole run at 2.5 s for a 100 ms clock.
const SMALL_FUEL = { fuel: 10_000_000, timeoutMs: 5_000 } as const;
const UNMETERED_100MS = { fuel: 0, timeoutMs: 100 } as const;
const MIB = 1024 * 1024;

const rows: Row[] = [
  // Runaway work: the meter and the clock.
  // With default limits the deterministic meter must stop runaway work before the wall clock, which is only the
  // backstop. These rows come first so the module is compiled fresh (baseline tier, no tier-up yet), as a
  // newly loaded agent would be; later rows reuse the worker's compiled-module cache.
  // The default fuel (1e8) takes ~0.1 s on V8 and ~1 s on the emulator (several times that on a loaded 2-core machine,
  // in a fresh worker compiling cold); a 20 s clock shows which one stops it without racing the machine's load.
  {
    fixture: 'loop-forever',
    label: 'default fuel: fuel before the clock',
    limits: { timeoutMs: 20_000 },
    status: 'out-of-fuel',
  },
  {
    fixture: 'exponential-calls',
    label: 'default fuel: fuel before the clock',
    limits: { timeoutMs: 20_000 },
    status: 'out-of-fuel',
  },
  {
    fixture: 'loop-forever',
    label: 'unmetered, 100 ms timeout',
    limits: UNMETERED_100MS,
    status: 'timeout',
    within: 2_500,
  },
  { fixture: 'loop-forever', label: 'metered', limits: SMALL_FUEL, status: 'out-of-fuel' },
  {
    fixture: 'host-call-loop-forever',
    label: 'metered',
    limits: { fuel: 100_000, timeoutMs: 5_000 },
    status: 'out-of-fuel',
  },
  { fixture: 'host-call-loop-forever', label: 'unmetered', limits: UNMETERED_100MS, status: 'timeout', within: 2_500 },
  // Inline there is no watchdog: the deadline checked at the host call must stop it long before the fuel would.
  {
    fixture: 'host-call-loop-forever',
    label: 'huge fuel, 100 ms clock',
    limits: { fuel: Number.MAX_SAFE_INTEGER, timeoutMs: 100 },
    status: 'timeout',
    within: 2_500,
  },
  { fixture: 'start-loops-forever', label: 'metered', limits: SMALL_FUEL, status: 'out-of-fuel' },
  { fixture: 'start-loops-forever', label: 'unmetered', limits: UNMETERED_100MS, status: 'timeout', within: 2_500 },
  { fixture: 'exponential-calls', label: 'metered', limits: SMALL_FUEL, status: 'out-of-fuel' },
  { fixture: 'exponential-calls', label: 'unmetered', limits: UNMETERED_100MS, status: 'timeout', within: 2_500 },
  { fixture: 'recurse-forever', label: 'depth limit', status: 'stack-overflow' },
  { fixture: 'recurse-forever', label: 'depth limit, unmetered', limits: { fuel: 0 }, status: 'stack-overflow' },
  {
    fixture: 'recurse-forever',
    label: "the engine's own stack exhaustion",
    limits: { fuel: 0, stackDepth: 0 },
    status: 'stack-overflow',
  },
  { fixture: 'recurse-fat-frames', label: 'engine stack runs out before the depth limit', status: 'stack-overflow' },
  { fixture: 'recurse-bounded', label: '1000 frames under the default limit', status: 'ok' },
  { fixture: 'recurse-bounded', label: 'stackDepth 500', limits: { stackDepth: 500 }, status: 'stack-overflow' },
  // Memory.
  { fixture: 'grow-memory-forever', label: '1 MiB limit', limits: { memoryBytes: MIB }, status: 'out-of-memory' },
  // The emulator copies its memory on every grow: page by page up to 16 MiB takes it about a second (several on the
  // loaded shared machine: the clock is there only as a backstop).
  { fixture: 'grow-memory-forever', label: 'default limit', limits: { timeoutMs: 20_000 }, status: 'out-of-memory' },
  {
    fixture: 'grow-memory-forever',
    label: 'unmetered',
    limits: { memoryBytes: MIB, fuel: 0 },
    status: 'out-of-memory',
  },
  {
    fixture: 'grow-loop',
    label: 'metered',
    limits: { ...SMALL_FUEL, memoryBytes: MIB },
    status: 'out-of-fuel',
  },
  {
    fixture: 'grow-loop',
    label: 'unmetered',
    limits: { ...UNMETERED_100MS, memoryBytes: MIB },
    status: 'timeout',
    within: 2_500,
  },
  {
    fixture: 'huge-memory-fill',
    label: 'small fuel',
    limits: { fuel: 100_000, timeoutMs: 5_000 },
    status: 'out-of-fuel',
  },
  { fixture: 'huge-memory-fill', label: 'default fuel', status: 'ok' },
  {
    fixture: 'huge-memory-copy',
    label: 'small fuel',
    limits: { fuel: 1_000_000, timeoutMs: 5_000 },
    status: 'out-of-fuel',
  },
  { fixture: 'huge-memory-copy', label: 'default fuel', status: 'ok' },
  { fixture: 'slow-memory-copy', label: 'a 50 ms clock', limits: { fuel: 1e9, timeoutMs: 50 }, status: 'timeout' },
  // limits.tableElements caps the table in the binary: the huge table.grow fails at once (returns -1) and the
  // handler returns 0, instead of spending seconds growing a table on the engine's heap.
  { fixture: 'table-grow-huge', label: 'small fuel', limits: { fuel: 5_000_000, timeoutMs: 5_000 }, status: 'ok' },
  { fixture: 'table-grow-huge', label: 'default limits: bounded by the table cap, not by the clock', status: 'ok' },
  { fixture: 'memory-min-too-large', status: 'invalid-module', message: /memory/i },
  // Traps and failures the guest reports.
  { fixture: 'trap-unreachable', status: 'trap', message: /unreachable/i },
  { fixture: 'divide-by-zero', status: 'trap', message: /divi(de|sion) by zero/i },
  { fixture: 'trap-oob-load', status: 'trap', message: /out of bounds/i },
  { fixture: 'handler-error', status: 'error', errorCode: 7 },
  { fixture: 'error-log-then-fail', status: 'error', errorCode: 3, message: /disk on fire/ },
  { fixture: 'abort-call', status: 'error', message: /boom!/ },
  // Host-import misuse and outbound limits.
  { fixture: 'huge-output', status: 'limit-exceeded', message: /output/i },
  { fixture: 'emit-flood', status: 'limit-exceeded', message: /emit|event/i },
  { fixture: 'bad-pointer-emit', status: 'abi-violation', message: /emit/ },
  { fixture: 'bad-pointer-output', status: 'abi-violation', message: /output/ },
  { fixture: 'invalid-topic-emit', status: 'abi-violation', message: /emit|topic/i },
  { fixture: 'long-topic-emit', status: 'abi-violation', message: /250 bytes; the limit is 249/ },
  { fixture: 'invalid-msgpack-output', status: 'invalid-output' },
  { fixture: 'truncated-msgpack-output', status: 'invalid-output' },
  { fixture: 'alloc-out-of-bounds', status: 'abi-violation', message: /alloc/ },
  {
    fixture: 'log-flood',
    status: 'ok',
    check: (r) => {
      expect(r.logs).toHaveLength(DEFAULT_LIMITS.maxLogs);
      expect(r.logsDropped).toBe(1000 - DEFAULT_LIMITS.maxLogs);
      expect(r.logs[0]).toEqual({ level: 'info', message: 'flood line' });
      expect(r.output).toEqual({ ok: true, n: 42 });
    },
  },
  {
    // Defect 2 of issue 12: 100 lines of 16 MiB each were all kept (1.6 G characters, 8 GB host RSS).
    fixture: 'log-huge',
    status: 'ok',
    within: 5_000,
    check: (r) => {
      expect(r.logs).toEqual([]);
      expect(r.logsDropped).toBe(100);
      expect(r.output).toEqual({ ok: true, n: 42 });
    },
  },
  {
    fixture: 'log-huge',
    label: 'lines under logMessageBytes but past logBytes',
    limits: { logMessageBytes: 16 * MIB, logBytes: 40 * MIB },
    status: 'ok',
    check: (r) => {
      expect(r.logs).toHaveLength(2);
      expect(r.logsDropped).toBe(98);
    },
  },
  {
    fixture: 'emit-input-repeatedly',
    input: { text: 'a'.repeat(100_000) },
    status: 'limit-exceeded',
    message: /event/,
  },
  {
    fixture: 'log-large-lines',
    status: 'ok',
    check: (r) => {
      expect(r.logs).toHaveLength(17);
      expect(r.logs[0]!.message).toBe('a'.repeat(60_000));
      expect(r.logsDropped).toBe(9983);
    },
  },
  { fixture: 'graph-call', label: 'no graph service', input: { method: 'ping' }, status: 'error', errorCode: -4 },
  // Modules that must be refused.
  { fixture: 'garbage', status: 'invalid-module' },
  { fixture: 'wrong-version', status: 'invalid-module' },
  { fixture: 'truncated', status: 'invalid-module' },
  { fixture: 'missing-export', status: 'invalid-module', message: /sandbox_handle/ },
  { fixture: 'unknown-import', status: 'invalid-module', message: /nonexistent/ },
  { fixture: 'abi-version-2', status: 'invalid-module', message: /version/i },
  { fixture: 'imported-memory', status: 'invalid-module', message: /memory/i },
  { fixture: 'uses-atomics', status: 'invalid-module', message: /thread|atomic|shared/i },
  { fixture: 'reach-appended-global', label: 'metered', status: 'invalid-module' },
  { fixture: 'reach-appended-global', label: 'unmetered', limits: { fuel: 0 }, status: 'invalid-module' },
  // Well-behaved guests.
  {
    fixture: 'output-ok',
    status: 'ok',
    check: (r) => {
      expect(r.output).toEqual({ ok: true, n: 42 });
      expect(r.events).toEqual([]);
      expect(r.fuelUsed).toBeGreaterThan(0);
    },
  },
  {
    fixture: 'echo-input',
    input: { hello: 'world', n: [1, 2, 3] },
    status: 'ok',
    check: (r) => expect(r.output).toEqual({ hello: 'world', n: [1, 2, 3] }),
  },
  {
    fixture: 'echo-input',
    label: 'input over inputBytes',
    limits: { inputBytes: 64 },
    input: { text: 'a'.repeat(100) },
    status: 'invalid-input',
  },
  {
    fixture: 'echo-input',
    label: 'input over the default 1 MiB',
    input: { text: 'a'.repeat(2 * MIB) },
    status: 'invalid-input',
  },
  {
    fixture: 'emit-ok',
    status: 'ok',
    check: (r) =>
      expect(r.events).toEqual([
        { topic: 'alerts.db', payload: { n: 1 } },
        { topic: 'alerts.web', payload: 'hi' },
      ]),
  },
  {
    fixture: 'emit-input',
    input: { a: [1, 'x'] },
    status: 'ok',
    check: (r) => {
      expect(r.events).toEqual([{ topic: 'alerts.input', payload: { a: [1, 'x'] } }]);
      expect([...r.events[0]!.bytes]).toEqual([...encode({ a: [1, 'x'] })]);
    },
  },
  {
    fixture: 'random-now',
    status: 'ok',
    check: (r) => {
      expect(Array.isArray(r.output)).toBe(true);
      const [bytes, now] = r.output as [unknown, unknown];
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect((bytes as Uint8Array).length).toBe(16);
      // 16 random bytes all zero would mean random() wrote nothing.
      expect((bytes as Uint8Array).some((b) => b !== 0)).toBe(true);
      expect(Math.abs(Number(now) - Date.now())).toBeLessThan(60_000);
    },
  },
];

const statuses = (r: Row): readonly RunStatus[] => (typeof r.status === 'string' ? [r.status] : r.status);
const rowName = (r: Row) => `${r.fixture}${r.label ? ` (${r.label})` : ''} → ${statuses(r).join(' | ')}`;

it('has a row and a README entry for every fixture source', () => {
  const sources = readdirSync(join(repoRoot, 'fixtures'))
    .filter((f) => f.endsWith('.wat') || f.endsWith('.bin.mjs'))
    .map((f) => f.replace(/\.wat$|\.bin\.mjs$/, ''));
  const readme = readFileSync(join(repoRoot, 'fixtures', 'README.md'), 'utf8');
  const tested = new Set(rows.map((r) => r.fixture));
  expect(sources.filter((s) => !tested.has(s))).toEqual([]);
  expect(sources.filter((s) => !readme.includes(`\`${s}\``))).toEqual([]);
});

const ENGINES: readonly EngineName[] = ['wasm', 'emulator'];

// One suite, every engine in every isolation: the emulator must give the same statuses as V8, inline the same as a worker.
describe.each(MATRIX)('hostile and edge-case fixtures on the $engine engine, $isolation', ({ engine, isolation }) => {
  let sandbox: Sandbox;
  // Loaded before any hostile run, used after all of them: a failing agent must not disturb a healthy one.
  let healthy: Agent;

  beforeAll(async () => {
    for (const name of new Set(rows.map((r) => r.fixture))) requireBuilt(fixturePath(name));
    // Rows without a clock of their own test deterministic limits: a 10 s backstop (not the default 1 s) keeps the
    // emulator on a loaded machine from turning them into timeouts. Rows about the clock set theirs.
    sandbox = new Sandbox({ workers: 2, engine, isolation, limits: { timeoutMs: 10_000 } });
    healthy = await sandbox.load(fixturePath('output-ok'));
    expect((await healthy.run(null)).status).toBe('ok');
  });

  afterAll(async () => {
    await sandbox?.close();
  });

  it.each(rows.map((r) => [rowName(r), r] as const))('%s', async (_name, row) => {
    const limits = { ...DEFAULT_LIMITS, ...row.limits };
    if (isolation === 'inline' && limits.fuel === 0) {
      // Fuel is what stops a runaway agent on the calling thread: unmetered inline is refused, not run.
      await expect(sandbox.run(fixturePath(row.fixture), null, { limits: row.limits! })).rejects.toMatchObject({
        code: 'SANDBOX_INVALID_OPTIONS',
        message: /fuel.*isolation 'worker'/,
      });
      return;
    }
    // Timed rows measure the run, not a worker booting (a worker replaced after a timeout boots lazily on the next run).
    if (row.within !== undefined) expect((await sandbox.run(fixturePath('output-ok'), null)).status).toBe('ok');
    const started = performance.now();
    const r = await sandbox.run(fixturePath(row.fixture), row.input ?? null, row.limits ? { limits: row.limits } : {});
    const elapsed = performance.now() - started;

    expect(statuses(row), `status ${r.status}: ${r.message ?? ''}`).toContain(r.status);
    if (row.message) expect(r.message).toMatch(row.message);
    if (row.errorCode !== undefined) expect(r.errorCode).toBe(row.errorCode);
    if (row.within !== undefined) {
      expect(r.durationMs).toBeLessThan(row.within);
      expect(elapsed).toBeLessThan(row.within);
    }
    row.check?.(r);

    // Invariants of every outcome.
    expect(r.engine).toBe(engine);
    expect(Number.isFinite(r.durationMs) && r.durationMs >= 0).toBe(true);
    expect(r.memoryPeakBytes).toBeLessThanOrEqual(limits.memoryBytes);
    if (r.status !== 'ok') {
      expect(r.message, 'a failure says what went wrong').toMatch(/\S/);
      expect(r.output).toBeNull();
    }
    // Events of a failed run must never reach a publisher; the limit breakers must not even return them.
    if (r.status === 'limit-exceeded' || r.status === 'abi-violation') expect(r.events).toEqual([]);
    if (limits.fuel === 0) expect(r.fuelUsed).toBeNull();
    else if (r.status === 'ok') expect(r.fuelUsed).toBeGreaterThan(0);
  });

  it.each(rows.filter((r) => r.status === 'invalid-module' && !r.limits).map((r) => [r.fixture] as const))(
    'load(%s) rejects with SANDBOX_INVALID_MODULE',
    async (fixture) => {
      const error = await sandbox.load(fixturePath(fixture)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SandboxError);
      expect((error as SandboxError).code).toBe('SANDBOX_INVALID_MODULE');
    },
  );

  it('load() of a module whose start function runs out of fuel rejects with SANDBOX_AGENT_INIT_FAILED and the outcome', async () => {
    const error = await sandbox.load(fixturePath('start-loops-forever'), { limits: SMALL_FUEL }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SandboxError);
    expect((error as SandboxError).code).toBe('SANDBOX_AGENT_INIT_FAILED');
    expect((error as SandboxError).result).toMatchObject({ status: 'out-of-fuel', fuelUsed: SMALL_FUEL.fuel });
  });

  it('charges the same fuel for the same work on every run', async () => {
    const agent = await sandbox.load(fixturePath('recurse-bounded'));
    try {
      const used = [];
      for (let i = 0; i < 3; i++) {
        const r = await agent.run(null);
        expect(r.status).toBe('ok');
        used.push(r.fuelUsed);
      }
      expect(used[0]).toBeGreaterThan(1000);
      expect(new Set(used).size).toBe(1);
    } finally {
      agent.close();
    }
  });

  it('keeps a healthy agent answering while another one times out beside it', async () => {
    // Inline nothing runs beside it: the healthy agent answers after the looping one is stopped at a host call.
    const [looping, fine] = await Promise.all([
      isolation === 'worker'
        ? sandbox.run(fixturePath('loop-forever'), null, { limits: UNMETERED_100MS })
        : sandbox.run(fixturePath('host-call-loop-forever'), null, {
            limits: { fuel: Number.MAX_SAFE_INTEGER, timeoutMs: 100 },
          }),
      sandbox.run(fixturePath('output-ok'), null),
    ]);
    expect(looping.status).toBe('timeout');
    expect(fine.status).toBe('ok');
    expect(fine.output).toEqual({ ok: true, n: 42 });
  });

  it('stays healthy after every fixture: a fresh run and an agent loaded before them both return ok', async () => {
    const fresh = await sandbox.run(fixturePath('output-ok'), null);
    expect(fresh.status).toBe('ok');
    expect(fresh.output).toEqual({ ok: true, n: 42 });
    const again = await healthy.run(null);
    expect(again.status).toBe('ok');
    expect(again.output).toEqual({ ok: true, n: 42 });
  });
});

describe('fuel is the same on every engine', () => {
  // Deterministic outcomes only: no wall clock, no engine stack exhaustion.
  const cases: Array<[string, Partial<Limits>]> = [
    ['output-ok', {}],
    ['echo-input', {}],
    ['emit-ok', {}],
    ['log-flood', {}],
    ['random-now', {}],
    ['recurse-bounded', {}],
    ['recurse-forever', {}],
    ['huge-memory-fill', {}],
    ['huge-memory-copy', {}],
    ['grow-memory-forever', { memoryBytes: MIB }],
    ['emit-flood', {}],
    ['huge-output', {}],
    ['divide-by-zero', {}],
    ['error-log-then-fail', {}],
  ];
  const sandboxes = new Map<EngineName, Sandbox>();

  beforeAll(() => {
    for (const engine of ENGINES) sandboxes.set(engine, new Sandbox({ workers: 1, engine }));
  });

  afterAll(async () => {
    await Promise.all([...sandboxes.values()].map((s) => s.close()));
  });

  it.each(cases)('%s', async (fixture, limits) => {
    const seen = [];
    for (const [engine, sandbox] of sandboxes) {
      const r = await sandbox.run(requireBuilt(fixturePath(fixture)), { probe: 1 }, { limits });
      seen.push({ engine, status: r.status, fuelUsed: r.fuelUsed });
    }
    const [first, ...rest] = seen;
    expect(first?.fuelUsed).toBeGreaterThan(0);
    for (const other of rest) expect({ ...other, engine: first?.engine }).toEqual(first);
  });
});
