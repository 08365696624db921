// `npm run fuzz -- --seconds N`: a differential and decoder fuzzing campaign; every failing input is written to a file with its reproduction.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from '@bytecodealliance/jco';
import { rng } from '../support/rng.ts';
import { compareModule, type Difference } from './compare.ts';
import { findingText, readFinding } from './corpus.ts';
import { checkMessagePackBytes, checkModuleBytes, type DecoderFinding } from './decoders.ts';
import { generateModule } from './generate.ts';
import { compareJitless, type JitlessModule } from './jitless.ts';
import { mutate } from './mutate.ts';
import { messagePackDocument } from './values.ts';

const HELP = `usage: npm run fuzz -- [--seconds N] [--seed S] [--calls C] [--out DIR] [--replay FILE]

  --seconds N   run for N seconds (default 60); 0 runs the one module of --seed and stops
  --seed S      first module seed (default: from the clock); seeds S, S+1, ... follow
  --calls C     exported calls per module (default 16)
  --out DIR     where failing inputs go (default .fuzz-findings, git-ignored)
  --replay FILE run one kept finding (a .wat from --out or test/fuzz/corpus) and print its differences

Each module seed runs the differential comparison (V8 and the emulator, original and instrumented), then 8
damaged copies of the module through the module decoders and 40 damaged MessagePack documents through the
host's readers. Every 20th module also goes, in batches, to the emulator in a \`node --jitless\` child, whose
translations differ. Exit code 1 when anything was found.`;

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    calls: { type: 'string', default: '16' },
    out: { type: 'string', default: '.fuzz-findings' },
    replay: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (opts.help) {
  console.log(HELP);
  process.exit(0);
}

const calls = Number(opts.calls);
const outDir = path.resolve(opts.out);

if (opts.replay !== undefined) {
  const entry = readFinding(opts.replay);
  const bytes = await parse(entry.wat);
  let found = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const r = compareModule(bytes, entry.funcs, seed, calls);
    for (const d of r.differences.slice(0, 5)) console.log(`call seed ${seed}:`, d);
    found += r.differences.length;
  }
  const jitless = compareJitless([{ seed: 1, bytes, funcs: entry.funcs }], calls)[0] ?? [];
  for (const d of jitless.slice(0, 5)) console.log('under --jitless:', d);
  found += jitless.length;
  console.log(found === 0 ? 'no differences' : `${found} differences`);
  process.exit(found === 0 ? 0 : 1);
}

const seconds = Number(opts.seconds);
const firstSeed = opts.seed !== undefined ? Number(opts.seed) : Date.now() % 1_000_000_000;
if (!Number.isFinite(seconds) || seconds < 0 || !Number.isInteger(firstSeed) || !(calls > 0)) {
  console.error(HELP);
  process.exit(2);
}

/** Any one damaged input taking longer than this is a finding (inputs are at most a few KiB). */
const SLOW_MS = 2000;
const stats = {
  modules: 0,
  calls: 0,
  traps: 0,
  jitlessModules: 0,
  moduleMutations: 0,
  messagePackInputs: 0,
  findings: 0,
  seeds: '',
};
const started = Date.now();
const deadline = started + seconds * 1000;
let lastReport = started;

function record(kind: string, seed: number, file: string, content: string | Uint8Array, summary: string): void {
  mkdirSync(outDir, { recursive: true });
  const where = path.join(outDir, file);
  writeFileSync(where, content);
  stats.findings++;
  const replay =
    kind === 'engines'
      ? `npm run fuzz -- --replay ${path.relative(process.cwd(), where)}`
      : `npm run fuzz -- --seed ${seed} --seconds 0`;
  console.log(`FOUND ${kind} (seed ${seed}): ${summary}\n  written to ${where}\n  reproduce: ${replay}`);
}

const showDiffs = (ds: Difference[]): string =>
  ds
    .slice(0, 3)
    .map((d) => `${d.fn}(${d.args}) ${d.what}: ${d.left} != ${d.right}`)
    .join('; ');
const showFindings = (fs: DecoderFinding[]): string => fs.map((f) => `${f.decoder}: ${f.error}`).join('; ');

const JITLESS_EVERY = 20;
const JITLESS_BATCH = 10;
let jitlessBatch: (JitlessModule & { wat: string })[] = [];
function runJitless(): void {
  if (jitlessBatch.length === 0) return;
  const batch = jitlessBatch;
  jitlessBatch = [];
  let found: ReturnType<typeof compareJitless>;
  try {
    found = compareJitless(batch, calls);
  } catch (e) {
    record(
      'jitless',
      batch[0]!.seed,
      `jitless-${batch[0]!.seed}.txt`,
      (e as Error).stack ?? String(e),
      `the --jitless child failed: ${(e as Error).message.slice(0, 300)}`,
    );
    return;
  }
  stats.jitlessModules += batch.length;
  found.forEach((ds, k) => {
    const m = batch[k]!;
    if (ds.length > 0)
      record(
        'jitless',
        m.seed,
        `jitless-${m.seed}.wat`,
        findingText(m.wat, m.funcs, `seed ${m.seed} under --jitless: ${showDiffs(ds)}`),
        showDiffs(ds),
      );
  });
}

let seed = firstSeed;
do {
  const m = generateModule(seed);
  let bytes: Uint8Array;
  try {
    bytes = await parse(m.wat);
  } catch (e) {
    record(
      'generator',
      seed,
      `generator-${seed}.wat`,
      m.wat,
      `the generator made an invalid module: ${(e as Error).message.slice(0, 300)}`,
    );
    seed++;
    continue;
  }
  try {
    const r = compareModule(bytes, m.funcs, seed, calls);
    stats.modules++;
    stats.calls += r.calls;
    stats.traps += r.traps;
    if (r.differences.length > 0) {
      record(
        'engines',
        seed,
        `engines-${seed}.wat`,
        findingText(m.wat, m.funcs, `seed ${seed}: ${showDiffs(r.differences)}`),
        showDiffs(r.differences),
      );
    }
  } catch (e) {
    record(
      'engines',
      seed,
      `engines-${seed}.wat`,
      findingText(m.wat, m.funcs, `seed ${seed}: threw ${(e as Error).stack}`),
      `threw ${(e as Error).message}`,
    );
  }
  if (seed % JITLESS_EVERY === 0) jitlessBatch.push({ seed, bytes, funcs: m.funcs, wat: m.wat });
  if (jitlessBatch.length >= JITLESS_BATCH) runJitless();
  const rnd = rng(seed * 7919);
  for (let k = 0; k < 8; k++) {
    const damaged = mutate(bytes, rnd);
    stats.moduleMutations++;
    const t0 = performance.now();
    const fs = checkModuleBytes(damaged);
    // A decoder that loops on damaged bytes shows as a slow input long before it would stall a campaign.
    if (performance.now() - t0 > SLOW_MS)
      fs.push({ decoder: 'module decoders', error: `took ${Math.round(performance.now() - t0)} ms` });
    if (fs.length > 0) record('module decoder', seed, `module-${seed}-${k}.wasm`, damaged, showFindings(fs));
  }
  for (let k = 0; k < 40; k++) {
    const damaged = mutate(messagePackDocument(rnd), rnd);
    stats.messagePackInputs++;
    const t0 = performance.now();
    const fs = checkMessagePackBytes(damaged);
    if (performance.now() - t0 > SLOW_MS)
      fs.push({ decoder: 'MessagePack readers', error: `took ${Math.round(performance.now() - t0)} ms` });
    if (fs.length > 0) record('msgpack', seed, `msgpack-${seed}-${k}.bin`, damaged, showFindings(fs));
  }
  seed++;
  if (Date.now() - lastReport > 60_000) {
    lastReport = Date.now();
    console.log(`${Math.round((lastReport - started) / 1000)} s: ${JSON.stringify(stats)}`);
  }
} while (Date.now() < deadline);
runJitless();

stats.seeds = `${firstSeed}..${seed - 1}`;
console.log(JSON.stringify({ seconds: Math.round((Date.now() - started) / 1000), ...stats }));
process.exit(stats.findings === 0 ? 0 : 1);
