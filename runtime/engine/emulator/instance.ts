// Links a compiled module against its imports and runs the instantiation steps (globals, segments, start).

import { LinkError, RuntimeError, Trap } from './errors.ts';
import * as H from './helpers.ts';
import {
  Global,
  Memory,
  Table,
  asTrap,
  depth,
  exportedFunction,
  funcInstOf,
  hostFunction,
  toWasm,
  type FuncInst,
} from './objects.ts';
import { FUNCREF, I64, type ConstExpr, type Limits, type ModuleInfo, type ValType } from './types.ts';

export type Factory = (S: typeof depth, h: typeof H, inst: InstanceState) => ((...args: any[]) => any)[];

export interface InstanceState {
  funcs: FuncInst[];
  tables: Table[];
  memory: Memory | undefined;
  globals: Global[];
  datas: (Uint8Array | null)[];
  elems: (unknown[] | null)[];
}

function limitsMatch(size: number, max: number | undefined, want: Limits): boolean {
  if (size < want.min) return false;
  if (want.max !== undefined) return max !== undefined && max <= want.max;
  return true;
}

function constValue(e: ConstExpr, st: InstanceState): unknown {
  switch (e.op) {
    case 'const':
      return e.value;
    case 'ref.null':
      return null;
    case 'ref.func':
      return st.funcs[e.index];
    case 'global.get':
      return (st.globals[e.index] as Global).v;
  }
}

export function instantiate(m: ModuleInfo, factory: Factory, importObject: unknown): Record<string, unknown> {
  if (m.imports.length > 0 && (typeof importObject !== 'object' || importObject === null)) {
    throw new TypeError('Imports argument must be present and must be an object');
  }
  const st: InstanceState = { funcs: [], tables: [], memory: undefined, globals: [], datas: [], elems: [] };
  for (const imp of m.imports) {
    const ns = (importObject as Record<string, unknown>)[imp.module];
    if ((typeof ns !== 'object' && typeof ns !== 'function') || ns === null) {
      throw new TypeError(`Import #${imp.module}: module is not an object or function`);
    }
    const v = (ns as Record<string, unknown>)[imp.name];
    const what = `${imp.module}.${imp.name}`;
    const d = imp.desc;
    switch (d.kind) {
      case 'function': {
        if (typeof v !== 'function') throw new LinkError(`${what}: function import requires a callable`);
        const fi = funcInstOf(v);
        if (fi) {
          if (fi.type.id !== d.type.id)
            throw new LinkError(`${what}: imported function does not match the expected type`);
          st.funcs.push(fi);
        } else {
          st.funcs.push(hostFunction(d.type, v as (...args: unknown[]) => unknown));
        }
        break;
      }
      case 'global': {
        const t = d.type;
        if (v instanceof Global) {
          if (v.type !== t.type || v.mutable !== t.mutable)
            throw new LinkError(`${what}: imported global does not match the expected type`);
          st.globals.push(v);
        } else {
          if (t.type === I64 && typeof v !== 'bigint') throw new LinkError(`${what}: global import must be a BigInt`);
          if (t.type !== I64 && t.type !== FUNCREF && t.type !== 0x6f && typeof v !== 'number')
            throw new LinkError(`${what}: global import must be a number`);
          if (t.mutable) throw new LinkError(`${what}: imported mutable global must be a WebAssembly.Global object`);
          let value: unknown;
          try {
            value = toWasm(t.type, v);
          } catch (e) {
            throw new LinkError(`${what}: ${(e as Error).message}`);
          }
          st.globals.push(Global.of(t.type, false, value));
        }
        break;
      }
      case 'memory': {
        if (!(v instanceof Memory)) throw new LinkError(`${what}: memory import must be a WebAssembly.Memory object`);
        if (!limitsMatch(v.u8.length / 65536, v.maximum, d.type))
          throw new LinkError(`${what}: memory import has incompatible limits`);
        st.memory = v;
        break;
      }
      case 'table': {
        if (!(v instanceof Table)) throw new LinkError(`${what}: table import requires a WebAssembly.Table`);
        if (v.type !== d.type.elem || !limitsMatch(v.length, v.maximum, d.type.limits))
          throw new LinkError(`${what}: table import has incompatible type or limits`);
        st.tables.push(v);
        break;
      }
    }
  }
  for (let i = m.importedFuncs; i < m.funcs.length; i++) {
    st.funcs.push({ type: m.funcs[i] as FuncInst['type'], call: notReady, wrapper: undefined });
  }
  m.globalInits.forEach((init, i) => {
    const g = m.globals[m.importedGlobals + i] as { type: ValType; mutable: boolean };
    st.globals.push(Global.of(g.type, g.mutable, constValue(init, st)));
  });
  for (let i = m.importedTables; i < m.tables.length; i++) {
    const t = m.tables[i] as { elem: ValType; limits: Limits };
    const table = Object.create(Table.prototype) as Table;
    Object.assign(table, {
      elements: new Array<unknown>(t.limits.min).fill(null),
      type: t.elem,
      maximum: t.limits.max,
    });
    st.tables.push(table);
  }
  if (m.memories.length > m.importedMemories) {
    const l = m.memories[0] as Limits;
    st.memory = new Memory(l.max === undefined ? { initial: l.min } : { initial: l.min, maximum: l.max });
  }
  st.datas = m.datas.map((d) => d.bytes);
  st.elems = m.elems.map((e) => e.init.map((x) => constValue(x, st)));

  const compiled = factory(depth, H, st);
  compiled.forEach((fn, i) => {
    (st.funcs[m.importedFuncs + i] as FuncInst).call = fn;
  });

  const exports: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const e of m.exports) {
    switch (e.kind) {
      case 'function':
        exports[e.name] = exportedFunction(st.funcs[e.index] as FuncInst);
        break;
      case 'table':
        exports[e.name] = st.tables[e.index];
        break;
      case 'memory':
        exports[e.name] = st.memory;
        break;
      case 'global':
        exports[e.name] = st.globals[e.index];
        break;
    }
  }
  Object.freeze(exports);

  const saved = depth.d;
  try {
    m.elems.forEach((seg, i) => {
      if (seg.mode === 'active') {
        const offset = constValue(seg.offset as ConstExpr, st) as number;
        H.tableInit(st.tables[seg.table] as Table, st.elems, i, offset, 0, seg.init.length);
      }
      if (seg.mode !== 'passive') st.elems[i] = null;
    });
    m.datas.forEach((seg, i) => {
      if (seg.mode === 'active') {
        const offset = constValue(seg.offset as ConstExpr, st) as number;
        H.memInit(st.memory as Memory, st.datas, i, offset, 0, seg.bytes.length);
        st.datas[i] = null;
      }
    });
    if (m.start !== undefined) (st.funcs[m.start] as FuncInst).call();
  } catch (e) {
    depth.d = saved;
    throw asTrap(e);
  }
  return exports;
}

function notReady(): never {
  throw new RuntimeError(Trap.uninitialized);
}
