// Value types, function types and the decoded module's shape, shared by the decoder, compiler and linker.

export const I32 = 0x7f;
export const I64 = 0x7e;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export const FUNCREF = 0x70;
export const EXTERNREF = 0x6f;
/** The bottom type of the validator's polymorphic stack (values pushed in unreachable code). */
export const UNKNOWN = 0;

export type ValType = number;

export interface FuncType {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
  /** Interned id: two structurally equal types share it, which makes call_indirect's check one comparison. */
  readonly id: number;
}

export interface Limits {
  min: number;
  max: number | undefined;
}

export interface TableType {
  elem: ValType;
  limits: Limits;
}

export interface GlobalType {
  type: ValType;
  mutable: boolean;
}

export type ExternKind = 'function' | 'table' | 'memory' | 'global';

export type ImportDesc =
  | { kind: 'function'; type: FuncType }
  | { kind: 'table'; type: TableType }
  | { kind: 'memory'; type: Limits }
  | { kind: 'global'; type: GlobalType };

export interface Import {
  module: string;
  name: string;
  desc: ImportDesc;
}

export interface Export {
  name: string;
  kind: ExternKind;
  index: number;
}

/** A constant expression, reduced to the one instruction Wasm 2.0 allows. */
export type ConstExpr =
  | { op: 'const'; type: ValType; value: number | bigint }
  | { op: 'ref.null'; type: ValType }
  | { op: 'ref.func'; index: number }
  | { op: 'global.get'; index: number };

export interface ElemSegment {
  mode: 'active' | 'passive' | 'declarative';
  table: number;
  offset: ConstExpr | undefined;
  type: ValType;
  init: ConstExpr[];
}

export interface DataSegment {
  mode: 'active' | 'passive';
  offset: ConstExpr | undefined;
  bytes: Uint8Array;
}

export interface CustomSection {
  name: string;
  bytes: Uint8Array;
}

export interface ModuleInfo {
  types: FuncType[];
  imports: Import[];
  /** Type of every function, imported ones first. */
  funcs: FuncType[];
  importedFuncs: number;
  tables: TableType[];
  importedTables: number;
  memories: Limits[];
  importedMemories: number;
  globals: GlobalType[];
  importedGlobals: number;
  globalInits: ConstExpr[];
  exports: Export[];
  start: number | undefined;
  elems: ElemSegment[];
  datas: DataSegment[];
  customs: CustomSection[];
  /** JavaScript source of the module's factory (see compile.ts). */
  source: string;
}

const typeIds = new Map<string, number>();

export function funcType(params: ValType[], results: ValType[]): FuncType {
  const key = `${params.join(',')}:${results.join(',')}`;
  let id = typeIds.get(key);
  if (id === undefined) {
    id = typeIds.size + 1;
    typeIds.set(key, id);
  }
  return { params, results, id };
}

export function isRef(t: ValType): boolean {
  return t === FUNCREF || t === EXTERNREF;
}

export function typeName(t: ValType): string {
  switch (t) {
    case I32:
      return 'i32';
    case I64:
      return 'i64';
    case F32:
      return 'f32';
    case F64:
      return 'f64';
    case V128:
      return 'v128';
    case FUNCREF:
      return 'funcref';
    case EXTERNREF:
      return 'externref';
    default:
      return 'unknown';
  }
}
