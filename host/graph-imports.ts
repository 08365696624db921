// The `sandbox.graph` and `sandbox.graph_result` imports: a synchronous graph request from the guest's point of view.
import { decode } from '../runtime/codec.ts';
import { HostStatus } from './abi.ts';
import type { GuestMemory } from './guest-memory.ts';
import { writePendingResponse } from './pending-response.ts';
import type { RunContext } from './run-context.ts';

/** Sends one MessagePack request `{method, params}` and returns the MessagePack response, blocking the caller's thread. */
export type GraphBridge = (request: Uint8Array) => Uint8Array;

/** Fuel a graph call costs on top of one unit per response byte: host work the guest's own meter cannot see. */
export const GRAPH_CALL_FUEL = 10_000;
/**
 * Ceilings whatever a grant says (runtime/capabilities/graph.ts checks each agent's own caps on the host): a request
 * past it is not even copied out of guest memory.
 */
export const GRAPH_REQUEST_LIMIT = 16 * 1024 * 1024;
export const GRAPH_RESPONSE_LIMIT = 16 * 1024 * 1024;

export function graphImports(
  memory: GuestMemory,
  ctx: () => RunContext,
  bridge: GraphBridge | undefined,
  charge: (fuel: number) => void,
) {
  return {
    graph(ptr: number, len: number): number {
      const c = ctx();
      if (len >>> 0 > GRAPH_REQUEST_LIMIT) {
        c.fail('limit-exceeded', `graph() request of ${len >>> 0} bytes exceeds ${GRAPH_REQUEST_LIMIT}`);
        return HostStatus.E_LIMIT;
      }
      const request = memory.copy(ptr, len);
      if (request === null) {
        c.fail('abi-violation', `graph() was passed bytes outside guest memory (ptr=${ptr >>> 0}, len=${len >>> 0})`);
        return HostStatus.E_BOUNDS;
      }
      if (bridge === undefined) {
        c.graphResponse = null;
        return HostStatus.E_UNAVAILABLE;
      }
      let body: unknown;
      try {
        body = decode(request);
      } catch {
        body = undefined;
      }
      if (typeof body !== 'object' || body === null || typeof (body as { method?: unknown }).method !== 'string') {
        c.fail('abi-violation', 'graph() request is not a MessagePack map with a string `method`');
        return HostStatus.E_INVALID;
      }
      if (c.graphCalls >= c.limits.maxGraphCalls) {
        c.fail('limit-exceeded', `graph() called more than ${c.limits.maxGraphCalls} times in one run`);
        return HostStatus.E_LIMIT;
      }
      c.graphCalls++;
      const response = bridge(request);
      charge(GRAPH_CALL_FUEL + response.length);
      if (response.length > GRAPH_RESPONSE_LIMIT) {
        c.fail('limit-exceeded', `graph() response of ${response.length} bytes exceeds ${GRAPH_RESPONSE_LIMIT}`);
        return HostStatus.E_LIMIT;
      }
      c.graphResponse = response;
      return response.length;
    },

    graph_result(ptr: number, len: number): number {
      const c = ctx();
      return writePendingResponse(memory, c, c.graphResponse, ptr, len, 'graph_result', 'a successful graph() call');
    },
  };
}
