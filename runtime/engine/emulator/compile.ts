// Validates one function body and translates it to JavaScript source: stack slots become typed locals, blocks labels.

import { CompileError } from './errors.ts';
import { Reader } from './reader.ts';
import { SIMD_UNSUPPORTED, readValType } from './decode.ts';
import { f32i32, f64i64 } from './helpers.ts';
import {
  EXTERNREF,
  F32,
  F64,
  FUNCREF,
  I32,
  I64,
  UNKNOWN,
  V128,
  isRef,
  type FuncType,
  type ModuleInfo,
  type ValType,
} from './types.ts';

export interface CompileContext {
  module: ModuleInfo;
  refs: Set<number>;
  dataCount: number | undefined;
}

/** Calls deeper than this raise a RangeError before the host's own stack can overflow. */
export const MAX_DEPTH = 12000;

const enum Kind {
  Block,
  Loop,
  If,
  Else,
  Func,
}

interface Frame {
  kind: Kind;
  params: readonly ValType[];
  results: readonly ValType[];
  height: number;
  unreachable: boolean;
  /** Opened inside unreachable code: nothing of it is emitted. */
  dead: boolean;
  label: string;
  /** Temporaries holding an `if`'s parameters for its `else` branch. */
  saved: string[];
}

function letter(t: ValType): string {
  switch (t) {
    case I32:
      return 'i';
    case I64:
      return 'j';
    case F32:
      return 'f';
    case F64:
      return 'd';
    case FUNCREF:
      return 'r';
    case EXTERNREF:
      return 'x';
    default:
      return 'u';
  }
}

function zero(t: ValType): string {
  switch (t) {
    case I64:
      return '0n';
    case FUNCREF:
    case EXTERNREF:
      return 'null';
    default:
      return '0';
  }
}

function numLiteral(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

type Fmt = (a: string, b: string) => string;
/** [operand types, result type, JS expression, whether the expression is a boolean to turn into 0/1] */
type NumOp = readonly [ins: readonly ValType[], out: ValType, fmt: Fmt, bool?: boolean];

function cmpOps(t: ValType, unsigned: (x: string) => string): NumOp[] {
  // eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u
  const u = unsigned;
  return [
    [[t, t], I32, (a, b) => `${a} === ${b}`, true],
    [[t, t], I32, (a, b) => `${a} !== ${b}`, true],
    [[t, t], I32, (a, b) => `${a} < ${b}`, true],
    [[t, t], I32, (a, b) => `${u(a)} < ${u(b)}`, true],
    [[t, t], I32, (a, b) => `${a} > ${b}`, true],
    [[t, t], I32, (a, b) => `${u(a)} > ${u(b)}`, true],
    [[t, t], I32, (a, b) => `${a} <= ${b}`, true],
    [[t, t], I32, (a, b) => `${u(a)} <= ${u(b)}`, true],
    [[t, t], I32, (a, b) => `${a} >= ${b}`, true],
    [[t, t], I32, (a, b) => `${u(a)} >= ${u(b)}`, true],
  ];
}

function fcmpOps(t: ValType): NumOp[] {
  return ['===', '!==', '<', '>', '<=', '>='].map(
    (op) => [[t, t], I32, (a: string, b: string) => `${a} ${op} ${b}`, true] as const,
  );
}

function fArith(t: ValType): NumOp[] {
  const r = t === F32 ? (e: string) => `fround(${e})` : (e: string) => e;
  const u: readonly ValType[] = [t];
  const bb: readonly ValType[] = [t, t];
  return [
    [u, t, (a) => `fabs(${a})`],
    [u, t, (a) => `fneg(${a})`],
    [u, t, (a) => `Math.ceil(${a})`],
    [u, t, (a) => `Math.floor(${a})`],
    [u, t, (a) => `Math.trunc(${a})`],
    [u, t, (a) => `nearest(${a})`],
    [u, t, (a) => r(`Math.sqrt(${a})`)],
    [bb, t, (a, b) => r(`${a} + ${b}`)],
    [bb, t, (a, b) => r(`${a} - ${b}`)],
    [bb, t, (a, b) => r(`${a} * ${b}`)],
    [bb, t, (a, b) => r(`${a} / ${b}`)],
    [bb, t, (a, b) => `fmin(${a}, ${b})`],
    [bb, t, (a, b) => `fmax(${a}, ${b})`],
    [bb, t, (a, b) => `copysign(${a}, ${b})`],
  ];
}

/** An i64 shift count: a literal is reduced here, once, instead of at every execution. */
function mask63(b: string): string {
  const m = /^\(?(-?\d+)n\)?$/.exec(b);
  return m ? `${BigInt.asUintN(6, BigInt(m[1] as string))}n` : `(${b} & 63n)`;
}

/**
 * Whether this process runs JavaScript without a JIT (node --jitless, where WebAssembly is absent too). A few
 * translations differ: what is cheapest for the Ignition interpreter is not what TurboFan optimizes best.
 */
export const INTERPRETED =
  typeof (globalThis as { WebAssembly?: unknown }).WebAssembly === 'undefined' ||
  (typeof process !== 'undefined' && process.execArgv.includes('--jitless'));

/**
 * i64 add/sub of a literal (the fuel meter's every charge) can only wrap one way, so one comparison replaces the
 * BigInt.asIntN call: a third faster under --jitless, where a builtin call costs more than a BigInt compare.
 */
function addConst64(a: string, b: string, sign: 1 | -1): string | undefined {
  if (!INTERPRETED) return undefined;
  const m = /^\(?(-?\d+)n\)?$/.exec(b);
  if (!m) return undefined;
  const c = BigInt(m[1] as string) * BigInt(sign);
  if (c === 0n || c > 2n ** 62n || c < -(2n ** 62n)) return undefined;
  const op = sign === 1 ? '+' : '-';
  return c > 0n
    ? `(tj = ${a} ${op} ${b}) > 9223372036854775807n ? tj - 18446744073709551616n : tj`
    : `(tj = ${a} ${op} ${b}) < -9223372036854775808n ? tj + 18446744073709551616n : tj`;
}

const NUM_OPS = new Map<number, NumOp>();
function table(start: number, ops: NumOp[]): void {
  ops.forEach((op, i) => NUM_OPS.set(start + i, op));
}
table(0x45, [[[I32], I32, (a) => `${a} === 0`, true]]);
table(
  0x46,
  cmpOps(I32, (x) => `(${x} >>> 0)`),
);
table(0x50, [[[I64], I32, (a) => `${a} === 0n`, true]]);
table(
  0x51,
  cmpOps(I64, (x) => `asU(64, ${x})`),
);
table(0x5b, fcmpOps(F32));
table(0x61, fcmpOps(F64));
{
  const u: readonly ValType[] = [I32];
  const bb: readonly ValType[] = [I32, I32];
  table(0x67, [
    [u, I32, (a) => `Math.clz32(${a})`],
    [u, I32, (a) => `ctz32(${a})`],
    [u, I32, (a) => `popcnt32(${a})`],
    [bb, I32, (a, b) => `(${a} + ${b}) | 0`],
    [bb, I32, (a, b) => `(${a} - ${b}) | 0`],
    [bb, I32, (a, b) => `Math.imul(${a}, ${b})`],
    [bb, I32, (a, b) => `divs32(${a}, ${b})`],
    [bb, I32, (a, b) => `divu32(${a}, ${b})`],
    [bb, I32, (a, b) => `rems32(${a}, ${b})`],
    [bb, I32, (a, b) => `remu32(${a}, ${b})`],
    [bb, I32, (a, b) => `${a} & ${b}`],
    [bb, I32, (a, b) => `${a} | ${b}`],
    [bb, I32, (a, b) => `${a} ^ ${b}`],
    [bb, I32, (a, b) => `${a} << ${b}`],
    [bb, I32, (a, b) => `${a} >> ${b}`],
    [bb, I32, (a, b) => `(${a} >>> ${b}) | 0`],
    [bb, I32, (a, b) => `rotl32(${a}, ${b})`],
    [bb, I32, (a, b) => `rotr32(${a}, ${b})`],
  ]);
}
{
  const u: readonly ValType[] = [I64];
  const bb: readonly ValType[] = [I64, I64];
  table(0x79, [
    [u, I64, (a) => `clz64(${a})`],
    [u, I64, (a) => `ctz64(${a})`],
    [u, I64, (a) => `popcnt64(${a})`],
    [bb, I64, (a, b) => addConst64(a, b, 1) ?? `asI(64, ${a} + ${b})`],
    [bb, I64, (a, b) => addConst64(a, b, -1) ?? `asI(64, ${a} - ${b})`],
    [bb, I64, (a, b) => `asI(64, ${a} * ${b})`],
    [bb, I64, (a, b) => `divs64(${a}, ${b})`],
    [bb, I64, (a, b) => `divu64(${a}, ${b})`],
    [bb, I64, (a, b) => `rems64(${a}, ${b})`],
    [bb, I64, (a, b) => `remu64(${a}, ${b})`],
    [bb, I64, (a, b) => `${a} & ${b}`],
    [bb, I64, (a, b) => `${a} | ${b}`],
    [bb, I64, (a, b) => `${a} ^ ${b}`],
    [bb, I64, (a, b) => `asI(64, ${a} << ${mask63(b)})`],
    [bb, I64, (a, b) => `${a} >> ${mask63(b)}`],
    [bb, I64, (a, b) => `asI(64, asU(64, ${a}) >> ${mask63(b)})`],
    [bb, I64, (a, b) => `rotl64(${a}, ${b})`],
    [bb, I64, (a, b) => `rotr64(${a}, ${b})`],
  ]);
}
table(0x8b, fArith(F32));
table(0x99, fArith(F64));
table(0xa7, [
  [[I64], I32, (a) => `Number(asI(32, ${a}))`],
  [[F32], I32, (a) => `tsi32(${a})`],
  [[F32], I32, (a) => `tui32(${a})`],
  [[F64], I32, (a) => `tsi32(${a})`],
  [[F64], I32, (a) => `tui32(${a})`],
  [[I32], I64, (a) => `BigInt(${a})`],
  [[I32], I64, (a) => `BigInt(${a} >>> 0)`],
  [[F32], I64, (a) => `tsi64(${a})`],
  [[F32], I64, (a) => `tui64(${a})`],
  [[F64], I64, (a) => `tsi64(${a})`],
  [[F64], I64, (a) => `tui64(${a})`],
  [[I32], F32, (a) => `fround(${a})`],
  [[I32], F32, (a) => `fround(${a} >>> 0)`],
  [[I64], F32, (a) => `i64f32(${a})`],
  [[I64], F32, (a) => `i64f32(asU(64, ${a}))`],
  [[F64], F32, (a) => `fround(${a})`],
  [[I32], F64, (a) => `${a}`],
  [[I32], F64, (a) => `(${a} >>> 0)`],
  [[I64], F64, (a) => `Number(${a})`],
  [[I64], F64, (a) => `Number(asU(64, ${a}))`],
  [[F32], F64, (a) => `${a}`],
  [[F32], I32, (a) => `i32f32(${a})`],
  [[F64], I64, (a) => `i64f64(${a})`],
  [[I32], F32, (a) => `f32i32(${a})`],
  [[I64], F64, (a) => `f64i64(${a})`],
  [[I32], I32, (a) => `(${a} << 24) >> 24`],
  [[I32], I32, (a) => `(${a} << 16) >> 16`],
  [[I64], I64, (a) => `asI(8, ${a})`],
  [[I64], I64, (a) => `asI(16, ${a})`],
  [[I64], I64, (a) => `asI(32, ${a})`],
]);
/** Numeric opcodes that can trap: evaluated in place, never deferred into a later expression. */
const TRAPPING = new Set([
  0x6d, 0x6e, 0x6f, 0x70, 0x7f, 0x80, 0x81, 0x82, 0xa8, 0xa9, 0xaa, 0xab, 0xae, 0xaf, 0xb0, 0xb1,
]);

const SAT_OPS: NumOp[] = [
  [[F32], I32, (a) => `ssi32(${a})`],
  [[F32], I32, (a) => `sui32(${a})`],
  [[F64], I32, (a) => `ssi32(${a})`],
  [[F64], I32, (a) => `sui32(${a})`],
  [[F32], I64, (a) => `ssi64(${a})`],
  [[F32], I64, (a) => `sui64(${a})`],
  [[F64], I64, (a) => `ssi64(${a})`],
  [[F64], I64, (a) => `sui64(${a})`],
];

// [natural alignment log2, value type, reader expression given address `ea`]
const LOADS = new Map<number, readonly [number, ValType, string]>([
  [0x28, [2, I32, 'dv.getInt32(ea, true)']],
  [0x29, [3, I64, 'dv.getBigInt64(ea, true)']],
  [0x2a, [2, F32, 'f32i32(dv.getInt32(ea, true))']],
  [0x2b, [3, F64, 'dv.getFloat64(ea, true)']],
  [0x2c, [0, I32, '(m8[ea] << 24) >> 24']],
  [0x2d, [0, I32, 'm8[ea]']],
  [0x2e, [1, I32, 'dv.getInt16(ea, true)']],
  [0x2f, [1, I32, 'dv.getUint16(ea, true)']],
  [0x30, [0, I64, 'BigInt((m8[ea] << 24) >> 24)']],
  [0x31, [0, I64, 'BigInt(m8[ea])']],
  [0x32, [1, I64, 'BigInt(dv.getInt16(ea, true))']],
  [0x33, [1, I64, 'BigInt(dv.getUint16(ea, true))']],
  [0x34, [2, I64, 'BigInt(dv.getInt32(ea, true))']],
  [0x35, [2, I64, 'BigInt(dv.getUint32(ea, true))']],
]);
const STORES = new Map<number, readonly [number, ValType, (v: string) => string]>([
  [0x36, [2, I32, (v) => `dv.setInt32(ea, ${v}, true)`]],
  [0x37, [3, I64, (v) => `dv.setBigInt64(ea, ${v}, true)`]],
  [0x38, [2, F32, (v) => `dv.setInt32(ea, i32f32(${v}), true)`]],
  [0x39, [3, F64, (v) => `dv.setFloat64(ea, ${v}, true)`]],
  [0x3a, [0, I32, (v) => `m8[ea] = ${v}`]],
  [0x3b, [1, I32, (v) => `dv.setInt16(ea, ${v}, true)`]],
  [0x3c, [0, I64, (v) => `m8[ea] = Number(${v} & 0xffn)`]],
  [0x3d, [1, I64, (v) => `dv.setUint16(ea, Number(${v} & 0xffffn), true)`]],
  [0x3e, [2, I64, (v) => `dv.setUint32(ea, Number(${v} & 0xffffffffn), true)`]],
]);

/**
 * Wider accesses leave the bounds check to the DataView, which checks the whole range anyway and throws a RangeError
 * that the boundary turns into the trap (objects.ts, asTrap); bytes go through the Uint8Array, which would not throw.
 */
function address(a: string, offset: number): string {
  return offset === 0 ? `${a} >>> 0` : `(${a} >>> 0) + ${offset}`;
}

export function compileFunction(ctx: CompileContext, r: Reader, funcIndex: number): string {
  const m = ctx.module;
  const type = m.funcs[funcIndex] as FuncType;
  const locals: ValType[] = [...type.params];
  const ngroups = r.u32();
  let total = 0;
  for (let i = 0; i < ngroups; i++) {
    const n = r.u32();
    total += n;
    if (total > 50000) r.fail('too many locals');
    const t = readValType(r);
    for (let k = 0; k < n; k++) locals.push(t);
  }

  const out: string[] = [];
  const vars = new Map<string, ValType>();
  const stack: ValType[] = [];
  const frames: Frame[] = [];
  let labelCounter = 0;
  let usesMemory = false;

  const fail = (msg: string): never => r.fail(msg);
  const top = (): Frame => frames[frames.length - 1] as Frame;
  const live = (): boolean => {
    const f = top();
    return !f.dead && !f.unreachable;
  };
  const emit = (s: string): void => {
    if (live()) out.push(s);
  };
  const slot = (t: ValType, h: number): string => {
    const name = `s${letter(t)}${h}`;
    if (t !== UNKNOWN && h >= 0 && !vars.has(name)) vars.set(name, t);
    return name;
  };
  /*
   * Pure, non-trapping values (constants, locals, arithmetic on them) stay on the stack as pending expressions and
   * are inlined where they are used, so `l2 = (l2 + 1) | 0` is one statement instead of four: the interpreter under
   * --jitless pays per statement. A pending value is written to its slot before anything it reads changes (a local,
   * a slot) and at every control-flow boundary, where values must sit in their slots.
   */
  interface Pending {
    expr: string;
    cond: string | undefined;
    locals: number[];
    slots: number[];
  }
  const pend: (Pending | null)[] = [];
  let accLocals: number[] = [];
  let accSlots: number[] = [];
  /**
   * The last line of `out` when it is one plain assignment to a stack slot (`[prefix]name = expr;`), for setLocal
   * to retarget. Found by text search instead, a slot name also matched the moves inside a taken `br_if` branch.
   */
  let assigned: { line: number; at: number; name: string } | undefined;
  const simple = /^(?:[A-Za-z_$][\w$.]*|\d[\w.]*)$/;
  const materialize = (i: number): void => {
    const p = pend[i];
    if (!p) return;
    pend[i] = null;
    writeSlot(i);
    const name = slot(stack[i] as ValType, i);
    out.push(`${name} = ${p.expr};`);
    assigned = { line: out.length - 1, at: 0, name };
  };
  function writeSlot(k: number): void {
    for (let i = 0; i < k && i < pend.length; i++) {
      const p = pend[i];
      if (p && p.slots.includes(k)) materialize(i);
    }
  }
  const writeLocal = (x: number): void => {
    for (let i = 0; i < pend.length; i++) {
      const p = pend[i];
      if (p && p.locals.includes(x)) materialize(i);
    }
  };
  const flushAll = (): void => {
    for (let i = 0; i < pend.length; i++) materialize(i);
  };
  const push = (t: ValType): string => {
    stack.push(t);
    pend.push(null);
    return slot(t, stack.length - 1);
  };
  const pushPure = (t: ValType, expr: string, cond?: string): void => {
    stack.push(t);
    pend.push(live() ? { expr, cond, locals: accLocals, slots: accSlots } : null);
    accLocals = [];
    accSlots = [];
  };
  const pushStmt = (t: ValType, expr: string, prefix = ''): void => {
    const h = stack.length;
    stack.push(t);
    pend.push(null);
    const d = slot(t, h);
    if (live()) {
      writeSlot(h);
      out.push(`${prefix}${d} = ${expr};`);
      assigned = { line: out.length - 1, at: prefix.length, name: d };
    }
  };
  const pop = (expect: ValType): string => {
    const f = top();
    if (stack.length === f.height) {
      if (f.unreachable) return 'u';
      return fail('type mismatch: operand stack underflow');
    }
    const t = stack.pop() as ValType;
    const p = pend.pop() ?? null;
    if (expect !== UNKNOWN && t !== UNKNOWN && t !== expect) fail('type mismatch');
    if (p) {
      accLocals.push(...p.locals);
      accSlots.push(...p.slots);
      return simple.test(p.expr) ? p.expr : `(${p.expr})`;
    }
    accSlots.push(stack.length);
    return slot(t === UNKNOWN ? expect : t, stack.length);
  };
  /** Pops an i32 used as a condition, as a JS boolean expression. */
  const popCond = (): string => {
    const f = top();
    const p = stack.length > f.height ? pend[pend.length - 1] : null;
    const e = pop(I32);
    return p && p.cond !== undefined ? p.cond : `${e} !== 0`;
  };
  const popAny = (): ValType => {
    const f = top();
    if (stack.length === f.height) {
      if (f.unreachable) return UNKNOWN;
      return fail('type mismatch: operand stack underflow');
    }
    pend.pop();
    return stack.pop() as ValType;
  };
  const popTypes = (types: readonly ValType[]): string[] => {
    const names: string[] = new Array<string>(types.length);
    for (let i = types.length - 1; i >= 0; i--) names[i] = pop(types[i] as ValType);
    return names;
  };
  const pushTypes = (types: readonly ValType[]): string[] => types.map((t) => push(t));
  const labelTypes = (f: Frame): readonly ValType[] => (f.kind === Kind.Loop ? f.params : f.results);
  const frameAt = (depth: number): Frame => {
    if (depth >= frames.length) fail(`unknown label ${depth}`);
    return frames[frames.length - 1 - depth] as Frame;
  };
  /** Moves the branch values from the top of the stack to the target's slots and jumps. */
  const branchCode = (target: Frame): string => {
    const types = labelTypes(target);
    let code = '';
    const from = stack.length - types.length;
    for (let k = 0; k < types.length; k++) {
      const t = types[k] as ValType;
      if (from + k !== target.height + k) code += `${slot(t, target.height + k)} = ${slot(t, from + k)}; `;
    }
    return code + (target.kind === Kind.Loop ? `continue ${target.label};` : `break ${target.label};`);
  };
  /** Checks, without popping, that the stack top can feed a branch to `target`. */
  const checkBranch = (target: Frame): void => {
    const types = labelTypes(target);
    const f = top();
    const n = types.length;
    for (let k = 0; k < n; k++) {
      const pos = stack.length - n + k;
      if (pos < f.height) {
        if (!f.unreachable) fail('type mismatch: operand stack underflow');
        continue;
      }
      const t = stack[pos] as ValType;
      if (t !== UNKNOWN && t !== types[k]) fail('type mismatch');
    }
  };
  const blockType = (): [readonly ValType[], readonly ValType[]] => {
    const v = r.s33();
    if (v === -64) return [[], []];
    if (v < 0) {
      const t = v + 128;
      if (t === V128) throw new CompileError(SIMD_UNSUPPORTED);
      if (t !== I32 && t !== I64 && t !== F32 && t !== F64 && t !== FUNCREF && t !== EXTERNREF)
        fail('malformed block type');
      return [[], [t]];
    }
    const ft = m.types[v];
    if (!ft) return fail(`unknown type ${v}`);
    return [ft.params, ft.results];
  };
  const openFrame = (kind: Kind, params: readonly ValType[], results: readonly ValType[]): Frame => {
    const dead = frames.length > 0 && !live();
    popTypes(params);
    const f: Frame = {
      kind,
      params,
      results,
      height: stack.length,
      unreachable: false,
      dead,
      label: `L${labelCounter++}`,
      saved: [],
    };
    frames.push(f);
    pushTypes(params);
    return f;
  };
  const setUnreachable = (): void => {
    const f = top();
    stack.length = f.height;
    pend.length = f.height;
    f.unreachable = true;
  };
  const setLocal = (i: number, t: ValType): void => {
    const before = out.length;
    const v = pop(t);
    if (!live()) return;
    writeLocal(i);
    // A value computed by the statement just before (a load, a call) goes straight into the local, but only when
    // that statement is the slot's own assignment: never a move inside a branch (`if (c) { sa = sb; sv = sw; break }`).
    const a = assigned;
    if (out.length === before && a !== undefined && a.line === before - 1 && a.name === v) {
      const last = out[a.line] as string;
      out[a.line] = `${last.slice(0, a.at)}l${i} = ${last.slice(a.at + v.length + 3)}`;
      assigned = undefined;
    } else {
      out.push(`l${i} = ${v};`);
    }
  };
  const memarg = (natural: number): number => {
    const align = r.u32();
    const offset = r.u32();
    if (m.memories.length === 0) fail('unknown memory 0');
    if (align > natural) fail('alignment must not be larger than natural');
    usesMemory = true;
    return offset;
  };
  const localType = (i: number): ValType => {
    const t = locals[i];
    if (t === undefined) return fail(`unknown local ${i}`);
    return t;
  };
  const globalType = (i: number) => {
    const g = m.globals[i];
    if (!g) return fail(`unknown global ${i}`);
    return g;
  };
  const tableType = (i: number) => {
    const t = m.tables[i];
    if (!t) return fail(`unknown table ${i}`);
    return t;
  };
  const needDataCount = (): void => {
    if (ctx.dataCount === undefined) fail('data count section required');
  };
  const dataIndex = (): number => {
    const i = r.u32();
    needDataCount();
    if (i >= (ctx.dataCount as number)) fail(`unknown data segment ${i}`);
    return i;
  };
  const elemIndex = (): number => {
    const i = r.u32();
    if (i >= m.elems.length) fail(`unknown elem segment ${i}`);
    return i;
  };
  const callCode = (callee: string, ft: FuncType, args: string[]): void => {
    const call = `${callee}(${args.join(', ')})`;
    if (ft.results.length === 0) {
      emit(`${call};`);
    } else if (ft.results.length === 1) {
      pushStmt(ft.results[0] as ValType, call);
    } else {
      flushAll();
      const names = pushTypes(ft.results);
      emit(`rv = ${call}; ${names.map((n, k) => `${n} = rv[${k}];`).join(' ')}`);
    }
  };
  const returnCode = (): string => {
    const res = type.results;
    const names = res.map((t, k) => slot(t, stack.length - res.length + k));
    if (res.length === 0) return 'S.d--; return;';
    if (res.length === 1) return `S.d--; return ${names[0]};`;
    return `S.d--; return [${names.join(', ')}];`;
  };

  frames.push({
    kind: Kind.Func,
    params: [],
    results: type.results,
    height: 0,
    unreachable: false,
    dead: false,
    label: 'L_f',
    saved: [],
  });

  for (;;) {
    if (r.eof()) fail('unexpected end of function body');
    const op = r.u8();
    accLocals = [];
    accSlots = [];
    switch (op) {
      case 0x00:
        emit(`trap(${JSON.stringify('unreachable')});`);
        setUnreachable();
        break;
      case 0x01:
        break;
      case 0x02: {
        const [p, res] = blockType();
        flushAll();
        const f = openFrame(Kind.Block, p, res);
        if (!f.dead) out.push(`${f.label}: {`);
        break;
      }
      case 0x03: {
        const [p, res] = blockType();
        flushAll();
        const f = openFrame(Kind.Loop, p, res);
        if (!f.dead) out.push(`${f.label}: for (;;) {`);
        break;
      }
      case 0x04: {
        const [p, res] = blockType();
        const c = popCond();
        flushAll();
        const wasLive = live();
        const f = openFrame(Kind.If, p, res);
        if (!f.dead && wasLive) {
          let pre = '';
          if (p.length > 0) {
            for (let k = 0; k < p.length; k++) {
              const name = `p${f.label}_${k}`;
              vars.set(name, p[k] as ValType);
              f.saved.push(name);
              pre += `${name} = ${slot(p[k] as ValType, f.height + k)}; `;
            }
          }
          out.push(`${pre}${f.label}: if (${c}) {`);
        }
        break;
      }
      case 0x05: {
        const f = top();
        if (f.kind !== Kind.If) fail('else without if');
        flushAll();
        popTypes(f.results);
        if (stack.length !== f.height) fail('type mismatch: values remaining on stack at end of block');
        f.kind = Kind.Else;
        f.unreachable = false;
        pushTypes(f.params);
        if (!f.dead) {
          let restore = '';
          f.saved.forEach((name, k) => {
            restore += `${slot(f.params[k] as ValType, f.height + k)} = ${name}; `;
          });
          out.push(`} else { ${restore}`);
        }
        break;
      }
      case 0x0b: {
        const f = top();
        flushAll();
        popTypes(f.results);
        if (stack.length !== f.height) fail('type mismatch: values remaining on stack at end of block');
        if (
          f.kind === Kind.If &&
          (f.params.length !== f.results.length || f.params.some((t, k) => t !== f.results[k]))
        ) {
          fail('type mismatch: if without else must leave its parameters');
        }
        frames.pop();
        if (f.kind === Kind.Func) {
          pushTypes(f.results);
          if (!r.eof()) fail('operators remaining after end of function');
          out.push(`}`);
          out.push(returnCode());
          return functionSource(funcIndex, type, locals, vars, out, usesMemory);
        }
        if (!f.dead) out.push(f.kind === Kind.Loop ? `break ${f.label}; }` : `}`);
        pushTypes(f.results);
        break;
      }
      case 0x0c: {
        const target = frameAt(r.u32());
        flushAll();
        const types = labelTypes(target);
        popTypes(types);
        pushTypes(types);
        emit(branchCode(target));
        setUnreachable();
        break;
      }
      case 0x0d: {
        const target = frameAt(r.u32());
        const c = popCond();
        flushAll();
        const types = labelTypes(target);
        popTypes(types);
        pushTypes(types);
        emit(`if (${c}) { ${branchCode(target)} }`);
        break;
      }
      case 0x0e: {
        const n = r.u32();
        const depths: number[] = [];
        for (let i = 0; i < n; i++) depths.push(r.u32());
        const def = r.u32();
        const c = pop(I32);
        flushAll();
        const defFrame = frameAt(def);
        const arity = labelTypes(defFrame).length;
        const cases: string[] = [];
        for (let i = 0; i < depths.length; i++) {
          const t = frameAt(depths[i] as number);
          if (labelTypes(t).length !== arity) fail('type mismatch: br_table targets have different arities');
          checkBranch(t);
          cases.push(`case ${i}: ${branchCode(t)}`);
        }
        checkBranch(defFrame);
        emit(`switch (${c}) { ${cases.join(' ')} default: ${branchCode(defFrame)} }`);
        setUnreachable();
        break;
      }
      case 0x0f: {
        flushAll();
        popTypes(type.results);
        pushTypes(type.results);
        emit(returnCode());
        setUnreachable();
        break;
      }
      case 0x10: {
        const fi = r.u32();
        const ft = m.funcs[fi];
        if (!ft) return fail(`unknown function ${fi}`);
        const args = popTypes(ft.params);
        callCode(`f${fi}`, ft, args);
        break;
      }
      case 0x11: {
        const ti = r.u32();
        const tab = r.u32();
        const ft = m.types[ti];
        if (!ft) return fail(`unknown type ${ti}`);
        if (tableType(tab).elem !== FUNCREF) fail('type mismatch: call_indirect on a table of externref');
        const idx = pop(I32);
        const args = popTypes(ft.params);
        callCode(`callIndirect(T${tab}, ${idx}, ${ft.id})`, ft, args);
        break;
      }
      case 0x1a:
        popAny();
        break;
      case 0x1b:
      case 0x1c: {
        let declared: ValType | undefined;
        if (op === 0x1c) {
          const n = r.u32();
          if (n !== 1) fail('invalid result arity');
          declared = readValType(r);
        }
        const f = top();
        const h = stack.length;
        const c = popCond();
        const pb = h - 1 > f.height ? (pend[h - 2] ?? null) : null;
        const pa = h - 2 > f.height ? (pend[h - 3] ?? null) : null;
        const t2 = popAny();
        const t1 = popAny();
        let t: ValType;
        if (declared !== undefined) {
          if ((t1 !== UNKNOWN && t1 !== declared) || (t2 !== UNKNOWN && t2 !== declared)) fail('type mismatch');
          t = declared;
        } else {
          if (isRef(t1) || isRef(t2)) fail('type mismatch: select needs a type annotation for references');
          if (t1 !== UNKNOWN && t2 !== UNKNOWN && t1 !== t2) fail('type mismatch');
          t = t1 === UNKNOWN ? t2 : t1;
        }
        const operand = (p: Pending | null, height: number): string => {
          if (p) {
            accLocals.push(...p.locals);
            accSlots.push(...p.slots);
            return simple.test(p.expr) ? p.expr : `(${p.expr})`;
          }
          accSlots.push(height);
          return slot(t, height);
        };
        const a = operand(pa, stack.length);
        const b = operand(pb, stack.length + 1);
        pushPure(t, `${c} ? ${a} : ${b}`);
        break;
      }
      case 0x20: {
        const i = r.u32();
        const t = localType(i);
        accLocals.push(i);
        pushPure(t, `l${i}`);
        break;
      }
      case 0x21: {
        const i = r.u32();
        setLocal(i, localType(i));
        break;
      }
      case 0x22: {
        const i = r.u32();
        const t = localType(i);
        setLocal(i, t);
        accLocals = [i];
        accSlots = [];
        pushPure(t, `l${i}`);
        break;
      }
      case 0x23: {
        const i = r.u32();
        const g = globalType(i);
        if (g.mutable) pushStmt(g.type, `g${i}.v`);
        else pushPure(g.type, `gv${i}`);
        break;
      }
      case 0x24: {
        const i = r.u32();
        const g = globalType(i);
        if (!g.mutable) fail('global is immutable');
        const v = pop(g.type);
        emit(`g${i}.v = ${v};`);
        break;
      }
      case 0x25: {
        const t = r.u32();
        const tt = tableType(t);
        const i = pop(I32);
        pushStmt(tt.elem, `tableGet(T${t}, ${i})`);
        break;
      }
      case 0x26: {
        const t = r.u32();
        const tt = tableType(t);
        const v = pop(tt.elem);
        const i = pop(I32);
        emit(`tableSet(T${t}, ${i}, ${v});`);
        break;
      }
      case 0x3f:
      case 0x40: {
        if (r.u8() !== 0) fail('zero byte expected');
        if (m.memories.length === 0) fail('unknown memory 0');
        usesMemory = true;
        if (op === 0x3f) {
          pushStmt(I32, '(mlen / 65536) | 0');
        } else {
          const n = pop(I32);
          pushStmt(I32, `memGrow(${n})`);
        }
        break;
      }
      case 0x41:
        pushPure(I32, String(r.s32()));
        break;
      case 0x42:
        pushPure(I64, `${r.s64()}n`);
        break;
      case 0x43: {
        const bits = r.f32bits();
        const v = f32i32(bits);
        pushPure(F32, v === v ? numLiteral(v) : `f32i32(${bits})`);
        break;
      }
      case 0x44: {
        const bits = r.f64bits();
        const v = f64i64(bits);
        pushPure(F64, v === v ? numLiteral(v) : `f64i64(${bits}n)`);
        break;
      }
      case 0xd0: {
        const t = r.u8();
        if (t !== FUNCREF && t !== EXTERNREF) fail('malformed reference type');
        pushPure(t, 'null');
        break;
      }
      case 0xd1: {
        const f = top();
        const t0 = stack.length > f.height ? (stack[stack.length - 1] as ValType) : UNKNOWN;
        if (t0 !== UNKNOWN && !isRef(t0)) fail('type mismatch: ref.is_null needs a reference');
        const a = pop(t0 === UNKNOWN ? UNKNOWN : t0);
        pushPure(I32, `${a} === null ? 1 : 0`, `${a} === null`);
        break;
      }
      case 0xd2: {
        const fi = r.u32();
        if (fi >= m.funcs.length) fail(`unknown function ${fi}`);
        if (!ctx.refs.has(fi)) fail(`undeclared function reference ${fi}`);
        pushPure(FUNCREF, `F[${fi}]`);
        break;
      }
      case 0xfc: {
        const sub = r.u32();
        if (sub <= 7) {
          const [ins, o, fmt] = SAT_OPS[sub] as NumOp;
          const a = pop(ins[0] as ValType);
          pushPure(o, fmt(a, ''));
          break;
        }
        switch (sub) {
          case 8: {
            const seg = dataIndex();
            if (r.u8() !== 0) fail('zero byte expected');
            if (m.memories.length === 0) fail('unknown memory 0');
            const [d, s, n] = popTypes([I32, I32, I32]);
            usesMemory = true;
            emit(`memInit(${seg}, ${d}, ${s}, ${n});`);
            break;
          }
          case 9: {
            const seg = dataIndex();
            emit(`D[${seg}] = null;`);
            break;
          }
          case 10: {
            if (r.u8() !== 0 || r.u8() !== 0) fail('zero byte expected');
            if (m.memories.length === 0) fail('unknown memory 0');
            const [d, s, n] = popTypes([I32, I32, I32]);
            usesMemory = true;
            emit(`memCopy(${d}, ${s}, ${n});`);
            break;
          }
          case 11: {
            if (r.u8() !== 0) fail('zero byte expected');
            if (m.memories.length === 0) fail('unknown memory 0');
            const [d, v, n] = popTypes([I32, I32, I32]);
            usesMemory = true;
            emit(`memFill(${d}, ${v}, ${n});`);
            break;
          }
          case 12: {
            const seg = elemIndex();
            const t = r.u32();
            const tt = tableType(t);
            if ((m.elems[seg] as { type: ValType }).type !== tt.elem) fail('type mismatch');
            const [d, s, n] = popTypes([I32, I32, I32]);
            emit(`tableInit(T${t}, E, ${seg}, ${d}, ${s}, ${n});`);
            break;
          }
          case 13: {
            const seg = elemIndex();
            emit(`E[${seg}] = null;`);
            break;
          }
          case 14: {
            const dt = r.u32();
            const st = r.u32();
            if (tableType(dt).elem !== tableType(st).elem) fail('type mismatch');
            const [d, s, n] = popTypes([I32, I32, I32]);
            emit(`tableCopy(T${dt}, T${st}, ${d}, ${s}, ${n});`);
            break;
          }
          case 15: {
            const t = r.u32();
            const tt = tableType(t);
            const [v, n] = popTypes([tt.elem, I32]);
            pushStmt(I32, `T${t}.growRaw(${n}, ${v})`);
            break;
          }
          case 16: {
            const t = r.u32();
            tableType(t);
            pushStmt(I32, `T${t}.elements.length`);
            break;
          }
          case 17: {
            const t = r.u32();
            const tt = tableType(t);
            const [i, v, n] = popTypes([I32, tt.elem, I32]);
            emit(`tableFill(T${t}, ${i}, ${v}, ${n});`);
            break;
          }
          default:
            fail(`illegal opcode 0xfc ${sub}`);
        }
        break;
      }
      case 0xfd:
        throw new CompileError(SIMD_UNSUPPORTED);
      default: {
        const load = LOADS.get(op);
        if (load) {
          const off = memarg(load[0]);
          const a = pop(I32);
          if (load[0] === 0) pushStmt(load[1], load[2], `if ((ea = ${address(a, off)}) >= mlen) oob(); `);
          else pushStmt(load[1], load[2].replace('ea', address(a, off)));
          break;
        }
        const store = STORES.get(op);
        if (store) {
          const off = memarg(store[0]);
          const v = pop(store[1]);
          const a = pop(I32);
          if (store[0] === 0) emit(`if ((ea = ${address(a, off)}) >= mlen) oob(); ${store[2](v)};`);
          else emit(`${store[2](v).replace('ea', address(a, off))};`);
          break;
        }
        const num = NUM_OPS.get(op);
        if (num) {
          const [ins, o, fmt, bool] = num;
          let e: string;
          if (ins.length === 1) {
            e = fmt(pop(ins[0] as ValType), '');
          } else {
            const b = pop(ins[1] as ValType);
            const a = pop(ins[0] as ValType);
            e = fmt(a, b);
          }
          if (TRAPPING.has(op)) pushStmt(o, e);
          else if (bool) pushPure(o, `${e} ? 1 : 0`, `(${e})`);
          else pushPure(o, e);
          break;
        }
        fail(`illegal opcode 0x${op.toString(16)}`);
      }
    }
  }
}

function functionSource(
  index: number,
  type: FuncType,
  locals: ValType[],
  vars: Map<string, ValType>,
  body: string[],
  usesMemory: boolean,
): string {
  const params = type.params.map((_, i) => `l${i}`).join(', ');
  const decls: string[] = [];
  for (let i = type.params.length; i < locals.length; i++) decls.push(`l${i} = ${zero(locals[i] as ValType)}`);
  // Stack slots are always written before they are read. With a JIT, a typed initial value keeps each variable
  // monomorphic; the interpreter would only pay two bytecodes per slot on every call for it.
  for (const [name, t] of vars) decls.push(INTERPRETED ? name : `${name} = ${zero(t)}`);
  decls.push('rv', 'tj = 0n');
  if (usesMemory) decls.push('ea = 0');
  return `function f${index}(${params}) {
let ${decls.join(', ')};
if (++S.d > ${MAX_DEPTH}) exhausted();
L_f: {
${body.join('\n')}
}`;
}

/** The module's factory: given the runtime state of one instance, it defines every function and returns them. */
export function moduleSource(m: ModuleInfo, functions: string[]): string {
  const lines: string[] = ['"use strict";'];
  lines.push(
    'const { trap, oob, exhausted, callIndirect, tableGet, tableSet, tableInit, tableCopy, tableFill, divs32, divu32, rems32, remu32, divs64, divu64, rems64, remu64, ctz32, popcnt32, rotl32, rotr32, clz64, ctz64, popcnt64, rotl64, rotr64, nearest, fmin, fmax, copysign, fabs, fneg, tsi32, tui32, tsi64, tui64, ssi32, sui32, ssi64, sui64, i64f32, i32f32, i64f64, f32i32, f64i64 } = H;',
  );
  lines.push('const fround = Math.fround, asI = BigInt.asIntN, asU = BigInt.asUintN;');
  lines.push('const F = inst.funcs, D = inst.datas, E = inst.elems;');
  if (m.memories.length > 0) {
    lines.push('const mem = inst.memory;');
    lines.push('let dv = mem.dv, m8 = mem.u8, mlen = mem.u8.length;');
    lines.push('mem.watch(() => { dv = mem.dv; m8 = mem.u8; mlen = mem.u8.length; });');
    lines.push('const memGrow = (n) => mem.growRaw(n);');
    lines.push('const memInit = (seg, d, s, n) => H.memInit(mem, D, seg, d, s, n);');
    lines.push('const memCopy = (d, s, n) => H.memCopy(mem, d, s, n);');
    lines.push('const memFill = (d, v, n) => H.memFill(mem, d, v, n);');
  }
  m.tables.forEach((_, i) => lines.push(`const T${i} = inst.tables[${i}];`));
  m.globals.forEach((g, i) =>
    lines.push(g.mutable ? `const g${i} = inst.globals[${i}];` : `const gv${i} = inst.globals[${i}].v;`),
  );
  for (let i = 0; i < m.importedFuncs; i++) lines.push(`const f${i} = F[${i}].call;`);
  lines.push(...functions);
  const names: string[] = [];
  for (let i = m.importedFuncs; i < m.funcs.length; i++) names.push(`f${i}`);
  lines.push(`return [${names.join(', ')}];`);
  return lines.join('\n');
}
