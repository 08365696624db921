// Bounds-checked reads and writes of the guest's memory for WASI calls: a bad pointer is EFAULT, never a host exception.

import { Errno, WasiError } from './errno.ts';

export interface MemoryLike {
  readonly buffer: ArrayBuffer;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class WasiMemory {
  private readonly getMemory: () => MemoryLike;

  constructor(getMemory: () => MemoryLike) {
    this.getMemory = getMemory;
  }

  /** Taken afresh on every call: a grown memory replaces its buffer. */
  private buffer(): ArrayBuffer {
    return this.getMemory().buffer;
  }

  check(ptr: number, len: number): void {
    const start = ptr >>> 0;
    if (start + (len >>> 0) > this.buffer().byteLength) throw new WasiError(Errno.FAULT);
  }

  bytes(ptr: number, len: number): Uint8Array {
    this.check(ptr, len);
    return new Uint8Array(this.buffer(), ptr >>> 0, len >>> 0);
  }

  view(ptr: number, len: number): DataView {
    this.check(ptr, len);
    return new DataView(this.buffer(), ptr >>> 0, len >>> 0);
  }

  u32(ptr: number): number {
    return this.view(ptr, 4).getUint32(0, true);
  }

  setU8(ptr: number, v: number): void {
    this.view(ptr, 1).setUint8(0, v);
  }

  setU16(ptr: number, v: number): void {
    this.view(ptr, 2).setUint16(0, v, true);
  }

  setU32(ptr: number, v: number): void {
    this.view(ptr, 4).setUint32(0, v >>> 0, true);
  }

  setU64(ptr: number, v: bigint): void {
    this.view(ptr, 8).setBigUint64(0, BigInt.asUintN(64, v), true);
  }

  /** A guest string: invalid UTF-8 is EILSEQ (a host path cannot represent it faithfully). */
  string(ptr: number, len: number): string {
    try {
      return utf8.decode(this.bytes(ptr, len));
    } catch (e) {
      if (e instanceof WasiError) throw e;
      throw new WasiError(25 /* ILSEQ */);
    }
  }

  /** The (buf, len) pairs of an iovec array, each checked. */
  iovecs(iovs: number, count: number): Uint8Array[] {
    const n = count >>> 0;
    this.check(iovs, n * 8);
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const v = this.view(iovs + i * 8, 8);
      out.push(this.bytes(v.getUint32(0, true), v.getUint32(4, true)));
    }
    return out;
  }
}
