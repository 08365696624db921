// Typed, allocation-free lookups of the fields of a MessagePack map in memory: the usual shape of an agent's input.
import { Kind, Reader } from "./msgpack/reader";
import { Value } from "./value";
import { equalsUtf8 } from "./utf8";

/**
 * A view of one map. Each lookup scans the entries (maps here are small, so this beats building an index) and
 * leaves `value` positioned at the value found. Keys that are not strings are skipped.
 */
export class Fields {
  /** Positioned at the value of the last key found by `find` (and the other lookups). */
  readonly value: Reader = new Reader();
  private scan: Reader = new Reader();
  private entriesStart: usize = 0;
  private entries: i32 = 0;

  /**
   * Views the map at the reader's position, without moving the reader; false if the value there is not a map.
   * Lookups read at most the map's entries and never past the reader's end, so the map is not validated up front.
   */
  open(r: Reader): bool {
    const at = r.pos;
    const n = r.readMapHeader();
    if (n < 0) return false;
    this.entriesStart = r.pos;
    this.entries = n;
    this.scan.reset(r.pos, <i32>(r.end - r.pos));
    r.pos = at;
    return true;
  }

  /** The number of entries. */
  @inline get size(): i32 {
    return this.entries;
  }

  /** Positions `value` at the value of `key`; false when the key is absent. */
  find(key: string): bool {
    const r = this.scan;
    r.pos = this.entriesStart;
    r.failed = false;
    for (let i = 0, n = this.entries; i < n; i++) {
      if (r.readStrRef()) {
        if (equalsUtf8(r.refPtr, r.refLen, key)) {
          this.value.reset(r.pos, <i32>(r.end - r.pos));
          return true;
        }
      } else {
        r.failed = false;
        if (!r.skip()) return false;
      }
      if (!r.skip()) return false;
    }
    return false;
  }

  has(key: string): bool {
    return this.find(key);
  }

  /** The kind of the value of `key`, or Kind.Invalid when the key is absent. */
  kindOf(key: string): Kind {
    return this.find(key) ? this.value.peekKind() : Kind.Invalid;
  }

  /** The string value of `key` (a new string), or `fallback` when absent or not a string. */
  getString(key: string, fallback: string = ""): string {
    if (!this.find(key) || !this.value.readStrRef()) return fallback;
    return String.UTF8.decodeUnsafe(this.value.refPtr, <usize>this.value.refLen);
  }

  /** Points `value.refPtr`/`value.refLen` at the UTF-8 bytes of the string value of `key`, without copying. */
  getStrRef(key: string): bool {
    return this.find(key) && this.value.readStrRef();
  }

  /** True when `key` holds an integer (an integral float in i64's range counts: JavaScript numbers above 2^32 arrive as floats). */
  isInteger(key: string): bool {
    if (!this.find(key)) return false;
    const kind = this.value.peekKind();
    if (kind == Kind.Int) return true;
    if (kind != Kind.Float) return false;
    return isIntegral(this.value.readFloat());
  }

  /** The integer value of `key` (an integral float counts), or `fallback` when absent or not such a number. */
  getInt(key: string, fallback: i64 = 0): i64 {
    if (!this.find(key)) return fallback;
    const r = this.value;
    const kind = r.peekKind();
    if (kind == Kind.Int) return r.readInt();
    if (kind == Kind.Float) {
      const f = r.readFloat();
      if (isIntegral(f)) return <i64>f;
    }
    return fallback;
  }

  /** Any numeric value of `key` as f64, or `fallback` when absent or not a number. */
  getFloat(key: string, fallback: f64 = 0): f64 {
    if (!this.find(key)) return fallback;
    const kind = this.value.peekKind();
    if (kind == Kind.Int || kind == Kind.Uint || kind == Kind.Float) return this.value.readFloat();
    return fallback;
  }

  getBool(key: string, fallback: bool = false): bool {
    if (!this.find(key) || this.value.peekKind() != Kind.Bool) return fallback;
    return this.value.readBool();
  }

  /** The value of `key` decoded as a dynamic Value, or null when absent or malformed. */
  getValue(key: string): Value | null {
    if (!this.find(key)) return null;
    return Value.decode(this.value);
  }
}

// @ts-ignore: decorator
@inline
function isIntegral(f: f64): bool {
  return Math.trunc(f) == f && Math.abs(f) < 9.2e18;
}
