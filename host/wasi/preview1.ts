// The `wasi_snapshot_preview1` import functions: every call checks its pointers and returns an errno; only proc_exit unwinds.

import * as fs from 'node:fs';
import type { Entropy } from './clock.ts';
import { Errno, WasiError, errnoOf } from './errno.ts';
import { FdFlags, FdTable, entryHostPath, type FdEntry } from './fd-table.ts';
import { resolvePath, type Preopen, type Resolved } from './fs.ts';
import { WasiMemory } from './memory.ts';
import { TimeOverlay } from './times.ts';

/** Thrown by proc_exit to unwind the guest; only WasiHost.start catches it. */
export class WasiExit {
  readonly code: number;
  constructor(code: number) {
    this.code = code;
  }
}

/** Where the guest's output goes: a sink may refuse bytes past a limit (it still reports them as written). */
export interface OutputSink {
  write(bytes: Uint8Array): void;
}

export interface Preview1State {
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly stdin: Uint8Array;
  stdinPos: number;
  readonly stdout: OutputSink;
  readonly stderr: OutputSink;
  readonly fds: FdTable;
  readonly entropy: Entropy;
}

const Filetype = { UNKNOWN: 0, BLOCK: 1, CHAR: 2, DIR: 3, FILE: 4, SYMLINK: 7 } as const;
const Oflags = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const;
const Fst = { ATIM: 1, ATIM_NOW: 2, MTIM: 4, MTIM_NOW: 8 } as const;
const LOOKUP_SYMLINK_FOLLOW = 1;

const R = (bit: number): bigint => 1n << BigInt(bit);
const RIGHT_FD_READ = R(1);
const RIGHT_FD_WRITE = R(6);
const RIGHT_FD_ALLOCATE = R(8);
const RIGHT_FD_FILESTAT_SET_SIZE = R(22);
const ALL_RIGHTS = (1n << 30n) - 1n;
// Rights a regular file can have, split by what the open mode grants.
const FILE_READ_RIGHTS = R(1) | R(2) | R(3) | R(4) | R(5) | R(7) | R(21) | R(27);
const FILE_WRITE_RIGHTS = R(0) | R(6) | R(8) | R(22) | R(23);
// PATH_FILESTAT_SET_SIZE (19) names no preview 1 function; without it the suite does not expect rights to be enforced.
const DIR_RIGHTS = ALL_RIGHTS & ~(R(1) | R(2) | R(5) | R(6) | R(7) | R(8) | R(19) | R(22) | R(27));
const STDIO_RIGHTS = R(1) | R(3) | R(6) | R(21) | R(27);

function filetypeOf(st: fs.BigIntStats | fs.Stats): number {
  if (st.isFile()) return Filetype.FILE;
  if (st.isDirectory()) return Filetype.DIR;
  if (st.isSymbolicLink()) return Filetype.SYMLINK;
  if (st.isCharacterDevice()) return Filetype.CHAR;
  if (st.isBlockDevice()) return Filetype.BLOCK;
  return Filetype.UNKNOWN;
}

function lstatOrNull(p: string): fs.BigIntStats | null {
  const st = fs.lstatSync(p, { bigint: true, throwIfNoEntry: false });
  return st ?? null;
}

function refuseIfReadOnly(p: Preopen): void {
  if (p.readOnly) throw new WasiError(Errno.ROFS);
}

/**
 * A file offset or length from the guest. i64 arguments arrive signed, and Node takes positions as Numbers:
 * anything negative or past 2^53 is refused rather than wrapped (a negative position would mean "current").
 */
function fileOffset(x: bigint): number {
  if (x < 0n || x > BigInt(Number.MAX_SAFE_INTEGER)) throw new WasiError(Errno.INVAL);
  return Number(x);
}

/** Seconds as a Number for utimes; the sub-microsecond part is lost (Node takes doubles). */
const toSeconds = (ns: bigint): number => Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;

/** Every function of WASI preview 1 (witx `wasi_snapshot_preview1`): only these names link, nothing else. */
export const PREVIEW1_FUNCTIONS = [
  'args_sizes_get',
  'args_get',
  'environ_sizes_get',
  'environ_get',
  'clock_res_get',
  'clock_time_get',
  'random_get',
  'sched_yield',
  'proc_exit',
  'proc_raise',
  'fd_advise',
  'fd_allocate',
  'fd_close',
  'fd_datasync',
  'fd_sync',
  'fd_fdstat_get',
  'fd_fdstat_set_flags',
  'fd_fdstat_set_rights',
  'fd_filestat_get',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_pread',
  'fd_pwrite',
  'fd_read',
  'fd_write',
  'fd_prestat_get',
  'fd_prestat_dir_name',
  'fd_readdir',
  'fd_renumber',
  'fd_seek',
  'fd_tell',
  'path_create_directory',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_link',
  'path_open',
  'path_readlink',
  'path_remove_directory',
  'path_rename',
  'path_symlink',
  'path_unlink_file',
  'poll_oneoff',
  'sock_accept',
  'sock_recv',
  'sock_send',
  'sock_shutdown',
] as const;
export type Preview1Name = (typeof PREVIEW1_FUNCTIONS)[number];
const PREVIEW1_NAMES: ReadonlySet<string> = new Set(PREVIEW1_FUNCTIONS);

/** Whether `name` is a WASI preview 1 function (an own name, not something reached through a prototype). */
export function isPreview1Function(name: string): name is Preview1Name {
  return PREVIEW1_NAMES.has(name);
}

export function createPreview1(
  state: Preview1State,
  mem: WasiMemory,
): Record<string, (...args: never[]) => number | void> {
  const { fds, entropy } = state;
  const enc = new TextEncoder();
  const overlay = new TimeOverlay();

  const dirEntry = (fd: number) => {
    const e = fds.get(fd);
    if (e.kind !== 'dir') throw new WasiError(e.kind === 'file' ? Errno.NOTDIR : Errno.BADF);
    return e;
  };

  const pathArg = (ptr: number, len: number): string => mem.string(ptr, len);

  /** Resolution for calls that act on a name itself (unlink, rename, ...): the last component is never followed. */
  const resolveName = (fd: number, ptr: number, len: number): Resolved => {
    const dir = dirEntry(fd);
    const raw = pathArg(ptr, len);
    const stripped = raw.replace(/\/+$/, '');
    const r = resolvePath(dir.preopen, dir.rel, stripped === '' ? raw : stripped, false);
    return { ...r, trailingSlash: raw.length > stripped.length && stripped !== '' };
  };

  const resolveFollow = (fd: number, flags: number, ptr: number, len: number): Resolved => {
    const dir = dirEntry(fd);
    return resolvePath(dir.preopen, dir.rel, pathArg(ptr, len), (flags & LOOKUP_SYMLINK_FOLLOW) !== 0);
  };

  const writeFilestat = (ptr: number, st: fs.BigIntStats | null, filetype?: number): void => {
    const v = mem.view(ptr, 64);
    v.setBigUint64(0, st?.dev ?? 0n, true);
    v.setBigUint64(8, st?.ino ?? 0n, true);
    v.setUint8(16, filetype ?? (st ? filetypeOf(st) : Filetype.UNKNOWN));
    for (let i = 17; i < 24; i++) v.setUint8(i, 0);
    v.setBigUint64(24, st?.nlink ?? 1n, true);
    v.setBigUint64(32, st?.size ?? 0n, true);
    const t = st ? overlay.times(st) : { atim: 0n, mtim: 0n };
    v.setBigUint64(40, t.atim, true);
    v.setBigUint64(48, t.mtim, true);
    v.setBigUint64(56, st?.ctimeNs ?? 0n, true);
  };

  const statOfEntry = (e: FdEntry): fs.BigIntStats | null => {
    if (e.kind === 'file') return fs.fstatSync(e.hostFd, { bigint: true });
    if (e.kind === 'dir') return fs.statSync(entryHostPath(e), { bigint: true });
    return null;
  };

  /** New access/modification times from fstflags, keeping the current value where no flag asks for a change. */
  const newTimes = (st: fs.BigIntStats, atim: bigint, mtim: bigint, flags: number): [bigint, bigint] => {
    if ((flags & Fst.ATIM && flags & Fst.ATIM_NOW) || (flags & Fst.MTIM && flags & Fst.MTIM_NOW) || flags & ~15) {
      throw new WasiError(Errno.INVAL);
    }
    const now = entropy.now(0)!;
    const cur = overlay.times(st);
    const a = flags & Fst.ATIM_NOW ? now : flags & Fst.ATIM ? BigInt.asUintN(64, atim) : cur.atim;
    const m = flags & Fst.MTIM_NOW ? now : flags & Fst.MTIM ? BigInt.asUintN(64, mtim) : cur.mtim;
    return [a, m];
  };

  /** Sets times through `apply` (which takes seconds) and records the exact values for later stats. */
  const setTimes = (
    times: [bigint, bigint],
    apply: (a: number, m: number) => void,
    restat: () => fs.BigIntStats,
  ): void => {
    apply(toSeconds(times[0]), toSeconds(times[1]));
    overlay.record(restat(), times[0], times[1]);
  };

  const readFile = (e: FdEntry & { kind: 'file' }, bufs: Uint8Array[], at: bigint | null): number => {
    if (!e.readable) throw new WasiError(Errno.BADF);
    let pos = at ?? e.position;
    let total = 0;
    for (const b of bufs) {
      if (b.length === 0) continue;
      const n = fs.readSync(e.hostFd, b, 0, b.length, Number(pos));
      total += n;
      pos += BigInt(n);
      if (n < b.length) break;
    }
    if (at === null) e.position = pos;
    return total;
  };

  const writeFile = (e: FdEntry & { kind: 'file' }, bufs: Uint8Array[], at: bigint | null): number => {
    if (!e.writable) throw new WasiError(Errno.BADF);
    refuseIfReadOnly(e.preopen);
    let pos = at ?? (e.fdflags & FdFlags.APPEND ? fs.fstatSync(e.hostFd, { bigint: true }).size : e.position);
    let total = 0;
    for (const b of bufs) {
      let off = 0;
      while (off < b.length) {
        const n = fs.writeSync(e.hostFd, b, off, b.length - off, Number(pos));
        off += n;
        pos += BigInt(n);
      }
      total += b.length;
    }
    if (at === null) e.position = pos;
    return total;
  };

  const readdirEntries = (e: FdEntry & { kind: 'dir' }): { name: string; ino: bigint; type: number }[] => {
    const host = entryHostPath(e);
    const self = fs.statSync(host, { bigint: true });
    // The grant root's parent is outside the sandbox: '..' there describes the root itself.
    const parent = e.rel.length === 0 ? self : fs.statSync(host + '/..', { bigint: true });
    const out: { name: string; ino: bigint; type: number }[] = [
      { name: '.', ino: self.ino, type: Filetype.DIR },
      { name: '..', ino: parent.ino, type: Filetype.DIR },
    ];
    for (const name of fs.readdirSync(host).sort()) {
      const st = lstatOrNull(`${host}/${name}`);
      if (st !== null) out.push({ name, ino: st.ino, type: filetypeOf(st) });
    }
    return out;
  };

  const fns = {
    args_sizes_get(argcPtr: number, sizePtr: number) {
      mem.setU32(argcPtr, state.args.length);
      mem.setU32(
        sizePtr,
        state.args.reduce((n, a) => n + enc.encode(a).length + 1, 0),
      );
    },
    args_get(argv: number, buf: number) {
      writeStrings(state.args, argv, buf);
    },
    environ_sizes_get(countPtr: number, sizePtr: number) {
      mem.setU32(countPtr, state.env.length);
      mem.setU32(
        sizePtr,
        state.env.reduce((n, a) => n + enc.encode(a).length + 1, 0),
      );
    },
    environ_get(environ: number, buf: number) {
      writeStrings(state.env, environ, buf);
    },
    clock_res_get(id: number, ptr: number) {
      const r = entropy.resolution(id);
      if (r === null) throw new WasiError(Errno.INVAL);
      mem.setU64(ptr, r);
    },
    clock_time_get(id: number, _precision: bigint, ptr: number) {
      const t = entropy.now(id);
      if (t === null) throw new WasiError(Errno.INVAL);
      mem.setU64(ptr, t);
    },
    random_get(ptr: number, len: number) {
      entropy.fill(mem.bytes(ptr, len));
    },
    sched_yield() {},
    proc_exit(code: number): void {
      throw new WasiExit(code >>> 0);
    },
    proc_raise(_sig: number) {
      throw new WasiError(Errno.NOSYS);
    },

    fd_advise(fd: number, _offset: bigint, _len: bigint, advice: number) {
      const e = fds.get(fd);
      if (advice < 0 || advice > 5) throw new WasiError(Errno.INVAL);
      if (e.kind === 'dir') throw new WasiError(Errno.BADF);
      if (e.kind === 'stdio') throw new WasiError(Errno.SPIPE);
    },
    fd_allocate(fd: number, offset: bigint, len: bigint) {
      const e = fds.file(fd);
      if (!e.writable) throw new WasiError(Errno.BADF);
      refuseIfReadOnly(e.preopen);
      const end = fileOffset(BigInt(fileOffset(offset)) + BigInt(fileOffset(len)));
      if (fs.fstatSync(e.hostFd).size < end) fs.ftruncateSync(e.hostFd, end);
    },
    fd_close(fd: number) {
      fds.close(fd);
    },
    fd_datasync(fd: number) {
      const e = fds.get(fd);
      if (e.kind === 'file') fs.fdatasyncSync(e.hostFd);
    },
    fd_sync(fd: number) {
      const e = fds.get(fd);
      if (e.kind === 'file') fs.fsyncSync(e.hostFd);
    },
    fd_fdstat_get(fd: number, ptr: number) {
      const e = fds.get(fd);
      const v = mem.view(ptr, 24);
      let type: number = Filetype.CHAR;
      let rights = STDIO_RIGHTS;
      let inheriting = 0n;
      if (e.kind === 'file') {
        type = Filetype.FILE;
        rights = (e.readable ? FILE_READ_RIGHTS : 0n) | (e.writable ? FILE_WRITE_RIGHTS : 0n) | R(2) | R(5) | R(21);
      } else if (e.kind === 'dir') {
        type = Filetype.DIR;
        rights = DIR_RIGHTS;
        inheriting = ALL_RIGHTS;
      }
      v.setUint8(0, type);
      v.setUint8(1, 0);
      v.setUint16(2, e.fdflags, true);
      v.setUint32(4, 0, true);
      v.setBigUint64(8, rights, true);
      v.setBigUint64(16, inheriting, true);
    },
    fd_fdstat_set_flags(fd: number, flags: number) {
      const e = fds.get(fd);
      if (flags & ~(FdFlags.APPEND | FdFlags.NONBLOCK | FdFlags.DSYNC | FdFlags.RSYNC | FdFlags.SYNC)) {
        throw new WasiError(Errno.INVAL);
      }
      // Synchronous-write flags cannot be changed on an open host descriptor from Node.
      if (flags & (FdFlags.DSYNC | FdFlags.RSYNC | FdFlags.SYNC)) throw new WasiError(Errno.NOTSUP);
      e.fdflags = flags;
    },
    fd_fdstat_set_rights(fd: number, _base: bigint, _inheriting: bigint) {
      fds.get(fd);
      // Rights are not a sandbox boundary here (grants are); the suite treats NOTSUP as "rights unsupported".
      throw new WasiError(Errno.NOTSUP);
    },
    fd_filestat_get(fd: number, ptr: number) {
      const e = fds.get(fd);
      mem.check(ptr, 64);
      writeFilestat(ptr, statOfEntry(e), e.kind === 'stdio' ? Filetype.CHAR : undefined);
    },
    fd_filestat_set_size(fd: number, size: bigint) {
      const e = fds.file(fd);
      if (!e.writable) throw new WasiError(Errno.BADF);
      refuseIfReadOnly(e.preopen);
      fs.ftruncateSync(e.hostFd, fileOffset(size));
    },
    fd_filestat_set_times(fd: number, atim: bigint, mtim: bigint, flags: number) {
      const e = fds.get(fd);
      if (e.kind === 'stdio') throw new WasiError(Errno.BADF);
      const st = statOfEntry(e)!;
      const times = newTimes(st, atim, mtim, flags);
      refuseIfReadOnly(e.preopen);
      if (e.kind === 'file')
        setTimes(
          times,
          (a, m) => fs.futimesSync(e.hostFd, a, m),
          () => statOfEntry(e)!,
        );
      else
        setTimes(
          times,
          (a, m) => fs.utimesSync(entryHostPath(e), a, m),
          () => statOfEntry(e)!,
        );
    },
    fd_pread(fd: number, iovs: number, count: number, offset: bigint, nreadPtr: number) {
      const e = fds.get(fd);
      mem.check(nreadPtr, 4);
      if (e.kind === 'stdio') throw new WasiError(Errno.SPIPE);
      if (e.kind === 'dir') throw new WasiError(Errno.ISDIR);
      mem.setU32(nreadPtr, readFile(e, mem.iovecs(iovs, count), BigInt(fileOffset(offset))));
    },
    fd_pwrite(fd: number, iovs: number, count: number, offset: bigint, nwrittenPtr: number) {
      const e = fds.get(fd);
      mem.check(nwrittenPtr, 4);
      if (e.kind === 'stdio') throw new WasiError(Errno.SPIPE);
      if (e.kind === 'dir') throw new WasiError(Errno.ISDIR);
      mem.setU32(nwrittenPtr, writeFile(e, mem.iovecs(iovs, count), BigInt(fileOffset(offset))));
    },
    fd_read(fd: number, iovs: number, count: number, nreadPtr: number) {
      const e = fds.get(fd);
      mem.check(nreadPtr, 4);
      const bufs = mem.iovecs(iovs, count);
      if (e.kind === 'dir') throw new WasiError(Errno.ISDIR);
      if (e.kind === 'file') return mem.setU32(nreadPtr, readFile(e, bufs, null));
      if (e.stream !== 0) throw new WasiError(Errno.BADF);
      let total = 0;
      for (const b of bufs) {
        const chunk = state.stdin.subarray(state.stdinPos, state.stdinPos + b.length);
        b.set(chunk);
        state.stdinPos += chunk.length;
        total += chunk.length;
        if (chunk.length < b.length) break;
      }
      mem.setU32(nreadPtr, total);
    },
    fd_write(fd: number, iovs: number, count: number, nwrittenPtr: number) {
      const e = fds.get(fd);
      mem.check(nwrittenPtr, 4);
      const bufs = mem.iovecs(iovs, count);
      if (e.kind === 'dir') throw new WasiError(Errno.BADF);
      if (e.kind === 'file') return mem.setU32(nwrittenPtr, writeFile(e, bufs, null));
      if (e.stream === 0) throw new WasiError(Errno.BADF);
      const sink = e.stream === 1 ? state.stdout : state.stderr;
      let total = 0;
      for (const b of bufs) {
        sink.write(b);
        total += b.length;
      }
      mem.setU32(nwrittenPtr, total);
    },
    fd_prestat_get(fd: number, ptr: number) {
      const e = fds.get(fd);
      if (e.kind !== 'dir' || !e.isPreopen) throw new WasiError(Errno.BADF);
      const v = mem.view(ptr, 8);
      v.setUint32(0, 0, true);
      v.setUint32(4, enc.encode(e.preopen.guestName).length, true);
    },
    fd_prestat_dir_name(fd: number, ptr: number, len: number) {
      const e = fds.get(fd);
      if (e.kind !== 'dir' || !e.isPreopen) throw new WasiError(Errno.BADF);
      const name = enc.encode(e.preopen.guestName);
      if (len >>> 0 < name.length) throw new WasiError(Errno.NAMETOOLONG);
      mem.bytes(ptr, name.length).set(name);
    },
    fd_readdir(fd: number, buf: number, bufLen: number, cookie: bigint, bufusedPtr: number) {
      const e = dirEntry(fd);
      const out = mem.bytes(buf, bufLen);
      mem.check(bufusedPtr, 4);
      const entries = readdirEntries(e);
      let used = 0;
      // The cookie is a u64 that arrives signed; anything past the end is simply the end.
      const start = cookie < 0n || cookie > BigInt(entries.length) ? entries.length : Number(cookie);
      for (let i = start; i < entries.length && used < out.length; i++) {
        const ent = entries[i]!;
        const name = enc.encode(ent.name);
        const rec = new Uint8Array(24 + name.length);
        const v = new DataView(rec.buffer);
        v.setBigUint64(0, BigInt(i + 1), true);
        v.setBigUint64(8, ent.ino, true);
        v.setUint32(16, name.length, true);
        v.setUint8(20, ent.type);
        rec.set(name, 24);
        const n = Math.min(rec.length, out.length - used);
        out.set(rec.subarray(0, n), used);
        used += n;
      }
      mem.setU32(bufusedPtr, used);
    },
    fd_renumber(from: number, to: number) {
      fds.renumber(from, to);
    },
    fd_seek(fd: number, offset: bigint, whence: number, ptr: number) {
      const e = fds.get(fd);
      mem.check(ptr, 8);
      if (e.kind === 'stdio') throw new WasiError(Errno.SPIPE);
      if (e.kind === 'dir') throw new WasiError(Errno.BADF);
      let base: bigint;
      if (whence === 0) base = 0n;
      else if (whence === 1) base = e.position;
      else if (whence === 2) base = fs.fstatSync(e.hostFd, { bigint: true }).size;
      else throw new WasiError(Errno.INVAL);
      const next = BigInt(fileOffset(base + offset));
      e.position = next;
      mem.setU64(ptr, next);
    },
    fd_tell(fd: number, ptr: number) {
      const e = fds.get(fd);
      mem.check(ptr, 8);
      if (e.kind === 'stdio') throw new WasiError(Errno.SPIPE);
      if (e.kind === 'dir') throw new WasiError(Errno.BADF);
      mem.setU64(ptr, e.position);
    },

    path_create_directory(fd: number, ptr: number, len: number) {
      const r = resolveName(fd, ptr, len);
      refuseIfReadOnly(r.preopen);
      fs.mkdirSync(r.hostPath);
    },
    path_filestat_get(fd: number, flags: number, ptr: number, len: number, out: number) {
      const r = resolveFollow(fd, flags, ptr, len);
      mem.check(out, 64);
      const st = fs.lstatSync(r.hostPath, { bigint: true });
      if (r.trailingSlash && !st.isDirectory()) throw new WasiError(Errno.NOTDIR);
      writeFilestat(out, st);
    },
    path_filestat_set_times(
      fd: number,
      flags: number,
      ptr: number,
      len: number,
      atim: bigint,
      mtim: bigint,
      fst: number,
    ) {
      const r = resolveFollow(fd, flags, ptr, len);
      const st = fs.lstatSync(r.hostPath, { bigint: true });
      const times = newTimes(st, atim, mtim, fst);
      refuseIfReadOnly(r.preopen);
      const restat = () => fs.lstatSync(r.hostPath, { bigint: true });
      if (st.isSymbolicLink()) setTimes(times, (a, m) => fs.lutimesSync(r.hostPath, a, m), restat);
      else setTimes(times, (a, m) => fs.utimesSync(r.hostPath, a, m), restat);
    },
    path_link(
      oldFd: number,
      oldFlags: number,
      oldPtr: number,
      oldLen: number,
      newFd: number,
      newPtr: number,
      newLen: number,
    ) {
      const from = resolveFollow(oldFd, oldFlags, oldPtr, oldLen);
      const to = resolveName(newFd, newPtr, newLen);
      refuseIfReadOnly(to.preopen);
      // A hard link from one grant into another would let a read-only grant's file be written through the other.
      if (from.preopen !== to.preopen) throw new WasiError(Errno.XDEV);
      const st = fs.lstatSync(from.hostPath);
      if (st.isDirectory()) throw new WasiError(Errno.PERM);
      if (from.trailingSlash || to.trailingSlash) {
        throw new WasiError(lstatOrNull(to.hostPath) === null ? Errno.NOENT : Errno.EXIST);
      }
      fs.linkSync(from.hostPath, to.hostPath);
    },
    path_open(
      fd: number,
      dirflags: number,
      ptr: number,
      len: number,
      oflags: number,
      rightsBase: bigint,
      _rightsInheriting: bigint,
      fdflags: number,
      fdPtr: number,
    ) {
      const dir = dirEntry(fd);
      mem.check(fdPtr, 4);
      const r = resolvePath(dir.preopen, dir.rel, pathArg(ptr, len), (dirflags & LOOKUP_SYMLINK_FOLLOW) !== 0);
      const create = (oflags & Oflags.CREAT) !== 0;
      const wantsDir = (oflags & Oflags.DIRECTORY) !== 0;
      const write =
        (rightsBase & (RIGHT_FD_WRITE | RIGHT_FD_ALLOCATE | RIGHT_FD_FILESTAT_SET_SIZE)) !== 0n ||
        (fdflags & FdFlags.APPEND) !== 0 ||
        (oflags & Oflags.TRUNC) !== 0;
      // Without any read or write right asked for, a file opens for reading (as in wasi-libc's open(O_RDONLY)).
      const read = (rightsBase & RIGHT_FD_READ) !== 0n || !write;
      const st = lstatOrNull(r.hostPath);
      if (st === null) {
        if (!create) throw new WasiError(Errno.NOENT);
        if (wantsDir) throw new WasiError(Errno.INVAL);
        if (r.trailingSlash) throw new WasiError(Errno.ISDIR);
        refuseIfReadOnly(r.preopen);
      } else {
        if (create && oflags & Oflags.EXCL) throw new WasiError(Errno.EXIST);
        if (st.isSymbolicLink()) throw new WasiError(wantsDir ? Errno.NOTDIR : Errno.LOOP);
        if (st.isDirectory()) {
          if (write) throw new WasiError(Errno.ISDIR);
          const rel = r.rel;
          mem.setU32(fdPtr, fds.add({ kind: 'dir', preopen: r.preopen, rel, isPreopen: false, fdflags }));
          return;
        }
        if (wantsDir || r.trailingSlash) throw new WasiError(Errno.NOTDIR);
        // FIFOs, sockets and devices would block or reach outside the sandbox.
        if (!st.isFile()) throw new WasiError(Errno.NOTSUP);
        if (write || (create && oflags & Oflags.TRUNC)) refuseIfReadOnly(r.preopen);
      }
      const C = fs.constants;
      const base = C.O_NOFOLLOW | (st === null ? C.O_CREAT | C.O_EXCL : 0) | (oflags & Oflags.TRUNC ? C.O_TRUNC : 0);
      const mode = read && write ? C.O_RDWR : write ? C.O_WRONLY : C.O_RDONLY;
      const hostFd = fs.openSync(r.hostPath, base | mode, 0o666);
      const readable = read;
      mem.setU32(
        fdPtr,
        fds.add({
          kind: 'file',
          preopen: r.preopen,
          rel: r.rel,
          hostFd,
          readable,
          writable: write,
          position: 0n,
          fdflags,
        }),
      );
    },
    path_readlink(fd: number, ptr: number, len: number, buf: number, bufLen: number, usedPtr: number) {
      const r = resolveName(fd, ptr, len);
      const out = mem.bytes(buf, bufLen);
      mem.check(usedPtr, 4);
      const target = fs.readlinkSync(r.hostPath, { encoding: 'buffer' });
      const n = Math.min(target.length, out.length);
      out.set(target.subarray(0, n));
      mem.setU32(usedPtr, n);
    },
    path_remove_directory(fd: number, ptr: number, len: number) {
      const r = resolveName(fd, ptr, len);
      refuseIfReadOnly(r.preopen);
      if (r.rel.length === 0) throw new WasiError(Errno.PERM);
      fs.rmdirSync(r.hostPath);
    },
    path_rename(fd: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number) {
      const from = resolveName(fd, oldPtr, oldLen);
      const to = resolveName(newFd, newPtr, newLen);
      refuseIfReadOnly(from.preopen);
      refuseIfReadOnly(to.preopen);
      if (from.rel.length === 0 || to.rel.length === 0) throw new WasiError(Errno.PERM);
      const st = fs.lstatSync(from.hostPath);
      if ((from.trailingSlash || to.trailingSlash) && !st.isDirectory()) throw new WasiError(Errno.NOTDIR);
      fs.renameSync(from.hostPath, to.hostPath);
    },
    path_symlink(oldPtr: number, oldLen: number, fd: number, newPtr: number, newLen: number) {
      const target = pathArg(oldPtr, oldLen);
      const r = resolveName(fd, newPtr, newLen);
      refuseIfReadOnly(r.preopen);
      // An absolute target names the host's file system, which the guest has no say over.
      if (target.startsWith('/')) throw new WasiError(Errno.PERM);
      if (r.trailingSlash) {
        throw new WasiError(lstatOrNull(r.hostPath) === null ? Errno.NOENT : Errno.EXIST);
      }
      fs.symlinkSync(target, r.hostPath);
    },
    path_unlink_file(fd: number, ptr: number, len: number) {
      const r = resolveName(fd, ptr, len);
      refuseIfReadOnly(r.preopen);
      if (r.trailingSlash) {
        const st = fs.lstatSync(r.hostPath);
        throw new WasiError(st.isDirectory() ? Errno.ISDIR : Errno.NOTDIR);
      }
      fs.unlinkSync(r.hostPath);
    },

    poll_oneoff(inPtr: number, outPtr: number, nsubs: number, neventsPtr: number) {
      const n = nsubs >>> 0;
      if (n === 0) throw new WasiError(Errno.INVAL);
      const subs = mem.view(inPtr, n * 48);
      mem.check(outPtr, n * 32);
      mem.check(neventsPtr, 4);
      type Ev = { userdata: bigint; error: number; type: number; nbytes: bigint };
      const ready: Ev[] = [];
      let sleepNs: bigint | null = null;
      const clocks: { userdata: bigint; deadline: bigint }[] = [];
      for (let i = 0; i < n; i++) {
        const o = i * 48;
        const userdata = subs.getBigUint64(o, true);
        const tag = subs.getUint8(o + 8);
        if (tag === 0) {
          const id = subs.getUint32(o + 16, true);
          const timeout = subs.getBigUint64(o + 24, true);
          const absolute = (subs.getUint16(o + 40, true) & 1) !== 0;
          const now = entropy.now(id);
          if (now === null) {
            ready.push({ userdata, error: Errno.INVAL, type: 0, nbytes: 0n });
            continue;
          }
          const wait = absolute ? timeout - now : timeout;
          clocks.push({ userdata, deadline: wait });
          if (sleepNs === null || wait < sleepNs) sleepNs = wait;
        } else if (tag === 1 || tag === 2) {
          const fd = subs.getUint32(o + 16, true);
          let error = 0;
          let nbytes = 0n;
          try {
            const e = fds.get(fd);
            if (e.kind === 'dir') error = Errno.BADF;
            else if (tag === 1 && e.kind === 'stdio') nbytes = BigInt(Math.max(0, state.stdin.length - state.stdinPos));
            else if (tag === 1 && e.kind === 'file') {
              const size = fs.fstatSync(e.hostFd, { bigint: true }).size;
              nbytes = size > e.position ? size - e.position : 0n;
            }
          } catch (err) {
            error = errnoOf(err);
          }
          ready.push({ userdata, error, type: tag, nbytes });
        } else {
          throw new WasiError(Errno.INVAL);
        }
      }
      // Files and captured stdio never block, so a clock only matters when nothing else is ready.
      if (ready.length === 0 && sleepNs !== null) {
        entropy.sleep(sleepNs);
        for (const c of clocks)
          if (c.deadline <= sleepNs) ready.push({ userdata: c.userdata, error: 0, type: 0, nbytes: 0n });
      }
      const out = mem.view(outPtr, ready.length * 32);
      ready.forEach((ev, i) => {
        const o = i * 32;
        for (let k = 0; k < 32; k++) out.setUint8(o + k, 0);
        out.setBigUint64(o, ev.userdata, true);
        out.setUint16(o + 8, ev.error, true);
        out.setUint8(o + 10, ev.type);
        out.setBigUint64(o + 16, ev.nbytes, true);
      });
      mem.setU32(neventsPtr, ready.length);
    },

    sock_accept(fd: number) {
      return notSocket(fd);
    },
    sock_recv(fd: number) {
      return notSocket(fd);
    },
    sock_send(fd: number) {
      return notSocket(fd);
    },
    sock_shutdown(fd: number) {
      return notSocket(fd);
    },
  } satisfies Record<Preview1Name, (...args: never[]) => number | void>;

  function notSocket(fd: number): number {
    fds.get(fd);
    // No socket is ever granted, so every descriptor the guest holds is not one.
    return 57; /* NOTSOCK */
  }

  function writeStrings(list: readonly string[], ptrs: number, buf: number): void {
    mem.check(ptrs, list.length * 4);
    let at = buf;
    list.forEach((s, i) => {
      const b = enc.encode(s);
      mem.bytes(at, b.length + 1).set([...b, 0]);
      mem.setU32(ptrs + i * 4, at);
      at += b.length + 1;
    });
  }

  // No prototype: an import name such as `constructor` or `__proto__` finds nothing here, so it cannot link.
  const wrapped = Object.create(null) as Record<string, (...args: never[]) => number | void>;
  for (const [name, fn] of Object.entries(fns)) {
    const f = fn as (...args: unknown[]) => number | void;
    wrapped[name] =
      name === 'proc_exit'
        ? (f as (...args: never[]) => void)
        : (...args: unknown[]) => {
            try {
              const r = f(...args);
              return typeof r === 'number' ? r : Errno.SUCCESS;
            } catch (err) {
              if (err instanceof WasiExit) throw err;
              return errnoOf(err);
            }
          };
  }
  return wrapped;
}
