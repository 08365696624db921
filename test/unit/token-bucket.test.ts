// Token bucket math on a fake clock: burst, refill rate, the cap, reservations into debt and refunds.
import { describe, expect, it } from 'vitest';
import { isSandboxError } from '../../runtime/errors.ts';
import { TokenBucket } from '../../runtime/swarm/token-bucket.ts';

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('TokenBucket', () => {
  it('starts full: a burst of `burst` tokens, then none', () => {
    const c = clock();
    const b = new TokenBucket(10, 3, c.now);
    expect([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, true, false]);
    expect(b.waitMs()).toBeCloseTo(100);
  });

  it('refills at `rate` per second and never above `burst`', () => {
    const c = clock();
    const b = new TokenBucket(10, 5, c.now);
    for (let i = 0; i < 5; i++) b.tryTake();
    c.advance(250); // 2.5 tokens
    expect(b.level()).toBeCloseTo(2.5);
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(true);
    expect(b.tryTake()).toBe(false);
    c.advance(60_000);
    expect(b.level()).toBe(5);
  });

  it('admits rate × t + burst over t, whatever the callers do', () => {
    const c = clock();
    const b = new TokenBucket(200, 20, c.now);
    let taken = 0;
    for (let ms = 0; ms < 2000; ms++) {
      while (b.tryTake()) taken++;
      c.advance(1);
    }
    expect(taken).toBeGreaterThanOrEqual(20 + 200 * 2 - 1);
    expect(taken).toBeLessThanOrEqual(20 + 200 * 2);
  });

  it('reservations queue up: each is told when its token is due; a refund shortens the line', () => {
    const c = clock();
    const b = new TokenBucket(4, 1, c.now); // one token every 250 ms
    expect(b.reserve()).toBe(0);
    expect(b.reserve()).toBeCloseTo(250);
    expect(b.reserve()).toBeCloseTo(500);
    b.refund();
    expect(b.reserve()).toBeCloseTo(500);
    c.advance(500); // both promised tokens have come due: the line is empty
    expect(b.level()).toBeCloseTo(0);
    expect(b.reserve()).toBeCloseTo(250);
  });

  it('rejects a rate or burst that cannot work', () => {
    for (const [rate, burst] of [
      [0, 1],
      [-1, 1],
      [Number.NaN, 1],
      [1, 0.5],
    ] as const) {
      expect(() => new TokenBucket(rate, burst)).toThrow();
      try {
        new TokenBucket(rate, burst);
      } catch (error) {
        expect(isSandboxError(error, 'SANDBOX_INVALID_OPTIONS')).toBe(true);
      }
    }
  });
});
