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
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string } }).waitAsync;

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

async function measure(label: string, once: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 2000; i++) await once();
  const lat: number[] = [];
  const started = performance.now();
  while (performance.now() - started < SECONDS * 1000) {
    const t = performance.now();
    await once();
    lat.push((performance.now() - t) * 1000);
  }
  lat.sort((a, b) => a - b);
  const perSec = lat.length / SECONDS;
  console.error(`  ${label}: ${Math.round(perSec).toLocaleString('en')} round trips/s, p50 ${lat[lat.length >> 1]!.toFixed(1)} µs, p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(1)} µs`);
  return perSec;
}

async function postMessageRate(): Promise<number> {
  const worker = new Worker(workerSource, { eval: true, workerData: { mode: 'post' } });
  const payload = new Uint8Array(16);
  let resolve: () => void = () => {};
  worker.on('message', () => resolve());
  const rate = await measure('postMessage', () => new Promise<void>((r) => ((resolve = r), worker.postMessage(payload))));
  await worker.terminate();
  return rate;
}

async function sabRate(mode: 'async' | 'spin'): Promise<number> {
  const sab = new SharedArrayBuffer(8);
  const w = new Int32Array(sab);
  const worker = new Worker(workerSource, { eval: true, workerData: { mode, sab } });
  let n = 0;
  const rate = await measure(mode === 'async' ? 'SAB, waitAsync both sides' : 'SAB, worker spins then Atomics.wait', async () => {
    n++;
    Atomics.store(w, 0, n);
    Atomics.notify(w, 0);
    while (Atomics.load(w, 1) !== n) {
      const r = waitAsync(w, 1, n - 1);
      if (r.async) await r.value;
    }
  });
  Atomics.store(w, 0, -1);
  Atomics.notify(w, 0);
  await worker.terminate();
  return rate;
}

console.error(`bench/channel: one round trip to a worker, one at a time, ${SECONDS}s each`);
const post = await postMessageRate();
const async = await sabRate('async');
const spin = await sabRate('spin');
console.log(`\n| channel | round trips/s | vs postMessage |\n|---|---:|---:|`);
for (const [name, r] of [['postMessage', post], ['SAB + waitAsync (both sides)', async], ['SAB, worker spin + Atomics.wait', spin]] as const) {
  console.log(`| ${name} | ${Math.round(r).toLocaleString('en')} | ${(r / post).toFixed(2)}× |`);
}
console.log(JSON.stringify({ suite: 'channel', postMessagePerSec: Math.round(post), sabWaitAsyncPerSec: Math.round(async), sabSpinPerSec: Math.round(spin) }));
