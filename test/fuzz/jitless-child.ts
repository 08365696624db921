// Runs under `node --jitless` (no WebAssembly there): the emulator's observations of modules given on stdin, as JSON on stdout.

import { emulator } from '../../runtime/engine/emulator/index.ts';
import { observeEngine } from './compare.ts';
import type { FuzzFunc } from './generate.ts';

/** One module to observe: its bytes and instrumented bytes in base64, and the plan's inputs. */
export interface JitlessJob {
  bytes: string;
  metered: string;
  funcs: FuzzFunc[];
  seed: number;
  calls: number;
}

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const jobs = JSON.parse(Buffer.concat(chunks).toString('utf8')) as JitlessJob[];
const results = jobs.map((j) => {
  try {
    return observeEngine(
      emulator as unknown as typeof WebAssembly,
      Buffer.from(j.bytes, 'base64'),
      Buffer.from(j.metered, 'base64'),
      j.funcs,
      j.seed,
      j.calls,
    );
  } catch (e) {
    return { error: (e as Error).stack ?? String(e) };
  }
});
process.stdout.write(JSON.stringify({ jitless: typeof WebAssembly === 'undefined', results }));
