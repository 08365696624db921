// Runs one decoded request against the method table: validation, unknown methods, deadline, error mapping.
import { channel } from 'node:diagnostics_channel';
import { GraphError } from './errors.ts';
import { paramsOf, type Method, type MethodContext } from './methods.ts';
import { toWireError, type RequestId, type ResponseMessage } from './protocol.ts';

/** Published once per answered request: {method, ok, code?, durationMs}. Costs nothing without subscribers. */
export const graphRequestChannel = channel('sandbox:graph:request');

export interface GraphRequestEvent {
  method: string;
  ok: boolean;
  code?: string;
  durationMs: number;
}

export function isRequestId(id: unknown): id is RequestId {
  return (typeof id === 'number' && Number.isFinite(id)) || typeof id === 'string';
}

/**
 * Answers `message` (already MessagePack-decoded). Synchronous methods answer synchronously, so a burst of
 * cheap requests costs no promise per request; asynchronous ones race the per-request timeout.
 */
export function dispatch(
  methods: Record<string, Method>,
  message: unknown,
  ctx: MethodContext,
  timeoutMs: number,
): ResponseMessage | Promise<ResponseMessage> {
  if (!graphRequestChannel.hasSubscribers) return run(methods, message, ctx, timeoutMs);
  const t0 = performance.now();
  const method =
    typeof (message as { method?: unknown } | null)?.method === 'string' ? (message as { method: string }).method : '';
  const report = (r: ResponseMessage): ResponseMessage => {
    const event: GraphRequestEvent = { method, ok: !('error' in r), durationMs: performance.now() - t0 };
    if ('error' in r) event.code = r.error.code;
    graphRequestChannel.publish(event);
    return r;
  };
  const out = run(methods, message, ctx, timeoutMs);
  return out instanceof Promise ? out.then(report) : report(out);
}

function run(
  methods: Record<string, Method>,
  message: unknown,
  ctx: MethodContext,
  timeoutMs: number,
): ResponseMessage | Promise<ResponseMessage> {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    return { id: null, error: { code: 'GRAPH_BAD_FRAME', message: 'a request must be a map {id, method, params}' } };
  }
  const { id, method, params } = message as { id?: unknown; method?: unknown; params?: unknown };
  if (!isRequestId(id))
    return { id: null, error: { code: 'GRAPH_BAD_FRAME', message: 'a request needs an `id` (integer or string)' } };
  if (typeof method !== 'string')
    return { id, error: { code: 'GRAPH_BAD_FRAME', message: 'a request needs a `method` string' } };
  if (!Object.hasOwn(methods, method)) {
    return { id, error: { code: 'GRAPH_UNKNOWN_METHOD', message: `unknown method '${method}'`, data: { method } } };
  }
  let out: unknown;
  try {
    out = (methods[method] as Method)(paramsOf(params), ctx);
  } catch (err) {
    return { id, error: toWireError(err) };
  }
  if (!(out instanceof Promise)) return { id, result: out ?? null };
  return new Promise<ResponseMessage>((resolve) => {
    const timer = setTimeout(() => {
      resolve({
        id,
        error: toWireError(new GraphError('GRAPH_TIMEOUT', `'${method}' took longer than ${timeoutMs} ms`)),
      });
    }, timeoutMs);
    out.then(
      (result: unknown) => {
        clearTimeout(timer);
        resolve({ id, result: result ?? null });
      },
      (err: unknown) => {
        clearTimeout(timer);
        resolve({ id, error: toWireError(err) });
      },
    );
  });
}
