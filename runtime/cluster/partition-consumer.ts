// One partition while this node owns it: reads its log in order and, per key and in order, runs → publishes outputs → compare-and-sets the state → advances the committed position (the same for a NATS or a Kafka partition).
import { performance } from 'node:perf_hooks';
import type { Agent } from '../agent/agent.ts';
import type { RunResult } from '../agent/types.ts';
import { hostOutcome } from '../agent/outcome.ts';
import type { Sandbox } from '../sandbox.ts';
import type { KeyedInstances } from '../swarm/keyed-instances.ts';
import type { AgentSpec } from '../swarm/topology.ts';
import { FencedWrite, type KeyStateStore } from './key-state.ts';
import { PartitionLost, type LogMessage, type LogReader, type PartitionLog } from './partition-log.ts';

/** A per-key agent of the topology as the cluster runs it. */
export interface ClusterAgent {
  spec: AgentSpec;
  matches(topic: string): boolean;
  keyed: KeyedInstances;
}

/** Counters a node keeps over all its partitions (the `cluster` summary and the benchmark read them). */
export interface ClusterCounts {
  /** Messages whose state change was committed (each exactly once over the cluster's life). */
  applied: number;
  /** Deliveries skipped because the key had already applied them (replays after a takeover or a pause). */
  skipped: number;
  /** State writes refused by the fence (another owner wrote the key first); the message was then re-checked. */
  fenced: number;
  deadLettered: number;
  eventsPublished: number;
  /** Runs retried after a failed run, publish or store write. */
  retried: number;
  /** Reads, even from the leader, older than a state this node had committed: the bucket lost a committed write. */
  regressions: number;
  /** First wake of a key from the bucket's state after a takeover: ms restoring it into an instance (a bounded sample). */
  takeoverWakeMs: number[];
  /** Reading a key's state from the bucket on its first touch in an ownership, ms (a bounded sample). */
  takeoverReadMs: number[];
}

/** Counters at zero. */
export function newClusterCounts(): ClusterCounts {
  return {
    applied: 0,
    skipped: 0,
    fenced: 0,
    deadLettered: 0,
    eventsPublished: 0,
    retried: 0,
    regressions: 0,
    takeoverWakeMs: [],
    takeoverReadMs: [],
  };
}

export interface PartitionContext {
  agents: ClusterAgent[];
  states: KeyStateStore;
  /** The same store read through the stream's leader (for a read that looks stale). */
  leaderStates: KeyStateStore;
  sandbox: Sandbox;
  counts: ClusterCounts;
  /** Whether this node still holds `partition` at `epoch` (asks the server after a refused write). */
  stillOwner(partition: number, epoch: number): Promise<boolean>;
  /** Called with each module's first exported state on this node (checks its base image is the cluster's). */
  checkBase(agent: ClusterAgent, image: Uint8Array): Promise<void>;
  log(message: string): void;
}

/** A key's state as this node last read or wrote it during this ownership, and whether its local cache matches. */
interface Trusted {
  applied: number;
  revision: number;
  /** The sandbox's worker restarts when it was read: a replaced worker may have lost the resident instance's state. */
  restarts: number;
  /**
   * The bucket's state, to hand to the key's next load (null: the initial state), so it wakes from it rather than
   * from the local cache; cleared once a load took it.
   */
  load?: Uint8Array | null;
  /** The instance that load made: the key's state is trusted only while it is still the resident one. */
  instance?: Agent;
}

/** Messages read ahead of the committed position at most; reading waits past it. */
const WINDOW = 1024;
/** Messages of one key run and committed together at most (a backlog after a takeover, a burst). */
const MAX_BATCH = 64;
/** How often the committed position is written while messages flow. */
const POSITION_EVERY_MS = 200;
const TAKEOVER_SAMPLES = 10_000;

class Stopped extends Error {}

/** Keeps the last TAKEOVER_SAMPLES values. */
function sample(samples: number[], ms: number): void {
  if (samples.length >= TAKEOVER_SAMPLES) samples.shift();
  samples.push(ms);
}

/** A message waiting for (or in) its key's turn. */
interface Pending {
  message: LogMessage;
  /** Its place in the partition's order: done once every agent it goes to is done with it. */
  entry: { seq: number; remaining: number };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class PartitionConsumer implements LogReader {
  /** Highest position such that every message at or below it is done (applied, skipped or dead-lettered). */
  committed: number;
  /** Messages of the partition not delivered yet, as of the last delivery. */
  pending = 0;
  /** When the first message was handled in this ownership (performance.now()), for handover timings. */
  firstMessageAt: number | undefined;
  private aborted = false;
  private draining = false;
  /** Sequences read and not done, in order, with how many agents still work on each. */
  private readonly open: { seq: number; remaining: number }[] = [];
  private openHead = 0;
  /** Per agent and key: messages read and not finished, in order; the first is being worked on. */
  private readonly keyQueues = new Map<string, Pending[]>();
  private readonly trusted = new Map<string, Trusted>();
  /** Per key, the revision of the last state this ownership committed: a read older than it is a stale one. */
  private readonly committedRevision = new Map<string, number>();
  private inFlight = 0;
  private roomWaiter: (() => void) | undefined;
  private idleWaiter: (() => void) | undefined;
  private positionWritten: number;
  private positionTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: PartitionContext,
    readonly partition: number,
    readonly epoch: number,
    /** The committed position read when the partition was taken. */
    from: number,
    private readonly log: PartitionLog,
  ) {
    this.committed = from;
    this.positionWritten = from;
  }

  get lost(): boolean {
    return this.aborted;
  }

  async start(): Promise<void> {
    await this.log.open(this.committed, this);
    this.positionTimer = setInterval(() => void this.writePosition(), POSITION_EVERY_MS);
  }

  hasRoom(): boolean {
    return this.inFlight < WINDOW || this.aborted || this.draining;
  }

  waitForRoom(): Promise<void> | undefined {
    if (this.hasRoom()) return undefined;
    return new Promise<void>((resolve) => (this.roomWaiter = resolve));
  }

  offer(m: LogMessage): void {
    if (this.aborted || this.draining) return; // read after the stop: left for the next owner
    this.firstMessageAt ??= performance.now();
    this.pending = m.pending;
    const { seq, topic, key } = m;
    const targets = this.ctx.agents.filter((a) => a.matches(topic));
    if (targets.length === 0 || key === undefined) {
      // Nothing here consumes it (or it has no key, which a partition never should): it is done at once.
      this.open.push({ seq, remaining: 0 });
      this.advance();
      return;
    }
    const entry = { seq, remaining: targets.length };
    this.open.push(entry);
    for (const agent of targets) {
      const id = `${agent.spec.name}\u0000${key}`;
      this.inFlight++;
      const item: Pending = { message: m, entry };
      const queue = this.keyQueues.get(id);
      if (queue !== undefined) queue.push(item);
      else {
        this.keyQueues.set(id, [item]);
        void this.drainKey(id, agent, key);
      }
    }
  }

  /** Works through one key's queued messages, in order, a batch at a time, until none are left. */
  private async drainKey(id: string, agent: ClusterAgent, key: string): Promise<void> {
    const queue = this.keyQueues.get(id)!;
    try {
      while (queue.length > 0) {
        const batch = queue.slice(0, MAX_BATCH);
        try {
          await this.handleBatch(agent, key, batch);
        } catch (error) {
          // Left undone, so the position stays before them and the next owner reads them again. A key must never go
          // on to later messages without these (the skip rule would then drop them for good): anything but Stopped
          // (a bug, since handle retries every failure) stops the whole partition, which this node then takes again
          // from its committed position.
          if (!(error instanceof Stopped)) {
            this.ctx.log(
              `cluster: partition ${this.partition}: ${agent.spec.name}/${key} at ${batch[0]!.message.seq}: ${String(error)}; stopping the partition to read it again from ${this.committed}`,
            );
            this.abort();
          }
          this.settle(queue.splice(0), false);
          return;
        }
        this.settle(queue.splice(0, batch.length), true);
      }
    } finally {
      this.keyQueues.delete(id);
    }
  }

  private settle(items: Pending[], done: boolean): void {
    for (const item of items) {
      if (done) item.entry.remaining--;
      this.inFlight--;
    }
    if (done) this.advance();
    if (this.inFlight < WINDOW && this.roomWaiter !== undefined) {
      const resolve = this.roomWaiter;
      this.roomWaiter = undefined;
      resolve();
    }
    if (this.inFlight === 0 && this.idleWaiter !== undefined) this.idleWaiter();
  }

  /**
   * A key's batch: the messages it has not applied run one after another on its instance, their outputs are
   * published, and one compare-and-set commits the state after the last (so a backlog costs one write, not one per
   * message). Any failed run, refused write or error falls back to one message at a time (handle), from the
   * bucket's state.
   */
  private async handleBatch(agent: ClusterAgent, key: string, batch: Pending[]): Promise<void> {
    if (batch.length === 1) return this.handle(agent, key, batch[0]!.message);
    const { spec, keyed } = agent;
    const { counts, states } = this.ctx;
    const messages = batch.map((p) => p.message);
    let todo = messages;
    try {
      this.check();
      const trusted = await this.trust(agent, key);
      todo = messages.filter((m) => m.seq > trusted.applied);
      counts.skipped += batch.length - todo.length;
      if (todo.length === 0) return;
      const handed = trusted.load instanceof Uint8Array;
      const instance = await this.instance(agent, key, trusted);
      this.check();
      const results = await Promise.all(todo.map((m) => instance.runEncoded(m.payload)));
      const last = results[results.length - 1]!;
      if (handed && results[0]!.wakeMs !== undefined) sample(counts.takeoverWakeMs, results[0]!.wakeMs);
      if (results.every((r) => r.status === 'ok') && last.state !== undefined) {
        for (let i = 0; i < todo.length; i++)
          if (results[i]!.events.length > 0) await this.publishEvents(spec.name, key, todo[i]!.seq, results[i]!);
        await this.ctx.checkBase(agent, last.state);
        this.check();
        const seq = todo[todo.length - 1]!.seq;
        trusted.revision = await states.write(spec.name, key, last.state, seq, trusted.revision);
        trusted.applied = seq;
        this.committedRevision.set(keyed.stateKeyOf(key), trusted.revision);
        counts.applied += todo.length;
        return;
      }
    } catch (error) {
      if (error instanceof Stopped) throw error;
      if (error instanceof FencedWrite) counts.fenced++;
      // A read, a load, a run on an instance closed meanwhile, a publish or a write failed: handle retries each.
    }
    // Something failed: forget the instance's state and go one message at a time from the bucket's.
    await this.forget(agent, key);
    for (const m of todo) await this.handle(agent, key, m);
  }

  /**
   * The key's instance: loaded from the state trust() read (when it handed one), else the one loaded then. Throws if
   * the resident instance is not that one any more (closed and loaded again behind this ownership's back, say by an
   * aborted consumer of the same partition): its state would come from the local cache, not the bucket.
   */
  private async instance(agent: ClusterAgent, key: string, trusted: Trusted): Promise<Agent> {
    const { keyed } = agent;
    if (trusted.load === undefined && keyed.resident(key) !== trusted.instance) {
      throw new Error(`the instance of ${agent.spec.name}/${key} was replaced since its state was read`);
    }
    const instance = await keyed.agent(key, trusted.load);
    delete trusted.load;
    trusted.instance = instance;
    return instance;
  }

  /** Drops what this ownership knows of a key (its next message reads the bucket again). An aborted consumer leaves
   * the instance alone: the partition's next consumer on this node may be using it, and re-reads on first touch anyway. */
  private async forget(agent: ClusterAgent, key: string): Promise<void> {
    this.trusted.delete(agent.keyed.stateKeyOf(key));
    if (!this.aborted) await agent.keyed.evict(key);
  }

  /** Waits before retrying after a failure that is not the agent's (a read, write or publish to NATS that failed). */
  private async backOff(agent: ClusterAgent, key: string, seq: number, what: string, error: unknown, failures: number) {
    this.ctx.counts.retried++;
    this.ctx.log(
      `cluster: partition ${this.partition}: ${agent.spec.name}/${key} at ${seq}: ${what}: ${String(error)}; retrying`,
    );
    // Short: these fail together while a nats-server dies and its streams elect leaders (a few seconds), and every
    // key waiting here holds up its partition's position once they are back.
    await sleep(Math.min(2000, 50 * 2 ** Math.min(failures, 6)));
  }

  /** The key's state as this ownership knows it; read from the bucket on first touch (and after any doubt). */
  private async trust(agent: ClusterAgent, key: string): Promise<Trusted> {
    const { keyed, spec } = agent;
    const { sandbox, states } = this.ctx;
    const stateKey = keyed.stateKeyOf(key);
    let trusted = this.trusted.get(stateKey);
    if (
      trusted === undefined ||
      trusted.restarts !== sandbox.workerRestarts ||
      (trusted.load === undefined && keyed.resident(key) !== trusted.instance)
    ) {
      await keyed.evict(key);
      const started = performance.now();
      let stored = await states.read(spec.name, key);
      sample(this.ctx.counts.takeoverReadMs, performance.now() - started);
      const committed = this.committedRevision.get(stateKey) ?? 0;
      if (stored.revision < committed) {
        // Older than a write this node had committed: a replica behind its leader. Ask the leader.
        stored = await this.ctx.leaderStates.read(spec.name, key);
        if (stored.revision < committed) {
          this.ctx.counts.regressions++;
          this.ctx.log(
            `cluster: partition ${this.partition}: the bucket's state of ${spec.name}/${key} (revision ${stored.revision}) is older than one this node committed (${committed}): a committed write was lost`,
          );
        }
      }
      trusted = {
        applied: stored.applied,
        revision: stored.revision,
        restarts: sandbox.workerRestarts,
        load: stored.image ?? null,
      };
      this.trusted.set(stateKey, trusted);
    }
    return trusted;
  }

  private advance(): void {
    while (this.openHead < this.open.length && this.open[this.openHead]!.remaining === 0) {
      this.committed = this.open[this.openHead]!.seq;
      this.openHead++;
    }
    if (this.openHead > 1024 && this.openHead * 2 > this.open.length) {
      this.open.splice(0, this.openHead);
      this.openHead = 0;
    }
  }

  private check(): void {
    if (this.aborted) throw new Stopped();
  }

  /**
   * One message for one agent's key, to the end: applied and committed, skipped as already applied, or dead-lettered.
   * Returns only then (or throws Stopped): a failure of NATS or Kafka (a read, publish, write or ownership check) is
   * retried until it works, since going on to the key's next message without this one would lose it.
   */
  private async handle(agent: ClusterAgent, key: string, m: LogMessage): Promise<void> {
    const { seq, payload } = m;
    const { spec } = agent;
    const { counts, states } = this.ctx;
    const stateKey = agent.keyed.stateKeyOf(key);
    let runs = 0;
    let failures = 0;
    for (;;) {
      this.check();
      let trusted: Trusted;
      try {
        trusted = await this.trust(agent, key);
      } catch (error) {
        await this.backOff(agent, key, seq, "reading the key's state", error, ++failures);
        continue;
      }
      if (seq <= trusted.applied) {
        counts.skipped++;
        return;
      }
      this.check();
      let result: RunResult;
      const handed = trusted.load instanceof Uint8Array;
      try {
        const instance = await this.instance(agent, key, trusted);
        result = await instance.runEncoded(payload);
      } catch (error) {
        result = hostOutcome('crashed', 'wasm', `cannot load the key's instance: ${(error as Error).message}`);
      }
      if (handed && result.wakeMs !== undefined) sample(counts.takeoverWakeMs, result.wakeMs);
      if (result.status !== 'ok' || result.state === undefined) {
        // The instance may hold a half-made change: forget the cache, so a retry starts from the bucket's state.
        await this.forget(agent, key);
        runs++;
        const reason = `${spec.name}: ${result.status}${result.message ? `: ${result.message}` : ''}`;
        const final =
          result.status === 'invalid-input' || result.status === 'invalid-module' || runs >= spec.maxDeliveries;
        if (final) {
          await this.deadLetter(agent, key, m, reason, runs);
          return;
        }
        counts.retried++;
        await sleep(Math.min(30_000, spec.backoffMs * 2 ** (runs - 1)));
        continue;
      }
      try {
        if (result.events.length > 0) await this.publishEvents(spec.name, key, seq, result);
        await this.ctx.checkBase(agent, result.state);
        this.check();
        trusted.revision = await states.write(spec.name, key, result.state, seq, trusted.revision);
        trusted.applied = seq;
        this.committedRevision.set(stateKey, trusted.revision);
        counts.applied++;
        return;
      } catch (error) {
        await this.forget(agent, key);
        if (error instanceof Stopped) throw error;
        if (!(error instanceof FencedWrite)) {
          await this.backOff(agent, key, seq, 'publishing or committing', error, ++failures);
          continue;
        }
        counts.fenced++;
        // Another node wrote the key: if it now owns the partition, this node stops; if not (an earlier owner
        // finishing its last message), the key is read again and the message applied on top, or skipped. When the
        // question cannot be asked (NATS unreachable), the re-read and the fence decide, after a pause.
        try {
          if (!(await this.ctx.stillOwner(this.partition, this.epoch))) this.abort();
        } catch (failure) {
          await this.backOff(agent, key, seq, 'asking whether it still owns the partition', failure, ++failures);
        }
      }
    }
  }

  /** Outputs go out before the state commits (NATS: with ids a replay repeats, which the stream drops). */
  private async publishEvents(agent: string, key: string, seq: number, result: RunResult): Promise<void> {
    await this.log.publish(agent, key, seq, result);
    this.ctx.counts.eventsPublished += result.events.length;
  }

  /** Publishes the message to the dead-letter topic (retried until it is out: the message is done only then). */
  private async deadLetter(
    agent: ClusterAgent,
    key: string,
    m: LogMessage,
    reason: string,
    deliveries: number,
  ): Promise<void> {
    for (let failures = 1; ; failures++) {
      this.check();
      try {
        await this.log.deadLetter(agent.spec, key, m, reason, deliveries);
        break;
      } catch (error) {
        await this.backOff(agent, key, m.seq, 'dead-lettering', error, failures);
      }
    }
    this.ctx.counts.deadLettered++;
  }

  /** Commits the position; a source that refuses it (a failed Kafka offset commit) has taken the partition away. */
  private async writePosition(): Promise<void> {
    if (this.aborted || this.committed <= this.positionWritten) return;
    const position = this.committed;
    try {
      await this.log.commit(position);
      this.positionWritten = Math.max(this.positionWritten, position);
    } catch (error) {
      this.ctx.log(`cluster: partition ${this.partition}: committing position ${position} failed: ${String(error)}`);
      if (error instanceof PartitionLost) this.abort();
    }
  }

  /** The partition was taken by another node: stop at once; what is in flight is refused by the fence or redone. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    if (this.positionTimer !== undefined) clearInterval(this.positionTimer);
    void this.log.close().catch(() => {});
    this.roomWaiter?.();
  }

  /** Graceful hand-over: stop reading, finish what was read, write the committed position. Returns it. */
  async drain(): Promise<number> {
    this.draining = true;
    if (this.positionTimer !== undefined) clearInterval(this.positionTimer);
    this.roomWaiter?.();
    await this.log.close();
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idleWaiter = resolve));
    if (!this.aborted) await this.writePosition();
    return this.committed;
  }
}
