// Entry of the embedded graph thread: one store per namespace, requests answered with MessagePack bytes.
import { parentPort } from 'node:worker_threads';
import { encode } from '../codec.ts';
import { dispatch } from '../graph/dispatch.ts';
import { GraphStore } from '../graph/ledger.ts';
import type { MethodContext } from '../graph/methods.ts';
import { GraphNamespaces } from '../graph/namespaces.ts';
import type { ResponseMessage } from '../graph/protocol.ts';
import { responseTooLarge } from './graph.ts';
import { AGENT_NAMESPACE_ELEMENTS, type FromGraphThread, type ToGraphThread } from './graph-thread.ts';

const port = parentPort!;
// Parsing is allowed here because the host has already confined every path to the agent's granted directories.
// Each agent namespace is capped, so one agent growing its graph run after run cannot fill the thread's heap
// (and lose every other agent's data with it) on its own.
const namespaces = new GraphNamespaces(new GraphStore(), { maxElements: AGENT_NAMESPACE_ELEMENTS });
const ctx: MethodContext = { deadline: 0, push: () => {}, state: {} };

const answer = (id: number, r: ResponseMessage, maxResponseBytes = Infinity): void => {
  let reply: Uint8Array;
  try {
    reply = encode('error' in r ? { error: r.error } : { result: r.result });
  } catch (error) {
    // Data stored too deeply nested to encode fails this answer, not the thread (and every namespace in it).
    reply = encode({
      error: { code: 'GRAPH_INTERNAL', message: `the answer cannot be encoded: ${(error as Error).message}` },
    });
  }
  // Refused here, so an oversized answer (an export of a big namespace) is never copied to the host thread.
  if (reply.length > maxResponseBytes) reply = responseTooLarge(reply.length, maxResponseBytes);
  port.postMessage({ id, reply } satisfies FromGraphThread);
};

port.on('message', (m: ToGraphThread) => {
  if ('drop' in m) {
    namespaces.drop(m.drop);
    answer(m.id, { id: m.id, result: true });
    return;
  }
  let methods;
  try {
    methods = namespaces.get(m.ns).methods;
  } catch (error) {
    answer(m.id, {
      id: m.id,
      error: { code: (error as { code?: string }).code ?? 'GRAPH_INTERNAL', message: (error as Error).message },
    });
    return;
  }
  const timeoutMs = m.deadline - Date.now();
  if (timeoutMs < 1) {
    answer(m.id, {
      id: m.id,
      error: { code: 'GRAPH_TIMEOUT', message: `'${m.method}' waited past its deadline behind other calls` },
    });
    return;
  }
  ctx.deadline = m.deadline;
  let reply;
  try {
    reply = dispatch(methods, { id: m.id, method: m.method, params: m.params }, ctx, timeoutMs);
  } catch (error) {
    reply = { id: m.id, error: { code: 'GRAPH_INTERNAL', message: (error as Error).message } };
  }
  if (reply instanceof Promise)
    void reply.then((r) => {
      answer(m.id, r, m.maxResponseBytes);
    });
  else answer(m.id, reply, m.maxResponseBytes);
});
