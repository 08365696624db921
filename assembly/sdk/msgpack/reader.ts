// A zero-copy MessagePack reader over bytes in linear memory that never reads outside the range it was given.

/** The kind of the next MessagePack value. `Uint` is an unsigned integer above i64's range. */
export enum Kind {
  Nil,
  Bool,
  Int,
  Uint,
  Float,
  Str,
  Bin,
  Array,
  Map,
  Ext,
  Invalid,
}

/**
 * Reads values one after another. A read that meets malformed bytes, the end of the range or a value of
 * another kind sets `failed`, leaves the position where it was and returns a zero value, so callers can read a
 * whole message and check `failed` once. Nothing here allocates except `readString`.
 */
export class Reader {
  start: usize = 0;
  end: usize = 0;
  pos: usize = 0;
  failed: bool = false;
  /** Where the bytes of the last string, bin or ext read by reference start, and how many there are. */
  refPtr: usize = 0;
  refLen: i32 = 0;
  /** The type byte of the last ext read. */
  extType: i8 = 0;

  constructor(ptr: usize = 0, len: i32 = 0) {
    this.reset(ptr, len);
  }

  reset(ptr: usize, len: i32): Reader {
    this.start = ptr;
    this.end = ptr + <usize>len;
    this.pos = ptr;
    this.failed = false;
    return this;
  }

  @inline get done(): bool {
    return this.pos >= this.end;
  }

  @inline private fail(): void {
    this.failed = true;
  }

  /** True when `n` more bytes follow position `at`; written so that a huge `n` cannot wrap around. */
  @inline private has(at: usize, n: usize): bool {
    return at <= this.end && n <= this.end - at;
  }

  peekKind(): Kind {
    if (this.pos >= this.end) return Kind.Invalid;
    const b = <u32>load<u8>(this.pos);
    if (b <= 0x7f || b >= 0xe0) return Kind.Int;
    if (b <= 0x8f) return Kind.Map;
    if (b <= 0x9f) return Kind.Array;
    if (b <= 0xbf) return Kind.Str;
    switch (b) {
      case 0xc0: return Kind.Nil;
      case 0xc2: case 0xc3: return Kind.Bool;
      case 0xc4: case 0xc5: case 0xc6: return Kind.Bin;
      case 0xc7: case 0xc8: case 0xc9: case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: return Kind.Ext;
      case 0xca: case 0xcb: return Kind.Float;
      case 0xcc: case 0xcd: case 0xce: case 0xd0: case 0xd1: case 0xd2: case 0xd3: return Kind.Int;
      case 0xcf: {
        if (!this.has(this.pos + 1, 8)) return Kind.Invalid;
        return (load<u8>(this.pos + 1) & 0x80) != 0 ? Kind.Uint : Kind.Int;
      }
      case 0xd9: case 0xda: case 0xdb: return Kind.Str;
      case 0xdc: case 0xdd: return Kind.Array;
      case 0xde: case 0xdf: return Kind.Map;
    }
    return Kind.Invalid; // 0xc1 is never used
  }

  readNil(): bool {
    if (this.pos < this.end && load<u8>(this.pos) == 0xc0) {
      this.pos++;
      return true;
    }
    this.fail();
    return false;
  }

  readBool(): bool {
    if (this.pos < this.end) {
      const b = load<u8>(this.pos);
      if (b == 0xc2 || b == 0xc3) {
        this.pos++;
        return b == 0xc3;
      }
    }
    this.fail();
    return false;
  }

  /** Any integer format; an unsigned value above i64's range fails. */
  readInt(): i64 {
    const p = this.pos;
    if (p >= this.end) {
      this.fail();
      return 0;
    }
    const b = <u32>load<u8>(p);
    if (b <= 0x7f) {
      this.pos = p + 1;
      return <i64>b;
    }
    if (b >= 0xe0) {
      this.pos = p + 1;
      return <i64><i8>b;
    }
    let v: i64 = 0;
    let size: usize = 0;
    switch (b) {
      case 0xcc: size = 1; if (this.has(p + 1, 1)) v = <i64>load<u8>(p + 1); break;
      case 0xcd: size = 2; if (this.has(p + 1, 2)) v = <i64>bswap<u16>(load<u16>(p + 1)); break;
      case 0xce: size = 4; if (this.has(p + 1, 4)) v = <i64>bswap<u32>(load<u32>(p + 1)); break;
      case 0xcf: {
        size = 8;
        if (this.has(p + 1, 8)) {
          v = <i64>bswap<u64>(load<u64>(p + 1));
          if (v < 0) size = 0; // above i64's range
        }
        break;
      }
      case 0xd0: size = 1; if (this.has(p + 1, 1)) v = <i64>load<i8>(p + 1); break;
      case 0xd1: size = 2; if (this.has(p + 1, 2)) v = <i64><i16>bswap<u16>(load<u16>(p + 1)); break;
      case 0xd2: size = 4; if (this.has(p + 1, 4)) v = <i64><i32>bswap<u32>(load<u32>(p + 1)); break;
      case 0xd3: size = 8; if (this.has(p + 1, 8)) v = <i64>bswap<u64>(load<u64>(p + 1)); break;
    }
    if (size == 0 || !this.has(p + 1, size)) {
      this.fail();
      return 0;
    }
    this.pos = p + 1 + size;
    return v;
  }

  /** Any non-negative integer, including those above i64's range. */
  readUint(): u64 {
    const p = this.pos;
    if (p < this.end && load<u8>(p) == 0xcf) {
      if (!this.has(p + 1, 8)) {
        this.fail();
        return 0;
      }
      this.pos = p + 9;
      return bswap<u64>(load<u64>(p + 1));
    }
    const v = this.readInt();
    if (v < 0) {
      this.pos = p;
      this.fail();
      return 0;
    }
    return <u64>v;
  }

  /** A float32, a float64 or any integer, as f64. */
  readFloat(): f64 {
    const p = this.pos;
    if (p >= this.end) {
      this.fail();
      return 0;
    }
    const b = load<u8>(p);
    if (b == 0xcb) {
      if (!this.has(p + 1, 8)) {
        this.fail();
        return 0;
      }
      this.pos = p + 9;
      return reinterpret<f64>(bswap<u64>(load<u64>(p + 1)));
    }
    if (b == 0xca) {
      if (!this.has(p + 1, 4)) {
        this.fail();
        return 0;
      }
      this.pos = p + 5;
      return <f64>reinterpret<f32>(bswap<u32>(load<u32>(p + 1)));
    }
    if (b == 0xcf) return <f64>this.readUint();
    return <f64>this.readInt();
  }

  /** Reads a string header and sets `refPtr`/`refLen` to its UTF-8 bytes, without copying them. */
  readStrRef(): bool {
    const p = this.pos;
    if (p >= this.end) {
      this.fail();
      return false;
    }
    const b = <u32>load<u8>(p);
    let hdr: usize = 0;
    let len: usize = 0;
    if ((b & 0xe0) == 0xa0) {
      hdr = 1;
      len = b & 0x1f;
    } else if (b == 0xd9) {
      hdr = 2;
      if (this.has(p, 2)) len = load<u8>(p + 1);
    } else if (b == 0xda) {
      hdr = 3;
      if (this.has(p, 3)) len = bswap<u16>(load<u16>(p + 1));
    } else if (b == 0xdb) {
      hdr = 5;
      if (this.has(p, 5)) len = bswap<u32>(load<u32>(p + 1));
    }
    return this.takeRef(p, hdr, len);
  }

  /** Reads a bin header and sets `refPtr`/`refLen` to its bytes, without copying them. */
  readBinRef(): bool {
    const p = this.pos;
    if (p >= this.end) {
      this.fail();
      return false;
    }
    const b = load<u8>(p);
    let hdr: usize = 0;
    let len: usize = 0;
    if (b == 0xc4) {
      hdr = 2;
      if (this.has(p, 2)) len = load<u8>(p + 1);
    } else if (b == 0xc5) {
      hdr = 3;
      if (this.has(p, 3)) len = bswap<u16>(load<u16>(p + 1));
    } else if (b == 0xc6) {
      hdr = 5;
      if (this.has(p, 5)) len = bswap<u32>(load<u32>(p + 1));
    }
    return this.takeRef(p, hdr, len);
  }

  /** Reads an ext header and sets `extType` and `refPtr`/`refLen` to its data, without copying them. */
  readExtRef(): bool {
    const p = this.pos;
    if (p >= this.end) {
      this.fail();
      return false;
    }
    const b = load<u8>(p);
    let hdr: usize = 0;
    let len: usize = 0;
    switch (b) {
      case 0xd4: hdr = 2; len = 1; break;
      case 0xd5: hdr = 2; len = 2; break;
      case 0xd6: hdr = 2; len = 4; break;
      case 0xd7: hdr = 2; len = 8; break;
      case 0xd8: hdr = 2; len = 16; break;
      case 0xc7: hdr = 3; if (this.has(p, 3)) len = load<u8>(p + 1); break;
      case 0xc8: hdr = 4; if (this.has(p, 4)) len = bswap<u16>(load<u16>(p + 1)); break;
      case 0xc9: hdr = 6; if (this.has(p, 6)) len = bswap<u32>(load<u32>(p + 1)); break;
    }
    if (hdr == 0 || !this.has(p, hdr)) {
      this.fail();
      return false;
    }
    this.extType = load<i8>(p + hdr - 1);
    return this.takeRef(p, hdr, len);
  }

  private takeRef(p: usize, hdr: usize, len: usize): bool {
    if (hdr == 0 || !this.has(p, hdr) || !this.has(p + hdr, len)) {
      this.fail();
      return false;
    }
    this.refPtr = p + hdr;
    this.refLen = <i32>len;
    this.pos = p + hdr + len;
    return true;
  }

  /** A string, decoded to a new AssemblyScript string (the one read that allocates); "" on failure. */
  readString(): string {
    if (!this.readStrRef()) return "";
    return String.UTF8.decodeUnsafe(this.refPtr, <usize>this.refLen);
  }

  /** The number of entries of a map (each is a key and a value to read), or -1 if the next value is not a map. */
  readMapHeader(): i32 {
    return this.readContainer(0x80, 0xde);
  }

  /** The number of items of an array, or -1 if the next value is not an array. */
  readArrayHeader(): i32 {
    return this.readContainer(0x90, 0xdc);
  }

  private readContainer(fix: u32, code16: u32): i32 {
    const p = this.pos;
    if (p < this.end) {
      const b = <u32>load<u8>(p);
      if ((b & 0xf0) == fix) {
        this.pos = p + 1;
        return <i32>(b & 0x0f);
      }
      if (b == code16 && this.has(p, 3)) {
        this.pos = p + 3;
        return <i32>bswap<u16>(load<u16>(p + 1));
      }
      if (b == code16 + 1 && this.has(p, 5)) {
        const n = bswap<u32>(load<u32>(p + 1));
        // Every entry takes at least one byte, so a count above the remaining bytes is malformed.
        if (<usize>n <= this.end - (p + 5)) {
          this.pos = p + 5;
          return <i32>n;
        }
      }
    }
    this.fail();
    return -1;
  }

  /** Skips one whole value, however deeply nested, without recursion. */
  skip(): bool {
    const from = this.pos;
    let pending: u64 = 1;
    while (pending > 0) {
      pending--;
      switch (this.peekKind()) {
        case Kind.Nil: this.pos++; break;
        case Kind.Bool: this.pos++; break;
        case Kind.Int: this.readInt(); break;
        case Kind.Uint: this.readUint(); break;
        case Kind.Float: this.readFloat(); break;
        case Kind.Str: this.readStrRef(); break;
        case Kind.Bin: this.readBinRef(); break;
        case Kind.Ext: this.readExtRef(); break;
        case Kind.Array: {
          const n = this.readArrayHeader();
          if (n > 0) pending += <u64>n;
          break;
        }
        case Kind.Map: {
          const n = this.readMapHeader();
          if (n > 0) pending += <u64>n * 2;
          break;
        }
        default: this.fail();
      }
      if (this.failed) {
        this.pos = from;
        return false;
      }
    }
    return true;
  }
}
