// WASI commands through the Sandbox: the same limits as agents, on both engines, without the host's files.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from '@bytecodealliance/jco';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import { agentPath, requireBuilt } from '../support/paths.ts';

const text = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('utf8');

describe('Sandbox.runCommand', () => {
  // Fuel, not the wall clock, is what these compare: a generous timeout keeps a loaded machine from failing them.
  const sandbox = new Sandbox({ workers: 1 });
  afterAll(() => sandbox.close());

  it.each(['wasm', 'emulator'] as const)('runs hello-wasi on %s with the same fuel', async (engine) => {
    const r = await sandbox.runCommand(requireBuilt(agentPath('hello-wasi')), {
      stdin: 'Ada',
      engine,
      limits: { timeoutMs: 20_000 },
    });
    expect(r).toMatchObject({ status: 'ok', exitCode: 0, engine });
    expect(text(r.stdout)).toBe('hello, Ada!');
    const other = await sandbox.runCommand(agentPath('hello-wasi'), {
      stdin: 'Ada',
      engine: engine === 'wasm' ? 'emulator' : 'wasm',
      limits: { timeoutMs: 20_000 },
    });
    expect(other.fuelUsed).toBe(r.fuelUsed);
  });

  it('meters commands like agents', async () => {
    const r = await sandbox.runCommand(agentPath('hello-wasi'), { stdin: 'x', limits: { fuel: 500 } });
    expect(r.status).toBe('out-of-fuel');
  });

  it('caps output and says so', async () => {
    const r = await sandbox.runCommand(agentPath('hello-wasi'), {
      stdin: 'y'.repeat(5000),
      limits: { outputBytes: 100 },
    });
    expect(r.status).toBe('limit-exceeded');
    expect(r.stdout!.length).toBe(100);
  });

  it('refuses a grant of a directory that does not exist, as invalid input', async () => {
    const r = await sandbox.runCommand(agentPath('hello-wasi'), {
      dirs: [{ host: join(tmpdir(), 'no-such-dir-for-sandbox'), guest: '/', readOnly: false }],
    });
    expect(r.status).toBe('invalid-input');
    expect(r.message).toMatch(/no-such-dir-for-sandbox/);
  });

  it('leaves host files alone: hello-wasi has no grant and a granted read-only dir is untouched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-wasi-'));
    writeFileSync(join(dir, 'f.txt'), 'before');
    const r = await sandbox.runCommand(agentPath('hello-wasi'), {
      dirs: [{ host: dir, guest: '/data', readOnly: true }],
    });
    expect(r.status).toBe('ok');
    expect(readFileSync(join(dir, 'f.txt'), 'utf8')).toBe('before');
  });
  // Defect 7 (issue 12): any name under wasi_snapshot_preview1 was let through, and the `{}` import object's
  // prototype linked `constructor` to the host's Object; the command ran `ok`.
  it.each(['wasm', 'emulator'] as const)('links only real preview 1 functions on %s', async (engine) => {
    const command = (name: string) =>
      parse(`(module
      (import "wasi_snapshot_preview1" "${name}" (func $f (result i32)))
      (memory (export "memory") 1)
      (func (export "_start") (drop (call $f))))`);
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'fd_write_all']) {
      const r = await sandbox.runCommand(await command(name), { engine });
      expect(r.status, name).toBe('invalid-module');
      expect(r.message, name).toMatch(/not a WASI preview 1 function/);
    }
    // The same module importing a real preview 1 function links and runs.
    const wrongType = await sandbox.runCommand(await command('sched_yield'), { engine });
    expect(wrongType.status).toBe('ok');
  });
});
