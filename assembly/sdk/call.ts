// Host functions the application granted this agent (docs/abi.md, `sandbox.call`): one synchronous call, its decoded answer.
import { E_HOST, E_UNAVAILABLE, sandbox_call, sandbox_call_result } from "./imports";
import { Reader } from "./msgpack/reader";
import { Writer } from "./msgpack/writer";
import { Value } from "./value";

let status: i32 = 0;
let lastError: string = "";
const payload = new Writer(256);
const reader = new Reader();
// In a global, so the garbage collector sees the buffer as reachable while the answer is decoded.
let answerBuf: ArrayBuffer | null = null;

/** Reads the last call's answer bytes (or error text) into a buffer and decodes it; null when the copy failed. */
function lastAnswer(length: i32): Value | null {
  let buf = answerBuf;
  if (buf === null || buf.byteLength < length) {
    buf = new ArrayBuffer(length < 256 ? 256 : length);
    answerBuf = buf;
  }
  const copied = sandbox_call_result(changetype<usize>(buf), buf.byteLength);
  if (copied < 0) {
    status = copied;
    return null;
  }
  return Value.decode(reader.reset(changetype<usize>(buf), copied));
}

/**
 * Calls the host function `name` with `arg` (a Value; null sends nil) and returns its answer decoded. On failure
 * returns null and hostCallStatus() says why: E_UNAVAILABLE (not granted, or no such function), E_HOST (it threw
 * or rejected: hostCallError() has its message), E_LIMIT (calls or bytes per run), E_INVALID, E_BOUNDS.
 */
export function hostCall(name: string, arg: Value | null): Value | null {
  lastError = "";
  const w = payload.reset();
  if (arg === null) w.nil();
  else arg.encode(w);
  const nameBytes = String.UTF8.encode(name);
  const n = sandbox_call(changetype<usize>(nameBytes), nameBytes.byteLength, w.dataStart, w.length);
  if (n == E_HOST || n == E_UNAVAILABLE) {
    status = n;
    const text = lastAnswer(256 * 1024);
    lastError = text === null ? "" : text.asString();
    return null;
  }
  if (n < 0) {
    status = n;
    return null;
  }
  const answer = lastAnswer(n);
  if (answer === null) return null;
  status = 0;
  return answer;
}

/** What this agent was granted: `{host: [names], config: [keys], http: [hosts]}` (names only). */
export function grants(): Value | null {
  return hostCall("sandbox.grants", null);
}

/** Why the last hostCall returned null (0 after a success). */
export function hostCallStatus(): i32 {
  return status;
}

/** The host's words after E_HOST or E_UNAVAILABLE, "" otherwise. */
export function hostCallError(): string {
  return lastError;
}
