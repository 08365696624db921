// The JS API's Memory, Table and Global, function instances, and the ToJSValue/ToWebAssemblyValue conversions.

import { RuntimeError, Trap } from './errors.ts';
import { EXTERNREF, F32, F64, FUNCREF, I32, I64, type FuncType, type ValType } from './types.ts';

const PAGE = 65536;

/** Shared call depth of all emulator instances; reset at every entry from JS after an exception. */
export const depth = { d: 0 };

export interface FuncInst {
  type: FuncType;
  /** Wasm calling convention: i64 as BigInt, funcref as FuncInst, several results as an array. */
  call: (...args: any[]) => any;
  wrapper: ((...args: unknown[]) => unknown) | undefined;
}

const wrappers = new WeakMap<object, FuncInst>();

const DATAVIEW_BOUNDS = 'Offset is outside the bounds of the DataView';

/** A DataView bounds error from generated code is the spec's out-of-bounds trap; anything else passes unchanged. */
export function asTrap(e: unknown): unknown {
  if (e instanceof RangeError && e.message === DATAVIEW_BOUNDS) return new RuntimeError(Trap.memory);
  return e;
}

export function funcInstOf(fn: unknown): FuncInst | undefined {
  return typeof fn === 'function' ? wrappers.get(fn) : undefined;
}

function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') throw new TypeError('Cannot convert a Number to a BigInt');
  if (typeof v === 'object' && v !== null) return toBigInt((v as { valueOf(): unknown }).valueOf());
  return BigInt(v as string | boolean);
}

export function toWasm(t: ValType, v: unknown): unknown {
  switch (t) {
    case I32:
      return +(v as number) | 0;
    case I64:
      return BigInt.asIntN(64, toBigInt(v));
    case F32:
      return Math.fround(+(v as number));
    case F64:
      return +(v as number);
    case FUNCREF: {
      if (v === null) return null;
      const fi = funcInstOf(v);
      if (!fi) throw new TypeError('value is not a WebAssembly function (funcref)');
      return fi;
    }
    case EXTERNREF:
      return v;
    default:
      throw new TypeError('unsupported value type');
  }
}

export function toJS(t: ValType, v: unknown): unknown {
  if (t === FUNCREF) return v === null ? null : exportedFunction(v as FuncInst);
  return v;
}

/** The JS function for a function instance: the same object every time, so identity holds across exports. */
export function exportedFunction(fi: FuncInst): (...args: unknown[]) => unknown {
  if (fi.wrapper) return fi.wrapper;
  const { params, results } = fi.type;
  const np = params.length;
  const wrapper = function (...args: unknown[]): unknown {
    const a = new Array<unknown>(np);
    for (let i = 0; i < np; i++) a[i] = toWasm(params[i] as ValType, args[i]);
    const saved = depth.d;
    let r: unknown;
    try {
      r = fi.call(...a);
    } catch (e) {
      depth.d = saved;
      throw asTrap(e);
    }
    if (results.length === 0) return undefined;
    if (results.length === 1) return toJS(results[0] as ValType, r);
    return (r as unknown[]).map((v, i) => toJS(results[i] as ValType, v));
  };
  Object.defineProperty(wrapper, 'length', { value: np });
  fi.wrapper = wrapper;
  wrappers.set(wrapper, fi);
  return wrapper;
}

/** Wraps a JS function imported by a module so the generated code can call it in the wasm convention. */
export function hostFunction(type: FuncType, fn: (...args: unknown[]) => unknown): FuncInst {
  const { params, results } = type;
  const convertArgs = params.some((t) => t === FUNCREF);
  const call = (...args: unknown[]): unknown => {
    const a = convertArgs ? args.map((v, i) => toJS(params[i] as ValType, v)) : args;
    const r = fn(...a);
    if (results.length === 0) return undefined;
    if (results.length === 1) return toWasm(results[0] as ValType, r);
    if (r === null || typeof r !== 'object' || !(Symbol.iterator in r))
      throw new TypeError('multi-value result is not iterable');
    const list = [...(r as Iterable<unknown>)];
    if (list.length !== results.length) throw new TypeError('multi-value result has the wrong length');
    return list.map((v, i) => toWasm(results[i] as ValType, v));
  };
  return { type, call, wrapper: undefined };
}

function valueTypeOf(name: unknown): ValType {
  switch (name) {
    case 'i32':
      return I32;
    case 'i64':
      return I64;
    case 'f32':
      return F32;
    case 'f64':
      return F64;
    case 'anyfunc':
    case 'funcref':
      return FUNCREF;
    case 'externref':
      return EXTERNREF;
    default:
      throw new TypeError(`invalid value type ${String(name)}`);
  }
}

function index(v: unknown, what: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 0xffffffff) throw new TypeError(`invalid ${what}`);
  return Math.trunc(n);
}

export interface MemoryDescriptor {
  initial: number;
  maximum?: number;
  shared?: boolean;
}

export class Memory {
  u8: Uint8Array;
  dv: DataView;
  readonly maximum: number | undefined;
  private readonly watchers: (() => void)[] = [];

  constructor(descriptor: MemoryDescriptor) {
    if (typeof descriptor !== 'object' || descriptor === null)
      throw new TypeError('Memory descriptor must be an object');
    const initial = index(descriptor.initial, 'initial');
    const maximum = descriptor.maximum === undefined ? undefined : index(descriptor.maximum, 'maximum');
    if (initial > 65536 || (maximum !== undefined && (maximum > 65536 || maximum < initial)))
      throw new RangeError('invalid memory limits');
    this.maximum = maximum;
    this.u8 = new Uint8Array(initial * PAGE);
    this.dv = new DataView(this.u8.buffer);
  }

  get buffer(): ArrayBuffer {
    return this.u8.buffer as ArrayBuffer;
  }

  watch(fn: () => void): void {
    this.watchers.push(fn);
  }

  /** memory.grow: the old size in pages, or -1 when the limit or the host refuses. */
  growRaw(delta: number): number {
    const old = this.u8.length / PAGE;
    const d = delta >>> 0;
    const max = this.maximum ?? 65536;
    if (old + d > max) return -1;
    if (d === 0) return old;
    let next: Uint8Array;
    try {
      next = new Uint8Array((old + d) * PAGE);
    } catch {
      return -1;
    }
    next.set(this.u8);
    const previous = this.u8.buffer as ArrayBuffer & { transfer?: (n?: number) => ArrayBuffer };
    this.u8 = next;
    this.dv = new DataView(next.buffer);
    // Detach the old buffer as V8 does, so stale views fail loudly instead of reading old bytes.
    if (typeof previous.transfer === 'function') previous.transfer(0);
    else structuredClone(previous, { transfer: [previous] });
    for (const w of this.watchers) w();
    return old;
  }

  grow(delta: number): number {
    const r = this.growRaw(index(delta, 'delta'));
    if (r < 0) throw new RangeError('Memory.grow(): maximum memory size exceeded');
    return r;
  }
}

export interface TableDescriptor {
  element: string;
  initial: number;
  maximum?: number;
}

export class Table {
  readonly elements: unknown[];
  readonly type: ValType;
  readonly maximum: number | undefined;

  constructor(descriptor: TableDescriptor, value?: unknown) {
    if (typeof descriptor !== 'object' || descriptor === null)
      throw new TypeError('Table descriptor must be an object');
    this.type = valueTypeOf(descriptor.element);
    const initial = index(descriptor.initial, 'initial');
    this.maximum = descriptor.maximum === undefined ? undefined : index(descriptor.maximum, 'maximum');
    if (this.maximum !== undefined && this.maximum < initial) throw new RangeError('invalid table limits');
    if (initial > 10_000_000) throw new RangeError('table too large');
    const init =
      value === undefined
        ? this.type === EXTERNREF && arguments.length > 1
          ? undefined
          : null
        : toWasm(this.type, value);
    this.elements = new Array<unknown>(initial).fill(init);
  }

  get length(): number {
    return this.elements.length;
  }

  get(i: number): unknown {
    const k = index(i, 'index');
    if (k >= this.elements.length) throw new RangeError('table index out of bounds');
    return toJS(this.type, this.elements[k]);
  }

  set(i: number, value?: unknown): void {
    const k = index(i, 'index');
    if (k >= this.elements.length) throw new RangeError('table index out of bounds');
    this.elements[k] = value === undefined && this.type === FUNCREF ? null : toWasm(this.type, value);
  }

  /** table.grow: the old length, or -1. */
  growRaw(delta: number, value: unknown): number {
    const old = this.elements.length;
    const d = delta >>> 0;
    const max = this.maximum ?? 0xffffffff;
    if (old + d > max || old + d > 10_000_000) return -1;
    for (let k = 0; k < d; k++) this.elements.push(value);
    return old;
  }

  grow(delta: number, value?: unknown): number {
    const v = value === undefined ? (this.type === FUNCREF ? null : undefined) : toWasm(this.type, value);
    const r = this.growRaw(index(delta, 'delta'), v);
    if (r < 0) throw new RangeError('Table.grow(): maximum table size exceeded');
    return r;
  }
}

export interface GlobalDescriptor {
  value: string;
  mutable?: boolean;
}

export class Global {
  /** The value in the wasm convention (read and written directly by generated code). */
  v: unknown;
  readonly type: ValType;
  readonly mutable: boolean;

  constructor(descriptor: GlobalDescriptor, value?: unknown) {
    if (typeof descriptor !== 'object' || descriptor === null)
      throw new TypeError('Global descriptor must be an object');
    this.type = valueTypeOf(descriptor.value);
    this.mutable = Boolean(descriptor.mutable);
    if (value === undefined) {
      this.v =
        this.type === I64
          ? 0n
          : this.type === FUNCREF || this.type === EXTERNREF
            ? this.type === EXTERNREF && arguments.length > 1
              ? undefined
              : null
            : 0;
    } else {
      this.v = toWasm(this.type, value);
    }
  }

  get value(): unknown {
    return toJS(this.type, this.v);
  }

  set value(x: unknown) {
    if (!this.mutable) throw new TypeError('Cannot set the value of an immutable global');
    this.v = toWasm(this.type, x);
  }

  valueOf(): unknown {
    return this.value;
  }

  /** Internal constructor for module-defined globals, bypassing descriptor parsing. */
  static of(type: ValType, mutable: boolean, v: unknown): Global {
    const g = Object.create(Global.prototype) as Global;
    (g as { type: ValType }).type = type;
    (g as { mutable: boolean }).mutable = mutable;
    g.v = v;
    return g;
  }
}
