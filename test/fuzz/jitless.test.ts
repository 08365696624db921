// Differential fuzzing of the emulator's --jitless translations (a child process) against V8, on fixed seeds.

import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { readCorpus } from './corpus.ts';
import { generateModule } from './generate.ts';
import { compareJitless, type JitlessModule } from './jitless.ts';

/** Fewer than in-process: the emulator without a JIT is two orders of magnitude slower. */
const MODULES = 16;

describe('differential fuzzing under node --jitless', () => {
  it(`the emulator without a JIT agrees with V8 on ${MODULES} generated modules and every kept finding`, async () => {
    const modules: JitlessModule[] = [];
    for (let seed = 1001; seed < 1001 + MODULES; seed++) {
      const m = generateModule(seed);
      modules.push({ seed, bytes: await parse(m.wat), funcs: m.funcs });
    }
    for (const entry of readCorpus()) modules.push({ seed: 1, bytes: await parse(entry.wat), funcs: entry.funcs });
    const found = compareJitless(modules, 12);
    found.forEach((differences, k) => expect(differences, `module ${k} (seed ${modules[k]?.seed})`).toEqual([]));
  }, 120_000);
});
