// Topological order (Kahn's algorithm over the typed adjacency lists) and cycle detection that returns a cycle.
import { GraphError } from './errors.ts';
import type { Graph } from './graph.ts';

const NONE = -1;

/** Runs Kahn's algorithm; returns the slots in order and how many were placed (fewer than the order: a cycle). */
function kahn(g: Graph): { order: Int32Array; placed: number; remaining: Int32Array } {
  const high = g.nodeHigh;
  const remaining = g.inDeg.slice(0, high);
  const order = new Int32Array(g.order);
  const alive = g.nodeAlive;
  let tail = 0;
  for (let i = 0; i < high; i++) if (alive[i] === 1 && remaining[i] === 0) order[tail++] = i;
  const { offsets, targets } = g.csr();
  for (let head = 0; head < tail; head++) {
    const u = order[head] as number;
    for (let i = offsets[u] as number, end = offsets[u + 1] as number; i < end; i++) {
      const v = targets[i] as number;
      const left = (remaining[v] as number) - 1;
      remaining[v] = left;
      if (left === 0) order[tail++] = v;
    }
  }
  return { order, placed: tail, remaining };
}

/**
 * Among the nodes Kahn could not place, every one still has an unplaced predecessor, so walking predecessors
 * must revisit a node: that loop is a cycle. Returned in edge direction, without repeating the first node.
 */
function cycleFromLeftovers(g: Graph, remaining: Int32Array): string[] {
  const high = g.nodeHigh;
  let start = NONE;
  for (let i = 0; i < high; i++) {
    if (g.nodeAlive[i] === 1 && (remaining[i] as number) > 0) {
      start = i;
      break;
    }
  }
  const seenAt = new Map<number, number>();
  const walk: number[] = [];
  let u = start;
  while (!seenAt.has(u)) {
    seenAt.set(u, walk.length);
    walk.push(u);
    let pred = NONE;
    for (let e = g.inHead[u] as number; e !== NONE; e = g.nextIn[e] as number) {
      const p = g.edgeSrc[e] as number;
      if ((remaining[p] as number) > 0) {
        pred = p;
        break;
      }
    }
    u = pred;
  }
  const loop = walk.slice(seenAt.get(u) as number);
  loop.reverse();
  return loop.map((slot) => g.keyAt(slot));
}

/** All node keys, each before its successors. Throws GraphError GRAPH_CYCLE with `data.cycle` if there is none. */
export function topologicalSort(g: Graph): string[] {
  const { order, placed, remaining } = kahn(g);
  if (placed < g.order) {
    const cycle = cycleFromLeftovers(g, remaining);
    throw new GraphError('GRAPH_CYCLE', `the graph has a cycle: ${cycle.join(' -> ')} -> ${cycle[0]}`, { cycle });
  }
  const out = new Array<string>(placed);
  const keys = g.nodeKeys;
  for (let i = 0; i < placed; i++) out[i] = keys[order[i] as number] as string;
  return out;
}

/** One cycle as a list of keys in edge direction (the last has an edge back to the first), or null. */
export function findCycle(g: Graph): string[] | null {
  const { placed, remaining } = kahn(g);
  return placed < g.order ? cycleFromLeftovers(g, remaining) : null;
}
