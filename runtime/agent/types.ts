// The values a run produces and the limits it runs under: the library's main vocabulary.

/** What happened to a run. Every outcome is one of these; none of them is an exception. */
export type RunStatus =
  | 'ok' // the handler returned 0
  | 'error' // the handler returned a non-zero code, or the guest aborted
  | 'trap' // a WebAssembly trap in guest code (unreachable, division by zero, out-of-bounds access, ...)
  | 'out-of-fuel' // the fuel limit was reached (deterministic)
  | 'stack-overflow' // the stack-depth limit was reached (deterministic)
  | 'out-of-memory' // the guest needed memory past its limit
  | 'timeout' // the wall-clock limit was reached; the agent's worker was terminated
  | 'limit-exceeded' // an output, event or input limit was exceeded by a host call
  | 'abi-violation' // the guest misused a host import (bad pointer, invalid bytes)
  | 'invalid-input' // the input could not be encoded or is too large
  | 'invalid-output' // the output bytes are not valid MessagePack
  | 'invalid-module' // the module could not be loaded (malformed, missing export, unknown import, too much memory)
  | 'crashed' // the worker running the agent died for a reason outside the agent's control
  | 'exited'; // a WASI command exited with a non-zero code (in `exitCode`)

export type EngineName = 'wasm' | 'emulator';
export type EngineChoice = EngineName | 'auto';

/**
 * Where guest code runs: 'worker' (default), on a worker thread the host can terminate (a preemptive wall clock);
 * 'inline', on the calling thread (no message round trip; the wall clock is checked at host calls and after the
 * run, fuel bounds the rest, so fuel cannot be turned off). See README "Library".
 */
export type Isolation = 'worker' | 'inline';

export interface AgentEvent {
  readonly topic: string;
  /** The decoded MessagePack payload (decoded on first read; the event compares and serialises as `{ topic, payload }`). */
  readonly payload: unknown;
  /** The payload as the guest emitted it: one MessagePack value, what the dispatcher publishes unchanged. */
  readonly bytes: Uint8Array;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface AgentLog {
  level: LogLevel;
  message: string;
}

/** What one run did. `TOut` is the output type the caller expects; the host does not check it (decode is untyped). */
/** How a worker agent runs input that is already MessagePack (`agent.runEncoded`); what a queue consumer asks for. */
export interface EncodedRunOptions {
  /** Have the worker hash these bytes followed by the input: the result's `inputDigest`. */
  digestPrefix?: Uint8Array | undefined;
  /** The caller never reads the output: the worker does not send it back, and `output` is null. */
  discardOutput?: boolean | undefined;
}

export interface RunResult<TOut = unknown> {
  status: RunStatus;
  /** The decoded output, or null when the guest produced none or the run failed. */
  output: TOut | null;
  /** Events the guest emitted. A publisher must only publish them when status is 'ok'. */
  events: AgentEvent[];
  logs: AgentLog[];
  /** Log lines dropped because the log limit was reached. */
  logsDropped: number;
  /** Instructions charged by the fuel meter; null when the module was not metered. */
  fuelUsed: number | null;
  /** Size of the guest memory at the end of the run (memory never shrinks, so this is the peak). */
  memoryPeakBytes: number;
  durationMs: number;
  engine: EngineName;
  /** For failures: what went wrong and what to do about it. */
  message?: string;
  /** For status 'error' from a non-zero handler return. */
  errorCode?: number;
  /** WASI commands: the exit code (0 for 'ok'), and what the program wrote to stdout and stderr. */
  exitCode?: number;
  stdout?: Uint8Array;
  stderr?: Uint8Array;
  /** Set when the agent was hibernated and woke for this run: milliseconds spent restoring it (part of durationMs). */
  wakeMs?: number;
  /**
   * Set after an `ok` run of an agent loaded with `exportState` (a keyed, hibernating agent): its state image after
   * the run (the bytes the hibernation store would hold), so a cluster can commit it to its shared store.
   */
  state?: Uint8Array;
  /**
   * Set when the run was given a digest prefix (`agent.runEncoded(input, { digestPrefix })`) and ran in a worker:
   * the first 24 hex digits of SHA-256 over the prefix followed by the input, computed in the worker. The swarm
   * asks for it with an audit trail, whose message id it is (docs/operations.md), so the host thread does not
   * hash every message.
   */
  inputDigest?: string;
}

export interface Limits {
  /** Upper bound of the guest's linear memory, in bytes (rounded down to 64 KiB pages). */
  memoryBytes: number;
  /** Wall-clock limit per run, in milliseconds. */
  timeoutMs: number;
  /** Fuel (instructions, see docs/fuel.md) per run; 0 turns metering off. */
  fuel: number;
  /** Maximum call depth per run (frames); 0 turns the check off. */
  stackDepth: number;
  inputBytes: number;
  outputBytes: number;
  maxEvents: number;
  eventBytes: number;
  maxLogs: number;
  /** Bytes of log text per run (UTF-8): lines past it are dropped and counted, like lines past `maxLogs`. */
  logBytes: number;
  /** Bytes of one log line: a longer line is dropped and counted, without being decoded. */
  logMessageBytes: number;
  /** Upper bound of every table the module defines, in elements (tables live outside the memory limit). */
  tableElements: number;
  /** Calls to the graph service per run (each also costs fuel, see docs/abi.md). */
  maxGraphCalls: number;
  /** Host-function calls per run (`sandbox.call`, Extism user functions, HTTP requests). */
  maxHostCalls: number;
  /** Bytes of host-function payloads and answers per run, both ways together. */
  hostCallBytes: number;
  /** Bytes all of an instance's vars may hold together (Extism `var_set`). */
  varBytes: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  memoryBytes: 16 * 1024 * 1024,
  timeoutMs: 1000,
  // ~0.1 s of straight-line work on V8: runaway code runs out of fuel well before the 1 s clock.
  fuel: 100_000_000,
  stackDepth: 10_000,
  inputBytes: 1024 * 1024,
  outputBytes: 1024 * 1024,
  maxEvents: 1000,
  eventBytes: 1024 * 1024,
  maxLogs: 100,
  logBytes: 1024 * 1024,
  logMessageBytes: 64 * 1024,
  maxGraphCalls: 100,
  maxHostCalls: 1000,
  hostCallBytes: 4 * 1024 * 1024,
  varBytes: 1024 * 1024,
  tableElements: 100_000,
});
