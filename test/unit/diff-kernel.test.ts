// The SIMD word scan behind hibernation's state writes: the embedded bytes are its WAT source, and it finds exactly what the JavaScript scan finds.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiffKernel } from '../../runtime/hibernation/diff-kernel.ts';
import { differingRuns } from '../../runtime/hibernation/state-image.ts';

/** A deterministic generator (xorshift32), so a failure names a seed that reproduces it. */
function random(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('diff kernel', () => {
  const kernel = DiffKernel.create();

  it('compiles here (V8 has WebAssembly SIMD), from bytes that are diff-kernel.wat compiled', async () => {
    expect(kernel).not.toBeNull();
    const { parse } = await import('@bytecodealliance/jco');
    const wat = readFileSync(new URL('../../runtime/hibernation/diff-kernel.wat', import.meta.url), 'utf8');
    const source = readFileSync(new URL('../../runtime/hibernation/diff-kernel.ts', import.meta.url), 'utf8');
    const embedded = /KERNEL_BASE64 =\s*'([^']+)'/.exec(source)?.[1];
    expect(embedded).toBe(Buffer.from(await parse(wat)).toString('base64'));
  });

  it('names every differing word of a block, in order, against the base or against zeros past its end', () => {
    const base = new Uint8Array(8192).fill(7);
    const memory = new Uint8Array(3 * 4096);
    memory.set(base);
    memory[4096 + 0] = 1; // word 1024
    memory[4096 + 15] = 1; // word 1027
    memory[4096 + 16] = 1; // word 1028 (the next 16-byte chunk)
    memory[8191] = 0; // word 2047
    memory[8192 + 4095] = 9; // past the base: word 3071
    const found = new Int32Array(1024);
    const n1 = kernel!.differingWords(memory, base, 4096, found);
    expect([...found.subarray(0, n1)]).toEqual([1024, 1027, 1028, 2047]);
    const n2 = kernel!.differingWords(memory, base, 8192, found);
    expect([...found.subarray(0, n2)]).toEqual([3071]);
    expect(kernel!.differingWords(memory, base, 0, found)).toBe(0);
  });

  it('gives the same runs as the JavaScript scan on random changes, and follows a change of base', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const next = random(seed);
      const pages = 1 + Math.floor(next() * 3);
      // Some bases end inside a block (tests hand such bases in): that block is scanned in JavaScript.
      const base = new Uint8Array(pages * 65536 - (seed % 3) * 1000);
      for (let i = 0; i < base.length; i += 1 + Math.floor(next() * 64)) base[i] = Math.floor(next() * 256);
      // Memory as long as the base or grown past it; changes as single bytes, short runs, and long runs.
      const memory = new Uint8Array(pages * 65536 + (next() < 0.3 ? 65536 : 0));
      memory.set(base);
      const changes = Math.floor(next() * 200);
      for (let c = 0; c < changes; c++) {
        const at = Math.floor(next() * memory.length);
        const length = next() < 0.9 ? 1 + Math.floor(next() * 12) : Math.floor(next() * 70_000);
        for (let i = at; i < Math.min(memory.length, at + length); i++) memory[i] = (memory[i]! + 1 + (i % 3)) & 0xff;
      }
      const js = differingRuns(memory, base, null);
      const simd = differingRuns(memory, base, kernel);
      expect([...simd], `seed ${seed}`).toEqual([...js]);
    }
  });
});
