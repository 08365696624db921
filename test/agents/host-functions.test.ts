// Host functions for guest ABI v1 agents (`sandbox.call`): granted per agent, sync and async, capped, failures as statuses.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import type { HostCallContext } from '../../runtime/index.ts';
import { ENGINES, sandboxPerBlock } from '../support/engines.ts';
import { agentPath, requireBuilt } from '../support/paths.ts';

const caller = () => requireBuilt(agentPath('host-caller'));
const E_UNAVAILABLE = -4;
const E_HOST = -5;

describe.each(ENGINES)('host functions through sandbox.call (%s)', (engine) => {
  const sandbox = sandboxPerBlock(engine, { host: { 'everyone.ping': () => 'pong' } });
  const limits = { timeoutMs: 20_000 };

  it('calls a sync and an async host function with the decoded payload and gets the answer back', async () => {
    const seen: HostCallContext[] = [];
    const agent = await sandbox().load(caller(), {
      limits,
      name: 'orders-agent',
      host: {
        'orders.lookup': (input: { id: number }, ctx) => {
          seen.push(ctx);
          return { id: input.id, total: 42.5, items: ['a', 'b'] };
        },
        'orders.later': async (input: string) => {
          await new Promise((r) => setTimeout(r, 5));
          return `later ${input}`;
        },
      },
    });
    const sync = await agent.run({ call: 'orders.lookup', arg: { id: 7 } });
    expect(sync.status, sync.message).toBe('ok');
    expect(sync.output).toEqual({ status: 0, result: { id: 7, total: 42.5, items: ['a', 'b'] } });
    const async = await agent.run({ call: 'orders.later', arg: 'x' });
    expect(async.output).toEqual({ status: 0, result: 'later x' });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ agent: 'orders-agent', key: undefined });
    expect(seen[0]!.runId).toMatch(/^\d+:\d+$/);
    // Sandbox-wide host functions reach every agent.
    expect((await agent.run({ call: 'everyone.ping' })).output).toEqual({ status: 0, result: 'pong' });
    agent.close();
  });

  it('lists what the agent was granted, names only', async () => {
    const agent = await sandbox().load(caller(), {
      limits,
      host: { 'b.two': () => 2, 'a.one': () => 1 },
      config: { region: 'eu' },
    });
    const r = await agent.run({ grants: true });
    expect(r.output).toEqual({ host: ['a.one', 'b.two', 'everyone.ping'], config: ['region'], http: [], graph: false });
    agent.close();
  });

  it('reads its config through sandbox.config: a granted key is its string, another nil', async () => {
    const agent = await sandbox().load(caller(), { limits, config: { region: 'eu-west' } });
    expect((await agent.run({ call: 'sandbox.config', arg: 'region' })).output).toEqual({
      status: 0,
      result: 'eu-west',
    });
    expect((await agent.run({ call: 'sandbox.config', arg: 'nope' })).output).toEqual({ status: 0, result: null });
    const bad = await agent.run({ call: 'sandbox.config', arg: 42 });
    expect(bad.status).toBe('abi-violation');
    agent.close();
  });

  it('an unknown or ungranted name is E_UNAVAILABLE for the guest, and the run still succeeds', async () => {
    const agent = await sandbox().load(caller(), { limits });
    const r = await agent.run({ call: 'orders.lookup', arg: 1 });
    expect(r.status).toBe('ok');
    expect(r.output).toEqual({
      status: E_UNAVAILABLE,
      error: 'no host function "orders.lookup" was granted to this agent',
    });
    agent.close();
  });

  it('a throwing and a rejecting host function are E_HOST with the message, logged; never thrown into the guest', async () => {
    const agent = await sandbox().load(caller(), {
      limits,
      host: {
        throws: () => {
          throw new Error('no such order');
        },
        rejects: () => Promise.reject(new Error('database down')),
      },
    });
    for (const [name, message] of [
      ['throws', 'no such order'],
      ['rejects', 'database down'],
    ]) {
      const r = await agent.run({ call: name });
      expect(r.status).toBe('ok');
      expect(r.output).toEqual({ status: E_HOST, error: `host function ${name} failed: ${message}` });
      expect(r.logs).toContainEqual({ level: 'error', message: `host function ${name} failed: ${message}` });
    }
    agent.close();
  });

  it('an oversized payload or answer, and too many calls, end the run as limit-exceeded', async () => {
    const agent = await sandbox().load(caller(), {
      limits: { ...limits, hostCallBytes: 1000, maxHostCalls: 3 },
      host: { echo: (x: unknown) => x, big: () => 'x'.repeat(5000) },
    });
    const payload = await agent.run({ call: 'echo', arg: 'y'.repeat(2000) });
    expect(payload.status).toBe('limit-exceeded');
    expect(payload.message).toContain('hostCallBytes');
    const answer = await agent.run({ call: 'big' });
    expect(answer.status).toBe('limit-exceeded');
    const calls = await agent.run({ call: 'echo', arg: 1, times: 4 });
    expect(calls.status).toBe('limit-exceeded');
    expect(calls.message).toContain('maxHostCalls');
    expect((await agent.run({ call: 'echo', arg: 1, times: 3 })).status).toBe('ok');
    agent.close();
  });

  it("a host function's time counts against the run's timeout; one that never settles ends the run as timeout", async () => {
    const agent = await sandbox().load(caller(), {
      limits: { timeoutMs: 200 },
      host: { slow: () => new Promise((r) => setTimeout(() => r('late'), 1000)), never: () => new Promise(() => {}) },
    });
    expect((await agent.run({ call: 'slow' })).status).toBe('timeout');
    expect((await agent.run({ call: 'never' })).status).toBe('timeout');
    agent.close();
  });
});

describe('host functions inline', () => {
  const sandbox = sandboxPerBlock('wasm');

  it('a sync host function runs directly on the calling thread (runSync too); an async one is E_HOST', async () => {
    const seen: string[] = [];
    const agent = await sandbox().load(caller(), {
      isolation: 'inline',
      host: {
        now: (x: number, ctx) => {
          seen.push(ctx.runId);
          return x + 1;
        },
        later: async (x: number) => x,
      },
    });
    expect(agent.runSync({ call: 'now', arg: 1 }).output).toEqual({ status: 0, result: 2 });
    expect((await agent.run({ call: 'now', arg: 2 })).output).toEqual({ status: 0, result: 3 });
    expect(new Set(seen).size).toBe(2); // one run id per run
    const r = await agent.run({ call: 'later', arg: 1 });
    expect(r.output).toEqual({
      status: E_HOST,
      error: expect.stringContaining("with isolation 'inline' host functions must answer synchronously"),
    });
    agent.close();
  });
});

describe('host functions for hibernating agents', () => {
  it('each agent keeps its own host functions and config while instances are pooled between them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'host-fn-hib-'));
    const sandbox = new Sandbox({
      workers: 1,
      hibernation: { store: join(dir, 'store'), maxResident: 1, idleMs: 0, checkpointMs: 0 },
    });
    try {
      const a = await sandbox.load(caller(), { host: { who: () => 'a' }, config: { name: 'A' } });
      const b = await sandbox.load(caller(), { host: { who: () => 'b' } });
      for (let i = 0; i < 3; i++) {
        expect((await a.run({ call: 'who' })).output).toEqual({ status: 0, result: 'a' });
        expect((await b.run({ call: 'who' })).output).toEqual({ status: 0, result: 'b' });
      }
      expect((await a.run({ call: 'sandbox.config', arg: 'name' })).output).toEqual({ status: 0, result: 'A' });
      expect((await b.run({ call: 'sandbox.config', arg: 'name' })).output).toEqual({ status: 0, result: null });
      expect(sandbox.residency().hibernations).toBeGreaterThan(0);
    } finally {
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('host function options', () => {
  const sandbox = sandboxPerBlock('wasm');

  it('refuses a host function that is not a function, or a reserved name, with SANDBOX_INVALID_OPTIONS', async () => {
    await expect(sandbox().load(caller(), { host: { x: 42 as unknown as () => void } })).rejects.toMatchObject({
      code: 'SANDBOX_INVALID_OPTIONS',
    });
    await expect(sandbox().load(caller(), { host: { 'sandbox.grants': () => 1 } })).rejects.toMatchObject({
      code: 'SANDBOX_INVALID_OPTIONS',
    });
  });
});
