// bench/calls, Extism rows: Extism's own code.wasm count_vowels run by the sandbox (inline and worker) beside @extism/extism,
// and the round trip of a host function called from a guest (`sandbox.call`), sync and async, inline and worker.
//
// Fairness: the same binary and the same input, one call at a time, fuel and every other limit on in the sandbox.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox } from '../runtime/index.ts';
import { ExtismKernel } from '../host/extism/kernel.ts';
import { HostFault } from '../host/run-context.ts';
import { agentPath, sharedDir } from '../test/support/paths.ts';

const TEXT = 'Hello World';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

async function perSecond(label: string, call: () => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < 200; i++) await call(); // warm up
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < SECONDS * 1000) {
    for (let i = 0; i < 100; i++) await call();
    calls += 100;
  }
  const rate = calls / ((performance.now() - started) / 1000);
  console.error(`  ${label}: ${Math.round(rate).toLocaleString('en')} calls/s`);
  return rate;
}

export interface PluginFigures {
  /** count_vowels calls per second. */
  extism: number | null;
  sandboxInline: number | null;
  sandboxInlineSync: number | null;
  sandboxWorker: number | null;
  /** The uninstrumented module called in this thread with our kernel and no limits: the plugin's own cost. */
  raw: number | null;
  /** Microseconds per `sandbox.call` round trip, beyond the run that makes them. */
  hostCallUs: { inlineSync: number; workerSync: number; workerAsync: number };
}

/** One run making `n` calls minus one making none, over n: the cost of a call, not of the run around it. */
async function roundTripUs(run: (n: number) => Promise<unknown>): Promise<number> {
  const N = 2000;
  for (let i = 0; i < 20; i++) await run(N); // warm up
  const median = async (n: number) => {
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t = performance.now();
      await run(n);
      times.push(performance.now() - t);
    }
    return times.sort((a, b) => a - b)[7]!;
  };
  return (((await median(N)) - (await median(0))) * 1000) / N;
}

export async function pluginCallRates(): Promise<PluginFigures> {
  const wasm = join(sharedDir, 'anchors', 'extism', 'code.wasm');
  const figures: PluginFigures = {
    extism: null,
    sandboxInline: null,
    sandboxInlineSync: null,
    sandboxWorker: null,
    raw: null,
    hostCallUs: { inlineSync: 0, workerSync: 0, workerAsync: 0 },
  };
  if (existsSync(wasm)) {
    const bytes = readFileSync(wasm);
    const sandbox = new Sandbox({ workers: 1 });
    const expected = '{"count":3,"total":';
    for (const isolation of ['inline', 'worker'] as const) {
      const agent = await sandbox.load(bytes, { isolation, limits: { timeoutMs: 10_000 } });
      const check = await agent.call('count_vowels', TEXT);
      if (check.status !== 'ok' || !check.output?.text().startsWith(expected))
        throw new Error(`count_vowels (${isolation}) failed: ${check.message ?? check.output?.text()}`);
      const rate = await perSecond(`sandbox ${isolation}, code.wasm count_vowels, one at a time`, () =>
        agent.call('count_vowels', TEXT),
      );
      if (isolation === 'inline') {
        figures.sandboxInline = rate;
        figures.sandboxInlineSync = await perSecond('sandbox inline, callSync, code.wasm count_vowels', () =>
          agent.callSync('count_vowels', TEXT),
        );
      } else figures.sandboxWorker = rate;
      agent.close();
    }
    await sandbox.close();
    const kernel = new ExtismKernel(
      { config: {}, maxBytes: 1 << 24, maxVarBytes: 1 << 20 },
      { fault: (_s, m) => new HostFault(m), log: () => {} },
    );
    const raw = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
      'extism:host/env': kernel.imports(),
    } as WebAssembly.Imports);
    const countVowels = raw.exports.count_vowels as () => number;
    const input = new TextEncoder().encode(TEXT);
    figures.raw = await perSecond(
      'raw V8 call of code.wasm with our kernel (uninstrumented, no limits, in-thread)',
      () => {
        kernel.begin(input);
        countVowels();
        return kernel.output;
      },
    );
    const { default: createPlugin } = await import('@extism/extism');
    const plugin = await createPlugin({ wasm: [{ data: bytes }] }, { useWasi: false });
    figures.extism = await perSecond('extism 2.0.0-rc13, code.wasm count_vowels, one at a time', () =>
      plugin.call('count_vowels', TEXT),
    );
    await plugin.close();
  } else {
    console.error(`  extism rows: skipped, ${wasm} not found`);
  }

  const sandbox = new Sandbox({ workers: 1 });
  const host = { 'bench.sync': (x: number) => x, 'bench.async': async (x: number) => x };
  const limits = { timeoutMs: 10_000, maxHostCalls: 10_000 };
  const inline = await sandbox.load(agentPath('host-caller'), { isolation: 'inline', host, limits });
  const worker = await sandbox.load(agentPath('host-caller'), { host, limits });
  const runs = (agent: typeof worker, name: string) => async (n: number) => {
    const r = await agent.run({ call: name, arg: 1, times: n });
    if (r.status !== 'ok') throw new Error(`host-caller ${name}: ${r.status} ${r.message}`);
  };
  figures.hostCallUs.inlineSync = await roundTripUs(runs(inline, 'bench.sync'));
  figures.hostCallUs.workerSync = await roundTripUs(runs(worker, 'bench.sync'));
  figures.hostCallUs.workerAsync = await roundTripUs(runs(worker, 'bench.async'));
  await sandbox.close();

  const fmt = (x: number | null) => (x === null ? 'n/a' : Math.round(x).toLocaleString('en'));
  const vs = (x: number | null) =>
    x === null || figures.extism === null ? 'n/a' : `${(x / figures.extism).toFixed(2)}×`;
  console.log(
    '\n| Extism code.wasm count_vowels("Hello World"), one at a time | calls/s | vs @extism/extism |\n|---|---:|---:|',
  );
  console.log(`| sandbox, isolation inline (fuel on) | ${fmt(figures.sandboxInline)} | ${vs(figures.sandboxInline)} |`);
  console.log(
    `| sandbox, isolation inline, callSync (fuel on) | ${fmt(figures.sandboxInlineSync)} | ${vs(figures.sandboxInlineSync)} |`,
  );
  console.log(`| sandbox, isolation worker (fuel on) | ${fmt(figures.sandboxWorker)} | ${vs(figures.sandboxWorker)} |`);
  console.log(`| @extism/extism 2.0.0-rc13 | ${fmt(figures.extism)} | 1.00× |`);
  console.log(`| raw V8 call with our kernel (uninstrumented, no limits) | ${fmt(figures.raw)} | ${vs(figures.raw)} |`);
  console.log('\n| host function round trip (`sandbox.call`) | µs per call |\n|---|---:|');
  console.log(`| inline, sync host function | ${figures.hostCallUs.inlineSync.toFixed(2)} |`);
  console.log(`| worker, sync host function | ${figures.hostCallUs.workerSync.toFixed(2)} |`);
  console.log(`| worker, async host function | ${figures.hostCallUs.workerAsync.toFixed(2)} |`);
  return figures;
}
