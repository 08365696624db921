// Clocks and randomness for the guest: real ones, or a deterministic pair (fixed start, seeded generator) for replayable runs.

import { randomFillSync } from 'node:crypto';

export interface Deterministic {
  /** Realtime clock at the start of the run, in nanoseconds since the Unix epoch. */
  clockNs: bigint;
  seed: number;
}

/** How far each reading of a deterministic clock advances it: time moves, so loops that wait on it end. */
const TICK_NS = 1000n;

export interface Entropy {
  /** Nanoseconds for clock `id` (0 realtime, 1 monotonic, 2 process, 3 thread); null for an unknown clock. */
  now(id: number): bigint | null;
  resolution(id: number): bigint | null;
  /** Blocks (or, deterministically, advances the clock) for `ns` nanoseconds. */
  sleep(ns: bigint): void;
  fill(bytes: Uint8Array): void;
}

export function realEntropy(): Entropy {
  const origin = process.hrtime.bigint();
  return {
    now(id) {
      if (id === 0) return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
      if (id === 1) return process.hrtime.bigint();
      if (id === 2 || id === 3) return process.hrtime.bigint() - origin;
      return null;
    },
    resolution(id) {
      return id >= 0 && id <= 3 ? 1000n : null;
    },
    sleep(ns) {
      if (ns <= 0n) return;
      const ms = Number(ns / 1_000_000n) + (ns % 1_000_000n > 0n ? 1 : 0);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    },
    fill(bytes) {
      randomFillSync(bytes);
    },
  };
}

export function deterministicEntropy(d: Deterministic): Entropy {
  let elapsed = 0n;
  // sfc32: small, fast and fully determined by the seed; this is for replay, not secrecy.
  let a = 0x9e3779b9,
    b = 0x243f6a88,
    c = 0xb7e15162,
    s = d.seed >>> 0;
  const next = (): number => {
    const t = (((a + b) | 0) + s) | 0;
    s = (s + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) next();
  return {
    now(id) {
      if (id < 0 || id > 3) return null;
      elapsed += TICK_NS;
      return id === 0 ? d.clockNs + elapsed : elapsed;
    },
    resolution(id) {
      return id >= 0 && id <= 3 ? TICK_NS : null;
    },
    sleep(ns) {
      if (ns > 0n) elapsed += ns;
    },
    fill(bytes) {
      for (let i = 0; i < bytes.length; i += 4) {
        const v = next();
        for (let j = 0; j < 4 && i + j < bytes.length; j++) bytes[i + j] = (v >>> (8 * j)) & 0xff;
      }
    },
  };
}
