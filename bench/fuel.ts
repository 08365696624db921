// Benchmark `fuel`: slowdown of instrumented over original agents on V8, and instrumenter throughput on a large module.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { pack, unpack } from 'msgpackr';
import { instrument, instrumentWithReport } from '../runtime/module/instrument.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Compare steady states: straight to TurboFan, so a background tier-up that a busy machine delays cannot make
// one side of a pair look slow (it did: a 0.66x "speed-up" that was the original still running in Liftoff).
// scripts/bench.mjs passes --no-liftoff on the command line: set at run time, after V8 has started, Node 26's V8
// aborts ("Check failed: function_feedback") once TurboFan compiles the metered code.
if (!process.execArgv.includes('--no-liftoff')) setFlagsFromString('--no-liftoff');

interface Case {
  agent: string;
  what: string;
  input: Record<string, number>;
}

// inputs sized so one run takes tens of milliseconds on V8
const CASES: Case[] = [
  { agent: 'bench-loop', what: 'AS integer loop', input: { n: 40_000_000 } },
  { agent: 'bench-hash', what: 'AS byte hashing', input: { n: 30_000_000 } },
  { agent: 'bench-strings', what: 'AS strings/maps (GC)', input: { n: 60_000 } },
  { agent: 'bench-matmul', what: 'AS f64 matrix multiply', input: { n: 240 } },
  { agent: 'fib', what: 'Rust fib (call-bound)', input: { n: 31 } },
  { agent: 'hash-rust', what: 'Rust hashing', input: { n: 16_000_000, seed: 7 } },
];

const ROUNDS = Number(process.env['FUEL_BENCH_ROUNDS'] ?? 15);

/** A raw harness per docs/abi.md: stub imports, MessagePack input through sandbox_alloc, sandbox_handle. */
function harness(
  bytes: Uint8Array<ArrayBuffer>,
  metered: boolean,
): { run(input: unknown): { rc: number; output: unknown; fuel: bigint } } {
  let memory: WebAssembly.Memory | undefined;
  let output: unknown = null;
  const imports = {
    sandbox: {
      output: (ptr: number, len: number) => {
        output = unpack(new Uint8Array(memory!.buffer, ptr, len).slice());
        return 0;
      },
      emit: () => 0,
      log: () => 0,
      now: () => 0n,
      random: () => 0,
    },
    env: {
      abort: () => {
        throw new Error('guest aborted');
      },
      trace: () => {},
      seed: () => 42,
    },
  };
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
  const e = instance.exports as Record<string, unknown>;
  memory = e['memory'] as WebAssembly.Memory;
  const fuel = e['__sandbox_fuel'] as WebAssembly.Global | undefined;
  const depth = e['__sandbox_depth'] as WebAssembly.Global | undefined;
  const flags = e['__sandbox_flags'] as WebAssembly.Global | undefined;
  const LIMIT = 1n << 60n;
  const arm = (): void => {
    if (!metered) return;
    fuel!.value = LIMIT;
    depth!.value = 10_000;
    flags!.value = 0;
  };
  arm();
  if (typeof e['__sandbox_start'] === 'function') (e['__sandbox_start'] as () => void)();
  if (typeof e['sandbox_init'] === 'function') (e['sandbox_init'] as () => void)();
  return {
    run(input) {
      output = null;
      arm();
      const msg = pack(input);
      const ptr = (e['sandbox_alloc'] as (n: number) => number)(msg.length);
      new Uint8Array(memory!.buffer, ptr, msg.length).set(msg);
      if (metered) depth!.value = 10_000; // the depth is set before every call into the guest
      const rc = (e['sandbox_handle'] as (p: number, n: number) => number)(ptr, msg.length);
      return { rc, output, fuel: metered ? LIMIT - (fuel!.value as bigint) : 0n };
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Other processes only ever add time, so the fastest of several runs is the best estimate of the true cost. */
function best(xs: number[]): number {
  return Math.min(...xs);
}

/** CPU time of fn in ms: on a shared machine it is far steadier than wall time, and it is what the meter costs. */
function time(fn: () => void): number {
  const t = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t);
  return (d.user + d.system) / 1000;
}

interface Row {
  agent: string;
  what: string;
  originalMs: number;
  instrumentedMs: number;
  slowdown: number;
  fuel: string;
}

const rows: Row[] = [];
const notes: string[] = [];
for (const c of CASES) {
  const file = path.join(root, 'agents', 'build', `${c.agent}.wasm`);
  if (!existsSync(file)) {
    notes.push(`${c.agent}: agents/build/${c.agent}.wasm is missing (npm run build:agents); skipped`);
    continue;
  }
  const original = new Uint8Array(readFileSync(file));
  const metered = instrument(original);
  const a = harness(original, false);
  const b = harness(metered, true);
  // warm up both tiers and check they agree
  const ra = a.run(c.input);
  const rb = b.run(c.input);
  for (let i = 0; i < 2; i++) {
    a.run(c.input);
    b.run(c.input);
  }
  if (ra.rc !== 0 || rb.rc !== 0 || JSON.stringify(ra.output) !== JSON.stringify(rb.output)) {
    notes.push(
      `${c.agent}: original and instrumented disagree (${ra.rc} ${JSON.stringify(ra.output)} vs ${rb.rc} ${JSON.stringify(rb.output)}); skipped`,
    );
    continue;
  }
  const ta: number[] = [];
  const tb: number[] = [];
  let fuel = 0n;
  for (let i = 0; i < ROUNDS; i++) {
    // alternate, so drift in machine load hits both sides alike
    ta.push(time(() => a.run(c.input)));
    tb.push(time(() => (fuel = b.run(c.input).fuel)));
  }
  const ma = best(ta);
  const mb = best(tb);
  rows.push({
    agent: c.agent,
    what: c.what,
    originalMs: ma,
    instrumentedMs: mb,
    slowdown: mb / ma,
    fuel: fuel.toString(),
  });
}

// instrumenter throughput on the largest core module shipped with jco (wasm-tools)
function findLargeModule(): string | null {
  const base = path.join(root, 'node_modules', '@bytecodealliance');
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 6 || !existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p, depth + 1);
      else if (name.endsWith('.wasm') && st.size > 1_000_000) found.push(p);
    }
  };
  walk(base, 0);
  const preferred = found.find((p) => p.endsWith('wasm-tools.core.wasm'));
  return preferred ?? found[0] ?? null;
}

let instrumentMBps: number | null = null;
let rewriteMBps: number | null = null;
let instrumentWallMBps: number | null = null;
let firstCallMs: number | null = null;
let largeName = '';
const large = findLargeModule();
if (large) {
  const bytes = readFileSync(large);
  largeName = `${path.basename(large)} (${(bytes.length / 1e6).toFixed(2)} MB)`;
  const t0 = performance.now();
  instrument(bytes);
  firstCallMs = performance.now() - t0;
  for (let i = 0; i < 3; i++) instrument(bytes);
  const full: number[] = [];
  const fullWall: number[] = [];
  const rewriteOnly: number[] = [];
  for (let i = 0; i < 9; i++) {
    let wall = 0;
    full.push(time(() => (wall = instrumentWithReport(bytes).report.ms)));
    fullWall.push(wall);
    rewriteOnly.push(time(() => instrumentWithReport(bytes, { validate: () => true })));
  }
  instrumentMBps = bytes.length / 1e6 / (best(full) / 1000);
  instrumentWallMBps = bytes.length / 1e6 / (median(fullWall) / 1000);
  rewriteMBps = bytes.length / 1e6 / (best(rewriteOnly) / 1000);
} else {
  notes.push('no >1 MB core module under node_modules/@bytecodealliance; instrumenter throughput not measured');
}

const geomean = rows.length ? Math.exp(rows.reduce((s, r) => s + Math.log(r.slowdown), 0) / rows.length) : null;
const worst = rows.length ? Math.max(...rows.map((r) => r.slowdown)) : null;

console.log(
  `fuel: instrumented vs original on V8 (node ${process.version}, TurboFan only), best CPU time of ${ROUNDS} alternating runs; load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} on ${availableParallelism()} cores`,
);
console.log('agent          workload                   original ms  metered ms  slowdown  fuel used');
for (const r of rows) {
  console.log(
    `${r.agent.padEnd(14)} ${r.what.padEnd(26)} ${r.originalMs.toFixed(1).padStart(11)} ${r.instrumentedMs.toFixed(1).padStart(11)} ${r.slowdown.toFixed(3).padStart(8)}x  ${r.fuel}`,
  );
}
if (geomean !== null)
  console.log(
    `geomean slowdown ${geomean.toFixed(3)}x (target <= 1.10x), worst ${worst!.toFixed(3)}x (target <= 1.6x)`,
  );
if (instrumentMBps !== null) {
  console.log(
    `instrumenter on ${largeName}: ${instrumentMBps.toFixed(1)} MB/s CPU with validation (${instrumentWallMBps!.toFixed(1)} MB/s median wall clock), ` +
      `${rewriteMBps!.toFixed(1)} MB/s rewrite only, first (cold) call ${firstCallMs!.toFixed(0)} ms (target >= 20 MB/s)`,
  );
}
for (const n of notes) console.log(`note: ${n}`);
const round = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000);
console.log(
  JSON.stringify({
    suite: 'fuel',
    geomeanSlowdown: round(geomean),
    worstSlowdown: round(worst),
    instrumentMBps: round(instrumentMBps),
  }),
);
