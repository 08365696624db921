// Host functions an application grants its agents: checked at load, called on the host thread with a per-run ctx.
import { decode, encode } from '../codec.ts';
import type { HostCallReply } from '../../host/host-call.ts';
import { grantError, type GrantContext } from './grants.ts';

/** What a host function learns about its caller. */
export interface HostCallContext {
  /** The agent's name (load option `name`, or the file name). */
  agent: string;
  /** The agent's hibernation key, when it has one. */
  key: string | undefined;
  /** Names the run that made the call (unique within the sandbox's life for that agent). */
  runId: string;
}

/**
 * A host function. For guest ABI v1 agents (`sandbox.call`) `input` is the decoded MessagePack payload and the
 * return value is encoded back; for Extism plugins (`extism:host/user`) `input` is the bytes and the return value
 * must be a Uint8Array, a string (sent as UTF-8) or nothing. It may be async; a throw or a rejection reaches the
 * guest as an error status, never as an exception in guest code.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type HostFunction = (input: any, ctx: HostCallContext) => unknown;
export type HostFunctions = Readonly<Record<string, HostFunction>>;

/** Host-function names: what a guest passes to `sandbox.call` (dots allowed, e.g. `orders.lookup`). */
const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;

export function resolveHostGrant(value: unknown, context: GrantContext): HostFunctions {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw grantError(context, 'host', 'must be an object of host functions by name');
  for (const [name, fn] of Object.entries(value)) {
    if (!NAME.test(name) || name.startsWith('sandbox.')) {
      throw grantError(
        context,
        'host',
        `names ${JSON.stringify(name)}, which is not a host-function name (letters, digits, _ . : -, at most 128, not starting with \`sandbox.\`)`,
      );
    }
    if (typeof fn !== 'function') throw grantError(context, `host.${name}`, `must be a function, got ${typeof fn}`);
  }
  return Object.freeze({ ...(value as HostFunctions) });
}

/** The answer of a host function as bytes for the guest, or why it cannot be one. */
function toReply(result: unknown, abi: 'sandbox' | 'extism'): HostCallReply {
  if (abi === 'sandbox') return { ok: encode(result ?? null) };
  if (result === undefined || result === null) return { ok: new Uint8Array() };
  if (typeof result === 'string') return { ok: new TextEncoder().encode(result) };
  if (result instanceof Uint8Array) return { ok: result };
  return { error: `returned ${typeof result}; a plugin's host function must return a Uint8Array, a string or nothing` };
}

/**
 * Inline isolation: the guest runs on this thread, so a host function must answer before it returns. A promise
 * cannot be waited for here; it is an error for the guest (and its rejection is absorbed, never unhandled).
 */
export function callHostFunctionSync(
  fn: HostFunction,
  payload: Uint8Array,
  ctx: HostCallContext,
  abi: 'sandbox' | 'extism',
): HostCallReply {
  try {
    const result = fn(abi === 'extism' ? payload : decode(payload), ctx);
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      (result as Promise<unknown>).then(undefined, () => {});
      return {
        error:
          "returned a promise; with isolation 'inline' host functions must answer synchronously (use isolation 'worker' for async ones)",
      };
    }
    return toReply(result, abi);
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** Calls `fn` with the payload as the agent's ABI has it, and turns whatever happens into a reply. */
export async function callHostFunction(
  fn: HostFunction,
  payload: Uint8Array,
  ctx: HostCallContext,
  abi: 'sandbox' | 'extism',
): Promise<HostCallReply> {
  try {
    return toReply(await fn(abi === 'extism' ? payload : decode(payload), ctx), abi);
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
