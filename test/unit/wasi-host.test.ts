// Unit: WasiHost running real modules on V8 and the emulator: stdout capture, stdin, proc_exit, traps, deterministic mode.

import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { emulator } from '../../runtime/engine/emulator/index.ts';
import type { WasmNamespace } from '../../runtime/engine/namespace.ts';
import { WASI_MODULE, WasiHost, type MemoryLike, type WasiOptions } from '../../host/wasi/index.ts';

const IMPORTS = `
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (memory (export "memory") 1)
`;

// Writes "hello\\n" to stdout and stderr "oops", then exits with code 3.
const HELLO = `(module ${IMPORTS}
  (data (i32.const 100) "hello\\n")
  (data (i32.const 120) "oops")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 120)) (i32.store (i32.const 4) (i32.const 4))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 3))
    unreachable))`;

// Copies stdin to stdout in 7-byte reads, then returns normally (exit code 0).
const CAT = `(module ${IMPORTS}
  (func (export "_start")
    (loop $again
      (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 7))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (i32.gt_u (i32.load (i32.const 8)) (i32.const 0))
        (then
          (i32.store (i32.const 4) (i32.load (i32.const 8)))
          (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
          (br $again))))))`;

// Writes two realtime clock readings (16 bytes) and 16 random bytes to stdout.
const CLOCK_RANDOM = `(module ${IMPORTS}
  (func (export "_start")
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 200)))
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 208)))
    (drop (call $random (i32.const 216) (i32.const 16)))
    (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const 32))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;

const TRAP = `(module ${IMPORTS} (func (export "_start") unreachable))`;

async function run(ns: WasmNamespace, watText: string, options: WasiOptions = {}) {
  const bytes = (await parse(watText)) as Uint8Array<ArrayBuffer>;
  const wasi = new WasiHost(options);
  let memory: MemoryLike | null = null;
  const instance = new ns.Instance(new ns.Module(bytes), {
    [WASI_MODULE]: wasi.imports(() => memory!),
  } as WebAssembly.Imports);
  memory = instance.exports['memory'] as MemoryLike;
  const code = wasi.start(instance as { exports: Record<string, unknown> });
  return { code, wasi, stdout: wasi.stdout, text: new TextDecoder().decode(wasi.stdout) };
}

const engines: [string, WasmNamespace][] = [
  ['V8', WebAssembly as unknown as WasmNamespace],
  ['emulator', emulator as unknown as WasmNamespace],
];

describe.each(engines)('WasiHost on %s', (_name, ns) => {
  it('captures stdout and stderr, and returns the proc_exit code', async () => {
    const r = await run(ns, HELLO);
    expect(r.code).toBe(3);
    expect(r.text).toBe('hello\n');
    expect(new TextDecoder().decode(r.wasi.stderr)).toBe('oops');
  });

  it('feeds stdin and returns 0 when _start returns', async () => {
    const input = 'a line that is longer than one read\nand a second';
    const r = await run(ns, CAT, { stdin: new TextEncoder().encode(input) });
    expect(r.code).toBe(0);
    expect(r.text).toBe(input);
  });

  it('drops output past maxOutputBytes and counts it', async () => {
    const r = await run(ns, HELLO, { maxOutputBytes: 3 });
    expect(r.text).toBe('hel');
    expect(new TextDecoder().decode(r.wasi.stderr)).toBe('oop');
    expect(r.wasi.outputDropped).toBe(3 + 1);
  });

  it('lets traps propagate', async () => {
    await expect(run(ns, TRAP)).rejects.toThrow(/unreachable/);
  });

  it('is replayable in deterministic mode', async () => {
    const deterministic = { clockNs: 1_700_000_000_000_000_000n, seed: 42 };
    const a = await run(ns, CLOCK_RANDOM, { deterministic });
    const b = await run(ns, CLOCK_RANDOM, { deterministic });
    const c = await run(ns, CLOCK_RANDOM, { deterministic: { ...deterministic, seed: 43 } });
    expect(a.stdout).toEqual(b.stdout);
    const view = new DataView(a.stdout.buffer, a.stdout.byteOffset);
    const t1 = view.getBigUint64(0, true);
    const t2 = view.getBigUint64(8, true);
    expect(t1).toBeGreaterThan(deterministic.clockNs);
    expect(t1 - deterministic.clockNs).toBeLessThan(1_000_000n);
    expect(t2).toBeGreaterThan(t1);
    expect(c.stdout.subarray(0, 16)).toEqual(a.stdout.subarray(0, 16));
    expect(c.stdout.subarray(16)).not.toEqual(a.stdout.subarray(16));
    expect(a.stdout.subarray(16).some((x) => x !== 0)).toBe(true);
  });

  it('uses the real clock and real randomness otherwise', async () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const a = await run(ns, CLOCK_RANDOM);
    const b = await run(ns, CLOCK_RANDOM);
    const t = new DataView(a.stdout.buffer, a.stdout.byteOffset).getBigUint64(0, true);
    expect(t).toBeGreaterThanOrEqual(before - 1_000_000n);
    expect(t).toBeLessThan(before + 60_000_000_000n);
    expect(a.stdout.subarray(16)).not.toEqual(b.stdout.subarray(16));
  });
});
