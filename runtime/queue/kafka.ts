// The Kafka backend (@platformatic/kafka): the first topic token picks the Kafka topic; a longer topic rides in a header.
import type * as KafkaModule from '@platformatic/kafka';
import type { Admin, Consumer, Message, MessagesStream, Producer } from '@platformatic/kafka';
import { SandboxError } from '../errors.ts';
import { Delivery, EMPTY_HEADERS, resolveSubscribeOptions, SubscriberCore, type DispatchHooks } from './dispatch.ts';
import { murmur2, toPositive } from './murmur2.ts';
import { importOptional } from './optional.ts';
import { compilePattern, validatePattern, validateTopic } from './topics.ts';
import type {
  MessageHandler,
  PublishMessage,
  QueueBackend,
  QueueHeaders,
  SubscribeOptions,
  Subscription,
} from './types.ts';

export interface KafkaQueueOptions {
  /** `host:port` entries (or one string, comma-separated). */
  brokers: string | string[];
  /** Prefix of every Kafka topic and consumer group this backend creates (default `sandbox-`). */
  prefix?: string | undefined;
  /** Partitions of each Kafka topic it creates (default 3); keys hash onto partitions, so per-key order holds. */
  partitions?: number | undefined;
  /** Replication factor of the topics it creates (default: the broker's default.replication.factor). */
  replicationFactor?: number | undefined;
  /** How long a publish keeps retrying through a broker outage before it fails (default 30 000 ms). */
  publishTimeoutMs?: number | undefined;
  /** Messages per produce request (default 2000). */
  maxBatch?: number | undefined;
  /**
   * When records carry the `sandbox-topic` header (docs/queue.md, "Record format"). `when-needed` (the default):
   * only when the sandbox topic has more than one token; a one-token topic (`orders`) is its Kafka topic
   * (`sandbox-orders`) and its records have no header. `always`: every record, as before, for a deployment whose
   * consumers still run a version that skips records without it.
   */
  topicHeader?: 'when-needed' | 'always' | undefined;
  clientId?: string | undefined;
}

const TOPIC_HEADER = 'sandbox-topic';
const TOPIC_HEADER_BYTES = Buffer.from(TOPIC_HEADER);
const MAX_CACHED_TOPICS = 10_000;
const COMMIT_EVERY_MS = 100;
/** Shared by every record that needs no header (never written to: a message's own headers copy it first). */
const NO_HEADERS: Map<Buffer, Buffer> = new Map();

type Kafka = typeof KafkaModule;
type RawMessage = Message<Buffer, Buffer, Buffer, Buffer>;

/** The callers waiting on some queued messages: one publish, or one publishMany. */
interface Waiter {
  /** Chunks of its messages not yet sent (a publishMany larger than a produce request is split). */
  remaining: number;
  failed: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Messages of one publish or publishMany, waiting to be sent: one object per call rather than per message. */
interface Chunk {
  messages: readonly PublishMessage[];
  /** Their validated Kafka topics, index for index. */
  kafkaTopics: string[];
  waiter: Waiter;
}

/** One consumed Kafka record: its offset, and whether its delivery is done (acked or dead-lettered). It is also the
 *  delivery's `ref`, so a message costs one bookkeeping object. */
class Entry {
  done = false;
  constructor(
    readonly offset: bigint,
    readonly partition: PartitionCommits,
  ) {}
}

/** The records of one partition read by one stream; offsets are committed only up to the first one not yet done. */
class PartitionCommits {
  entries: Entry[] = [];
  head = 0;
  /** The offset to commit next (the record after the last done one in order), if it moved since the last commit. */
  toCommit: bigint | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  advance(): boolean {
    let moved = false;
    const entries = this.entries;
    while (this.head < entries.length && entries[this.head]!.done) {
      this.toCommit = entries[this.head]!.offset + 1n;
      this.head++;
      moved = true;
    }
    if (this.head === entries.length) {
      entries.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > entries.length) {
      this.entries = entries.slice(this.head);
      this.head = 0;
    }
    return moved;
  }
}

/** Whether a header name's bytes are TOPIC_HEADER, without making a string of it. */
function isTopicHeader(name: Buffer): boolean {
  return name.length === TOPIC_HEADER_BYTES.length && name.equals(TOPIC_HEADER_BYTES);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class KafkaQueue implements QueueBackend {
  readonly kind = 'kafka' as const;
  private readonly producer: Producer<Buffer, Buffer, Buffer, Buffer>;
  private admin: Admin | undefined;
  private readonly knownTopics = new Map<string, Promise<void>>();
  private readonly topicCache = new Map<string, string>();
  private readonly topicHeaders = new Map<string, Map<Buffer, Buffer>>();
  private readonly subscriptions = new Set<Subscription>();
  private queue: Chunk[] = [];
  private flushing: Promise<void> | undefined;
  private closing = false;
  private closed = false;
  private privateIds = 0;
  private unkeyed = 0;
  /** The last error no caller could receive (a failed commit, a broken stream); for diagnostics. */
  lastError: unknown;
  private readonly brokers: string[];
  private readonly prefix: string;
  private readonly partitions: number;
  private readonly replicationFactor: number;
  private readonly publishTimeoutMs: number;
  private readonly maxBatch: number;
  private readonly clientId: string;
  private readonly alwaysTopicHeader: boolean;
  /** Header names as bytes: a few names repeat on every record. */
  private readonly headerNames = new Map<string, Buffer>();

  private constructor(
    private readonly kafka: Kafka,
    options: KafkaQueueOptions,
  ) {
    this.brokers = typeof options.brokers === 'string' ? options.brokers.split(',') : options.brokers;
    this.prefix = options.prefix ?? 'sandbox-';
    this.partitions = options.partitions ?? 3;
    this.replicationFactor = options.replicationFactor ?? -1;
    this.publishTimeoutMs = options.publishTimeoutMs ?? 30_000;
    this.maxBatch = options.maxBatch ?? 2000;
    this.clientId = options.clientId ?? 'wasm-agent-sandbox';
    // Checked at run time too: JavaScript callers and configuration files are not type-checked.
    const topicHeader: string = options.topicHeader ?? 'when-needed';
    if (topicHeader !== 'when-needed' && topicHeader !== 'always') {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `kafka topicHeader must be 'when-needed' or 'always', got ${JSON.stringify(options.topicHeader)}`,
      );
    }
    this.alwaysTopicHeader = topicHeader === 'always';
    if (!/^[A-Za-z0-9._-]*$/.test(this.prefix)) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `kafka prefix ${JSON.stringify(this.prefix)} may only use letters, digits, . _ -`,
      );
    }
    this.producer = new kafka.Producer({
      clientId: `${this.clientId}-producer`,
      bootstrapBrokers: this.brokers,
      idempotent: true,
      acks: kafka.ProduceAcks.ALL,
      autocreateTopics: false,
      retries: 5,
      retryDelay: 250,
      // A keyed record goes where Java's default partitioner puts it (the client takes this modulo the topic's
      // partition count); its own default hashes with `>>> 0`, which puts every negative hash elsewhere.
      partitioner: (_message, key) => (key === undefined ? this.unkeyed++ & 0x7fffffff : toPositive(murmur2(key))),
    });
  }

  static async connect(options: KafkaQueueOptions): Promise<KafkaQueue> {
    const kafka = await importOptional<Kafka>('@platformatic/kafka', 'the kafka queue backend');
    const queue = new KafkaQueue(kafka, options);
    try {
      await queue.adminClient().metadata({ topics: [] });
    } catch (error) {
      await queue.producer.close().catch(() => {});
      await queue.admin?.close().catch(() => {});
      throw new SandboxError(
        'SANDBOX_CONNECTION',
        `cannot connect to Kafka at ${queue.brokers.join(',')}: ${String(error)}`,
        { cause: error },
      );
    }
    return queue;
  }

  private adminClient(): Admin {
    this.admin ??= new this.kafka.Admin({
      clientId: `${this.clientId}-admin`,
      bootstrapBrokers: this.brokers,
      retries: 5,
      retryDelay: 250,
    });
    return this.admin;
  }

  /** The Kafka topic a sandbox topic (or pattern) lives in: `<prefix><first token>`. */
  kafkaTopicFor(topic: string): string {
    const dot = topic.indexOf('.');
    const first = dot < 0 ? topic : topic.slice(0, dot);
    if (first === '*' || first === '>') {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `pattern ${JSON.stringify(topic)}: on Kafka the first token picks the Kafka topic, so it cannot be a wildcard`,
      );
    }
    if (!/^[A-Za-z0-9._-]+$/.test(first)) {
      throw new SandboxError(
        'SANDBOX_INVALID_OPTIONS',
        `topic ${JSON.stringify(topic)}: on Kafka the first token may only use letters, digits, _ and -`,
      );
    }
    return this.prefix + first;
  }

  /** Creates the Kafka topic (with this backend's partitions and replication) unless it exists. */
  ensureTopic(kafkaTopic: string): Promise<void> {
    let ready = this.knownTopics.get(kafkaTopic);
    if (ready === undefined) {
      ready = this.adminClient()
        .createTopics({ topics: [kafkaTopic], partitions: this.partitions, replicas: this.replicationFactor })
        .then(
          () => {},
          (error: unknown) => {
            if (!/exist/i.test(JSON.stringify(errorDetails(error)))) {
              this.knownTopics.delete(kafkaTopic);
              throw error;
            }
          },
        );
      this.knownTopics.set(kafkaTopic, ready);
    }
    return ready;
  }

  /** Validates a topic and names its Kafka topic; remembered, since producers reuse a few topics. */
  private resolveTopic(topic: string): string {
    let kafkaTopic = this.topicCache.get(topic);
    if (kafkaTopic === undefined) {
      validateTopic(topic);
      kafkaTopic = this.kafkaTopicFor(topic);
      if (this.topicCache.size >= MAX_CACHED_TOPICS) this.topicCache.clear();
      this.topicCache.set(topic, kafkaTopic);
    }
    return kafkaTopic;
  }

  publish(message: PublishMessage): Promise<void> {
    return this.publishMany([message]);
  }

  publishMany(messages: readonly PublishMessage[]): Promise<void> {
    if (this.closed) return Promise.reject(new SandboxError('SANDBOX_CLOSED', 'the kafka queue is closed'));
    return this.enqueue(messages);
  }

  private enqueue(messages: readonly PublishMessage[]): Promise<void> {
    const n = messages.length;
    if (n === 0) return Promise.resolve();
    const kafkaTopics = new Array<string>(n);
    try {
      for (let i = 0; i < n; i++) kafkaTopics[i] = this.resolveTopic(messages[i]!.topic);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { remaining: 1, failed: false, resolve, reject };
      // A copy of the array (not of the messages): the caller may reuse its array once this returns.
      this.queue.push({ messages: messages.slice(), kafkaTopics, waiter });
      this.flushing ??= this.flush();
    });
  }

  /** Up to maxBatch queued messages, in order; a chunk larger than what is left of the batch is split. */
  private takeBatch(): Chunk[] {
    const batch: Chunk[] = [];
    let count = 0;
    while (this.queue.length > 0 && count < this.maxBatch) {
      let chunk = this.queue[0]!;
      const room = this.maxBatch - count;
      if (chunk.messages.length > room) {
        chunk.waiter.remaining++;
        this.queue[0] = {
          messages: chunk.messages.slice(room),
          kafkaTopics: chunk.kafkaTopics.slice(room),
          waiter: chunk.waiter,
        };
        chunk = {
          messages: chunk.messages.slice(0, room),
          kafkaTopics: chunk.kafkaTopics.slice(0, room),
          waiter: chunk.waiter,
        };
      } else {
        this.queue.shift();
      }
      batch.push(chunk);
      count += chunk.messages.length;
    }
    return batch;
  }

  /** One produce request at a time, each taking everything queued meanwhile: batching without a linger timer,
   *  and order preserved across batches. */
  private async flush(): Promise<void> {
    // A microtask, not a timer or setImmediate: publishes made in the same tick join the batch, and a busy
    // consumer in this process cannot delay the send by a whole event-loop turn.
    await Promise.resolve();
    while (this.queue.length > 0) {
      const batch = this.takeBatch();
      let failure: unknown;
      try {
        await this.send(batch);
      } catch (error) {
        failure = error;
      }
      for (const { waiter: w } of batch) {
        if (w.failed) continue;
        if (failure !== undefined) {
          w.failed = true;
          w.reject(failure);
        } else if (--w.remaining === 0) {
          w.resolve();
        }
      }
    }
    this.flushing = undefined;
  }

  /** The header map of a message without headers of its own: one per sandbox topic, shared (the producer only
   *  reads header maps). Empty for a one-token topic unless `topicHeader: 'always'`: its Kafka topic names it. */
  private headersFor(topic: string): Map<Buffer, Buffer> {
    let headers = this.topicHeaders.get(topic);
    if (headers === undefined) {
      headers =
        this.alwaysTopicHeader || topic.includes('.')
          ? new Map([[TOPIC_HEADER_BYTES, Buffer.from(topic)]])
          : NO_HEADERS;
      if (this.topicHeaders.size >= MAX_CACHED_TOPICS) this.topicHeaders.clear();
      this.topicHeaders.set(topic, headers);
    }
    return headers;
  }

  private headerName(name: string): Buffer {
    let bytes = this.headerNames.get(name);
    if (bytes === undefined) {
      bytes = Buffer.from(name);
      if (this.headerNames.size >= MAX_CACHED_TOPICS) this.headerNames.clear();
      this.headerNames.set(name, bytes);
    }
    return bytes;
  }

  private async send(batch: Chunk[]): Promise<void> {
    const topics = new Set<string>();
    const records: { topic: string; key?: Buffer; value: Buffer; headers?: Map<Buffer, Buffer> }[] = [];
    for (const { messages, kafkaTopics } of batch) {
      let lastTopic: string | undefined;
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        const topic = kafkaTopics[i]!;
        if (topic !== lastTopic) topics.add((lastTopic = topic));
        let headers = this.headersFor(m.topic);
        let own = false;
        if (m.headers !== undefined) {
          for (const name in m.headers) {
            if (!own) headers = new Map(headers);
            own = true;
            headers.set(this.headerName(name), Buffer.from(m.headers[name]!));
          }
        }
        const record: (typeof records)[number] = { topic, value: asBuffer(m.payload) };
        if (m.key !== undefined) record.key = Buffer.from(m.key);
        // A record without headers is the cheapest the client writes and reads.
        if (headers.size > 0) record.headers = headers;
        records.push(record);
      }
    }
    const deadline = Date.now() + this.publishTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        for (const topic of topics) await this.ensureTopic(topic);
        await this.producer.send({ messages: records });
        return;
      } catch (error) {
        if (Date.now() >= deadline || this.closed) {
          throw new SandboxError('SANDBOX_CONNECTION', `publish to Kafka failed: ${describe(error)}`, { cause: error });
        }
        await sleep(Math.min(1000, 100 * 2 ** attempt));
      }
    }
  }

  async subscribe(pattern: string, handler: MessageHandler, options?: SubscribeOptions): Promise<Subscription> {
    if (this.closing) throw new SandboxError('SANDBOX_CLOSED', 'the kafka queue is closed');
    validatePattern(pattern);
    const kafkaTopic = this.kafkaTopicFor(pattern);
    const matches = compilePattern(pattern);
    const resolved = resolveSubscribeOptions(options);
    await this.ensureTopic(kafkaTopic);
    const groupId =
      resolved.group !== undefined
        ? `${this.prefix}${resolved.group}`
        : `${this.prefix}private-${process.pid}-${Date.now()}-${++this.privateIds}`;
    const newConsumer = (): Consumer<Buffer, Buffer, Buffer, Buffer> =>
      new this.kafka.Consumer({
        clientId: `${this.clientId}-consumer`,
        bootstrapBrokers: this.brokers,
        groupId,
        autocommit: false,
        sessionTimeout: 10_000,
        heartbeatInterval: 1000,
        rebalanceTimeout: 15_000,
        maxWaitTime: 200,
        highWaterMark: resolved.prefetch,
        retries: 10,
        retryDelay: 250,
      });
    // Offsets are tracked per stream (partition index -> its records): after a stream is replaced, the old
    // stream's commits may fail, and its messages come again from the last commit (at least once).
    let partitions: PartitionCommits[] = [];
    const committing = new Set<PartitionCommits>();
    let commitTimer: NodeJS.Timeout | undefined;
    let commitsInFlight: Promise<void> = Promise.resolve();
    const onError = (error: unknown): void => {
      this.lastError = error;
    };
    // One commit request for every partition that moved, at most every COMMIT_EVERY_MS: per-message commits
    // would cost the broker a write each.
    const commitNow = (): Promise<void> => {
      commitTimer = undefined;
      const offsets: { topic: string; partition: number; offset: bigint; leaderEpoch: number }[] = [];
      for (const state of committing) {
        const offset = state.toCommit;
        if (offset === undefined) continue;
        state.toCommit = undefined;
        offsets.push({ topic: state.topic, partition: state.partition, offset, leaderEpoch: -1 });
      }
      committing.clear();
      if (offsets.length === 0) return commitsInFlight;
      const target = consumer;
      const work = new Promise<void>((resolve) =>
        target.commit({ offsets }, (error) => {
          if (error) onError(error);
          resolve();
        }),
      );
      commitsInFlight = Promise.all([commitsInFlight, work]).then(() => {});
      return commitsInFlight;
    };
    const markDone = (entry: Entry): void => {
      entry.done = true;
      const state = entry.partition;
      if (state.advance()) {
        committing.add(state);
        commitTimer ??= setTimeout(commitNow, COMMIT_EVERY_MS);
      }
    };
    const hooks: DispatchHooks = {
      kind: this.kind,
      done: (d) => markDone(d.ref as Entry),
      redeliver: (d) => new Delivery(d.topic, d.payload, d.key, d.headers, d.deliveryCount + 1, d.ref),
      deadLetter: (m) => this.publishInternal(m),
      onError,
    };
    const core = new SubscriberCore(resolved, hooks, resolved.prefetch, true, true);
    let stopping = false;
    let consumer = newConsumer();
    let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
    const open = async (): Promise<MessagesStream<Buffer, Buffer, Buffer, Buffer>> => {
      const s = await consumer.consume({
        topics: [kafkaTopic],
        mode: this.kafka.MessagesStreamModes.COMMITTED,
        fallbackMode:
          resolved.group !== undefined
            ? this.kafka.MessagesStreamFallbackModes.EARLIEST
            : this.kafka.MessagesStreamFallbackModes.LATEST,
        autocommit: false,
      });
      s.on('error', onError);
      partitions = [];
      return s;
    };
    try {
      stream = await open();
    } catch (error) {
      await closeConsumer(consumer).catch(() => {});
      throw new SandboxError('SANDBOX_CONNECTION', `cannot consume ${kafkaTopic}: ${describe(error)}`, {
        cause: error,
      });
    }
    const member = core.addMember(handler, resolved.concurrency, resolved.prefetch, resolved.autoAck);
    // A record without the topic header is on the one-token topic its Kafka topic names (`<prefix>orders` holds
    // `orders`): written by this backend for such a topic, or by any other producer.
    const plainTopic = kafkaTopic.slice(this.prefix.length);
    const plainMatches = matches(plainTopic);
    // The sandbox topic of the last record and whether the pattern takes it: a run of records on one topic decodes
    // and matches it once.
    let lastTopicBytes: Buffer | undefined;
    let lastTopic = '';
    let lastMatches = false;
    /** Feeds the stream into the core until the stream ends or fails; pauses it while the core is full. */
    const consumeStream = (s: MessagesStream<Buffer, Buffer, Buffer, Buffer>): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const streamPartitions = partitions;
        let waiting = false;
        s.on('data', (raw: RawMessage) => {
          let state = streamPartitions[raw.partition];
          if (state === undefined)
            streamPartitions[raw.partition] = state = new PartitionCommits(raw.topic, raw.partition);
          const entry = new Entry(raw.offset, state);
          state.entries.push(entry);
          let topic: string | undefined;
          let headers: QueueHeaders = EMPTY_HEADERS as QueueHeaders;
          for (const [k, v] of raw.headers) {
            if (isTopicHeader(k)) {
              if (lastTopicBytes === undefined || !v.equals(lastTopicBytes)) {
                lastTopicBytes = Buffer.from(v);
                lastTopic = v.toString();
                lastMatches = matches(lastTopic);
              }
              topic = lastTopic;
            } else {
              if (headers === EMPTY_HEADERS) headers = {};
              headers[k.toString()] = v.toString();
            }
          }
          if (topic === undefined ? !plainMatches : !lastMatches) {
            // Another topic sharing this Kafka topic: not ours.
            markDone(entry);
            return;
          }
          topic ??= plainTopic;
          const key = raw.key !== undefined && raw.key !== null && raw.key.length > 0 ? raw.key.toString() : undefined;
          core.offer(new Delivery(topic, raw.value, key, headers, 1, entry));
          if (!waiting && !core.hasRoom()) {
            waiting = true;
            s.pause();
            void core.waitForRoom().then(() => {
              waiting = false;
              if (!stopping) s.resume();
            });
          }
        });
        s.once('error', reject);
        s.once('close', resolve);
        s.once('end', resolve);
      });
    // The client ends a stream on a broker error (a restart, a leader move); this loop replaces the stream,
    // and the consumer too when a new stream cannot be had, until the subscription closes.
    const loop = (async () => {
      let failures = 0;
      while (!stopping) {
        try {
          if (stream === undefined) stream = await open();
          // close() may have come while the stream was opening: it found nothing to close, so stop here.
          if (stopping) break;
          failures = 0;
          await consumeStream(stream);
        } catch (error) {
          onError(error);
          failures++;
        }
        if (stopping) break;
        const old = stream;
        stream = undefined;
        await old?.close().catch(onError);
        if (failures > 1) {
          await closeConsumer(consumer).catch(onError);
          consumer = newConsumer();
        }
        await sleep(Math.min(2000, 100 * 2 ** failures));
      }
    })();
    let closed: Promise<void> | undefined;
    const subscription: Subscription = {
      pattern,
      group: resolved.group,
      lag: () => this.groupLag(kafkaTopic, groupId),
      close: () => {
        closed ??= (async () => {
          this.subscriptions.delete(subscription);
          stopping = true;
          await core.removeMember(member);
          if (commitTimer !== undefined) clearTimeout(commitTimer);
          await commitNow();
          await stream?.close().catch(onError);
          await loop;
          // A stream the loop opened after the close above (see the loop) is closed here.
          await stream?.close().catch(onError);
          await closeConsumer(consumer).catch(onError);
        })();
        return closed;
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  /**
   * Records of the Kafka topic past the group's committed offsets (high watermark − committed, per partition;
   * a partition the group never committed counts from its low watermark). Three admin requests. It counts
   * every record of the Kafka topic, including other sandbox topics sharing it that the pattern skips (they
   * are committed as they pass), and commits trail acks by up to COMMIT_EVERY_MS.
   */
  private async groupLag(kafkaTopic: string, groupId: string): Promise<number> {
    const admin = this.adminClient();
    const meta = await admin.metadata({ topics: [kafkaTopic] });
    const count = meta.topics.get(kafkaTopic)?.partitionsCount ?? 0;
    if (count === 0) return 0;
    const partitionIndexes = Array.from({ length: count }, (_, i) => i);
    const offsets = (timestamp: bigint) =>
      admin.listOffsets({
        topics: [
          { name: kafkaTopic, partitions: partitionIndexes.map((partitionIndex) => ({ partitionIndex, timestamp })) },
        ],
      });
    const [high, low, groups] = await Promise.all([
      offsets(-1n),
      offsets(-2n),
      admin.listConsumerGroupOffsets({ groups: [{ groupId, topics: [{ name: kafkaTopic, partitionIndexes }] }] }),
    ]);
    const committed = new Map<number, bigint>();
    for (const g of groups)
      for (const t of g.topics)
        if (t.name === kafkaTopic)
          for (const p of t.partitions) if (p.committedOffset >= 0n) committed.set(p.partitionIndex, p.committedOffset);
    const lows = new Map((low[0]?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]));
    let lag = 0n;
    for (const p of high[0]?.partitions ?? []) {
      const from = committed.get(p.partitionIndex) ?? lows.get(p.partitionIndex) ?? 0n;
      if (p.offset > from) lag += p.offset - from;
    }
    return Number(lag);
  }

  /** Dead letters still go out while the backend drains. */
  private publishInternal(message: PublishMessage): Promise<void> {
    return this.enqueue([message]);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    while (this.flushing !== undefined) await this.flushing;
    this.closed = true;
    await this.producer.close().catch(() => {});
    await this.admin?.close().catch(() => {});
  }
}

function closeConsumer(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>): Promise<void> {
  return new Promise((resolve, reject) => consumer.close(true, (error) => (error ? reject(error) : resolve())));
}

function errorDetails(error: unknown): unknown {
  const e = error as { message?: string; errors?: unknown[]; response?: unknown };
  return { message: e?.message, errors: e?.errors?.map((x) => errorDetails(x)), response: e?.response };
}

function describe(error: unknown): string {
  const e = error as { message?: string; errors?: { message?: string }[] };
  const inner = e?.errors
    ?.map((x) => x.message)
    .filter(Boolean)
    .join('; ');
  return inner ? `${e.message ?? String(error)} (${inner})` : (e?.message ?? String(error));
}

export function createKafkaQueue(options: KafkaQueueOptions): Promise<KafkaQueue> {
  return KafkaQueue.connect(options);
}
