// A dynamic MessagePack value (nil, bool, int, float, string, bin, array, map, ext) for agents that handle free-form data.
import { Kind, Reader } from "./msgpack/reader";
import { Writer } from "./msgpack/writer";

export { Kind };

/** Nesting deeper than this is refused when decoding, so hostile input cannot exhaust the guest's stack. */
export const MAX_DEPTH: i32 = 256;

/**
 * One value of any kind. Maps keep their entries in order (keys are Values too, though almost always strings);
 * lookups by string key are linear, which is the right trade for the small maps agents exchange.
 */
export class Value {
  kind: Kind = Kind.Nil;
  /** Int, and Bool as 0/1. */
  i: i64 = 0;
  /** Uint (above i64's range). */
  u: u64 = 0;
  f: f64 = 0;
  /** Ext type byte. */
  extType: i8 = 0;
  s: string | null = null;
  /** Bin and Ext data. */
  bytes: Uint8Array | null = null;
  /** Array items, or map values. */
  items: Array<Value> | null = null;
  /** Map keys, parallel to `items`. */
  keys: Array<Value> | null = null;

  static nil(): Value {
    return new Value();
  }

  static bool(b: bool): Value {
    const v = new Value();
    v.kind = Kind.Bool;
    v.i = b ? 1 : 0;
    return v;
  }

  static int(i: i64): Value {
    const v = new Value();
    v.kind = Kind.Int;
    v.i = i;
    return v;
  }

  static uint(u: u64): Value {
    if (u <= <u64>i64.MAX_VALUE) return Value.int(<i64>u);
    const v = new Value();
    v.kind = Kind.Uint;
    v.u = u;
    return v;
  }

  static float(f: f64): Value {
    const v = new Value();
    v.kind = Kind.Float;
    v.f = f;
    return v;
  }

  static str(s: string): Value {
    const v = new Value();
    v.kind = Kind.Str;
    v.s = s;
    return v;
  }

  static bin(bytes: Uint8Array): Value {
    const v = new Value();
    v.kind = Kind.Bin;
    v.bytes = bytes;
    return v;
  }

  static ext(type: i8, bytes: Uint8Array): Value {
    const v = new Value();
    v.kind = Kind.Ext;
    v.extType = type;
    v.bytes = bytes;
    return v;
  }

  static array(items: Array<Value> = []): Value {
    const v = new Value();
    v.kind = Kind.Array;
    v.items = items;
    return v;
  }

  static map(): Value {
    const v = new Value();
    v.kind = Kind.Map;
    v.items = [];
    v.keys = [];
    return v;
  }

  @inline get isNil(): bool {
    return this.kind == Kind.Nil;
  }

  /** Items of an array, entries of a map, 0 otherwise. */
  get length(): i32 {
    const items = this.items;
    return items === null ? 0 : items.length;
  }

  /** Appends to an array (no effect on other kinds); returns this for chaining. */
  push(item: Value): Value {
    if (this.kind == Kind.Array) this.items!.push(item);
    return this;
  }

  /** Sets a string key of a map, replacing an existing entry; returns this for chaining. */
  set(key: string, value: Value): Value {
    if (this.kind != Kind.Map) return this;
    const index = this.indexOf(key);
    if (index >= 0) this.items![index] = value;
    else {
      this.keys!.push(Value.str(key));
      this.items!.push(value);
    }
    return this;
  }

  /** The value of a string key of a map, or null. */
  get(key: string): Value | null {
    const index = this.indexOf(key);
    return index < 0 ? null : this.items![index];
  }

  /** The item at an index of an array, or null. */
  at(index: i32): Value | null {
    if (this.kind != Kind.Array) return null;
    const items = this.items!;
    return index >= 0 && index < items.length ? items[index] : null;
  }

  private indexOf(key: string): i32 {
    if (this.kind != Kind.Map) return -1;
    const keys = this.keys!;
    for (let i = 0, n = keys.length; i < n; i++) {
      const k = keys[i];
      if (k.kind == Kind.Str && k.s! == key) return i;
    }
    return -1;
  }

  /** The string, or `fallback` for other kinds. */
  asString(fallback: string = ""): string {
    return this.kind == Kind.Str ? this.s! : fallback;
  }

  /** An integer (a float only when it is integral and in range), or `fallback`. */
  asInt(fallback: i64 = 0): i64 {
    if (this.kind == Kind.Int) return this.i;
    if (this.kind == Kind.Float && Math.trunc(this.f) == this.f && Math.abs(this.f) < 9.2e18) return <i64>this.f;
    return fallback;
  }

  /** Any number as f64, or `fallback`. */
  asFloat(fallback: f64 = 0): f64 {
    if (this.kind == Kind.Float) return this.f;
    if (this.kind == Kind.Int) return <f64>this.i;
    if (this.kind == Kind.Uint) return <f64>this.u;
    return fallback;
  }

  asBool(fallback: bool = false): bool {
    return this.kind == Kind.Bool ? this.i != 0 : fallback;
  }

  /** Decodes one value; returns null when the bytes are malformed or nested deeper than MAX_DEPTH. */
  static decode(reader: Reader): Value | null {
    const v = readValue(reader, 0);
    return reader.failed ? null : v;
  }

  /** Encodes this value to a writer. */
  encode(w: Writer): Writer {
    switch (this.kind) {
      case Kind.Nil: return w.nil();
      case Kind.Bool: return w.bool(this.i != 0);
      case Kind.Int: return w.int(this.i);
      case Kind.Uint: return w.uint(this.u);
      case Kind.Float: return w.float(this.f);
      case Kind.Str: return w.str(this.s!);
      case Kind.Bin: {
        const b = this.bytes!;
        return w.bin(b.dataStart, b.length);
      }
      case Kind.Ext: {
        const b = this.bytes!;
        return w.ext(this.extType, b.dataStart, b.length);
      }
      case Kind.Array: {
        const items = this.items!;
        w.array(items.length);
        for (let i = 0, n = items.length; i < n; i++) items[i].encode(w);
        return w;
      }
      case Kind.Map: {
        const keys = this.keys!;
        const items = this.items!;
        w.map(items.length);
        for (let i = 0, n = items.length; i < n; i++) {
          keys[i].encode(w);
          items[i].encode(w);
        }
        return w;
      }
    }
    return w.nil();
  }
}

function copyRef(r: Reader): Uint8Array {
  const out = new Uint8Array(r.refLen);
  memory.copy(out.dataStart, r.refPtr, <usize>r.refLen);
  return out;
}

function readValue(r: Reader, depth: i32): Value {
  switch (r.peekKind()) {
    case Kind.Nil: r.readNil(); return Value.nil();
    case Kind.Bool: return Value.bool(r.readBool());
    case Kind.Int: return Value.int(r.readInt());
    case Kind.Uint: return Value.uint(r.readUint());
    case Kind.Float: return Value.float(r.readFloat());
    case Kind.Str: return Value.str(r.readString());
    case Kind.Bin: {
      if (!r.readBinRef()) break;
      return Value.bin(copyRef(r));
    }
    case Kind.Ext: {
      if (!r.readExtRef()) break;
      return Value.ext(r.extType, copyRef(r));
    }
    case Kind.Array: {
      if (depth >= MAX_DEPTH) break;
      const n = r.readArrayHeader();
      if (n < 0) break;
      const v = Value.array(new Array<Value>(0));
      const items = v.items!;
      for (let i = 0; i < n && !r.failed; i++) items.push(readValue(r, depth + 1));
      return v;
    }
    case Kind.Map: {
      if (depth >= MAX_DEPTH) break;
      const n = r.readMapHeader();
      if (n < 0) break;
      const v = Value.map();
      const keys = v.keys!;
      const items = v.items!;
      for (let i = 0; i < n && !r.failed; i++) {
        keys.push(readValue(r, depth + 1));
        items.push(readValue(r, depth + 1));
      }
      return v;
    }
  }
  r.failed = true;
  return Value.nil();
}
