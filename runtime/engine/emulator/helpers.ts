// Numeric, memory and table helpers called by the generated code; each implements one spec rule exactly.

import { RuntimeError, Trap } from './errors.ts';
import type { FuncInst, Memory, Table } from './objects.ts';

const asI = BigInt.asIntN;
const asU = BigInt.asUintN;
const f32 = new Float32Array(1);
const u32OfF32 = new Int32Array(f32.buffer);
const f64 = new Float64Array(1);
const i64OfF64 = new BigInt64Array(f64.buffer);
const u8OfF64 = new Uint8Array(f64.buffer);
const i32OfF64 = new Int32Array(f64.buffer);
const I64_MIN = -(2n ** 63n);
const TWO63 = 2 ** 63;
const TWO64 = 2 ** 64;

export function trap(message: string): never {
  throw new RuntimeError(message);
}

export function oob(): never {
  throw new RuntimeError(Trap.memory);
}

export function exhausted(): never {
  throw new RangeError('Maximum call stack size exceeded');
}

export function divs32(a: number, b: number): number {
  if (b === 0) trap(Trap.divByZero);
  if (a === -2147483648 && b === -1) trap(Trap.overflow);
  return (a / b) | 0;
}
export function divu32(a: number, b: number): number {
  if (b === 0) trap(Trap.divByZero);
  return ((a >>> 0) / (b >>> 0)) | 0;
}
export function rems32(a: number, b: number): number {
  if (b === 0) trap(Trap.divByZero);
  return (a % b) | 0;
}
export function remu32(a: number, b: number): number {
  if (b === 0) trap(Trap.divByZero);
  return ((a >>> 0) % (b >>> 0)) | 0;
}
export function divs64(a: bigint, b: bigint): bigint {
  if (b === 0n) trap(Trap.divByZero);
  if (a === I64_MIN && b === -1n) trap(Trap.overflow);
  return a / b;
}
export function divu64(a: bigint, b: bigint): bigint {
  if (b === 0n) trap(Trap.divByZero);
  return asI(64, asU(64, a) / asU(64, b));
}
export function rems64(a: bigint, b: bigint): bigint {
  if (b === 0n) trap(Trap.divByZero);
  return a % b;
}
export function remu64(a: bigint, b: bigint): bigint {
  if (b === 0n) trap(Trap.divByZero);
  return asI(64, asU(64, a) % asU(64, b));
}

export function ctz32(a: number): number {
  return a === 0 ? 32 : 31 - Math.clz32(a & -a);
}
export function popcnt32(a: number): number {
  a = a - ((a >>> 1) & 0x55555555);
  a = (a & 0x33333333) + ((a >>> 2) & 0x33333333);
  return Math.imul((a + (a >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}
export function rotl32(a: number, b: number): number {
  return (a << b) | (a >>> (32 - (b & 31)));
}
export function rotr32(a: number, b: number): number {
  return (a >>> b) | (a << (32 - (b & 31)));
}
export function clz64(a: bigint): bigint {
  const hi = Number(asU(64, a) >> 32n);
  if (hi !== 0) return BigInt(Math.clz32(hi));
  return BigInt(32 + Math.clz32(Number(asU(32, a))));
}
export function ctz64(a: bigint): bigint {
  const lo = Number(asU(32, a));
  if (lo !== 0) return BigInt(ctz32(lo));
  const hi = Number(asU(64, a) >> 32n);
  return BigInt(32 + ctz32(hi));
}
export function popcnt64(a: bigint): bigint {
  return BigInt(popcnt32(Number(asU(32, a))) + popcnt32(Number(asU(64, a) >> 32n)));
}
export function rotl64(a: bigint, b: bigint): bigint {
  const k = b & 63n;
  const u = asU(64, a);
  return asI(64, (u << k) | (u >> (64n - k)));
}
export function rotr64(a: bigint, b: bigint): bigint {
  const k = b & 63n;
  const u = asU(64, a);
  return asI(64, (u >> k) | (u << (64n - k)));
}

/** Round half to even, keeping the sign of zero. */
export function nearest(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const r = Math.round(x);
  if (r - x === 0.5 && r % 2 !== 0) return r - 1 === 0 && x < 0 ? -0 : r - 1;
  return r === 0 && x < 0 ? -0 : r;
}
export const fmin = Math.min;
export const fmax = Math.max;
export function copysign(a: number, b: number): number {
  f64[0] = b;
  const negative = ((u8OfF64[7] as number) & 0x80) !== 0;
  f64[0] = a;
  u8OfF64[7] = negative ? (u8OfF64[7] as number) | 0x80 : (u8OfF64[7] as number) & 0x7f;
  return f64[0] as number;
}

export function tsi32(x: number): number {
  if (x !== x) trap(Trap.conversion);
  const t = Math.trunc(x);
  if (t < -2147483648 || t > 2147483647) trap(Trap.overflow);
  return t | 0;
}
export function tui32(x: number): number {
  if (x !== x) trap(Trap.conversion);
  const t = Math.trunc(x);
  if (t < 0 || t > 4294967295) trap(Trap.overflow);
  return t | 0;
}
export function tsi64(x: number): bigint {
  if (x !== x) trap(Trap.conversion);
  const t = Math.trunc(x);
  if (t < -TWO63 || t >= TWO63) trap(Trap.overflow);
  return BigInt(t);
}
export function tui64(x: number): bigint {
  if (x !== x) trap(Trap.conversion);
  const t = Math.trunc(x);
  if (t < 0 || t >= TWO64) trap(Trap.overflow);
  return asI(64, BigInt(t === 0 ? 0 : t));
}
export function ssi32(x: number): number {
  if (x !== x) return 0;
  if (x <= -2147483648) return -2147483648;
  if (x >= 2147483647) return 2147483647;
  return Math.trunc(x) | 0;
}
export function sui32(x: number): number {
  if (x !== x || x <= 0) return 0;
  if (x >= 4294967295) return -1;
  return Math.trunc(x) | 0;
}
export function ssi64(x: number): bigint {
  if (x !== x) return 0n;
  if (x <= -TWO63) return I64_MIN;
  if (x >= TWO63) return 2n ** 63n - 1n;
  return BigInt(Math.trunc(x));
}
export function sui64(x: number): bigint {
  if (x !== x || x <= 0) return 0n;
  if (x >= TWO64) return -1n;
  return asI(64, BigInt(Math.trunc(x)));
}

/** Integer to f32 with one rounding: values past 2^53 are cut to 53 bits with a sticky bit first. */
export function i64f32(a: bigint): number {
  const neg = a < 0n;
  const m = neg ? -a : a;
  if (m <= 9007199254740992n) return Math.fround(Number(a));
  const bits = m.toString(2).length;
  const shift = bits - 53;
  let hi = m >> BigInt(shift);
  if (hi << BigInt(shift) !== m) hi |= 1n;
  const v = Number(hi) * 2 ** shift;
  return Math.fround(neg ? -v : v);
}

/**
 * f32 values live in JS doubles; a NaN keeps its f32 payload in the top mantissa bits of the double, written and read
 * bit by bit, because the hardware's float/double conversion would quiet a signalling NaN.
 */
export function i32f32(x: number): number {
  if (x !== x) {
    f64[0] = x;
    const hi = i32OfF64[1] as number;
    const lo = i32OfF64[0] as number;
    return (hi & 0x80000000) | 0x7f800000 | ((hi & 0xfffff) << 3) | (lo >>> 29);
  }
  f32[0] = x;
  return u32OfF32[0] as number;
}
export function f32i32(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
    i32OfF64[1] = (x & 0x80000000) | 0x7ff00000 | ((x & 0x7fffff) >>> 3);
    i32OfF64[0] = (x & 7) << 29;
    return f64[0] as number;
  }
  u32OfF32[0] = x;
  return f32[0] as number;
}
/** Sign operations on a NaN flip or clear the sign bit only, as the spec requires. */
export function fneg(x: number): number {
  if (x === x) return -x;
  f64[0] = x;
  (u8OfF64 as Uint8Array)[7] = (u8OfF64[7] as number) ^ 0x80;
  return f64[0] as number;
}
export function fabs(x: number): number {
  if (x === x) return Math.abs(x);
  f64[0] = x;
  (u8OfF64 as Uint8Array)[7] = (u8OfF64[7] as number) & 0x7f;
  return f64[0] as number;
}
export function i64f64(x: number): bigint {
  f64[0] = x;
  return i64OfF64[0] as bigint;
}
export function f64i64(x: bigint): number {
  i64OfF64[0] = x;
  return f64[0] as number;
}

export function callIndirect(table: Table, i: number, sig: number): (...args: unknown[]) => unknown {
  const e = table.elements;
  const k = i >>> 0;
  if (k >= e.length) trap(Trap.undefinedElement);
  const f = e[k] as FuncInst | null;
  if (f === null) trap(Trap.uninitialized);
  if (f.type.id !== sig) trap(Trap.indirectType);
  return f.call;
}
export function tableGet(t: Table, i: number): unknown {
  const k = i >>> 0;
  if (k >= t.elements.length) trap(Trap.table);
  return t.elements[k];
}
export function tableSet(t: Table, i: number, v: unknown): void {
  const k = i >>> 0;
  if (k >= t.elements.length) trap(Trap.table);
  t.elements[k] = v;
}
export function tableInit(t: Table, segs: (unknown[] | null)[], seg: number, d: number, s: number, n: number): void {
  const src = segs[seg] ?? [];
  d >>>= 0;
  s >>>= 0;
  n >>>= 0;
  if (s + n > src.length || d + n > t.elements.length) trap(Trap.table);
  for (let k = 0; k < n; k++) t.elements[d + k] = src[s + k];
}
export function tableCopy(td: Table, ts: Table, d: number, s: number, n: number): void {
  d >>>= 0;
  s >>>= 0;
  n >>>= 0;
  if (s + n > ts.elements.length || d + n > td.elements.length) trap(Trap.table);
  if (d <= s) for (let k = 0; k < n; k++) td.elements[d + k] = ts.elements[s + k];
  else for (let k = n - 1; k >= 0; k--) td.elements[d + k] = ts.elements[s + k];
}
export function tableFill(t: Table, i: number, v: unknown, n: number): void {
  i >>>= 0;
  n >>>= 0;
  if (i + n > t.elements.length) trap(Trap.table);
  for (let k = 0; k < n; k++) t.elements[i + k] = v;
}
export function memInit(mem: Memory, segs: (Uint8Array | null)[], seg: number, d: number, s: number, n: number): void {
  const src = segs[seg] ?? new Uint8Array(0);
  d >>>= 0;
  s >>>= 0;
  n >>>= 0;
  if (s + n > src.length || d + n > mem.u8.length) trap(Trap.memory);
  mem.u8.set(src.subarray(s, s + n), d);
}
export function memCopy(mem: Memory, d: number, s: number, n: number): void {
  d >>>= 0;
  s >>>= 0;
  n >>>= 0;
  const len = mem.u8.length;
  if (s + n > len || d + n > len) trap(Trap.memory);
  mem.u8.copyWithin(d, s, s + n);
}
export function memFill(mem: Memory, d: number, v: number, n: number): void {
  d >>>= 0;
  n >>>= 0;
  if (d + n > mem.u8.length) trap(Trap.memory);
  mem.u8.fill(v & 255, d, d + n);
}
