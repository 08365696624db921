// The functions the instrumenter adds so a host can read and write an instance's mutable globals (its state besides memory).
//
// Exporting each mutable global as a WebAssembly.Global gave every instance one JS object per global: an
// AssemblyScript agent has 25, about 2.7 KB of RSS per instance and a third of its instantiation time, for
// thousands of resident agents. Five exported functions, the same for every instance of the module, do the same
// work: `layout(i)` says what the i-th state global is (its value type, 0 when it is exported as a Global instead,
// -1 past the last), `get`/`set` move i32, f32 and f64 globals as f64 (exact for all three), `get_i64`/`set_i64`
// move i64 globals as i64 (a BigInt in JavaScript). Reference-typed globals stay exported as Globals (JavaScript can
// hold their values, a number cannot).
import { Writer } from './bytes.ts';
import type { FuncType } from './decode.ts';

/** Export names of the five functions (instrument.ts reserves them). */
export const STATE_GLOBAL_EXPORTS = {
  layout: '__sandbox_globals_layout',
  get: '__sandbox_globals_get',
  set: '__sandbox_globals_set',
  getI64: '__sandbox_globals_get_i64',
  setI64: '__sandbox_globals_set_i64',
} as const;

const I32 = 0x7f;
const I64 = 0x7e;
const F32 = 0x7d;
const F64 = 0x7c;

/** Whether a mutable global of this type goes through the functions (the others stay exported Globals). */
export function isNumeric(type: number): boolean {
  return type === I32 || type === I64 || type === F32 || type === F64;
}

const OP = {
  unreachable: 0x00,
  block: 0x02,
  end: 0x0b,
  brTable: 0x0e,
  return: 0x0f,
  localGet: 0x20,
  globalGet: 0x23,
  globalSet: 0x24,
  i32Const: 0x41,
  i32TruncF64S: 0xaa,
  f32DemoteF64: 0xb6,
  f64ConvertI32S: 0xb7,
  f64PromoteF32: 0xbb,
} as const;

export interface StateGlobalFunctions {
  /** Their types, in the order of `bodies` (the caller maps each to a type index). */
  types: FuncType[];
  /** Export names, in the same order. */
  names: string[];
  /** Each function's body as the code section holds it (size-prefixed). */
  bodies: Uint8Array[];
}

/**
 * The five functions for the module's mutable globals (`globals`: their indices, `types`: their value types),
 * each a br_table over the positions. Unmetered: the host calls them between runs, never the guest.
 */
export function stateGlobalFunctions(globals: number[], types: number[]): StateGlobalFunctions {
  const get = (g: number, t: number): number[] =>
    t === I32
      ? [OP.globalGet, ...u32(g), OP.f64ConvertI32S, OP.return]
      : t === F32
        ? [OP.globalGet, ...u32(g), OP.f64PromoteF32, OP.return]
        : t === F64
          ? [OP.globalGet, ...u32(g), OP.return]
          : [OP.unreachable];
  const set = (g: number, t: number): number[] =>
    t === I32
      ? [OP.localGet, 1, OP.i32TruncF64S, OP.globalSet, ...u32(g), OP.return]
      : t === F32
        ? [OP.localGet, 1, OP.f32DemoteF64, OP.globalSet, ...u32(g), OP.return]
        : t === F64
          ? [OP.localGet, 1, OP.globalSet, ...u32(g), OP.return]
          : [OP.unreachable];
  const getI64 = (g: number, t: number): number[] =>
    t === I64 ? [OP.globalGet, ...u32(g), OP.return] : [OP.unreachable];
  const setI64 = (g: number, t: number): number[] =>
    t === I64 ? [OP.localGet, 1, OP.globalSet, ...u32(g), OP.return] : [OP.unreachable];
  const layout = (_g: number, t: number): number[] => [OP.i32Const, ...sleb(isNumeric(t) ? t : 0), OP.return];
  const i32 = [I32];
  return {
    types: [
      { params: i32, results: i32 },
      { params: i32, results: [F64] },
      { params: [I32, F64], results: [] },
      { params: i32, results: [I64] },
      { params: [I32, I64], results: [] },
    ],
    names: [
      STATE_GLOBAL_EXPORTS.layout,
      STATE_GLOBAL_EXPORTS.get,
      STATE_GLOBAL_EXPORTS.set,
      STATE_GLOBAL_EXPORTS.getI64,
      STATE_GLOBAL_EXPORTS.setI64,
    ],
    bodies: [
      dispatch(globals, types, layout, [OP.i32Const, ...sleb(-1)]),
      dispatch(globals, types, get, [OP.unreachable]),
      dispatch(globals, types, set, [OP.unreachable]),
      dispatch(globals, types, getI64, [OP.unreachable]),
      dispatch(globals, types, setI64, [OP.unreachable]),
    ],
  };
}

/**
 * A function body that picks a case by its first parameter: N + 1 nested blocks and a br_table, each case's code
 * after the end of its block (it returns), and `fallback` for an index past the last.
 */
function dispatch(
  globals: number[],
  types: number[],
  body: (global: number, type: number) => number[],
  fallback: number[],
): Uint8Array {
  const code: number[] = [0]; // no locals
  const n = globals.length;
  for (let i = 0; i <= n; i++) code.push(OP.block, 0x40);
  code.push(OP.localGet, 0, OP.brTable, ...u32(n));
  for (let i = 0; i < n; i++) code.push(...u32(i));
  code.push(...u32(n));
  for (let i = 0; i < n; i++) code.push(OP.end, ...body(globals[i]!, types[i]!));
  code.push(OP.end, ...fallback, OP.end);
  const out = new Writer(code.length + 5);
  out.u32(code.length);
  out.bytes(Uint8Array.from(code));
  return out.finish();
}

function u32(v: number): number[] {
  const w = new Writer(5);
  w.u32(v);
  return [...w.finish()];
}

function sleb(v: number): number[] {
  const w = new Writer(5);
  w.sleb(v);
  return [...w.finish()];
}
