// Hibernation of stateful agents: evicted past the resident cap or when idle, woken with their state, kept across restarts.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSandboxError } from '../../runtime/errors.ts';
import { Sandbox, type Agent, type SandboxOptions } from '../../runtime/index.ts';
import { agentPath, fixturePath, repoRoot, requireBuilt } from '../support/paths.ts';
import { wat } from '../unit/module-harness.ts';

const counter = new Uint8Array(readFileSync(requireBuilt(agentPath('counter'))));
const dirs: string[] = [];
const sandboxes: Sandbox[] = [];

afterEach(async () => {
  await Promise.all(sandboxes.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function storeDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-hibernation-'));
  dirs.push(dir);
  return dir;
}

function open(
  store: string,
  hibernation: Omit<NonNullable<SandboxOptions['hibernation']>, 'store'> = {},
  options: SandboxOptions = {},
): Sandbox {
  const sandbox = new Sandbox({ workers: 2, ...options, hibernation: { store, ...hibernation } });
  sandboxes.push(sandbox);
  return sandbox;
}

async function count(agent: Agent, by: number): Promise<number> {
  const result = await agent.run({ by });
  expect(result.status, result.message).toBe('ok');
  return (result.output as { count: number }).count;
}

describe('hibernation', () => {
  it("keeps every agent's state while far more agents than the resident cap take turns, concurrently", async () => {
    const sandbox = open(storeDir(), { maxResident: 4, idleMs: 0 });
    const agents = await Promise.all(Array.from({ length: 60 }, () => sandbox.load(counter)));
    for (let round = 1; round <= 4; round++) {
      const counts = await Promise.all(agents.map((a, i) => count(a, i + 1)));
      expect(counts).toEqual(agents.map((_, i) => round * (i + 1)));
    }
    const r = sandbox.residency();
    expect(r.resident).toBeLessThanOrEqual(4);
    expect(r.resident + r.hibernated).toBe(60);
    expect(r.wakes).toBeGreaterThanOrEqual(60 * 3 - 4);
    expect(r.storeErrors).toBe(0);
  });

  it('keeps the resident instances within maxResidentBytes of memory, waking the others with their state', async () => {
    // A counter's memory is one 64 KiB page: three fit in the budget, whatever maxResident says.
    const sandbox = open(storeDir(), { maxResident: 100, maxResidentBytes: 3 * 65536, idleMs: 0 }, { workers: 1 });
    const agents = await Promise.all(Array.from({ length: 8 }, () => sandbox.load(counter)));
    for (let round = 1; round <= 2; round++)
      expect(await Promise.all(agents.map((a, i) => count(a, i + 1)))).toEqual(agents.map((_, i) => round * (i + 1)));
    expect(sandbox.residency().resident).toBe(3);
    expect(sandbox.residency().wakes).toBeGreaterThanOrEqual(8 - 3);
    expect(() => new Sandbox({ hibernation: { store: storeDir(), maxResidentBytes: 0 } })).toThrow(
      /maxResidentBytes must be a positive integer/,
    );
  });

  it('hibernates an idle agent and wakes it with its state on the next message', async () => {
    const sandbox = open(storeDir(), { idleMs: 50, checkpointMs: 0 });
    const agent = await sandbox.load(counter);
    expect(await count(agent, 5)).toBe(5);
    const awake = await agent.run({ by: 1 });
    expect(awake.wakeMs).toBeUndefined();
    await expect.poll(() => sandbox.residency().resident, { timeout: 5000, interval: 50 }).toBe(0);
    // residency is reported with answers: the poll above saw a report after the idle timer hibernated the agent
    const woken = await agent.run({ by: 1 });
    expect(woken.output).toEqual({ count: 7 });
    expect(woken.wakeMs).toBeGreaterThan(0);
    expect(woken.wakeMs!).toBeLessThanOrEqual(woken.durationMs);
  });

  it('a keyed agent continues from its state in the next sandbox on the same store, and after it is closed and loaded again', async () => {
    const store = storeDir();
    let sandbox = open(store, { maxResident: 2 });
    const keyed = await sandbox.load(counter, { key: 'orders-42' });
    const anonymous = await sandbox.load(counter);
    expect(await count(keyed, 40)).toBe(40);
    expect(await count(anonymous, 3)).toBe(3);
    await sandbox.close();
    sandbox = open(store, { maxResident: 2 });
    const again = await sandbox.load(counter, { key: 'orders-42' });
    const woken = await again.run({ by: 2 });
    expect(woken.output).toEqual({ count: 42 });
    expect(woken.wakeMs).toBeGreaterThan(0);
    expect(await count(await sandbox.load(counter), 1)).toBe(1);
    // closing an agent keeps a keyed state for the next load
    again.close();
    const reloaded = await sandbox.load(counter, { key: 'orders-42' });
    expect(await count(reloaded, 1)).toBe(43);
  });

  it('closing a keyed agent and loading its key at once continues from the final state, on whichever worker', async () => {
    const sandbox = open(storeDir(), { maxResident: 4 });
    const fillers: Agent[] = [];
    let agent = await sandbox.load(counter, { key: 'hot' });
    for (let i = 1; i <= 12; i++) {
      expect(await count(agent, 1)).toBe(i);
      agent.close();
      // An extra agent each time moves the next load to the other worker half of the time.
      fillers.push(await sandbox.load(counter));
      agent = await sandbox.load(counter, { key: 'hot' });
    }
    expect(await count(agent, 0)).toBe(12);
  });

  it("survives SIGKILL: a killed process's agents wake from their last checkpoint", async () => {
    const store = storeDir();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'test', 'support', 'hibernation-child.ts'), store],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('checkpointed')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`the child exited (${code}) before checkpointing: ${out}`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    const sandbox = open(store);
    for (let i = 0; i < 10; i++) {
      const agent = await sandbox.load(counter, { key: `killed-${i}` });
      expect(await count(agent, 0)).toBe(i + 100);
    }
  });

  it('a worker replaced after a timeout brings its stateful agents back from their last checkpoint', async () => {
    const sandbox = open(storeDir(), { checkpointMs: 20 }, { workers: 1 });
    const agents = await Promise.all(Array.from({ length: 5 }, (_, i) => sandbox.load(counter, { key: `c${i}` })));
    await Promise.all(agents.map((a, i) => count(a, i + 10)));
    await expect.poll(() => sandbox.residency().checkpoints, { timeout: 5000, interval: 20 }).toBeGreaterThanOrEqual(5);
    const hang = await sandbox.load(requireBuilt(fixturePath('loop-forever')), { limits: { fuel: 0, timeoutMs: 200 } });
    expect((await hang.run(null)).status).toBe('timeout');
    expect(sandbox.workerRestarts).toBe(1);
    expect(await Promise.all(agents.map((a) => count(a, 1)))).toEqual(agents.map((_, i) => i + 11));
  });

  it('undoes a run that traps: the agent continues from its state before it, also when the run grew its memory', async () => {
    const bytes = await wat(`(module
      (import "sandbox" "output" (func $output (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "sandbox_abi_version") (result i32) i32.const 1)
      (func (export "sandbox_alloc") (param i32) (result i32) i32.const 1024)
      (func (export "sandbox_handle") (param $ptr i32) (param $len i32) (result i32)
        i32.const 0 i32.const 0 i32.load i32.const 1 i32.add i32.store
        ;; true: trap after changing the state; false: grow memory, then trap
        local.get $ptr i32.load8_u i32.const 0xc3 i32.eq
        if unreachable end
        local.get $ptr i32.load8_u i32.const 0xc2 i32.eq
        if i32.const 1 memory.grow drop unreachable end
        i32.const 16 i32.const 0 i32.load i32.store8
        i32.const 16 i32.const 1 call $output drop
        i32.const 0))`);
    const sandbox = open(storeDir(), { checkpointMs: 0, idleMs: 0 });
    const agent = await sandbox.load(bytes, { key: 'fragile' });
    for (const expected of [1, 2, 3]) expect((await agent.run(null)).output).toBe(expected);
    expect((await agent.run(true)).status).toBe('trap');
    expect((await agent.run(null)).output).toBe(4);
    const grew = await agent.run(false);
    expect(grew.status).toBe('trap');
    expect(grew.memoryPeakBytes).toBe(2 * 65536);
    expect((await agent.run(null)).output).toBe(5);
    expect(sandbox.residency().undone).toBe(2);
  });

  it('refuses a key whose stored state belongs to another module, until it is forgotten', async () => {
    const store = storeDir();
    let sandbox = open(store);
    await count(await sandbox.load(counter, { key: 'k' }), 1);
    await sandbox.close();
    sandbox = open(store);
    const echo = requireBuilt(agentPath('echo'));
    const error = await sandbox.load(echo, { key: 'k' }).catch((e: unknown) => e);
    expect(isSandboxError(error, 'SANDBOX_STATE_MISMATCH')).toBe(true);
    expect((error as Error).message).toMatch(/forget/);
    expect(await sandbox.forget('k')).toBe(true);
    expect((await (await sandbox.load(echo, { key: 'k' })).run('hi')).output).toBe('hi');
  });

  it('rejects misuse with typed errors', async () => {
    const store = storeDir();
    const sandbox = open(store);
    await sandbox.load(counter, { key: 'same' });
    expect(
      isSandboxError(await sandbox.load(counter, { key: 'same' }).catch((e: unknown) => e), 'SANDBOX_INVALID_OPTIONS'),
    ).toBe(true);
    expect(
      isSandboxError(await sandbox.load(counter, { key: '~x' }).catch((e: unknown) => e), 'SANDBOX_INVALID_OPTIONS'),
    ).toBe(true);
    expect(isSandboxError(await sandbox.forget('same').catch((e: unknown) => e), 'SANDBOX_INVALID_OPTIONS')).toBe(true);
    expect(() => new Sandbox({ workers: 1, hibernation: { store } })).toThrow(
      expect.objectContaining({ code: 'SANDBOX_STORE_BUSY' }),
    );
    expect(() => new Sandbox({ workers: 2, hibernation: { store: storeDir(), maxResident: 1 } })).toThrow(
      /maxResident/,
    );
    const file = join(storeDir(), 'a-file');
    writeFileSync(file, 'not a directory');
    for (const path of [file, join(file, 'below')]) {
      expect(() => new Sandbox({ workers: 1, hibernation: { store: path } })).toThrow(
        expect.objectContaining({
          code: 'SANDBOX_STORE',
          message: expect.stringMatching(/cannot create the hibernation store directory/),
        }),
      );
    }
    const plain = new Sandbox({ workers: 1 });
    sandboxes.push(plain);
    expect(
      isSandboxError(await plain.load(counter, { key: 'k' }).catch((e: unknown) => e), 'SANDBOX_INVALID_OPTIONS'),
    ).toBe(true);
  });

  it('refuses a module that changes tables: its state cannot be snapshotted', async () => {
    const sandbox = open(storeDir());
    const error = await sandbox.load(requireBuilt(fixturePath('table-grow-huge'))).catch((e: unknown) => e);
    expect(isSandboxError(error, 'SANDBOX_INVALID_MODULE')).toBe(true);
    expect((error as Error).message).toMatch(/tables.*cannot hibernate/);
    // stateless agents of that module still run (they are re-instantiated rather than reset)
    expect((await sandbox.run(requireBuilt(fixturePath('table-grow-huge')), null, { state: 'reset' })).status).toBe(
      'ok',
    );
  });

  it('refuses a module whose state includes a v128 global', async () => {
    const bytes = await wat(`(module
      (global $v (mut v128) (v128.const i32x4 0 0 0 0))
      (memory (export "memory") 1)
      (func (export "sandbox_abi_version") (result i32) i32.const 1)
      (func (export "sandbox_alloc") (param i32) (result i32) i32.const 1024)
      (func (export "sandbox_handle") (param i32 i32) (result i32) i32.const 0))`);
    const sandbox = open(storeDir());
    const error = await sandbox.load(bytes).catch((e: unknown) => e);
    // and a stateless agent of it is re-instantiated for every run rather than reset to a snapshot that misses the global
    expect((await sandbox.run(bytes, null, { state: 'reset' })).status).toBe('ok');
    expect(isSandboxError(error, 'SANDBOX_INVALID_MODULE')).toBe(true);
    expect((error as Error).message).toMatch(/mutable v128 globals.*cannot hibernate/);
  });

  it('works on the TypeScript emulator too', async () => {
    const sandbox = open(storeDir(), { maxResident: 2, idleMs: 0 }, { engine: 'emulator' });
    const agents = await Promise.all(Array.from({ length: 6 }, () => sandbox.load(counter)));
    for (let round = 1; round <= 3; round++) {
      expect(await Promise.all(agents.map((a) => count(a, 2)))).toEqual(agents.map(() => round * 2));
    }
    expect(sandbox.residency().wakes).toBeGreaterThan(0);
  });
});
