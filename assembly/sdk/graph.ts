// Calls to the graph service (docs/graph-protocol.md) through the `sandbox.graph` import: one synchronous request, its decoded result.
import { sandbox_graph, sandbox_graph_result } from "./imports";
import { Kind, Reader } from "./msgpack/reader";
import { Writer } from "./msgpack/writer";
import { Value } from "./value";

/** graphStatus(): the last call succeeded. */
export const GRAPH_OK: i32 = 0;
/** graphStatus(): the service answered with an error; see graphErrorCode/graphErrorMessage/graphErrorData. */
export const GRAPH_SERVICE_ERROR: i32 = 1;
/** graphStatus(): the host's response was not MessagePack, or neither `{result}` nor `{error}`. */
export const GRAPH_BAD_RESPONSE: i32 = 2;
// Negative statuses are the import's own: E_BOUNDS, E_LIMIT, E_INVALID, E_UNAVAILABLE (imports.ts).

/** A response buffer at most this big is kept for the next call; a larger one is released after decoding. */
const KEEP_RESPONSE: i32 = 64 * 1024;

let status: i32 = GRAPH_OK;
let lastError: Value | null = null;
const request = new Writer(256);
const paramsScratch = new Writer(64);
const reader = new Reader();
// In a global, so the garbage collector sees the buffer as reachable while the response is decoded.
let responseBuf: ArrayBuffer | null = null;

/** Writes `params` (a Writer holding one value, a Value, MessagePack bytes, or null for none) after the `params` key. */
// @ts-ignore: decorator
@inline
function writeParams<T>(w: Writer, params: T): void {
  if (!isReference<T>()) ERROR("graphCall params: expected a Writer, a Value, a Uint8Array of MessagePack bytes or null");
  if (isNullable<T>() && changetype<usize>(params) == 0) {
    w.nil();
    return;
  }
  const p = changetype<nonnull<T>>(params);
  if (p instanceof Writer) {
    w.raw(p.dataStart, p.length);
  } else if (p instanceof Value) {
    // Encoded apart and copied, since Value.encode appends to whatever writer it is given.
    p.encode(paramsScratch.reset());
    w.raw(paramsScratch.dataStart, paramsScratch.length);
  } else if (p instanceof Uint8Array) {
    w.raw(p.dataStart, p.length);
  } else {
    ERROR("graphCall params: expected a Writer, a Value, a Uint8Array of MessagePack bytes or null");
  }
}

/**
 * Calls `method` of the graph service with `params` (a map, as a Writer, Value or MessagePack bytes; null for
 * none) and returns its `result` decoded (nil is a Value of kind Nil). On failure returns null, and
 * graphStatus() says why: a negative import status (E_UNAVAILABLE: no graph service for this sandbox),
 * GRAPH_SERVICE_ERROR (the service refused: graphErrorCode() etc.) or GRAPH_BAD_RESPONSE.
 */
export function graphCall<T>(method: string, params: T): Value | null {
  lastError = null;
  const w = request.reset().map(2);
  w.key("method").str(method);
  w.key("params");
  writeParams<T>(w, params);

  const n = sandbox_graph(w.dataStart, w.length);
  if (n < 0) {
    status = n;
    return null;
  }
  let buf = responseBuf;
  if (buf === null || buf.byteLength < n) {
    buf = new ArrayBuffer(n < 256 ? 256 : n);
    responseBuf = buf;
  }
  const copied = sandbox_graph_result(changetype<usize>(buf), buf.byteLength);
  if (copied < 0) {
    status = copied;
    return null;
  }
  const response = Value.decode(reader.reset(changetype<usize>(buf), copied));
  if (buf.byteLength > KEEP_RESPONSE) responseBuf = null;
  return unwrap(response);
}

/** Like graphCall, for methods without params (`topologicalSort`, `nodes`, `clear`, ...). */
export function graphCall0(method: string): Value | null {
  return graphCall<Value | null>(method, null);
}

function unwrap(response: Value | null): Value | null {
  if (response === null || response.kind != Kind.Map) {
    status = GRAPH_BAD_RESPONSE;
    return null;
  }
  const error = response.get("error");
  if (error !== null && !error.isNil) {
    status = GRAPH_SERVICE_ERROR;
    lastError = error;
    return null;
  }
  const result = response.get("result");
  if (result === null) {
    status = GRAPH_BAD_RESPONSE;
    return null;
  }
  status = GRAPH_OK;
  return result;
}

/** Why the last graphCall returned null (GRAPH_OK after a success). */
export function graphStatus(): i32 {
  return status;
}

/** The service's error code after GRAPH_SERVICE_ERROR (e.g. "GRAPH_CYCLE"), "" otherwise. */
export function graphErrorCode(): string {
  const e = lastError;
  if (e === null) return "";
  const code = e.get("code");
  return code === null ? "" : code.asString();
}

/** The service's error message after GRAPH_SERVICE_ERROR, "" otherwise. */
export function graphErrorMessage(): string {
  const e = lastError;
  if (e === null) return "";
  const message = e.get("message");
  return message === null ? "" : message.asString();
}

/** The error's `data` map after GRAPH_SERVICE_ERROR (e.g. `{cycle}` for GRAPH_CYCLE), or null. */
export function graphErrorData(): Value | null {
  const e = lastError;
  if (e === null) return null;
  const data = e.get("data");
  return data !== null && data.kind == Kind.Map ? data : null;
}

/** A short description of the last failure, for a log line: the status or the service's code and message. */
export function graphFailure(): string {
  switch (status) {
    case GRAPH_OK:
      return "ok";
    case GRAPH_SERVICE_ERROR:
      return graphErrorCode() + ": " + graphErrorMessage();
    case GRAPH_BAD_RESPONSE:
      return "the graph response is not MessagePack {result} or {error}";
    case -1:
      return "E_BOUNDS: a buffer lies outside guest memory";
    case -2:
      return "E_LIMIT: too many graph calls this run, or the response is too large";
    case -3:
      return "E_INVALID: the request is not a MessagePack map with a method";
    case -4:
      return "E_UNAVAILABLE: no graph service is configured for this sandbox";
  }
  return "status " + status.toString();
}
