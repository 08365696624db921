// WasiHost: WASI preview 1 for one guest instance, with captured stdio and a file system limited to granted directories.

import { deterministicEntropy, realEntropy, type Deterministic } from './clock.ts';
import { FdTable } from './fd-table.ts';
import { makePreopen, type DirGrant } from './fs.ts';
import { WasiMemory, type MemoryLike } from './memory.ts';
import { WasiExit, createPreview1, type OutputSink } from './preview1.ts';

export type { DirGrant } from './fs.ts';
export type { Deterministic } from './clock.ts';
export type { MemoryLike } from './memory.ts';
export { WasiExit } from './preview1.ts';
export { Errno, errnoName } from './errno.ts';

export interface WasiOptions {
  /** The full argv, program name first (what `args_get` returns). */
  args?: readonly string[];
  env?: Readonly<Record<string, string>>;
  stdin?: Uint8Array;
  dirs?: readonly DirGrant[];
  /** Fixed start time and random seed: the same program and inputs give the same run. */
  deterministic?: Deterministic;
  /** Per stream: bytes past this are dropped and counted in `outputDropped` (the guest is told they were written). */
  maxOutputBytes?: number;
}

/** The part of an instance WASI needs: its exports (only `memory`, `_start` and `_initialize` are used). */
export interface InstanceLike {
  readonly exports: Record<string, unknown>;
}

export const WASI_MODULE = 'wasi_snapshot_preview1';

class Capture implements OutputSink {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  dropped = 0;
  constructor(private readonly limit: number) {}

  write(bytes: Uint8Array): void {
    const room = Math.max(0, this.limit - this.size);
    const keep = Math.min(room, bytes.length);
    if (keep > 0) {
      this.chunks.push(bytes.slice(0, keep));
      this.size += keep;
    }
    this.dropped += bytes.length - keep;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

export class WasiHost {
  private readonly fds: FdTable;
  private readonly out: Capture;
  private readonly err: Capture;
  private readonly options: WasiOptions;
  private importsMade = false;

  /** Throws (a plain Error naming the directory) when a granted directory does not exist. */
  constructor(options: WasiOptions = {}) {
    this.options = options;
    const limit = options.maxOutputBytes ?? Number.MAX_SAFE_INTEGER;
    this.out = new Capture(limit);
    this.err = new Capture(limit);
    this.fds = new FdTable((options.dirs ?? []).map(makePreopen));
  }

  /** The import object for module `wasi_snapshot_preview1`; `memory` is read on every call, after instantiation. */
  imports(memory: () => MemoryLike): Record<string, (...args: never[]) => number | void> {
    if (this.importsMade) throw new Error('WasiHost.imports may be called once: one host serves one instance');
    this.importsMade = true;
    const o = this.options;
    return createPreview1(
      {
        args: [...(o.args ?? [])],
        env: Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`),
        stdin: o.stdin ?? new Uint8Array(0),
        stdinPos: 0,
        stdout: this.out,
        stderr: this.err,
        fds: this.fds,
        entropy: o.deterministic ? deterministicEntropy(o.deterministic) : realEntropy(),
      },
      new WasiMemory(memory),
    );
  }

  /** Runs a command's `_start`; returns its exit code (0 when it returns normally). Traps propagate. */
  start(instance: InstanceLike): number {
    const start = instance.exports['_start'];
    if (typeof start !== 'function') throw new TypeError('not a WASI command: no exported _start function');
    try {
      start();
      return 0;
    } catch (e) {
      if (e instanceof WasiExit) return e.code;
      throw e;
    } finally {
      this.fds.closeAll();
    }
  }

  /** Prepares a reactor: calls `_initialize` if it has one. Exported functions are then called directly. */
  initialize(instance: InstanceLike): void {
    const init = instance.exports['_initialize'];
    if (init === undefined) return;
    if (typeof init !== 'function') throw new TypeError('_initialize is not a function');
    init();
  }

  /** Closes the host descriptors a reactor's guest still holds. */
  close(): void {
    this.fds.closeAll();
  }

  get stdout(): Uint8Array {
    return this.out.bytes();
  }

  get stderr(): Uint8Array {
    return this.err.bytes();
  }

  /** Bytes the guest wrote past `maxOutputBytes`, on stdout and stderr together. */
  get outputDropped(): number {
    return this.out.dropped + this.err.dropped;
  }
}

/** Whether `err` is the unwinding of proc_exit (for callers that call exports of a reactor themselves). */
export function exitCodeOf(err: unknown): number | null {
  return err instanceof WasiExit ? err.code : null;
}
