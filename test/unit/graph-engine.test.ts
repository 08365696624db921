// Graph engine: known answers, agreement with graphology on random graphs, VF2 against brute force.
import { describe, expect, it } from 'vitest';
import { DirectedGraph as GraphologyGraph } from 'graphology';
import { hasCycle as glHasCycle, topologicalSort as glTopologicalSort } from 'graphology-dag';
import { dijkstra as glDijkstra } from 'graphology-shortest-path';
import { Graph } from '../../runtime/graph/graph.ts';
import { GraphError, isGraphError } from '../../runtime/graph/errors.ts';
import { findCycle, topologicalSort } from '../../runtime/graph/toposort.ts';
import { shortestPath, shortestPathLengths } from '../../runtime/graph/shortest-path.ts';
import { subgraphMatch, attributesMatch } from '../../runtime/graph/vf2.ts';
import { rng } from '../support/rng.ts';

function build(nodes: string[], edges: [string, string, number?][]): Graph {
  const g = new Graph();
  for (const n of nodes) g.addNode(n);
  for (const [s, t, w] of edges) g.addEdge(s, t, w === undefined ? undefined : { weight: w });
  return g;
}

function expectValidOrder(g: Graph, order: string[]): void {
  expect(order.length).toBe(g.order);
  const pos = new Map(order.map((k, i) => [k, i]));
  expect(pos.size).toBe(g.order);
  for (const e of g.toJSON().edges) expect(pos.get(e.source)!).toBeLessThan(pos.get(e.target)!);
}

function expectIsCycle(g: Graph, cycle: string[]): void {
  expect(cycle.length).toBeGreaterThan(0);
  for (let i = 0; i < cycle.length; i++) expect(g.hasEdge(cycle[i]!, cycle[(i + 1) % cycle.length]!)).toBe(true);
  expect(new Set(cycle).size).toBe(cycle.length);
}

describe('Graph basics', () => {
  it('adds, updates and removes nodes and edges', () => {
    const g = build(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'c'],
        ['a', 'c'],
      ],
    );
    expect(g.order).toBe(3);
    expect(g.size).toBe(3);
    expect(g.outNeighbors('a')).toEqual(['b', 'c']);
    expect(g.inNeighbors('c')).toEqual(['b', 'a']);
    expect(g.neighbors('b')).toEqual(['c', 'a']);
    expect([g.inDegree('c'), g.outDegree('a'), g.degree('b')]).toEqual([2, 2, 2]);
    g.updateNode('a', { type: 'task' });
    g.updateNode('a', { done: true }, true);
    expect(g.getNodeAttributes('a')).toEqual({ type: 'task', done: true });
    g.updateEdge('a', 'b', { weight: 5 });
    expect(g.getEdgeAttributes('a', 'b')).toEqual({ weight: 5 });
    g.removeNode('b');
    expect(g.hasEdge('a', 'b')).toBe(false);
    expect(g.size).toBe(1);
    expect(g.toJSON()).toEqual({
      nodes: [{ key: 'a', attributes: { type: 'task', done: true } }, { key: 'c' }],
      edges: [{ source: 'a', target: 'c' }],
    });
    g.addNode('d');
    g.addEdge('d', 'd');
    expect(g.hasEdge('d', 'd')).toBe(true);
    g.removeEdge('d', 'd');
    expect(g.degree('d')).toBe(0);
  });

  it('reports misuse with stable codes', () => {
    const g = build(['a', 'b'], [['a', 'b']]);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as GraphError).code;
      }
      return 'none';
    };
    expect(code(() => g.addNode('a'))).toBe('GRAPH_NODE_EXISTS');
    expect(code(() => g.addEdge('a', 'b'))).toBe('GRAPH_EDGE_EXISTS');
    expect(code(() => g.addEdge('a', 'zz'))).toBe('GRAPH_NODE_NOT_FOUND');
    expect(code(() => g.removeEdge('b', 'a'))).toBe('GRAPH_EDGE_NOT_FOUND');
    expect(code(() => g.addNode(''))).toBe('GRAPH_INVALID_ARGUMENT');
    expect(code(() => g.addNode('x', [] as never))).toBe('GRAPH_INVALID_ARGUMENT');
  });

  it('round-trips through JSON and exports induced subgraphs', () => {
    const g = build(
      ['a', 'b', 'c', 'd'],
      [
        ['a', 'b', 2],
        ['b', 'c'],
        ['c', 'a'],
        ['c', 'd'],
      ],
    );
    expect(Graph.fromJSON(JSON.parse(JSON.stringify(g.toJSON()))).toJSON()).toEqual(g.toJSON());
    const sub = g.subgraph(['a', 'b', 'c']).toJSON();
    expect(sub.nodes.map((n) => n.key)).toEqual(['a', 'b', 'c']);
    expect(sub.edges).toEqual([
      { source: 'a', target: 'b', attributes: { weight: 2 } },
      { source: 'b', target: 'c' },
      { source: 'c', target: 'a' },
    ]);
  });

  it('reuses freed slots without mixing up adjacency', () => {
    const g = new Graph();
    for (let i = 0; i < 50; i++) g.addNode(`n${i}`);
    for (let i = 0; i < 49; i++) g.addEdge(`n${i}`, `n${i + 1}`);
    for (let i = 0; i < 50; i += 2) g.removeNode(`n${i}`);
    for (let i = 0; i < 25; i++) g.addNode(`m${i}`);
    for (let i = 0; i < 24; i++) g.addEdge(`m${i}`, `m${i + 1}`);
    expect(g.size).toBe(24);
    expectValidOrder(g, topologicalSort(g));
    expect(g.outNeighbors('m3')).toEqual(['m4']);
    expect(g.inNeighbors('n1')).toEqual([]);
  });
});

describe('topological sort and cycles: known answers', () => {
  it('orders a DAG', () => {
    const g = build(
      ['shirt', 'tie', 'jacket', 'belt', 'pants', 'shoes', 'socks'],
      [
        ['shirt', 'tie'],
        ['tie', 'jacket'],
        ['shirt', 'belt'],
        ['belt', 'jacket'],
        ['pants', 'belt'],
        ['pants', 'shoes'],
        ['socks', 'shoes'],
      ],
    );
    const order = topologicalSort(g);
    expectValidOrder(g, order);
    expect(order).toEqual(['shirt', 'pants', 'socks', 'tie', 'belt', 'shoes', 'jacket']);
    expect(findCycle(g)).toBeNull();
  });

  it('fails with one offending cycle', () => {
    const g = build(
      ['a', 'b', 'c', 'd', 'e'],
      [
        ['a', 'b'],
        ['b', 'c'],
        ['c', 'd'],
        ['d', 'b'],
        ['d', 'e'],
      ],
    );
    let err: unknown;
    try {
      topologicalSort(g);
    } catch (e) {
      err = e;
    }
    expect(isGraphError(err, 'GRAPH_CYCLE')).toBe(true);
    const cycle = (err as GraphError).data!['cycle'] as string[];
    expect(new Set(cycle)).toEqual(new Set(['b', 'c', 'd']));
    expectIsCycle(g, cycle);
    expectIsCycle(g, findCycle(g)!);
    const loop = build(['x'], [['x', 'x']]);
    expect(findCycle(loop)).toEqual(['x']);
  });

  it('handles the empty graph', () => {
    expect(topologicalSort(new Graph())).toEqual([]);
    expect(findCycle(new Graph())).toBeNull();
  });
});

describe('shortest paths: known answers', () => {
  it('finds the weighted shortest path and reports unreachable as a value', () => {
    const g = build(
      ['s', 'a', 'b', 't', 'x'],
      [
        ['s', 'a', 1],
        ['a', 't', 5],
        ['s', 'b', 2],
        ['b', 't', 1],
        ['t', 'x', 0],
      ],
    );
    expect(shortestPath(g, 's', 't')).toEqual({ reachable: true, distance: 3, path: ['s', 'b', 't'] });
    expect(shortestPath(g, 't', 's')).toEqual({ reachable: false, distance: null, path: null });
    expect(shortestPath(g, 's', 's')).toEqual({ reachable: true, distance: 0, path: ['s'] });
    expect(shortestPathLengths(g, 's')).toEqual({ s: 0, a: 1, b: 2, t: 3, x: 3 });
  });

  it('uses a named weight attribute and rejects negative weights', () => {
    const g = new Graph();
    for (const k of ['a', 'b', 'c']) g.addNode(k);
    g.addEdge('a', 'b', { cost: 10 });
    g.addEdge('a', 'c', { cost: 1 });
    g.addEdge('c', 'b', { cost: 1 });
    expect(shortestPath(g, 'a', 'b', { weight: 'cost' }).distance).toBe(2);
    expect(shortestPath(g, 'a', 'b').distance).toBe(1); // default weight 1 per edge
    g.updateEdge('a', 'c', { weight: -1 });
    expect(() => shortestPath(g, 'a', 'b')).toThrow(GraphError);
  });
});

describe('agreement with graphology on random graphs', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}: topological validity, cycle detection, Dijkstra lengths`, () => {
      const r = rng(seed);
      const n = 200 + Math.floor(r() * 200);
      const m = n * 3;
      const ours = new Graph();
      const gl = new GraphologyGraph({ allowSelfLoops: true });
      for (let i = 0; i < n; i++) {
        ours.addNode(`v${i}`);
        gl.addNode(`v${i}`);
      }
      const dag = seed % 2 === 1;
      for (let k = 0; k < m; k++) {
        let a = Math.floor(r() * n);
        let b = Math.floor(r() * n);
        if (a === b) continue;
        if (dag && a > b) [a, b] = [b, a];
        const s = `v${a}`;
        const t = `v${b}`;
        if (ours.hasEdge(s, t)) continue;
        const w = Math.floor(r() * 20) + 1;
        ours.addEdge(s, t, { weight: w });
        gl.addDirectedEdge(s, t, { weight: w });
      }
      expect(ours.size).toBe(gl.size);
      const glCyclic = glHasCycle(gl);
      expect(findCycle(ours) !== null).toBe(glCyclic);
      if (!glCyclic) {
        expectValidOrder(ours, topologicalSort(ours));
        expect(glTopologicalSort(gl).length).toBe(n);
      } else {
        expect(() => topologicalSort(ours)).toThrow(GraphError);
        expectIsCycle(ours, findCycle(ours)!);
      }
      for (const src of ['v0', `v${Math.floor(n / 2)}`]) {
        const mine = shortestPathLengths(ours, src);
        const paths = glDijkstra.singleSource(gl, src) as Record<string, string[]>;
        const theirs: Record<string, number> = {};
        for (const [target, path] of Object.entries(paths)) {
          let d = 0;
          for (let i = 0; i + 1 < path.length; i++)
            d += gl.getDirectedEdgeAttribute(path[i]!, path[i + 1]!, 'weight') as number;
          theirs[target] = d;
        }
        expect(mine).toEqual(theirs);
        const target = Object.keys(theirs)[Object.keys(theirs).length - 1]!;
        const sp = shortestPath(ours, src, target);
        expect(sp.reachable && sp.distance).toBe(theirs[target]);
      }
    });
  }
});

/** Every injective map pattern→graph satisfying the same conditions, by exhaustion. */
function bruteForce(g: Graph, p: Graph, induced: boolean): string[] {
  const pk = p.nodeKeysList();
  const gk = g.nodeKeysList();
  const out: string[] = [];
  const map: string[] = [];
  const used = new Set<string>();
  const ok = (): boolean => {
    for (let i = 0; i < pk.length; i++) {
      if (!attributesMatch(p.getNodeAttributes(pk[i]!), g.getNodeAttributes(map[i]!))) return false;
      for (let j = 0; j < pk.length; j++) {
        const pe = p.hasEdge(pk[i]!, pk[j]!);
        const ge = g.hasEdge(map[i]!, map[j]!);
        if (pe && !ge) return false;
        if (induced && !pe && ge) return false;
      }
    }
    return true;
  };
  const rec = (i: number): void => {
    if (i === pk.length) {
      if (ok()) out.push(pk.map((k, j) => `${k}=${map[j]}`).join(','));
      return;
    }
    for (const v of gk) {
      if (used.has(v)) continue;
      used.add(v);
      map[i] = v;
      rec(i + 1);
      used.delete(v);
    }
  };
  rec(0);
  return out.sort();
}

function canon(matches: Record<string, string>[], p: Graph): string[] {
  const pk = p.nodeKeysList();
  return matches.map((m) => pk.map((k) => `${k}=${m[k]}`).join(',')).sort();
}

function randomGraph(
  r: () => number,
  n: number,
  density: number,
  types: string[],
  prefix: string,
  loops = false,
): Graph {
  const g = new Graph();
  for (let i = 0; i < n; i++) g.addNode(`${prefix}${i}`, { type: types[Math.floor(r() * types.length)]! });
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) if ((i !== j || loops) && r() < density) g.addEdge(`${prefix}${i}`, `${prefix}${j}`);
  return g;
}

describe('VF2 subgraph matching', () => {
  it('finds a known pattern with attributes, induced and not', () => {
    const g = build(
      ['a', 'b', 'c', 'd'],
      [
        ['a', 'b'],
        ['b', 'c'],
        ['a', 'c'],
        ['c', 'd'],
      ],
    );
    for (const k of ['a', 'b', 'c', 'd']) g.updateNode(k, { type: k === 'd' ? 'sink' : 'task' });
    const path = {
      nodes: [{ key: 'x', attributes: { type: 'task' } }, { key: 'y' }, { key: 'z' }],
      edges: [
        { source: 'x', target: 'y' },
        { source: 'y', target: 'z' },
      ],
    };
    const mono = subgraphMatch(g, path);
    expect(canon(mono.matches, Graph.fromJSON(path))).toEqual(['x=a,y=b,z=c', 'x=a,y=c,z=d', 'x=b,y=c,z=d']);
    expect(mono.stoppedBy).toBeNull();
    const ind = subgraphMatch(g, path, { induced: true });
    expect(canon(ind.matches, Graph.fromJSON(path))).toEqual(['x=a,y=c,z=d', 'x=b,y=c,z=d']);
  });

  it('stops at the match limit and at the step budget, and says so', () => {
    const r = rng(9);
    const g = randomGraph(r, 40, 0.3, ['t'], 'g');
    const p = {
      nodes: [{ key: 'a' }, { key: 'b' }, { key: 'c' }],
      edges: [
        { source: 'a', target: 'b' },
        { source: 'b', target: 'c' },
      ],
    };
    const limited = subgraphMatch(g, p, { limit: 5 });
    expect(limited.matches.length).toBe(5);
    expect(limited.stoppedBy).toBe('limit');
    const budget = subgraphMatch(g, p, { maxSteps: 100 });
    expect(budget.stoppedBy).toBe('steps');
    expect(budget.steps).toBe(100);
    const full = subgraphMatch(g, p, { limit: 1e9 });
    expect(full.stoppedBy).toBeNull();
    expect(full.matches.length).toBeGreaterThan(budget.matches.length);
  });

  for (let seed = 1; seed <= 12; seed++) {
    it(`agrees with brute force (seed ${seed})`, () => {
      const r = rng(seed * 7919);
      const g = randomGraph(r, 7 + (seed % 3), 0.3, ['a', 'b'], 'g', seed % 4 === 0);
      const p = randomGraph(r, 2 + (seed % 3), 0.45, ['a', 'b', 'a'], 'p', seed % 4 === 0);
      if (seed % 5 === 0) for (const k of p.nodeKeysList()) p.updateNode(k, {}); // unlabelled pattern
      for (const induced of [false, true]) {
        const res = subgraphMatch(g, p, { induced, limit: 1e9 });
        expect(res.stoppedBy).toBeNull();
        expect(canon(res.matches, p)).toEqual(bruteForce(g, p, induced));
      }
    });
  }
});

describe('FrameDecoder', () => {
  it('reassembles frames split at every byte, and batches of frames in one chunk', async () => {
    const { FrameDecoder, encodeFrame, decode } = await import('../../runtime/graph/protocol.ts');
    const msgs = [{ id: 1, method: 'ping' }, { id: 2, method: 'addNode', params: { key: 'x'.repeat(300) } }, { id: 3 }];
    const bytes = Buffer.concat(msgs.map((m) => encodeFrame(m)));
    for (const step of [1, 3, 7, bytes.length]) {
      const d = new FrameDecoder();
      const got: unknown[] = [];
      for (let i = 0; i < bytes.length; i += step) {
        for (const f of d.push(bytes.subarray(i, i + step))) if (f.kind === 'frame') got.push(decode(f.body));
      }
      expect(got).toEqual(msgs);
      expect(d.buffered).toBe(0);
    }
  });

  it('flags a frame over the limit from its header alone', async () => {
    const { FrameDecoder } = await import('../../runtime/graph/protocol.ts');
    const d = new FrameDecoder(10);
    expect(d.push(Buffer.from([0, 0, 0, 11]))).toEqual([{ kind: 'too-large', length: 11 }]);
    expect(d.push(Buffer.from([0, 0, 0, 1, 0xc0]))).toEqual([]);
  });
});
