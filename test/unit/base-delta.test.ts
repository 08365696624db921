// Moving a reused memory between states by its delta from the base: exact, and without committing pages nobody uses.
import { describe, expect, it } from 'vitest';
import { copyRuns, revertToBase } from '../../runtime/hibernation/base-delta.ts';
import { applyState, differingRuns, encodeState, readStateImage } from '../../runtime/hibernation/state-image.ts';

/** A deterministic generator, so a failure names a seed that reproduces it. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A memory like an agent's: mostly zero pages, with data and heap here and there. */
function scribble(memory: Uint8Array, next: () => number, writes: number): void {
  for (let i = 0; i < writes; i++) {
    const at = Math.floor(next() * memory.length);
    const length = Math.min(memory.length - at, 1 + Math.floor(next() * 40));
    for (let j = 0; j < length; j++) memory[at + j] = next() < 0.2 ? 0 : Math.floor(next() * 256);
  }
}

/** Where two memories first differ (-1: equal), or their lengths when those differ: fast on 64 KiB, unlike toEqual. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))) return -1;
  return a.findIndex((x, i) => x !== b[i]);
}

describe('base deltas', () => {
  it('revert a memory to the base exactly, from its known delta or block by block', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const next = random(seed);
      const base = new Uint8Array(65536);
      scribble(base, next, 20);
      // Memory longer than the base (it grew) on some seeds: past the base it reverts to zeros.
      const memory = new Uint8Array(seed % 4 === 0 ? 131072 : 65536);
      memory.set(base);
      scribble(memory, next, 1 + Math.floor(next() * 60));
      const known = differingRuns(memory, base);
      const byDelta = memory.slice();
      revertToBase(byDelta, base, known);
      const byBlocks = memory.slice();
      revertToBase(byBlocks, base, null);
      const expected = new Uint8Array(memory.length);
      expected.set(base);
      expect(firstDifference(byDelta, expected), `seed ${seed}`).toBe(-1);
      expect(firstDifference(byBlocks, expected), `seed ${seed}`).toBe(-1);
      // And back: the runs of the delta, copied from the memory, rebuild it.
      copyRuns(byDelta, memory, known);
      expect(firstDifference(byDelta, memory), `seed ${seed}`).toBe(-1);
    }
  });

  it("moves a reused memory from one agent's state to another's exactly, given the first one's delta", () => {
    for (let seed = 100; seed < 140; seed++) {
      const next = random(seed);
      const base = new Uint8Array(65536);
      scribble(base, next, 20);
      const states = [0, 1].map(() => {
        const m = base.slice();
        scribble(m, next, 1 + Math.floor(next() * 30));
        return m;
      });
      const images = states.map((m) => encodeState('h', m, base, [seed]));
      // The instance held state 0, woken from its image: applyState says where it differs from the base.
      const instance = new Uint8Array(65536).fill(0xee);
      const first = readStateImage(images[0]!);
      const delta = applyState(images[0]!, first.patchesAt, base, instance, null);
      expect(firstDifference(instance, states[0]!), `seed ${seed}`).toBe(-1);
      const second = readStateImage(images[1]!);
      applyState(images[1]!, second.patchesAt, base, instance, delta);
      expect(firstDifference(instance, states[1]!), `seed ${seed}`).toBe(-1);
    }
  });

  // Issue 17 (density): a restore copied the whole base into the instance, which commits every page of a fresh
  // memory. Restoring into a fresh 128 MiB memory whose base is zero but for a few bytes must commit a few pages.
  it('restores into a fresh memory without committing the pages that stay zero', () => {
    const pages = 2048; // 128 MiB
    const base = new Uint8Array(pages * 65536);
    base[100] = 1;
    const state = new Uint8Array(base.length); // (not a slice: copying would commit it)
    state[100] = 1;
    state[70_000_000] = 7;
    const image = encodeState('h', state, base, []);
    const header = readStateImage(image);
    const memory = new WebAssembly.Memory({ initial: pages });
    const before = process.memoryUsage().rss;
    applyState(image, header.patchesAt, base, new Uint8Array(memory.buffer), null);
    const grewMB = (process.memoryUsage().rss - before) / 2 ** 20;
    expect(new Uint8Array(memory.buffer)[70_000_000]).toBe(7);
    expect(new Uint8Array(memory.buffer)[100]).toBe(1);
    expect(grewMB).toBeLessThan(32); // a whole copy commits 128
  });
});
