// Sandbox.runComponent: WebAssembly components of world `agent` (wit/agent.wit) run with their core modules instrumented.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/sandbox.ts';
import { fixturePath, repoRoot, requireBuilt } from '../support/paths.ts';
import { buildComponent, componentPath, otherWorldComponent } from './build.ts';

const echo = componentPath('echo-component');
const loop = componentPath('loop-forever-component');
const grow = componentPath('grow-memory-forever-component');

let sandbox: Sandbox;
beforeAll(() => {
  sandbox = new Sandbox({ workers: 1, engine: 'wasm' });
});
afterAll(() => sandbox.close());

describe('a component agent', () => {
  it('round-trips its input and reports events, logs, fuel and memory', async () => {
    const input = { task: 'triage', ids: [1, 2, 3], nested: { ok: true, text: 'héllo' } };
    const r = await sandbox.runComponent(echo, input);
    expect(r.status, r.message).toBe('ok');
    expect(r.output).toEqual(input);
    expect(r.events).toEqual([{ topic: 'echo.seen', payload: input }]);
    // init ran (the component refuses to handle without it), random() returned 8 bytes and now() a time
    expect(r.logs).toEqual([
      { level: 'info', message: 'echo handled the input' },
      { level: 'debug', message: 'clock and random work' },
    ]);
    expect(r.fuelUsed).toBeGreaterThan(0);
    expect(r.memoryPeakBytes).toBe(65536);
    expect(r.engine).toBe('wasm');
  });

  it('uses the same fuel on every run of the same input, and more for a longer input', async () => {
    const runs = await Promise.all([1, 2, 3].map(() => sandbox.runComponent(echo, 'abc')));
    const fuel = runs.map((r) => r.fuelUsed);
    expect(new Set(fuel).size).toBe(1);
    expect(fuel[0]).toBeGreaterThan(0);
    // the same bytes compare against the "fail" pattern for longer: a different input, a different count
    const other = await sandbox.runComponent(echo, 'fair');
    expect(other.status).toBe('ok');
    expect(other.fuelUsed).not.toBe(fuel[0]);
  });

  it('turns err(message) into status error, with no events', async () => {
    const r = await sandbox.runComponent(echo, 'fail');
    expect(r.status).toBe('error');
    expect(r.message).toBe('asked to fail');
    expect(r.output).toBeNull();
    expect(r.events).toEqual([]);
    expect(r.logs).toEqual([{ level: 'info', message: 'echo handled the input' }]);
  });

  it('checks that the output is MessagePack', async () => {
    const r = await sandbox.runComponent(echo, 'garbage');
    expect(r.status).toBe('invalid-output');
    expect(r.message).toMatch(/not MessagePack/);
  });

  it('stops a runaway loop with out-of-fuel under the default fuel', async () => {
    // The default fuel takes ~0.1 s on an idle machine; a 20 s clock keeps a loaded one from racing the meter.
    const r = await sandbox.runComponent(loop, null, { limits: { timeoutMs: 20_000 } });
    expect(r.status).toBe('out-of-fuel');
    expect(r.fuelUsed).toBe(100_000_000);
    const small = await sandbox.runComponent(loop, null, { limits: { fuel: 50_000 } });
    expect(small.status).toBe('out-of-fuel');
    expect(small.fuelUsed).toBe(50_000);
  });

  it('stops it with timeout when fuel is off, and the sandbox keeps working', async () => {
    const r = await sandbox.runComponent(loop, null, { limits: { fuel: 0, timeoutMs: 300 } });
    expect(r.status).toBe('timeout');
    expect(r.durationMs).toBeGreaterThanOrEqual(300);
    const after = await sandbox.runComponent(echo, 7);
    expect(after.status).toBe('ok');
    expect(after.output).toBe(7);
    expect(sandbox.workerRestarts).toBeGreaterThanOrEqual(1);
  });

  it('reports out-of-memory when the component grows past the memory limit', async () => {
    const r = await sandbox.runComponent(grow, null, { limits: { memoryBytes: 1024 * 1024 } });
    expect(r.status).toBe('out-of-memory');
    expect(r.memoryPeakBytes).toBe(1024 * 1024);
  });

  it('reports stack-overflow past the call-depth limit', async () => {
    const wit = readFileSync(join(repoRoot, 'wit', 'agent.wit'), 'utf8');
    const recurse = await buildComponent(
      `(module
        (memory (export "memory") 1)
        (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
        (func $down (call $down))
        (func (export "handle") (param i32 i32) (result i32) (call $down) (i32.const 0)))`,
      wit,
      'agent',
    );
    const r = await sandbox.runComponent(recurse, null, { limits: { stackDepth: 500 } });
    expect(r.status).toBe('stack-overflow');
    expect(r.message).toMatch(/500 frames/);
  });

  it('refuses an input past the input limit before running anything', async () => {
    const r = await sandbox.runComponent(echo, 'x'.repeat(100), { limits: { inputBytes: 50 } });
    expect(r.status).toBe('invalid-input');
  });

  it('runs the same way on the TypeScript emulator, with the same fuel', async () => {
    const emulated = new Sandbox({ workers: 1, engine: 'emulator' });
    try {
      const [onEmulator, onV8] = await Promise.all([
        emulated.runComponent(echo, { n: 42 }),
        sandbox.runComponent(echo, { n: 42 }),
      ]);
      expect(onEmulator.status, onEmulator.message).toBe('ok');
      expect(onEmulator.engine).toBe('emulator');
      expect(onEmulator.output).toEqual({ n: 42 });
      expect(onEmulator.fuelUsed).toBe(onV8.fuelUsed);
      const looping = await emulated.runComponent(loop, null, { limits: { fuel: 20_000 } });
      expect(looping.status).toBe('out-of-fuel');
    } finally {
      await emulated.close();
    }
  });
});

describe('bytes that are not a component of our world', () => {
  const expectInvalid = async (bytes: Uint8Array, pattern: RegExp) => {
    const r = await sandbox.runComponent(bytes, null);
    expect(r.status).toBe('invalid-module');
    expect(r.message).toMatch(pattern);
  };

  it('a truncated component', async () => {
    const bytes = new Uint8Array(readFileSync(echo));
    await expectInvalid(bytes.subarray(0, 100), /not a valid WebAssembly component.*end-of-file/);
    // the header alone is an empty component: valid, but without our world's export
    await expectInvalid(bytes.subarray(0, 8), /does not export `handle`/);
  });

  it('garbage and a core module', async () => {
    await expectInvalid(new Uint8Array([1, 2, 3, 4, 5]), /not a valid WebAssembly component/);
    await expectInvalid(
      new Uint8Array(readFileSync(requireBuilt(fixturePath('echo-input')))),
      /not a valid WebAssembly component/,
    );
  });

  it('a component of another world, or of ours with the wrong signature', async () => {
    await expectInvalid(
      await otherWorldComponent('example:other', 'other'),
      /handle.*func\(input: string\) -> string.*world `agent`/,
    );
    await expectInvalid(
      await otherWorldComponent('sandbox:agent@1.0.0', 'agent'),
      /the world wants `func\(input: list<u8>\) -> result<list<u8>, string>`/,
    );
  });
});
