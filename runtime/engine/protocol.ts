// Messages between the host thread and an agent worker, and the shared progress slot the watchdog reads.
import type { EngineName, Limits, RunResult } from '../agent/types.ts';
import type { PackedRuns } from './transport.ts';
import type { WasiOptions } from '../../host/wasi/index.ts';

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

export type ToWorker = LoadRequest | CommandRequest | { t: 'runs'; runs: PackedRuns } | { t: 'unload'; agentId: number };

export interface Completion {
  seq: number;
  result: RunResult;
}

/** Completions packed with transport.ts. */
export type FromWorker = { t: 'done'; packed: Uint8Array };

/**
 * Layout of the SharedArrayBuffer a worker writes before each call into guest code: the sequence number of the
 * request it is executing (0 when idle) and when it started (ms since the epoch). The host's watchdog reads it
 * to tell which request hangs, without any message from a worker that may be stuck in a loop.
 */
export const PROGRESS_BYTES = 16;
export const PROGRESS_SEQ = 0; // Int32 index
export const PROGRESS_STARTED = 1; // Float64 index
