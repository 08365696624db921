// Module-level decoder: splits a module into sections and reads the ones the instrumenter needs to know.

import { Reader } from './bytes.ts';
import { ModuleError, malformed, unsupported } from './errors.ts';
import { Feature } from './features.ts';

export const SectionId = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
} as const;

/** Position of each known section id in the required order (tag sits between memory and global). */
const ORDER: Record<number, number> = {
  1: 1,
  2: 2,
  3: 3,
  4: 4,
  5: 5,
  13: 6,
  6: 7,
  7: 8,
  8: 9,
  9: 10,
  12: 11,
  10: 12,
  11: 13,
};

export function sectionRank(id: number): number {
  return ORDER[id] ?? 0;
}

export const ValType = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
  funcref: 0x70,
  externref: 0x6f,
} as const;

export interface FuncType {
  params: number[];
  results: number[];
}

export interface Section {
  id: number;
  /** Offset of the section id byte. */
  headerStart: number;
  /** Content range (after the size). */
  start: number;
  end: number;
}

export interface Limits {
  flags: number;
  min: number;
  max: number | null;
}

export interface Import {
  module: string;
  name: string;
  kind: number;
  /** Function imports: the type index. */
  typeIndex?: number;
}

export interface Export {
  name: string;
  kind: number;
  index: number;
}

export interface ModuleInfo {
  sections: Section[];
  types: FuncType[];
  imports: Import[];
  importedFuncs: number;
  importedGlobals: number;
  importedTables: number;
  importedMemories: number;
  /** Type index of each defined function. */
  funcTypes: number[];
  tables: number;
  memories: Limits[];
  definedGlobals: number;
  /** Indices (in the global index space) of defined mutable globals JavaScript can read and write (not v128). */
  mutableGlobals: number[];
  /** The value type of each of `mutableGlobals` (0x7f i32, 0x7e i64, 0x7d f32, 0x7c f64, 0x70/0x6f references). */
  mutableGlobalTypes: number[];
  /** Defined mutable v128 globals: state JavaScript cannot read, so snapshots cannot hold it. */
  mutableV128Globals: number;
  exports: Export[];
  start: number | null;
  features: number;
}

export const ExternKind = { func: 0, table: 1, memory: 2, global: 3, tag: 4 } as const;

/** Reads a value type byte, refusing the types of proposals we do not accept. */
export function readValType(r: Reader, info: { features: number }): number {
  const at = r.pos;
  const t = r.byte();
  switch (t) {
    case 0x7f:
    case 0x7e:
    case 0x7d:
    case 0x7c:
      return t;
    case 0x7b:
      info.features |= Feature.simd;
      return t;
    case 0x70:
    case 0x6f:
      info.features |= Feature.referenceTypes;
      return t;
    default:
      throw refusedType(t, at);
  }
}

export function refusedType(t: number, at: number): ModuleError {
  if (t === 0x63 || t === 0x64) return unsupported('function-references', `reference type 0x${t.toString(16)}`, at);
  if (t === 0x69 || t === 0x74) return unsupported('exception-handling', 'exnref', at);
  if (t >= 0x65 && t <= 0x73) return unsupported('gc', `GC reference type 0x${t.toString(16)}`, at);
  return malformed(`unknown value type 0x${t.toString(16)}`, at);
}

export function readLimits(r: Reader, memory: boolean): Limits {
  const at = r.pos;
  const flags = r.byte();
  if (flags & 0x02) throw unsupported('threads', 'shared memory', at);
  if (flags & 0x04) throw unsupported('memory64', memory ? '64-bit memory' : '64-bit table', at);
  if (flags & 0x08) throw unsupported('custom-page-sizes', 'custom page size', at);
  if (flags > 1) throw malformed(`unknown limits flags 0x${flags.toString(16)}`, at);
  const min = r.u32();
  const max = flags & 1 ? r.u32() : null;
  return { flags, min, max };
}

function readTableType(r: Reader, info: { features: number }): void {
  if (r.peek() === 0x40) throw unsupported('function-references', 'table with an initializer expression', r.pos);
  const t = readValType(r, info);
  if (t !== ValType.funcref && t !== ValType.externref)
    throw malformed('table element type is not a reference type', r.pos - 1);
  readLimits(r, false);
}

/** Skips a constant expression, refusing instructions outside Wasm 2.0's constant set. */
export function skipConstExpr(r: Reader, info: { features: number }): void {
  for (;;) {
    const at = r.pos;
    const op = r.byte();
    switch (op) {
      case 0x0b:
        return;
      case 0x41:
        r.skipLeb(5);
        break;
      case 0x42:
        r.skipLeb(10);
        break;
      case 0x43:
        r.skip(4);
        break;
      case 0x44:
        r.skip(8);
        break;
      case 0x23:
        r.u32();
        break;
      case 0xd0: {
        const h = r.byte();
        if (h !== 0x70 && h !== 0x6f) throw refusedType(h, r.pos - 1);
        info.features |= Feature.referenceTypes;
        break;
      }
      case 0xd2:
        r.u32();
        info.features |= Feature.referenceTypes;
        break;
      case 0xfd: {
        const sub = r.u32();
        if (sub !== 12)
          throw new ModuleError('INVALID', `SIMD instruction ${sub} in a constant expression`, { offset: at });
        r.skip(16);
        info.features |= Feature.simd;
        break;
      }
      case 0x6a:
      case 0x6b:
      case 0x6c:
      case 0x7c:
      case 0x7d:
      case 0x7e:
        throw unsupported('extended-const', 'arithmetic in a constant expression', at);
      case 0xfb:
        throw unsupported('gc', 'GC instruction in a constant expression', at);
      default:
        throw new ModuleError('INVALID', `opcode 0x${op.toString(16)} in a constant expression`, { offset: at });
    }
  }
}

/** Splits the module into sections and decodes what the instrumenter needs (not the code bodies). */
export function decodeModule(bytes: Uint8Array): ModuleInfo {
  if (bytes.length < 8) throw malformed('too short for a WebAssembly module', 0);
  if (bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d)
    throw malformed('missing the \\0asm magic', 0);
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    if (bytes[6] === 1 && bytes[7] === 0)
      throw unsupported('component-model', 'this is a component, not a core module', 4);
    throw malformed('unknown binary version', 4);
  }
  const info: ModuleInfo = {
    sections: [],
    types: [],
    imports: [],
    importedFuncs: 0,
    importedGlobals: 0,
    importedTables: 0,
    importedMemories: 0,
    funcTypes: [],
    tables: 0,
    memories: [],
    definedGlobals: 0,
    mutableGlobals: [],
    mutableGlobalTypes: [],
    mutableV128Globals: 0,
    exports: [],
    start: null,
    features: 0,
  };
  const r = new Reader(bytes, 8);
  let lastRank = 0;
  while (!r.eof()) {
    const headerStart = r.pos;
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    if (size > bytes.length - start) throw malformed(`section ${id} runs past the end`, headerStart);
    const end = start + size;
    if (id !== SectionId.custom) {
      const rank = sectionRank(id);
      if (rank === 0) throw malformed(`unknown section id ${id}`, headerStart);
      if (rank <= lastRank) throw malformed(`section ${id} out of order or repeated`, headerStart);
      lastRank = rank;
    }
    info.sections.push({ id, headerStart, start, end });
    const s = new Reader(bytes, start, end);
    switch (id) {
      case SectionId.type:
        readTypes(s, info);
        break;
      case SectionId.import:
        readImports(s, info);
        break;
      case SectionId.function: {
        const n = s.u32();
        for (let i = 0; i < n; i++) info.funcTypes.push(s.u32());
        break;
      }
      case SectionId.table: {
        const n = s.u32();
        for (let i = 0; i < n; i++) readTableType(s, info);
        info.tables = n;
        break;
      }
      case SectionId.memory: {
        const n = s.u32();
        for (let i = 0; i < n; i++) info.memories.push(readLimits(s, true));
        break;
      }
      case SectionId.tag:
        throw unsupported('exception-handling', 'tag section', headerStart);
      case SectionId.global: {
        const n = s.u32();
        for (let i = 0; i < n; i++) {
          const type = readValType(s, info);
          const mut = s.byte();
          if (mut > 1)
            throw mut & 2
              ? unsupported('threads', 'shared global', s.pos - 1)
              : malformed('bad global mutability', s.pos - 1);
          if (mut === 1 && type !== 0x7b) {
            info.mutableGlobals.push(info.importedGlobals + i);
            info.mutableGlobalTypes.push(type);
          }
          if (mut === 1 && type === 0x7b) info.mutableV128Globals++;
          skipConstExpr(s, info);
        }
        info.definedGlobals = n;
        break;
      }
      case SectionId.export: {
        const n = s.u32();
        for (let i = 0; i < n; i++) {
          const name = s.name();
          const kind = s.byte();
          const index = s.u32();
          if (kind === ExternKind.tag) throw unsupported('exception-handling', 'tag export', s.pos);
          info.exports.push({ name, kind, index });
        }
        break;
      }
      case SectionId.start:
        info.start = s.u32();
        break;
      case SectionId.element:
        readElements(s, info);
        break;
      case SectionId.dataCount:
        info.features |= Feature.bulkMemory;
        s.u32();
        break;
      case SectionId.data:
        readData(s, info);
        break;
      default:
        // custom and code sections: the code is read by the body rewriter, custom sections pass through
        s.pos = end;
    }
    if (id !== SectionId.custom && id !== SectionId.code && s.pos !== end)
      throw malformed(`section ${id} size mismatch`, s.pos);
    r.pos = end;
  }
  if (info.importedMemories + info.memories.length > 1) throw unsupported('multi-memory', 'more than one memory');
  if (info.importedTables + info.tables > 1) info.features |= Feature.referenceTypes;
  return info;
}

function readTypes(s: Reader, info: ModuleInfo): void {
  const n = s.u32();
  for (let i = 0; i < n; i++) {
    const at = s.pos;
    const form = s.byte();
    if (form !== 0x60) {
      if (form === 0x4e || form === 0x4f || form === 0x50 || form === 0x5e || form === 0x5f)
        throw unsupported('gc', 'GC type definition', at);
      throw malformed(`unknown type form 0x${form.toString(16)}`, at);
    }
    const np = s.u32();
    const params: number[] = [];
    for (let k = 0; k < np; k++) params.push(readValType(s, info));
    const nr = s.u32();
    const results: number[] = [];
    for (let k = 0; k < nr; k++) results.push(readValType(s, info));
    if (nr > 1) info.features |= Feature.multiValue;
    info.types.push({ params, results });
  }
}

function readImports(s: Reader, info: ModuleInfo): void {
  const n = s.u32();
  for (let i = 0; i < n; i++) {
    const module = s.name();
    const name = s.name();
    const at = s.pos;
    const kind = s.byte();
    switch (kind) {
      case ExternKind.func: {
        const typeIndex = s.u32();
        info.imports.push({ module, name, kind, typeIndex });
        info.importedFuncs++;
        continue;
      }
      case ExternKind.table:
        readTableType(s, info);
        info.importedTables++;
        break;
      case ExternKind.memory:
        readLimits(s, true);
        info.importedMemories++;
        break;
      case ExternKind.global: {
        readValType(s, info);
        const mut = s.byte();
        if (mut > 1)
          throw mut & 2
            ? unsupported('threads', 'shared global', s.pos - 1)
            : malformed('bad global mutability', s.pos - 1);
        if (mut === 1) info.features |= Feature.mutableGlobals;
        info.importedGlobals++;
        break;
      }
      case ExternKind.tag:
        throw unsupported('exception-handling', 'tag import', at);
      default:
        throw malformed(`unknown import kind ${kind}`, at);
    }
    info.imports.push({ module, name, kind });
  }
}

function readElements(s: Reader, info: ModuleInfo): void {
  const n = s.u32();
  for (let i = 0; i < n; i++) {
    const at = s.pos;
    const flags = s.u32();
    if (flags > 7) throw malformed(`unknown element segment flags ${flags}`, at);
    if (flags !== 0) info.features |= flags & 1 ? Feature.bulkMemory : Feature.referenceTypes;
    if ((flags & 3) === 2) s.u32(); // table index
    if ((flags & 1) === 0) skipConstExpr(s, info);
    if (flags & 4) {
      if (flags & 3) {
        const t = readValType(s, info);
        if (t !== ValType.funcref && t !== ValType.externref)
          throw malformed('element type is not a reference type', s.pos - 1);
      }
      const m = s.u32();
      for (let k = 0; k < m; k++) skipConstExpr(s, info);
    } else {
      if (flags & 3) {
        const kind = s.byte();
        if (kind !== 0) throw malformed('unknown element kind', s.pos - 1);
      }
      const m = s.u32();
      for (let k = 0; k < m; k++) s.u32();
    }
  }
}

function readData(s: Reader, info: ModuleInfo): void {
  const n = s.u32();
  for (let i = 0; i < n; i++) {
    const at = s.pos;
    const flags = s.u32();
    if (flags === 1) {
      info.features |= Feature.bulkMemory;
    } else if (flags === 0 || flags === 2) {
      if (flags === 2 && s.u32() !== 0) throw unsupported('multi-memory', 'data segment for memory other than 0', at);
      skipConstExpr(s, info);
    } else {
      throw malformed(`unknown data segment flags ${flags}`, at);
    }
    const len = s.u32();
    s.skip(len);
  }
}
