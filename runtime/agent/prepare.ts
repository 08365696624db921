// Turns an agent's bytes into the module that actually runs: metered for fuel and stack depth, memory clamped.
import { instrumentWithReport, ModuleError, type InstrumentOptions } from '../module/instrument.ts';
import type { WasmNamespace } from '../engine/namespace.ts';
import { InvalidModule } from './outcome.ts';
import type { Limits } from './types.ts';

export const PAGE_BYTES = 65536;

export function instrumentOptions(limits: Limits, reset = false): InstrumentOptions {
  return {
    exportGlobals: reset,
    fuel: limits.fuel > 0,
    stackDepth: limits.stackDepth > 0,
    memoryMaxPages: Math.floor(limits.memoryBytes / PAGE_BYTES),
    tableMaxElements: limits.tableElements,
  };
}

/** The part of the limits that changes the prepared bytes: with the content hash, the compile cache key. */
export function preparationKey(hash: string, limits: Limits, reset: boolean): string {
  const o = instrumentOptions(limits, reset);
  return `${hash}:f${o.fuel ? 1 : 0}s${o.stackDepth ? 1 : 0}m${o.memoryMaxPages}t${o.tableMaxElements}g${o.exportGlobals ? 1 : 0}`;
}

export function prepareModule(bytes: Uint8Array, limits: Limits, wa: WasmNamespace, reset = false): Uint8Array {
  return prepareModuleWithFacts(bytes, limits, wa, reset).bytes;
}

/**
 * Like prepareModule, and tells whether the module can change state that a snapshot of memory and globals does not
 * hold (tables, dropped segments): such an agent cannot be reset or hibernated by restoring a snapshot.
 */
export function prepareModuleWithFacts(
  bytes: Uint8Array,
  limits: Limits,
  wa: WasmNamespace,
  reset = false,
): { bytes: Uint8Array; untrackedState: boolean } {
  try {
    const { bytes: prepared, report } = instrumentWithReport(bytes, {
      ...instrumentOptions(limits, reset),
      validate: (b: Uint8Array) => wa.validate(b as Uint8Array<ArrayBuffer>),
    });
    return { bytes: prepared, untrackedState: report.untrackedStateSites > 0 };
  } catch (error) {
    if (!(error instanceof ModuleError)) throw error;
    if (error.code === 'INVALID')
      throw new InvalidModule(`not a valid WebAssembly module: ${compileErrorOf(bytes, wa) ?? error.message}`);
    throw new InvalidModule(error.message);
  }
}

/** The engine's own words for why a module does not compile: more precise than "does not validate". */
function compileErrorOf(bytes: Uint8Array, wa: WasmNamespace): string | undefined {
  try {
    new wa.Module(bytes as Uint8Array<ArrayBuffer>);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
