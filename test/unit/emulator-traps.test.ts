// Unit tests: every trap of the spec is a RuntimeError with the spec's message; stack exhaustion never crashes the host.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { emulator } from '../../runtime/engine/emulator/index.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const W = emulator;

async function exportsOf(
  src: string,
  imports: Record<string, Record<string, unknown>> = {},
): Promise<Record<string, (...a: unknown[]) => unknown>> {
  const bytes = await parse(src);
  return new W.Instance(new W.Module(bytes), imports).exports as Record<string, (...a: unknown[]) => unknown>;
}

describe('emulator traps', () => {
  it('traps exactly as the spec says', async () => {
    const ex = await exportsOf(`(module
      (type $v (func))
      (memory 1)
      (table 3 funcref)
      (elem (i32.const 0) $ok)
      (func $ok)
      (func (export "unreachable") unreachable)
      (func (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
      (func (export "rem_u64") (param i64 i64) (result i64) (i64.rem_u (local.get 0) (local.get 1)))
      (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
      (func (export "trunc_sat") (param f64) (result i32) (i32.trunc_sat_f64_s (local.get 0)))
      (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
      (func (export "fill") (param i32 i32) (memory.fill (local.get 0) (i32.const 0) (local.get 1)))
      (func (export "table_get") (param i32) (result funcref) (table.get (local.get 0)))
      (func (export "call") (param i32) (call_indirect (type $v) (local.get 0)))
      (func (export "call_wrong_type") (result i32) (call_indirect (result i32) (i32.const 0))))`);
    const trap = (fn: () => unknown, message: string): void => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(W.RuntimeError);
      expect((err as Error).message).toBe(message);
    };
    trap(() => ex.unreachable!(), 'unreachable');
    trap(() => ex.div_s!(1, 0), 'integer divide by zero');
    trap(() => ex.div_s!(-2147483648, -1), 'integer overflow');
    expect(ex.div_s!(-7, 2)).toBe(-3);
    trap(() => ex.rem_u64!(1n, 0n), 'integer divide by zero');
    trap(() => ex.trunc!(NaN), 'invalid conversion to integer');
    trap(() => ex.trunc!(2147483648), 'integer overflow');
    expect(ex.trunc!(-2147483648.9)).toBe(-2147483648);
    expect(ex.trunc_sat!(1e100)).toBe(2147483647);
    expect(ex.trunc_sat!(NaN)).toBe(0);
    trap(() => ex.load!(65533), 'out of bounds memory access');
    trap(() => ex.load!(-1), 'out of bounds memory access');
    expect(ex.load!(65532)).toBe(0);
    trap(() => ex.fill!(65000, 1000), 'out of bounds memory access');
    trap(() => ex.table_get!(3), 'out of bounds table access');
    trap(() => ex.call!(5), 'undefined element');
    trap(() => ex.call!(1), 'uninitialized element');
    trap(() => ex.call_wrong_type!(), 'indirect call type mismatch');
    expect(ex.call!(0)).toBe(undefined);
  });

  it('keeps exact float semantics', async () => {
    const ex = await exportsOf(`(module
      (func (export "nearest") (param f64) (result f64) (f64.nearest (local.get 0)))
      (func (export "min") (param f32 f32) (result f32) (f32.min (local.get 0) (local.get 1)))
      (func (export "add32") (param f32 f32) (result f32) (f32.add (local.get 0) (local.get 1)))
      (func (export "u64_to_f32") (param i64) (result f32) (f32.convert_i64_u (local.get 0)))
      (func (export "copysign") (param f64 f64) (result f64) (f64.copysign (local.get 0) (local.get 1))))`);
    expect(ex.nearest!(2.5)).toBe(2);
    expect(ex.nearest!(3.5)).toBe(4);
    expect(Object.is(ex.nearest!(-0.5), -0)).toBe(true);
    expect(Object.is(ex.min!(0, -0), -0)).toBe(true);
    expect(ex.min!(NaN, 1)).toBeNaN();
    expect(ex.add32!(16777216, 1)).toBe(16777216);
    // 2^64 - 1 rounds once, to 2^64, not twice through f64
    expect(ex.u64_to_f32!(-1n)).toBe(2 ** 64);
    expect(ex.u64_to_f32!(0x1000_0010_0000_0001n)).toBe(Math.fround(2 ** 60 + 2 ** 37));
    expect(Object.is(ex.copysign!(3, -0), -3)).toBe(true);
  });

  it('raises a RangeError on runaway recursion and stays usable afterwards', async () => {
    const ex = await exportsOf(`(module
      (func $down (export "down") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
          (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1)))))))
      (func $forever (export "forever") (call $forever)))`);
    expect(() => ex.forever!()).toThrow(RangeError);
    expect(ex.down!(5000)).toBe(5000);
    expect(() => ex.forever!()).toThrow(RangeError);
    expect(ex.down!(10)).toBe(10);
  });

  it('host exceptions unwind through the guest without corrupting the call depth', async () => {
    let calls = 0;
    const ex = await exportsOf(
      `(module
      (import "h" "boom" (func $boom))
      (func (export "run") (param i32) (if (local.get 0) (then (call $boom)))))`,
      {
        h: {
          boom: () => {
            calls++;
            throw new Error('host');
          },
        },
      },
    );
    for (let i = 0; i < 20_000; i++) expect(() => ex.run!(1)).toThrow('host');
    expect(calls).toBe(20_000);
    expect(ex.run!(0)).toBe(undefined);
  });

  it('runs under node --jitless, where WebAssembly does not exist', () => {
    const script = `
      import { emulator } from './runtime/engine/emulator/index.ts';
      const bytes = new Uint8Array([0,97,115,109,1,0,0,0,1,7,1,96,2,127,127,1,127,3,2,1,0,7,7,1,3,97,100,100,0,0,10,9,1,7,0,32,0,32,1,106,11]);
      const i = new emulator.Instance(new emulator.Module(bytes), {});
      console.log(typeof WebAssembly, i.exports.add(40, 2));
      try { (function f() { f(); })(); } catch {}
    `;
    const r = spawnSync(process.execPath, ['--jitless', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.stdout.trim()).toBe('undefined 42');
  });
});
