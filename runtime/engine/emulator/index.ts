// A WebAssembly namespace written in TypeScript: the same API as globalThis.WebAssembly, for hosts without it.

import { decodeModule } from './decode.ts';
import { CompileError, LinkError, RuntimeError } from './errors.ts';
import { instantiate as link, type Factory } from './instance.ts';
import { Global, Memory, Table } from './objects.ts';
import type { ModuleInfo } from './types.ts';

export { CompileError, LinkError, RuntimeError, Global, Memory, Table };

/** What the JS API accepts as module bytes (a BufferSource, including views over any ArrayBufferLike). */
export type Bytes = ArrayBuffer | ArrayBufferView;

function toBytes(source: unknown): Uint8Array {
  if (source instanceof ArrayBuffer) return new Uint8Array(source.slice(0));
  if (ArrayBuffer.isView(source)) {
    return new Uint8Array(source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength) as ArrayBuffer);
  }
  throw new TypeError('first argument must be an ArrayBuffer or typed array object');
}

const infos = new WeakMap<Module, ModuleInfo>();
const factories = new WeakMap<ModuleInfo, Factory>();

function factoryOf(info: ModuleInfo): Factory {
  let f = factories.get(info);
  if (!f) {
    // One Function per module: V8 then compiles each inner function lazily, on first call.
    f = new Function('S', 'H', 'inst', info.source) as Factory;
    factories.set(info, f);
  }
  return f;
}

function infoOf(m: unknown): ModuleInfo {
  const info = m instanceof Module ? infos.get(m) : undefined;
  if (!info) throw new TypeError('argument must be a WebAssembly.Module');
  return info;
}

export class Module {
  /** Nominal brand: a plain object is not a Module (keeps instantiate's overloads apart). */
  declare private readonly brand: never;

  constructor(bytes: Bytes) {
    infos.set(this, decodeModule(toBytes(bytes)));
  }

  static imports(m: Module): { module: string; name: string; kind: string }[] {
    return infoOf(m).imports.map((i) => ({ module: i.module, name: i.name, kind: i.desc.kind }));
  }

  static exports(m: Module): { name: string; kind: string }[] {
    return infoOf(m).exports.map((e) => ({ name: e.name, kind: e.kind }));
  }

  static customSections(m: Module, name: string): ArrayBuffer[] {
    if (name === undefined) throw new TypeError('customSections requires a section name');
    const n = String(name);
    return infoOf(m)
      .customs.filter((c) => c.name === n)
      .map((c) => c.bytes.slice().buffer as ArrayBuffer);
  }
}

export class Instance {
  readonly exports: Record<string, unknown>;

  constructor(module: Module, importObject?: unknown) {
    const info = infoOf(module);
    this.exports = link(info, factoryOf(info), importObject);
  }
}

export function validate(bytes: Bytes): boolean {
  return validationError(bytes) === undefined;
}

/** Why the module is malformed or invalid, or undefined when it is valid. */
export function validationError(bytes: Bytes): string | undefined {
  const data = toBytes(bytes);
  try {
    decodeModule(data);
    return undefined;
  } catch (e) {
    if (e instanceof CompileError) return e.message;
    throw e;
  }
}

export async function compile(bytes: Bytes): Promise<Module> {
  return new Module(bytes);
}

export function instantiate(source: Module, importObject?: unknown): Promise<Instance>;
export function instantiate(source: Bytes, importObject?: unknown): Promise<{ module: Module; instance: Instance }>;
export async function instantiate(source: unknown, importObject?: unknown): Promise<unknown> {
  if (source instanceof Module) return new Instance(source, importObject);
  const module = new Module(source as Bytes);
  return { module, instance: new Instance(module, importObject) };
}

/** The namespace object, shaped like globalThis.WebAssembly. */
export const emulator = {
  Module,
  Instance,
  Memory,
  Table,
  Global,
  CompileError,
  LinkError,
  RuntimeError,
  validate,
  compile,
  instantiate,
};

export type EmulatorNamespace = typeof emulator;
export default emulator;
