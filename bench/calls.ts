// bench/calls: warm calls per second and per-call latency of `vowels`, inline and in a worker, beside Extism's count_vowels and a raw V8 call.
//
// All of them do the same task on the same input in one process, so the ratios hold on a noisy machine:
// - inline: agent.run / agent.runSync on an instrumented module on this thread (fuel, depth, memory cap, deadline
//   checked at host calls), one call at a time;
// - worker: agent.run on the same module in a worker thread, one `await` at a time and 1,000 in flight;
// - extism: @extism/extism 2.0.0-rc13 running count_vowels from ../shared/anchors/extism/code.wasm, one at a time;
// - raw: the uninstrumented vowels.wasm called in this thread with no limits: encode input, alloc, handle,
//   decode output, the same work agent.run does minus the sandbox.
// Each row is measured twice: a rate pass (no timer per call) and a shorter latency pass (p50/p99 per call; for
// 1,000 in flight, from submission to answer).
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox } from '../runtime/index.ts';
import { decode, encode } from '../runtime/codec.ts';
import { agentPath, repoRoot, sharedDir } from '../test/support/paths.ts';

const INPUT = { text: 'Hello World' };
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const LATENCY_SECONDS = Math.max(0.25, SECONDS / 4);

interface Row {
  perSec: number;
  p50: number;
  p99: number;
}

/** A runner: `n` calls; with `lat`, each call's latency in µs goes into it. */
type Runner = (n: number, lat?: Float64Array) => Promise<void> | void;

async function measure(label: string, fn: Runner, unit = 1000): Promise<Row> {
  await fn(unit); // warm up
  let calls = 0;
  let started = performance.now();
  while (performance.now() - started < SECONDS * 1000) {
    await fn(unit);
    calls += unit;
  }
  const perSec = calls / ((performance.now() - started) / 1000);
  const samples: number[] = [];
  const lat = new Float64Array(unit);
  started = performance.now();
  while (performance.now() - started < LATENCY_SECONDS * 1000) {
    await fn(unit, lat);
    for (const x of lat) samples.push(x);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  const row = { perSec, p50: at(0.5), p99: at(0.99) };
  console.error(`  ${label}: ${Math.round(perSec).toLocaleString('en')} calls/s, p50 ${row.p50.toFixed(1)} µs, p99 ${row.p99.toFixed(1)} µs`);
  return row;
}

/** One call at a time, awaited: the embedding case (one request, one call). */
const sequential =
  (call: () => Promise<unknown> | unknown): Runner =>
  async (n, lat) => {
    if (!lat) {
      for (let i = 0; i < n; i++) await call();
      return;
    }
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await call();
      lat[i] = (performance.now() - t) * 1000;
    }
  };

function check(r: { status: string; output: unknown; message?: string }): void {
  if (r.status !== 'ok' || (r.output as { count?: number }).count !== 3) throw new Error(`vowels failed: ${r.status} ${r.message ?? ''}`);
}

async function inlineRows(): Promise<{ inline: Row; inlineSync: Row }> {
  const sandbox = new Sandbox({ isolation: 'inline' });
  const agent = await sandbox.load(agentPath('vowels'));
  check(await agent.run(INPUT));
  check(agent.runSync(INPUT));
  const inline = await measure('inline, await agent.run one at a time', sequential(() => agent.run(INPUT)));
  const inlineSync = await measure('inline, agent.runSync', (n, lat) => {
    if (!lat) {
      for (let i = 0; i < n; i++) agent.runSync(INPUT);
      return;
    }
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      agent.runSync(INPUT);
      lat[i] = (performance.now() - t) * 1000;
    }
  });
  await sandbox.close();
  return { inline, inlineSync };
}

async function workerRows(): Promise<{ worker: Row; workerConcurrent: Row }> {
  const sandbox = new Sandbox({ workers: 1 });
  const agent = await sandbox.load(agentPath('vowels'));
  check(await agent.run(INPUT));
  const workerConcurrent = await measure('worker, 1000 in flight', async (n, lat) => {
    const runs = new Array<Promise<unknown>>(n);
    const t = performance.now();
    for (let i = 0; i < n; i++) runs[i] = lat ? agent.run(INPUT).then(() => (lat[i] = (performance.now() - t) * 1000)) : agent.run(INPUT);
    await Promise.all(runs);
  });
  const worker = await measure('worker, await agent.run one at a time', sequential(() => agent.run(INPUT)), 200);
  await sandbox.close();
  return { worker, workerConcurrent };
}

async function extismRow(): Promise<Row | null> {
  const wasm = join(sharedDir, 'anchors', 'extism', 'code.wasm');
  if (!existsSync(wasm)) {
    console.error(`  extism: skipped, ${wasm} not found`);
    return null;
  }
  const { default: createPlugin } = await import('@extism/extism');
  const plugin = await createPlugin({ wasm: [{ data: readFileSync(wasm) }] }, { useWasi: true });
  const out = await plugin.call('count_vowels', INPUT.text);
  if (out?.json().count !== 3) throw new Error('extism count_vowels gave an unexpected answer');
  const row = await measure('extism 2.0.0-rc13, one at a time', sequential(() => plugin.call('count_vowels', INPUT.text)), 100);
  await plugin.close();
  return row;
}

async function rawRow(): Promise<Row> {
  const noop = () => 0;
  const { instance } = await WebAssembly.instantiate(readFileSync(agentPath('vowels')), {
    sandbox: {
      output: (ptr: number, len: number) => {
        lastOutput = new Uint8Array(memory.buffer, ptr, len).slice();
        return 0;
      },
      emit: noop,
      log: noop,
      now: () => BigInt(Date.now()),
      random: noop,
    },
    env: { abort: () => { throw new Error('abort'); }, trace: noop, seed: () => Date.now() },
  });
  let lastOutput = new Uint8Array();
  const exports = instance.exports as Record<string, any>;
  const memory = exports.memory as WebAssembly.Memory;
  const alloc = exports.sandbox_alloc as (n: number) => number;
  const handle = exports.sandbox_handle as (p: number, n: number) => number;
  (exports.sandbox_init as (() => void) | undefined)?.();
  const call = () => {
    const input = encode(INPUT);
    const ptr = alloc(input.length);
    new Uint8Array(memory.buffer, ptr, input.length).set(input);
    if (handle(ptr, input.length) !== 0) throw new Error('raw vowels failed');
    return decode(lastOutput);
  };
  return measure('raw V8 call (uninstrumented, in-thread)', (n, lat) => {
    if (!lat) {
      for (let i = 0; i < n; i++) call();
      return;
    }
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      call();
      lat[i] = (performance.now() - t) * 1000;
    }
  });
}

console.error(`bench/calls: vowels("Hello World"), ${SECONDS}s per rate, ${LATENCY_SECONDS}s per latency (repo ${repoRoot.split('/').pop()})`);
const { inline, inlineSync } = await inlineRows();
const { worker, workerConcurrent } = await workerRows();
const extism = await extismRow();
const raw = await rawRow();

const rows: [string, Row | null, string][] = [
  ['inline, await agent.run one at a time', inline, '≥ 8×'],
  ['inline, agent.runSync', inlineSync, '≥ 12×'],
  ['worker, await agent.run one at a time', worker, '≥ 1.5×'],
  ['worker, 1,000 in flight', workerConcurrent, '≥ 20×'],
  ['extism plugin.call, one at a time', extism, ''],
  ['raw V8 call (uninstrumented)', raw, ''],
];
const fmt = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(2)}×`);
console.log('\n| runner | calls/s | p50 µs | p99 µs | vs extism | target | vs raw |\n|---|---:|---:|---:|---:|---|---:|');
for (const [name, row, target] of rows) {
  if (row === null) {
    console.log(`| ${name} | n/a | | | | | |`);
    continue;
  }
  console.log(
    `| ${name} | ${Math.round(row.perSec).toLocaleString('en')} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${fmt(extism ? row.perSec / extism.perSec : null)} | ${target} | ${fmt(row.perSec / raw.perSec)} |`,
  );
}
const per = (row: Row | null) => (row === null ? null : Math.round(row.perSec));
console.log(
  JSON.stringify({
    suite: 'calls',
    inlinePerSec: per(inline),
    inlineSyncPerSec: per(inlineSync),
    workerPerSec: per(worker),
    workerConcurrentPerSec: per(workerConcurrent),
    extismPerSec: per(extism),
    rawPerSec: per(raw),
  }),
);
