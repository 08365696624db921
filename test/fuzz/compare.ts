// Runs one generated module on V8 and the emulator, original and instrumented, and lists every way they disagree.

import { emulator } from '../../runtime/engine/emulator/index.ts';
import { instrument, SANDBOX_EXPORTS } from '../../runtime/module/instrument.ts';
import { rng } from '../support/rng.ts';
import { GLOBAL_EXPORTS, type FuzzFunc, type T } from './generate.ts';

type Namespace = typeof WebAssembly;
type Exports = Record<string, unknown>;
type Arg = number | bigint;

/** Fuel that no generated call can use up: instrumented runs with it must behave as the original. */
const AMPLE_FUEL = 1n << 40n;

/** What one call did, in a form every engine must agree on. */
interface Observation {
  outcome: string;
  memory: string;
  globals: string[];
  /** Instrumented runs only: remaining fuel, depth and flags after the call. */
  meter?: string[];
}

export interface Difference {
  call: number;
  fn: string;
  args: string;
  what: string;
  left: string;
  right: string;
}

export interface CompareResult {
  calls: number;
  traps: number;
  differences: Difference[];
}

/**
 * Trap messages differ in wording between V8 and the emulator (which uses the spec's); both map to these kinds.
 * An unknown message stays as it is, so a new kind shows up as a difference instead of being hidden.
 */
const TRAP_KINDS: [RegExp, string][] = [
  [/unreachable/, 'unreachable'],
  [/divide by zero|remainder by zero|integer divide by zero/, 'div-zero'],
  // V8 says "float unrepresentable" both for a NaN (the spec's "invalid conversion") and for a float out of range
  // (the spec's "integer overflow", also the message of INT_MIN / -1): one kind for all four.
  [/integer overflow|divide result unrepresentable|float unrepresentable|invalid conversion/, 'overflow'],
  [/memory access out of bounds|out of bounds memory access/, 'memory'],
  [/table index is out of bounds|out of bounds table access|undefined element/, 'table'],
  [/null function|uninitialized element|signature mismatch|indirect call type mismatch/, 'indirect'],
];

function trapKind(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  for (const [re, kind] of TRAP_KINDS) if (re.test(msg)) return kind;
  return `${e instanceof Error ? e.name : typeof e}: ${msg}`;
}

function show(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'bigint') return `${v}n`;
  return String(v);
}

/** FNV-1a over the whole memory, with its length. */
function digest(mem: WebAssembly.Memory): string {
  const b = new Uint8Array(mem.buffer);
  let h = 2166136261;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ (b[i] as number), 16777619);
  return `${b.length}:${(h >>> 0).toString(16)}`;
}

function observe(ns: Namespace, ex: Exports, name: string, args: Arg[], metered: boolean): Observation {
  let outcome: string;
  try {
    outcome = `value ${show((ex[name] as (...a: Arg[]) => unknown)(...args))}`;
  } catch (e) {
    if (!(e instanceof ns.RuntimeError) && !(e instanceof RangeError)) throw e;
    outcome = `trap ${trapKind(e)}`;
  }
  const obs: Observation = {
    outcome,
    memory: digest(ex['memory'] as WebAssembly.Memory),
    globals: GLOBAL_EXPORTS.map((g) => show((ex[g] as WebAssembly.Global).value)),
  };
  if (metered) {
    obs.meter = [SANDBOX_EXPORTS.fuel, SANDBOX_EXPORTS.depth, SANDBOX_EXPORTS.flags].map((g) => show((ex[g] as WebAssembly.Global).value));
  }
  return obs;
}

export function argFor(t: T, rnd: () => number): Arg {
  const r = rnd();
  switch (t) {
    case 'i32': return r < 0.3 ? [0, 1, -1, 2147483647, -2147483648, 0x3ff8][Math.floor(rnd() * 6)] as number : Math.floor(rnd() * 2 ** 32) | 0;
    case 'i64': return r < 0.3 ? [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n)][Math.floor(rnd() * 5)] as bigint : BigInt.asIntN(64, BigInt(Math.floor(rnd() * 2 ** 52)) * 4097n);
    case 'f32': return Math.fround(r < 0.2 ? [0, -0, NaN, Infinity, -Infinity][Math.floor(rnd() * 5)] as number : (rnd() - 0.5) * 2 ** Math.floor(rnd() * 70));
    case 'f64': return r < 0.2 ? [0, -0, NaN, -Infinity, 2 ** 63][Math.floor(rnd() * 5)] as number : (rnd() - 0.5) * 2 ** Math.floor(rnd() * 80);
  }
}

interface Run {
  label: string;
  ns: Namespace;
  ex: Exports;
  /** For instrumented runs: the fuel given before each call (a function of the call number). */
  fuel?: (call: number) => bigint;
}

function instantiate(ns: Namespace, bytes: Uint8Array): Exports {
  return new ns.Instance(new ns.Module(bytes as Uint8Array<ArrayBuffer>), {}).exports as Exports;
}

/**
 * Calls exported functions in a seeded order with seeded arguments on six instances: V8 and the emulator on the
 * original, on the instrumented module with ample fuel, and on the instrumented module with scarce fuel (out of
 * fuel part-way). Original and ample runs must agree on results, traps, memory and globals, the two ample runs
 * also on fuel; the two scarce runs on all of it.
 */
export function compareModule(bytes: Uint8Array, funcs: readonly FuzzFunc[], seed: number, calls: number): CompareResult {
  const V8 = WebAssembly;
  const EMU = emulator as unknown as Namespace;
  const metered = instrument(bytes, { fuel: true, stackDepth: true });
  const rnd = rng(seed ^ 0x5bd1e995);
  const scarce: bigint[] = Array.from({ length: calls }, () => BigInt(Math.floor(rnd() * 400)));
  const ample = () => AMPLE_FUEL;
  const scarceFuel = (c: number) => scarce[c] as bigint;
  const groups: Run[][] = [
    [
      { label: 'V8 original', ns: V8, ex: instantiate(V8, bytes) },
      { label: 'emulator original', ns: EMU, ex: instantiate(EMU, bytes) },
      { label: 'V8 instrumented', ns: V8, ex: instantiate(V8, metered), fuel: ample },
      { label: 'emulator instrumented', ns: EMU, ex: instantiate(EMU, metered), fuel: ample },
    ],
    [
      { label: 'V8 instrumented, scarce fuel', ns: V8, ex: instantiate(V8, metered), fuel: scarceFuel },
      { label: 'emulator instrumented, scarce fuel', ns: EMU, ex: instantiate(EMU, metered), fuel: scarceFuel },
    ],
  ];
  const differences: Difference[] = [];
  let traps = 0;
  for (let c = 0; c < calls; c++) {
    const i = Math.floor(rnd() * funcs.length);
    const f = funcs[i] as FuzzFunc;
    const args = f.params.map((t) => argFor(t, rnd));
    const fn = `f${i}`;
    for (const group of groups) {
      const seen = group.map((run) => {
        if (run.fuel) {
          (run.ex[SANDBOX_EXPORTS.fuel] as WebAssembly.Global).value = run.fuel(c);
          (run.ex[SANDBOX_EXPORTS.depth] as WebAssembly.Global).value = 1000;
          (run.ex[SANDBOX_EXPORTS.flags] as WebAssembly.Global).value = 0;
        }
        return observe(run.ns, run.ex, fn, args, run.fuel !== undefined);
      });
      if (group === groups[0] && (seen[0] as Observation).outcome.startsWith('trap')) traps++;
      const base = seen[0] as Observation;
      const baseRun = group[0] as Run;
      for (let k = 1; k < seen.length; k++) {
        const o = seen[k] as Observation;
        const run = group[k] as Run;
        const diff = (what: string, a: string, b: string, against = baseRun.label): void => {
          if (a !== b) differences.push({ call: c, fn, args: args.map(show).join(', '), what: `${what}: ${against} vs ${run.label}`, left: a, right: b });
        };
        diff('outcome', base.outcome, o.outcome);
        diff('memory', base.memory, o.memory);
        diff('globals', base.globals.join(' '), o.globals.join(' '));
        // Fuel is compared between the two instrumented runs of a pair only (the previous run of the group).
        const prev = seen[k - 1] as Observation;
        if (o.meter && prev.meter) diff('fuel, depth, flags', prev.meter.join(' '), o.meter.join(' '), (group[k - 1] as Run).label);
      }
    }
  }
  return { calls, traps, differences };
}
