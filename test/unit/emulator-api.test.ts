// Unit tests: the emulator's namespace has the WebAssembly JS API's shape and conversions.

import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { emulator, validationError } from '../../runtime/engine/emulator/index.ts';

const W = emulator;
const wat = async (src: string): Promise<Uint8Array> => parse(src);

describe('emulator JS API', () => {
  it('exposes the namespace members of WebAssembly', () => {
    for (const k of [
      'Module',
      'Instance',
      'Memory',
      'Table',
      'Global',
      'CompileError',
      'LinkError',
      'RuntimeError',
      'validate',
      'compile',
      'instantiate',
    ]) {
      expect(typeof (W as Record<string, unknown>)[k], k).toBe('function');
    }
  });

  it('reports imports, exports and custom sections like V8', async () => {
    const bytes = await wat(`(module
      (import "env" "f" (func (param i32)))
      (import "env" "m" (memory 1))
      (import "env" "g" (global i64))
      (func (export "run"))
      (global (export "gg") (mut i32) (i32.const 1))
      (table (export "t") 2 funcref))`);
    const custom = new Uint8Array([...bytes, 0, 6, 4, 0x6e, 0x6f, 0x74, 0x65, 42]);
    const emu = new W.Module(custom);
    const v8 = new WebAssembly.Module(custom);
    expect(W.Module.imports(emu)).toEqual(WebAssembly.Module.imports(v8));
    expect(W.Module.exports(emu)).toEqual(WebAssembly.Module.exports(v8));
    const sections = W.Module.customSections(emu, 'note');
    expect(sections.map((s) => [...new Uint8Array(s)])).toEqual([[42]]);
  });

  it('instantiates with both overloads and converts values both ways (i64 as BigInt, multi-value as arrays)', async () => {
    const bytes = await wat(`(module
      (import "js" "twice" (func $twice (param i64) (result i64)))
      (import "js" "pair" (func $pair (result i32 f64)))
      (func (export "call") (param i64) (result i64) (call $twice (local.get 0)))
      (func (export "swap") (param i32 f32) (result f32 i32) local.get 1 local.get 0)
      (func (export "sum") (result f64) (local $x f64) (call $pair) (local.set $x) (f64.convert_i32_s) (local.get $x) (f64.add))
      (func (export "f32") (param f32) (result f32) local.get 0))`);
    const imports = { js: { twice: (x: bigint) => x * 2n, pair: () => [40, 2.5] } };
    const { module, instance } = await W.instantiate(bytes, imports);
    expect(module).toBeInstanceOf(W.Module);
    const again = await W.instantiate(module, imports);
    expect(again).toBeInstanceOf(W.Instance);
    const ex = instance.exports as Record<string, (...a: unknown[]) => unknown>;
    expect(ex.call!(-21n)).toBe(-42n);
    expect(ex.call!(2n ** 63n)).toBe(0n); // ToBigInt64 wraps
    expect(() => ex.call!(5)).toThrow(TypeError);
    expect(ex.swap!(7.9, 1.1)).toEqual([Math.fround(1.1), 7]);
    expect(ex.sum!()).toBe(42.5);
    expect(ex.f32!(0.1)).toBe(Math.fround(0.1));
    expect(ex.call!.length).toBe(1);
  });

  it('shares functions, memories, tables and globals between instances (spec register)', async () => {
    const a = new W.Instance(
      new W.Module(
        await wat(`(module
      (func (export "inc") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
      (memory (export "mem") 1 3)
      (table (export "tab") 2 funcref)
      (global (export "g") (mut i32) (i32.const 5))
      (elem (i32.const 0) 0))`),
      ),
      {},
    ).exports as Record<string, any>;
    const b = new W.Instance(
      new W.Module(
        await wat(`(module
      (import "a" "inc" (func $inc (param i32) (result i32)))
      (import "a" "mem" (memory 1))
      (import "a" "tab" (table 2 funcref))
      (import "a" "g" (global $g (mut i32)))
      (type $t (func (param i32) (result i32)))
      (func (export "run") (result i32)
        (i32.store (i32.const 8) (i32.const 99))
        (global.set $g (i32.add (global.get $g) (i32.const 1)))
        (drop (memory.grow (i32.const 1)))
        (call_indirect (type $t) (call $inc (i32.const 1)) (i32.const 0))))`),
      ),
      { a },
    ).exports as Record<string, any>;
    expect(b.run()).toBe(3);
    expect(new DataView(a.mem.buffer).getInt32(8, true)).toBe(99);
    expect(a.mem.buffer.byteLength).toBe(2 * 65536);
    expect(a.g.value).toBe(6);
    expect(a.tab.get(0)).toBe(a.inc);
    const wrongType = new W.Module(await wat('(module (import "a" "inc" (func (param i64))))'));
    expect(() => new W.Instance(wrongType, { a })).toThrow(W.LinkError);
  });

  it('Memory, Table and Global objects behave as in the JS API', () => {
    const m = new W.Memory({ initial: 1, maximum: 2 });
    const old = m.buffer;
    expect(m.grow(1)).toBe(1);
    expect(old.byteLength).toBe(0); // detached, as V8 does
    expect(() => m.grow(1)).toThrow(RangeError);
    const t = new W.Table({ element: 'anyfunc', initial: 1 });
    expect(t.get(0)).toBe(null);
    expect(t.grow(2)).toBe(1);
    expect(t.length).toBe(3);
    expect(() => t.set(0, () => 1)).toThrow(TypeError);
    const g = new W.Global({ value: 'i64', mutable: true }, 3n);
    g.value = 2n ** 64n + 1n;
    expect(g.value).toBe(1n);
    expect(() => {
      new W.Global({ value: 'i32' }, 1).value = 2;
    }).toThrow(TypeError);
  });

  it('validates, and explains why a module is rejected', async () => {
    expect(W.validate(await wat('(module (func (result i32) i32.const 1))'))).toBe(true);
    const bad = await wat('(module (func (result i32) i32.const 1))');
    const body = bad.lastIndexOf(0x41);
    bad[body] = 0x42; // i64.const where an i32 is returned
    expect(W.validate(bad)).toBe(false);
    expect(validationError(bad)).toMatch(/type mismatch/);
    expect(W.validate(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]))).toBe(false);
    await expect(W.compile(new Uint8Array([1, 2, 3]))).rejects.toBeInstanceOf(W.CompileError);
  });

  it('rejects SIMD modules with a CompileError naming the feature', async () => {
    const simd = await wat('(module (func (result i32) (v128.const i32x4 1 2 3 4) (i32x4.extract_lane 0)))');
    expect(() => new W.Module(simd)).toThrow(/SIMD is not supported by the emulator/);
    expect(() => new W.Module(simd)).toThrow(W.CompileError);
  });
});
