// The emulator under `node --jitless` (where it translates some instructions differently) against V8 in this process.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { diffObservations, meteredModule, observeEngine, type CallObservations, type Difference } from './compare.ts';
import type { FuzzFunc } from './generate.ts';
import type { JitlessJob } from './jitless-child.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'jitless-child.ts');

export interface JitlessModule {
  seed: number;
  bytes: Uint8Array;
  funcs: FuzzFunc[];
}

/** Differences per module (same order), comparing V8 here with the emulator in one `node --jitless` child. */
export function compareJitless(modules: readonly JitlessModule[], calls: number): Difference[][] {
  const metered = modules.map((m) => meteredModule(m.bytes));
  const jobs: JitlessJob[] = modules.map((m, k) => ({
    bytes: Buffer.from(m.bytes).toString('base64'),
    metered: Buffer.from(metered[k] as Uint8Array).toString('base64'),
    funcs: m.funcs,
    seed: m.seed,
    calls,
  }));
  const child = spawnSync(process.execPath, ['--jitless', '--import', 'tsx', CHILD], {
    input: JSON.stringify(jobs),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`the --jitless child failed (${child.status}): ${child.stderr.slice(-2000)}`);
  const reply = JSON.parse(child.stdout) as { jitless: boolean; results: (CallObservations[] | { error: string })[] };
  if (!reply.jitless) throw new Error('the child ran with WebAssembly: not under --jitless');
  return modules.map((m, k) => {
    const emu = reply.results[k] as CallObservations[] | { error: string };
    if (!Array.isArray(emu))
      return [{ call: -1, fn: '', args: '', what: 'the emulator under --jitless threw', left: '', right: emu.error }];
    const v8 = observeEngine(WebAssembly, m.bytes, metered[k] as Uint8Array, m.funcs, m.seed, calls);
    return diffObservations(v8, emu, 'emulator --jitless');
  });
}
