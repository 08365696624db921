// Admission for one agent: a bounded inbox, its own token bucket and the swarm's, and the decision to wait or shed.
import { SandboxError } from '../errors.ts';
import type { TokenBucket } from './token-bucket.ts';

/** Rate (tokens per second) and burst of a token bucket, as the topology gives them. */
export interface RateLimit {
  rate: number;
  /** Default: max(1, rate) — one second's worth. */
  burst?: number | undefined;
}

export interface AdmissionCounters {
  /** Messages in the inbox now: admitted or waiting for a token, not yet finished. */
  inbox: number;
  /** The most the inbox ever held (never above its bound). */
  inboxPeak: number;
  /** Messages held in the inbox until a token was due (delayed in place, the subscription paused meanwhile). */
  throttled: number;
  /** Total milliseconds those messages waited. */
  throttledMs: number;
  /** Messages handed back to the queue for later (nak with a delay) because their token was too far off. */
  shed: number;
}

export type AdmitDecision = { admitted: true } | { admitted: false; retryInMs: number };

const ADMITTED: AdmitDecision = Object.freeze({ admitted: true });

export interface AgentAdmissionOptions {
  /** Messages the agent holds at once (waiting for a token, an instance, or running). */
  inbox: number;
  agentBucket?: TokenBucket | undefined;
  swarmBucket?: TokenBucket | undefined;
  /** A message whose token is due later than this is shed (nak'd with that delay) instead of held. */
  maxWaitMs: number;
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Why hold rather than buffer: the handler holding its message is what stops the subscription pulling (the
 * queue hands out at most `concurrency` = inbox messages and fetches at most `prefetch` = inbox), so nothing
 * piles up here. Why shed at all: a hold longer than `maxWaitMs` would keep the message past sensible ack
 * windows and starve the inbox; the queue keeps it instead and redelivers after the delay. Nothing is dropped:
 * the caller never sheds a message on its last allowed delivery (a nak there would dead-letter it).
 */
export class AgentAdmission {
  readonly counters: AdmissionCounters = { inbox: 0, inboxPeak: 0, throttled: 0, throttledMs: 0, shed: 0 };
  private readonly slotWaiters: (() => void)[] = [];
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: AgentAdmissionOptions) {
    if (!Number.isInteger(options.inbox) || options.inbox < 1) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `inbox must be a positive integer, got ${String(options.inbox)}`,
      );
    }
    this.sleep = options.sleep ?? realSleep;
  }

  get bound(): number {
    return this.options.inbox;
  }

  /**
   * Takes an inbox slot and a token from each bucket. Resolves admitted (call `leave` when the message is
   * settled) or not admitted with the delay to nak it with (the slot is already given back). `mayShed` false:
   * wait however long the token takes.
   */
  admit(mayShed: boolean): AdmitDecision | Promise<AdmitDecision> {
    const c = this.counters;
    if (c.inbox >= this.options.inbox) return this.admitAfterSlot(mayShed);
    this.enter();
    return this.afterSlot(mayShed);
  }

  private async admitAfterSlot(mayShed: boolean): Promise<AdmitDecision> {
    // Only an agent with several subscriptions gets here (each one's concurrency is the inbox); their slots
    // are shared, so this wait is bounded by subscriptions × inbox handlers, not by the publishers.
    await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    return this.afterSlot(mayShed);
  }

  private enter(): void {
    const c = this.counters;
    c.inbox++;
    if (c.inbox > c.inboxPeak) c.inboxPeak = c.inbox;
  }

  private afterSlot(mayShed: boolean): AdmitDecision | Promise<AdmitDecision> {
    const { agentBucket, swarmBucket, maxWaitMs } = this.options;
    if (agentBucket === undefined && swarmBucket === undefined) return ADMITTED;
    const wait = Math.max(agentBucket?.reserve() ?? 0, swarmBucket?.reserve() ?? 0);
    if (wait === 0) return ADMITTED;
    if (mayShed && wait > maxWaitMs) {
      agentBucket?.refund();
      swarmBucket?.refund();
      this.counters.shed++;
      this.leave();
      return { admitted: false, retryInMs: Math.ceil(wait) };
    }
    this.counters.throttled++;
    this.counters.throttledMs += wait;
    return this.sleep(wait).then(() => ADMITTED);
  }

  /** Gives the inbox slot back (to a waiting message first). */
  leave(): void {
    const next = this.slotWaiters.shift();
    if (next !== undefined)
      next(); // the slot passes on: the count stays
    else this.counters.inbox--;
  }
}

/** A bucket's burst when the topology gives only a rate. */
export function burstOf(limit: RateLimit): number {
  return limit.burst ?? Math.max(1, limit.rate);
}
