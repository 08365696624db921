// Byte-level reading and writing of the WebAssembly binary format (LEB128, names, growable output).

import { malformed } from './errors.ts';

/** A cursor over input bytes. Every read checks bounds against `end` and throws MALFORMED past it. */
export class Reader {
  readonly buf: Uint8Array;
  pos: number;
  end: number;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  eof(): boolean {
    return this.pos >= this.end;
  }

  byte(): number {
    if (this.pos >= this.end) throw malformed('unexpected end', this.pos);
    return this.buf[this.pos++]!;
  }

  peek(): number {
    if (this.pos >= this.end) throw malformed('unexpected end', this.pos);
    return this.buf[this.pos]!;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      if (shift === 28) {
        if ((b & 0xf0) !== 0) throw malformed('u32 LEB128 too long or out of range', this.pos - 1);
        return (result | (b << 28)) >>> 0;
      }
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  }

  /** Skips a LEB128 of at most `maxBytes` bytes without decoding it. */
  skipLeb(maxBytes: number): void {
    const start = this.pos;
    for (;;) {
      const b = this.byte();
      if ((b & 0x80) === 0) return;
      if (this.pos - start >= maxBytes) throw malformed('LEB128 too long', start);
    }
  }

  /** A signed 33-bit LEB (block types); returned as a JS number. */
  s33(): number {
    let result = 0;
    let mul = 1;
    let b: number;
    let n = 0;
    do {
      b = this.byte();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if (++n > 5) throw malformed('s33 LEB128 too long', this.pos - 1);
    } while (b & 0x80);
    if (b & 0x40) result -= mul;
    return result;
  }

  bytes(n: number): Uint8Array {
    if (n > this.end - this.pos) throw malformed('unexpected end', this.pos);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number): void {
    if (n > this.end - this.pos) throw malformed('unexpected end', this.pos);
    this.pos += n;
  }

  name(): string {
    const len = this.u32();
    const at = this.pos;
    const raw = this.bytes(len);
    try {
      return utf8.decode(raw);
    } catch {
      throw malformed('name is not valid UTF-8', at);
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8enc = new TextEncoder();

/** A growable output buffer. */
export class Writer {
  buf: Uint8Array<ArrayBuffer>;
  len = 0;

  constructor(capacity = 1024) {
    this.buf = new Uint8Array(Math.max(16, capacity));
  }

  ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    if (this.len >= this.buf.length) this.ensure(1);
    this.buf[this.len++] = b;
  }

  u32(v: number): void {
    this.ensure(5);
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.buf[this.len++] = b;
    } while (v !== 0);
  }

  /** Signed LEB128 for values that fit a JS safe integer (i32/i64 immediates we generate). */
  sleb(v: number): void {
    this.ensure(10);
    for (;;) {
      const b = v & 0x7f;
      v = Math.floor(v / 128);
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }

  /** Signed LEB128 of an i64 given as a bigint. */
  slebBig(v: bigint): void {
    v = BigInt.asIntN(64, v);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.len);
    this.len += src.length;
  }

  /** Copies src[start, end) — the common case of passing input through unchanged. */
  range(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.ensure(n);
    if (n < 64) {
      // short copies are cheaper as a loop than as a subarray view plus set()
      const b = this.buf;
      let o = this.len;
      for (let i = start; i < end; i++) b[o++] = src[i]!;
    } else {
      this.buf.set(src.subarray(start, end), this.len);
    }
    this.len += n;
  }

  name(s: string): void {
    const raw = utf8enc.encode(s);
    this.u32(raw.length);
    this.bytes(raw);
  }

  /** Writes a section: id, size, then the content of another writer. */
  section(id: number, content: Writer): void {
    this.byte(id);
    this.u32(content.len);
    this.range(content.buf, 0, content.len);
  }

  finish(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.len);
  }
}

export function lebSize(v: number): number {
  let n = 1;
  v >>>= 0;
  while (v >= 0x80) {
    v >>>= 7;
    n++;
  }
  return n;
}
