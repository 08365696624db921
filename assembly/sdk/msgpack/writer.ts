// A growable MessagePack writer that encodes into one reusable buffer, so a handler can build its output without allocating.

/**
 * Writes values in the smallest MessagePack format that holds them. Reuse one Writer across runs and call
 * `reset()`: its buffer grows when needed and is then kept, so the steady state allocates nothing.
 * Maps and arrays are written as a header with the entry count followed by the entries.
 */
export class Writer {
  private buf: ArrayBuffer;
  private ptr: usize;
  private cap: usize;
  private len: usize = 0;

  constructor(capacity: i32 = 256) {
    const cap = capacity < 16 ? 16 : capacity;
    this.buf = new ArrayBuffer(cap);
    this.ptr = changetype<usize>(this.buf);
    this.cap = <usize>cap;
  }

  /** Forgets what was written; the buffer is kept. */
  reset(): Writer {
    this.len = 0;
    return this;
  }

  /** Where the written bytes start; valid until the next write (a write may move the buffer). */
  @inline get dataStart(): usize {
    return this.ptr;
  }

  @inline get length(): i32 {
    return <i32>this.len;
  }

  /** A copy of the written bytes. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(<i32>this.len);
    memory.copy(out.dataStart, this.ptr, this.len);
    return out;
  }

  // The hot paths reach the fields through raw loads and stores on the object's address. A plain field access
  // compiles to an accessor call, and the incremental GC's shadow stack spills `this` before every call: that
  // spill code was most of the cost of writing a small value.

  /** Makes room for `n` more bytes and returns where they go. */
  @inline private reserve(n: usize): usize {
    const self = changetype<usize>(this);
    const len = load<usize>(self, offsetof<Writer>("len"));
    if (n > load<usize>(self, offsetof<Writer>("cap")) - len) this.grow(n);
    return load<usize>(self, offsetof<Writer>("ptr")) + len;
  }

  /** Records that `n` more bytes were written. */
  @inline private advance(n: usize): void {
    const at = changetype<usize>(this) + offsetof<Writer>("len");
    store<usize>(at, load<usize>(at) + n);
  }

  private grow(n: usize): void {
    let cap = this.cap << 1;
    const need = this.len + n;
    if (need > <usize>0x3fffffff) unreachable(); // larger than any output the host accepts
    while (cap < need) cap <<= 1;
    const next = new ArrayBuffer(<i32>cap);
    memory.copy(changetype<usize>(next), this.ptr, this.len);
    this.buf = next;
    this.ptr = changetype<usize>(next);
    this.cap = cap;
  }

  nil(): Writer {
    store<u8>(this.reserve(1), 0xc0);
    this.advance(1);
    return this;
  }

  bool(value: bool): Writer {
    store<u8>(this.reserve(1), value ? 0xc3 : 0xc2);
    this.advance(1);
    return this;
  }

  int(value: i64): Writer {
    if (value >= 0) return this.uint(<u64>value);
    const p = this.reserve(9);
    if (value >= -32) {
      store<i8>(p, <i8>value);
      this.advance(1);
    } else if (value >= -128) {
      store<u8>(p, 0xd0);
      store<i8>(p + 1, <i8>value);
      this.advance(2);
    } else if (value >= -32768) {
      store<u8>(p, 0xd1);
      store<u16>(p + 1, bswap<u16>(<u16>value));
      this.advance(3);
    } else if (value >= -2147483648) {
      store<u8>(p, 0xd2);
      store<u32>(p + 1, bswap<u32>(<u32>value));
      this.advance(5);
    } else {
      store<u8>(p, 0xd3);
      store<u64>(p + 1, bswap<u64>(<u64>value));
      this.advance(9);
    }
    return this;
  }

  uint(value: u64): Writer {
    const p = this.reserve(9);
    if (value <= 0x7f) {
      store<u8>(p, <u8>value);
      this.advance(1);
    } else if (value <= 0xff) {
      store<u8>(p, 0xcc);
      store<u8>(p + 1, <u8>value);
      this.advance(2);
    } else if (value <= 0xffff) {
      store<u8>(p, 0xcd);
      store<u16>(p + 1, bswap<u16>(<u16>value));
      this.advance(3);
    } else if (value <= 0xffffffff) {
      store<u8>(p, 0xce);
      store<u32>(p + 1, bswap<u32>(<u32>value));
      this.advance(5);
    } else {
      store<u8>(p, 0xcf);
      store<u64>(p + 1, bswap<u64>(value));
      this.advance(9);
    }
    return this;
  }

  /** Always float64, so a reader gets back exactly this value. */
  float(value: f64): Writer {
    const p = this.reserve(9);
    store<u8>(p, 0xcb);
    store<u64>(p + 1, bswap<u64>(reinterpret<u64>(value)));
    this.advance(9);
    return this;
  }

  /** A string, encoded as UTF-8; lone surrogates become U+FFFD so the host always receives valid UTF-8. */
  str(value: string): Writer {
    const units = <usize>value.length;
    // One UTF-16 unit never takes more than 3 UTF-8 bytes; reserving the worst case saves a measuring pass.
    const worst = units * 3;
    const p = this.reserve(5 + worst);
    const hdr = Writer.strHeaderSize(worst);
    const src = changetype<usize>(value);
    // ASCII is copied here, four units per step; the first other unit hands the rest to the standard encoder.
    const srcEnd = src + (units << 1);
    const dst = p + hdr;
    let s = src;
    let d = dst;
    while (s + 8 <= srcEnd) {
      const w = load<u64>(s);
      if ((w & 0xff80ff80ff80ff80) != 0) break;
      store<u32>(d, <u32>((w & 0xff) | ((w >> 8) & 0xff00) | ((w >> 16) & 0xff0000) | ((w >> 24) & 0xff000000)));
      s += 8;
      d += 4;
    }
    while (s < srcEnd) {
      const c = load<u16>(s);
      if (c >= 0x80) break;
      store<u8>(d, <u8>c);
      s += 2;
      d++;
    }
    let n = d - dst;
    if (s < srcEnd) {
      n += String.UTF8.encodeUnsafe(s, <i32>((srcEnd - s) >> 1), d, false, String.UTF8.ErrorMode.REPLACE);
    }
    const actual = Writer.strHeaderSize(n);
    if (actual != hdr) memory.copy(p + actual, p + hdr, n);
    Writer.writeStrHeader(p, n, actual);
    this.advance(actual + n);
    return this;
  }

  /** A string whose UTF-8 bytes are already in memory (for example, a field of the input). */
  strBytes(ptr: usize, len: i32): Writer {
    const n = <usize>len;
    const hdr = Writer.strHeaderSize(n);
    const p = this.reserve(hdr + n);
    Writer.writeStrHeader(p, n, hdr);
    memory.copy(p + hdr, ptr, n);
    this.advance(hdr + n);
    return this;
  }

  @inline private static strHeaderSize(n: usize): usize {
    return n < 32 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
  }

  @inline private static writeStrHeader(p: usize, n: usize, hdr: usize): void {
    if (hdr == 1) {
      store<u8>(p, 0xa0 | <u8>n);
    } else if (hdr == 2) {
      store<u8>(p, 0xd9);
      store<u8>(p + 1, <u8>n);
    } else if (hdr == 3) {
      store<u8>(p, 0xda);
      store<u16>(p + 1, bswap<u16>(<u16>n));
    } else {
      store<u8>(p, 0xdb);
      store<u32>(p + 1, bswap<u32>(<u32>n));
    }
  }

  /** Binary bytes (MessagePack bin; a Uint8Array on the host). */
  bin(ptr: usize, len: i32): Writer {
    const n = <usize>len;
    const p = this.reserve(5 + n);
    let hdr: usize;
    if (n <= 0xff) {
      store<u8>(p, 0xc4);
      store<u8>(p + 1, <u8>n);
      hdr = 2;
    } else if (n <= 0xffff) {
      store<u8>(p, 0xc5);
      store<u16>(p + 1, bswap<u16>(<u16>n));
      hdr = 3;
    } else {
      store<u8>(p, 0xc6);
      store<u32>(p + 1, bswap<u32>(<u32>n));
      hdr = 5;
    }
    memory.copy(p + hdr, ptr, n);
    this.advance(hdr + n);
    return this;
  }

  /** An extension value: a type byte and its data. */
  ext(type: i8, ptr: usize, len: i32): Writer {
    const n = <usize>len;
    const p = this.reserve(6 + n);
    let hdr: usize;
    if (n == 1 || n == 2 || n == 4 || n == 8 || n == 16) {
      store<u8>(p, n == 1 ? 0xd4 : n == 2 ? 0xd5 : n == 4 ? 0xd6 : n == 8 ? 0xd7 : 0xd8);
      hdr = 2;
    } else if (n <= 0xff) {
      store<u8>(p, 0xc7);
      store<u8>(p + 1, <u8>n);
      hdr = 3;
    } else if (n <= 0xffff) {
      store<u8>(p, 0xc8);
      store<u16>(p + 1, bswap<u16>(<u16>n));
      hdr = 4;
    } else {
      store<u8>(p, 0xc9);
      store<u32>(p + 1, bswap<u32>(<u32>n));
      hdr = 6;
    }
    store<i8>(p + hdr - 1, type);
    memory.copy(p + hdr, ptr, n);
    this.advance(hdr + n);
    return this;
  }

  /** A map header: `entries` key/value pairs must follow. */
  map(entries: i32): Writer {
    return this.container(<u32>entries, 0x80, 0xde);
  }

  /** An array header: `items` values must follow. */
  array(items: i32): Writer {
    return this.container(<u32>items, 0x90, 0xdc);
  }

  private container(n: u32, fix: u8, code16: u8): Writer {
    const p = this.reserve(5);
    if (n < 16) {
      store<u8>(p, fix | <u8>n);
      this.advance(1);
    } else if (n <= 0xffff) {
      store<u8>(p, code16);
      store<u16>(p + 1, bswap<u16>(<u16>n));
      this.advance(3);
    } else {
      store<u8>(p, code16 + 1);
      store<u32>(p + 1, bswap<u32>(n));
      this.advance(5);
    }
    return this;
  }

  /** A map key; the same as `str`, named for readability. */
  @inline key(name: string): Writer {
    return this.str(name);
  }

  /** Bytes that already are one or more complete MessagePack values. */
  raw(ptr: usize, len: i32): Writer {
    const n = <usize>len;
    memory.copy(this.reserve(n), ptr, n);
    this.advance(n);
    return this;
  }
}
