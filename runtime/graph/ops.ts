// Mutations as data: the operations a transaction holds, how each applies to a Graph, and how to undo it.
import { GraphError } from './errors.ts';
import { checkAttributes, checkKey, type Attributes, type Graph, type GraphJSON } from './graph.ts';

export type GraphOp =
  | { op: 'addNode'; key: string; attributes?: Attributes }
  | { op: 'updateNode'; key: string; attributes?: Attributes; merge?: boolean }
  | { op: 'removeNode'; key: string }
  | { op: 'addEdge'; source: string; target: string; attributes?: Attributes }
  | { op: 'updateEdge'; source: string; target: string; attributes?: Attributes; merge?: boolean }
  | { op: 'removeEdge'; source: string; target: string }
  | { op: 'clear' }
  /** Adds all nodes and edges of a serialized graph. */
  | { op: 'load'; graph: GraphJSON };

export const OP_NAMES = [
  'addNode',
  'updateNode',
  'removeNode',
  'addEdge',
  'updateEdge',
  'removeEdge',
  'clear',
  'load',
] as const;

/** Checks the shape of an operation and returns a normalized copy (the form the ledger records). */
export function normalizeOp(raw: unknown): GraphOp {
  if (raw === null || typeof raw !== 'object')
    throw new GraphError('GRAPH_INVALID_ARGUMENT', 'an operation must be an object with an `op` field');
  const o = raw as Record<string, unknown>;
  const attrs = (): { attributes?: Attributes } => {
    const a = checkAttributes(o['attributes']);
    return a === undefined ? {} : { attributes: a };
  };
  switch (o['op']) {
    case 'addNode':
      return { op: 'addNode', key: checkKey(o['key']), ...attrs() };
    case 'updateNode':
      return { op: 'updateNode', key: checkKey(o['key']), ...attrs(), ...(o['merge'] === true ? { merge: true } : {}) };
    case 'removeNode':
      return { op: 'removeNode', key: checkKey(o['key']) };
    case 'addEdge':
      return {
        op: 'addEdge',
        source: checkKey(o['source'], 'source'),
        target: checkKey(o['target'], 'target'),
        ...attrs(),
      };
    case 'updateEdge':
      return {
        op: 'updateEdge',
        source: checkKey(o['source'], 'source'),
        target: checkKey(o['target'], 'target'),
        ...attrs(),
        ...(o['merge'] === true ? { merge: true } : {}),
      };
    case 'removeEdge':
      return { op: 'removeEdge', source: checkKey(o['source'], 'source'), target: checkKey(o['target'], 'target') };
    case 'clear':
      return { op: 'clear' };
    case 'load': {
      const g = o['graph'] as GraphJSON | undefined;
      if (g === null || typeof g !== 'object' || !Array.isArray(g.nodes) || !Array.isArray(g.edges)) {
        throw new GraphError('GRAPH_INVALID_ARGUMENT', '`load` needs `graph: {nodes, edges}`');
      }
      return { op: 'load', graph: g };
    }
    default:
      throw new GraphError(
        'GRAPH_INVALID_ARGUMENT',
        `unknown operation ${JSON.stringify(o['op'])}; expected one of ${OP_NAMES.join(', ')}`,
      );
  }
}

/** Applies one operation and returns a function that reverts it (valid only if later operations were reverted first). */
export function applyOp(g: Graph, op: GraphOp): () => void {
  switch (op.op) {
    case 'addNode':
      g.addNode(op.key, op.attributes);
      return () => void g.removeNode(op.key);
    case 'updateNode': {
      const prev = g.updateNode(op.key, op.attributes, op.merge === true);
      return () => void g.updateNode(op.key, prev);
    }
    case 'removeNode': {
      const { attributes, edges } = g.removeNode(op.key);
      return () => {
        g.addNode(op.key, attributes);
        // Re-adding in reverse pops the freed edge slots back in their old places.
        for (let i = edges.length - 1; i >= 0; i--) {
          const e = edges[i]!;
          g.addEdge(e.source, e.target, e.attributes);
        }
      };
    }
    case 'addEdge':
      g.addEdge(op.source, op.target, op.attributes);
      return () => void g.removeEdge(op.source, op.target);
    case 'updateEdge': {
      const prev = g.updateEdge(op.source, op.target, op.attributes, op.merge === true);
      return () => void g.updateEdge(op.source, op.target, prev);
    }
    case 'removeEdge': {
      const attrs = g.removeEdge(op.source, op.target);
      return () => g.addEdge(op.source, op.target, attrs);
    }
    case 'clear': {
      const before = g.toJSON();
      g.clear();
      return () => {
        g.clear();
        g.load(before);
      };
    }
    case 'load': {
      const before = g.toJSON();
      try {
        g.load(op.graph);
      } catch (err) {
        g.clear();
        g.load(before);
        throw err;
      }
      return () => {
        g.clear();
        g.load(before);
      };
    }
  }
}
