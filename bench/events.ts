// bench/events: the cost of carrying emitted events from guest memory to the publisher, as bytes (now) vs decoded and re-encoded twice (before).
//
// Both paths take the same triage-alert-sized payloads through the same steps in one process, interleaved:
// - bytes (the landed path): check the MessagePack structure at `emit` and copy the bytes out of guest memory;
//   splice them into the worker's completion batch as bins (packCompletions); unpack the batch on the host
//   (unpackCompletions, one copy per event); hand `event.bytes` to publish.
// - decoded (the path before): decode at `emit`; encode the decoded events in the batch; decode the batch on the
//   host; encode each payload again for publish.
// No threads or queues: only what differs between the two. `npm run bench -- events [events per batch]`.
import { EmittedEvent, keepEventBytes } from '../runtime/agent/event.ts';
import { hostOutcome, type GuestOutcome } from '../runtime/agent/outcome.ts';
import { checkMessagePack, decode, decodeTrusted, encode } from '../runtime/codec.ts';
import { packCompletions, unpackCompletions } from '../runtime/worker/batch-codec.ts';

const PER_BATCH = Number(process.argv[2] ?? 128);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);

// What triage emits for an error burst: a small map of strings and numbers.
const payloads = Array.from({ length: PER_BATCH }, (_, i) =>
  encode({
    service: `db/main.eu w${i % 7}`,
    level: 'error',
    count: 5 + (i % 3),
    windowMs: 5000,
    ts: 1_700_000_000_000 + i,
    msg: 'connection reset by peer',
  }),
);
const guestMemory = new Uint8Array(64 * 1024);
const offsets: number[] = [];
let at = 0;
for (const p of payloads) {
  guestMemory.set(p, at);
  offsets.push(at);
  at += p.length;
}
const view = (i: number) => guestMemory.subarray(offsets[i]!, offsets[i]! + payloads[i]!.length);

function outcome(events: GuestOutcome['events']): GuestOutcome {
  return { ...hostOutcome('ok', 'wasm'), events };
}

let sink = 0;

function bytesPath(): void {
  const events: EmittedEvent[] = [];
  for (let i = 0; i < PER_BATCH; i++) {
    const v = view(i);
    if (checkMessagePack(v) !== null) throw new Error('not MessagePack');
    events.push(new EmittedEvent('alerts.db', keepEventBytes(v)));
  }
  const [back] = unpackCompletions(packCompletions([{ seq: 1, result: outcome(events) }]));
  for (const e of back!.result.events) sink += e.bytes.length;
}

function decodedPath(): void {
  const events: { topic: string; payload: unknown }[] = [];
  for (let i = 0; i < PER_BATCH; i++) events.push({ topic: 'alerts.db', payload: decode(view(i)) });
  // The batch carried the decoded events in the completion's extra map.
  const batch = encode([{ events }]);
  const [extra] = decodeTrusted(batch) as [{ events: { topic: string; payload: unknown }[] }];
  for (const e of extra.events) sink += encode(e.payload).length;
}

function eventsPerSec(path: () => void): number {
  const end = performance.now() + SECONDS * 1000;
  let batches = 0;
  while (performance.now() < end) {
    path();
    batches++;
  }
  return (batches * PER_BATCH) / SECONDS;
}

// Warm both, then alternate so machine noise hits both alike; best of five each.
eventsPerSec(bytesPath);
eventsPerSec(decodedPath);
let bytes = 0;
let decoded = 0;
for (let round = 0; round < 5; round++) {
  bytes = Math.max(bytes, eventsPerSec(bytesPath));
  decoded = Math.max(decoded, eventsPerSec(decodedPath));
}
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`| path (${PER_BATCH} events per batch, ${payloads[0]!.length}-byte payloads) | events/s |`);
console.log('|---|---:|');
console.log(`| decoded and re-encoded twice (before) | ${fmt(decoded)} |`);
console.log(`| guest bytes carried through (now) | ${fmt(bytes)} (${(bytes / decoded).toFixed(2)}×) |`);
console.log(JSON.stringify({ suite: 'events', perBatch: PER_BATCH, bytesPerSec: bytes, decodedPerSec: decoded }));
if (sink === 0) console.log('(nothing carried)');
