// The service's method table: decoded params in, a MessagePack-able result out. Server and embedded client share it.
import { GraphError } from './errors.ts';
import { checkKey, type Attributes, type Direction, type GraphJSON } from './graph.ts';
import type { GraphStore, Transaction } from './ledger.ts';
import { shortestPath, shortestPathLengths } from './shortest-path.ts';
import { findCycle, topologicalSort } from './toposort.ts';
import { subgraphMatch } from './vf2.ts';

/** What a method can do beyond its params: its deadline, and pushing events to its caller. */
export interface MethodContext {
  /** Date.now() value past which long work stops (VF2 truncates, parsing fails with GRAPH_TIMEOUT). */
  deadline: number;
  /** Sends an event to this caller (for `subscribe`). */
  push(event: string, data: unknown): void;
  /** Per-connection state slot for subscriptions. */
  state: { unsubscribe?: () => void };
}

export type Params = Record<string, unknown>;
export type Method = (params: Params, ctx: MethodContext) => unknown;

function str(p: Params, name: string): string {
  return checkKey(p[name], `\`${name}\``);
}
function optNum(p: Params, name: string): number | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v))
    throw new GraphError('GRAPH_INVALID_ARGUMENT', `\`${name}\` must be a number`);
  return v;
}
function optStr(p: Params, name: string): string | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new GraphError('GRAPH_INVALID_ARGUMENT', `\`${name}\` must be a string`);
  return v;
}
function attrs(p: Params): Attributes | undefined {
  return (p['attributes'] ?? undefined) as Attributes | undefined;
}
const committed = (tx: Transaction) => ({ seq: tx.seq });

export interface MethodOptions {
  /** Allow parseFile/parseRepository (they read the service's file system). Default true. */
  allowParsing?: boolean;
  /** Upper bound of subgraphMatch's `maxSteps`, whatever a request asks for. Default 10,000,000. */
  maxSteps?: number;
  /** Upper bound of subgraphMatch's `limit` (matches held in memory at once), whatever a request asks for. Default 100,000. */
  maxMatches?: number;
}

/** The cap a request's `limit` cannot raise: each match is an object the service holds until it answers. */
export const DEFAULT_MAX_MATCHES = 100_000;

/** VF2's own default budget, and the cap a request's `maxSteps` cannot raise. */
export const DEFAULT_MAX_STEPS = 10_000_000;

export function createMethods(store: GraphStore, options: MethodOptions = {}): Record<string, Method> {
  const g = store.graph;
  const stepCap = options.maxSteps ?? DEFAULT_MAX_STEPS;
  const matchCap = options.maxMatches ?? DEFAULT_MAX_MATCHES;
  const methods: Record<string, Method> = {
    ping: () => ({ pong: true, lastSeq: store.lastSeq }),
    stats: () => ({ nodes: g.order, edges: g.size, lastSeq: store.lastSeq }),

    apply: (p) => {
      if (!Array.isArray(p['ops']))
        throw new GraphError('GRAPH_INVALID_ARGUMENT', '`ops` must be an array of operations');
      return committed(store.apply(p['ops']));
    },
    addNode: (p) => committed(store.apply([{ op: 'addNode', key: str(p, 'key'), attributes: attrs(p) }])),
    updateNode: (p) =>
      committed(
        store.apply([{ op: 'updateNode', key: str(p, 'key'), attributes: attrs(p), merge: p['merge'] === true }]),
      ),
    removeNode: (p) => committed(store.apply([{ op: 'removeNode', key: str(p, 'key') }])),
    addEdge: (p) =>
      committed(
        store.apply([{ op: 'addEdge', source: str(p, 'source'), target: str(p, 'target'), attributes: attrs(p) }]),
      ),
    updateEdge: (p) =>
      committed(
        store.apply([
          {
            op: 'updateEdge',
            source: str(p, 'source'),
            target: str(p, 'target'),
            attributes: attrs(p),
            merge: p['merge'] === true,
          },
        ]),
      ),
    removeEdge: (p) =>
      committed(store.apply([{ op: 'removeEdge', source: str(p, 'source'), target: str(p, 'target') }])),
    clear: () => committed(store.apply([{ op: 'clear' }])),

    hasNode: (p) => g.hasNode(str(p, 'key')),
    getNode: (p) => {
      const key = str(p, 'key');
      return g.hasNode(key) ? { key, attributes: g.getNodeAttributes(key) ?? {} } : null;
    },
    hasEdge: (p) => g.hasEdge(str(p, 'source'), str(p, 'target')),
    getEdge: (p) => {
      const source = str(p, 'source');
      const target = str(p, 'target');
      return g.hasEdge(source, target)
        ? { source, target, attributes: g.getEdgeAttributes(source, target) ?? {} }
        : null;
    },
    nodes: () => g.nodeKeysList(),
    neighbors: (p) => {
      const d = (p['direction'] ?? 'both') as Direction;
      if (d !== 'out' && d !== 'in' && d !== 'both')
        throw new GraphError('GRAPH_INVALID_ARGUMENT', "`direction` must be 'out', 'in' or 'both'");
      return g.neighbors(str(p, 'key'), d);
    },
    degree: (p) => {
      const key = str(p, 'key');
      return { in: g.inDegree(key), out: g.outDegree(key) };
    },

    topologicalSort: () => ({ order: topologicalSort(g) }),
    findCycle: () => ({ cycle: findCycle(g) }),
    shortestPath: (p) => {
      const weight = optStr(p, 'weight');
      return shortestPath(g, str(p, 'source'), str(p, 'target'), weight === undefined ? {} : { weight });
    },
    shortestPathLengths: (p) => {
      const weight = optStr(p, 'weight');
      return { distances: shortestPathLengths(g, str(p, 'source'), weight === undefined ? {} : { weight }) };
    },
    subgraphMatch: (p, ctx) => {
      const askedLimit = optNum(p, 'limit');
      const limit = askedLimit === undefined ? undefined : Math.min(askedLimit, matchCap);
      const asked = optNum(p, 'maxSteps');
      // The caller picks a smaller budget, never a larger one: a request must not buy unbounded work.
      const maxSteps = asked === undefined ? stepCap : Math.min(asked, stepCap);
      return subgraphMatch(g, p['pattern'] as GraphJSON, {
        induced: p['induced'] === true,
        deadline: ctx.deadline,
        maxSteps,
        ...(limit === undefined ? {} : { limit }),
      });
    },
    subgraph: (p) => {
      if (!Array.isArray(p['keys']))
        throw new GraphError('GRAPH_INVALID_ARGUMENT', '`keys` must be an array of node keys');
      return g.subgraph(p['keys'] as string[]).toJSON();
    },

    export: () => store.toJSON(),
    import: (p) => committed(store.fromJSON(p['graph'] as GraphJSON)),
    getLedger: (p) => store.getLedger(optNum(p, 'sinceSeq') ?? 0),
    clearLedger: () => {
      store.clearLedger();
      return { lastSeq: store.lastSeq };
    },
    subscribe: (_p, ctx) => {
      ctx.state.unsubscribe ??= store.subscribe((tx) => ctx.push('ledger', tx));
      return { lastSeq: store.lastSeq };
    },
    unsubscribe: (_p, ctx) => {
      ctx.state.unsubscribe?.();
      delete ctx.state.unsubscribe;
      return { ok: true };
    },
  };

  if (options.allowParsing !== false) {
    const loadInto = (graph: GraphJSON, mode: unknown): { seq: number } | undefined => {
      if (mode === 'replace') return committed(store.fromJSON(graph));
      if (mode === 'add') return committed(store.apply([{ op: 'load', graph }]));
      if (mode !== undefined && mode !== null && mode !== false)
        throw new GraphError('GRAPH_INVALID_ARGUMENT', "`load` must be 'replace' or 'add'");
      return undefined;
    };
    const parseOpts = (p: Params, ctx: MethodContext) => {
      const maxFileBytes = optNum(p, 'maxFileBytes');
      const maxFiles = optNum(p, 'maxFiles');
      return {
        deadline: ctx.deadline,
        ...(maxFileBytes === undefined ? {} : { maxFileBytes }),
        ...(maxFiles === undefined ? {} : { maxFiles }),
      };
    };
    methods['parseFile'] = async (p, ctx) => {
      const { parseFile } = await import('./parse/parse.ts');
      const source = optStr(p, 'source');
      const r = await parseFile(str(p, 'path'), { ...parseOpts(p, ctx), ...(source === undefined ? {} : { source }) });
      return { ...r, ...loadInto(r.graph, p['load']) };
    };
    methods['parseRepository'] = async (p, ctx) => {
      const { parseRepository } = await import('./parse/parse.ts');
      const r = await parseRepository(str(p, 'root'), parseOpts(p, ctx));
      return { ...r, ...loadInto(r.graph, p['load']) };
    };
  }
  return methods;
}

export function paramsOf(raw: unknown): Params {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new GraphError('GRAPH_INVALID_ARGUMENT', '`params` must be a map');
  return raw as Params;
}
