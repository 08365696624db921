// The graph ability: which methods, namespace and directories an agent's grant allows, and the one check every call passes.
import { realpathSync, statSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';
import { decode, encode } from '../codec.ts';
import { GraphClient } from '../graph/client.ts';
import { GraphError } from '../graph/errors.ts';
import { checkNamespace } from '../graph/namespaces.ts';
import { grantError, type GrantContext } from './grants.ts';
import { GraphThread } from './graph-thread.ts';

/** Methods that read and write the agent's own namespace: what `graph: true` grants. */
export const GRAPH_DATA_METHODS: readonly string[] = Object.freeze([
  'ping',
  'stats',
  'apply',
  'addNode',
  'updateNode',
  'removeNode',
  'addEdge',
  'updateEdge',
  'removeEdge',
  'clear',
  'hasNode',
  'getNode',
  'hasEdge',
  'getEdge',
  'nodes',
  'neighbors',
  'degree',
  'topologicalSort',
  'findCycle',
  'shortestPath',
  'shortestPathLengths',
  'subgraphMatch',
  'subgraph',
  'export',
  'import',
]);

/** Methods that read the host's files: only with `parse.dirs`, and only inside them. */
export const GRAPH_PARSE_METHODS: readonly string[] = Object.freeze(['parseFile', 'parseRepository']);

/** Grantable beyond the defaults. subscribe/auth/clearLedger/dropNamespace never are: they are the host's. */
const GRANTABLE = new Set([...GRAPH_DATA_METHODS, ...GRAPH_PARSE_METHODS, 'getLedger']);

/** Per-call byte caps when the grant names none, and the most a grant may name (the service's frame limit). */
export const GRAPH_DEFAULT_CALL_BYTES = 1024 * 1024;
export const GRAPH_MAX_CALL_BYTES = 16 * 1024 * 1024;

/** An agent's graph grant as written in load options or sandbox.yaml. */
export interface GraphGrant {
  /** Methods the agent may call; default GRAPH_DATA_METHODS. Parsing methods also need `parse`. */
  methods?: string[];
  /** The store the agent's requests act on; default one of its own. Agents share data only by naming the same one. */
  namespace?: string;
  /** Directories parseFile/parseRepository may read (relative ones from the cwd or the sandbox.yaml's folder). */
  parse?: { dirs: string[] };
  /** Largest request (MessagePack bytes) per call; default 1 MiB. */
  maxRequestBytes?: number;
  /** Largest response per call; a larger one is answered GRAPH_RESPONSE_TOO_LARGE. Default 1 MiB. */
  maxResponseBytes?: number;
}

export interface ResolvedGraphGrant {
  readonly methods: ReadonlySet<string>;
  readonly namespace: string;
  /** Real paths of the directories parsing may read; empty when parsing is not granted. */
  readonly parseDirs: readonly string[];
  readonly maxRequestBytes: number;
  readonly maxResponseBytes: number;
}

const GRANT_FIELDS = new Set(['methods', 'namespace', 'parse', 'maxRequestBytes', 'maxResponseBytes']);

export function resolveGraphGrant(raw: unknown, context: GrantContext): ResolvedGraphGrant {
  const value: unknown = raw === true ? {} : raw;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw grantError(context, 'graph', `must be true or a map, got ${JSON.stringify(raw)}`);
  const grant = value as GraphGrant;
  for (const key of Object.keys(grant)) {
    if (!GRANT_FIELDS.has(key))
      throw grantError(context, `graph.${key}`, `is not a graph grant field (known: ${[...GRANT_FIELDS].join(', ')})`);
  }
  const bytes = (field: 'maxRequestBytes' | 'maxResponseBytes'): number => {
    const v = grant[field];
    if (v === undefined) return GRAPH_DEFAULT_CALL_BYTES;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > GRAPH_MAX_CALL_BYTES) {
      throw grantError(
        context,
        `graph.${field}`,
        `must be an integer from 1 to ${GRAPH_MAX_CALL_BYTES}, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  let parseDirs: string[] = [];
  if (grant.parse !== undefined) {
    const dirs = (grant.parse as { dirs?: unknown } | null)?.dirs;
    if (!Array.isArray(dirs) || dirs.length === 0 || dirs.some((d) => typeof d !== 'string' || d === '')) {
      throw grantError(context, 'graph.parse.dirs', 'must be a non-empty list of directories');
    }
    parseDirs = (dirs as string[]).map((d) => {
      try {
        const real = realpathSync(resolve(context.baseDir, d));
        if (!statSync(real).isDirectory()) throw new Error('not a directory');
        return real;
      } catch (error) {
        throw grantError(
          context,
          'graph.parse.dirs',
          `names ${JSON.stringify(d)}, which is not a readable directory (${(error as Error).message})`,
        );
      }
    });
  }
  const defaults = parseDirs.length > 0 ? [...GRAPH_DATA_METHODS, ...GRAPH_PARSE_METHODS] : GRAPH_DATA_METHODS;
  const listed = grant.methods ?? defaults;
  if (!Array.isArray(listed)) throw grantError(context, 'graph.methods', 'must be a list of method names');
  for (const m of listed) {
    if (typeof m !== 'string' || !GRANTABLE.has(m))
      throw grantError(
        context,
        'graph.methods',
        `names ${JSON.stringify(m)}, which an agent cannot be granted (grantable: ${[...GRANTABLE].join(', ')})`,
      );
    if (GRAPH_PARSE_METHODS.includes(m) && parseDirs.length === 0)
      throw grantError(
        context,
        'graph.methods',
        `grants ${m} but no graph.parse.dirs: parsing reads only the directories a grant names`,
      );
  }
  let namespace = context.defaultNamespace;
  if (grant.namespace !== undefined) {
    try {
      namespace = checkNamespace(grant.namespace);
    } catch (error) {
      throw grantError(context, 'graph.namespace', (error as Error).message);
    }
    if (namespace.startsWith('~'))
      throw grantError(
        context,
        'graph.namespace',
        `must not start with '~' (names of per-agent namespaces), got ${JSON.stringify(namespace)}`,
      );
  }
  return Object.freeze({
    methods: new Set(listed),
    namespace,
    parseDirs: Object.freeze(parseDirs),
    maxRequestBytes: bytes('maxRequestBytes'),
    maxResponseBytes: bytes('maxResponseBytes'),
  });
}

/** Where granted calls go: MessagePack `{result}` or `{error}` bytes back, for the request in `namespace`. */
export interface GraphBackend {
  /** `maxResponseBytes`: a larger answer is refused where it is made, before it is copied to the host thread. */
  call(
    namespace: string,
    method: string,
    params: Record<string, unknown>,
    timeoutMs: number,
    maxResponseBytes: number,
  ): Promise<Uint8Array>;
  /** Forgets a per-agent namespace when its agent is closed. */
  dropNamespace(namespace: string): Promise<void>;
  close(): Promise<void>;
}

/** 'embedded' runs the graph engine in a thread of its own; a URL (unix:///path, tcp://host:port) names a service. */
export type GraphSource = GraphClient | string;

export function graphBackend(source: GraphSource): GraphBackend {
  // The embedded engine never runs on the host thread: a guest-chosen search would stall every other agent's clock.
  if (source === 'embedded') return new GraphThread();
  const owned = !(source instanceof GraphClient);
  let client: Promise<GraphClient> | null = null;
  const connect = (): Promise<GraphClient> => {
    if (client === null) {
      const connected = source instanceof GraphClient ? Promise.resolve(source) : GraphClient.connect(source);
      client = connected.then(async (c) => {
        try {
          await requireNamespaces(c);
        } catch (error) {
          if (owned) await c.close();
          throw error;
        }
        return c;
      });
      // A failed connection is retried on the next request rather than remembered forever.
      client.catch(() => (client = null));
    }
    return client;
  };
  return {
    async call(namespace, method, params, timeoutMs) {
      try {
        return encode({ result: await (await connect()).request(method, params, { namespace, timeoutMs }) });
      } catch (error) {
        return errorReply(error);
      }
    },
    async dropNamespace(namespace) {
      await (await connect()).dropNamespace(namespace).catch(() => false);
    },
    async close() {
      if (owned && client !== null) await (await client.catch(() => null))?.close();
    },
  };
}

/**
 * A service from before namespaces ignores `ns` and would put every agent's data in one graph: refuse it. Only a
 * service that keeps namespaces knows `dropNamespace`.
 */
async function requireNamespaces(client: GraphClient): Promise<void> {
  try {
    await client.dropNamespace('~probe');
  } catch (error) {
    // Any other answer (GRAPH_UNAUTHORIZED from a token confined to other namespaces) comes from a service that knows it.
    if ((error as { code?: unknown }).code !== 'GRAPH_UNKNOWN_METHOD') return;
    throw new GraphError(
      'GRAPH_UNAVAILABLE',
      `the graph service at ${client.url} does not keep namespaces (it predates them), so agents cannot be kept apart there; upgrade it`,
    );
  }
}

/** `{error: {code, message, data?}}` as the guest reads it. */
export function errorReply(error: unknown): Uint8Array {
  const e = error as { code?: unknown; message?: unknown; data?: unknown };
  const wire: Record<string, unknown> = {
    code: typeof e.code === 'string' ? e.code : 'GRAPH_ERROR',
    message: String(e.message ?? error),
  };
  if (e.data !== undefined) wire.data = e.data;
  return encode({ error: wire });
}

const refuse = (code: string, message: string): Uint8Array => encode({ error: { code, message } });

export const responseTooLarge = (length: number, max: number): Uint8Array =>
  refuse(
    'GRAPH_RESPONSE_TOO_LARGE',
    `the response is ${length} bytes; this agent's grant allows ${max} (ask for less, e.g. subgraph or a lower limit)`,
  );

/**
 * The one place an agent's graph call is checked: grant, request size, method, parse paths, deadline (never past
 * the run's remaining time), response size. Every refusal is an `{error}` response the guest can read, not a trap.
 */
export async function callGraph(
  grant: ResolvedGraphGrant | undefined,
  backend: GraphBackend,
  request: Uint8Array,
  remainingMs: number,
): Promise<Uint8Array> {
  try {
    return await checkedCall(grant, backend, request, remainingMs);
  } catch (error) {
    // Never a rejection: the worker waits for an answer, and a throw here would reach the host's event loop.
    return errorReply(error);
  }
}

async function checkedCall(
  grant: ResolvedGraphGrant | undefined,
  backend: GraphBackend,
  request: Uint8Array,
  remainingMs: number,
): Promise<Uint8Array> {
  if (grant === undefined) {
    return refuse(
      'GRAPH_NOT_GRANTED',
      'this agent has no graph grant; load it with the option `graph: true` (or `graph:` in its sandbox.yaml entry)',
    );
  }
  if (request.length > grant.maxRequestBytes) {
    return refuse(
      'GRAPH_REQUEST_TOO_LARGE',
      `the request is ${request.length} bytes; this agent's grant allows ${grant.maxRequestBytes}`,
    );
  }
  let method: unknown;
  let params: unknown;
  try {
    ({ method, params } = decode(request) as { method?: unknown; params?: unknown });
  } catch {
    return refuse('GRAPH_BAD_FRAME', 'the request is not one MessagePack map {method, params}');
  }
  if (typeof method !== 'string' || !grant.methods.has(method)) {
    return refuse(
      'GRAPH_NOT_GRANTED',
      `this agent's graph grant does not include the method ${JSON.stringify(method)}`,
    );
  }
  if (params === undefined || params === null) params = {};
  if (typeof params !== 'object' || Array.isArray(params))
    return refuse('GRAPH_INVALID_ARGUMENT', '`params` must be a map');
  let checked = params as Record<string, unknown>;
  if (method === 'parseFile' || method === 'parseRepository') {
    const field = method === 'parseFile' ? 'path' : 'root';
    const confined = await confine(checked[field], grant.parseDirs);
    if (typeof confined !== 'string') return confined;
    checked = { ...checked, [field]: confined };
  }
  // A tenth of the time left stays with the guest, so a search cut short by its deadline still gets answered.
  const timeoutMs = Math.floor(remainingMs * 0.9);
  if (timeoutMs < 1) return refuse('GRAPH_TIMEOUT', 'the run has no time left for a graph call');
  const reply = await backend.call(grant.namespace, method, checked, timeoutMs, grant.maxResponseBytes);
  return reply.length > grant.maxResponseBytes ? responseTooLarge(reply.length, grant.maxResponseBytes) : reply;
}

/**
 * The real path of `path` if it lies inside one of `dirs` (relative paths are tried against each), or the refusal.
 * Real paths, so neither `..` nor a symbolic link leads outside, as for WASI directory grants.
 */
async function confine(path: unknown, dirs: readonly string[]): Promise<string | Uint8Array> {
  if (typeof path !== 'string' || path === '' || path.includes('\0'))
    return refuse('GRAPH_INVALID_ARGUMENT', 'a path must be a non-empty string');
  const candidates = isAbsolute(path) ? [path] : dirs.map((d) => resolve(d, path));
  for (const candidate of candidates) {
    let real: string;
    try {
      real = await realpath(candidate);
    } catch {
      continue;
    }
    if (dirs.some((d) => real === d || real.startsWith(d.endsWith(sep) ? d : d + sep))) return real;
  }
  return refuse(
    'GRAPH_NOT_GRANTED',
    `${JSON.stringify(path)} is not inside a directory this agent's grant lets it parse`,
  );
}
