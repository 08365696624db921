// bench/swarm-per-key: `counter` with one instance per key through startSwarm (memory queue, hibernation) vs one fixed counter.
//
// 1. Per-key: N keys (default 100,000; SANDBOX_BENCH_KEYS overrides), one message each (every key's first: a load and
//    a first run), then a second message each (every key wakes from the store, maxResident 8192), then a stop (every
//    state written) and a restart that checks 200 random keys' counts.
// 2. Side by side: the same 2N messages through a fixed `counter` (one instance, concurrency 1): what per-key costs.
// 0. First, in a fresh swarm: density. 10,000 keys (SANDBOX_BENCH_RESIDENT overrides) one message each, all of them
//    resident (maxResident above that): the process's RSS, and RSS per resident agent (the growth from the first
//    key to the last, divided by the keys).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../runtime/codec.ts';
import { createQueue } from '../runtime/queue/index.ts';
import { startSwarm, type Swarm } from '../runtime/swarm/index.ts';
import { parseTopology } from '../runtime/swarm/topology.ts';
import { agentPath } from '../test/support/paths.ts';

export interface PerKeyFigures {
  /** Density: keys resident at once, the process's RSS then, and its growth per resident agent. */
  residentKeys: number;
  residentRssMB: number;
  residentKBPerAgent: number;
  keys: number;
  firstPassPerSec: number;
  wakePassPerSec: number;
  fixedPerSec: number;
  perKeyVsFixed: number;
  stopMs: number;
  rssMB: number;
  resident: number;
  hibernated: number;
  restartOk: boolean;
}

const increment = (i: number) => (i % 97) + 1;
// (The counter's wall clock is raised from 1 s: on a loaded 2-core machine a first run queued behind thousands of
// instantiations and GC pauses once timed out, and pass() then failed the whole bench; no run of it loops.)
const SLICE = 10_000;

function topology(store: string, perKey: boolean, maxResident = 8192) {
  return parseTopology(
    `${perKey ? `hibernation: { store: ${JSON.stringify(store)}, maxResident: ${maxResident}, idleMs: 0, checkpointMs: 1000 }\n` : ''}agents:
  - name: counter
    module: ${JSON.stringify(agentPath('counter'))}
    subscribe: counts.>
    limits: { timeoutMs: 30000 }
${perKey ? '    instances: per-key\n' : ''}`,
    { baseDir: store },
  );
}

async function start(
  store: string,
  perKey: boolean,
  onOutput?: (key: string, count: number) => void,
  maxResident?: number,
): Promise<Swarm> {
  const queue = await createQueue('memory');
  return startSwarm(topology(store, perKey, maxResident), {
    queue,
    ...(onOutput
      ? { onRun: (_a, m, r) => void (r.status === 'ok' && onOutput(m.key!, (r.output as { count: number }).count)) }
      : {}),
  });
}

/** Publishes one message per key (`by` = increment(i), or 0) and waits until the swarm is idle; returns messages/s. */
async function pass(swarm: Swarm, keys: number, by: (i: number) => number, from = 0): Promise<number> {
  const t = performance.now();
  for (let i = from; i < keys; i += SLICE) {
    const batch = [];
    for (let j = i; j < Math.min(keys, i + SLICE); j++)
      batch.push({ topic: 'counts.x', payload: encode({ by: by(j) }), key: `customer-${j}` });
    await swarm.queue.publishMany(batch);
  }
  await swarm.dispatcher.whenIdle(20);
  const ms = performance.now() - t - 20;
  const [s] = swarm.dispatcher.stats();
  if (s!.runs.ok !== s!.acked || s!.retried !== 0 || s!.deadLettered !== 0)
    throw new Error(`failed runs: ${JSON.stringify(s)}`);
  return ((keys - from) / ms) * 1000;
}

/** RSS with `keys` counter agents resident at once: after the first key (workers started, module compiled) and after all. */
async function density(keys: number): Promise<{ rssMB: number; kbPerAgent: number }> {
  const store = mkdtempSync(join(tmpdir(), 'bench-per-key-density-'));
  try {
    const swarm = await start(store, true, undefined, 2 * keys); // (split over the workers, unevenly)
    await pass(swarm, 1, increment);
    const first = process.memoryUsage().rss;
    await pass(swarm, keys, increment, 1);
    const rss = process.memoryUsage().rss;
    const { resident } = swarm.sandbox.residency();
    if (resident !== keys) throw new Error(`${resident} agents resident, not ${keys}`);
    await stopSwarm(swarm);
    return { rssMB: rss / 2 ** 20, kbPerAgent: (rss - first) / 1024 / (keys - 1) };
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
}

async function stopSwarm(swarm: Swarm): Promise<number> {
  const t = performance.now();
  await swarm.stop();
  await swarm.queue.close();
  return performance.now() - t;
}

export async function measurePerKey(
  keys = Number(process.env.SANDBOX_BENCH_KEYS ?? 100_000),
  residentKeys = Number(process.env.SANDBOX_BENCH_RESIDENT ?? 10_000),
): Promise<PerKeyFigures> {
  const dense = await density(residentKeys);
  console.error(
    `  ${residentKeys} resident: RSS ${dense.rssMB.toFixed(0)} MB, ${dense.kbPerAgent.toFixed(1)} KB per resident agent`,
  );
  const store = mkdtempSync(join(tmpdir(), 'bench-per-key-'));
  try {
    let swarm = await start(store, true);
    const firstPassPerSec = await pass(swarm, keys, increment);
    console.error(
      `  first pass: ${keys} keys loaded and run, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`,
    );
    const wakePassPerSec = await pass(swarm, keys, increment);
    const rssMB = process.memoryUsage().rss / 2 ** 20;
    const { resident, hibernated } = swarm.sandbox.residency();
    const stopMs = await stopSwarm(swarm);

    const seen = new Map<string, number>();
    swarm = await start(store, true, (key, count) => seen.set(key, count));
    const sample = Array.from({ length: 200 }, () => Math.floor(Math.random() * keys));
    await swarm.queue.publishMany(
      sample.map((i) => ({ topic: 'counts.x', payload: encode({ by: 0 }), key: `customer-${i}` })),
    );
    await swarm.dispatcher.whenIdle(20);
    const restartOk = sample.every((i) => seen.get(`customer-${i}`) === 2 * increment(i));
    await stopSwarm(swarm);

    swarm = await start(store, false);
    const fixedFirst = await pass(swarm, keys, increment);
    const fixedSecond = await pass(swarm, keys, increment);
    await stopSwarm(swarm);
    const fixedPerSec = 2 / (1 / fixedFirst + 1 / fixedSecond);
    const perKeyPerSec = 2 / (1 / firstPassPerSec + 1 / wakePassPerSec);
    return {
      residentKeys,
      residentRssMB: dense.rssMB,
      residentKBPerAgent: dense.kbPerAgent,
      keys,
      firstPassPerSec,
      wakePassPerSec,
      fixedPerSec,
      perKeyVsFixed: perKeyPerSec / fixedPerSec,
      stopMs,
      rssMB,
      resident,
      hibernated,
      restartOk,
    };
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const f = await measurePerKey();
  console.log('\n| measure | value |\n|---|---:|');
  console.log(
    `| RSS with ${f.residentKeys.toLocaleString('en-US')} resident counter agents (per-key, in a fresh swarm) | ${f.residentRssMB.toFixed(0)} MB, ${f.residentKBPerAgent.toFixed(1)} KB per agent |`,
  );
  console.log(`| keys (one counter instance each) | ${f.keys.toLocaleString('en-US')} |`);
  console.log(
    `| per-key, first message of each key (load + run + hibernate) | ${f.firstPassPerSec.toFixed(0)} msgs/s |`,
  );
  console.log(
    `| per-key, second message of each key (wake + run + hibernate) | ${f.wakePassPerSec.toFixed(0)} msgs/s |`,
  );
  console.log(`| fixed counter, same messages (one instance) | ${f.fixedPerSec.toFixed(0)} msgs/s |`);
  console.log(`| per-key / fixed | ${f.perKeyVsFixed.toFixed(2)}× |`);
  console.log(`| RSS after both passes | ${f.rssMB.toFixed(0)} MB |`);
  console.log(`| resident / hibernated | ${f.resident} / ${f.hibernated} |`);
  console.log(
    `| stop (drain, close ${f.keys.toLocaleString('en-US')} instances, write states) | ${f.stopMs.toFixed(0)} ms |`,
  );
  console.log(`| counts intact after a restart (200 sampled) | ${f.restartOk} |`);
  console.log(JSON.stringify({ suite: 'swarm-per-key', ...f }));
}
