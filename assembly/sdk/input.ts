// The message a handler is given: the input's MessagePack bytes, with readers over them that are reused across runs.
import { Reader } from "./msgpack/reader";
import { Fields } from "./fields";
import { Value } from "./value";

/**
 * The bytes stay valid until the handler returns; copy what you keep (strings read from them are copies).
 * `reader()` and `fields()` hand out the same objects on every call, so the hot path allocates nothing.
 */
export class Input {
  ptr: usize = 0;
  len: i32 = 0;
  private r: Reader = new Reader();
  private f: Fields = new Fields();

  reset(ptr: usize, len: i32): void {
    this.ptr = ptr;
    this.len = len;
  }

  /** A reader at the start of the input (the same Reader object each time). */
  reader(): Reader {
    return this.r.reset(this.ptr, this.len);
  }

  /** The input as a map, or null when it is not one (the same Fields object each time). */
  fields(): Fields | null {
    return this.f.open(this.reader()) ? this.f : null;
  }

  /** The whole input decoded as a dynamic Value, or null when it is malformed. */
  value(): Value | null {
    return Value.decode(this.reader());
  }

  /** True when there is no input or it is MessagePack nil. */
  get isNil(): bool {
    return this.len == 0 || (this.len == 1 && load<u8>(this.ptr) == 0xc0);
  }

  /** A copy of the raw bytes. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.len);
    memory.copy(out.dataStart, this.ptr, <usize>this.len);
    return out;
  }
}
