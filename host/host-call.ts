// The `sandbox.call` and `sandbox.call_result` imports: a guest calls a host function granted to it, by name.
//
// The payload and the answer are MessagePack. The call is synchronous for the guest; in a worker it crosses to the
// host thread on the same bridge as graph requests (the worker sleeps until the answer comes), so its time counts
// against the run's wall clock. Every outcome is a status code: an unknown or ungranted name is E_UNAVAILABLE, a
// host function that throws or rejects is E_HOST with its message readable through call_result.
import { checkMessagePack, decode, encode } from '../runtime/codec.ts';
import { HostStatus } from './abi.ts';
import type { GuestMemory } from './guest-memory.ts';
import { writePendingResponse } from './pending-response.ts';
import type { RunContext } from './run-context.ts';

/** What a host function gave back: its answer as bytes, or why it failed. */
export type HostCallReply = { ok: Uint8Array } | { error: string };

/**
 * A host-function call as it crosses from a worker to the host thread. Which agent and run made it is not part of
 * it: the host reads that from its own records (the worker's progress slot), never from the worker's word.
 */
export interface HostCallRequest {
  /** 'host': a host function by name; 'http': an HTTP request (payload: MessagePack {url, method, headers, body}). */
  t: 'host' | 'http';
  name: string;
  payload: Uint8Array;
}

/** Calls a granted host function synchronously; the name was checked against the grants first. */
export type HostCaller = (name: string, payload: Uint8Array) => HostCallReply;

/** Fuel a host call costs on top of one unit per byte each way: work the guest's own meter cannot see. */
export const HOST_CALL_FUEL = 10_000;

/** Names the host answers itself, for every guest: its grants, and one of its config strings (nil when absent). */
export const GRANTS_CALL = 'sandbox.grants';
export const CONFIG_CALL = 'sandbox.config';

export interface CallImportsOptions {
  /** The host functions this agent may call. */
  granted: ReadonlySet<string>;
  /** What `sandbox.grants` answers: the agent's abilities, as MessagePack. */
  grants: Uint8Array;
  /** Read-only strings granted to the agent (`sandbox.config`). */
  config?: Readonly<Record<string, string>> | undefined;
  call: HostCaller | undefined;
  charge: (fuel: number) => void;
}

/** `options` is read at every call: a pooled instance (hibernation) serves one agent's grants, then another's. */
export function callImports(memory: GuestMemory, ctx: () => RunContext, current: () => CallImportsOptions) {
  const answer = (c: RunContext, bytes: Uint8Array, status: number): number => {
    c.callResponse = bytes;
    return status === HostStatus.OK ? bytes.length : status;
  };
  return {
    call(namePtr: number, nameLen: number, payloadPtr: number, payloadLen: number): number {
      const c = ctx();
      const options = current();
      const name = memory.utf8(namePtr, nameLen);
      const payload = memory.view(payloadPtr, payloadLen);
      if (name === null || payload === null) {
        c.fail(
          'abi-violation',
          `call() was passed bytes outside guest memory (name ${namePtr >>> 0}+${nameLen >>> 0}, payload ${payloadPtr >>> 0}+${payloadLen >>> 0})`,
        );
        return HostStatus.E_BOUNDS;
      }
      if (name === undefined) {
        c.fail('abi-violation', 'call() name is not valid UTF-8');
        return HostStatus.E_INVALID;
      }
      c.callResponse = null;
      if (name === GRANTS_CALL) return answer(c, options.grants, HostStatus.OK);
      if (name === CONFIG_CALL) {
        let key: unknown;
        try {
          key = decode(payload);
        } catch {
          key = undefined;
        }
        if (typeof key !== 'string') {
          c.fail('abi-violation', 'call("sandbox.config") payload must be a MessagePack string (the key)');
          return HostStatus.E_INVALID;
        }
        const config = options.config;
        return answer(
          c,
          encode(config !== undefined && Object.hasOwn(config, key) ? config[key] : null),
          HostStatus.OK,
        );
      }
      if (!options.granted.has(name) || options.call === undefined) {
        return answer(
          c,
          encode(`no host function ${JSON.stringify(name)} was granted to this agent`),
          HostStatus.E_UNAVAILABLE,
        );
      }
      const problem = checkMessagePack(payload);
      if (problem !== null) {
        c.fail('abi-violation', `call(${JSON.stringify(name)}) payload is not MessagePack: ${problem}`);
        return HostStatus.E_INVALID;
      }
      if (c.hostCalls >= c.limits.maxHostCalls) {
        c.fail(
          'limit-exceeded',
          `call() made more than ${c.limits.maxHostCalls} host-function calls in one run (limits.maxHostCalls)`,
        );
        return HostStatus.E_LIMIT;
      }
      if (c.hostCallBytes + payload.length > c.limits.hostCallBytes) {
        c.fail(
          'limit-exceeded',
          `call(${JSON.stringify(name)}) payload of ${payload.length} bytes passes the run's ${c.limits.hostCallBytes} bytes of host calls (limits.hostCallBytes)`,
        );
        return HostStatus.E_LIMIT;
      }
      c.hostCalls++;
      c.hostCallBytes += payload.length;
      const reply = options.call(name, payload.slice());
      if ('error' in reply) {
        const message = `host function ${name} failed: ${reply.error}`;
        c.log('error', message);
        options.charge(HOST_CALL_FUEL);
        return answer(c, encode(message), HostStatus.E_HOST);
      }
      options.charge(HOST_CALL_FUEL + payload.length + reply.ok.length);
      if (c.hostCallBytes + reply.ok.length > c.limits.hostCallBytes) {
        c.fail(
          'limit-exceeded',
          `host function ${name} answered ${reply.ok.length} bytes, past the run's ${c.limits.hostCallBytes} bytes of host calls (limits.hostCallBytes)`,
        );
        return HostStatus.E_LIMIT;
      }
      c.hostCallBytes += reply.ok.length;
      return answer(c, reply.ok, HostStatus.OK);
    },

    call_result(ptr: number, len: number): number {
      const c = ctx();
      return writePendingResponse(memory, c, c.callResponse, ptr, len, 'call_result', 'a call() answer');
    },
  };
}
