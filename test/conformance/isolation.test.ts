// Worker and inline isolation: the options that choose them, what inline refuses, runSync, and the life cycle of agents and sandboxes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox, SandboxError } from '../../runtime/index.ts';
import { ENGINES, ISOLATIONS, MATRIX } from '../support/engines.ts';
import { agentPath, fixturePath, repoRoot } from '../support/paths.ts';

const sandboxes: Sandbox[] = [];
const open = (options: ConstructorParameters<typeof Sandbox>[0]) => {
  const s = new Sandbox({ workers: 1, ...options });
  sandboxes.push(s);
  return s;
};
afterAll(async () => {
  await Promise.all(sandboxes.map((s) => s.close()));
});

/** The SandboxError `fn` throws or rejects with. */
async function errorOf(fn: () => unknown): Promise<SandboxError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SandboxError);
    return error as SandboxError;
  }
  throw new Error('expected a SandboxError');
}

describe('choosing an isolation', () => {
  it('refuses an unknown isolation, on the sandbox and on a load', async () => {
    expect(() => new Sandbox({ isolation: 'thread' as never })).toThrow(/isolation must be 'worker' or 'inline'/);
    const error = await errorOf(() => open({}).load(agentPath('vowels'), { isolation: 'fork' as never }));
    expect(error.code).toBe('SANDBOX_INVALID_OPTIONS');
  });

  it('refuses inline without fuel: fuel is what stops a runaway agent on the calling thread', async () => {
    expect(() => new Sandbox({ isolation: 'inline', limits: { fuel: 0 } })).toThrow(
      /fuel must be positive with isolation 'inline'/,
    );
    const error = await errorOf(() => open({ isolation: 'inline' }).load(agentPath('vowels'), { limits: { fuel: 0 } }));
    expect(error.code).toBe('SANDBOX_INVALID_OPTIONS');
    // A worker agent may run unmetered.
    expect((await open({}).run(agentPath('vowels'), { text: 'a' }, { limits: { fuel: 0 } })).status).toBe('ok');
  });

  it('refuses the graph capability and hibernation inline, naming worker mode', async () => {
    // An inline agent without a graph grant is fine in a sandbox with a graph service; a granted one is refused.
    const withGraph = open({ isolation: 'inline', graph: 'embedded' });
    expect((await withGraph.load(agentPath('vowels'))).isolation).toBe('inline');
    const graph = await errorOf(() => withGraph.load(agentPath('planner'), { graph: true }));
    expect(graph.code).toBe('SANDBOX_INVALID_OPTIONS');
    expect(graph.message).toMatch(/isolation 'worker'/);
    const store = mkdtempSync(join(tmpdir(), 'sandbox-isolation-'));
    try {
      const hibernating = open({ hibernation: { store } });
      const error = await errorOf(() => hibernating.load(agentPath('counter'), { isolation: 'inline' }));
      expect(error.message).toMatch(/hibernation needs isolation 'worker'/);
      await hibernating.close();
    } finally {
      rmSync(store, { recursive: true, force: true });
    }
  });

  it('mixes isolations in one sandbox: per-load isolation overrides the sandbox default', async () => {
    const sandbox = open({ isolation: 'inline' });
    const inline = await sandbox.load(agentPath('vowels'));
    const worker = await sandbox.load(agentPath('vowels'), { isolation: 'worker' });
    expect([inline.isolation, worker.isolation]).toEqual(['inline', 'worker']);
    expect((await inline.run({ text: 'Hello World' })).output).toEqual(
      (await worker.run({ text: 'Hello World' })).output,
    );
  });
});

describe.each(ENGINES)('runSync (%s)', (engine) => {
  it('answers an inline agent synchronously, as run does', async () => {
    const sandbox = open({ isolation: 'inline', engine });
    const agent = await sandbox.load(agentPath('counter'));
    const first = agent.runSync({ by: 2 });
    expect(first).toMatchObject({ status: 'ok', output: { count: 2 }, engine });
    expect((await agent.run({ by: 3 })).output).toEqual({ count: 5 });
    expect(agent.runSync({ by: 1 }).output).toEqual({ count: 6 });
    expect(agent.runSync({ bad: 1n << 70n }).status).toBe('invalid-input');
  });

  it('is refused for a worker agent with SANDBOX_INVALID_OPTIONS', async () => {
    const agent = await open({ engine }).load(agentPath('counter'));
    expect((await errorOf(() => agent.runSync({}))).code).toBe('SANDBOX_INVALID_OPTIONS');
  });
});

describe.each(MATRIX)('wall clock ($engine, $isolation)', ({ engine, isolation }) => {
  it('a run that finishes past timeoutMs is a timeout, and the agent answers afresh after it', async () => {
    const sandbox = open({ engine, isolation });
    // Loaded first, so the worker and its engine are up before the short clock starts counting.
    const healthy = await sandbox.load(fixturePath('output-ok'));
    // 1,000 overlapping 10 MiB copies (10 GiB moved): ok under this fuel, far longer than 50 ms on any engine.
    const agent = await sandbox.load(fixturePath('slow-memory-copy'), { limits: { timeoutMs: 50, fuel: 1e9 } });
    const r = await agent.run(null);
    expect(r.status).toBe('timeout');
    expect(r.output).toBeNull();
    expect((await healthy.run(null)).output).toEqual({ ok: true, n: 42 });
  });
});

describe.each(ISOLATIONS)('life cycle (%s)', (isolation) => {
  it('running a closed agent throws SANDBOX_CLOSED rather than resolving to crashed', async () => {
    const agent = await open({ isolation }).load(agentPath('counter'));
    agent.close();
    const error = await errorOf(() => agent.run({}));
    expect(error.code).toBe('SANDBOX_CLOSED');
    expect(error.message).toMatch(/counter is closed/);
  });

  it('running an agent of a closed sandbox throws SANDBOX_CLOSED rather than waiting for a worker that is gone', async () => {
    const sandbox = new Sandbox({ workers: 1, isolation });
    const agent = await sandbox.load(agentPath('counter'));
    await sandbox.close();
    expect((await errorOf(() => agent.run({}))).code).toBe('SANDBOX_CLOSED');
  });

  it('a script that forgets sandbox.close() exits', () => {
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'test', 'support', 'forgetful-child.ts'), isolation],
      { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 },
    );
    expect(child.error, 'the child did not exit by itself').toBeUndefined();
    expect(child.status, child.stderr).toBe(0);
    expect(child.stdout.trim()).toBe('{"count":2}');
  });
});

describe('hibernation at exit', () => {
  it('a script that forgets close() still writes its keyed agents: the next process continues from them', () => {
    const store = mkdtempSync(join(tmpdir(), 'sandbox-forgetful-'));
    try {
      const run = () =>
        spawnSync(
          process.execPath,
          ['--import', 'tsx', join(repoRoot, 'test', 'support', 'forgetful-child.ts'), 'worker', store],
          { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 },
        );
      const first = run();
      expect(first.status, first.stderr).toBe(0);
      expect(first.stdout.trim()).toBe('{"count":2}');
      const second = run();
      expect(second.status, second.stderr).toBe(0);
      expect(second.stdout.trim()).toBe('{"count":4}');
    } finally {
      rmSync(store, { recursive: true, force: true });
    }
  });
});
