// Public entry: validate a module, refuse what we cannot meter, and rewrite it with fuel, depth and memory limits.

import { Reader, Writer } from './bytes.ts';
import { decodeModule, ExternKind, readLimits, SectionId, sectionRank } from './decode.ts';
import type { FuncType, ModuleInfo } from './decode.ts';
import { ModuleError, isModuleError } from './errors.ts';
import { featureNames } from './features.ts';
import { BodyMeter, FLAG_GROW_FAILED, FLAG_OUT_OF_FUEL, FLAG_STACK } from './meter.ts';
import type { MeterConfig, MeterCounters } from './meter.ts';
import { isNumeric, MAX_STATE_GLOBALS, STATE_GLOBAL_EXPORTS, stateGlobalFunctions } from './state-globals.ts';

export { ModuleError, isModuleError } from './errors.ts';
export type { ModuleErrorCode } from './errors.ts';

/** Names the instrumented module exports; the host drives the meter through them. */
export const SANDBOX_EXPORTS = {
  /** mutable i64: remaining fuel. Set before a run; fuel used = before - after. */
  fuel: '__sandbox_fuel',
  /** mutable i32: remaining call depth. Set before every call into the guest. */
  depth: '__sandbox_depth',
  /** mutable i32: why the guest stopped; zero it before a run (see SANDBOX_FLAGS). */
  flags: '__sandbox_flags',
  /** the module's start function, removed from the start section; call it after setting fuel. */
  start: '__sandbox_start',
  /**
   * with `exportGlobals`: prefix of the mutable globals exported as Globals, followed by the global's index: the
   * reference-typed ones (numeric ones are read and written through functions, see module/state-globals.ts), or all
   * of them in a module without code.
   */
  globalPrefix: '__sandbox_global_',
} as const;

/** Bits of `__sandbox_flags`. */
export const SANDBOX_FLAGS = {
  outOfFuel: FLAG_OUT_OF_FUEL,
  stackOverflow: FLAG_STACK,
  memoryGrowFailed: FLAG_GROW_FAILED,
} as const;

export const WASM_PAGE_BYTES = 65536;

export interface InstrumentOptions {
  /** Meter instructions (default true). */
  fuel?: boolean;
  /** Count call depth (default true). */
  stackDepth?: boolean;
  /** Clamp every defined memory's maximum to this many 64 KiB pages; a minimum above it is MEMORY_LIMIT. */
  memoryMaxPages?: number;
  /**
   * Clamp every defined table's maximum to this many elements; a minimum above it is TABLE_LIMIT. Table
   * elements live on the engine's heap, outside the memory cap, and growing a table by millions of entries
   * takes seconds before `table.grow` (charged on success) could be metered.
   */
  tableMaxElements?: number;
  /**
   * Make every defined mutable global readable and writable by the host, so it can snapshot and restore an
   * instance's whole state (memory + globals) without instantiating again: numeric ones through three added
   * functions (module/state-globals.ts), reference-typed ones exported as `__sandbox_global_<index>`.
   */
  exportGlobals?: boolean;
  /**
   * Validates the original module. Defaults to `WebAssembly.validate`; pass one (the emulator's) where
   * `WebAssembly` does not exist. Without either, instrument() throws VALIDATOR_UNAVAILABLE.
   */
  validate?: (bytes: Uint8Array) => boolean;
  /**
   * Initial value of `__sandbox_fuel` (default 0: nothing runs until the host gives fuel). Only for
   * embeddings that cannot set the global before every call, e.g. a function that escapes through a shared
   * table from an instance that failed to instantiate.
   */
  initialFuel?: bigint;
  /** Initial value of `__sandbox_depth` (default 0). */
  initialDepth?: number;
}

export interface InstrumentReport {
  bytesIn: number;
  bytesOut: number;
  fuel: boolean;
  stackDepth: boolean;
  /** Defined functions rewritten (imports are not metered: the host charges for its own work). */
  functions: number;
  importedFunctions: number;
  /** Fuel charges inserted (one per straight-line stretch that costs something, plus entry and loop checks). */
  charges: number;
  loopChecks: number;
  callSites: number;
  returnSites: number;
  /** memory.fill/copy/init and table.fill/copy/init/grow sites charged by length. */
  bulkSites: number;
  memoryGrowSites: number;
  /** table.set/grow/fill/copy/init, data.drop, elem.drop, and mutable v128 globals: state a snapshot of memory and globals misses. */
  untrackedStateSites: number;
  /** Wasm 2.0 features the module uses. */
  features: string[];
  /** Index of the start function now exported as __sandbox_start, or null. */
  startFunction: number | null;
  memory: { minPages: number; maxPagesBefore: number | null; maxPagesAfter: number | null } | null;
  exports: typeof SANDBOX_EXPORTS;
  /** Instrumentation time, milliseconds (validation included). */
  ms: number;
}

export function instrument(bytes: Uint8Array, options?: InstrumentOptions): Uint8Array<ArrayBuffer> {
  return instrumentWithReport(bytes, options).bytes;
}

export function instrumentWithReport(
  bytes: Uint8Array,
  options: InstrumentOptions = {},
): { bytes: Uint8Array<ArrayBuffer>; report: InstrumentReport } {
  const t0 = performance.now();
  const validate = options.validate ?? defaultValidator();
  if (validate === null) {
    throw new ModuleError(
      'VALIDATOR_UNAVAILABLE',
      'no WebAssembly.validate in this runtime and no validate option was given; the module cannot be checked before rewriting',
    );
  }
  if (
    options.memoryMaxPages !== undefined &&
    (!Number.isInteger(options.memoryMaxPages) || options.memoryMaxPages < 0 || options.memoryMaxPages > 65536)
  ) {
    throw new RangeError(`memoryMaxPages must be an integer in [0, 65536], got ${options.memoryMaxPages}`);
  }
  let valid: boolean;
  try {
    valid = validate(bytes);
  } catch (cause) {
    throw new ModuleError('INVALID', 'the validator threw', { cause });
  }
  if (!valid) {
    // Name the feature when that is why the module is refused (V8 may not know GC or memory64 either).
    try {
      rewrite(bytes, options);
    } catch (e) {
      if (isModuleError(e, 'UNSUPPORTED_FEATURE') || isModuleError(e, 'MALFORMED')) throw e;
    }
    throw new ModuleError('INVALID', 'the module does not validate');
  }
  const result = rewrite(bytes, options);
  result.report.ms = performance.now() - t0;
  return result;
}

function defaultValidator(): ((bytes: Uint8Array) => boolean) | null {
  const wasm = (globalThis as { WebAssembly?: { validate?: (b: Uint8Array) => boolean } }).WebAssembly;
  const v = wasm?.validate;
  return typeof v === 'function' ? (b) => v.call(wasm, b) : null;
}

function encodeType(t: FuncType): string {
  return `${t.params.join(',')}>${t.results.join(',')}`;
}

function rewrite(
  input: Uint8Array,
  options: InstrumentOptions,
): { bytes: Uint8Array<ArrayBuffer>; report: InstrumentReport } {
  // a plain view: subarray() on a Node Buffer is much slower than on a Uint8Array
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const fuel = options.fuel ?? true;
  const depth = options.stackDepth ?? true;
  const info = decodeModule(bytes);
  for (const e of info.exports) {
    if (
      Object.values(SANDBOX_EXPORTS).includes(e.name as never) ||
      Object.values(STATE_GLOBAL_EXPORTS).includes(e.name as never) ||
      e.name.startsWith(SANDBOX_EXPORTS.globalPrefix)
    ) {
      throw new ModuleError('RESERVED_NAME', `the module already exports '${e.name}' (instrumented twice?)`);
    }
  }
  const numFuncs = info.importedFuncs + info.funcTypes.length;
  const numGlobals = info.importedGlobals + info.definedGlobals;
  const defined = info.funcTypes.length;
  if (defined > 0 && !info.sections.some((s) => s.id === SectionId.code))
    throw new ModuleError('MALFORMED', 'function section without code section');

  // types we append: [] -> results for the wrapper blocks of multi-value functions
  const types = info.types.slice();
  const known = new Map<string, number>();
  types.forEach((t, i) => {
    const k = encodeType(t);
    if (!known.has(k)) known.set(k, i);
  });
  const typeFor = (t: FuncType): number => {
    const k = encodeType(t);
    let i = known.get(k);
    if (i === undefined) {
      i = types.length;
      types.push(t);
      known.set(k, i);
    }
    return i;
  };
  const wrapperTypes = new Map<number, Uint8Array>();
  for (const ti of new Set(info.funcTypes)) {
    const t = info.types[ti];
    if (t === undefined) throw new ModuleError('INVALID', `function type ${ti} out of range`);
    let bt: Uint8Array;
    if (t.results.length === 0) bt = Uint8Array.of(0x02, 0x40);
    else if (t.results.length === 1) bt = Uint8Array.of(0x02, t.results[0]!);
    else {
      const w = new Writer(8);
      w.byte(0x02);
      w.sleb(typeFor({ params: [], results: t.results }));
      bt = w.finish();
    }
    wrapperTypes.set(ti, bt);
  }
  // The state-global functions (exportGlobals), where the module has code to add them to and numeric globals.
  const hasCode =
    info.sections.some((s) => s.id === SectionId.function) && info.sections.some((s) => s.id === SectionId.code);
  const accessors =
    options.exportGlobals &&
    hasCode &&
    info.mutableGlobalTypes.some(isNumeric) &&
    info.mutableGlobalTypes.filter(isNumeric).length <= MAX_STATE_GLOBALS
      ? stateGlobalFunctions(info.mutableGlobals, info.mutableGlobalTypes)
      : null;
  const accessorTypes = accessors ? accessors.types.map(typeFor) : [];
  const gFuel = numGlobals;
  const gDepth = numGlobals + 1;
  const gFlags = numGlobals + 2;

  // memory clamp
  let memoryReport: InstrumentReport['memory'] = null;
  const mem = info.memories[0];
  if (mem !== undefined) {
    let max = mem.max;
    if (options.memoryMaxPages !== undefined) {
      if (mem.min > options.memoryMaxPages) {
        throw new ModuleError(
          'MEMORY_LIMIT',
          `the module's memory starts at ${mem.min} pages (${mem.min * 64} KiB), above the limit of ${options.memoryMaxPages} pages`,
        );
      }
      max = max === null ? options.memoryMaxPages : Math.min(max, options.memoryMaxPages);
    }
    memoryReport = { minPages: mem.min, maxPagesBefore: mem.max, maxPagesAfter: max };
  }

  const cfg: MeterConfig = {
    fuel,
    depth,
    gFuel,
    gDepth,
    gFlags,
    numFuncs,
    numGlobals,
    numTables: info.importedTables + info.tables,
    types,
    wrapperBlockType: (ti) => wrapperTypes.get(ti)!,
  };
  const meter = new BodyMeter(cfg);

  const out = new Writer(Math.ceil(bytes.length * 1.75) + 256);
  out.range(bytes, 0, 8);
  const tmp = new Writer(256);
  let wroteGlobals = false;
  let wroteExports = false;
  const globalRank = sectionRank(SectionId.global);
  const exportRank = sectionRank(SectionId.export);

  const writeGlobals = (existing: { start: number; end: number } | null): void => {
    tmp.len = 0;
    const r = existing ? new Reader(bytes, existing.start, existing.end) : null;
    const n = r ? r.u32() : 0;
    tmp.u32(n + 3);
    if (r && existing) tmp.range(bytes, r.pos, existing.end);
    // fuel: mut i64; depth: mut i32; flags: mut i32 = 0
    tmp.bytes(Uint8Array.of(0x7e, 0x01, 0x42));
    tmp.slebBig(options.initialFuel ?? 0n);
    tmp.bytes(Uint8Array.of(0x0b, 0x7f, 0x01, 0x41));
    tmp.sleb((options.initialDepth ?? 0) | 0);
    tmp.bytes(Uint8Array.of(0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b));
    out.section(SectionId.global, tmp);
    wroteGlobals = true;
  };
  const writeExports = (existing: { start: number; end: number } | null): void => {
    tmp.len = 0;
    const r = existing ? new Reader(bytes, existing.start, existing.end) : null;
    const n = r ? r.u32() : 0;
    const stateGlobals = !options.exportGlobals
      ? []
      : accessors
        ? info.mutableGlobals.filter((_, i) => !isNumeric(info.mutableGlobalTypes[i]!))
        : info.mutableGlobals;
    const added = accessors ? accessors.names.length : 0;
    tmp.u32(n + 3 + (info.start !== null ? 1 : 0) + stateGlobals.length + added);
    if (r && existing) tmp.range(bytes, r.pos, existing.end);
    tmp.name(SANDBOX_EXPORTS.fuel);
    tmp.byte(ExternKind.global);
    tmp.u32(gFuel);
    tmp.name(SANDBOX_EXPORTS.depth);
    tmp.byte(ExternKind.global);
    tmp.u32(gDepth);
    tmp.name(SANDBOX_EXPORTS.flags);
    tmp.byte(ExternKind.global);
    tmp.u32(gFlags);
    if (info.start !== null) {
      tmp.name(SANDBOX_EXPORTS.start);
      tmp.byte(ExternKind.func);
      tmp.u32(info.start);
    }
    for (const index of stateGlobals) {
      tmp.name(`${SANDBOX_EXPORTS.globalPrefix}${index}`);
      tmp.byte(ExternKind.global);
      tmp.u32(index);
    }
    for (let k = 0; k < added; k++) {
      tmp.name(accessors!.names[k]!);
      tmp.byte(ExternKind.func);
      tmp.u32(numFuncs + k);
    }
    out.section(SectionId.export, tmp);
    wroteExports = true;
  };

  for (const s of info.sections) {
    const rank = sectionRank(s.id);
    if (s.id !== SectionId.custom) {
      if (!wroteGlobals && rank > globalRank) writeGlobals(null);
      if (!wroteExports && rank > exportRank) writeExports(null);
    }
    switch (s.id) {
      case SectionId.type: {
        if (types.length === info.types.length) {
          out.range(bytes, s.headerStart, s.end);
          break;
        }
        tmp.len = 0;
        tmp.u32(types.length);
        const r = new Reader(bytes, s.start, s.end);
        r.u32();
        tmp.range(bytes, r.pos, s.end);
        for (let i = info.types.length; i < types.length; i++) {
          const t = types[i]!;
          tmp.byte(0x60);
          tmp.u32(t.params.length);
          for (const v of t.params) tmp.byte(v);
          tmp.u32(t.results.length);
          for (const v of t.results) tmp.byte(v);
        }
        out.section(SectionId.type, tmp);
        break;
      }
      case SectionId.table: {
        if (options.tableMaxElements === undefined) {
          out.range(bytes, s.headerStart, s.end);
          break;
        }
        const limit = options.tableMaxElements;
        const r = new Reader(bytes, s.start, s.end);
        const n = r.u32();
        tmp.len = 0;
        tmp.u32(n);
        for (let i = 0; i < n; i++) {
          tmp.byte(r.byte()); // element type, checked by the decoder
          const { min, max } = readLimits(r, false);
          if (min > limit)
            throw new ModuleError(
              'TABLE_LIMIT',
              `the module's table ${i} starts with ${min} elements, above the limit of ${limit}`,
            );
          tmp.byte(0x01);
          tmp.u32(min);
          tmp.u32(max === null ? limit : Math.min(max, limit));
        }
        out.section(SectionId.table, tmp);
        break;
      }
      case SectionId.memory: {
        const m = info.memories[0];
        if (m === undefined || memoryReport === null || memoryReport.maxPagesAfter === m.max) {
          out.range(bytes, s.headerStart, s.end);
          break;
        }
        tmp.len = 0;
        tmp.u32(1);
        tmp.byte(0x01);
        tmp.u32(m.min);
        tmp.u32(memoryReport.maxPagesAfter!);
        out.section(SectionId.memory, tmp);
        break;
      }
      case SectionId.function: {
        if (!accessors) {
          out.range(bytes, s.headerStart, s.end);
          break;
        }
        const r = new Reader(bytes, s.start, s.end);
        const n = r.u32();
        tmp.len = 0;
        tmp.u32(n + accessorTypes.length);
        tmp.range(bytes, r.pos, s.end);
        for (const t of accessorTypes) tmp.u32(t);
        out.section(SectionId.function, tmp);
        break;
      }
      case SectionId.global:
        writeGlobals(s);
        break;
      case SectionId.export:
        writeExports(s);
        break;
      case SectionId.start:
        break; // exported as __sandbox_start instead
      case SectionId.code: {
        const code = new Writer(Math.ceil((s.end - s.start) * 1.75) + 64);
        const r = new Reader(bytes, s.start, s.end);
        const n = r.u32();
        if (n !== defined)
          throw new ModuleError('MALFORMED', `code section has ${n} bodies for ${defined} functions`, {
            offset: s.start,
          });
        code.u32(n + (accessors ? accessors.bodies.length : 0));
        for (let i = 0; i < n; i++) {
          const size = r.u32();
          const start = r.pos;
          r.skip(size);
          meter.meter(bytes, start, start + size, info.funcTypes[i]!, code);
        }
        if (r.pos !== s.end) throw new ModuleError('MALFORMED', 'code section size mismatch', { offset: r.pos });
        // Unmetered: the host calls them between runs.
        for (const body of accessors?.bodies ?? []) code.bytes(body);
        out.section(SectionId.code, code);
        break;
      }
      default:
        out.range(bytes, s.headerStart, s.end);
    }
  }
  if (!wroteGlobals) writeGlobals(null);
  if (!wroteExports) writeExports(null);

  const result = out.finish();
  const counters: MeterCounters = meter.counters;
  const report: InstrumentReport = {
    bytesIn: bytes.length,
    bytesOut: result.length,
    fuel,
    stackDepth: depth,
    functions: counters.functions,
    importedFunctions: info.importedFuncs,
    charges: counters.charges,
    loopChecks: counters.loopChecks,
    callSites: counters.callSites,
    returnSites: counters.returnSites,
    bulkSites: counters.bulkSites,
    memoryGrowSites: counters.growSites,
    untrackedStateSites: counters.untrackedStateSites + info.mutableV128Globals,
    features: featureNames(info.features | meter.features),
    startFunction: info.start,
    memory: memoryReport,
    exports: SANDBOX_EXPORTS,
    ms: 0,
  };
  return { bytes: result, report };
}

export type { ModuleInfo };
