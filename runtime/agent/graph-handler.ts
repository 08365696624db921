// Answers agents' graph requests on the host thread: MessagePack `{method, params}` in, `{result}` or `{error}` out.
import { decode, encode } from '../codec.ts';
import { GraphClient } from '../graph/client.ts';

/** 'embedded' runs the graph engine in this process; a URL (unix:///path, tcp://host:port) names a service. */
export type GraphSource = GraphClient | 'embedded' | string;

export interface GraphHandler {
  handle(request: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function createGraphHandler(source: GraphSource): GraphHandler {
  const owned = !(source instanceof GraphClient);
  let client: Promise<GraphClient> | null = null;
  const connect = (): Promise<GraphClient> => {
    if (client === null) {
      client =
        source instanceof GraphClient ? Promise.resolve(source) : source === 'embedded' ? Promise.resolve(GraphClient.embedded()) : GraphClient.connect(source);
      // A failed connection is retried on the next request rather than remembered forever.
      client.catch(() => (client = null));
    }
    return client;
  };
  return {
    async handle(request) {
      try {
        const { method, params } = decode(request) as { method: string; params?: Record<string, unknown> };
        const result = await (await connect()).request(method, params ?? {});
        return encode({ result });
      } catch (error) {
        const e = error as { code?: unknown; message?: unknown; data?: unknown };
        const wire: Record<string, unknown> = { code: typeof e.code === 'string' ? e.code : 'GRAPH_ERROR', message: String(e.message ?? error) };
        if (e.data !== undefined) wire.data = e.data;
        return encode({ error: wire });
      }
    },
    async close() {
      if (owned && client !== null) await (await client.catch(() => null))?.close();
    },
  };
}
