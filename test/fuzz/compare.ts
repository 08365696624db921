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
export interface Observation {
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
    // A kept finding may have fewer globals than the generator makes today.
    globals: GLOBAL_EXPORTS.map((g) => (ex[g] === undefined ? '-' : show((ex[g] as WebAssembly.Global).value))),
  };
  if (metered) {
    obs.meter = [SANDBOX_EXPORTS.fuel, SANDBOX_EXPORTS.depth, SANDBOX_EXPORTS.flags].map((g) =>
      show((ex[g] as WebAssembly.Global).value),
    );
  }
  return obs;
}

export function argFor(t: T, rnd: () => number): Arg {
  const r = rnd();
  switch (t) {
    case 'i32':
      return r < 0.3
        ? ([0, 1, -1, 2147483647, -2147483648, 0x3ff8][Math.floor(rnd() * 6)] as number)
        : Math.floor(rnd() * 2 ** 32) | 0;
    case 'i64':
      return r < 0.3
        ? ([0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n)][Math.floor(rnd() * 5)] as bigint)
        : BigInt.asIntN(64, BigInt(Math.floor(rnd() * 2 ** 52)) * 4097n);
    case 'f32':
      return Math.fround(
        r < 0.2
          ? ([0, -0, NaN, Infinity, -Infinity][Math.floor(rnd() * 5)] as number)
          : (rnd() - 0.5) * 2 ** Math.floor(rnd() * 70),
      );
    case 'f64':
      return r < 0.2
        ? ([0, -0, NaN, -Infinity, 2 ** 63][Math.floor(rnd() * 5)] as number)
        : (rnd() - 0.5) * 2 ** Math.floor(rnd() * 80);
  }
}

function instantiate(ns: Namespace, bytes: Uint8Array): Exports {
  return new ns.Instance(new ns.Module(bytes as Uint8Array<ArrayBuffer>), {}).exports as Exports;
}

/** One call as one engine saw it, on its three instances. */
export interface CallObservations {
  fn: string;
  args: string;
  original: Observation;
  /** Instrumented, with fuel no call can use up. */
  ample: Observation;
  /** Instrumented, with 0-400 fuel per call: most calls stop part-way. */
  scarce: Observation;
}

/**
 * Calls exported functions in a seeded order with seeded arguments on three instances of one engine: the
 * original module, the instrumented one with ample fuel and the instrumented one with scarce fuel. The plan
 * depends only on the seed, so another engine (or another process, under --jitless) makes the same calls.
 */
export function observeEngine(
  ns: Namespace,
  bytes: Uint8Array,
  metered: Uint8Array,
  funcs: readonly FuzzFunc[],
  seed: number,
  calls: number,
): CallObservations[] {
  const rnd = rng(seed ^ 0x5bd1e995);
  const scarce: bigint[] = Array.from({ length: calls }, () => BigInt(Math.floor(rnd() * 400)));
  const original = instantiate(ns, bytes);
  const ample = instantiate(ns, metered);
  const scant = instantiate(ns, metered);
  const give = (ex: Exports, fuel: bigint): void => {
    (ex[SANDBOX_EXPORTS.fuel] as WebAssembly.Global).value = fuel;
    (ex[SANDBOX_EXPORTS.depth] as WebAssembly.Global).value = 1000;
    (ex[SANDBOX_EXPORTS.flags] as WebAssembly.Global).value = 0;
  };
  const out: CallObservations[] = [];
  for (let c = 0; c < calls; c++) {
    const i = Math.floor(rnd() * funcs.length);
    const f = funcs[i] as FuzzFunc;
    const args = f.params.map((t) => argFor(t, rnd));
    const fn = `f${i}`;
    const o = observe(ns, original, fn, args, false);
    give(ample, AMPLE_FUEL);
    const a = observe(ns, ample, fn, args, true);
    give(scant, scarce[c] as bigint);
    const s = observe(ns, scant, fn, args, true);
    out.push({ fn, args: args.map(show).join(', '), original: o, ample: a, scarce: s });
  }
  return out;
}

/**
 * Every way two engines' observations of the same plan disagree: original runs with each other and with the
 * ample instrumented runs (results, traps, memory, globals), the ample runs also on fuel, depth and flags, the
 * scarce runs on all of it.
 */
export function diffObservations(
  v8: readonly CallObservations[],
  emu: readonly CallObservations[],
  emuLabel = 'emulator',
): Difference[] {
  const differences: Difference[] = [];
  v8.forEach((left, c) => {
    const right = emu[c] as CallObservations;
    const diff = (what: string, a: string, b: string): void => {
      if (a !== b) differences.push({ call: c, fn: left.fn, args: left.args, what, left: a, right: b });
    };
    const state = (o: Observation): string[] => [o.outcome, o.memory, o.globals.join(' ')];
    const pairs: [string, Observation, Observation][] = [
      [`V8 original vs ${emuLabel} original`, left.original, right.original],
      ['V8 original vs V8 instrumented', left.original, left.ample],
      [`${emuLabel} original vs ${emuLabel} instrumented`, right.original, right.ample],
    ];
    for (const [what, a, b] of pairs) {
      const [ao, am, ag] = state(a);
      const [bo, bm, bg] = state(b);
      diff(`outcome: ${what}`, ao as string, bo as string);
      diff(`memory: ${what}`, am as string, bm as string);
      diff(`globals: ${what}`, ag as string, bg as string);
    }
    diff(
      `fuel, depth, flags: V8 vs ${emuLabel} instrumented`,
      (left.ample.meter ?? []).join(' '),
      (right.ample.meter ?? []).join(' '),
    );
    diff(
      `scarce fuel: V8 vs ${emuLabel} instrumented`,
      [...state(left.scarce), ...(left.scarce.meter ?? [])].join(' | '),
      [...state(right.scarce), ...(right.scarce.meter ?? [])].join(' | '),
    );
  });
  return differences;
}

/** Instruments a generated module the way the comparison expects (fuel and depth metering). */
export function meteredModule(bytes: Uint8Array, validate?: (b: Uint8Array) => boolean): Uint8Array {
  return instrument(bytes, validate ? { fuel: true, stackDepth: true, validate } : { fuel: true, stackDepth: true });
}

/** V8 against the emulator in this process, original and instrumented (see observeEngine and diffObservations). */
export function compareModule(
  bytes: Uint8Array,
  funcs: readonly FuzzFunc[],
  seed: number,
  calls: number,
): CompareResult {
  const metered = meteredModule(bytes);
  const v8 = observeEngine(WebAssembly, bytes, metered, funcs, seed, calls);
  const emu = observeEngine(emulator as unknown as Namespace, bytes, metered, funcs, seed, calls);
  return {
    calls,
    traps: v8.filter((o) => o.original.outcome.startsWith('trap')).length,
    differences: diffObservations(v8, emu),
  };
}
