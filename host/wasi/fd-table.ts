// The guest's file descriptors: stdio, preopened directories, and files and directories it opened.

import * as fs from 'node:fs';
import { Errno, WasiError } from './errno.ts';
import { hostPathOf, type Preopen } from './fs.ts';

export const FdFlags = { APPEND: 1, DSYNC: 2, NONBLOCK: 4, RSYNC: 8, SYNC: 16 } as const;

export type FdEntry =
  | { kind: 'stdio'; stream: 0 | 1 | 2; fdflags: number }
  | { kind: 'dir'; preopen: Preopen; rel: readonly string[]; isPreopen: boolean; fdflags: number }
  | {
      kind: 'file';
      preopen: Preopen;
      rel: readonly string[];
      hostFd: number;
      readable: boolean;
      writable: boolean;
      position: bigint;
      fdflags: number;
    };

export function entryHostPath(e: FdEntry & { kind: 'dir' | 'file' }): string {
  return hostPathOf(e.preopen, e.rel);
}

export class FdTable {
  private readonly entries = new Map<number, FdEntry>();

  constructor(preopens: readonly Preopen[]) {
    this.entries.set(0, { kind: 'stdio', stream: 0, fdflags: 0 });
    this.entries.set(1, { kind: 'stdio', stream: 1, fdflags: FdFlags.APPEND });
    this.entries.set(2, { kind: 'stdio', stream: 2, fdflags: FdFlags.APPEND });
    let fd = 3;
    for (const p of preopens) this.entries.set(fd++, { kind: 'dir', preopen: p, rel: [], isPreopen: true, fdflags: 0 });
  }

  get(fd: number): FdEntry {
    const e = this.entries.get(fd);
    if (e === undefined) throw new WasiError(Errno.BADF);
    return e;
  }

  file(fd: number): FdEntry & { kind: 'file' } {
    const e = this.get(fd);
    if (e.kind === 'dir') throw new WasiError(Errno.ISDIR);
    if (e.kind !== 'file') throw new WasiError(Errno.BADF);
    return e;
  }

  dir(fd: number): FdEntry & { kind: 'dir' } {
    const e = this.get(fd);
    if (e.kind !== 'dir') throw new WasiError(Errno.NOTDIR);
    return e;
  }

  add(entry: FdEntry): number {
    let fd = 3;
    while (this.entries.has(fd)) fd++;
    this.entries.set(fd, entry);
    return fd;
  }

  close(fd: number): void {
    const e = this.get(fd);
    this.entries.delete(fd);
    if (e.kind === 'file') closeQuietly(e.hostFd);
  }

  renumber(from: number, to: number): void {
    const e = this.get(from);
    this.get(to);
    if (from === to) return;
    this.close(to);
    this.entries.delete(from);
    this.entries.set(to, e);
  }

  /** Closes every host descriptor the guest still holds; the table is unusable afterwards. */
  closeAll(): void {
    for (const fd of [...this.entries.keys()]) this.close(fd);
  }
}

function closeQuietly(hostFd: number): void {
  try {
    fs.closeSync(hostFd);
  } catch {
    // Closing can only fail on an already-broken descriptor; the guest has let go of it either way.
  }
}
