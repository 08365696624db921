// Differential test: random valid programs (seeded) must give the same results, traps, memory and fuel on V8 and the emulator.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { emulator } from '../../runtime/engine/emulator/index.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROGRAMS = 150;
const CALLS = 12;

type T = 'i32' | 'i64' | 'f32' | 'f64';
const TYPES: T[] = ['i32', 'i64', 'f32', 'f64'];

/** mulberry32: small, seedable, good enough to spread choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FLOATS = [
  '0',
  '-0',
  '1',
  '-1',
  '0.5',
  '-1.5',
  '2.5',
  '3.75',
  '1e10',
  '-1e10',
  '2147483648',
  '-2147483649',
  '4294967296',
  '9.2e18',
  '1.8e19',
  '3.4e38',
  '1e-40',
  'nan',
  'inf',
  '-inf',
  '123.456',
  '-0.4999',
  '0.5000001',
];
const INTS = [
  '0',
  '1',
  '-1',
  '2',
  '7',
  '31',
  '32',
  '63',
  '64',
  '255',
  '-2147483648',
  '2147483647',
  '65535',
  '4096',
  '65532',
  '100000',
];
const I64S = [
  '0',
  '1',
  '-1',
  '63',
  '64',
  '-9223372036854775808',
  '9223372036854775807',
  '4294967296',
  '-4294967297',
  '12345678901234',
];

const BIN: Record<T, string[]> = {
  i32: [
    'add',
    'sub',
    'mul',
    'div_s',
    'div_u',
    'rem_s',
    'rem_u',
    'and',
    'or',
    'xor',
    'shl',
    'shr_s',
    'shr_u',
    'rotl',
    'rotr',
  ],
  i64: [
    'add',
    'sub',
    'mul',
    'div_s',
    'div_u',
    'rem_s',
    'rem_u',
    'and',
    'or',
    'xor',
    'shl',
    'shr_s',
    'shr_u',
    'rotl',
    'rotr',
  ],
  f32: ['add', 'sub', 'mul', 'div', 'min', 'max', 'copysign'],
  f64: ['add', 'sub', 'mul', 'div', 'min', 'max', 'copysign'],
};
const UN: Record<T, string[]> = {
  i32: ['clz', 'ctz', 'popcnt', 'extend8_s', 'extend16_s'],
  i64: ['clz', 'ctz', 'popcnt', 'extend8_s', 'extend16_s', 'extend32_s'],
  f32: ['abs', 'neg', 'ceil', 'floor', 'trunc', 'nearest', 'sqrt'],
  f64: ['abs', 'neg', 'ceil', 'floor', 'trunc', 'nearest', 'sqrt'],
};
const CMP: Record<T, string[]> = {
  i32: ['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u'],
  i64: ['eq', 'ne', 'lt_s', 'lt_u', 'gt_s', 'gt_u', 'le_s', 'le_u', 'ge_s', 'ge_u'],
  f32: ['eq', 'ne', 'lt', 'gt', 'le', 'ge'],
  f64: ['eq', 'ne', 'lt', 'gt', 'le', 'ge'],
};
/** Conversions to each type: [op, source type]. */
const CONV: Record<T, [string, T][]> = {
  i32: [
    ['i32.wrap_i64', 'i64'],
    ['i32.trunc_f32_s', 'f32'],
    ['i32.trunc_f64_u', 'f64'],
    ['i32.trunc_sat_f64_s', 'f64'],
    ['i32.trunc_sat_f32_u', 'f32'],
    ['i32.reinterpret_f32', 'f32'],
    ['i64.eqz', 'i64'],
  ],
  i64: [
    ['i64.extend_i32_s', 'i32'],
    ['i64.extend_i32_u', 'i32'],
    ['i64.trunc_f64_s', 'f64'],
    ['i64.trunc_f32_u', 'f32'],
    ['i64.trunc_sat_f64_u', 'f64'],
    ['i64.trunc_sat_f32_s', 'f32'],
    ['i64.reinterpret_f64', 'f64'],
  ],
  f32: [
    ['f32.convert_i32_s', 'i32'],
    ['f32.convert_i64_u', 'i64'],
    ['f32.convert_i64_s', 'i64'],
    ['f32.demote_f64', 'f64'],
    ['f32.reinterpret_i32', 'i32'],
  ],
  f64: [
    ['f64.convert_i32_u', 'i32'],
    ['f64.convert_i64_s', 'i64'],
    ['f64.convert_i64_u', 'i64'],
    ['f64.promote_f32', 'f32'],
    ['f64.reinterpret_i64', 'i64'],
  ],
};
const LOADS: Record<T, string[]> = {
  i32: ['i32.load', 'i32.load8_s', 'i32.load8_u', 'i32.load16_s', 'i32.load16_u'],
  i64: ['i64.load', 'i64.load8_u', 'i64.load16_s', 'i64.load32_s', 'i64.load32_u'],
  f32: ['f32.load'],
  f64: ['f64.load'],
};
const STORES: Record<T, string[]> = {
  i32: ['i32.store', 'i32.store8', 'i32.store16'],
  i64: ['i64.store', 'i64.store8', 'i64.store16', 'i64.store32'],
  f32: ['f32.store'],
  f64: ['f64.store'],
};

interface Fn {
  params: T[];
  result: T;
}

/** Builds one module: helper functions (each may call earlier ones), a table for call_indirect, memory, globals. */
function generate(seed: number): { wat: string; fns: Fn[] } {
  const rnd = prng(seed);
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rnd() * xs.length)] as X;
  const fns: Fn[] = [];
  const bodies: string[] = [];
  const nfn = 3 + Math.floor(rnd() * 4);
  for (let f = 0; f < nfn; f++) {
    const params = Array.from({ length: Math.floor(rnd() * 4) }, () => pick(TYPES));
    const result = pick(TYPES);
    const locals: T[] = [...params, ...TYPES];
    let budget = 60;
    let loops = 0;
    const address = (): string => {
      if (rnd() < 0.05) return `(i32.const ${pick(['65533', '65536', '-1', '70000'])})`;
      return `(i32.and ${expr('i32', 2)} (i32.const 0x3ff8))`;
    };
    const expr = (t: T, depth: number): string => {
      budget--;
      const r = rnd();
      if (depth <= 0 || budget <= 0 || r < 0.15) {
        const k = rnd();
        if (k < 0.4) {
          const idx = locals.map((lt, i) => (lt === t ? i : -1)).filter((i) => i >= 0);
          return `(local.get ${pick(idx)})`;
        }
        if (k < 0.5) return `(global.get $g_${t})`;
        if (t === 'i32') return `(i32.const ${pick(INTS)})`;
        if (t === 'i64') return `(i64.const ${pick(I64S)})`;
        return `(${t}.const ${pick(FLOATS)})`;
      }
      const d = depth - 1;
      if (r < 0.45) return `(${t}.${pick(BIN[t])} ${expr(t, d)} ${expr(t, d)})`;
      if (r < 0.55) return `(${t}.${pick(UN[t])} ${expr(t, d)})`;
      if (r < 0.62) {
        if (t !== 'i32') return `(${t}.${pick(UN[t])} ${expr(t, d)})`;
        const s = pick(TYPES);
        return `(${s}.${pick(CMP[s])} ${expr(s, d)} ${expr(s, d)})`;
      }
      if (r < 0.7) {
        const [op, from] = pick(CONV[t]);
        if (op.includes('reinterpret') && (from === 'f32' || from === 'f64'))
          return `(${op} ${scrub(from, expr(from, d))})`;
        return `(${op} ${expr(from, d)})`;
      }
      if (r < 0.76) return `(${pick(LOADS[t])} offset=${pick(['0', '4', '16'])} ${address()})`;
      if (r < 0.8) return `(if (result ${t}) ${expr('i32', d)} (then ${expr(t, d)}) (else ${expr(t, d)}))`;
      if (r < 0.83) return `(select ${expr(t, d)} ${expr(t, d)} ${expr('i32', d)})`;
      if (r < 0.86) {
        return `(block $b (result ${t}) (drop (br_if $b ${expr(t, d)} ${expr('i32', d)})) ${expr(t, d)})`;
      }
      if (r < 0.9) {
        const s = pick(TYPES);
        return `(block (result ${t}) ${stmt(s, d)} ${expr(t, d)})`;
      }
      if (r < 0.94 && f > 0) {
        const callee = Math.floor(rnd() * f);
        const c = fns[callee] as Fn;
        const args = c.params.map((p) => expr(p, d)).join(' ');
        const call =
          rnd() < 0.7
            ? `(call $f${callee} ${args})`
            : `(call_indirect (type $t${callee}) ${args} (i32.rem_u ${expr('i32', 1)} (i32.const ${f + 1})))`;
        return c.result === t ? call : convertFrom(c.result, t, call);
      }
      if (r < 0.97) {
        // A bounded loop accumulating into a local.
        // Each loop has its own counter, so nested loops cannot reset each other.
        const acc = params.length + TYPES.indexOf(t);
        const n = `$n${loops++}`;
        return `(block (result ${t}) (local.set ${n} (i32.const ${1 + Math.floor(rnd() * 20)}))
          (loop $l ${stmt(pick(TYPES), d)} (local.set ${acc} ${expr(t, d)})
            (br_if $l (local.tee ${n} (i32.sub (local.get ${n}) (i32.const 1)))))
          (local.get ${acc}))`;
      }
      return `(${t}.${pick(BIN[t])} ${expr(t, d)} ${expr(t, d)})`;
    };
    // The bits of a NaN made by arithmetic are nondeterministic in the spec (V8 makes x86's negative NaN), so
    // floats are turned into 0 when NaN before their bits become observable (stores, reinterpretations).
    const scrub = (t: T, e: string): string =>
      `(block (result ${t}) (local.set $tmp_${t} ${e}) (select (local.get $tmp_${t}) (${t}.const 0) (${t}.eq (local.get $tmp_${t}) (local.get $tmp_${t}))))`;
    const stmt = (t: T, depth: number): string => {
      const r = rnd();
      if (r < 0.4) {
        const v = t === 'f32' || t === 'f64' ? scrub(t, expr(t, depth)) : expr(t, depth);
        return `(${pick(STORES[t])} offset=${pick(['0', '8'])} ${address()} ${v})`;
      }
      if (r < 0.7) return `(global.set $g_${t} ${expr(t, depth)})`;
      const idx = locals.map((lt, i) => (lt === t ? i : -1)).filter((i) => i >= params.length);
      return `(local.set ${pick(idx)} ${expr(t, depth)})`;
    };
    const code = `${stmt(pick(TYPES), 3)}\n    ${expr(result, 5)}`;
    const counters = Array.from({ length: loops }, (_, k) => `(local $n${k} i32)`).join(' ');
    const body = `(func $f${f} (type $t${f}) (local i32 i64 f32 f64) (local $tmp_f32 f32) (local $tmp_f64 f64) ${counters}\n    ${code})`;
    fns.push({ params, result });
    bodies.push(body);
  }
  const types = fns.map((fn, i) => `(type $t${i} (func (param ${fn.params.join(' ')}) (result ${fn.result})))`);
  const exports = fns.map((_, i) => `(export "f${i}" (func $f${i}))`);
  const wat = `(module
  ${types.join('\n  ')}
  (memory (export "memory") 1)
  (global $g_i32 (export "g_i32") (mut i32) (i32.const 7))
  (global $g_i64 (export "g_i64") (mut i64) (i64.const -3))
  (global $g_f32 (export "g_f32") (mut f32) (f32.const 1.5))
  (global $g_f64 (export "g_f64") (mut f64) (f64.const -2.25))
  (table ${fns.length} funcref)
  (elem (i32.const 0) ${fns.map((_, i) => `$f${i}`).join(' ')})
  (data (i32.const 0) "\\01\\02\\03\\04\\ff\\fe\\80\\7f\\00\\00\\c0\\7f\\00\\00\\f8\\ff")
  ${bodies.join('\n  ')}
  ${exports.join('\n  ')}
)`;
  return { wat, fns };
}

function convertFrom(from: T, to: T, e: string): string {
  const table: Record<string, string> = {
    'i32>i64': 'i64.extend_i32_s',
    'i32>f32': 'f32.convert_i32_s',
    'i32>f64': 'f64.convert_i32_s',
    'i64>i32': 'i32.wrap_i64',
    'i64>f32': 'f32.convert_i64_s',
    'i64>f64': 'f64.convert_i64_s',
    'f32>i32': 'i32.trunc_sat_f32_s',
    'f32>i64': 'i64.trunc_sat_f32_s',
    'f32>f64': 'f64.promote_f32',
    'f64>i32': 'i32.trunc_sat_f64_s',
    'f64>i64': 'i64.trunc_sat_f64_s',
    'f64>f32': 'f32.demote_f64',
  };
  return `(${table[`${from}>${to}`]} ${e})`;
}

function argFor(t: T, rnd: () => number): number | bigint {
  const r = rnd();
  switch (t) {
    case 'i32':
      return r < 0.3
        ? ([0, 1, -1, 2147483647, -2147483648][Math.floor(rnd() * 5)] as number)
        : Math.floor(rnd() * 2 ** 32) | 0;
    case 'i64':
      return r < 0.3
        ? ([0n, 1n, -1n, 2n ** 63n - 1n][Math.floor(rnd() * 4)] as bigint)
        : BigInt.asIntN(64, BigInt(Math.floor(rnd() * 2 ** 52)) * 4097n);
    case 'f32':
      return Math.fround(
        r < 0.2
          ? ([0, -0, NaN, Infinity][Math.floor(rnd() * 4)] as number)
          : (rnd() - 0.5) * 2 ** Math.floor(rnd() * 70),
      );
    case 'f64':
      return r < 0.2
        ? ([0, -0, NaN, -Infinity][Math.floor(rnd() * 4)] as number)
        : (rnd() - 0.5) * 2 ** Math.floor(rnd() * 80);
  }
}

type Outcome = { value: unknown } | { trap: string };

/** What a call did, in a form both engines must agree on (NaNs are equal to each other, whatever their payload). */
function outcome(ns: typeof WebAssembly, fn: (...a: unknown[]) => unknown, args: unknown[]): Outcome {
  try {
    const v = fn(...args);
    return {
      value: typeof v === 'number' && Number.isNaN(v) ? 'NaN' : typeof v === 'number' && Object.is(v, -0) ? '-0' : v,
    };
  } catch (e) {
    if (e instanceof ns.RuntimeError) return { trap: 'RuntimeError' };
    if (e instanceof RangeError) return { trap: 'RangeError' };
    throw e;
  }
}

function digest(mem: WebAssembly.Memory): string {
  const b = new Uint8Array(mem.buffer, 0, 0x4100);
  let h = 2166136261;
  for (const x of b) h = Math.imul(h ^ x, 16777619);
  return (h >>> 0).toString(16);
}

type Instrument = (
  bytes: Uint8Array,
  options: { fuel: boolean; stackDepth: boolean; validate?: (b: Uint8Array) => boolean },
) => Uint8Array;

async function loadInstrument(): Promise<Instrument | undefined> {
  const file = path.join(repoRoot, 'runtime', 'module', 'instrument.ts');
  if (!existsSync(file)) return undefined;
  const mod = (await import(file)) as { instrument?: Instrument };
  return mod.instrument;
}

const tally = { values: 0, traps: 0 };

function compare(bytes: Uint8Array, fns: Fn[], seed: number, fuel: bigint | undefined): number {
  const rnd = prng(seed ^ 0x5bd1e995);
  const engines = [WebAssembly, emulator as unknown as typeof WebAssembly];
  const instances = engines.map(
    (ns) => new ns.Instance(new ns.Module(bytes as BufferSource), {}).exports as Record<string, any>,
  );
  let checked = 0;
  for (let c = 0; c < CALLS; c++) {
    const i = Math.floor(rnd() * fns.length);
    const fn = fns[i] as Fn;
    const args = fn.params.map((t) => argFor(t, rnd));
    const fuelBudget = fuel === undefined ? undefined : rnd() < 0.3 ? BigInt(Math.floor(rnd() * 200)) : fuel;
    const results = instances.map((ex, k) => {
      if (fuelBudget !== undefined) {
        ex.__sandbox_fuel.value = fuelBudget;
        ex.__sandbox_depth.value = 500;
      }
      const o = outcome(engines[k] as typeof WebAssembly, ex[`f${i}`], args);
      return {
        o,
        memory: digest(ex.memory),
        globals: ['g_i32', 'g_i64', 'g_f32', 'g_f64'].map((g) => String(ex[g].value)),
        fuel: fuelBudget === undefined ? undefined : String(ex.__sandbox_fuel.value),
      };
    });
    const [v8, emu] = results;
    if (v8 && 'trap' in v8.o) tally.traps++;
    else tally.values++;
    expect(emu, `seed ${seed} call ${c}: f${i}(${args.map(String).join(', ')})`).toEqual(v8);
    checked++;
  }
  return checked;
}

describe('differential: V8 and the emulator agree on random programs', () => {
  it(`runs ${PROGRAMS} generated programs with the same results, traps, memory and globals`, async () => {
    let calls = 0;
    for (let seed = 1; seed <= PROGRAMS; seed++) {
      const { wat, fns } = generate(seed);
      const bytes = await parse(wat);
      expect(emulator.validate(bytes)).toBe(true);
      calls += compare(bytes, fns, seed, undefined);
    }
    expect(calls).toBe(PROGRAMS * CALLS);
    // The generator must exercise both paths, or the comparison proves little.
    expect(tally.traps).toBeGreaterThan(PROGRAMS);
    expect(tally.values).toBeGreaterThan(PROGRAMS * 3);
  }, 120_000);

  it('agrees on fuel and out-of-fuel traps for instrumented programs (when the instrumenter exists)', async (ctx) => {
    const instrument = await loadInstrument();
    if (!instrument) {
      ctx.skip();
      return;
    }
    let calls = 0;
    for (let seed = 1; seed <= PROGRAMS; seed++) {
      const { wat, fns } = generate(seed);
      const bytes = instrument(await parse(wat), { fuel: true, stackDepth: true });
      calls += compare(bytes, fns, seed, 1_000_000n);
    }
    expect(calls).toBe(PROGRAMS * CALLS);
  }, 120_000);
});
