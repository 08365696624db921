// Cluster partitions from a Kafka consumer group: the group assigns the topic's partitions (kafka-assignor.ts), the group's committed offset is each partition's position, one fetch loop reads every partition this node runs, and outputs go out through the Kafka queue backend.
import type * as KafkaModule from '@platformatic/kafka';
import type { Consumer } from '@platformatic/kafka';
import type { RunResult } from '../agent/types.ts';
import { SandboxError } from '../errors.ts';
import { deadLetterHeaders } from '../queue/dead-letter.ts';
import type { KafkaQueue } from '../queue/kafka.ts';
import { importOptional } from '../queue/optional.ts';
import type { QueueHeaders } from '../queue/types.ts';
import { SOURCE_AGENT_HEADER } from '../swarm/dispatcher.ts';
import type { AgentSpec } from '../swarm/topology.ts';
import { PartitionLost, type LogMessage, type LogReader, type PartitionLog } from './partition-log.ts';
import type { ClusterConfig } from './config.ts';
import { RENDEZVOUS_PROTOCOL, rendezvousAssigner } from './kafka-assignor.ts';
import type { ClusterSource } from './source.ts';

/** The header our Kafka backend writes the sandbox topic in (a record without it is another producer's). */
const TOPIC_HEADER = 'sandbox-topic';
/** The header carrying an output's deterministic id (Kafka drops no duplicates: a consumer may, by this id). */
export const MESSAGE_ID_HEADER = 'sandbox-msg-id';
/** Bit 5 of a record batch's attributes marks a transaction marker (no records for us). */
const CONTROL_BATCH = 0x20;
/** The longest a commit waits for a rebalance to end before it is tried anyway. */
const REBALANCE_WAIT_MS = 5000;
/** Offset-out-of-range: the committed offset is gone (retention); read from the earliest kept. */
const OFFSET_OUT_OF_RANGE = 1;

type Kafka = typeof KafkaModule;
type Bytes = Buffer | null;

export interface KafkaSourceOptions {
  node: string;
  brokers: string[];
  /** The Kafka topic the clustered agents read (one: a key's position is an offset in one partition). */
  topic: string;
  /** The part of Kafka topic names before the sandbox topic's first token (the queue's prefix). */
  prefix: string;
  groupId: string;
  /** Partitions the topic must have (cluster.partitions). */
  partitions: number;
  /** Publishes outputs and dead letters (keyed records land by murmur2, as a Java producer's would). */
  queue: KafkaQueue;
  deadLetter: string;
  /** Kafka's session timeout: a member silent this long is dropped from the group (the broker's minimum is 6 s). */
  sessionTimeoutMs: number;
  heartbeatMs: number;
  log(message: string): void;
}

/** What one fetch loop knows about a partition it reads. */
interface Reading {
  /** The next offset to fetch. */
  next: bigint;
  reader: LogReader;
}

export class KafkaSource implements ClusterSource {
  readonly kind = 'kafka' as const;
  /** The partitions the group gave this node in its latest generation. */
  private assigned = new Set<number>();
  generation = -1;
  private group!: Consumer;
  /** A consumer outside the group that only fetches: long polls must not hold up the group's heartbeats. */
  private fetcher!: Consumer;
  private readonly reading = new Map<number, Reading>();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private rejoin: NodeJS.Timeout | undefined;
  private changed: () => void = () => {};
  /** Positions waiting for the next OffsetCommit, per partition (one request carries them all). */
  private readonly toCommit = new Map<
    number,
    { position: number; done: Promise<void>; settle: { resolve: () => void; reject: (error: unknown) => void } }
  >();
  private committing: Promise<void> | undefined;
  /** Between the coordinator saying a rebalance began and this member's next join. */
  private rebalancing = false;
  private joinWaiters: (() => void)[] = [];

  private constructor(
    private readonly kafka: Kafka,
    private readonly o: KafkaSourceOptions,
  ) {}

  /** The Kafka topic it reads. */
  get topic(): string {
    return this.o.topic;
  }

  static async create(options: KafkaSourceOptions): Promise<KafkaSource> {
    const kafka = await importOptional<Kafka>('@platformatic/kafka', 'cluster mode on Kafka');
    return new KafkaSource(kafka, options);
  }

  async start(changed: () => void): Promise<void> {
    const { o, kafka } = this;
    this.changed = changed;
    const common = { bootstrapBrokers: o.brokers, retries: 10, retryDelay: 250 };
    this.fetcher = new kafka.Consumer({ ...common, clientId: `sandbox-cluster-${o.node}-fetch`, groupId: o.groupId });
    this.fetcher.on('error', (error: unknown) => {
      o.log(`cluster: kafka fetcher: ${String(error)}`);
    });
    const metadata = await this.fetcher.metadata({ topics: [o.topic] });
    const count = metadata.topics.get(o.topic)?.partitionsCount;
    if (count !== o.partitions) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `cluster: Kafka topic ${o.topic} has ${String(count)} partitions but cluster.partitions is ${o.partitions} (partitions are fixed: create the topic with ${o.partitions})`,
      );
    }
    this.group = new kafka.Consumer({
      ...common,
      clientId: `sandbox-cluster-${o.node}`,
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      // A JoinGroup blocks until every member rejoined or this passed; a graceful stop waits behind it.
      rebalanceTimeout: Math.max(o.sessionTimeoutMs, 10_000),
      heartbeatInterval: Math.min(o.heartbeatMs, Math.floor(o.sessionTimeoutMs / 3)),
      protocols: [{ name: RENDEZVOUS_PROTOCOL, version: 1, metadata: o.node }],
      partitionAssigner: rendezvousAssigner,
    });
    this.group.on('consumer:group:rebalance', () => (this.rebalancing = true));
    this.group.on('consumer:group:join', ({ generationId, assignments }) => {
      this.rebalancing = false;
      for (const done of this.joinWaiters.splice(0)) done();
      this.generation = generationId ?? -1;
      const mine = assignments?.find((a) => a.topic === o.topic)?.partitions ?? [];
      this.assigned = new Set(mine);
      o.log(`cluster: kafka group generation ${this.generation}: assigned partitions ${mine.join(',') || '-'}`);
      this.changed();
    });
    // An unhandled 'error' would throw in the host: a failed rejoin leaves this node out of the group, so it runs
    // nothing until a join succeeds again.
    this.group.on('error', (error: unknown) => {
      o.log(`cluster: kafka group: ${String(error)}; rejoining`);
      this.leftGroup();
    });
    this.group.topics.trackAll(o.topic);
    await this.group.joinGroup({});
    this.loop = this.fetchLoop();
  }

  private leftGroup(): void {
    this.assigned = new Set();
    this.changed();
    if (this.stopped || this.rejoin !== undefined) return;
    this.rejoin = setTimeout(() => {
      this.rejoin = undefined;
      if (this.stopped) return;
      this.group.joinGroup({}).catch((error: unknown) => {
        this.o.log(`cluster: kafka group: rejoining failed: ${String(error)}`);
        this.leftGroup();
      });
    }, 1000);
  }

  wants(partition: number): boolean {
    return this.assigned.has(partition);
  }

  /** The group's committed offset (the next offset to read, which is the position of the last one done). */
  async position(partition: number): Promise<number> {
    const committed = await this.group.listCommittedOffsets({
      topics: [{ topic: this.o.topic, partitions: [partition] }],
    });
    const offset = committed.get(this.o.topic)?.[partition] ?? -1n;
    if (offset >= 0n) return Number(offset);
    return Number(await this.earliest(partition));
  }

  private async earliest(partition: number): Promise<bigint> {
    const offsets = await this.fetcher.listOffsets({
      topics: [this.o.topic],
      partitions: { [this.o.topic]: [partition] },
      timestamp: -2n,
    });
    return offsets.get(this.o.topic)?.[partition] ?? 0n;
  }

  log(partition: number): PartitionLog {
    return new KafkaPartitionLog(this, partition);
  }

  /** Starts fetching `partition` from offset `from` (its committed position) into `reader`. */
  read(partition: number, from: number, reader: LogReader): void {
    this.reading.set(partition, { next: BigInt(from), reader });
    this.wake?.();
  }

  unread(partition: number): void {
    this.reading.delete(partition);
  }

  /** Commits `position` (the next offset to read) for `partition` in the group: refused means the partition is lost. */
  async commit(partition: number, position: number): Promise<void> {
    const waiting = this.toCommit.get(partition);
    if (waiting !== undefined) {
      waiting.position = Math.max(waiting.position, position);
      return waiting.done;
    }
    let settle!: { resolve: () => void; reject: (error: unknown) => void };
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    this.toCommit.set(partition, { position, done, settle });
    this.committing ??= this.flushCommits();
    return done;
  }

  /**
   * One OffsetCommit request for every partition waiting, one request at a time, never during a rebalance: the
   * client answers a commit refused for an old generation by rejoining the group, and a leader that rejoins starts
   * another rebalance, so commits made while the group moves kept it moving. A commit refused anyway loses its
   * partitions.
   */
  private async flushCommits(): Promise<void> {
    while (this.toCommit.size > 0) {
      if (this.rebalancing) await this.joined(REBALANCE_WAIT_MS);
      const batch = [...this.toCommit];
      this.toCommit.clear();
      try {
        await this.group.commit({
          offsets: batch.map(([partition, c]) => ({
            topic: this.o.topic,
            partition,
            offset: BigInt(c.position),
            leaderEpoch: -1,
          })),
        });
        for (const [, c] of batch) c.settle.resolve();
      } catch (error) {
        const why = `the Kafka offset commit failed: ${kafkaErrorText(error)}`;
        for (const [partition, c] of batch) c.settle.reject(new PartitionLost(partition, why));
      }
    }
    this.committing = undefined;
  }

  /** Resolves at the next group join (or after `ms`). */
  private joined(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.joinWaiters.push(done);
    });
  }

  async publish(partition: number, agent: string, key: string, seq: number, result: RunResult): Promise<void> {
    const { topic } = this.o;
    await this.o.queue.publishMany(
      result.events.map((event, i) => ({
        topic: event.topic,
        payload: event.bytes,
        key,
        headers: { [SOURCE_AGENT_HEADER]: agent, [MESSAGE_ID_HEADER]: `${topic}:${partition}:${seq}:${agent}:${i}` },
      })),
    );
  }

  async deadLetter(spec: AgentSpec, key: string, m: LogMessage, reason: string, deliveries: number): Promise<void> {
    const origin = { headers: m.headers(), topic: m.topic, reason, deliveryCount: deliveries, group: spec.group };
    await this.o.queue.publish({
      topic: this.o.deadLetter,
      payload: m.payload,
      key,
      headers: deadLetterHeaders(origin),
    });
  }

  /**
   * One Fetch request at a time for every partition read here that has room (grouped by leader), each record offered
   * to its partition's reader in offset order.
   */
  private async fetchLoop(): Promise<void> {
    const { topic } = this.o;
    let failures = 0;
    while (!this.stopped) {
      const ready = [...this.reading].filter(([, r]) => r.reader.hasRoom());
      if (ready.length === 0) {
        // Nothing to read (or every reader full): wait for a partition, or poll the readers' room again shortly.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 50);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        continue;
      }
      try {
        const metadata = await this.fetcher.metadata({ topics: [topic] });
        const meta = metadata.topics.get(topic)!;
        const byLeader = new Map<number, number[]>();
        for (const [p] of ready) {
          const leader = meta.partitions[p]!.leader;
          byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
        }
        await Promise.all(
          [...byLeader].map(async ([leader, partitions]) => {
            const asked = new Map(partitions.map((p) => [p, this.reading.get(p)!.next]));
            const response = await this.fetcher.fetch({
              node: leader,
              maxWaitTime: 200,
              minBytes: 1,
              maxBytes: 8 << 20,
              topics: [
                {
                  topicId: meta.id,
                  partitions: [...asked].map(([partition, fetchOffset]) => ({
                    partition,
                    fetchOffset,
                    partitionMaxBytes: 1 << 20,
                    currentLeaderEpoch: -1,
                    lastFetchedEpoch: -1,
                  })),
                },
              ],
            });
            for (const t of response.responses)
              for (const part of t.partitions) await this.deliver(part, asked.get(part.partitionIndex));
          }),
        );
        failures = 0;
      } catch (error) {
        // stop() may have come during the request (the loop's condition is checked before it).
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
        if (this.stopped) break;
        failures++;
        this.o.log(`cluster: kafka fetch failed: ${String(error)}`);
        this.fetcher.clearMetadata();
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** failures)));
      }
    }
  }

  private async deliver(
    part: Awaited<ReturnType<Consumer['fetch']>>['responses'][number]['partitions'][number],
    asked: bigint | undefined,
  ): Promise<void> {
    const p = part.partitionIndex;
    const reading = this.reading.get(p);
    // Unread meanwhile, or read again from elsewhere: this answer is for an older request.
    if (reading === undefined || asked === undefined || reading.next !== asked) return;
    if (part.errorCode === OFFSET_OUT_OF_RANGE) {
      reading.next = await this.earliest(p);
      this.o.log(`cluster: partition ${p}: its offset is out of range; reading from ${reading.next}`);
      return;
    }
    if (part.errorCode !== 0) throw new Error(`partition ${p}: fetch error code ${part.errorCode}`);
    for (const batch of part.records ?? []) {
      const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
      if ((batch.attributes & CONTROL_BATCH) === 0) {
        for (const record of batch.records) {
          const offset = batch.firstOffset + BigInt(record.offsetDelta);
          if (offset < reading.next) continue; // a batch starts before the offset asked for
          reading.next = offset + 1n;
          reading.reader.offer(this.message(offset, record.key, record.value, record.headers, part.highWatermark));
          if (this.reading.get(p) !== reading) return; // stopped while offering
        }
      }
      if (last >= reading.next) reading.next = last + 1n;
    }
  }

  private message(
    offset: bigint,
    key: Bytes,
    value: Bytes,
    rawHeaders: [Bytes, Bytes][],
    highWatermark: bigint,
  ): LogMessage {
    let topic: string | undefined;
    for (const [k, v] of rawHeaders)
      if (k !== null && v !== null && k.toString() === TOPIC_HEADER) topic = v.toString();
    return {
      seq: Number(offset) + 1,
      // Another producer's record (no topic header): its topic is the Kafka topic's name without our prefix.
      topic: topic ?? this.o.topic.slice(this.o.prefix.length),
      key: key !== null && key.length > 0 ? key.toString() : undefined,
      payload: value ?? new Uint8Array(0),
      headers: () => {
        const headers: QueueHeaders = {};
        for (const [k, v] of rawHeaders)
          if (k !== null && k.toString() !== TOPIC_HEADER) headers[k.toString()] = v?.toString() ?? '';
        return headers;
      },
      pending: Math.max(0, Number(highWatermark - offset) - 1),
    };
  }

  /** Leaves the group (its partitions go to the others at once) and stops fetching. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.rejoin !== undefined) clearTimeout(this.rejoin);
    this.wake?.();
    await this.loop;
    await closeConsumer(this.group).catch((error: unknown) => {
      this.o.log(`cluster: leaving the group: ${String(error)}`);
    });
    await closeConsumer(this.fetcher).catch(() => {});
  }
}

/**
 * The source of a topology's clustered per-key agents on a Kafka queue: the Kafka topic their patterns name (created
 * with the cluster's partitions if missing), read by the consumer group `<prefix>cluster-<bucket>`.
 */
export async function kafkaSourceFor(
  queue: KafkaQueue,
  brokers: string[],
  config: ClusterConfig,
  agents: readonly AgentSpec[],
  deadLetter: string,
  log: (message: string) => void,
): Promise<KafkaSource> {
  const { topic, prefix, groupId } = kafkaClusterNames(config, agents, (pattern) => queue.kafkaTopicFor(pattern));
  await queue.ensureTopic(topic);
  return KafkaSource.create({
    node: config.node,
    brokers,
    topic,
    prefix,
    groupId,
    partitions: config.partitions,
    queue,
    deadLetter,
    // The broker refuses sessions under its group.min.session.timeout.ms (6 s by default).
    sessionTimeoutMs: Math.max(6000, config.memberTimeoutMs),
    heartbeatMs: config.heartbeatMs,
    log,
  });
}

/**
 * The Kafka topic the clustered agents read (the one their patterns' first token names) and the consumer group that
 * shares it. `kafkaTopicFor` maps a pattern to its Kafka topic (the queue backend's; default prefix `sandbox-`).
 */
export function kafkaClusterNames(
  config: Pick<ClusterConfig, 'bucket'>,
  agents: readonly AgentSpec[],
  kafkaTopicFor: (pattern: string) => string = (pattern) => `sandbox-${pattern.split('.')[0]!}`,
): { topic: string; prefix: string; groupId: string } {
  const pattern = agents.find((a) => a.instances === 'per-key')?.subscribe[0];
  if (pattern === undefined) throw new SandboxError('SANDBOX_INVALID_OPTIONS', 'cluster: no per-key agent subscribes');
  const topic = kafkaTopicFor(pattern);
  const prefix = topic.slice(0, topic.length - pattern.split('.')[0]!.length);
  return { topic, prefix, groupId: `${prefix}cluster-${config.bucket}` };
}

/** A Kafka client error with the broker's own errors inside (an AggregateError's message says little). */
function kafkaErrorText(error: unknown): string {
  const e = error as { message?: string; errors?: unknown[]; response?: unknown };
  const inner = (e.errors ?? []).map((x) => kafkaErrorText(x)).join('; ');
  const response =
    e.response === undefined
      ? ''
      : ` ${JSON.stringify(e.response, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`;
  return `${e.message ?? String(error)}${inner ? ` (${inner})` : ''}${response}`;
}

function closeConsumer(consumer: Consumer | undefined): Promise<void> {
  if (consumer === undefined) return Promise.resolve();
  return new Promise((resolve, reject) => {
    consumer.close(true, (error) => {
      if (error) reject(error);
      else resolve();
    });
  });
}

/** One partition of the Kafka topic, read by the source's fetch loop. */
class KafkaPartitionLog implements PartitionLog {
  constructor(
    private readonly source: KafkaSource,
    private readonly partition: number,
  ) {}

  open(from: number, reader: LogReader): Promise<void> {
    this.source.read(this.partition, from, reader);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.source.unread(this.partition);
    return Promise.resolve();
  }

  publish(agent: string, key: string, seq: number, result: RunResult): Promise<void> {
    return this.source.publish(this.partition, agent, key, seq, result);
  }

  deadLetter(spec: AgentSpec, key: string, m: LogMessage, reason: string, deliveries: number): Promise<void> {
    return this.source.deadLetter(spec, key, m, reason, deliveries);
  }

  commit(position: number): Promise<void> {
    return this.source.commit(this.partition, position);
  }
}
