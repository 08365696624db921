// A token bucket: `rate` tokens per second refill up to `burst`; callers reserve tokens and wait until theirs is due.
import { SandboxError } from '../errors.ts';

export type Clock = () => number;

export const realClock: Clock = () => performance.now();

/**
 * Reservations may drive the level below zero: the debt is the queue of callers already promised a token,
 * each told how long to wait. The debt stays bounded because the callers are (the admission inbox), and a
 * caller that will not wait gives its token back with `refund`.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    /** Tokens per second. */
    readonly rate: number,
    /** Capacity: tokens available at once after a quiet period. */
    readonly burst: number,
    private readonly now: Clock = realClock,
  ) {
    if (!(Number.isFinite(rate) && rate > 0))
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', `rate must be a positive number, got ${String(rate)}`);
    if (!(Number.isFinite(burst) && burst >= 1))
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', `burst must be at least 1, got ${String(burst)}`);
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    if (t > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
      this.last = t;
    }
  }

  /** Tokens on hand now (negative: reserved ahead). */
  level(): number {
    this.refill();
    return this.tokens;
  }

  /** Takes a token if one is on hand; never goes into debt. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token would be on hand (0: now), without taking one. */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) * 1000) / this.rate;
  }

  /** Takes the next token, on hand or not, and returns how many milliseconds until it is due (0: now). */
  reserve(): number {
    this.refill();
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.rate;
  }

  /** Returns a reserved token whose holder decided not to wait for it. */
  refund(): void {
    this.refill();
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }
}
