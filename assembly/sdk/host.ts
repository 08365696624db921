// Typed wrappers over the host imports: output, emit, log, now and random, with strings encoded to UTF-8 in a reused buffer.
import { sandbox_emit, sandbox_log, sandbox_now, sandbox_output, sandbox_random } from "./imports";
import { Writer } from "./msgpack/writer";
import { Value } from "./value";

let utf8Buf: ArrayBuffer | null = null;
let valueWriter: Writer | null = null;

/** Encodes `s` as UTF-8 into a buffer kept between calls; returns the byte count (the bytes are at utf8Ptr()). */
function encodeUtf8(s: string): i32 {
  const worst = s.length * 3;
  let buf = utf8Buf;
  if (buf === null || buf.byteLength < worst) {
    buf = new ArrayBuffer(worst < 256 ? 256 : worst);
    utf8Buf = buf;
  }
  return <i32>String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, changetype<usize>(buf), false, String.UTF8.ErrorMode.REPLACE);
}

// @ts-ignore: decorator
@inline
function utf8Ptr(): usize {
  return changetype<usize>(utf8Buf);
}

// Where the MessagePack bytes prepared by `prepare` are; globals, so no closure or allocation is needed.
let bytesPtr: usize = 0;
let bytesLen: i32 = 0;
const NIL: usize = memory.data<u8>([0xc0]);

/** Finds (or, for a Value, encodes) the MessagePack bytes of a Writer, a Value or a Uint8Array. */
// @ts-ignore: decorator
@inline
function prepare<T>(value: T): void {
  if (!isReference<T>()) ERROR("expected a Writer, a Value or a Uint8Array of MessagePack bytes");
  // A null reference stands for MessagePack nil.
  if (isNullable<T>() && changetype<usize>(value) == 0) {
    bytesPtr = NIL;
    bytesLen = 1;
    return;
  }
  // Static types decide which branch is compiled, so a nullable T works as well as a plain one.
  const v = changetype<nonnull<T>>(value);
  if (v instanceof Writer) {
    bytesPtr = v.dataStart;
    bytesLen = v.length;
  } else if (v instanceof Value) {
    let w = valueWriter;
    if (w === null) {
      w = new Writer();
      valueWriter = w;
    }
    v.encode(w.reset());
    bytesPtr = w.dataStart;
    bytesLen = w.length;
  } else if (v instanceof Uint8Array) {
    bytesPtr = v.dataStart;
    bytesLen = v.length;
  } else {
    ERROR("expected a Writer, a Value or a Uint8Array of MessagePack bytes");
  }
}

/** Sets the run's output (a Writer, a Value, or MessagePack bytes); returns the import's status code. */
export function output<T>(value: T): i32 {
  prepare<T>(value);
  return sandbox_output(bytesPtr, bytesLen);
}

/** Sets the run's output to MessagePack bytes already in memory. */
export function outputRaw(ptr: usize, len: i32): i32 {
  return sandbox_output(ptr, len);
}

/** Emits an event on `topic` (dot-separated tokens of [A-Za-z0-9_-]) with a Writer, Value or MessagePack payload. */
export function emit<T>(topic: string, payload: T): i32 {
  prepare<T>(payload);
  const topicLen = encodeUtf8(topic);
  return sandbox_emit(utf8Ptr(), topicLen, bytesPtr, bytesLen);
}

export namespace log {
  export const DEBUG: i32 = 0;
  export const INFO: i32 = 1;
  export const WARN: i32 = 2;
  export const ERROR: i32 = 3;

  /** Writes a log line; past the host's log limit lines are dropped (and counted by the host). */
  export function write(level: i32, message: string): i32 {
    const n = encodeUtf8(message);
    return sandbox_log(level, utf8Ptr(), n);
  }

  export function debug(message: string): i32 {
    return write(DEBUG, message);
  }

  export function info(message: string): i32 {
    return write(INFO, message);
  }

  export function warn(message: string): i32 {
    return write(WARN, message);
  }

  /** Logged just before a handler returns non-zero, this line becomes the run's `message`. */
  export function error(message: string): i32 {
    return write(ERROR, message);
  }
}

/** Wall-clock milliseconds since the Unix epoch, from the host. */
export function now(): i64 {
  return sandbox_now();
}

/** Fills `len` bytes at `ptr` with cryptographically secure random bytes. */
export function randomFill(ptr: usize, len: i32): i32 {
  return sandbox_random(ptr, len);
}

/** `n` cryptographically secure random bytes. */
export function randomBytes(n: i32): Uint8Array {
  const out = new Uint8Array(n);
  sandbox_random(out.dataStart, n);
  return out;
}

/** A cryptographically secure random 64-bit integer. */
export function randomU64(): u64 {
  const p = memory.data(8, 8);
  sandbox_random(p, 8);
  return load<u64>(p);
}
