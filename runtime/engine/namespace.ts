// The shape both engines share: V8's `WebAssembly` and the TypeScript emulator expose the same namespace.

export interface WasmNamespace {
  Module: typeof WebAssembly.Module;
  Instance: typeof WebAssembly.Instance;
  Memory: typeof WebAssembly.Memory;
  Table: typeof WebAssembly.Table;
  Global: typeof WebAssembly.Global;
  CompileError: typeof WebAssembly.CompileError;
  LinkError: typeof WebAssembly.LinkError;
  RuntimeError: typeof WebAssembly.RuntimeError;
  validate(bytes: BufferSource): boolean;
}
