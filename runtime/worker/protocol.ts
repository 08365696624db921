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
  /** The module; empty when the worker has compiled `key` already (a load of it succeeded there). */
  bytes: Uint8Array;
  limits: Limits;
  engine: EngineName;
  /** Restore the post-initialisation snapshot after every run (stateless agents). */
  reset: boolean;
  /** Host functions granted to the agent, by name, and what `sandbox.grants` answers (MessagePack). */
  host?: { names: string[]; grants: Uint8Array; config?: Record<string, string> };
  /** An Extism plugin (runs take a function name, see framePluginInput) rather than a guest ABI v1 agent. */
  plugin?: PluginSpec;
}

/** What a worker needs to run an Extism plugin (host/extism/). */
export interface PluginSpec {
  config: Record<string, string>;
  maxVarBytes: number;
  /** Give the plugin our sandboxed WASI preview 1 (no files, no environment). */
  wasi: boolean;
  /** The agent was granted HTTP hosts: `http_request` crosses to the host thread, which checks each request. */
  http: boolean;
}

/** Function names seen lately, encoded and decoded once (plugins are called by a handful of names). */
const encodedNames = new Map<string, Uint8Array>();
let lastName = { bytes: new Uint8Array(), name: '' };
const utf8 = new TextDecoder();

const utf8Encoder = new TextEncoder();

/**
 * A plugin run's input as it travels: the function name (u16 length, UTF-8) and then the input bytes (a string is
 * encoded as UTF-8 straight into the frame).
 */
export function framePluginInput(fn: string, input: Uint8Array | string): Uint8Array {
  let name = encodedNames.get(fn);
  if (name === undefined) {
    if (encodedNames.size >= 256) encodedNames.clear();
    name = utf8Encoder.encode(fn);
    encodedNames.set(fn, name);
  }
  const head = 2 + name.length;
  let framed: Uint8Array;
  if (typeof input === 'string') {
    framed = new Uint8Array(head + input.length * 3);
    framed = framed.subarray(0, head + utf8Encoder.encodeInto(input, framed.subarray(head)).written);
  } else {
    framed = new Uint8Array(head + input.length);
    framed.set(input, head);
  }
  framed[0] = name.length & 0xff;
  framed[1] = name.length >>> 8;
  framed.set(name, 2);
  return framed;
}

export function unframePluginInput(framed: Uint8Array): { fn: string; input: Uint8Array } {
  const n = framed[0]! | (framed[1]! << 8);
  const bytes = framed.subarray(2, 2 + n);
  const last = lastName;
  let same = last.bytes.length === n;
  for (let i = 0; same && i < n; i++) same = last.bytes[i] === bytes[i];
  if (!same) lastName = { bytes: bytes.slice(), name: utf8.decode(bytes) };
  return { fn: lastName.name, input: framed.subarray(2 + n) };
}

export interface RunRequest {
  seq: number;
  agentId: number;
  input: Uint8Array;
  /** Hashed with the input in the worker: the result's `inputDigest` (the audit trail's message id). */
  digestPrefix?: Uint8Array | undefined;
  /** The output is not sent back (the caller never reads it). */
  discardOutput?: boolean | undefined;
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
  /** Host functions and config granted to the agent (as LoadRequest.host); absent: none. */
  host?: LoadRequest['host'];
  /** Every ok run's result carries the agent's state image (RunResult.state), for a cluster's shared store. */
  exportState?: true;
  /** Start from this state image instead of the store's (null: from the initial state); a cluster's import. */
  initialState?: Uint8Array | null;
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
export type FromWorker =
  { t: 'done'; packed: Uint8Array; residency?: ResidencyCounts } | { t: 'residency'; residency: ResidencyCounts };

/**
 * Layout of the SharedArrayBuffer a worker writes before each call into guest code: the sequence number of the
 * request it is executing (0 when idle) and when it started (ms since the epoch). The host's watchdog reads it
 * to tell which request hangs, without any message from a worker that may be stuck in a loop.
 */
export const PROGRESS_BYTES = 16;
export const PROGRESS_SEQ = 0; // Int32 index
export const PROGRESS_STARTED = 1; // Float64 index
