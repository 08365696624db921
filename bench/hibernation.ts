// bench/hibernation: a million stateful `counter` agents in one Sandbox with hibernation, their wake latency, and a restart.
//
// 1. Loads N keyed counter agents (default 1,000,000; SANDBOX_BENCH_AGENTS overrides) and runs each once with its own
//    increment: more agents than can be resident (maxResident 8192), so all but the resident ones go to the store.
// 2. Wakes 2,000 random agents one message at a time: wakeMs (restoring the state inside the worker) and the whole
//    round trip of agent.run, p50/p99; checks each count.
// 3. Closes the sandbox, opens another on the same store, and wakes 200 random agents: their counts must be intact.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sandbox, type Agent } from '../runtime/index.ts';
import { agentPath } from '../test/support/paths.ts';

export interface HibernationFigures {
  agents: number;
  loadPerSec: number;
  firstRunPerSec: number;
  rssMB: number;
  storeMB: number;
  wakeP50Ms: number;
  wakeP99Ms: number;
  runP99Ms: number;
  hibernateUs: number;
  restartOk: boolean;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;

export async function measureHibernation(
  total = Number(process.env.SANDBOX_BENCH_AGENTS ?? 1_000_000),
): Promise<HibernationFigures> {
  const store = mkdtempSync(join(tmpdir(), 'bench-hibernation-'));
  const counter = new Uint8Array(readFileSync(agentPath('counter')));
  const increment = (i: number) => (i % 97) + 1;
  try {
    let sandbox = new Sandbox({ hibernation: { store, maxResident: 8192, idleMs: 0, checkpointMs: 0 } });
    const agents: Agent[] = new Array(total);
    const slice = 10_000;
    let t = performance.now();
    for (let i = 0; i < total; i += slice) {
      const loads = [];
      for (let j = i; j < Math.min(total, i + slice); j++)
        loads.push(sandbox.load(counter, { key: `counter-${j}` }).then((a) => (agents[j] = a)));
      await Promise.all(loads);
    }
    const loadMs = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < total; i += slice) {
      const runs = [];
      for (let j = i; j < Math.min(total, i + slice); j++) runs.push(agents[j]!.run({ by: increment(j) }));
      for (const r of await Promise.all(runs))
        if (r.status !== 'ok') throw new Error(`a first run failed: ${r.status} ${r.message}`);
      if (i % 100_000 === 0)
        console.error(
          `  ${i + slice} agents ran (${((performance.now() - t) / 1000).toFixed(1)} s), RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`,
        );
    }
    const runMs = performance.now() - t;
    const rssMB = process.memoryUsage().rss / 2 ** 20;
    const residency = sandbox.residency();
    const hibernateUs = (residency.writeMs * 1000) / Math.max(1, residency.hibernations);

    const wakes: number[] = [];
    const trips: number[] = [];
    for (let n = 0; n < 2000; n++) {
      const i = Math.floor(Math.random() * total);
      const started = performance.now();
      const r = await agents[i]!.run({ by: 0 });
      trips.push(performance.now() - started);
      if ((r.output as { count: number }).count !== increment(i))
        throw new Error(`agent ${i} woke with ${JSON.stringify(r.output)}, not ${increment(i)}`);
      if (r.wakeMs !== undefined) wakes.push(r.wakeMs);
    }
    wakes.sort((a, b) => a - b);
    trips.sort((a, b) => a - b);
    await sandbox.close();
    const storeMB = Number(execFileSync('du', ['-sm', store], { encoding: 'utf8' }).split('\t')[0]);

    sandbox = new Sandbox({ hibernation: { store } });
    let restartOk = true;
    for (let n = 0; n < 200; n++) {
      const i = Math.floor(Math.random() * total);
      const agent = await sandbox.load(counter, { key: `counter-${i}` });
      const r = await agent.run({ by: 0 });
      if ((r.output as { count: number }).count !== increment(i)) restartOk = false;
      agent.close(); // the same key may be drawn again
    }
    await sandbox.close();

    const figures: HibernationFigures = {
      agents: total,
      loadPerSec: (total / loadMs) * 1000,
      firstRunPerSec: (total / runMs) * 1000,
      rssMB,
      storeMB,
      wakeP50Ms: quantile(wakes, 0.5),
      wakeP99Ms: quantile(wakes, 0.99),
      runP99Ms: quantile(trips, 0.99),
      hibernateUs,
      restartOk,
    };
    console.error(`  woken ${wakes.length} of 2000 sampled (the rest were resident)`);
    return figures;
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const f = await measureHibernation();
  console.log('\n| measure | value |\n|---|---:|');
  console.log(`| counter agents with state | ${f.agents.toLocaleString('en-US')} |`);
  console.log(`| loads/s | ${f.loadPerSec.toFixed(0)} |`);
  console.log(`| first runs/s (init + run + hibernate) | ${f.firstRunPerSec.toFixed(0)} |`);
  console.log(`| RSS | ${f.rssMB.toFixed(0)} MB |`);
  console.log(`| store on disk | ${f.storeMB} MB |`);
  console.log(`| wake p50 / p99 (in the worker) | ${f.wakeP50Ms.toFixed(3)} / ${f.wakeP99Ms.toFixed(3)} ms |`);
  console.log(`| one run of a hibernated agent, p99 round trip | ${f.runP99Ms.toFixed(3)} ms |`);
  console.log(`| hibernate (encode + queue the write) | ${f.hibernateUs.toFixed(1)} µs |`);
  console.log(`| counts intact after a restart | ${f.restartOk} |`);
  console.log(JSON.stringify({ suite: 'hibernation', ...f }));
}
