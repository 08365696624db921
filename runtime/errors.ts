// Typed errors for misuse of the host API; each carries a stable `code` that callers and tests match on.

export type SandboxErrorCode =
  | 'SANDBOX_INVALID_OPTIONS'
  | 'SANDBOX_INVALID_MODULE'
  | 'SANDBOX_AGENT_INIT_FAILED'
  | 'SANDBOX_MODULE_NOT_FOUND'
  | 'SANDBOX_CLOSED'
  | 'SANDBOX_ENGINE_UNAVAILABLE'
  | 'SANDBOX_MISSING_DEPENDENCY'
  | 'SANDBOX_CONNECTION'
  | 'SANDBOX_PROTOCOL'
  | 'SANDBOX_TIMEOUT'
  | 'SANDBOX_STATE_MISMATCH'
  | 'SANDBOX_STATE_CORRUPT'
  | 'SANDBOX_STORE_BUSY'
  | 'SANDBOX_STORE'
  | 'SANDBOX_CLUSTER_FENCED'
  | 'SANDBOX_CLUSTER_NODE_IN_USE';

export class SandboxError extends Error {
  readonly code: SandboxErrorCode;

  /** For errors that come from an agent's own failure (load, initialisation): the outcome, as a value. */
  readonly result?: unknown;

  constructor(code: SandboxErrorCode, message: string, options?: { cause?: unknown; result?: unknown }) {
    super(message, options);
    this.name = 'SandboxError';
    this.code = code;
    if (options?.result !== undefined) this.result = options.result;
  }
}

export function isSandboxError(value: unknown, code?: SandboxErrorCode): value is SandboxError {
  return value instanceof SandboxError && (code === undefined || value.code === code);
}
