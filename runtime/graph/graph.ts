// The directed graph store: string keys mapped to dense integer slots, adjacency in typed-array linked lists.
import { GraphError } from './errors.ts';

export type Attributes = Record<string, unknown>;
export interface NodeJSON {
  key: string;
  attributes?: Attributes;
}
export interface EdgeJSON {
  source: string;
  target: string;
  attributes?: Attributes;
}
export interface GraphJSON {
  nodes: NodeJSON[];
  edges: EdgeJSON[];
}
export type Direction = 'out' | 'in' | 'both';

/** Out-edges of slot u are targets[offsets[u] .. offsets[u+1]), with their edge slots in edgeIds. */
export interface Csr {
  version: number;
  offsets: Int32Array;
  targets: Int32Array;
  edgeIds: Int32Array;
}

const NONE = -1;
const INITIAL_CAPACITY = 16;

function grownInt32(old: Int32Array, size: number, fill: number) {
  const next = new Int32Array(size);
  next.set(old);
  if (fill !== 0) next.fill(fill, old.length);
  return next;
}

function grownFloat64(old: Float64Array, size: number) {
  const next = new Float64Array(size);
  next.set(old);
  return next;
}

function grownUint8(old: Uint8Array, size: number) {
  const next = new Uint8Array(size);
  next.set(old);
  return next;
}

export function checkKey(key: unknown, what = 'key'): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new GraphError('GRAPH_INVALID_ARGUMENT', `${what} must be a non-empty string, got ${describe(key)}`);
  }
  return key;
}

export function checkAttributes(attributes: unknown): Attributes | undefined {
  if (attributes === undefined || attributes === null) return undefined;
  if (typeof attributes !== 'object' || Array.isArray(attributes)) {
    throw new GraphError('GRAPH_INVALID_ARGUMENT', `attributes must be an object, got ${describe(attributes)}`);
  }
  return { ...(attributes as Attributes) };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function weightOf(attributes: Attributes | undefined): number {
  const w = attributes?.['weight'];
  return typeof w === 'number' ? w : 1;
}

/**
 * A directed graph without parallel edges (self-loops allowed). Nodes and edges carry attribute objects;
 * the `weight` edge attribute (default 1) is mirrored into a Float64Array for shortest paths.
 *
 * Fields marked internal are read by the algorithm modules in this folder; treat them as private.
 */
export class Graph {
  /** @internal */ nodeKeys: (string | undefined)[] = [];
  /** @internal */ nodeAttrs: (Attributes | undefined)[] = [];
  /** @internal */ nodeAlive = new Uint8Array(INITIAL_CAPACITY);
  /** @internal */ outHead = new Int32Array(INITIAL_CAPACITY).fill(NONE);
  /** @internal */ outTail = new Int32Array(INITIAL_CAPACITY).fill(NONE);
  /** @internal */ inHead = new Int32Array(INITIAL_CAPACITY).fill(NONE);
  /** @internal */ inTail = new Int32Array(INITIAL_CAPACITY).fill(NONE);
  /** @internal */ outDeg = new Int32Array(INITIAL_CAPACITY);
  /** @internal */ inDeg = new Int32Array(INITIAL_CAPACITY);
  /** @internal One past the highest node slot ever used. */ nodeHigh = 0;

  /** @internal */ edgeSrc = new Int32Array(INITIAL_CAPACITY);
  /** @internal */ edgeDst = new Int32Array(INITIAL_CAPACITY);
  /** @internal */ nextOut = new Int32Array(INITIAL_CAPACITY);
  /** @internal */ prevOut = new Int32Array(INITIAL_CAPACITY);
  /** @internal */ nextIn = new Int32Array(INITIAL_CAPACITY);
  /** @internal */ prevIn = new Int32Array(INITIAL_CAPACITY);
  /** @internal */ edgeWeight = new Float64Array(INITIAL_CAPACITY);
  /** @internal */ edgeAttrs: (Attributes | undefined)[] = [];
  /** @internal */ edgeAlive = new Uint8Array(INITIAL_CAPACITY);
  /** @internal */ edgeHigh = 0;

  /** @internal Bumped by every structural change; cached views compare it. */ version = 0;
  private csrCache: Csr | undefined;

  private readonly index = new Map<string, number>();
  private freeNodes: number[] = [];
  private freeEdges: number[] = [];
  private nodes = 0;
  private edges = 0;

  get order(): number {
    return this.nodes;
  }

  get size(): number {
    return this.edges;
  }

  /** Pre-sizes the typed arrays, so bulk loads do not pay for repeated growth. */
  reserve(nodes: number, edges: number): void {
    this.ensureNodeCapacity(nodes);
    this.ensureEdgeCapacity(edges);
  }

  // ---- nodes ----

  hasNode(key: string): boolean {
    return this.index.has(key);
  }

  /** @internal Slot of a node, or -1. */
  slotOf(key: string): number {
    return this.index.get(key) ?? NONE;
  }

  /** @internal */
  requireSlot(key: unknown, what = 'node'): number {
    const k = checkKey(key, what);
    const slot = this.index.get(k);
    if (slot === undefined) throw new GraphError('GRAPH_NODE_NOT_FOUND', `${what} '${k}' does not exist`, { key: k });
    return slot;
  }

  /** @internal Key of a live slot. */
  keyAt(slot: number): string {
    return this.nodeKeys[slot] as string;
  }

  addNode(key: string, attributes?: Attributes): void {
    const k = checkKey(key);
    if (this.index.has(k)) throw new GraphError('GRAPH_NODE_EXISTS', `node '${k}' already exists`, { key: k });
    const attrs = checkAttributes(attributes);
    let slot = this.freeNodes.pop();
    if (slot === undefined) {
      slot = this.nodeHigh++;
      this.ensureNodeCapacity(this.nodeHigh);
    }
    this.nodeKeys[slot] = k;
    this.nodeAttrs[slot] = attrs;
    this.nodeAlive[slot] = 1;
    this.outHead[slot] = NONE;
    this.outTail[slot] = NONE;
    this.inHead[slot] = NONE;
    this.inTail[slot] = NONE;
    this.outDeg[slot] = 0;
    this.inDeg[slot] = 0;
    this.index.set(k, slot);
    this.nodes++;
    this.version++;
  }

  getNodeAttributes(key: string): Attributes | undefined {
    const slot = this.requireSlot(key);
    const a = this.nodeAttrs[slot];
    return a === undefined ? undefined : { ...a };
  }

  /** Replaces the node's attributes, or merges into them when `merge` is true. Returns the previous ones. */
  updateNode(key: string, attributes: Attributes | undefined, merge = false): Attributes | undefined {
    const slot = this.requireSlot(key);
    const previous = this.nodeAttrs[slot];
    const attrs = checkAttributes(attributes);
    this.nodeAttrs[slot] = merge ? { ...previous, ...attrs } : attrs;
    return previous;
  }

  /** Removes a node and its incident edges; returns what was removed, so a caller can undo it. */
  removeNode(key: string): { attributes: Attributes | undefined; edges: EdgeJSON[] } {
    const slot = this.requireSlot(key);
    const removed: EdgeJSON[] = [];
    for (let e = this.outHead[slot] as number; e !== NONE;) {
      const next = this.nextOut[e] as number;
      removed.push(this.edgeJSON(e));
      this.unlinkEdge(e);
      e = next;
    }
    for (let e = this.inHead[slot] as number; e !== NONE;) {
      const next = this.nextIn[e] as number;
      removed.push(this.edgeJSON(e));
      this.unlinkEdge(e);
      e = next;
    }
    const attributes = this.nodeAttrs[slot];
    this.index.delete(key);
    this.nodeKeys[slot] = undefined;
    this.nodeAttrs[slot] = undefined;
    this.nodeAlive[slot] = 0;
    this.freeNodes.push(slot);
    this.nodes--;
    this.version++;
    return { attributes, edges: removed };
  }

  nodeKeysList(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.nodeHigh; i++) if (this.nodeAlive[i] === 1) out.push(this.nodeKeys[i] as string);
    return out;
  }

  // ---- edges ----

  /** @internal Edge slot from slot `s` to slot `d`, or -1. Walks the shorter of the two adjacency lists. */
  edgeBetween(s: number, d: number): number {
    if ((this.outDeg[s] as number) <= (this.inDeg[d] as number)) {
      for (let e = this.outHead[s] as number; e !== NONE; e = this.nextOut[e] as number) {
        if (this.edgeDst[e] === d) return e;
      }
    } else {
      for (let e = this.inHead[d] as number; e !== NONE; e = this.nextIn[e] as number) {
        if (this.edgeSrc[e] === s) return e;
      }
    }
    return NONE;
  }

  hasEdge(source: string, target: string): boolean {
    const s = this.index.get(source);
    const d = this.index.get(target);
    return s !== undefined && d !== undefined && this.edgeBetween(s, d) !== NONE;
  }

  addEdge(source: string, target: string, attributes?: Attributes): void {
    const s = this.requireSlot(source, 'source node');
    const d = this.requireSlot(target, 'target node');
    if (this.edgeBetween(s, d) !== NONE) {
      throw new GraphError('GRAPH_EDGE_EXISTS', `edge '${source}' -> '${target}' already exists`, { source, target });
    }
    this.linkEdge(s, d, checkAttributes(attributes));
  }

  /** @internal Adds an edge between live slots with no duplicate check (bulk loaders that know better). */
  linkEdge(s: number, d: number, attrs: Attributes | undefined): number {
    let e = this.freeEdges.pop();
    if (e === undefined) {
      e = this.edgeHigh++;
      this.ensureEdgeCapacity(this.edgeHigh);
    }
    this.edgeSrc[e] = s;
    this.edgeDst[e] = d;
    this.edgeAttrs[e] = attrs;
    this.edgeWeight[e] = weightOf(attrs);
    this.edgeAlive[e] = 1;
    const ot = this.outTail[s] as number;
    this.prevOut[e] = ot;
    this.nextOut[e] = NONE;
    if (ot === NONE) this.outHead[s] = e;
    else this.nextOut[ot] = e;
    this.outTail[s] = e;
    const it = this.inTail[d] as number;
    this.prevIn[e] = it;
    this.nextIn[e] = NONE;
    if (it === NONE) this.inHead[d] = e;
    else this.nextIn[it] = e;
    this.inTail[d] = e;
    this.outDeg[s]! += 1;
    this.inDeg[d]! += 1;
    this.edges++;
    this.version++;
    return e;
  }

  private requireEdge(source: string, target: string): number {
    const s = this.requireSlot(source, 'source node');
    const d = this.requireSlot(target, 'target node');
    const e = this.edgeBetween(s, d);
    if (e === NONE)
      throw new GraphError('GRAPH_EDGE_NOT_FOUND', `edge '${source}' -> '${target}' does not exist`, {
        source,
        target,
      });
    return e;
  }

  getEdgeAttributes(source: string, target: string): Attributes | undefined {
    const a = this.edgeAttrs[this.requireEdge(source, target)];
    return a === undefined ? undefined : { ...a };
  }

  updateEdge(
    source: string,
    target: string,
    attributes: Attributes | undefined,
    merge = false,
  ): Attributes | undefined {
    const e = this.requireEdge(source, target);
    const previous = this.edgeAttrs[e];
    const attrs = checkAttributes(attributes);
    const next = merge ? { ...previous, ...attrs } : attrs;
    this.edgeAttrs[e] = next;
    this.edgeWeight[e] = weightOf(next);
    return previous;
  }

  removeEdge(source: string, target: string): Attributes | undefined {
    const e = this.requireEdge(source, target);
    const attrs = this.edgeAttrs[e];
    this.unlinkEdge(e);
    return attrs;
  }

  private unlinkEdge(e: number): void {
    const s = this.edgeSrc[e] as number;
    const d = this.edgeDst[e] as number;
    const po = this.prevOut[e] as number;
    const no = this.nextOut[e] as number;
    if (po === NONE) this.outHead[s] = no;
    else this.nextOut[po] = no;
    if (no === NONE) this.outTail[s] = po;
    else this.prevOut[no] = po;
    const pi = this.prevIn[e] as number;
    const ni = this.nextIn[e] as number;
    if (pi === NONE) this.inHead[d] = ni;
    else this.nextIn[pi] = ni;
    if (ni === NONE) this.inTail[d] = pi;
    else this.prevIn[ni] = pi;
    this.outDeg[s]! -= 1;
    this.inDeg[d]! -= 1;
    this.edgeAlive[e] = 0;
    this.edgeAttrs[e] = undefined;
    this.freeEdges.push(e);
    this.edges--;
    this.version++;
  }

  private edgeJSON(e: number): EdgeJSON {
    const out: EdgeJSON = {
      source: this.keyAt(this.edgeSrc[e] as number),
      target: this.keyAt(this.edgeDst[e] as number),
    };
    const a = this.edgeAttrs[e];
    if (a !== undefined) out.attributes = { ...a };
    return out;
  }

  // ---- neighbourhood ----

  outNeighbors(key: string): string[] {
    const slot = this.requireSlot(key);
    const out: string[] = [];
    for (let e = this.outHead[slot] as number; e !== NONE; e = this.nextOut[e] as number)
      out.push(this.keyAt(this.edgeDst[e] as number));
    return out;
  }

  inNeighbors(key: string): string[] {
    const slot = this.requireSlot(key);
    const out: string[] = [];
    for (let e = this.inHead[slot] as number; e !== NONE; e = this.nextIn[e] as number)
      out.push(this.keyAt(this.edgeSrc[e] as number));
    return out;
  }

  /** Neighbours in the given direction; 'both' lists each neighbour once (out-neighbours first). */
  neighbors(key: string, direction: Direction = 'both'): string[] {
    if (direction === 'out') return this.outNeighbors(key);
    if (direction === 'in') return this.inNeighbors(key);
    const seen = new Set(this.outNeighbors(key));
    const out = [...seen];
    for (const k of this.inNeighbors(key)) if (!seen.has(k)) out.push(k);
    return out;
  }

  outDegree(key: string): number {
    return this.outDeg[this.requireSlot(key)] as number;
  }

  inDegree(key: string): number {
    return this.inDeg[this.requireSlot(key)] as number;
  }

  degree(key: string): number {
    const slot = this.requireSlot(key);
    return (this.outDeg[slot] as number) + (this.inDeg[slot] as number);
  }

  // ---- whole-graph views ----

  /** The subgraph induced by `keys` (unknown keys are an error), as a new Graph. */
  subgraph(keys: Iterable<string>): Graph {
    const g = new Graph();
    const slots: number[] = [];
    for (const k of keys) {
      const slot = this.requireSlot(k);
      if (g.hasNode(k)) continue;
      g.addNode(k, this.nodeAttrs[slot]);
      slots.push(slot);
    }
    for (const s of slots) {
      for (let e = this.outHead[s] as number; e !== NONE; e = this.nextOut[e] as number) {
        const target = this.keyAt(this.edgeDst[e] as number);
        const d = g.slotOf(target);
        if (d !== NONE)
          g.linkEdge(
            g.slotOf(this.keyAt(s)),
            d,
            this.edgeAttrs[e] === undefined ? undefined : { ...this.edgeAttrs[e] },
          );
      }
    }
    return g;
  }

  toJSON(): GraphJSON {
    const nodes: NodeJSON[] = [];
    for (let i = 0; i < this.nodeHigh; i++) {
      if (this.nodeAlive[i] !== 1) continue;
      const n: NodeJSON = { key: this.nodeKeys[i] as string };
      const a = this.nodeAttrs[i];
      if (a !== undefined) n.attributes = { ...a };
      nodes.push(n);
    }
    const edges: EdgeJSON[] = [];
    for (let e = 0; e < this.edgeHigh; e++) if (this.edgeAlive[e] === 1) edges.push(this.edgeJSON(e));
    return { nodes, edges };
  }

  static fromJSON(json: unknown): Graph {
    const g = new Graph();
    g.load(json);
    return g;
  }

  /** Adds every node and edge of `json` to this graph (validating all of it first would cost a copy; callers that need atomicity use a fresh Graph). */
  load(json: unknown): void {
    if (
      json === null ||
      typeof json !== 'object' ||
      !Array.isArray((json as GraphJSON).nodes) ||
      !Array.isArray((json as GraphJSON).edges)
    ) {
      throw new GraphError('GRAPH_INVALID_ARGUMENT', 'a graph must be an object with `nodes` and `edges` arrays');
    }
    const { nodes, edges } = json as GraphJSON;
    this.reserve(this.nodeHigh + nodes.length, this.edgeHigh + edges.length);
    for (const n of nodes) {
      if (n === null || typeof n !== 'object')
        throw new GraphError('GRAPH_INVALID_ARGUMENT', 'each node must be an object with a `key`');
      this.addNode(n.key, n.attributes);
    }
    for (const e of edges) {
      if (e === null || typeof e !== 'object')
        throw new GraphError('GRAPH_INVALID_ARGUMENT', 'each edge must be an object with `source` and `target`');
      this.addEdge(e.source, e.target, e.attributes);
    }
  }

  clear(): void {
    this.index.clear();
    this.nodeKeys = [];
    this.nodeAttrs = [];
    this.edgeAttrs = [];
    this.nodeAlive.fill(0);
    this.edgeAlive.fill(0);
    this.freeNodes = [];
    this.freeEdges = [];
    this.nodeHigh = 0;
    this.edgeHigh = 0;
    this.nodes = 0;
    this.edges = 0;
    this.version++;
  }

  /**
   * @internal Out-adjacency in compressed sparse rows, cached until the next structural change. Linked lists
   * make mutation O(1) but scatter a traversal over memory; whole-graph algorithms read this instead.
   */
  csr(): Csr {
    const cached = this.csrCache;
    if (cached !== undefined && cached.version === this.version) return cached;
    const high = this.nodeHigh;
    const offsets = new Int32Array(high + 1);
    const outDeg = this.outDeg;
    let sum = 0;
    for (let i = 0; i < high; i++) {
      offsets[i] = sum;
      sum += outDeg[i] as number;
    }
    offsets[high] = sum;
    const cursor = offsets.slice(0, high);
    const targets = new Int32Array(sum);
    const edgeIds = new Int32Array(sum);
    const alive = this.edgeAlive;
    const src = this.edgeSrc;
    const dst = this.edgeDst;
    for (let e = 0, n = this.edgeHigh; e < n; e++) {
      if (alive[e] !== 1) continue;
      const s = src[e] as number;
      const at = cursor[s] as number;
      cursor[s] = at + 1;
      targets[at] = dst[e] as number;
      edgeIds[at] = e;
    }
    const csr: Csr = { version: this.version, offsets, targets, edgeIds };
    this.csrCache = csr;
    return csr;
  }

  // ---- capacity ----

  private ensureNodeCapacity(n: number): void {
    const cap = this.nodeAlive.length;
    if (n <= cap) return;
    let size = cap;
    while (size < n) size *= 2;
    this.nodeAlive = grownUint8(this.nodeAlive, size);
    this.outHead = grownInt32(this.outHead, size, NONE);
    this.outTail = grownInt32(this.outTail, size, NONE);
    this.inHead = grownInt32(this.inHead, size, NONE);
    this.inTail = grownInt32(this.inTail, size, NONE);
    this.outDeg = grownInt32(this.outDeg, size, 0);
    this.inDeg = grownInt32(this.inDeg, size, 0);
  }

  private ensureEdgeCapacity(n: number): void {
    const cap = this.edgeAlive.length;
    if (n <= cap) return;
    let size = cap;
    while (size < n) size *= 2;
    this.edgeAlive = grownUint8(this.edgeAlive, size);
    this.edgeSrc = grownInt32(this.edgeSrc, size, 0);
    this.edgeDst = grownInt32(this.edgeDst, size, 0);
    this.nextOut = grownInt32(this.nextOut, size, 0);
    this.prevOut = grownInt32(this.prevOut, size, 0);
    this.nextIn = grownInt32(this.nextIn, size, 0);
    this.prevIn = grownInt32(this.prevIn, size, 0);
    this.edgeWeight = grownFloat64(this.edgeWeight, size);
  }
}
