// Typed errors of the graph engine and service; `code` is stable and travels unchanged over the wire protocol.

export type GraphErrorCode =
  | 'GRAPH_INVALID_ARGUMENT' // a parameter has the wrong type or value
  | 'GRAPH_NODE_NOT_FOUND'
  | 'GRAPH_NODE_EXISTS'
  | 'GRAPH_EDGE_NOT_FOUND'
  | 'GRAPH_EDGE_EXISTS'
  | 'GRAPH_CYCLE' // topological sort on a graph with a cycle; `data.cycle` holds one
  | 'GRAPH_LEDGER_CORRUPT' // the ledger file has a damaged record before its last line
  | 'GRAPH_UNKNOWN_METHOD'
  | 'GRAPH_BAD_FRAME' // a frame body that is not a MessagePack request object
  | 'GRAPH_FRAME_TOO_LARGE'
  | 'GRAPH_UNAUTHORIZED' // TCP connection without (or with a wrong) token
  | 'GRAPH_TIMEOUT' // the service gave up on a request after its per-request timeout
  | 'GRAPH_UNAVAILABLE' // agents' host cannot use the configured service (e.g. one without namespaces)
  | 'GRAPH_NOT_GRANTED' // an agent's grant does not allow the call (no grant, method, or a path outside its dirs)
  | 'GRAPH_REQUEST_TOO_LARGE' // an agent's request is over its grant's maxRequestBytes
  | 'GRAPH_RESPONSE_TOO_LARGE' // the answer is over the agent's grant's maxResponseBytes
  | 'GRAPH_NAMESPACE_LIMIT' // the service holds as many namespaces as it may
  | 'GRAPH_NAMESPACE_FULL' // a namespace holds as many nodes and edges as it may
  | 'GRAPH_BUSY' // too many connections, or too many requests in flight on one
  | 'GRAPH_INTERNAL'; // an unexpected failure inside the service

export class GraphError extends Error {
  readonly code: GraphErrorCode;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: GraphErrorCode, message: string, data?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GraphError';
    this.code = code;
    this.data = data;
  }
}

export function isGraphError(value: unknown, code?: GraphErrorCode): value is GraphError {
  return value instanceof GraphError && (code === undefined || value.code === code);
}
