// A cursor over a wasm binary: LEB128 integers with the spec's length and unused-bit rules, floats, names.

import { CompileError } from './errors.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class Reader {
  readonly bytes: Uint8Array;
  pos: number;
  end: number;
  private readonly view: DataView;

  constructor(bytes: Uint8Array, pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(message: string): never {
    throw new CompileError(`${message} @+${this.pos}`);
  }

  eof(): boolean {
    return this.pos >= this.end;
  }

  u8(): number {
    if (this.pos >= this.end) this.fail('unexpected end');
    return this.bytes[this.pos++] as number;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      if (i === 4) {
        if (b & 0x80) this.fail('integer representation too long');
        if (b & 0x70) this.fail('integer too large');
      }
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
    return this.fail('integer representation too long');
  }

  s32(): number {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      if (i === 4) {
        if (b & 0x80) this.fail('integer representation too long');
        const top = b & 0x78;
        if (top !== 0 && top !== 0x78) this.fail('integer too large');
        result |= b << 28;
        return result | 0;
      }
      result |= (b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) === 0) {
        if (shift < 32 && b & 0x40) result |= -1 << shift;
        return result | 0;
      }
    }
    return this.fail('integer representation too long');
  }

  /** Signed 33-bit LEB (block types); returns a Number. */
  s33(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      if (i === 4) {
        if (b & 0x80) this.fail('integer representation too long');
        const top = b & 0x70;
        if (top !== 0 && top !== 0x70) this.fail('integer too large');
        result += (b & 0x1f) * mul;
        if (b & 0x10) result -= 2 ** 33;
        return result;
      }
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) {
        if (b & 0x40) result -= mul;
        return result;
      }
    }
    return this.fail('integer representation too long');
  }

  s64(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      if (i === 9) {
        if (b & 0x80) this.fail('integer representation too long');
        if (b !== 0 && b !== 0x7f) this.fail('integer too large');
        result |= BigInt(b & 1) << 63n;
        return BigInt.asIntN(64, result);
      }
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) {
        if (b & 0x40) result -= 1n << shift;
        return BigInt.asIntN(64, result);
      }
    }
    return this.fail('integer representation too long');
  }

  f32(): number {
    if (this.pos + 4 > this.end) this.fail('unexpected end');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** The raw bits of an f32 immediate (floats lose NaN payloads on the way through a JS number). */
  f32bits(): number {
    if (this.pos + 4 > this.end) this.fail('unexpected end');
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64bits(): bigint {
    if (this.pos + 8 > this.end) this.fail('unexpected end');
    const v = this.view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  f64(): number {
    if (this.pos + 8 > this.end) this.fail('unexpected end');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  take(n: number): Uint8Array {
    if (this.pos + n > this.end) this.fail('unexpected end');
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  name(): string {
    const n = this.u32();
    const bytes = this.take(n);
    try {
      return utf8.decode(bytes);
    } catch {
      return this.fail('malformed UTF-8 encoding');
    }
  }
}
