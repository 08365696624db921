// The second step of a two-step host import (graph → graph_result, call → call_result): the guest, told an answer's length, copies it into its memory.
import { HostStatus } from './abi.ts';
import type { GuestMemory } from './guest-memory.ts';
import type { RunContext } from './run-context.ts';

/**
 * Writes `response` at `ptr` when `len` holds it and returns its length. Without a pending answer (`missing` says
 * which call should have come first) or with bytes outside guest memory, the run fails as an ABI violation.
 */
export function writePendingResponse(
  memory: GuestMemory,
  c: RunContext,
  response: Uint8Array | null,
  ptr: number,
  len: number,
  fn: string,
  missing: string,
): number {
  if (response === null) {
    c.fail('abi-violation', `${fn}() called without ${missing} before it`);
    return HostStatus.E_INVALID;
  }
  if (len >>> 0 < response.length) return HostStatus.E_LIMIT;
  const view = memory.view(ptr, response.length);
  if (view === null) {
    c.fail('abi-violation', `${fn}() was passed bytes outside guest memory (ptr=${ptr >>> 0}, len=${len >>> 0})`);
    return HostStatus.E_BOUNDS;
  }
  view.set(response);
  return response.length;
}
