// Escalation: failed runs per agent in a sliding window (Redis, or in-process when Redis is away); past a threshold the agent is quarantined for a cooldown.
import { SandboxError } from '../errors.ts';
import { importOptional } from '../queue/optional.ts';

/** The part of an ioredis client used here: ioredis is an optional package, loaded when a topology names Redis. */
interface RedisClient {
  multi(): RedisMulti;
  connect(): Promise<void>;
  disconnect(): void;
  on(event: 'ready' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}
interface RedisMulti {
  incr(key: string): RedisMulti;
  pexpire(key: string, ms: number): RedisMulti;
  mget(...keys: string[]): RedisMulti;
  exec(): Promise<[Error | null, unknown][] | null>;
}
type RedisConstructor = new (url: string, options: Record<string, unknown>) => RedisClient;

export interface EscalationConfig {
  /** `redis://host:port[/db]`; without it failures are counted in this process only. */
  redis?: string | undefined;
  /** Sliding window, ms. */
  window: number;
  /** Failures within the window that quarantine the agent. */
  threshold: number;
  /** How long a quarantine lasts, ms. */
  cooldown: number;
  /** Slices of the window, each one Redis key (default 10): the window slides by window/buckets. */
  buckets?: number | undefined;
  /** Key prefix in Redis (default `sandbox:escalation`): swarms sharing a prefix share their counts. */
  prefix?: string | undefined;
}

/** Published on `alerts.quarantine` (and `alerts.quarantine.released` with the same fields). */
export interface QuarantineEvent {
  agent: string;
  /** Failures counted in the window when the quarantine began. */
  failures: number;
  window: number;
  /** Epoch ms when the quarantine ends. */
  until: number;
}

export const QUARANTINE_TOPIC = 'alerts.quarantine';
export const RELEASED_TOPIC = 'alerts.quarantine.released';

export interface EscalationHooks {
  publish(topic: string, event: QuarantineEvent): Promise<void>;
  log(line: string): void;
  /** Epoch ms (tests pass a fake). */
  now?: (() => number) | undefined;
}

/** Counts one failure and returns the failures in the window that ends now, that one included. */
interface FailureStore {
  record(agent: string, now: number): Promise<number>;
}

interface Slicing {
  bucketMs: number;
  buckets: number;
}

function slicing(config: EscalationConfig): Slicing {
  const buckets = config.buckets ?? 10;
  return { buckets, bucketMs: Math.max(1, Math.ceil(config.window / buckets)) };
}

export class MemoryFailureStore implements FailureStore {
  private readonly counts = new Map<string, Map<number, number>>();

  constructor(private readonly slices: Slicing) {}

  record(agent: string, now: number): Promise<number> {
    const { bucketMs, buckets } = this.slices;
    const index = Math.floor(now / bucketMs);
    let mine = this.counts.get(agent);
    if (mine === undefined) this.counts.set(agent, (mine = new Map()));
    mine.set(index, (mine.get(index) ?? 0) + 1);
    let total = 0;
    for (const [i, n] of mine) {
      if (i <= index - buckets) mine.delete(i);
      else total += n;
    }
    return Promise.resolve(total);
  }
}

export class RedisFailureStore implements FailureStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly slices: Slicing,
    private readonly prefix: string,
  ) {}

  async record(agent: string, now: number): Promise<number> {
    const { bucketMs, buckets } = this.slices;
    const index = Math.floor(now / bucketMs);
    const key = (i: number): string => `${this.prefix}:fail:${agent}:${i}`;
    const keys: string[] = [];
    for (let i = index - buckets + 1; i <= index; i++) keys.push(key(i));
    // One round trip: count this failure, let its slice expire once it has left every window, read the window.
    const replies = await this.redis
      .multi()
      .incr(key(index))
      .pexpire(key(index), bucketMs * (buckets + 1))
      .mget(...keys)
      .exec();
    if (replies === null) throw new Error('the escalation transaction was aborted');
    for (const [error] of replies) if (error) throw error;
    const values = replies[2]![1] as (string | null)[];
    return values.reduce((sum, v) => sum + (v === null ? 0 : Number(v)), 0);
  }
}

/**
 * Failures go to Redis while it answers, so every swarm on the same Redis and prefix sees the same counts.
 * When it does not, they are counted in this process (said once in the log, and again when Redis is back):
 * escalation keeps working, on this process's failures only. Quarantine itself is local to each process.
 */
export class Escalation {
  private readonly slices: Slicing;
  private readonly memory: MemoryFailureStore;
  private redis: RedisClient | undefined;
  private redisStore: RedisFailureStore | undefined;
  private redisUp = false;
  private fallbackSaid = false;
  private readonly quarantined = new Map<string, { until: number; timer: NodeJS.Timeout; event: QuarantineEvent }>();
  private readonly now: () => number;
  private readyPromise: Promise<void> | undefined;
  private closed = false;
  /** Quarantines begun, for stats. */
  quarantines = 0;

  constructor(
    readonly config: EscalationConfig,
    private readonly hooks: EscalationHooks,
  ) {
    for (const [name, value, min] of [
      ['window', config.window, 1],
      ['threshold', config.threshold, 1],
      ['cooldown', config.cooldown, 1],
      ['buckets', config.buckets ?? 10, 1],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < min)
        throw new SandboxError(
          'SANDBOX_INVALID_OPTIONS',
          `escalation ${name} must be an integer ≥ ${min}, got ${String(value)}`,
        );
    }
    this.slices = slicing(config);
    this.memory = new MemoryFailureStore(this.slices);
    this.now = hooks.now ?? Date.now;
  }

  /**
   * Loads ioredis and connects (once; at most ~connectTimeout). An unreachable Redis means the fallback, not a
   * rejection; a missing ioredis package rejects with SANDBOX_MISSING_DEPENDENCY.
   */
  ready(): Promise<void> {
    if (this.config.redis === undefined) return Promise.resolve();
    this.readyPromise ??= this.connect(this.config.redis);
    return this.readyPromise;
  }

  private async connect(url: string): Promise<void> {
    const { Redis } = await importOptional<{ Redis: RedisConstructor }>(
      'ioredis',
      `escalation counting in Redis (${url})`,
    );
    if (this.closed) return;
    const redis = new Redis(url, {
      lazyConnect: true,
      // Fail at once while disconnected (the in-process count takes over) instead of queueing commands.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 1000,
      connectTimeout: 1000,
      retryStrategy: () => 1000,
    });
    this.redis = redis;
    redis.on('ready', () => {
      if (this.fallbackSaid) this.hooks.log(`escalation: redis ${url} reachable again; counting failures there`);
      this.redisUp = true;
      this.fallbackSaid = false;
    });
    redis.on('close', () => {
      if (this.redisUp) this.fallback('connection closed');
      this.redisUp = false;
    });
    // ioredis reports every failed reconnect here; the fallback line says it once.
    redis.on('error', (error: Error) => this.fallback(error.message));
    this.redisStore = new RedisFailureStore(redis, this.slices, this.config.prefix ?? 'sandbox:escalation');
    await redis.connect().catch((error: unknown) => this.fallback((error as Error).message));
  }

  /** Whether counts are going to Redis right now. */
  get usingRedis(): boolean {
    return this.redisUp;
  }

  private fallback(reason: string): void {
    if (this.fallbackSaid || this.closed) return;
    this.fallbackSaid = true;
    this.hooks.log(
      `escalation: redis ${this.config.redis ?? ''} unreachable (${reason}); counting failures in this process until it returns`,
    );
  }

  /** The quarantine in force for `agent`, if any. */
  quarantine(agent: string): QuarantineEvent | undefined {
    const q = this.quarantined.get(agent);
    if (q === undefined) return undefined;
    if (this.now() < q.until) return q.event;
    this.release(agent);
    return undefined;
  }

  /** The quarantines in force now, one per agent (those past their cooldown are released here). */
  inForce(): QuarantineEvent[] {
    const out: QuarantineEvent[] = [];
    for (const agent of [...this.quarantined.keys()]) {
      const event = this.quarantine(agent);
      if (event !== undefined) out.push(event);
    }
    return out;
  }

  /** Counts a failed run; quarantines the agent when the window reaches the threshold (`began`: this call
   *  did). Never rejects. */
  async recordFailure(agent: string): Promise<{ failures: number; began: boolean }> {
    const now = this.now();
    let failures: number;
    if (this.redisStore !== undefined && this.redisUp) {
      try {
        failures = await this.redisStore.record(agent, now);
      } catch (error) {
        this.fallback((error as Error).message);
        failures = await this.memory.record(agent, now);
      }
    } else failures = await this.memory.record(agent, now);
    if (failures >= this.config.threshold && this.quarantine(agent) === undefined && !this.closed) {
      const until = this.now() + this.config.cooldown;
      const event: QuarantineEvent = { agent, failures, window: this.config.window, until };
      const timer = setTimeout(() => this.release(agent), Math.max(0, until - this.now()));
      timer.unref();
      this.quarantined.set(agent, { until, timer, event });
      this.quarantines++;
      this.hooks.log(
        `escalation: ${agent} quarantined: ${failures} failures in ${this.config.window} ms; released in ${this.config.cooldown} ms`,
      );
      await this.emit(QUARANTINE_TOPIC, event);
      return { failures, began: true };
    }
    return { failures, began: false };
  }

  private release(agent: string): void {
    const q = this.quarantined.get(agent);
    if (q === undefined) return;
    clearTimeout(q.timer);
    this.quarantined.delete(agent);
    if (this.closed) return;
    this.hooks.log(`escalation: ${agent} released from quarantine`);
    void this.emit(RELEASED_TOPIC, q.event);
  }

  private async emit(topic: string, event: QuarantineEvent): Promise<void> {
    try {
      await this.hooks.publish(topic, event);
    } catch (error) {
      this.hooks.log(`escalation: could not publish ${topic} for ${event.agent}: ${(error as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.quarantined.values()) clearTimeout(q.timer);
    this.quarantined.clear();
    if (this.redis !== undefined) this.redis.disconnect();
  }
}
