// The embedding API: load, run, state between runs, limits, isolation of failures, typed errors.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox, isSandboxError } from '../../runtime/index.ts';
import { agentPath, fixturePath, requireBuilt } from '../support/paths.ts';

describe('Sandbox', () => {
  const sandbox = new Sandbox({ workers: 2 });
  afterAll(() => sandbox.close());

  it('loads an agent by path and runs it (the README example)', async () => {
    const agent = await sandbox.load(requireBuilt(agentPath('vowels')), {
      limits: { memoryBytes: 1 << 20, timeoutMs: 100 },
    });
    const result = await agent.run({ text: 'Hello World' });
    expect(result).toMatchObject({
      status: 'ok',
      output: { count: 3, vowels: 'aeiouAEIOU' },
      engine: 'wasm',
      events: [],
    });
    expect(result.memoryPeakBytes).toBeLessThanOrEqual(1 << 20);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    agent.close();
  });

  it('loads from bytes', async () => {
    const agent = await sandbox.load(readFileSync(agentPath('echo')));
    expect((await agent.run({ a: [1, 'two', null] })).output).toEqual({ a: [1, 'two', null] });
  });

  it('keeps an instance between runs; a fresh instance charges the same fuel for the same input', async () => {
    const counter = await sandbox.load(agentPath('counter'));
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await counter.run({}));
    expect(results.map((r) => r.output)).toEqual([{ count: 1 }, { count: 2 }, { count: 3 }]);
    // The same instance may charge differently on later runs (its garbage collector has work left over), so
    // determinism is asserted on fresh instances: same module + same input + same state ⇒ same fuel.
    const fuel = new Set<number | null>();
    for (let i = 0; i < 5; i++) fuel.add((await sandbox.run(agentPath('echo'), { same: 'input' })).fuelUsed);
    expect(fuel.size).toBe(1);
    expect([...fuel][0]).toBeGreaterThan(0);
  });

  it('answers many concurrent runs in order of submission per agent', async () => {
    const counter = await sandbox.load(agentPath('counter'));
    const results = await Promise.all(Array.from({ length: 500 }, () => counter.run({})));
    expect(results.map((r) => (r.output as { count: number }).count)).toEqual(
      Array.from({ length: 500 }, (_, i) => i + 1),
    );
  });

  it('times out a hung agent without harming agents on other workers', async () => {
    const own = new Sandbox({ workers: 2 });
    try {
      const counterA = await own.load(agentPath('counter'));
      const hung = await own.load(fixturePath('loop-forever'), { limits: { timeoutMs: 100, fuel: 0 } });
      const counterB = await own.load(agentPath('counter'));
      await counterA.run({});
      await counterB.run({});
      const started = Date.now();
      const [timeout, a, b] = await Promise.all([hung.run({}), counterA.run({}), counterB.run({})]);
      expect(timeout.status).toBe('timeout');
      expect(Date.now() - started).toBeLessThan(3000); // a 100 ms clock; generous for a loaded 2-core machine
      expect(a.status).toBe('ok');
      expect(b.status).toBe('ok');
      // The hung agent's worker was replaced; the agent itself still answers (and times out again).
      expect((await hung.run({})).status).toBe('timeout');
      expect(own.workerRestarts).toBeGreaterThanOrEqual(2);
    } finally {
      await own.close();
    }
  });

  // Issue 17 (density): each load of a path read its own copy of the module, kept by its agent (10,000 counters
  // held 10,000 copies of 16 KB), and sent each copy to the worker. Now the agents share one, and a worker that has
  // compiled the module is sent none; a replaced worker still gets the bytes to load them again.
  it('shares one copy of a module among its agents, and reloads them in a replaced worker', async () => {
    const own = new Sandbox({ workers: 1 });
    try {
      const counters = [];
      for (let i = 0; i < 3; i++) counters.push(await own.load(agentPath('counter')));
      const specs = (own as unknown as { hosts: { agents: Map<number, { bytes: Uint8Array }> }[] }).hosts[0]!.agents;
      const copies = new Set([...specs.values()].map((spec) => spec.bytes));
      expect(copies.size).toBe(1);
      for (const counter of counters) expect((await counter.run({ by: 2 })).output).toEqual({ count: 2 });
      const hung = await own.load(fixturePath('loop-forever'), { limits: { timeoutMs: 100, fuel: 0 } });
      expect((await hung.run({})).status).toBe('timeout');
      expect(own.workerRestarts).toBe(1);
      // The new worker loaded them again (from the start: a worker's agents live in it).
      for (const counter of counters) expect((await counter.run({ by: 3 })).output).toEqual({ count: 3 });
      counters.push(await own.load(agentPath('counter')));
      expect((await counters[3]!.run({})).output).toEqual({ count: 1 });
    } finally {
      await own.close();
    }
  });

  it('run() turns every module failure into a RunResult', async () => {
    expect((await sandbox.run(fixturePath('garbage'), {})).status).toBe('invalid-module');
    expect((await sandbox.run(fixturePath('start-loops-forever'), {}, { limits: { fuel: 100_000 } })).status).toBe(
      'out-of-fuel',
    );
  });

  it('load() rejects with typed errors that carry the result', async () => {
    const cases: [string, string][] = [
      [fixturePath('missing-export'), 'SANDBOX_INVALID_MODULE'],
      [fixturePath('unknown-import'), 'SANDBOX_INVALID_MODULE'],
      ['no/such/agent.wasm', 'SANDBOX_MODULE_NOT_FOUND'],
    ];
    for (const [path, code] of cases) {
      const error = await sandbox.load(path).catch((e: unknown) => e);
      expect(isSandboxError(error), String(error)).toBe(true);
      expect((error as { code: string }).code).toBe(code);
    }
    const init = await sandbox
      .load(fixturePath('start-loops-forever'), { limits: { fuel: 50_000 } })
      .catch((e: unknown) => e);
    expect((init as { code: string }).code).toBe('SANDBOX_AGENT_INIT_FAILED');
    expect((init as { result: { status: string } }).result.status).toBe('out-of-fuel');
  });

  it('refuses inputs it cannot encode or that exceed the input limit', async () => {
    const echo = await sandbox.load(agentPath('echo'), { limits: { inputBytes: 100 } });
    expect((await echo.run({ big: 'x'.repeat(1000) })).status).toBe('invalid-input');
    expect((await echo.run({ small: 1 })).status).toBe('ok');
  });

  it('rejects bad options with SANDBOX_INVALID_OPTIONS', async () => {
    expect(() => new Sandbox({ workers: 0 })).toThrow(/workers/);
    expect(() => new Sandbox({ engine: 'v9' as never })).toThrow(/unknown engine/);
    const error = await sandbox.load(agentPath('echo'), { limits: { timeoutMS: 1 } as never }).catch((e: unknown) => e);
    expect(isSandboxError(error, 'SANDBOX_INVALID_OPTIONS')).toBe(true);
  });

  it('refuses work after close', async () => {
    const own = new Sandbox({ workers: 1 });
    await own.close();
    const error = await own.load(agentPath('echo')).catch((e: unknown) => e);
    expect(isSandboxError(error, 'SANDBOX_CLOSED')).toBe(true);
  });
});

describe("state: 'reset'", () => {
  const sandbox = new Sandbox({ workers: 1 });
  afterAll(() => sandbox.close());

  it('starts every run from the post-initialisation snapshot; the default keeps state', async () => {
    const keep = await sandbox.load(agentPath('counter'));
    const reset = await sandbox.load(agentPath('counter'), { state: 'reset' });
    const kept = [];
    const fresh = [];
    for (let i = 0; i < 3; i++) {
      kept.push((await keep.run({})).output);
      fresh.push((await reset.run({})).output);
    }
    expect(kept).toEqual([{ count: 1 }, { count: 2 }, { count: 3 }]);
    expect(fresh).toEqual([{ count: 1 }, { count: 1 }, { count: 1 }]);
  });

  it('charges the same fuel on every run of the same input', async () => {
    const echo = await sandbox.load(agentPath('echo'), { state: 'reset' });
    const fuel = new Set<number | null>();
    for (let i = 0; i < 5; i++) fuel.add((await echo.run({ same: 'input', i: 1 })).fuelUsed);
    expect(fuel.size).toBe(1);
  });

  it('replaces the instance when a run grew its memory (memory cannot shrink)', async () => {
    const echo = await sandbox.load(agentPath('echo'), { state: 'reset' });
    const big = await echo.run({ blob: 'x'.repeat(200_000) });
    expect(big.status).toBe('ok');
    expect(big.memoryPeakBytes).toBeGreaterThan(65536);
    const small = await echo.run({ a: 1 });
    expect(small).toMatchObject({ status: 'ok', output: { a: 1 } });
    expect(small.memoryPeakBytes).toBeLessThan(big.memoryPeakBytes);
  });

  it('rejects an unknown state', async () => {
    const error = await sandbox.load(agentPath('echo'), { state: 'fresh' as never }).catch((e: unknown) => e);
    expect(isSandboxError(error, 'SANDBOX_INVALID_OPTIONS')).toBe(true);
  });
});
