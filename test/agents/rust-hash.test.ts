// The Rust `hash-rust` agent through the Sandbox: FNV-1a 64 of splitmix64 bytes, checked against a reference.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../../runtime/index.ts';
import { ISOLATIONS } from '../support/engines.ts';
import type { Agent } from '../../runtime/index.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const hashWasm = resolve(repoRoot, 'agents', 'build', 'hash-rust.wasm');

const MASK = (1n << 64n) - 1n;

/** The agent's documented algorithm, written independently with BigInt. */
function referenceHash(n: number, seed: bigint): string {
  let state = seed & MASK;
  let hash = 0xcbf29ce484222325n;
  let produced = 0;
  while (produced < n) {
    state = (state + 0x9e3779b97f4a7c15n) & MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    z ^= z >> 31n;
    for (let i = 0; i < 8 && produced < n; i++, produced++) {
      hash = ((hash ^ ((z >> BigInt(8 * i)) & 0xffn)) * 0x100000001b3n) & MASK;
    }
  }
  return hash.toString(16).padStart(16, '0');
}

describe.each(ISOLATIONS)('rust agent: hash-rust (%s)', (isolation) => {
  let sandbox: Sandbox;
  let agent: Agent;

  beforeAll(async () => {
    sandbox = new Sandbox({ workers: 1, isolation });
    agent = await sandbox.load(hashWasm, { limits: { timeoutMs: 20_000 } });
  });

  afterAll(async () => {
    await sandbox?.close();
  });

  async function hashOf(n: number, seed: number | bigint): Promise<string> {
    const r = await agent.run({ n, seed });
    expect(r.status).toBe('ok');
    const output = r.output as { hash: string; n: number };
    expect(output.n).toBe(n);
    expect(output.hash).toMatch(/^[0-9a-f]{16}$/);
    return output.hash;
  }

  it('hashes zero bytes to the FNV-1a offset basis', async () => {
    expect(await hashOf(0, 1)).toBe('cbf29ce484222325');
  });

  it('is deterministic for a seed', async () => {
    const first = await hashOf(100_000, 42);
    expect(await hashOf(100_000, 42)).toBe(first);
  });

  it('differs across seeds and lengths', async () => {
    const hashes = new Set([
      await hashOf(4096, 1),
      await hashOf(4096, 2),
      await hashOf(4096, 3),
      await hashOf(4095, 1),
    ]);
    expect(hashes.size).toBe(4);
  });

  it.each([
    [1, 0n],
    [7, 1n],
    [8, 2n],
    [1000, 12345n],
    // Crosses the agent's 16 KiB chunk boundary and ends inside a word.
    [16 * 1024 + 13, 9n],
    [3000, (1n << 63n) + 5n],
  ])('matches the reference for n=%i seed=%s', async (n, seed) => {
    expect(await hashOf(n, seed)).toBe(referenceHash(n, seed));
  });

  it.each([
    ['missing seed', { n: 10 }],
    ['missing n', { seed: 1 }],
    ['negative n', { n: -5, seed: 1 }],
    ['string seed', { n: 5, seed: 'x' }],
  ])('fails with status error on %s', async (_what, input) => {
    const r = await agent.run(input);
    expect(r.status).toBe('error');
    expect(r.errorCode).toBe(2);
  });
});
