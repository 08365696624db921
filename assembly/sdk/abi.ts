// The guest side of ABI v1: the exported sandbox_abi_version/sandbox_alloc/sandbox_handle and the handler they dispatch to.
import { Input } from "./input";
import { log } from "./host";

/** A message handler: returns 0 for success or a positive, agent-defined error code (a negative one becomes 1). */
export type Handler = (input: Input) => i32;

/** What sandbox_handle returns when no handler was registered. */
export const E_NO_HANDLER: i32 = 100;

/** The largest input sandbox_alloc will try to allocate (the runtime's largest block). */
const MAX_INPUT: i32 = 0x3fff0000;

/** An input buffer at most this big is kept for the next run; a larger one is released after its run. */
const KEEP_INPUT: i32 = 64 * 1024;

let handler: Handler | null = null;
const input = new Input();

// The input buffer lives in a global so the garbage collector sees it as reachable while the handler allocates.
let inputBuf: ArrayBuffer | null = null;

/** Registers the function that handles every message; call it once, at the top level of the agent. */
export function handle(fn: Handler): void {
  handler = fn;
}

export function sandbox_abi_version(): i32 {
  return 1;
}

export function sandbox_alloc(len: i32): usize {
  if (len < 0 || len > MAX_INPUT) return 0;
  let buf = inputBuf;
  if (buf === null || buf.byteLength < len) {
    buf = new ArrayBuffer(len < 256 ? 256 : len);
    inputBuf = buf;
  }
  return changetype<usize>(buf);
}

export function sandbox_handle(ptr: usize, len: i32): i32 {
  const fn = handler;
  if (fn === null) {
    log.error("no handler registered: call handle(fn) at the top level of the agent");
    return E_NO_HANDLER;
  }
  input.reset(ptr, len);
  const code = fn(input);
  const buf = inputBuf;
  if (buf !== null && buf.byteLength > KEEP_INPUT) inputBuf = null;
  // The ABI wants 0 or a positive code; a negative one still means failure.
  return code < 0 ? 1 : code;
}
