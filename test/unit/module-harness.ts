// Test harness for the instrumenter: WAT to bytes, and running an instrumented module the way a host does.

import { parse } from '@bytecodealliance/jco';
import { SANDBOX_EXPORTS, SANDBOX_FLAGS, instrument } from '../../runtime/module/instrument.ts';
import type { InstrumentOptions } from '../../runtime/module/instrument.ts';

export async function wat(text: string): Promise<Uint8Array> {
  return (await parse(text)) as Uint8Array;
}

export interface Metered {
  instance: WebAssembly.Instance;
  exports: Record<string, unknown>;
  /** Runs `fn` the way the host does: set fuel, depth and flags, call, classify. */
  run(fn: string, args?: unknown[], limits?: { fuel?: number; depth?: number }): MeteredRun;
}

export interface MeteredRun {
  status: 'ok' | 'out-of-fuel' | 'stack-overflow' | 'trap';
  result?: unknown;
  error?: unknown;
  fuelUsed: number;
  flags: number;
  remaining: bigint;
}

export function load(bytes: Uint8Array, options?: InstrumentOptions, imports: WebAssembly.Imports = {}): Metered {
  const metered = instrument(bytes, options);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(metered), imports);
  const exports = instance.exports as Record<string, unknown>;
  const g = (name: string): WebAssembly.Global => exports[name] as WebAssembly.Global;
  return {
    instance,
    exports,
    run(fn, args = [], limits = {}) {
      const limit = limits.fuel ?? 1e9;
      g(SANDBOX_EXPORTS.fuel).value = BigInt(limit);
      g(SANDBOX_EXPORTS.depth).value = limits.depth ?? 10_000;
      g(SANDBOX_EXPORTS.flags).value = 0;
      let result: unknown;
      let error: unknown;
      let threw = false;
      try {
        result = (exports[fn] as (...a: unknown[]) => unknown)(...args);
      } catch (e) {
        threw = true;
        error = e;
      }
      const remaining = g(SANDBOX_EXPORTS.fuel).value as bigint;
      const flags = g(SANDBOX_EXPORTS.flags).value as number;
      const used = BigInt(limit) - remaining;
      const fuelUsed = Number(used > BigInt(limit) ? BigInt(limit) : used);
      let status: MeteredRun['status'];
      if (flags & SANDBOX_FLAGS.outOfFuel) status = 'out-of-fuel';
      else if (flags & SANDBOX_FLAGS.stackOverflow) status = 'stack-overflow';
      else if (threw) status = 'trap';
      // the counter is only checked at entries and loop headers: a run that ends below zero also ran out
      else status = remaining < 0n ? 'out-of-fuel' : 'ok';
      const out: MeteredRun = { status, fuelUsed, flags, remaining };
      if (threw) out.error = error;
      else out.result = result;
      return out;
    },
  };
}
