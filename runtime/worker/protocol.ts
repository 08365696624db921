// Messages between the host thread and an agent worker, and the shared progress slot the watchdog reads.
import type { EngineName, Limits, RunResult } from '../agent/types.ts';
import type { PackedRuns } from './batch-codec.ts';
import type { WasiOptions } from '../../host/wasi/index.ts';
import type { ResidencyCounts } from '../hibernation/hibernator.ts';

export interface LoadRequest {
  t: 'load';
  seq: number;
  agentId: number;
  /** Content hash of `bytes` plus the preparation options: the worker's compile cache key. */
  key: string;
  bytes: Uint8Array;
  limits: Limits;
  engine: EngineName;
  /** Restore the post-initialisation snapshot after every run (stateless agents). */
  reset: boolean;
}

export interface RunRequest {
  seq: number;
  agentId: number;
  input: Uint8Array;
}

/** Runs a WASI command once: compile (cached by key), instantiate with a fresh WASI host, call _start. */
export interface CommandRequest {
  t: 'command';
  seq: number;
  key: string;
  bytes: Uint8Array;
  limits: Limits;
  engine: EngineName;
  wasi: WasiOptions;
}

/** Runs a WebAssembly component once (docs/components.md): jco's glue + core modules, instrumented and compiled (cached by key). */
export interface ComponentRequest {
  t: 'component';
  seq: number;
  key: string;
  /** jco's generated glue (runtime/component/transpile.ts), and the component's core modules by file name. */
  js: string;
  modules: [string, Uint8Array][];
  exports: string[];
  /** The input, MessagePack-encoded. */
  input: Uint8Array;
  limits: Limits;
  engine: EngineName;
}

/**
 * Compiles a module for hibernating agents and makes its template: the initial image states are stored against,
 * and a first instance, initialised (so a module that cannot start fails here, at load).
 */
export interface TemplateRequest {
  t: 'template';
  seq: number;
  key: string;
  /** Content hash of `bytes`: stored states name the module they belong to. */
  moduleHash: string;
  bytes: Uint8Array;
  limits: Limits;
  engine: EngineName;
}

/** A hibernating agent the worker learns about without instantiating it: it gets an instance when a message comes. */
export interface Registration {
  agentId: number;
  /** The template's key (a TemplateRequest's `key`, sent before). */
  key: string;
  engine: EngineName;
  /** Where its state lives in the store. */
  stateKey: string;
  /** On unload, write the state (keyed agents) rather than delete it (anonymous ones). */
  keepState: boolean;
  /** Omitted when the same as the previous registration's in the message (most are). */
  limits?: Limits;
}

export type ToWorker =
  | LoadRequest
  | CommandRequest
  | ComponentRequest
  | TemplateRequest
  | { t: 'register'; agents: Registration[] }
  | { t: 'runs'; runs: PackedRuns }
  /** With `seq` (hibernating agents): answered once the agent's state is written and committed. */
  | { t: 'unload'; agentId: number; seq?: number }
  /** Write every changed hibernating agent's state and wait until it is on disk; answered like a run. */
  | { t: 'drain'; seq: number };

export interface Completion {
  seq: number;
  result: RunResult;
}

/** Completions packed with transport.ts. */
export type FromWorker = { t: 'done'; packed: Uint8Array; residency?: ResidencyCounts } | { t: 'residency'; residency: ResidencyCounts };

/**
 * Layout of the SharedArrayBuffer a worker writes before each call into guest code: the sequence number of the
 * request it is executing (0 when idle) and when it started (ms since the epoch). The host's watchdog reads it
 * to tell which request hangs, without any message from a worker that may be stuck in a loop.
 */
export const PROGRESS_BYTES = 16;
export const PROGRESS_SEQ = 0; // Int32 index
export const PROGRESS_STARTED = 1; // Float64 index
