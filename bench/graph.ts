// Graph benchmark: toposort + cycle detection on 1M/1M beside graphology, VF2 beside a baseline, RPC over a Unix socket.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DirectedGraph as GraphologyGraph } from 'graphology';
import { hasCycle as glHasCycle, topologicalSort as glTopologicalSort } from 'graphology-dag';
import { Graph } from '../runtime/graph/graph.ts';
import { GraphClient } from '../runtime/graph/client.ts';
import { GraphServer } from '../runtime/graph/server.ts';
import { findCycle, topologicalSort } from '../runtime/graph/toposort.ts';
import { subgraphMatch } from '../runtime/graph/vf2.ts';
import { rng } from '../test/support/rng.ts';

const self = fileURLToPath(import.meta.url);

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const ms = (t0: number) => performance.now() - t0;
const fmt = (x: number, d = 1) => x.toFixed(d);

async function main(): Promise<void> {
  const rows: [string, string, string][] = [];
  const quick = process.argv.includes('--quick');
  const N = quick ? 100_000 : 1_000_000;

  // ---- 1. toposort + cycle detection on N nodes / N edges (a random DAG) ----
  const r = rng(42);
  const src = new Int32Array(N);
  const dst = new Int32Array(N);
  {
    const seen = new Set<number>();
    let m = 0;
    while (m < N) {
      const a = Math.floor(r() * N);
      const b = Math.floor(r() * N);
      if (a === b) continue;
      const s = Math.min(a, b);
      const d = Math.max(a, b);
      const key = s * N + d;
      if (seen.has(key)) continue;
      seen.add(key);
      src[m] = s;
      dst[m] = d;
      m++;
    }
  }
  const keys = Array.from({ length: N }, (_, i) => `n${i}`);
  let t0 = performance.now();
  const g = new Graph();
  g.reserve(N, N);
  for (let i = 0; i < N; i++) g.addNode(keys[i] as string);
  for (let i = 0; i < N; i++) g.addEdge(keys[src[i] as number] as string, keys[dst[i] as number] as string);
  const buildOurs = ms(t0);
  const ours: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    g.addNode('__bump');
    g.removeNode('__bump'); // a structural change, so each run pays for its adjacency snapshot too
    gc();
    t0 = performance.now();
    const order = topologicalSort(g);
    const cycle = findCycle(g);
    ours.push(ms(t0));
    if (order.length !== N || cycle !== null) throw new Error('toposort sanity check failed');
  }
  const toposort1mMs = median(ours);
  rows.push([
    `toposort+cycle ${N / 1e6}M/${N / 1e6}M (ours)`,
    `${fmt(toposort1mMs)} ms`,
    `median of 5; build ${fmt(buildOurs, 0)} ms`,
  ]);

  gc();
  t0 = performance.now();
  let gl: GraphologyGraph | undefined = new GraphologyGraph();
  for (let i = 0; i < N; i++) gl.addNode(keys[i] as string);
  for (let i = 0; i < N; i++) gl.addDirectedEdge(keys[src[i] as number] as string, keys[dst[i] as number] as string);
  const buildGl = ms(t0);
  const theirs: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    gc();
    t0 = performance.now();
    const order = glTopologicalSort(gl);
    const cyclic = glHasCycle(gl);
    theirs.push(ms(t0));
    if (order.length !== N || cyclic) throw new Error('graphology sanity check failed');
  }
  gl = undefined;
  const graphologyToposort1mMs = median(theirs);
  rows.push([
    `toposort+cycle ${N / 1e6}M/${N / 1e6}M (graphology-dag)`,
    `${fmt(graphologyToposort1mMs)} ms`,
    `median of 3; build ${fmt(buildGl, 0)} ms`,
  ]);
  rows.push(['  ratio graphology / ours', `${fmt(graphologyToposort1mMs / toposort1mMs, 2)}x`, '']);
  g.clear();
  gc();

  // ---- 2. VF2 on random 1,000-node graphs with small patterns ----
  const vr = rng(7);
  const V = 1000;
  const E = 4000;
  const types = ['service', 'db', 'queue', 'cache'];
  const vg = new Graph();
  const vgl = new GraphologyGraph();
  for (let i = 0; i < V; i++) {
    const attrs = { type: types[Math.floor(vr() * types.length)] as string };
    vg.addNode(`v${i}`, attrs);
    vgl.addNode(`v${i}`, attrs);
  }
  for (let m = 0; m < E;) {
    const a = `v${Math.floor(vr() * V)}`;
    const b = `v${Math.floor(vr() * V)}`;
    if (a === b || vg.hasEdge(a, b)) continue;
    vg.addEdge(a, b);
    vgl.addDirectedEdge(a, b);
    m++;
  }
  const patterns = {
    'path service→db→cache': {
      nodes: [
        { key: 'a', attributes: { type: 'service' } },
        { key: 'b', attributes: { type: 'db' } },
        { key: 'c', attributes: { type: 'cache' } },
      ],
      edges: [
        { source: 'a', target: 'b' },
        { source: 'b', target: 'c' },
      ],
    },
    'triangle (unlabelled)': {
      nodes: [{ key: 'a' }, { key: 'b' }, { key: 'c' }],
      edges: [
        { source: 'a', target: 'b' },
        { source: 'b', target: 'c' },
        { source: 'c', target: 'a' },
      ],
    },
    'fan-in 3 queues→service': {
      nodes: [
        { key: 's', attributes: { type: 'service' } },
        ...['x', 'y', 'z'].map((k) => ({ key: k, attributes: { type: 'queue' } })),
      ],
      edges: ['x', 'y', 'z'].map((k) => ({ source: k, target: 's' })),
    },
  };
  let vf2Ms = 0;
  let baseMs = 0;
  for (const [name, p] of Object.entries(patterns)) {
    const runs: number[] = [];
    let count = 0;
    for (let rep = 0; rep < 5; rep++) {
      t0 = performance.now();
      const res = subgraphMatch(vg, p, { limit: 1e9 });
      runs.push(ms(t0));
      count = res.matches.length;
      if (res.stoppedBy !== null) throw new Error('VF2 truncated');
    }
    const mine = median(runs);
    t0 = performance.now();
    const baseCount = baselineMatch(vgl, p);
    const base = ms(t0);
    if (baseCount !== count) throw new Error(`VF2 (${count}) and baseline (${baseCount}) disagree on ${name}`);
    vf2Ms += mine;
    baseMs += base;
    rows.push([
      `VF2 ${name}`,
      `${fmt(mine, 2)} ms`,
      `${count} matches; baseline ${fmt(base, 1)} ms (${fmt(base / mine, 0)}x)`,
    ]);
  }
  rows.push(['VF2 total (3 patterns, 1000 nodes/4000 edges)', `${fmt(vf2Ms, 2)} ms`, `baseline ${fmt(baseMs, 0)} ms`]);

  // ---- 3. RPC round trip over a Unix socket (service in its own process) ----
  const dir = mkdtempSync(join(tmpdir(), 'graph-bench-'));
  const sock = join(dir, 'g.sock');
  const child = spawn(process.execPath, ['--import', 'tsx', self, '--serve', sock], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((res, rej) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && res());
    child.once('exit', (c) => rej(new Error(`server exited ${c}`)));
  });
  const client = await GraphClient.connect(`unix://${sock}`, { env: {} });
  const params = (i: number) => ({ key: `k${i % 1000}` });
  for (let i = 0; i < 20_000; i++) await client.request('hasNode', params(i)); // warm-up
  const LAT = quick ? 20_000 : 50_000;
  const lat = new Float64Array(LAT);
  for (let i = 0; i < LAT; i++) {
    const a = process.hrtime.bigint();
    await client.request('hasNode', params(i));
    lat[i] = Number(process.hrtime.bigint() - a) / 1000;
  }
  lat.sort();
  const rpcP50Us = lat[Math.floor(LAT * 0.5)] as number;
  const rpcP99Us = lat[Math.floor(LAT * 0.99)] as number;
  rows.push([
    'RPC hasNode round trip, 1 in flight',
    `p50 ${fmt(rpcP50Us)} µs`,
    `p99 ${fmt(rpcP99Us)} µs, p99.9 ${fmt(lat[Math.floor(LAT * 0.999)] as number)} µs`,
  ]);

  const TOTAL = quick ? 100_000 : 300_000;
  const WINDOW = 256;
  let sent = 0;
  t0 = performance.now();
  await Promise.all(
    Array.from({ length: WINDOW }, async () => {
      while (sent < TOTAL) {
        const i = sent++;
        await client.request('hasNode', params(i));
      }
    }),
  );
  const rpcPerSec = TOTAL / (ms(t0) / 1000);
  rows.push([`RPC throughput, ${WINDOW} in flight`, `${fmt(rpcPerSec, 0)} req/s`, `${TOTAL} requests`]);
  await client.close();
  child.stdin.end();
  await new Promise((res) => child.once('exit', res));
  rmSync(dir, { recursive: true, force: true });

  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  console.log(`graph benchmark (node ${process.version}, ${N.toLocaleString('en')} nodes / edges)`);
  for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`);
  console.log(
    JSON.stringify({
      suite: 'graph',
      toposort1mMs: Number(fmt(toposort1mMs)),
      graphologyToposort1mMs: Number(fmt(graphologyToposort1mMs)),
      vf2Ms: Number(fmt(vf2Ms, 2)),
      vf2BaselineMs: Number(fmt(baseMs)),
      rpcP50Us: Number(fmt(rpcP50Us)),
      rpcP99Us: Number(fmt(rpcP99Us)),
      rpcPerSec: Math.round(rpcPerSec),
    }),
  );
}

/**
 * Baseline matcher on graphology: plain backtracking over pattern nodes in their given order, trying every
 * graph node at every depth, checking attributes and edges to already-placed nodes (no candidate ordering,
 * no neighbourhood-driven candidates, no degree cuts).
 */
function baselineMatch(
  gl: GraphologyGraph,
  p: { nodes: { key: string; attributes?: Record<string, unknown> }[]; edges: { source: string; target: string }[] },
): number {
  const nodes = gl.nodes();
  const pk = p.nodes.map((x) => x.key);
  const pe = new Set(p.edges.map((e) => `${e.source}\u0000${e.target}`));
  const image: string[] = [];
  const used = new Set<string>();
  let count = 0;
  const rec = (i: number): void => {
    if (i === pk.length) {
      count++;
      return;
    }
    const want = p.nodes[i]!.attributes;
    for (const v of nodes) {
      if (used.has(v)) continue;
      if (want !== undefined) {
        const have = gl.getNodeAttributes(v);
        let ok = true;
        for (const k in want) if (have[k] !== want[k]) ok = false;
        if (!ok) continue;
      }
      let ok = true;
      for (let j = 0; j < i && ok; j++) {
        if (pe.has(`${pk[i]}\u0000${pk[j]}`) && !gl.hasDirectedEdge(v, image[j]!)) ok = false;
        if (pe.has(`${pk[j]}\u0000${pk[i]}`) && !gl.hasDirectedEdge(image[j]!, v)) ok = false;
      }
      if (!ok) continue;
      image[i] = v;
      used.add(v);
      rec(i + 1);
      used.delete(v);
    }
  };
  rec(0);
  return count;
}

if (process.argv[2] === '--serve') {
  // Child mode: the service runs in its own process, as it would in production.
  const server = await GraphServer.listen({ socket: process.argv[3] as string });
  await server.store.apply(Array.from({ length: 1000 }, (_, i) => ({ op: 'addNode', key: `k${i}` })));
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
} else {
  await main();
}
