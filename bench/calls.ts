// bench/calls: warm calls per second of `vowels` through agent.run, beside Extism's count_vowels and a raw V8 call.
//
// All three do the same task on the same input in one process, so the ratios hold on a noisy machine:
// - sandbox: agent.run({text}) on an instrumented module in a worker (fuel, depth, memory cap, timeout on),
//   many calls in flight (pipelined) and one at a time (sequential, latency-bound);
// - extism: @extism/extism 2.0.0-rc13 running count_vowels from ../shared/anchors/extism/code.wasm;
// - raw: the uninstrumented vowels.wasm called in this thread with no limits: encode input, alloc, handle,
//   decode output, the same work agent.run does minus the sandbox.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox } from '../runtime/index.ts';
import { decode, encode } from '../runtime/codec.ts';
import { agentPath, repoRoot, sharedDir } from '../test/support/paths.ts';
import { pluginCallRates } from './_plugin-calls.ts';

const INPUT = { text: 'Hello World' };
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

async function rate(label: string, fn: (n: number) => Promise<void> | void, unit = 1000): Promise<number> {
  await fn(unit); // warm up
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < SECONDS * 1000) {
    await fn(unit);
    calls += unit;
  }
  const perSec = calls / ((performance.now() - started) / 1000);
  console.error(`  ${label}: ${Math.round(perSec).toLocaleString('en')} calls/s`);
  return perSec;
}

async function sandboxRates(): Promise<{ pipelined: number; sequential: number }> {
  const sandbox = new Sandbox({ workers: 1 });
  const agent = await sandbox.load(agentPath('vowels'));
  const check = await agent.run(INPUT);
  if (check.status !== 'ok') throw new Error(`vowels failed: ${check.message}`);
  const pipelined = await rate('sandbox, 1000 in flight', async (n) => {
    const runs = new Array<Promise<unknown>>(n);
    for (let i = 0; i < n; i++) runs[i] = agent.run(INPUT);
    await Promise.all(runs);
  });
  const sequential = await rate(
    'sandbox, one at a time',
    async (n) => {
      for (let i = 0; i < n; i++) await agent.run(INPUT);
    },
    200,
  );
  await sandbox.close();
  return { pipelined, sequential };
}

async function extismRate(): Promise<number | null> {
  const wasm = join(sharedDir, 'anchors', 'extism', 'code.wasm');
  if (!existsSync(wasm)) {
    console.error(`  extism: skipped, ${wasm} not found`);
    return null;
  }
  const { default: createPlugin } = await import('@extism/extism');
  const plugin = await createPlugin({ wasm: [{ data: readFileSync(wasm) }] }, { useWasi: true });
  const out = await plugin.call('count_vowels', INPUT.text);
  if (out?.json().count !== 3) throw new Error('extism count_vowels gave an unexpected answer');
  const perSec = await rate(
    'extism 2.0.0-rc13, one at a time',
    async (n) => {
      for (let i = 0; i < n; i++) await plugin.call('count_vowels', INPUT.text);
    },
    100,
  );
  await plugin.close();
  return perSec;
}

async function rawRate(): Promise<number> {
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
  return rate('raw V8 call (uninstrumented, in-thread)', (n) => {
    for (let i = 0; i < n; i++) {
      const input = encode(INPUT);
      const ptr = alloc(input.length);
      new Uint8Array(memory.buffer, ptr, input.length).set(input);
      if (handle(ptr, input.length) !== 0) throw new Error('raw vowels failed');
      decode(lastOutput);
    }
  });
}

console.error(`bench/calls: vowels("Hello World"), ${SECONDS}s per measurement (repo ${repoRoot.split('/').pop()})`);
const sandbox = await sandboxRates();
const extism = await extismRate();
const raw = await rawRate();
const plugins = await pluginCallRates(); // Extism's code.wasm run by the sandbox, and host-function round trips (bench/_plugin-calls.ts)

const rows = [
  ['sandbox agent.run, pipelined', sandbox.pipelined],
  ['sandbox agent.run, sequential', sandbox.sequential],
  ['extism plugin.call', extism],
  ['raw V8 call', raw],
] as const;
console.log('\n| runner | calls/s | vs extism | vs raw |\n|---|---:|---:|---:|');
for (const [name, perSec] of rows) {
  const fmt = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(2)}×`);
  console.log(`| ${name} | ${perSec === null ? 'n/a' : Math.round(perSec).toLocaleString('en')} | ${fmt(perSec !== null && extism ? perSec / extism : null)} | ${fmt(perSec !== null ? perSec / raw : null)} |`);
}
console.log(
  JSON.stringify({
    suite: 'calls',
    sandboxPerSec: Math.round(sandbox.pipelined),
    sandboxSequentialPerSec: Math.round(sandbox.sequential),
    extismPerSec: extism === null ? null : Math.round(extism),
    rawPerSec: Math.round(raw),
    vsExtism: extism === null ? null : Number((sandbox.pipelined / extism).toFixed(2)),
    rawOverSandbox: Number((raw / sandbox.pipelined).toFixed(2)),
    plugins,
  }),
);
