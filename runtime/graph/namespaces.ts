// One graph store (and method table) per namespace, so callers that name different namespaces never see each other's data.
import { GraphError } from './errors.ts';
import { GraphStore } from './ledger.ts';
import { createMethods, type Method, type MethodOptions } from './methods.ts';

/** The namespace of requests that name none: what plain clients (and the service's ledger) use. */
export const DEFAULT_NAMESPACE = 'default';

/** Letters, digits and `_ . : / ~ -`, 1 to 128 characters: fits in a log line and a metric label. */
const NAMESPACE = /^[A-Za-z0-9_.:/~-]{1,128}$/;

export function checkNamespace(value: unknown): string {
  if (typeof value !== 'string' || !NAMESPACE.test(value)) {
    throw new GraphError(
      'GRAPH_INVALID_ARGUMENT',
      `a namespace must be 1 to 128 of [A-Za-z0-9_.:/~-], got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export interface Namespace {
  readonly store: GraphStore;
  readonly methods: Record<string, Method>;
}

export interface GraphNamespacesOptions extends MethodOptions {
  /** Namespaces held at once, the default one included; past it a new name is refused (GRAPH_NAMESPACE_LIMIT). Default 10,000. */
  maxNamespaces?: number;
  /**
   * Nodes plus edges one namespace may hold: once it has this many, requests that can add more are refused
   * (GRAPH_NAMESPACE_FULL) until some are removed. The request that crosses the line is let through, so a
   * namespace ends at most one request past it. Default: no cap.
   */
  maxElements?: number;
}

/** Methods that can add nodes or edges (removals, reads and `clear` are always allowed). */
const GROWING = new Set([
  'apply',
  'addNode',
  'updateNode',
  'addEdge',
  'updateEdge',
  'import',
  'parseFile',
  'parseRepository',
]);

function capped(
  store: GraphStore,
  methods: Record<string, Method>,
  maxElements: number | undefined,
): Record<string, Method> {
  if (maxElements === undefined) return methods;
  const g = store.graph;
  const out: Record<string, Method> = { ...methods };
  for (const name of GROWING) {
    const method = methods[name];
    if (method === undefined) continue;
    out[name] = (params, ctx) => {
      if (g.order + g.size >= maxElements) {
        throw new GraphError(
          'GRAPH_NAMESPACE_FULL',
          `this namespace holds ${g.order} nodes and ${g.size} edges, its limit of ${maxElements}; remove some first`,
        );
      }
      return method(params, ctx);
    };
  }
  return out;
}

export class GraphNamespaces {
  private readonly spaces = new Map<string, Namespace>();
  private readonly maxNamespaces: number;

  /** `defaultStore` backs DEFAULT_NAMESPACE (it may have a ledger file); the others are in memory. */
  constructor(
    defaultStore: GraphStore,
    private readonly options: GraphNamespacesOptions = {},
  ) {
    this.maxNamespaces = options.maxNamespaces ?? 10_000;
    this.spaces.set(DEFAULT_NAMESPACE, {
      store: defaultStore,
      methods: capped(defaultStore, createMethods(defaultStore, options), options.maxElements),
    });
  }

  get size(): number {
    return this.spaces.size;
  }

  /** The namespace called `name`, created empty on first use. */
  get(name: string = DEFAULT_NAMESPACE): Namespace {
    let space = this.spaces.get(name);
    if (space === undefined) {
      checkNamespace(name);
      if (this.spaces.size >= this.maxNamespaces) {
        throw new GraphError(
          'GRAPH_NAMESPACE_LIMIT',
          `the service holds ${this.spaces.size} namespaces, its limit; drop unused ones (dropNamespace)`,
        );
      }
      const store = new GraphStore();
      space = { store, methods: capped(store, createMethods(store, this.options), this.options.maxElements) };
      this.spaces.set(name, space);
    }
    return space;
  }

  /** Forgets a namespace and its data; the default one is only cleared. Returns whether it existed. */
  drop(name: string): boolean {
    const space = this.spaces.get(name);
    if (space === undefined) return false;
    if (name === DEFAULT_NAMESPACE) {
      space.store.apply([{ op: 'clear' }]);
      return true;
    }
    space.store.close();
    return this.spaces.delete(name);
  }

  /** Closes every namespace's store except the default one (its owner closes it). */
  close(): void {
    for (const [name, space] of this.spaces) if (name !== DEFAULT_NAMESPACE) space.store.close();
    this.spaces.clear();
  }
}
