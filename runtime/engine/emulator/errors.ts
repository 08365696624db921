// The emulator's counterparts of WebAssembly.CompileError, LinkError and RuntimeError.

export class CompileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CompileError';
  }
}

export class LinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LinkError';
  }
}

export class RuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** Messages of the spec's traps, shared by the generated code and the runtime helpers. */
export const Trap = {
  unreachable: 'unreachable',
  divByZero: 'integer divide by zero',
  overflow: 'integer overflow',
  conversion: 'invalid conversion to integer',
  memory: 'out of bounds memory access',
  table: 'out of bounds table access',
  undefinedElement: 'undefined element',
  uninitialized: 'uninitialized element',
  indirectType: 'indirect call type mismatch',
  stack: 'call stack exhausted',
} as const;
