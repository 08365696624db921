// ModuleError: why a module was refused or could not be rewritten, with a stable code callers match on.

export type ModuleErrorCode =
  | 'MALFORMED' // the bytes do not decode as a WebAssembly module
  | 'INVALID' // the module decodes but does not validate
  | 'UNSUPPORTED_FEATURE' // the module uses a feature we cannot meter (named in `feature`)
  | 'MEMORY_LIMIT' // a defined memory's minimum is above the memory cap
  | 'TABLE_LIMIT' // a defined table's minimum is above the table cap
  | 'RESERVED_NAME' // the module already exports one of the names the instrumenter adds
  | 'VALIDATOR_UNAVAILABLE' // no WebAssembly.validate and no validator was passed in
  | 'LIMIT'; // the rewritten module would exceed an implementation limit (locals, functions, ...)

export class ModuleError extends Error {
  readonly code: ModuleErrorCode;
  /** For UNSUPPORTED_FEATURE: the proposal's name, e.g. 'threads', 'exception-handling', 'memory64'. */
  readonly feature?: string;
  /** Byte offset in the input where the problem was found, when known. */
  readonly offset?: number;

  constructor(
    code: ModuleErrorCode,
    message: string,
    details?: { feature?: string; offset?: number; cause?: unknown },
  ) {
    super(message, details?.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ModuleError';
    this.code = code;
    if (details?.feature !== undefined) this.feature = details.feature;
    if (details?.offset !== undefined) this.offset = details.offset;
  }
}

export function isModuleError(value: unknown, code?: ModuleErrorCode): value is ModuleError {
  return value instanceof ModuleError && (code === undefined || value.code === code);
}

export function unsupported(feature: string, what: string, offset?: number): ModuleError {
  return new ModuleError(
    'UNSUPPORTED_FEATURE',
    `unsupported WebAssembly feature '${feature}': ${what}`,
    offset === undefined ? { feature } : { feature, offset },
  );
}

export function malformed(what: string, offset: number): ModuleError {
  return new ModuleError('MALFORMED', `malformed module at byte ${offset}: ${what}`, { offset });
}
