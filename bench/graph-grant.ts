// bench/graph-grant: an agent's graph call through its grant to the embedded engine's own thread, beside the same
// call answered on the host thread by an in-process GraphClient (the path before issue 12), in one run.
//
// Each row: one agent (fixtures/graph-call) runs `hasNode` once per run, one run at a time, rounds taking turns;
// the median round decides. The thread costs one more message hop per call; what it buys is an event loop and
// other agents' timeouts that no graph search can stall (test/conformance/graph-host-thread.test.ts).
import { GraphClient } from '../runtime/graph/client.ts';
import { Sandbox } from '../runtime/index.ts';
import { fixturePath, requireBuilt } from '../test/support/paths.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const RUNS = Number(process.env.BENCH_RUNS ?? 1000);

const wasm = requireBuilt(fixturePath('graph-call'));
const thread = new Sandbox({ workers: 1, graph: 'embedded' });
const host = new Sandbox({ workers: 1, graph: GraphClient.embedded() });
const rows = {
  'graph thread (embedded)': await thread.load(wasm, { graph: true, limits: { timeoutMs: 10_000 } }),
  'host thread (in-process GraphClient)': await host.load(wasm, { graph: true, limits: { timeoutMs: 10_000 } }),
};
for (const agent of Object.values(rows)) {
  const r = await agent.run({ method: 'addNode', params: { key: 'a' } });
  if (r.status !== 'ok') throw new Error(`set-up run failed: ${r.message ?? r.status}`);
}
const rates = new Map<string, number[]>(Object.keys(rows).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, agent] of Object.entries(rows)) {
    const t0 = performance.now();
    for (let i = 0; i < RUNS; i++) await agent.run({ method: 'hasNode', params: { key: 'a' } });
    rates.get(name)!.push(RUNS / ((performance.now() - t0) / 1000));
  }
}
await thread.close();
await host.close();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const [threadRate, hostRate] = [...rates.values()].map(median) as [number, number];
console.log(`\n| path | runs/s (one graph call each) | vs host thread |\n|---|---:|---:|`);
console.log(
  `| graph thread (embedded) | ${Math.round(threadRate).toLocaleString('en')} | ${(threadRate / hostRate).toFixed(2)}× |`,
);
console.log(`| host thread (in-process GraphClient) | ${Math.round(hostRate).toLocaleString('en')} | 1.00× |`);
console.log(
  JSON.stringify({
    suite: 'graph-grant',
    threadRunsPerSec: Math.round(threadRate),
    hostThreadRunsPerSec: Math.round(hostRate),
    ratio: Number((threadRate / hostRate).toFixed(3)),
  }),
);
