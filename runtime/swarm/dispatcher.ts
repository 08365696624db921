// Turns queue messages into agent runs: one subscription per pattern, an outbox for events, ack after publish.
import { readFile } from 'node:fs/promises';
import type { Agent } from '../agent/agent.ts';
import { hostOutcome } from '../agent/outcome.ts';
import type { EncodedRunOptions, EngineName, RunResult, RunStatus } from '../agent/types.ts';
import { encode, isMessagePack } from '../codec.ts';
import { isSandboxError, SandboxError } from '../errors.ts';
import { deadLetterHeaders } from '../queue/dead-letter.ts';
import type {
  PublishMessage,
  QueueBackend,
  QueueHeaders,
  QueueMessage,
  Settlement,
  Subscription,
} from '../queue/types.ts';
import { publishChannel, runChannel, type PublishChannelMessage, type RunChannelMessage } from '../channels.ts';
import { TRACEPARENT_HEADER } from '../ops/trace-context.ts';
import { digestPrefix, MESSAGE_ID_HEADER } from '../ops/message-digest.ts';
import { MessageTrace } from './message-trace.ts';
import type { LoadOptions, Sandbox } from '../sandbox.ts';
import { AgentAdmission, burstOf } from './admission.ts';
import { Escalation, type EscalationConfig, type QuarantineEvent } from './escalation.ts';
import { KeyedInstances } from './keyed-instances.ts';
import { TokenBucket } from './token-bucket.ts';
import type { AdmissionSpec, AgentSpec } from './topology.ts';

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
  /** Admission: messages held until their token was due, and for how long in all (ms). */
  throttled: number;
  throttledMs: number;
  /** Admission: messages handed back to the queue (nak with a delay) because their token was too far off. */
  shed: number;
  /** The most messages the agent's inbox held at once (its bound is `inbox`). */
  inboxPeak: number;
  inbox: number;
  /** Messages parked on `<deadLetter>.quarantine` while the agent was quarantined. */
  parked: number;
  /** Quarantines this process began for the agent. */
  quarantines: number;
  /** Agents with `instances: per-key`: instances loaded so far, one per key seen. */
  keys?: number;
  /** Messages handed to the agent and not yet settled (running, waiting for admission or an instance). */
  inFlight: number;
}

/** A subscription of an agent whose backend can say how far behind it is (`Subscription.lag`). */
export interface AgentLag {
  agent: string;
  pattern: string;
  lag(): Promise<number>;
}

export interface DispatcherOptions {
  queue: QueueBackend;
  sandbox: Sandbox;
  /** Where messages go after their last failed delivery. */
  deadLetter: string;
  /** Runs handed to one instance at a time (default 128: enough to fill a batch to its worker); they execute one after another in its worker. 1 waits
   *  for each run to end before giving the instance the next. */
  pipeline?: number;
  /** Called after every run, before its message is settled (the demo counts outputs with it). A returned
   *  promise is awaited before the message is settled (the audit trail resolves it once the run's line is
   *  written); if it rejects, the message is nak'd and runs again. */
  onRun?: (agent: string, message: QueueMessage, result: RunResult, timing: RunTiming) => void | Promise<void>;
  /** Called when a quarantined agent's message has been parked on `topic`, before it is acked; awaited like
   *  onRun (the audit trail's `quarantined` line). */
  onParked?: (agent: string, message: QueueMessage, topic: string) => void | Promise<void>;
  /** A token bucket shared by every agent (the topology's `admission`). */
  admission?: AdmissionSpec | undefined;
  /** Failure counting and quarantine (the topology's `escalation`). */
  escalation?: EscalationConfig | undefined;
  /** Operational lines: shed messages, quarantines, Redis fallback (default: stderr). */
  onLog?: ((line: string) => void) | undefined;
  /** Trace each message (default false): continue the W3C `traceparent` of its headers (or start a trace), put
   *  the run's on the events it publishes, and publish spans on the `sandbox:trace:span` channel. */
  tracing?: boolean | undefined;
  /** Have each run's worker compute the message's content id (`RunResult.inputDigest`, docs/operations.md) for a
   *  message without an `x-message-id` header, so `onRun` need not hash it on the host thread (default false). */
  inputDigests?: boolean | undefined;
  /** Runs' outputs are not sent back from the workers: `result.output` is null in `onRun` and on the run channel
   *  (default false). For a process that never reads them, as `sandbox serve`. */
  discardOutputs?: boolean | undefined;
}

/** When a message reached the dispatcher and how long it waited before its run (see `waitMs`). */
export interface RunTiming {
  /** `performance.now()` when the queue handed the message to the dispatcher. */
  receivedAt: number;
  /**
   * Milliseconds between delivery and the start of the run: admission (tokens, the inbox), a free instance
   * slot, the instance's pipeline in its worker and the thread hand-offs. The worker does not report when a
   * run began, so this is the time from delivery to the result less the run's own `durationMs` (it includes
   * the result's trip back, a few microseconds).
   */
  waitMs: number;
}

/** The span of the dispatcher's work so far: from the first delivery to the last settlement. */
export interface DispatcherSpan {
  /** Messages handled (runs, parked, rejected); a redelivery counts again. */
  messages: number;
  /** `performance.now()` at the first delivery and at the end of the last handling; null before any. */
  firstAt: number | null;
  lastAt: number | null;
}

/** Suffix of the dead-letter topic where a quarantined agent's messages are parked. */
export const QUARANTINE_SUFFIX = '.quarantine';
const DEFAULT_MAX_WAIT_MS = 1000;
const SHED_LOG_INTERVAL_MS = 1000;
/** Load failures of per-key instances are logged at most this often per agent. */
const LOAD_LOG_INTERVAL_MS = 1000;

/** Header set on every event an agent publishes: which agent emitted it. */
export const SOURCE_AGENT_HEADER = 'x-source-agent';

/** An agent's counters before its first message. */
export function newAgentStats(name: string): AgentStats {
  return {
    name,
    runs: {},
    acked: 0,
    retried: 0,
    deadLettered: 0,
    eventsPublished: 0,
    throttled: 0,
    throttledMs: 0,
    shed: 0,
    inboxPeak: 0,
    inbox: 0,
    parked: 0,
    quarantines: 0,
    inFlight: 0,
  };
}

/** The queue group an agent's `i`-th pattern subscribes with (and its dead letters name). Every member of a group
 *  must use one pattern, so an agent with several patterns has a group per pattern: `<group>_<i>`. */
export function subscriptionGroup(spec: Pick<AgentSpec, 'group' | 'subscribe'>, i: number): string {
  return spec.subscribe.length === 1 ? spec.group : `${spec.group}_${i}`;
}

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
    for (let i = 0; i < this.load.length; i++)
      if (this.load[i]! < this.depth && (best < 0 || this.load[i]! < this.load[best]!)) best = i;
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
  /** A fixed set of instances (the default), or: */
  pool?: InstancePool;
  /** one instance per message key (`instances: per-key`). */
  keyed?: KeyedInstances;
  engine: EngineName;
  subscriptions: Subscription[];
  stats: AgentStats;
  admission: AgentAdmission;
  /** When shedding was last logged, and how many sheds that log line had counted. */
  shedLoggedAt: number;
  shedLogged: number;
  /** Per-key instances that failed to load, and when that was last logged. */
  loadFailures: number;
  loadLoggedAt: number;
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
  /** performance.now() of the last delivery's end (or the start). */
  private lastActivity = performance.now();
  private stopped = false;
  private handled = 0;
  private firstAt: number | null = null;
  private lastAt: number | null = null;

  private readonly pipeline: number;
  private readonly tracing: boolean;
  private readonly inputDigests: boolean;
  /** What every run is given when it needs no digest: undefined, or `{ discardOutput: true }`. */
  private readonly runOptions: EncodedRunOptions | undefined;
  private readonly swarmBucket: TokenBucket | undefined;
  private readonly escalation: Escalation | undefined;
  private readonly log: (line: string) => void;

  constructor(private readonly options: DispatcherOptions) {
    this.pipeline = options.pipeline ?? 128;
    this.tracing = options.tracing === true;
    this.inputDigests = options.inputDigests === true;
    this.runOptions = options.discardOutputs === true ? { discardOutput: true } : undefined;
    if (!Number.isInteger(this.pipeline) || this.pipeline < 1 || this.pipeline > 1024) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `pipeline must be an integer from 1 to 1024, got ${String(options.pipeline)}`,
      );
    }
    this.log = options.onLog ?? ((line) => void process.stderr.write(`sandbox: ${line}\n`));
    if (options.admission !== undefined)
      this.swarmBucket = new TokenBucket(options.admission.rate, burstOf(options.admission));
    if (options.escalation !== undefined) {
      this.escalation = new Escalation(options.escalation, {
        publish: (topic, event) =>
          options.queue.publish({ topic, payload: encode(event), headers: { [SOURCE_AGENT_HEADER]: event.agent } }),
        log: this.log,
      });
    }
  }

  /** Loads `spec.concurrency` instances of the agent (per-key agents: checks that the module loads, and loads
   *  each key's instance when its first message comes) and subscribes to its patterns. */
  async addAgent(spec: AgentSpec): Promise<void> {
    if (this.stopped) throw new SandboxError('SANDBOX_CLOSED', 'the dispatcher is stopped');
    if (this.agents.has(spec.name))
      throw new SandboxError('SANDBOX_INVALID_OPTIONS', `agent ${spec.name} is already running`);
    const inbox = spec.inbox ?? spec.concurrency * this.pipeline;
    const admission = new AgentAdmission({
      inbox,
      agentBucket:
        spec.rate === undefined
          ? undefined
          : new TokenBucket(spec.rate, burstOf({ rate: spec.rate, burst: spec.burst })),
      swarmBucket: this.swarmBucket,
      maxWaitMs: this.options.admission?.maxWaitMs ?? DEFAULT_MAX_WAIT_MS,
    });
    await this.escalation?.ready();
    const instances = spec.instances === 'per-key' ? await this.loadKeyed(spec) : await this.loadFixed(spec);
    const running: RunningAgent = {
      spec,
      ...instances,
      subscriptions: [],
      stats: newAgentStats(spec.name),
      admission,
      shedLoggedAt: 0,
      shedLogged: 0,
      loadFailures: 0,
      loadLoggedAt: 0,
    };
    this.agents.set(spec.name, running);
    try {
      for (let i = 0; i < spec.subscribe.length; i++) {
        const group = subscriptionGroup(spec, i);
        const subscription = await this.options.queue.subscribe(spec.subscribe[i]!, (m) => this.handle(running, m), {
          group,
          // The inbox bound is the subscription's: the queue hands out, and fetches, no more than that.
          concurrency: inbox,
          ...(spec.inbox === undefined ? {} : { prefetch: inbox }),
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

  private async loadFixed(spec: AgentSpec): Promise<Pick<RunningAgent, 'pool' | 'engine'>> {
    const instances: Agent[] = [];
    try {
      for (let i = 0; i < spec.concurrency; i++)
        instances.push(await this.options.sandbox.load(spec.module, loadOptions(spec)));
    } catch (error) {
      for (const a of instances) a.close();
      throw error;
    }
    return { pool: new InstancePool(instances, this.pipeline), engine: instances[0]?.engine ?? 'wasm' };
  }

  /** Reads the module once (a million loads then share its bytes and their hash) and loads it once, unkeyed, so a
   *  module that cannot load, or cannot hibernate, stops the start rather than every message. */
  private async loadKeyed(spec: AgentSpec): Promise<Pick<RunningAgent, 'keyed' | 'engine'>> {
    if (spec.concurrency !== 1) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `agent ${spec.name}: a per-key agent has one instance per key; concurrency must be 1, got ${spec.concurrency}`,
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(spec.module));
    } catch (error) {
      throw new SandboxError('SANDBOX_MODULE_NOT_FOUND', `cannot read ${spec.module}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const probe = await this.options.sandbox.load(bytes, loadOptions(spec));
    probe.close();
    return {
      keyed: new KeyedInstances(this.options.sandbox, spec.name, bytes, loadOptions(spec), this.pipeline),
      engine: probe.engine,
    };
  }

  /** The queue's handler. Not async itself: the common (unkeyed) message goes straight to `deliver`, so a message
   *  costs one async frame and one promise here rather than three. */
  private handle(running: RunningAgent, message: QueueMessage): Promise<void> | undefined {
    const receivedAt = performance.now();
    this.firstAt ??= receivedAt;
    this.inFlight++;
    running.stats.inFlight++;
    if (message.deliveryCount > 1 && this.awaitingRetry > 0) this.awaitingRetry--;
    if (!isMessagePack(message.payload)) {
      // No run can ever take it; retrying would only delay the dead letter.
      try {
        this.settle(
          running,
          message.term(`${running.spec.name}: the payload is not MessagePack (${message.payload.length} bytes)`),
        );
      } finally {
        this.settled(running);
      }
      return undefined;
    }
    if (running.keyed !== undefined) return this.handleKeyed(running, running.keyed, message, receivedAt);
    return this.deliver(running, message, receivedAt, undefined);
  }

  private async handleKeyed(
    running: RunningAgent,
    keyed: KeyedInstances,
    message: QueueMessage,
    receivedAt: number,
  ): Promise<void> {
    let turn: string | undefined;
    try {
      const refused = keyed.refuse(message.key);
      if (refused !== undefined) {
        this.settle(running, message.term(refused));
        this.settled(running);
        return;
      }
      // Taken before anything awaits, so a key's messages take their turns in the order they were delivered; a
      // message waiting here holds no inbox slot (the subscription's concurrency bounds how many wait).
      const waiting = keyed.turn(message.key!);
      turn = message.key!;
      if (waiting !== undefined) await waiting;
    } catch (error) {
      if (turn !== undefined) keyed.release(turn);
      this.settled(running);
      throw error;
    }
    // deliver gives the turn back and ends the handling.
    await this.deliver(running, message, receivedAt, turn);
  }

  /** The end of a message's handling, whatever its outcome (what `whenIdle` and `span` count). */
  private settled(running: RunningAgent): void {
    this.inFlight--;
    running.stats.inFlight--;
    this.handled++;
    const now = performance.now();
    this.lastAt = now;
    this.lastActivity = now;
  }

  /** Admission, the run, and the message's settlement: ack after the events are published, or nak / dead letter.
   *  Always ends the handling (`settled`), and gives back the key's turn when it holds one. */
  private async deliver(
    running: RunningAgent,
    message: QueueMessage,
    receivedAt: number,
    key: string | undefined,
  ): Promise<void> {
    const { spec, stats } = running;
    // Only when tracing is on: the header is not even read otherwise.
    const trace = this.tracing ? new MessageTrace(spec.name, this.options.queue.kind, message, receivedAt) : undefined;
    try {
      if (this.escalation?.quarantine(spec.name) !== undefined) return await this.park(running, message);
      // Shedding on the last allowed delivery would dead-letter a message that never ran: hold it instead.
      const pending = running.admission.admit(message.deliveryCount < spec.maxDeliveries);
      const decision = 'admitted' in pending ? pending : await pending;
      if (!decision.admitted) {
        this.shed(running, decision.retryInMs);
        this.settle(running, message.nak(decision.retryInMs, `${spec.name}: admission: rate limited`), trace);
        return;
      }
      let result: RunResult;
      try {
        if (this.escalation?.quarantine(spec.name) !== undefined) return await this.park(running, message);
        const runOptions =
          this.inputDigests && message.headers[MESSAGE_ID_HEADER] === undefined
            ? { digestPrefix: digestPrefix(message.topic, message.key), discardOutput: this.runOptions !== undefined }
            : this.runOptions;
        if (key === undefined) {
          // Inline rather than a helper: one async frame less per message.
          const pool = running.pool!;
          const pooled = pool.acquire();
          const slot = typeof pooled === 'number' ? pooled : await pooled;
          try {
            result = await pool.instances[slot]!.runEncoded(message.payload, runOptions);
          } finally {
            pool.release(slot);
          }
        } else {
          result = await this.runKeyed(running, key, message.payload, runOptions);
        }
      } finally {
        running.admission.leave();
      }
      stats.runs[result.status] = (stats.runs[result.status] ?? 0) + 1;
      trace?.ran(result);
      if (this.options.onRun !== undefined || runChannel.hasSubscribers) {
        const waitMs = Math.max(0, performance.now() - receivedAt - result.durationMs);
        if (runChannel.hasSubscribers)
          runChannel.publish({
            dispatcher: this,
            agent: spec.name,
            message,
            result,
            receivedAt,
            waitMs,
          } satisfies RunChannelMessage);
        // The audit trail: its line is written before the message is settled.
        const pending = this.options.onRun?.(spec.name, message, result, { receivedAt, waitMs });
        if (pending !== undefined) await pending;
      }
      if (result.status === 'ok') {
        if (result.events.length > 0) {
          const headers: QueueHeaders = { [SOURCE_AGENT_HEADER]: spec.name };
          // The run's span is the parent of whatever its events cause downstream.
          if (trace !== undefined) headers[TRACEPARENT_HEADER] = trace.childTraceParent();
          // The guest's own bytes, checked when it emitted them: no decode and re-encode on the way.
          const events: PublishMessage[] = result.events.map((e) => ({
            topic: e.topic,
            payload: e.bytes,
            key: message.key,
            headers,
          }));
          try {
            await this.options.queue.publishMany(events);
          } catch (error) {
            // Nak'd, so it runs again: events may repeat, never go missing.
            const why = error instanceof Error ? error.message : String(error);
            this.settle(running, message.nak(undefined, `${spec.name}: publishing its events failed: ${why}`), trace);
            return;
          }
          stats.eventsPublished += events.length;
          if (publishChannel.hasSubscribers)
            publishChannel.publish({
              dispatcher: this,
              agent: spec.name,
              message,
              events,
            } satisfies PublishChannelMessage);
        }
        stats.acked++;
        message.ack();
        if (trace !== undefined) trace.settlement = 'ack';
        return;
      }
      const reason = `${spec.name}: ${result.status}${result.message ? `: ${result.message}` : ''}`;
      // The same input or module fails the same way on every delivery: dead-letter at once instead of retrying.
      // Whether a nak is retried or dead-lettered is the queue's call (its maxDeliver); it says which.
      const permanent = result.status === 'invalid-input' || result.status === 'invalid-module';
      this.settle(running, permanent ? message.term(reason) : message.nak(undefined, reason), trace);
      if (this.escalation !== undefined) {
        if ((await this.escalation.recordFailure(spec.name)).began) stats.quarantines++;
      }
    } finally {
      if (key !== undefined) running.keyed!.release(key);
      this.settled(running);
      trace?.end();
    }
  }

  /** Counts a nak or term by what the queue decided with it. */
  private settle(running: RunningAgent, settlement: Settlement, trace?: MessageTrace): void {
    if (trace !== undefined) trace.settlement = settlement;
    if (settlement === 'dead-letter') {
      running.stats.deadLettered++;
    } else if (settlement === 'retry') {
      running.stats.retried++;
      this.awaitingRetry++;
    }
  }

  /** Runs on the key's instance, loading it first if this is the key's first message. A failed load is a failed
   *  run (retried, then dead-lettered, its reason in the audit line), not an exception. */
  private async runKeyed(
    running: RunningAgent,
    key: string,
    payload: Uint8Array,
    runOptions: EncodedRunOptions | undefined,
  ): Promise<RunResult> {
    const keyed = running.keyed!;
    const slot = keyed.acquireSlot();
    if (slot !== undefined) await slot;
    try {
      let agent: Agent;
      try {
        agent = await keyed.agent(key);
      } catch (error) {
        return this.loadFailed(running, key, error);
      }
      return await agent.runEncoded(payload, runOptions);
    } finally {
      keyed.releaseSlot();
    }
  }

  private loadFailed(running: RunningAgent, key: string, error: unknown): RunResult {
    const name = running.spec.name;
    const what = isSandboxError(error) ? `${error.code}: ${error.message}` : String(error);
    const message = `cannot load the instance for key ${JSON.stringify(key)}: ${what}`;
    running.loadFailures++;
    const now = Date.now();
    if (now - running.loadLoggedAt >= LOAD_LOG_INTERVAL_MS) {
      running.loadLoggedAt = now;
      this.log(`${name}: ${message} (${running.loadFailures} failed load(s) in all)`);
    }
    // An initialisation that failed has its own outcome (trap, out-of-fuel, ...); anything else the module, its
    // stored state or the store refused.
    const init = isSandboxError(error, 'SANDBOX_AGENT_INIT_FAILED')
      ? (error.result as RunResult | undefined)
      : undefined;
    if (init !== undefined) return { ...init, message };
    const refused =
      isSandboxError(error) &&
      [
        'SANDBOX_INVALID_MODULE',
        'SANDBOX_STATE_MISMATCH',
        'SANDBOX_STATE_CORRUPT',
        'SANDBOX_MODULE_NOT_FOUND',
        'SANDBOX_INVALID_OPTIONS',
      ].includes(error.code);
    return hostOutcome(refused ? 'invalid-module' : 'crashed', running.engine, message);
  }

  /** Parks a quarantined agent's message on `<deadLetter>.quarantine` (ack after publish: never lost). */
  private async park(running: RunningAgent, message: QueueMessage): Promise<void> {
    const name = running.spec.name;
    await this.options.queue.publish({
      topic: `${this.options.deadLetter}${QUARANTINE_SUFFIX}`,
      payload: message.payload,
      key: message.key,
      headers: deadLetterHeaders(
        {
          headers: message.headers,
          topic: message.topic,
          reason: `${name}: quarantined`,
          deliveryCount: message.deliveryCount,
          group: running.spec.group,
        },
        { [SOURCE_AGENT_HEADER]: name },
      ),
    });
    running.stats.parked++;
    if (this.options.onParked !== undefined) {
      const pending = this.options.onParked(name, message, `${this.options.deadLetter}${QUARANTINE_SUFFIX}`);
      if (pending !== undefined) await pending;
    }
    message.ack();
  }

  private shed(running: RunningAgent, retryInMs: number): void {
    const now = Date.now();
    const shed = running.admission.counters.shed;
    if (now - running.shedLoggedAt < SHED_LOG_INTERVAL_MS) return;
    this.log(
      `admission: ${running.spec.name} shed ${shed - running.shedLogged} message(s) (${shed} in all), rate limited; redelivery in ${retryInMs} ms`,
    );
    running.shedLoggedAt = now;
    running.shedLogged = shed;
  }

  /** A snapshot of every agent's counters. */
  stats(): AgentStats[] {
    return [...this.agents.values()].map(({ stats, admission, keyed }) => {
      const c = admission.counters;
      const s: AgentStats = {
        ...stats,
        runs: { ...stats.runs },
        throttled: c.throttled,
        throttledMs: Math.round(c.throttledMs),
        shed: c.shed,
        inboxPeak: c.inboxPeak,
        inbox: c.inbox,
      };
      if (keyed !== undefined) s.keys = keyed.size;
      return s;
    });
  }

  /** The quarantines in force now (escalation; empty without it): what the dashboard lists. */
  quarantined(): QuarantineEvent[] {
    return this.escalation?.inForce() ?? [];
  }

  /** The agents' subscriptions whose backend reports lag (the `sandbox_queue_lag` metric asks them at scrape time). */
  lags(): AgentLag[] {
    const lags: AgentLag[] = [];
    for (const { spec, subscriptions } of this.agents.values()) {
      for (const s of subscriptions) {
        if (s.lag !== undefined) lags.push({ agent: spec.name, pattern: s.pattern, lag: () => s.lag!() });
      }
    }
    return lags;
  }

  /** From the first delivery to the last settlement: what a throughput figure divides by. */
  span(): DispatcherSpan {
    return { messages: this.handled, firstAt: this.firstAt, lastAt: this.lastAt };
  }

  /** Resolves once no run is in flight, no failed message awaits redelivery, and nothing has arrived for
   *  `quietMs` since the call (the memory queue delivers what it holds within a tick, so quiet means drained
   *  there; a remote queue may still hold messages). */
  async whenIdle(quietMs = 100, signal?: AbortSignal): Promise<void> {
    // Quiet counts from the call at the earliest: messages published just before it may not be delivered yet.
    const calledAt = performance.now();
    for (;;) {
      if (signal?.aborted) return;
      const quiet = performance.now() - Math.max(this.lastActivity, calledAt);
      if (this.inFlight === 0 && this.awaitingRetry === 0 && quiet >= quietMs) return;
      await new Promise((r) => setTimeout(r, Math.max(10, quietMs - quiet)));
    }
  }

  /** Stops taking messages, waits for runs in flight to finish and settle, and frees the agents. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.agents.values()].map((a) => this.removeAgent(a)));
    await this.escalation?.close();
  }

  private async removeAgent(running: RunningAgent): Promise<void> {
    await Promise.all(running.subscriptions.map((s) => s.close()));
    for (const agent of running.pool?.instances ?? []) agent.close();
    running.keyed?.close();
  }
}

/** What every instance of a topology entry is loaded with: its name, limits and grants. */
function loadOptions(
  spec: AgentSpec,
): Pick<LoadOptions, 'name' | 'abi' | 'limits' | 'graph' | 'config' | 'allowedHosts' | 'http'> {
  return {
    name: spec.name,
    // Messages are MessagePack values for guest ABI v1 agents; an Extism plugin is refused at start, saying why.
    abi: 'sandbox',
    limits: spec.limits,
    ...(spec.graph ? { graph: spec.graph } : {}),
    ...(spec.config ? { config: spec.config } : {}),
    ...(spec.allowedHosts ? { allowedHosts: spec.allowedHosts, ...(spec.http ? { http: spec.http } : {}) } : {}),
  };
}
