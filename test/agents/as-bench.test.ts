// The AssemblyScript benchmark agents: each checksum matches an independent JavaScript computation of the same work.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MATRIX, sandboxPerBlock } from '../support/engines.ts';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const wasm = (name: string) => resolve(repoRoot, 'agents', 'build', `${name}.wasm`);

function xorshift32(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

function loopChecksum(n: number): number {
  let x = 0x9e3779b9;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    x = xorshift32(x);
    sum = (sum + ((x ^ i) >>> 0)) >>> 0;
  }
  return sum;
}

function hashChecksum(n: number): number {
  const block = new Uint8Array(64 * 1024);
  let seed = 0x12345678;
  for (let i = 0; i < block.length; i++) {
    seed = xorshift32(seed);
    block[i] = seed & 0xff;
  }
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ block[i % block.length]!, 0x01000193) >>> 0;
  return h;
}

function stringsChecksum(n: number): { distinct: number; checksum: number } {
  const counts = new Map<string, number>();
  let checksum = 0;
  for (let i = 0; i < n; i++) {
    const key = `key-${i % 997}`;
    const seen = counts.get(key) ?? 0;
    counts.set(key, seen + 1);
    const line = `${key}:${seen}`;
    checksum = (Math.imul(checksum, 31) + line.length + line.charCodeAt(line.length - 1)) >>> 0;
  }
  return { distinct: counts.size, checksum };
}

function matmulChecksum(n: number): number {
  const a = new Float64Array(n * n);
  const b = new Float64Array(n * n);
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      a[i * n + j] = ((i * 7 + j * 3) % 17) / 8;
      b[i * n + j] = ((i * 5 + j * 11) % 13) / 4;
    }
  }
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      for (let j = 0; j < n; j++) c[i * n + j]! += aik * b[k * n + j]!;
    }
  }
  let sum = 0;
  for (let i = 0; i < n * n; i++) sum += c[i]!;
  return sum;
}

// bench-strings spends about 6000 fuel per round (allocation and incremental GC steps): more than the default allows.
const BENCH_LIMITS = { timeoutMs: 20_000, fuel: 2_000_000_000 };

describe.each(MATRIX)('assemblyscript benchmark agents ($engine, $isolation)', ({ engine, isolation }) => {
  const sandbox = sandboxPerBlock(engine, { isolation });

  async function run(name: string, input: unknown) {
    const agent = await sandbox().load(wasm(name), { limits: BENCH_LIMITS });
    try {
      return await agent.run(input);
    } finally {
      agent.close();
    }
  }

  it.each([0, 1, 10, 100_000])('bench-loop {n: %i} matches the JavaScript checksum', async (n) => {
    const r = await run('bench-loop', { n });
    expect(r.status).toBe('ok');
    expect(r.output).toEqual({ n, checksum: loopChecksum(n) });
  });

  it.each([0, 5, 65_536, 200_001])('bench-hash {n: %i} matches FNV-1a in JavaScript', async (n) => {
    const r = await run('bench-hash', { n });
    expect(r.status).toBe('ok');
    expect(r.output).toEqual({ n, checksum: hashChecksum(n) });
  });

  it.each([0, 10, 5_000])('bench-strings {n: %i} matches the JavaScript checksum', async (n) => {
    const r = await run('bench-strings', { n });
    expect(r.status).toBe('ok');
    expect(r.output).toEqual({ n, ...stringsChecksum(n) });
  });

  it.each([0, 1, 7, 64])('bench-matmul {n: %i} matches the JavaScript product, bit for bit', async (n) => {
    const r = await run('bench-matmul', { n });
    expect(r.status).toBe('ok');
    expect(r.output).toEqual({ n, checksum: matmulChecksum(n) });
  });

  it('bench-strings reclaims its garbage between runs (memory stops growing)', async () => {
    const agent = await sandbox().load(wasm('bench-strings'), { limits: BENCH_LIMITS });
    try {
      const peaks: number[] = [];
      for (let i = 0; i < 12; i++) {
        const r = await agent.run({ n: 20_000 });
        expect(r.status).toBe('ok');
        peaks.push(r.memoryPeakBytes);
      }
      expect(peaks[11]).toBe(peaks[5]);
    } finally {
      agent.close();
    }
  });

  it('uses fuel in proportion to the work, so the fuel benchmark measures the loop', async () => {
    const small = await run('bench-loop', { n: 1000 });
    const large = await run('bench-loop', { n: 11_000 });
    const perRound = ((large.fuelUsed ?? 0) - (small.fuelUsed ?? 0)) / 10_000;
    expect(perRound).toBeGreaterThan(5);
    expect(perRound).toBeLessThan(40);
  });

  it.each(['bench-loop', 'bench-hash', 'bench-strings', 'bench-matmul'])(
    '%s refuses a missing or negative n with code 1',
    async (name) => {
      for (const input of [{}, { n: -1 }, { n: 'ten' }]) {
        const r = await run(name, input);
        expect(r.status).toBe('error');
        expect(r.errorCode).toBe(1);
        expect(r.message).toMatch(new RegExp(`^${name}: input must be \\{n: 0\\.\\.\\d+\\}`));
      }
    },
  );
});
