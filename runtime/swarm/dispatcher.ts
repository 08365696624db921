// Turns queue messages into agent runs: one subscription per pattern, an outbox for events, ack after publish.
import type { Agent } from '../agent/agent.ts';
import type { RunResult, RunStatus } from '../agent/types.ts';
import { encode, isMessagePack } from '../codec.ts';
import { SandboxError } from '../errors.ts';
import type { PublishMessage, QueueBackend, QueueMessage, Subscription } from '../queue/types.ts';
import type { Sandbox } from '../sandbox.ts';
import type { AgentSpec } from './topology.ts';

export interface AgentStats {
  name: string;
  /** Runs by status (a redelivered message runs again and counts again). */
  runs: Partial<Record<RunStatus, number>>;
  /** Messages acked after their run succeeded and its events were published. */
  acked: number;
  /** Failed runs handed back for redelivery. */
  retried: number;
  /** Messages sent to the dead-letter topic (max deliveries used up, or a payload that can never run). */
  deadLettered: number;
  eventsPublished: number;
}

export interface DispatcherOptions {
  queue: QueueBackend;
  sandbox: Sandbox;
  /** Where messages go after their last failed delivery. */
  deadLetter: string;
  /** Runs handed to one instance at a time (default 128: enough to fill a batch to its worker); they execute one after another in its worker. 1 waits
   *  for each run to end before giving the instance the next. */
  pipeline?: number;
  /** Called after every run, before its message is settled (the demo counts outputs with it). */
  onRun?: (agent: string, message: QueueMessage, result: RunResult) => void;
}

/** Header set on every event an agent publishes: which agent emitted it. */
export const SOURCE_AGENT_HEADER = 'x-source-agent';

/**
 * A fixed set of instances of one agent. Each instance takes up to `depth` runs at a time: its worker runs
 * them one after another in the order given, so state sees messages in delivery order, and the next run's
 * input is already waiting when one ends (a run is a thread round trip; waiting for each would halve the
 * rate or worse). A run waits for a free slot, so runs never outnumber instances × depth.
 */
class InstancePool {
  private readonly load: number[];
  private readonly waiters: ((index: number) => void)[] = [];

  constructor(
    readonly instances: Agent[],
    private readonly depth: number,
  ) {
    this.load = instances.map(() => 0);
  }

  /** The index of the least busy instance with a free slot. */
  acquire(): number | Promise<number> {
    let best = -1;
    for (let i = 0; i < this.load.length; i++) if (this.load[i]! < this.depth && (best < 0 || this.load[i]! < this.load[best]!)) best = i;
    if (best >= 0) {
      this.load[best]!++;
      return best;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(index: number): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(index);
    else this.load[index]!--;
  }
}

interface RunningAgent {
  spec: AgentSpec;
  pool: InstancePool;
  subscriptions: Subscription[];
  stats: AgentStats;
}

/**
 * Runs agents on the messages of their subscriptions. A message becomes a run; a run that ends `ok` has its
 * events published and then its message acked (a crash in between means redelivery, never loss); any other
 * outcome publishes nothing and naks the message, which the queue redelivers with backoff and dead-letters
 * after the agent's `maxDeliveries`. Work in flight is bounded by each agent's concurrency (instances) times
 * the pipeline depth, and the queue's prefetch; nothing is buffered here.
 */
export class Dispatcher {
  private readonly agents = new Map<string, RunningAgent>();
  private inFlight = 0;
  /** Failed deliveries waiting for their redelivery; the swarm is not idle while any remain. */
  private awaitingRetry = 0;
  private lastActivity = Date.now();
  private stopped = false;

  private readonly pipeline: number;

  constructor(private readonly options: DispatcherOptions) {
    this.pipeline = options.pipeline ?? 128;
    if (!Number.isInteger(this.pipeline) || this.pipeline < 1 || this.pipeline > 1024) {
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', `pipeline must be an integer from 1 to 1024, got ${String(options.pipeline)}`);
    }
  }

  /** Loads `spec.concurrency` instances of the agent and subscribes to its patterns. */
  async addAgent(spec: AgentSpec): Promise<void> {
    if (this.stopped) throw new SandboxError('SANDBOX_CLOSED', 'the dispatcher is stopped');
    if (this.agents.has(spec.name)) throw new SandboxError('SANDBOX_INVALID_OPTIONS', `agent ${spec.name} is already running`);
    const instances: Agent[] = [];
    try {
      for (let i = 0; i < spec.concurrency; i++) instances.push(await this.options.sandbox.load(spec.module, { name: spec.name, limits: spec.limits }));
    } catch (error) {
      for (const a of instances) a.close();
      throw error;
    }
    const running: RunningAgent = {
      spec,
      pool: new InstancePool(instances, this.pipeline),
      subscriptions: [],
      stats: { name: spec.name, runs: {}, acked: 0, retried: 0, deadLettered: 0, eventsPublished: 0 },
    };
    this.agents.set(spec.name, running);
    try {
      for (let i = 0; i < spec.subscribe.length; i++) {
        // Every member of a group must use one pattern, so an agent with several patterns has a group per pattern.
        const group = spec.subscribe.length === 1 ? spec.group : `${spec.group}_${i}`;
        const subscription = await this.options.queue.subscribe(spec.subscribe[i]!, (m) => this.handle(running, m), {
          group,
          concurrency: spec.concurrency * this.pipeline,
          maxDeliver: spec.maxDeliveries,
          backoffMs: spec.backoffMs,
          deadLetterTopic: this.options.deadLetter,
          // Settled explicitly below; a handler that throws (a failed publish) is nak'd by the queue.
          autoAck: false,
          // A timed-out run still has to come back before its message is redelivered.
          ackWaitMs: Math.max(30_000, (spec.limits.timeoutMs ?? 1000) * 4),
        });
        running.subscriptions.push(subscription);
      }
    } catch (error) {
      await this.removeAgent(running);
      throw error;
    }
  }

  private async handle(running: RunningAgent, message: QueueMessage): Promise<void> {
    const { spec, stats } = running;
    this.inFlight++;
    this.lastActivity = Date.now();
    if (message.deliveryCount > 1 && this.awaitingRetry > 0) this.awaitingRetry--;
    try {
      if (!isMessagePack(message.payload)) {
        // No run can ever take it; retrying would only delay the dead letter.
        stats.deadLettered++;
        message.term(`${spec.name}: the payload is not MessagePack (${message.payload.length} bytes)`);
        return;
      }
      const pooled = running.pool.acquire();
      const slot = typeof pooled === 'number' ? pooled : await pooled;
      let result: RunResult;
      try {
        result = await running.pool.instances[slot]!.runEncoded(message.payload);
      } finally {
        running.pool.release(slot);
      }
      stats.runs[result.status] = (stats.runs[result.status] ?? 0) + 1;
      this.options.onRun?.(spec.name, message, result);
      if (result.status === 'ok') {
        if (result.events.length > 0) {
          const headers = { [SOURCE_AGENT_HEADER]: spec.name };
          const events: PublishMessage[] = result.events.map((e) => ({ topic: e.topic, payload: encode(e.payload), key: message.key, headers }));
          // If this throws the message is nak'd and runs again: events may repeat, never go missing.
          await this.options.queue.publishMany(events);
          stats.eventsPublished += events.length;
        }
        stats.acked++;
        message.ack();
        return;
      }
      const reason = `${spec.name}: ${result.status}${result.message ? `: ${result.message}` : ''}`;
      if (result.status === 'invalid-input') {
        stats.deadLettered++;
        message.term(reason);
      } else if (message.deliveryCount >= spec.maxDeliveries) {
        stats.deadLettered++;
        message.nak(undefined, reason);
      } else {
        stats.retried++;
        this.awaitingRetry++;
        message.nak(undefined, reason);
      }
    } finally {
      this.inFlight--;
      this.lastActivity = Date.now();
    }
  }

  /** A snapshot of every agent's counters. */
  stats(): AgentStats[] {
    return [...this.agents.values()].map(({ stats }) => ({ ...stats, runs: { ...stats.runs } }));
  }

  /** Resolves once no run is in flight, no failed message awaits redelivery, and nothing has arrived for
   *  `quietMs` since the call (the memory queue delivers what it holds within a tick, so quiet means drained
   *  there; a remote queue may still hold messages). */
  async whenIdle(quietMs = 100, signal?: AbortSignal): Promise<void> {
    // Quiet counts from the call at the earliest: messages published just before it may not be delivered yet.
    const calledAt = Date.now();
    for (;;) {
      if (signal?.aborted) return;
      const quiet = Date.now() - Math.max(this.lastActivity, calledAt);
      if (this.inFlight === 0 && this.awaitingRetry === 0 && quiet >= quietMs) return;
      await new Promise((r) => setTimeout(r, Math.max(10, quietMs - quiet)));
    }
  }

  /** Stops taking messages, waits for runs in flight to finish and settle, and frees the agents. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.agents.values()].map((a) => this.removeAgent(a)));
  }

  private async removeAgent(running: RunningAgent): Promise<void> {
    await Promise.all(running.subscriptions.map((s) => s.close()));
    for (const agent of running.pool.instances) agent.close();
  }
}
