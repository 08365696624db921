// Decodes and validates a wasm binary into a ModuleInfo; function bodies go to compile.ts as they are read.

import { CompileError } from './errors.ts';
import { Reader } from './reader.ts';
import { compileFunction, moduleSource, type CompileContext } from './compile.ts';
import {
  EXTERNREF,
  F32,
  F64,
  FUNCREF,
  I32,
  I64,
  V128,
  funcType,
  type ConstExpr,
  type DataSegment,
  type ElemSegment,
  type Export,
  type GlobalType,
  type Limits,
  type ModuleInfo,
  type TableType,
  type ValType,
} from './types.ts';

export const SIMD_UNSUPPORTED = 'SIMD is not supported by the emulator';
const MAX_PAGES = 65536;

export function readValType(r: Reader): ValType {
  const b = r.u8();
  if (b === I32 || b === I64 || b === F32 || b === F64 || b === FUNCREF || b === EXTERNREF) return b;
  if (b === V128) throw new CompileError(SIMD_UNSUPPORTED);
  return r.fail(`malformed value type 0x${b.toString(16)}`);
}

function readRefType(r: Reader): ValType {
  const b = r.u8();
  if (b === FUNCREF || b === EXTERNREF) return b;
  return r.fail('malformed reference type');
}

function readLimits(r: Reader, maxBound: number, what: string): Limits {
  const flag = r.u8();
  if (flag > 1) r.fail('integer too large');
  const min = r.u32();
  const max = flag === 1 ? r.u32() : undefined;
  if (min > maxBound) r.fail(`${what} size must be at most ${maxBound}`);
  if (max !== undefined) {
    if (max > maxBound) r.fail(`${what} size must be at most ${maxBound}`);
    if (max < min) r.fail('size minimum must not be greater than maximum');
  }
  return { min, max };
}

function readTableType(r: Reader): TableType {
  const elem = readRefType(r);
  return { elem, limits: readLimits(r, 0xffffffff, 'table') };
}

function readGlobalType(r: Reader): GlobalType {
  const type = readValType(r);
  const m = r.u8();
  if (m > 1) r.fail('malformed mutability');
  return { type, mutable: m === 1 };
}

interface ConstCtx {
  globals: GlobalType[];
  /** Globals a constant expression may read (imported ones only, in Wasm 2.0). */
  visibleGlobals: number;
  funcCount: number;
  refs: Set<number>;
}

function readConstExpr(r: Reader, expected: ValType, c: ConstCtx): ConstExpr {
  const op = r.u8();
  let e: ConstExpr;
  let t: ValType;
  switch (op) {
    case 0x41:
      e = { op: 'const', type: I32, value: r.s32() };
      t = I32;
      break;
    case 0x42:
      e = { op: 'const', type: I64, value: r.s64() };
      t = I64;
      break;
    case 0x43:
      e = { op: 'const', type: F32, value: r.f32() };
      t = F32;
      break;
    case 0x44:
      e = { op: 'const', type: F64, value: r.f64() };
      t = F64;
      break;
    case 0xd0:
      t = readRefType(r);
      e = { op: 'ref.null', type: t };
      break;
    case 0xd2: {
      const index = r.u32();
      if (index >= c.funcCount) r.fail(`unknown function ${index}`);
      c.refs.add(index);
      e = { op: 'ref.func', index };
      t = FUNCREF;
      break;
    }
    case 0x23: {
      const index = r.u32();
      if (index >= c.visibleGlobals) r.fail(`unknown global ${index}`);
      const g = c.globals[index] as GlobalType;
      if (g.mutable) r.fail('constant expression required');
      e = { op: 'global.get', index };
      t = g.type;
      break;
    }
    case 0xfd:
      throw new CompileError(SIMD_UNSUPPORTED);
    case 0x0b:
      return r.fail('type mismatch: constant expression is empty');
    default:
      return r.fail('constant expression required');
  }
  const end = r.u8();
  if (end !== 0x0b) {
    if ([0x41, 0x42, 0x43, 0x44, 0xd0, 0xd2, 0x23].includes(end))
      r.fail('type mismatch: constant expression leaves extra values');
    r.fail('constant expression required');
  }
  if (t !== expected) r.fail('type mismatch in constant expression');
  return e;
}

export function decodeModule(input: Uint8Array): ModuleInfo {
  const r: Reader = new Reader(input);
  if (input.length < 4 || input[0] !== 0 || input[1] !== 0x61 || input[2] !== 0x73 || input[3] !== 0x6d) {
    r.fail('magic header not detected');
  }
  r.pos = 4;
  if (input.length < 8) r.fail('unexpected end');
  if (input[4] !== 1 || input[5] !== 0 || input[6] !== 0 || input[7] !== 0) r.fail('unknown binary version');
  r.pos = 8;

  const m: ModuleInfo = {
    types: [],
    imports: [],
    funcs: [],
    importedFuncs: 0,
    tables: [],
    importedTables: 0,
    memories: [],
    importedMemories: 0,
    globals: [],
    importedGlobals: 0,
    globalInits: [],
    exports: [],
    start: undefined,
    elems: [],
    datas: [],
    customs: [],
    source: '',
  };
  const refs = new Set<number>();
  let dataCount: number | undefined;
  let declaredFuncs = 0;
  let codeSeen = false;
  const functionSources: string[] = [];
  const order = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 10, 11];
  let lastOrder = 0;

  while (!r.eof()) {
    const id = r.u8();
    const size = r.u32();
    const start = r.pos;
    const end = start + size;
    if (end > input.length) r.fail('unexpected end: section size out of bounds');
    const s: Reader = new Reader(input, start, end);
    if (id !== 0) {
      const rank = order.indexOf(id);
      if (rank < 0) r.fail(`malformed section id ${id}`);
      if (rank <= lastOrder) r.fail('unexpected content after last section / junk after last section');
      lastOrder = rank;
    }
    switch (id) {
      case 0: {
        const name = s.name();
        m.customs.push({ name, bytes: input.slice(s.pos, end) });
        s.pos = end;
        break;
      }
      case 1: {
        const n = s.u32();
        for (let i = 0; i < n; i++) {
          const form = s.u8();
          if (form !== 0x60) s.fail('malformed functype');
          const params: ValType[] = [];
          const np = s.u32();
          for (let j = 0; j < np; j++) params.push(readValType(s));
          const results: ValType[] = [];
          const nr = s.u32();
          for (let j = 0; j < nr; j++) results.push(readValType(s));
          m.types.push(funcType(params, results));
        }
        break;
      }
      case 2: {
        const n = s.u32();
        for (let i = 0; i < n; i++) {
          const module = s.name();
          const name = s.name();
          const kind = s.u8();
          switch (kind) {
            case 0: {
              const ti = s.u32();
              const type = m.types[ti];
              if (!type) s.fail(`unknown type ${ti}`);
              m.imports.push({ module, name, desc: { kind: 'function', type } });
              m.funcs.push(type);
              m.importedFuncs++;
              break;
            }
            case 1: {
              const type = readTableType(s);
              m.imports.push({ module, name, desc: { kind: 'table', type } });
              m.tables.push(type);
              m.importedTables++;
              break;
            }
            case 2: {
              const type = readLimits(s, MAX_PAGES, 'memory');
              m.imports.push({ module, name, desc: { kind: 'memory', type } });
              m.memories.push(type);
              m.importedMemories++;
              break;
            }
            case 3: {
              const type = readGlobalType(s);
              m.imports.push({ module, name, desc: { kind: 'global', type } });
              m.globals.push(type);
              m.importedGlobals++;
              break;
            }
            default:
              s.fail('malformed import kind');
          }
        }
        break;
      }
      case 3: {
        const n = s.u32();
        declaredFuncs = n;
        for (let i = 0; i < n; i++) {
          const ti = s.u32();
          const type = m.types[ti];
          if (!type) s.fail(`unknown type ${ti}`);
          m.funcs.push(type);
        }
        break;
      }
      case 4: {
        const n = s.u32();
        for (let i = 0; i < n; i++) m.tables.push(readTableType(s));
        break;
      }
      case 5: {
        const n = s.u32();
        for (let i = 0; i < n; i++) m.memories.push(readLimits(s, MAX_PAGES, 'memory'));
        break;
      }
      case 6: {
        const n = s.u32();
        for (let i = 0; i < n; i++) {
          const g = readGlobalType(s);
          const init = readConstExpr(s, g.type, {
            globals: m.globals,
            visibleGlobals: m.importedGlobals,
            funcCount: m.funcs.length,
            refs,
          });
          m.globals.push(g);
          m.globalInits.push(init);
        }
        break;
      }
      case 7: {
        const n = s.u32();
        const names = new Set<string>();
        for (let i = 0; i < n; i++) {
          const name = s.name();
          if (names.has(name)) s.fail('duplicate export name');
          names.add(name);
          const kind = s.u8();
          const index = s.u32();
          let k: Export['kind'];
          switch (kind) {
            case 0:
              if (index >= m.funcs.length) s.fail(`unknown function ${index}`);
              k = 'function';
              refs.add(index);
              break;
            case 1:
              if (index >= m.tables.length) s.fail(`unknown table ${index}`);
              k = 'table';
              break;
            case 2:
              if (index >= m.memories.length) s.fail(`unknown memory ${index}`);
              k = 'memory';
              break;
            case 3:
              if (index >= m.globals.length) s.fail(`unknown global ${index}`);
              k = 'global';
              break;
            default:
              return s.fail('malformed export kind');
          }
          m.exports.push({ name, kind: k, index });
        }
        break;
      }
      case 8: {
        const index = s.u32();
        const t = m.funcs[index];
        if (!t) s.fail(`unknown function ${index}`);
        if (t.params.length || t.results.length) s.fail('start function must have type [] -> []');
        m.start = index;
        break;
      }
      case 9: {
        const n = s.u32();
        const cc: ConstCtx = { globals: m.globals, visibleGlobals: m.importedGlobals, funcCount: m.funcs.length, refs };
        for (let i = 0; i < n; i++) m.elems.push(readElem(s, m, cc));
        break;
      }
      case 12: {
        dataCount = s.u32();
        break;
      }
      case 10: {
        codeSeen = true;
        const n = s.u32();
        if (n !== declaredFuncs) s.fail('function and code section have inconsistent lengths');
        const ctx: CompileContext = { module: m, refs, dataCount };
        for (let i = 0; i < n; i++) {
          const bodySize = s.u32();
          const bodyEnd = s.pos + bodySize;
          if (bodyEnd > end) s.fail('unexpected end: function body out of bounds');
          const body = new Reader(input, s.pos, bodyEnd);
          functionSources.push(compileFunction(ctx, body, m.importedFuncs + i));
          s.pos = bodyEnd;
        }
        break;
      }
      case 11: {
        const n = s.u32();
        if (dataCount !== undefined && n !== dataCount) s.fail('data count and data section have inconsistent lengths');
        const cc: ConstCtx = { globals: m.globals, visibleGlobals: m.importedGlobals, funcCount: m.funcs.length, refs };
        for (let i = 0; i < n; i++) {
          const flag = s.u32();
          let seg: DataSegment;
          if (flag === 1) {
            seg = { mode: 'passive', offset: undefined, bytes: new Uint8Array(0) };
          } else if (flag === 0 || flag === 2) {
            const mem = flag === 2 ? s.u32() : 0;
            if (mem >= m.memories.length) s.fail(`unknown memory ${mem}`);
            seg = { mode: 'active', offset: readConstExpr(s, I32, cc), bytes: new Uint8Array(0) };
          } else {
            return s.fail('malformed data segment flags');
          }
          const len = s.u32();
          seg.bytes = s.take(len).slice();
          m.datas.push(seg);
        }
        break;
      }
      default:
        break;
    }
    if (s.pos !== end) s.fail('section size mismatch');
    r.pos = end;
  }
  if (!codeSeen && declaredFuncs > 0) r.fail('function and code section have inconsistent lengths');
  if (dataCount !== undefined && m.datas.length !== dataCount)
    r.fail('data count and data section have inconsistent lengths');
  if (m.memories.length > 1) r.fail('multiple memories');
  m.source = moduleSource(m, functionSources);
  return m;
}

function readElem(s: Reader, m: ModuleInfo, cc: ConstCtx): ElemSegment {
  const flag = s.u32();
  if (flag > 7) s.fail('malformed elements segment kind');
  const passiveOrDeclarative = (flag & 1) !== 0;
  const explicitTable = (flag & 2) !== 0;
  const usesExprs = (flag & 4) !== 0;
  let mode: ElemSegment['mode'] = 'active';
  let table = 0;
  let offset: ConstExpr | undefined;
  if (passiveOrDeclarative) {
    mode = explicitTable ? 'declarative' : 'passive';
  } else {
    if (explicitTable) table = s.u32();
    if (table >= m.tables.length) s.fail(`unknown table ${table}`);
    offset = readConstExpr(s, I32, cc);
  }
  let type: ValType = FUNCREF;
  if (passiveOrDeclarative || explicitTable) {
    if (usesExprs) type = readRefType(s);
    else if (s.u8() !== 0) s.fail('malformed element kind');
  }
  const n = s.u32();
  const init: ConstExpr[] = [];
  for (let i = 0; i < n; i++) {
    if (usesExprs) {
      init.push(readConstExpr(s, type, cc));
    } else {
      const index = s.u32();
      if (index >= cc.funcCount) s.fail(`unknown function ${index}`);
      cc.refs.add(index);
      init.push({ op: 'ref.func', index });
    }
  }
  if (mode === 'active') {
    const t = m.tables[table] as TableType;
    if (t.elem !== type) s.fail('type mismatch in element segment');
  }
  return { mode, table, offset, type, init };
}
