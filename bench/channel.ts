// bench/channel: one request/response round trip to a worker thread, by postMessage vs a SharedArrayBuffer word with Atomics.
//
// The floor under "worker, one `await agent.run` at a time" in bench/calls: no guest code, only the hop. Rows:
// - postMessage: host posts 16 bytes, worker posts them back (what WorkerHost does per run today);
// - SAB + waitAsync both sides: host stores and notifies, awaits Atomics.waitAsync; the worker sleeps in
//   Atomics.waitAsync too, so it keeps its event loop (timers, hibernation, control messages);
// - SAB, worker spins then waits: the worker blocks in Atomics.wait (its event loop stalls while it waits).
import { Worker } from 'node:worker_threads';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

/** Atomics.waitAsync (ES2024; in Node since 16), typed here because the project's lib predates it. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { mode, sab } = workerData;
const w = sab ? new Int32Array(sab) : null;
if (mode === 'post') {
  parentPort.on('message', (m) => parentPort.postMessage(m));
} else if (mode === 'async') {
  setInterval(() => {}, 1 << 30); // Atomics.waitAsync alone does not keep a thread's event loop alive
  let seen = 0;
  const loop = () => {
    for (;;) {
      const v = Atomics.load(w, 0);
      if (v !== seen) { seen = v; Atomics.store(w, 1, v); Atomics.notify(w, 1); continue; }
      const r = Atomics.waitAsync(w, 0, seen);
      if (r.async) { r.value.then(loop); return; }
    }
  };
  loop();
} else {
  let seen = 0;
  for (;;) {
    let v = Atomics.load(w, 0);
    for (let i = 0; i < 2000 && v === seen; i++) v = Atomics.load(w, 0);
    if (v === seen) { Atomics.wait(w, 0, seen); continue; }
    seen = v;
    if (v < 0) break;
    Atomics.store(w, 1, v);
    Atomics.notify(w, 1);
  }
}
`;

interface Channel {
  label: string;
  once: () => Promise<void>;
  close: () => Promise<void>;
  rates: number[];
  lat: number[];
}

/** The rows take turns over ROUNDS rounds (the machine's load moves by the second); a row's rate is its median round. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

async function slice(c: Channel): Promise<void> {
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < (SECONDS * 1000) / ROUNDS) {
    const t = performance.now();
    await c.once();
    c.lat.push((performance.now() - t) * 1000);
    n++;
  }
  c.rates.push(n / ((performance.now() - started) / 1000));
}

function summary(c: Channel): number {
  const rates = [...c.rates].sort((a, b) => a - b);
  const lat = c.lat.sort((a, b) => a - b);
  const perSec = rates[rates.length >> 1]!;
  console.error(
    `  ${c.label}: ${Math.round(perSec).toLocaleString('en')} round trips/s (rounds ${rates.map((r) => Math.round(r / 1000)).join(', ')} k), p50 ${lat[lat.length >> 1]!.toFixed(1)} µs, p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(1)} µs`,
  );
  return perSec;
}

function postMessageChannel(): Channel {
  const worker = new Worker(workerSource, { eval: true, workerData: { mode: 'post' } });
  const payload = new Uint8Array(16);
  let resolve: () => void = () => {};
  worker.on('message', () => resolve());
  return {
    label: 'postMessage',
    once: () => new Promise<void>((r) => ((resolve = r), worker.postMessage(payload))),
    close: async () => void (await worker.terminate()),
    rates: [],
    lat: [],
  };
}

function sabChannel(mode: 'async' | 'spin'): Channel {
  const sab = new SharedArrayBuffer(8);
  const w = new Int32Array(sab);
  const worker = new Worker(workerSource, { eval: true, workerData: { mode, sab } });
  let n = 0;
  return {
    label: mode === 'async' ? 'SAB, waitAsync both sides' : 'SAB, worker spins then Atomics.wait',
    once: async () => {
      n++;
      Atomics.store(w, 0, n);
      Atomics.notify(w, 0);
      while (Atomics.load(w, 1) !== n) {
        const r = waitAsync(w, 1, n - 1);
        if (r.async) await r.value;
      }
    },
    close: async () => {
      Atomics.store(w, 0, -1);
      Atomics.notify(w, 0);
      await worker.terminate();
    },
    rates: [],
    lat: [],
  };
}

console.error(`bench/channel: one round trip to a worker, one at a time, ${ROUNDS} rounds, ${SECONDS}s per row`);
const channels = [postMessageChannel(), sabChannel('async'), sabChannel('spin')];
for (const c of channels) for (let i = 0; i < 2000; i++) await c.once(); // warm up
for (let round = 0; round < ROUNDS; round++) for (const c of channels) await slice(c);
const [post, async, spin] = channels.map(summary) as [number, number, number];
for (const c of channels) await c.close();
console.log(`\n| channel | round trips/s | vs postMessage |\n|---|---:|---:|`);
for (const [name, r] of [
  ['postMessage', post],
  ['SAB + waitAsync (both sides)', async],
  ['SAB, worker spin + Atomics.wait', spin],
] as const) {
  console.log(`| ${name} | ${Math.round(r).toLocaleString('en')} | ${(r / post).toFixed(2)}× |`);
}
console.log(
  JSON.stringify({
    suite: 'channel',
    postMessagePerSec: Math.round(post),
    sabWaitAsyncPerSec: Math.round(async),
    sabSpinPerSec: Math.round(spin),
  }),
);
