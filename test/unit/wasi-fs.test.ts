// Unit: WasiHost's file system calls against real temporary directories: grants, read-only, `..` and symlink escapes, bounds.

import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Errno, WasiHost, type DirGrant } from '../../host/wasi/index.ts';

type Fn = (...args: (number | bigint)[]) => number;

const FD_READ = 1n << 1n;
const FD_WRITE = 1n << 6n;
const O_CREAT = 1;
const O_DIRECTORY = 2;
const FOLLOW = 1;

/** A guest without code: a memory we lay arguments out in, and the host's import functions called directly. */
class FakeGuest {
  readonly memory = new WebAssembly.Memory({ initial: 1 });
  readonly fns: Record<string, Fn>;
  private next = 1024;

  constructor(readonly host: WasiHost) {
    this.fns = host.imports(() => this.memory) as unknown as Record<string, Fn>;
  }

  alloc(n: number): number {
    const p = this.next;
    this.next += (n + 7) & ~7;
    return p;
  }

  str(s: string): [number, number] {
    const b = new TextEncoder().encode(s);
    const p = this.alloc(b.length);
    new Uint8Array(this.memory.buffer, p, b.length).set(b);
    return [p, b.length];
  }

  u32(p: number): number {
    return new DataView(this.memory.buffer).getUint32(p, true);
  }

  call(name: string, ...args: (number | bigint)[]): number {
    const f = this.fns[name];
    if (!f) throw new Error(`no import ${name}`);
    return f(...args);
  }

  /** path_open relative to `dirFd`; returns [errno, fd]. */
  open(dirFd: number, p: string, opts: { oflags?: number; rights?: bigint; lookup?: number } = {}): [number, number] {
    const [ptr, len] = this.str(p);
    const out = this.alloc(4);
    const e = this.call(
      'path_open',
      dirFd,
      opts.lookup ?? 0,
      ptr,
      len,
      opts.oflags ?? 0,
      opts.rights ?? FD_READ,
      0n,
      0,
      out,
    );
    return [e, e === 0 ? this.u32(out) : -1];
  }

  read(fd: number, n = 256): [number, string] {
    const buf = this.alloc(n);
    const iov = this.alloc(8);
    const dv = new DataView(this.memory.buffer);
    dv.setUint32(iov, buf, true);
    dv.setUint32(iov + 4, n, true);
    const nread = this.alloc(4);
    const e = this.call('fd_read', fd, iov, 1, nread);
    return [e, e === 0 ? new TextDecoder().decode(new Uint8Array(this.memory.buffer, buf, this.u32(nread))) : ''];
  }

  write(fd: number, text: string): number {
    const [p, len] = this.str(text);
    const iov = this.alloc(8);
    const dv = new DataView(this.memory.buffer);
    dv.setUint32(iov, p, true);
    dv.setUint32(iov + 4, len, true);
    return this.call('fd_write', fd, iov, 1, this.alloc(4));
  }

  pathCall(name: string, dirFd: number, p: string): number {
    const [ptr, len] = this.str(p);
    return this.call(name, dirFd, ptr, len);
  }
}

let tmp: string;
let granted: string;
let secret: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wasi-unit-'));
  granted = path.join(tmp, 'granted');
  fs.mkdirSync(path.join(granted, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(granted, 'a.txt'), 'inside');
  secret = path.join(tmp, 'secret.txt');
  fs.writeFileSync(secret, 'outside');
  fs.symlinkSync('../secret.txt', path.join(granted, 'escape'));
  fs.symlinkSync(secret, path.join(granted, 'absolute'));
  fs.symlinkSync('a.txt', path.join(granted, 'inside-link'));
  fs.symlinkSync('..', path.join(granted, 'sub', 'up'));
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const guestWith = (grant: Partial<DirGrant> = {}) =>
  new FakeGuest(new WasiHost({ dirs: [{ host: granted, guest: '/data', readOnly: false, ...grant }] }));

describe('WASI file system grants', () => {
  it('exposes the grant as a preopen named by its guest path, and nothing without a grant', () => {
    const g = guestWith();
    const pre = g.alloc(8);
    expect(g.call('fd_prestat_get', 3, pre)).toBe(0);
    const nameLen = g.u32(pre + 4);
    const name = g.alloc(nameLen);
    expect(g.call('fd_prestat_dir_name', 3, name, nameLen)).toBe(0);
    expect(new TextDecoder().decode(new Uint8Array(g.memory.buffer, name, nameLen))).toBe('/data');
    expect(g.call('fd_prestat_get', 4, pre)).toBe(Errno.BADF);

    const none = new FakeGuest(new WasiHost({}));
    expect(none.call('fd_prestat_get', 3, none.alloc(8))).toBe(Errno.BADF);
    expect(none.open(3, 'a.txt')[0]).toBe(Errno.BADF);
  });

  it('reads a granted file', () => {
    const g = guestWith();
    const [e, fd] = g.open(3, 'a.txt');
    expect(e).toBe(0);
    expect(g.read(fd)).toEqual([0, 'inside']);
  });

  it('refuses `..` out of the grant, and out of a directory descriptor', () => {
    const g = guestWith();
    expect(g.open(3, '../secret.txt')[0]).toBe(Errno.NOTCAPABLE);
    expect(g.open(3, 'sub/../../secret.txt')[0]).toBe(Errno.NOTCAPABLE);
    expect(g.open(3, '/etc/hostname')[0]).toBe(Errno.NOTCAPABLE);
    const [e, sub] = g.open(3, 'sub', { oflags: O_DIRECTORY });
    expect(e).toBe(0);
    expect(g.open(sub, '../a.txt')[0]).toBe(Errno.NOTCAPABLE);
    // Inside the descriptor, `..` is fine.
    expect(g.open(3, 'sub/../a.txt')[0]).toBe(0);
  });

  it('refuses symlinks that leave the grant, follows those that stay inside', () => {
    const g = guestWith();
    expect(g.open(3, 'escape', { lookup: FOLLOW })[0]).toBe(Errno.NOTCAPABLE);
    expect(g.open(3, 'absolute', { lookup: FOLLOW })[0]).toBe(Errno.NOTCAPABLE);
    expect(g.open(3, 'sub/up/escape', { lookup: FOLLOW })[0]).toBe(Errno.NOTCAPABLE);
    // Not following: the link itself is not a file to open.
    expect(g.open(3, 'escape')[0]).toBe(Errno.LOOP);
    const [e, fd] = g.open(3, 'inside-link', { lookup: FOLLOW });
    expect(e).toBe(0);
    expect(g.read(fd)).toEqual([0, 'inside']);
    // A symlink in the middle of a path is always followed, and checked the same way.
    expect(g.open(3, 'sub/up/a.txt')[0]).toBe(0);
    expect(g.open(3, 'sub/up/../secret.txt')[0]).toBe(Errno.NOTCAPABLE);
    const [de, sub] = g.open(3, 'sub', { oflags: O_DIRECTORY });
    expect(de).toBe(0);
    expect(g.open(sub, 'up/a.txt')[0]).toBe(Errno.NOTCAPABLE);
  });

  it('does not let the guest plant an escaping symlink it can use', () => {
    const g = guestWith();
    const [tp, tl] = g.str(secret);
    const [np, nl] = g.str('planted');
    expect(g.call('path_symlink', tp, tl, 3, np, nl)).toBe(Errno.PERM);
    const [rp, rl] = g.str('../secret.txt');
    const [np2, nl2] = g.str('planted2');
    expect(g.call('path_symlink', rp, rl, 3, np2, nl2)).toBe(0);
    expect(g.open(3, 'planted2', { lookup: FOLLOW })[0]).toBe(Errno.NOTCAPABLE);
    expect(fs.readFileSync(secret, 'utf8')).toBe('outside');
  });

  it('writes into a writable grant', () => {
    const g = guestWith();
    const [e, fd] = g.open(3, 'new.txt', { oflags: O_CREAT, rights: FD_WRITE });
    expect(e).toBe(0);
    expect(g.write(fd, 'written')).toBe(0);
    expect(g.call('fd_close', fd)).toBe(0);
    expect(fs.readFileSync(path.join(granted, 'new.txt'), 'utf8')).toBe('written');
  });

  it('enforces a read-only grant', () => {
    const g = guestWith({ readOnly: true });
    expect(g.open(3, 'new.txt', { oflags: O_CREAT, rights: FD_WRITE })[0]).toBe(Errno.ROFS);
    expect(g.open(3, 'a.txt', { rights: FD_WRITE })[0]).toBe(Errno.ROFS);
    expect(g.pathCall('path_unlink_file', 3, 'a.txt')).toBe(Errno.ROFS);
    expect(g.pathCall('path_create_directory', 3, 'newdir')).toBe(Errno.ROFS);
    expect(g.pathCall('path_remove_directory', 3, 'sub')).toBe(Errno.ROFS);
    const [fp, fl] = g.str('a.txt');
    const [tp, tl] = g.str('b.txt');
    expect(g.call('path_rename', 3, fp, fl, 3, tp, tl)).toBe(Errno.ROFS);
    const [e, fd] = g.open(3, 'a.txt');
    expect(e).toBe(0);
    expect(g.write(fd, 'x')).toBe(Errno.BADF);
    expect(g.call('fd_filestat_set_size', fd, 0n)).toBe(Errno.BADF);
    expect(g.read(fd)).toEqual([0, 'inside']);
    expect(fs.readdirSync(granted).sort()).toEqual(['a.txt', 'absolute', 'escape', 'inside-link', 'sub']);
    expect(fs.readFileSync(path.join(granted, 'a.txt'), 'utf8')).toBe('inside');
  });

  it('answers EFAULT for pointers outside memory instead of throwing', () => {
    const g = guestWith();
    const end = g.memory.buffer.byteLength;
    expect(g.call('path_open', 3, 0, end - 2, 10, 0, FD_READ, 0n, 0, 64)).toBe(Errno.FAULT);
    expect(g.call('fd_write', 1, end - 4, 1, 64)).toBe(Errno.FAULT);
    expect(g.call('args_sizes_get', end, 0)).toBe(Errno.FAULT);
    expect(g.call('random_get', end - 8, 16)).toBe(Errno.FAULT);
    expect(g.call('fd_prestat_dir_name', 3, end - 1, 5)).toBe(Errno.FAULT);
    expect(g.call('fd_close', 99)).toBe(Errno.BADF);
  });

  it('refuses hard links between grants, so a read-only file cannot be reached through a writable grant', () => {
    const other = path.join(tmp, 'other');
    fs.mkdirSync(other);
    const g = new FakeGuest(
      new WasiHost({
        dirs: [
          { host: granted, guest: '/ro', readOnly: true },
          { host: other, guest: '/rw', readOnly: false },
        ],
      }),
    );
    const [fp, fl] = g.str('a.txt');
    const [tp, tl] = g.str('a-link');
    expect(g.call('path_link', 3, 0, fp, fl, 4, tp, tl)).toBe(Errno.XDEV);
    expect(fs.readdirSync(other)).toEqual([]);
  });

  it('refuses negative file offsets (i64 arguments arrive signed)', () => {
    const g = guestWith();
    const [, fd] = g.open(3, 'a.txt');
    const iov = g.alloc(8);
    new DataView(g.memory.buffer).setUint32(iov, g.alloc(16), true);
    new DataView(g.memory.buffer).setUint32(iov + 4, 16, true);
    expect(g.call('fd_pread', fd, iov, 1, -1n, g.alloc(4))).toBe(Errno.INVAL);
    expect(g.call('fd_seek', fd, -1n, 0, g.alloc(8))).toBe(Errno.INVAL);
    expect(g.call('fd_readdir', 3, g.alloc(64), 64, -1n, g.alloc(4))).toBe(0);
  });

  it('reports a missing grant directory when it is created', () => {
    expect(() => new WasiHost({ dirs: [{ host: path.join(tmp, 'missing'), guest: '/', readOnly: false }] })).toThrow(
      /missing/,
    );
  });
});
