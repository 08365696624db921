// Entry of the embedded graph thread: one store per namespace, requests answered with MessagePack bytes.
import { parentPort } from 'node:worker_threads';
import { encode } from '../codec.ts';
import { dispatch } from '../graph/dispatch.ts';
import { GraphStore } from '../graph/ledger.ts';
import type { MethodContext } from '../graph/methods.ts';
import { GraphNamespaces } from '../graph/namespaces.ts';
import type { ResponseMessage } from '../graph/protocol.ts';
import type { FromGraphThread, ToGraphThread } from './graph-thread.ts';

const port = parentPort!;
// Parsing is allowed here because the host has already confined every path to the agent's granted directories.
const namespaces = new GraphNamespaces(new GraphStore());
const ctx: MethodContext = { deadline: 0, push: () => {}, state: {} };

const answer = (id: number, r: ResponseMessage): void => {
  const reply = encode('error' in r ? { error: r.error } : { result: r.result });
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
    answer(m.id, { id: m.id, error: { code: (error as { code?: string }).code ?? 'GRAPH_INTERNAL', message: (error as Error).message } });
    return;
  }
  ctx.deadline = Date.now() + m.timeoutMs;
  const reply = dispatch(methods, { id: m.id, method: m.method, params: m.params }, ctx, m.timeoutMs);
  if (reply instanceof Promise) void reply.then((r) => answer(m.id, r));
  else answer(m.id, reply);
});
