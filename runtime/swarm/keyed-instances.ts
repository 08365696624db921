// Per-key instances of one agent: an Agent per message key (loaded once, on first use), one turn at a time per key.
import type { Agent } from '../agent/agent.ts';
import { SandboxError } from '../errors.ts';
import type { LoadOptions, Sandbox } from '../sandbox.ts';

/** The Sandbox's bound on a state key's length (LoadOptions.key). */
const MAX_STATE_KEY = 400;

/**
 * What the dispatcher needs for an agent with `instances: per-key`: the map key → Agent (each loaded with the
 * hibernation key `<agent>/<key>`, so its state sleeps in the store and outlives the process), at most one load
 * per key at a time, and a turn per key so that one key's messages run one after another in the order they
 * arrived. Nothing here grows with traffic: a key's turn entry exists only while a message of that key is
 * held, and those are bounded by the agent's inbox; the Agent objects are one per key seen (the Sandbox holds
 * them as well).
 */
export class KeyedInstances {
  private readonly agents = new Map<string, Agent>();
  private readonly loading = new Map<string, Promise<Agent>>();
  /** Keys with a message holding their turn; the array holds the next ones waiting, in arrival order (null: none). */
  private readonly turns = new Map<string, (() => void)[] | null>();
  private readonly slotWaiters: (() => void)[] = [];
  private busySlots = 0;
  private closed = false;
  /** Keys loaded over the agent's life (still counted after close, for the final stats). */
  private loaded = 0;

  constructor(
    private readonly sandbox: Sandbox,
    readonly name: string,
    private readonly bytes: Uint8Array,
    /** Name, limits and grants every key's instance is loaded with. */
    private readonly options: Pick<LoadOptions, 'name' | 'limits' | 'graph' | 'exportState'>,
    /** Runs handed to the workers at once (loads included), over all keys. */
    private readonly slots: number,
  ) {}

  /** Instances loaded so far, one per key seen. */
  get size(): number {
    return this.loaded;
  }

  /** Why this key can never name an instance, or undefined when it can. */
  refuse(key: string | undefined): string | undefined {
    if (key === undefined || key.length === 0)
      return `${this.name}: the message has no key (this agent has one instance per key)`;
    if (this.stateKey(key).length > MAX_STATE_KEY)
      return `${this.name}: the message key is too long (${key.length} characters; at most ${MAX_STATE_KEY - this.name.length - 1})`;
    return undefined;
  }

  /**
   * Takes the key's turn: at once when no message of the key is held, else after the ones before it. Called in
   * the order messages arrive (before anything awaits), so turns follow delivery order. Pair with `release`.
   */
  turn(key: string): void | Promise<void> {
    if (!this.turns.has(key)) {
      this.turns.set(key, null);
      return;
    }
    return new Promise<void>((resolve) => {
      const waiting = this.turns.get(key);
      if (waiting) waiting.push(resolve);
      else this.turns.set(key, [resolve]);
    });
  }

  /** Passes the key's turn to its next message, or frees it. */
  release(key: string): void {
    const next = this.turns.get(key)?.shift();
    if (next !== undefined) next();
    else this.turns.delete(key);
  }

  /** Keys whose turn is held now (bounded by the inbox). */
  get heldTurns(): number {
    return this.turns.size;
  }

  /** Takes one of the run slots (so runs in the workers stay bounded however large the inbox). */
  acquireSlot(): void | Promise<void> {
    if (this.busySlots < this.slots) {
      this.busySlots++;
      return;
    }
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  releaseSlot(): void {
    const next = this.slotWaiters.shift();
    if (next !== undefined)
      next(); // the slot passes on: the count stays
    else this.busySlots--;
  }

  /**
   * The key's agent: loaded on first use; concurrent callers for one key share one load. Rejects if the load fails.
   * `initialState` (a load only): start from this state image, or the initial state (null), not the store's.
   */
  agent(key: string, initialState?: Uint8Array | null): Agent | Promise<Agent> {
    const loaded = this.agents.get(key);
    if (loaded !== undefined) return loaded;
    const pending = this.loading.get(key);
    if (pending !== undefined) return pending;
    if (this.closed) return Promise.reject(new SandboxError('SANDBOX_CLOSED', `${this.name}: the agent is stopped`));
    const options = { ...this.options, key: this.stateKey(key) };
    const load = this.sandbox
      .load(this.bytes, initialState === undefined ? options : { ...options, initialState })
      .then(
        (agent) => {
          this.loading.delete(key);
          if (this.closed) {
            agent.close();
            throw new SandboxError(
              'SANDBOX_CLOSED',
              `${this.name}: the agent was stopped while key ${JSON.stringify(key)} was loading`,
            );
          }
          this.agents.set(key, agent);
          this.loaded++;
          return agent;
        },
        (error: unknown) => {
          this.loading.delete(key);
          throw error;
        },
      );
    this.loading.set(key, load);
    return load;
  }

  /** The key's agent if it is loaded now (none is loaded by asking). */
  resident(key: string): Agent | undefined {
    return this.agents.get(key);
  }

  /**
   * Closes one key's agent, so its next message loads it again from the store (a cluster node does this when its
   * cached state can no longer be trusted). Its state is written as it closes; a load of the key waits for that.
   */
  async evict(key: string): Promise<void> {
    const pending = this.loading.get(key);
    if (pending !== undefined) await pending.catch(() => {});
    const agent = this.agents.get(key);
    if (agent === undefined) return;
    this.agents.delete(key);
    agent.close();
  }

  /** The hibernation key of a message key's state (`<agent>/<key>`). */
  stateKeyOf(key: string): string {
    return this.stateKey(key);
  }

  /** Closes every key's agent (a keyed agent's state is written as it closes). */
  close(): void {
    this.closed = true;
    for (const agent of this.agents.values()) agent.close();
    this.agents.clear();
  }

  private stateKey(key: string): string {
    return `${this.name}/${key}`;
  }
}
