// The feature allowlist: Wasm 2.0 is accepted and reported; proposals we cannot meter are refused by name.

import { describe, expect, it } from 'vitest';
import { ModuleError, instrument, instrumentWithReport } from '../../runtime/module/instrument.ts';
import { wat } from './module-harness.ts';

function refusal(bytes: Uint8Array, options = {}): ModuleError {
  try {
    instrument(bytes, options);
  } catch (e) {
    if (e instanceof ModuleError) return e;
    throw e;
  }
  throw new Error('instrument() accepted the module');
}

const REFUSED: Array<[string, string]> = [
  ['threads', `(module (memory 1 1 shared) (func (result i32) (i32.atomic.load (i32.const 0))))`],
  ['threads', `(module (memory 1 1) (func (result i32) (i32.atomic.load (i32.const 0))))`],
  ['exception-handling', `(module (tag $e) (func (throw $e)))`],
  ['exception-handling', `(module (func (block $h (try_table (catch_all $h) (nop)))))`],
  ['tail-call', `(module (func $f (result i32) (return_call $f)))`],
  ['memory64', `(module (memory i64 1))`],
  ['multi-memory', `(module (memory 1) (memory 1))`],
  ['gc', `(module (type $s (struct (field i32))))`],
  ['function-references', `(module (type $t (func)) (func (param (ref $t))))`],
  [
    'relaxed-simd',
    `(module (func (param v128 v128) (result v128) (i8x16.relaxed_swizzle (local.get 0) (local.get 1))))`,
  ],
  ['extended-const', `(module (global i32 (i32.add (i32.const 1) (i32.const 2))))`],
];

describe('feature allowlist', () => {
  for (const [feature, text] of REFUSED) {
    it(`refuses ${feature}: ${text.slice(9, 60)}`, async () => {
      const e = refusal(await wat(text));
      expect(e.code).toBe('UNSUPPORTED_FEATURE');
      expect(e.feature).toBe(feature);
      expect(e.message).toContain(feature);
    });
  }

  it('accepts and reports the Wasm 2.0 features', async () => {
    const bytes = await wat(`(module
      (import "m" "g" (global (mut i32)))
      (memory 1) (table 2 funcref) (table 2 externref)
      (data "x")
      (func (export "f") (param i32 externref) (result i32 i64)
        (local v128)
        (local.set 2 (i8x16.splat (local.get 0)))
        (memory.fill (i32.const 0) (i32.const 0) (i32.const 1))
        (drop (i32.trunc_sat_f32_s (f32.const 1)))
        (drop (i32.extend8_s (local.get 0)))
        (drop (table.grow 1 (local.get 1) (i32.const 1)))
        (i32x4.extract_lane 0 (local.get 2))
        (i64.const 1)))`);
    const { report } = instrumentWithReport(bytes);
    expect(report.features.sort()).toEqual(
      [
        'bulk-memory',
        'multi-value',
        'mutable-globals',
        'reference-types',
        'sat-float-to-int',
        'sign-ext',
        'simd',
      ].sort(),
    );
  });

  it('refuses a component', async () => {
    const component = Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00);
    const e = refusal(component, { validate: () => false });
    expect(e.feature).toBe('component-model');
  });
});

// a module with one global whose function reads global 1: past its own globals, where ours would be appended
const REACH_GET = Uint8Array.of(
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00,
  0x01,
  0x04,
  0x01,
  0x60,
  0x00,
  0x00, // type () -> ()
  0x03,
  0x02,
  0x01,
  0x00, // one function
  0x06,
  0x06,
  0x01,
  0x7f,
  0x01,
  0x41,
  0x00,
  0x0b, // global 0: mut i32 = 0
  0x0a,
  0x07,
  0x01,
  0x05,
  0x00,
  0x23,
  0x01,
  0x1a,
  0x0b, // global.get 1; drop
);
// the same, writing global 2 (where the flags would land)
const REACH_SET = Uint8Array.of(
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00,
  0x01,
  0x04,
  0x01,
  0x60,
  0x00,
  0x00,
  0x03,
  0x02,
  0x01,
  0x00,
  0x06,
  0x06,
  0x01,
  0x7f,
  0x01,
  0x41,
  0x00,
  0x0b,
  0x0a,
  0x08,
  0x01,
  0x06,
  0x00,
  0x41,
  0x00,
  0x24,
  0x02,
  0x0b, // i32.const 0; global.set 2
);
// one function that calls function 1: past its own functions (an instrumenter that appended functions would put one there)
const REACH_CALL = Uint8Array.of(
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00,
  0x01,
  0x04,
  0x01,
  0x60,
  0x00,
  0x00,
  0x03,
  0x02,
  0x01,
  0x00,
  0x0a,
  0x06,
  0x01,
  0x04,
  0x00,
  0x10,
  0x01,
  0x0b, // call 1
);

describe('validation before rewriting', () => {
  for (const [name, bytes] of [
    ['global.get', REACH_GET],
    ['global.set', REACH_SET],
    ['call', REACH_CALL],
  ] as const) {
    it(`refuses a module that reaches past its own index space with ${name}`, () => {
      expect(WebAssembly.validate(bytes)).toBe(false);
      expect(refusal(bytes).code).toBe('INVALID');
      // even a validator that lies does not let it through: the rewriter checks indices against the original
      expect(refusal(bytes, { validate: () => true }).code).toBe('INVALID');
      // and what we would have produced must never be the thing that makes it valid
    });
  }

  it('uses the validator it is given', async () => {
    const bytes = await wat(`(module (func))`);
    let called = 0;
    instrument(bytes, { validate: () => (called++, true) });
    expect(called).toBe(1);
    expect(refusal(bytes, { validate: () => false }).code).toBe('INVALID');
  });

  it('needs a validator when WebAssembly is absent', async () => {
    const bytes = await wat(`(module (func))`);
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebAssembly')!;
    Object.defineProperty(globalThis, 'WebAssembly', { value: undefined, configurable: true, writable: true });
    try {
      expect(refusal(bytes).code).toBe('VALIDATOR_UNAVAILABLE');
      expect(instrument(bytes, { validate: () => true }).length).toBeGreaterThan(bytes.length);
    } finally {
      Object.defineProperty(globalThis, 'WebAssembly', saved);
    }
  });

  it('refuses malformed bytes and a module instrumented twice', async () => {
    expect(refusal(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9)).code).toBe('MALFORMED');
    const once = instrument(await wat(`(module (func (export "f")))`));
    expect(refusal(once).code).toBe('RESERVED_NAME');
  });
});
