// The functions the instrumenter adds so a host can read and write an instance's mutable globals (its state besides memory).
//
// Exporting each mutable global as a WebAssembly.Global gave every instance one JS object per global: an
// AssemblyScript agent has 25, about 1.6 KB of RSS per instance and a share of its instantiation, for thousands of
// resident agents; and a snapshot cost 25 accessor calls each way. Three exported functions, the same for every
// instance of the module, do the same work: `layout(i)` says what the i-th state global is (its value type, 0 when
// it is exported as a Global instead, -1 past the last); `get_all()` returns every numeric one at once (multi-value:
// an array in JavaScript; i32, f32 and f64 as f64, exact for all three, i64 as i64, a BigInt), and `set_all(...)`
// takes them back in the same order. One call each way matters: thousands of instances each called a few times
// never get V8's compiled JS-to-Wasm wrappers, and the generic one costs about a microsecond a call. Reference-typed
// globals stay exported as Globals (JavaScript can hold their values, a number cannot).
import { Writer } from './bytes.ts';
import type { FuncType } from './decode.ts';

/** Export names of the functions (instrument.ts reserves them). */
export const STATE_GLOBAL_EXPORTS = {
  layout: '__sandbox_globals_layout',
  getAll: '__sandbox_globals_get_all',
  setAll: '__sandbox_globals_set_all',
} as const;

/** Results and parameters a function may have in V8 (and the JS API): past it, globals stay exported Globals. */
export const MAX_STATE_GLOBALS = 1000;

const I32 = 0x7f;
const I64 = 0x7e;
const F32 = 0x7d;
const F64 = 0x7c;

/** Whether a mutable global of this type goes through the functions (the others stay exported Globals). */
export function isNumeric(type: number): boolean {
  return type === I32 || type === I64 || type === F32 || type === F64;
}

const OP = {
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
 * The functions for the module's mutable globals (`globals`: their indices, `types`: their value types).
 * Unmetered: the host calls them between runs, never the guest.
 */
export function stateGlobalFunctions(globals: number[], types: number[]): StateGlobalFunctions {
  const layout = (_g: number, t: number): number[] => [OP.i32Const, ...sleb(isNumeric(t) ? t : 0), OP.return];
  const numeric = globals.map((g, i) => [g, types[i]!] as const).filter(([, t]) => isNumeric(t));
  const wide = (t: number) => (t === I64 ? I64 : F64);
  // get_all: each numeric global, widened, left on the stack in order.
  const get: number[] = [0];
  for (const [g, t] of numeric) {
    get.push(OP.globalGet, ...u32(g));
    if (t === I32) get.push(OP.f64ConvertI32S);
    else if (t === F32) get.push(OP.f64PromoteF32);
  }
  get.push(OP.end);
  // set_all: parameter k to the k-th numeric global, narrowed (the host passes i32 values already in range).
  const set: number[] = [0];
  numeric.forEach(([g, t], k) => {
    set.push(OP.localGet, ...u32(k));
    if (t === I32) set.push(OP.i32TruncF64S);
    else if (t === F32) set.push(OP.f32DemoteF64);
    set.push(OP.globalSet, ...u32(g));
  });
  set.push(OP.end);
  const widened = numeric.map(([, t]) => wide(t));
  return {
    types: [
      { params: [I32], results: [I32] },
      { params: [], results: widened },
      { params: widened, results: [] },
    ],
    names: [STATE_GLOBAL_EXPORTS.layout, STATE_GLOBAL_EXPORTS.getAll, STATE_GLOBAL_EXPORTS.setAll],
    bodies: [dispatch(globals, types, layout, [OP.i32Const, ...sleb(-1)]), sized(get), sized(set)],
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
  return sized(code);
}

/** A function body with its size in front, as the code section holds it. */
function sized(code: number[]): Uint8Array {
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
