// Differential fuzzing in `npm test`: a fixed-seed corpus of generated modules and every kept finding, on V8 and the emulator, original and instrumented.

import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { compareModule } from './compare.ts';
import { readCorpus } from './corpus.ts';
import { generateModule } from './generate.ts';

/** Enough modules to cover every generator shape; under a minute together on the shared 2-core machine. */
const MODULES = 300;
const CALLS = 12;

describe('differential fuzzing: V8 and the emulator, original and instrumented', () => {
  it(`agrees on ${MODULES} generated modules (seeds 1..${MODULES})`, async () => {
    let calls = 0;
    let traps = 0;
    for (let seed = 1; seed <= MODULES; seed++) {
      const m = generateModule(seed);
      const bytes = await parse(m.wat);
      const r = compareModule(bytes, m.funcs, seed, CALLS);
      expect(r.differences, `seed ${seed}: npm run fuzz -- --seed ${seed} --seconds 0`).toEqual([]);
      calls += r.calls;
      traps += r.traps;
    }
    expect(calls).toBe(MODULES * CALLS);
    // Both paths must be exercised, or agreement proves little.
    expect(traps).toBeGreaterThan(calls / 10);
    expect(calls - traps).toBeGreaterThan(calls / 3);
  }, 120_000);

  it.each(readCorpus().map((e) => [e.name, e] as const))('agrees on the kept finding %s', async (_name, entry) => {
    const bytes = await parse(entry.wat);
    for (let seed = 1; seed <= 4; seed++) expect(compareModule(bytes, entry.funcs, seed, 16).differences).toEqual([]);
  });
});
