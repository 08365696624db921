// Weighted shortest paths (Dijkstra with a binary heap on typed arrays); an unreachable target is a value.
import { GraphError } from './errors.ts';
import type { Graph } from './graph.ts';

const NONE = -1;

export interface ShortestPathOptions {
  /** Edge attribute holding the weight (default 'weight'); a missing or non-numeric value counts as 1. */
  weight?: string;
}

export type ShortestPath =
  { reachable: true; distance: number; path: string[] } | { reachable: false; distance: null; path: null };

/** A min-heap of slots keyed by distance; stale entries are skipped when popped (lazy deletion). */
class Heap {
  private slots = new Int32Array(64);
  private keys = new Float64Array(64);
  size = 0;

  push(slot: number, key: number): void {
    if (this.size === this.slots.length) {
      const s = new Int32Array(this.size * 2);
      s.set(this.slots);
      this.slots = s;
      const k = new Float64Array(this.size * 2);
      k.set(this.keys);
      this.keys = k;
    }
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pk = this.keys[parent] as number;
      if (pk <= key) break;
      this.slots[i] = this.slots[parent] as number;
      this.keys[i] = pk;
      i = parent;
    }
    this.slots[i] = slot;
    this.keys[i] = key;
  }

  /** Pops the minimum; returns its slot and leaves its key in `lastKey`. */
  lastKey = 0;
  pop(): number {
    const top = this.slots[0] as number;
    this.lastKey = this.keys[0] as number;
    const n = --this.size;
    if (n > 0) {
      const slot = this.slots[n] as number;
      const key = this.keys[n] as number;
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && (this.keys[c + 1] as number) < (this.keys[c] as number)) c++;
        if ((this.keys[c] as number) >= key) break;
        this.slots[i] = this.slots[c] as number;
        this.keys[i] = this.keys[c] as number;
        i = c;
      }
      this.slots[i] = slot;
      this.keys[i] = key;
    }
    return top;
  }
}

function weightReader(g: Graph, options: ShortestPathOptions): (e: number) => number {
  const name = options.weight ?? 'weight';
  const read =
    name === 'weight'
      ? (e: number) => g.edgeWeight[e] as number
      : (e: number) => {
          const w = g.edgeAttrs[e]?.[name];
          return typeof w === 'number' ? w : 1;
        };
  return (e) => {
    const w = read(e);
    if (!(w >= 0)) {
      throw new GraphError(
        'GRAPH_INVALID_ARGUMENT',
        `edge weights must be non-negative numbers for Dijkstra, found ${w}`,
        {
          source: g.keyAt(g.edgeSrc[e] as number),
          target: g.keyAt(g.edgeDst[e] as number),
        },
      );
    }
    return w;
  };
}

/** Runs Dijkstra from `source`, stopping early once `target` (a slot, or -1 for all) is settled. */
function run(
  g: Graph,
  source: number,
  target: number,
  options: ShortestPathOptions,
): { dist: Float64Array; prev: Int32Array } {
  const high = g.nodeHigh;
  const dist = new Float64Array(high).fill(Infinity);
  const prev = new Int32Array(high).fill(NONE);
  const done = new Uint8Array(high);
  const weight = weightReader(g, options);
  const heap = new Heap();
  const { offsets, targets, edgeIds } = g.csr();
  dist[source] = 0;
  heap.push(source, 0);
  while (heap.size > 0) {
    const u = heap.pop();
    if (done[u] === 1) continue;
    done[u] = 1;
    if (u === target) break;
    const du = heap.lastKey;
    for (let i = offsets[u] as number, end = offsets[u + 1] as number; i < end; i++) {
      const v = targets[i] as number;
      const nd = du + weight(edgeIds[i] as number);
      if (nd < (dist[v] as number)) {
        dist[v] = nd;
        prev[v] = u;
        heap.push(v, nd);
      }
    }
  }
  return { dist, prev };
}

export function shortestPath(
  g: Graph,
  source: string,
  target: string,
  options: ShortestPathOptions = {},
): ShortestPath {
  const s = g.requireSlot(source, 'source node');
  const t = g.requireSlot(target, 'target node');
  const { dist, prev } = run(g, s, t, options);
  const d = dist[t] as number;
  if (d === Infinity) return { reachable: false, distance: null, path: null };
  const path: string[] = [];
  for (let u = t; u !== NONE; u = prev[u] as number) path.push(g.keyAt(u));
  path.reverse();
  return { reachable: true, distance: d, path };
}

/** Distances from `source` to every reachable node (unreachable nodes are absent). */
export function shortestPathLengths(
  g: Graph,
  source: string,
  options: ShortestPathOptions = {},
): Record<string, number> {
  const s = g.requireSlot(source, 'source node');
  const { dist } = run(g, s, NONE, options);
  const out: Record<string, number> = {};
  for (let i = 0; i < g.nodeHigh; i++) {
    const d = dist[i] as number;
    if (d !== Infinity && g.nodeAlive[i] === 1) out[g.keyAt(i)] = d;
  }
  return out;
}
