// Benchmark: the triage agent end to end through the memory queue and the dispatcher (publish → run → events → ack).
import { join } from 'node:path';
import { encode } from '../runtime/codec.ts';
import { createQueue } from '../runtime/queue/index.ts';
import type { PublishMessage } from '../runtime/queue/types.ts';
import { startSwarm } from '../runtime/swarm/index.ts';
import { loadTopology } from '../runtime/swarm/topology.ts';
import { triageRecords } from './_triage-records.ts';

const root = join(import.meta.dirname, '..');
const RECORDS = Number(process.argv[2] ?? 100_000);

const messages: PublishMessage[] = triageRecords(RECORDS).map((r) => ({ topic: 'logs.app', payload: encode(r) }));

async function run(concurrency: number): Promise<{ perSec: number; events: number; ms: number }> {
  const topology = await loadTopology(join(root, 'examples', 'sandbox.yaml'));
  topology.agents[0]!.concurrency = concurrency;
  const queue = await createQueue('memory');
  const swarm = await startSwarm(topology, { queue, workers: concurrency });
  let alerts = 0;
  await queue.subscribe('alerts.>', () => void alerts++);
  const started = performance.now();
  for (let i = 0; i < messages.length; i += 1000) await queue.publishMany(messages.slice(i, i + 1000));
  const stats = () => swarm.dispatcher.stats()[0]!;
  while (stats().acked + stats().deadLettered < RECORDS) await new Promise((r) => setTimeout(r, 5));
  const ms = performance.now() - started;
  const events = stats().eventsPublished;
  await swarm.stop();
  await queue.close();
  if (alerts !== events) throw new Error(`published ${events} events but the subscriber saw ${alerts}`);
  return { perSec: Math.round(RECORDS / (ms / 1000)), events, ms };
}

const rows: string[][] = [];
let best = 0;
for (const concurrency of [1, 2]) {
  const r = await run(concurrency);
  best = Math.max(best, r.perSec);
  rows.push([
    `triage, concurrency ${concurrency}`,
    String(RECORDS),
    String(r.events),
    r.ms.toFixed(0),
    r.perSec.toLocaleString('en-US'),
    Math.round(r.events / (r.ms / 1000)).toLocaleString('en-US'),
  ]);
}
const header = ['what', 'records', 'alert events', 'ms', 'records/s', 'events/s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
console.log(JSON.stringify({ suite: 'triage', triagePerSec: best }));
