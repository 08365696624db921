// The subscriber side every backend shares: concurrency and prefetch bounds, per-key ordering, auto-ack,
// redelivery with backoff, ack-wait expiry and dead-lettering. Backends feed it and act on its settlements.
import { settleChannel, type SettleChannelMessage } from '../channels.ts';
import { SandboxError } from '../errors.ts';
import { validateTopic } from './topics.ts';
import { deadLetterHeaders } from './dead-letter.ts';
import {
  DEFAULT_DEAD_LETTER_TOPIC,
  type MessageHandler,
  type PublishMessage,
  type QueueHeaders,
  type QueueKind,
  type QueueMessage,
  type Settlement,
  type SubscribeOptions,
} from './types.ts';

export const EMPTY_HEADERS: Readonly<QueueHeaders> = Object.freeze({});
const MAX_BACKOFF_MS = 30_000;

const PENDING = 0;
const SETTLED = 1;

/** What a backend does with settled deliveries. */
export interface DispatchHooks {
  /** Which backend this is, for the settle channel. */
  kind: QueueKind;
  /** The message is done for this subscription (acked, or dead-lettered): commit/ack it at the backend. */
  done(delivery: Delivery): void;
  /** Only for backends without local redelivery (NATS): hand the message back to the server for redelivery
   *  after `delayMs`. Backends with local redelivery leave this out and get `redeliver` calls instead. */
  nakRemote?(delivery: Delivery, delayMs: number): void;
  /** Only for backends with local redelivery: a fresh delivery of the same message, deliveryCount + 1. */
  redeliver?(delivery: Delivery): Delivery;
  /** Publishes a dead letter; resolves once it is durably accepted. */
  deadLetter(message: PublishMessage): Promise<void>;
  /** A delivery that was buffered but never handed to a handler when the last member closed. */
  abandon?(delivery: Delivery): void;
  /** Failures that have no caller to go to (a dead-letter publish that failed, a commit that failed). */
  onError?(error: unknown): void;
}

export interface ResolvedSubscribeOptions {
  group: string | undefined;
  concurrency: number;
  prefetch: number;
  maxDeliver: number;
  ackWaitMs: number;
  backoffMs: number;
  deadLetterTopic: string;
  autoAck: boolean;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `subscribe option ${name} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}

export function resolveSubscribeOptions(options: SubscribeOptions = {}): ResolvedSubscribeOptions {
  const concurrency = positiveInt('concurrency', options.concurrency, 1);
  const group = options.group;
  if (group !== undefined && !/^[A-Za-z0-9_-]{1,200}$/.test(group)) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `group ${JSON.stringify(group)} must be 1-200 letters, digits, _ or -`,
    );
  }
  const deadLetterTopic = options.deadLetterTopic ?? DEFAULT_DEAD_LETTER_TOPIC;
  validateTopic(deadLetterTopic);
  return {
    group,
    concurrency,
    prefetch: positiveInt('prefetch', options.prefetch, Math.max(64, 2 * concurrency)),
    maxDeliver: positiveInt('maxDeliver', options.maxDeliver, 5),
    ackWaitMs: positiveInt('ackWaitMs', options.ackWaitMs, 30_000),
    backoffMs: positiveInt('backoffMs', options.backoffMs, 100),
    deadLetterTopic,
    autoAck: options.autoAck ?? true,
  };
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

export class Delivery implements QueueMessage {
  state = PENDING;
  /** This delivery owns its key's lock (it, or an earlier delivery of the same message, took it). */
  holdsKey = false;
  deliveredAt = 0;
  member: Member | undefined = undefined;
  core: SubscriberCore | undefined = undefined;

  constructor(
    readonly topic: string,
    readonly payload: Uint8Array,
    readonly key: string | undefined,
    readonly headers: Readonly<QueueHeaders>,
    readonly deliveryCount: number,
    /** The backend's handle on the message (a JetStream message, a Kafka offset, ...). */
    readonly ref: unknown,
  ) {}

  /** Set by the first settlement: what the core decided. */
  settlement: Settlement | undefined = undefined;

  ack(): void {
    if (this.state === PENDING) this.core!.settleAck(this);
  }

  nak(delayMs?: number, reason?: string): Settlement {
    if (this.state === PENDING) this.core!.settleNak(this, delayMs, reason ?? 'nak');
    return this.settlement!;
  }

  term(reason: string): Settlement {
    if (this.state === PENDING) this.core!.settleTerm(this, reason);
    return this.settlement!;
  }
}

export class Member {
  running = 0;
  unsettled = 0;
  closing = false;

  constructor(
    readonly handler: MessageHandler,
    readonly concurrency: number,
    readonly prefetch: number,
    readonly autoAck: boolean,
  ) {}
}

/** A queue of deliveries for one subscription (for the memory backend: one group, shared by its members). */
export class SubscriberCore {
  /** Deliveries accepted and not yet done: buffered, waiting behind a key, in a handler, or awaiting retry. */
  held = 0;
  private buffer: Delivery[] = [];
  private head = 0;
  /** Redeliveries and key hand-offs, which go before new messages. */
  private ready: Delivery[] = [];
  /** Key -> deliveries waiting for the key's current holder to finish. */
  private keys = new Map<string, Delivery[]>();
  private members: Member[] = [];
  private nextMember = 0;
  private tracked = new Set<Delivery>();
  private sweeper: NodeJS.Timeout | undefined;
  private retryTimers = new Set<NodeJS.Timeout>();
  private scheduled = false;
  private pumping = false;
  private roomWaiters: (() => void)[] = [];
  private pendingDeadLetters = 0;
  private deadLettersDrained: (() => void) | undefined;
  private readonly localRedelivery: boolean;

  constructor(
    readonly options: ResolvedSubscribeOptions,
    private readonly hooks: DispatchHooks,
    /** Bound on `held`; offer() callers wait for room (see waitForRoom). */
    readonly capacity: number,
    /** Whether this core times out unsettled deliveries itself (the NATS server does it for NATS). */
    private readonly trackAckWait: boolean,
    /**
     * Hand an offered delivery to a free handler at once, when nothing waits before it (Kafka: records arrive a
     * fetch at a time, with no publisher in this process to batch with). Otherwise deliveries go out on the next
     * event-loop turn, so a publisher in this process fills a batch first.
     */
    private readonly deliverAtOnce = false,
  ) {
    this.localRedelivery = hooks.redeliver !== undefined;
  }

  get memberCount(): number {
    return this.members.length;
  }

  addMember(handler: MessageHandler, concurrency: number, prefetch: number, autoAck: boolean): Member {
    const member = new Member(handler, concurrency, prefetch, autoAck);
    this.members.push(member);
    this.schedule();
    return member;
  }

  /** Stops giving `member` new work and resolves once its handlers have returned and its deliveries are
   *  settled. Deliveries still unsettled after `graceMs` (a manual-ack caller that never settles) are nak'd. */
  async removeMember(member: Member, graceMs = Math.min(this.options.ackWaitMs, 5000)): Promise<void> {
    member.closing = true;
    while (member.running > 0) await sleepMs(5);
    const deadline = Date.now() + graceMs;
    while (member.unsettled > 0 && Date.now() < deadline) await sleepMs(5);
    for (const d of [...this.tracked]) {
      if (d.member === member && d.state === PENDING)
        this.settleNak(d, 0, 'subscription closed before the message was settled');
    }
    await this.whenDeadLettersDone();
    const i = this.members.indexOf(member);
    if (i >= 0) this.members.splice(i, 1);
    if (this.members.length === 0) this.abandonAll();
    else this.schedule();
  }

  hasRoom(): boolean {
    return this.held < this.capacity;
  }

  waitForRoom(): Promise<void> {
    if (this.held < this.capacity) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  offer(delivery: Delivery): void {
    delivery.core = this;
    this.held++;
    this.buffer.push(delivery);
    if (this.deliverAtOnce && !this.pumping && this.ready.length === 0 && this.buffer.length - this.head === 1) {
      this.pump();
      if (this.head === this.buffer.length) return;
    }
    if (!this.scheduled) this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate rather than a microtask: publishers get to fill a batch, and a handler that publishes
    // cannot starve timers and I/O.
    setImmediate(this.runPump);
  }

  private readonly runPump = (): void => {
    this.scheduled = false;
    this.pump();
  };

  private pickMember(): Member | undefined {
    const members = this.members;
    const n = members.length;
    if (n === 1) {
      const m = members[0]!;
      return !m.closing && m.running < m.concurrency && m.unsettled < m.prefetch ? m : undefined;
    }
    for (let i = 0; i < n; i++) {
      const idx = (this.nextMember + i) % n;
      const m = members[idx]!;
      if (!m.closing && m.running < m.concurrency && m.unsettled < m.prefetch) {
        this.nextMember = (idx + 1) % n;
        return m;
      }
    }
    return undefined;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        let d: Delivery | undefined;
        const member = this.pickMember();
        if (member === undefined) break;
        if (this.ready.length > 0) {
          d = this.ready.shift()!;
        } else if (this.head < this.buffer.length) {
          d = this.buffer[this.head]!;
          this.buffer[this.head++] = undefined as unknown as Delivery;
          if (this.head === this.buffer.length) {
            this.buffer.length = 0;
            this.head = 0;
          } else if (this.head > 4096 && this.head * 2 > this.buffer.length) {
            this.buffer = this.buffer.slice(this.head);
            this.head = 0;
          }
          const key = d.key;
          if (key !== undefined && !d.holdsKey) {
            const waiting = this.keys.get(key);
            if (waiting !== undefined) {
              waiting.push(d);
              continue;
            }
            this.keys.set(key, []);
            d.holdsKey = true;
          }
        } else {
          break;
        }
        this.deliver(d, member);
      }
    } finally {
      this.pumping = false;
    }
    this.wakeWaiters();
  }

  private deliver(d: Delivery, member: Member): void {
    d.member = member;
    member.unsettled++;
    if (d.deliveryCount > this.options.maxDeliver) {
      // A server redelivered it past our limit (its earlier deliveries timed out): no more attempts.
      this.settleNak(d, 0, 'not settled in time');
      return;
    }
    let result: void | Promise<void>;
    try {
      result = member.handler(d);
    } catch (error) {
      if (d.state === PENDING) d.nak(undefined, reasonOf(error));
      return;
    }
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      member.running++;
      if (d.state === PENDING) this.track(d);
      (result as Promise<void>).then(
        () => {
          member.running--;
          if (d.state === PENDING && member.autoAck) d.ack();
          this.schedule();
        },
        (error: unknown) => {
          member.running--;
          if (d.state === PENDING) d.nak(undefined, reasonOf(error));
          this.schedule();
        },
      );
    } else if (d.state === PENDING) {
      if (member.autoAck) d.ack();
      else this.track(d);
    }
  }

  private track(d: Delivery): void {
    if (!this.trackAckWait) return;
    d.deliveredAt = Date.now();
    this.tracked.add(d);
    if (this.sweeper === undefined) {
      const every = Math.max(5, Math.min(1000, Math.floor(this.options.ackWaitMs / 4)));
      this.sweeper = setInterval(this.sweep, every);
      this.sweeper.unref();
    }
  }

  private readonly sweep = (): void => {
    const deadline = Date.now() - this.options.ackWaitMs;
    for (const d of this.tracked) {
      if (d.deliveredAt <= deadline)
        this.settleNak(d, 0, `not settled within ackWaitMs (${this.options.ackWaitMs} ms)`);
    }
    if (this.tracked.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  };

  /** Every settlement passes here once: the one place that decides, records and reports it. */
  private settleCommon(d: Delivery, settlement: Settlement, reason?: string): void {
    d.state = SETTLED;
    d.settlement = settlement;
    const member = d.member!;
    member.unsettled--;
    if (this.tracked.size > 0) this.tracked.delete(d);
    if (settleChannel.hasSubscribers) {
      const message: SettleChannelMessage = {
        queue: this.hooks.kind,
        topic: d.topic,
        group: this.options.group,
        key: d.key,
        deliveryCount: d.deliveryCount,
        settlement,
      };
      if (reason !== undefined) message.reason = reason;
      settleChannel.publish(message);
    }
  }

  settleAck(d: Delivery): void {
    this.settleCommon(d, 'ack');
    this.hooks.done(d);
    this.release(d);
  }

  settleNak(d: Delivery, delayMs: number | undefined, reason: string): void {
    if (d.deliveryCount >= this.options.maxDeliver) {
      const why = `${reason} (after ${d.deliveryCount} deliveries)`;
      this.settleCommon(d, 'dead-letter', why);
      this.deadLetter(d, why);
      return;
    }
    this.settleCommon(d, 'retry', reason);
    const delay = delayMs ?? Math.min(MAX_BACKOFF_MS, this.options.backoffMs * 2 ** (d.deliveryCount - 1));
    if (!this.localRedelivery) {
      this.hooks.nakRemote!(d, delay);
      this.release(d);
      return;
    }
    // The retry keeps its place in `held` and keeps its key's lock, so later messages of the key wait for it.
    const again = (): void => {
      const next = this.hooks.redeliver!(d);
      next.core = this;
      next.holdsKey = d.holdsKey;
      this.ready.push(next);
      this.schedule();
    };
    if (delay <= 0) {
      again();
      return;
    }
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      again();
    }, delay);
    this.retryTimers.add(timer);
    this.schedule();
  }

  settleTerm(d: Delivery, reason: string): void {
    this.settleCommon(d, 'dead-letter', reason);
    this.deadLetter(d, reason);
  }

  private deadLetter(d: Delivery, reason: string): void {
    const headers = deadLetterHeaders({
      headers: d.headers,
      topic: d.topic,
      reason,
      deliveryCount: d.deliveryCount,
      group: this.options.group,
    });
    this.pendingDeadLetters++;
    this.hooks
      .deadLetter({ topic: this.options.deadLetterTopic, payload: d.payload, key: d.key, headers })
      .then(
        () => {
          this.hooks.done(d);
          this.release(d);
        },
        (error: unknown) => {
          // Never drop it: report, and let the backend deliver it again (it dead-letters again on failure).
          this.hooks.onError?.(error);
          if (this.localRedelivery) {
            const timer = setTimeout(() => {
              this.retryTimers.delete(timer);
              const next = this.hooks.redeliver!(d);
              next.core = this;
              next.holdsKey = d.holdsKey;
              this.ready.push(next);
              this.schedule();
            }, this.options.backoffMs);
            this.retryTimers.add(timer);
          } else {
            this.hooks.nakRemote!(d, this.options.backoffMs);
            this.release(d);
          }
        },
      )
      .finally(() => {
        this.pendingDeadLetters--;
        if (this.pendingDeadLetters === 0 && this.deadLettersDrained !== undefined) {
          const resolve = this.deadLettersDrained;
          this.deadLettersDrained = undefined;
          resolve();
        }
      });
  }

  private whenDeadLettersDone(): Promise<void> {
    if (this.pendingDeadLetters === 0) return Promise.resolve();
    return new Promise((resolve) => (this.deadLettersDrained = resolve));
  }

  private release(d: Delivery): void {
    this.held--;
    if (d.holdsKey) {
      const key = d.key!;
      const waiting = this.keys.get(key);
      if (waiting !== undefined && waiting.length > 0) {
        const next = waiting.shift()!;
        next.holdsKey = true;
        this.ready.push(next);
      } else {
        this.keys.delete(key);
      }
    }
    if (!this.pumping) this.schedule();
  }

  private wakeWaiters(): void {
    if (this.roomWaiters.length === 0 || this.held >= this.capacity) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** The last member left: hand back what was never delivered and stop timers. */
  private abandonAll(): void {
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    const rest: Delivery[] = [...this.ready, ...this.buffer.slice(this.head)];
    for (const waiting of this.keys.values()) rest.push(...waiting);
    this.ready = [];
    this.buffer = [];
    this.head = 0;
    this.keys.clear();
    this.tracked.clear();
    this.held = 0;
    for (const d of rest) this.hooks.abandon?.(d);
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
