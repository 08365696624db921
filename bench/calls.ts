// bench/calls: warm calls per second and per-call latency of `vowels`, inline and in a worker, beside Extism's count_vowels and a raw V8 call.
//
// All of them do the same task on the same input in one process, so the ratios hold on a noisy machine:
// - inline: agent.run / agent.runSync on an instrumented module on this thread (fuel, depth, memory cap, deadline
//   checked at host calls), one call at a time;
// - worker: agent.run on the same module in a worker thread, one `await` at a time (through the shared-memory run
//   channel, and by postMessage as before it: SANDBOX_RUN_CHANNEL=off) and 1,000 in flight;
// - extism: @extism/extism 2.0.0-rc13 running count_vowels from ../shared/anchors/extism/code.wasm, one at a time;
// - raw: the uninstrumented vowels.wasm called in this thread with no limits: encode input, alloc, handle,
//   decode output, the same work agent.run does minus the sandbox.
// Each row gets a rate slice (no timer per call) and a shorter latency slice (p50/p99 per call; for 1,000 in
// flight, from submission to answer) in every round; the rows take turns, round after round.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox } from '../runtime/index.ts';
import { decode, encode } from '../runtime/codec.ts';
import { agentPath, repoRoot, sharedDir } from '../test/support/paths.ts';
import { pluginCallRates } from './_plugin-calls.ts';

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

interface Subject {
  label: string;
  fn: Runner;
  /** Calls per step: a step is timed as a whole for the rate. */
  unit: number;
  rates: number[];
  samples: number[];
}

/**
 * The machine is shared and its load moves by the second, so the rows take turns: ROUNDS rounds, each giving every
 * row a slice of the time in the same order. A row's rate is the median of its rounds; its latency percentiles
 * come from all its timed calls.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

function subject(label: string, fn: Runner, unit = 1000): Subject {
  return { label, fn, unit, rates: [], samples: [] };
}

async function slice(s: Subject): Promise<void> {
  let calls = 0;
  let started = performance.now();
  while (performance.now() - started < (SECONDS * 1000) / ROUNDS) {
    await s.fn(s.unit);
    calls += s.unit;
  }
  s.rates.push(calls / ((performance.now() - started) / 1000));
  const lat = new Float64Array(s.unit);
  started = performance.now();
  while (performance.now() - started < (LATENCY_SECONDS * 1000) / ROUNDS) {
    await s.fn(s.unit, lat);
    for (const x of lat) s.samples.push(x);
  }
}

function summary(s: Subject): Row {
  const rates = [...s.rates].sort((a, b) => a - b);
  const samples = s.samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  const row = { perSec: rates[rates.length >> 1]!, p50: at(0.5), p99: at(0.99) };
  console.error(
    `  ${s.label}: ${Math.round(row.perSec).toLocaleString('en')} calls/s (rounds ${rates.map((r) => Math.round(r / 1000)).join(', ')} k), p50 ${row.p50.toFixed(1)} µs, p99 ${row.p99.toFixed(1)} µs`,
  );
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
  if (r.status !== 'ok' || (r.output as { count?: number }).count !== 3)
    throw new Error(`vowels failed: ${r.status} ${r.message ?? ''}`);
}

/** Runs `call` `n` times; with `lat`, times each call. */
const loop =
  (call: () => unknown): Runner =>
  (n, lat) => {
    if (!lat) {
      for (let i = 0; i < n; i++) call();
      return;
    }
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      call();
      lat[i] = (performance.now() - t) * 1000;
    }
  };

async function inlineSubjects(sandbox: Sandbox): Promise<[Subject, Subject]> {
  const agent = await sandbox.load(agentPath('vowels'), { isolation: 'inline' });
  check(await agent.run(INPUT));
  check(agent.runSync(INPUT));
  return [
    subject(
      'inline, await agent.run one at a time',
      sequential(() => agent.run(INPUT)),
    ),
    subject(
      'inline, agent.runSync',
      loop(() => agent.runSync(INPUT)),
    ),
  ];
}

/** The same one-at-a-time worker row with every run sent by postMessage (SANDBOX_RUN_CHANNEL=off): the before. */
async function postMessageSubject(): Promise<{ subject: Subject; close: () => Promise<void> }> {
  process.env['SANDBOX_RUN_CHANNEL'] = 'off';
  const sandbox = new Sandbox({ workers: 1 });
  delete process.env['SANDBOX_RUN_CHANNEL'];
  const agent = await sandbox.load(agentPath('vowels'));
  check(await agent.run(INPUT));
  return {
    subject: subject(
      'worker, await agent.run one at a time, by postMessage',
      sequential(() => agent.run(INPUT)),
      200,
    ),
    close: () => sandbox.close(),
  };
}

async function workerSubjects(sandbox: Sandbox): Promise<[Subject, Subject]> {
  const agent = await sandbox.load(agentPath('vowels'), { isolation: 'worker' });
  check(await agent.run(INPUT));
  const concurrent = subject('worker, 1000 in flight', async (n, lat) => {
    const runs = new Array<Promise<unknown>>(n);
    const t = performance.now();
    for (let i = 0; i < n; i++)
      runs[i] = lat ? agent.run(INPUT).then(() => (lat[i] = (performance.now() - t) * 1000)) : agent.run(INPUT);
    await Promise.all(runs);
  });
  return [
    subject(
      'worker, await agent.run one at a time',
      sequential(() => agent.run(INPUT)),
      200,
    ),
    concurrent,
  ];
}

async function extismSubject(): Promise<{ subject: Subject; close: () => Promise<void> } | null> {
  const wasm = join(sharedDir, 'anchors', 'extism', 'code.wasm');
  if (!existsSync(wasm)) {
    console.error(`  extism: skipped, ${wasm} not found`);
    return null;
  }
  const { default: createPlugin } = await import('@extism/extism');
  const plugin = await createPlugin({ wasm: [{ data: readFileSync(wasm) }] }, { useWasi: true });
  const out = await plugin.call('count_vowels', INPUT.text);
  if (out?.json().count !== 3) throw new Error('extism count_vowels gave an unexpected answer');
  return {
    subject: subject(
      'extism 2.0.0-rc13, one at a time',
      sequential(() => plugin.call('count_vowels', INPUT.text)),
      100,
    ),
    close: () => plugin.close(),
  };
}

async function rawSubject(): Promise<Subject> {
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
    env: {
      abort: () => {
        throw new Error('abort');
      },
      trace: noop,
      seed: () => Date.now(),
    },
  });
  let lastOutput = new Uint8Array();
  const exports = instance.exports as Record<string, any>;
  const memory = exports.memory as WebAssembly.Memory;
  const alloc = exports.sandbox_alloc as (n: number) => number;
  const handle = exports.sandbox_handle as (p: number, n: number) => number;
  (exports.sandbox_init as (() => void) | undefined)?.();
  return subject(
    'raw V8 call (uninstrumented, in-thread)',
    loop(() => {
      const input = encode(INPUT);
      const ptr = alloc(input.length);
      new Uint8Array(memory.buffer, ptr, input.length).set(input);
      if (handle(ptr, input.length) !== 0) throw new Error('raw vowels failed');
      return decode(lastOutput);
    }),
  );
}

console.error(
  `bench/calls: vowels("Hello World"), ${ROUNDS} rounds, ${SECONDS}s of rate and ${LATENCY_SECONDS}s of latency per row (repo ${repoRoot.split('/').pop()})`,
);
const sandbox = new Sandbox({ workers: 1 });
const [inlineS, inlineSyncS] = await inlineSubjects(sandbox);
const [workerS, workerConcurrentS] = await workerSubjects(sandbox);
const postS = await postMessageSubject();
const extismS = await extismSubject();
const rawS = await rawSubject();
const subjects = [
  inlineS,
  inlineSyncS,
  workerS,
  postS.subject,
  workerConcurrentS,
  ...(extismS ? [extismS.subject] : []),
  rawS,
];
for (const s of subjects) await s.fn(s.unit); // warm up
for (let round = 0; round < ROUNDS; round++) for (const s of subjects) await slice(s);
const [inline, inlineSync, worker, workerConcurrent] = [inlineS, inlineSyncS, workerS, workerConcurrentS].map(
  summary,
) as [Row, Row, Row, Row];
const viaPost = summary(postS.subject);
const extism = extismS ? summary(extismS.subject) : null;
const raw = summary(rawS);
await extismS?.close();
await postS.close();
await sandbox.close();
const plugins = await pluginCallRates(); // Extism's code.wasm run by the sandbox, and host-function round trips (bench/_plugin-calls.ts)

const rows: [string, Row | null, string][] = [
  ['inline, await agent.run one at a time', inline, '≥ 8×'],
  ['inline, agent.runSync', inlineSync, '≥ 12×'],
  ['worker, await agent.run one at a time (shared-memory channel)', worker, '≥ 1.5×'],
  ['worker, await agent.run one at a time, by postMessage (before)', viaPost, ''],
  ['worker, 1,000 in flight', workerConcurrent, '≥ 20×'],
  ['extism plugin.call, one at a time', extism, ''],
  ['raw V8 call (uninstrumented)', raw, ''],
];
const fmt = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(2)}×`);
console.log(
  '\n| runner | calls/s | p50 µs | p99 µs | vs extism | target | vs raw |\n|---|---:|---:|---:|---:|---|---:|',
);
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
    workerPostMessagePerSec: per(viaPost),
    extismPerSec: per(extism),
    rawPerSec: per(raw),
    plugins,
  }),
);
