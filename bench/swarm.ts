// bench/swarm: snapshot reset vs fresh instantiation of a 64 KiB agent, and memory with 10,000 resident agents.
//
// - reset: Guest.reset() copies the post-initialisation memory image back and restores the mutable globals;
// - instantiate: a new instance of the same compiled module, initialised (start function, sandbox_init);
// both in this thread on the instrumented `echo` agent (one 64 KiB page), alternating, best of several rounds.
// - rss10k: RSS of this process after loading 10,000 `counter` agents into one Sandbox and running each once.
// - serve: runs/s of echo and triage through a real `sandbox serve` process, metrics and audit on and off
//   (bench/swarm-serve.ts; `npm run bench -- swarm [echoRecords] [triageRecords] [rounds]`).
// - hibernation: a million stateful counter agents, wake latency and a restart (bench/hibernation.ts).
import { readFileSync } from 'node:fs';
import { compileAgentModule, Guest } from '../runtime/agent/guest.ts';
import { prepareModule } from '../runtime/agent/prepare.ts';
import { DEFAULT_LIMITS } from '../runtime/agent/types.ts';
import type { WasmNamespace } from '../runtime/engine/namespace.ts';
import { Sandbox } from '../runtime/index.ts';
import { measureHibernation } from './hibernation.ts';
import { agentPath } from '../test/support/paths.ts';
import { benchSwarmServe, formatSwarmServe } from './swarm-serve.ts';

const wa = WebAssembly as unknown as WasmNamespace;
const limits = { ...DEFAULT_LIMITS };
const module = compileAgentModule(wa, prepareModule(readFileSync(agentPath('echo')), limits, wa, true));

function create(): Guest {
  const g = Guest.create(wa, module, limits, 'wasm', { reset: true });
  if (!(g instanceof Guest)) throw new Error(`echo failed to initialise: ${g.message}`);
  return g;
}

function perOpUs(n: number, op: () => void): number {
  const t = performance.now();
  for (let i = 0; i < n; i++) op();
  return ((performance.now() - t) * 1000) / n;
}

const guest = create();
let resetUs = Infinity;
let instantiateUs = Infinity;
for (let round = 0; round < 7; round++) {
  resetUs = Math.min(
    resetUs,
    perOpUs(20_000, () => guest.reset()),
  );
  instantiateUs = Math.min(
    instantiateUs,
    perOpUs(2_000, () => create()),
  );
}

async function rss10k(): Promise<number> {
  const sandbox = new Sandbox();
  const before = process.memoryUsage().rss;
  const agents = [];
  for (let i = 0; i < 10_000; i += 500) {
    agents.push(...(await Promise.all(Array.from({ length: 500 }, () => sandbox.load(agentPath('counter'))))));
  }
  await Promise.all(agents.map((a) => a.run({})));
  const rss = process.memoryUsage().rss;
  await sandbox.close();
  console.error(
    `  10,000 counter agents resident: RSS ${(rss / 2 ** 20).toFixed(0)} MB (${((rss - before) / 2 ** 20).toFixed(0)} MB for the agents)`,
  );
  return rss;
}

const rss = await rss10k();
const [echoRecords, triageRecords, serveRounds] = process.argv.slice(2).map(Number);
const serve = await benchSwarmServe({
  ...(echoRecords ? { echoRecords } : {}),
  ...(triageRecords ? { triageRecords } : {}),
  ...(serveRounds ? { rounds: serveRounds } : {}),
});
// Hibernation: SANDBOX_BENCH_AGENTS counter agents (default 1,000,000; `npm run bench -- hibernation` alone prints more).
const hibernation = await measureHibernation();
console.log('\n| measure | value |\n|---|---:|');
console.log(`| reset a 64 KiB agent (snapshot restore) | ${resetUs.toFixed(2)} µs |`);
console.log(`| fresh instantiation + init | ${instantiateUs.toFixed(2)} µs |`);
console.log(`| instantiation / reset | ${(instantiateUs / resetUs).toFixed(1)}× |`);
console.log(`| RSS with 10,000 resident counter agents | ${(rss / 2 ** 20).toFixed(0)} MB |`);
console.log(
  `| ${hibernation.agents.toLocaleString('en-US')} counter agents with state (hibernation): RSS | ${hibernation.rssMB.toFixed(0)} MB |`,
);
console.log(
  `| wake a hibernated agent, p50 / p99 (in the worker) | ${hibernation.wakeP50Ms.toFixed(3)} / ${hibernation.wakeP99Ms.toFixed(3)} ms |`,
);
console.log(`| hibernate an agent (encode + queue the write) | ${hibernation.hibernateUs.toFixed(1)} µs |`);
console.log(formatSwarmServe(serve));
console.log(
  JSON.stringify({
    suite: 'swarm',
    echoPerSec: serve.echoPerSec,
    triagePerSec: serve.triagePerSec,
    serve: serve.best,
    rss10kMB: Math.round(rss / 2 ** 20),
    resetUs: Number(resetUs.toFixed(2)),
    instantiateUs: Number(instantiateUs.toFixed(2)),
    wakeP99Ms: Number(hibernation.wakeP99Ms.toFixed(3)),
    hibernation,
  }),
);
