// A partition of the NATS JetStream stream as a cluster partition log: an ordered consumer on its subjects (reopened when it stalls), outputs with deduplicating message ids, the committed position in the bucket.
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { performance } from 'node:perf_hooks';
import type { RunResult } from '../agent/types.ts';
import { deadLetterHeaders } from '../queue/dead-letter.ts';
import { KEY_HEADER } from '../queue/nats.ts';
import type { QueueHeaders } from '../queue/types.ts';
import { SOURCE_AGENT_HEADER } from '../swarm/dispatcher.ts';
import type { AgentSpec } from '../swarm/topology.ts';
import { keys, type ClusterBucket } from './bucket.ts';
import type { LogMessage, LogReader, PartitionLog } from './partition-log.ts';
import { partitionFilter, partitionOf, partitionSubject } from './partitioner.ts';

/** A consumer silent this long is asked whether it is stalled (and reopened if it is). */
const STALL_CHECK_MS = 2000;

export interface NatsLogOptions {
  bucket: ClusterBucket;
  stream: string;
  prefix: string;
  partitions: number;
  deadLetter: string;
  log(message: string): void;
}

export class NatsPartitionLog implements PartitionLog {
  private messages: ConsumerMessages | undefined;
  private consumer: Consumer | undefined;
  private reader: LogReader | undefined;
  /** Bumped at each (re)open: a superseded loop stops. */
  private generation = 0;
  /** The highest stream sequence read (offered) so far. */
  private lastRead = 0;
  private lastDeliveryAt = 0;
  private reopening = false;
  private watchdog: NodeJS.Timeout | undefined;
  private closed = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly o: NatsLogOptions,
    readonly partition: number,
  ) {}

  async open(from: number, reader: LogReader): Promise<void> {
    this.reader = reader;
    this.lastRead = from;
    await this.openConsumer(from + 1);
    this.watchdog = setInterval(() => void this.checkFlow(), STALL_CHECK_MS);
  }

  /**
   * Reads the partition from `from` on, in order. Called again (from the message after the last one read) when the
   * consumer ends or stalls: an ordered consumer can stop delivering after its server dies, without an error.
   */
  private async openConsumer(from: number): Promise<void> {
    const { bucket, stream, prefix } = this.o;
    const { DeliverPolicy } = bucket.jetstream;
    const generation = ++this.generation;
    const consumer = await bucket.js.consumers.get(stream, {
      filter_subjects: [partitionFilter(prefix, this.partition)],
      ...(from > 1
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from }
        : { deliver_policy: DeliverPolicy.All }),
    });
    if (this.closed) return;
    const messages = await consumer.consume({ max_messages: 256 });
    this.consumer = consumer;
    this.messages = messages;
    this.lastDeliveryAt = performance.now();
    const reader = this.reader!;
    const topicStart = partitionFilter(prefix, this.partition).length - 1;
    this.loop = (async () => {
      for await (const m of messages) {
        if (this.closed || generation !== this.generation) break;
        this.lastDeliveryAt = performance.now();
        if (m.seq <= this.lastRead) continue; // read again after a reopen
        this.lastRead = m.seq;
        reader.offer({
          seq: m.seq,
          topic: m.subject.slice(topicStart),
          key: m.headers?.get(KEY_HEADER) || undefined,
          payload: m.data,
          headers: () => headersOf(m),
          pending: m.info.pending,
        });
        const room = reader.waitForRoom();
        if (room !== undefined) await room;
      }
    })().catch((error: unknown) => {
      if (!this.closed) this.o.log(`cluster: partition ${this.partition}: ${String(error)}`);
    });
  }

  /** Reopens the consumer when it ended, or when nothing came for a while although the partition has messages. */
  private async checkFlow(): Promise<void> {
    if (this.closed || this.reopening) return;
    if (performance.now() - this.lastDeliveryAt < STALL_CHECK_MS || this.reader?.hasRoom() === false) return;
    this.reopening = true;
    try {
      let stalled = true;
      try {
        const info = await Promise.race([
          this.consumer!.info(),
          new Promise<never>((_, reject) =>
            setTimeout(() => {
              reject(new Error('consumer info timed out'));
            }, 2000),
          ),
        ]);
        stalled = info.num_pending > 0;
      } catch {
        stalled = true;
      }
      if (!stalled) {
        this.lastDeliveryAt = performance.now();
        return;
      }
      this.o.log(`cluster: partition ${this.partition}: its consumer stalled; reading again from ${this.lastRead + 1}`);
      const old = this.messages;
      await this.openConsumer(this.lastRead + 1);
      void old?.close();
    } catch (error) {
      this.o.log(`cluster: partition ${this.partition}: reopening its consumer failed: ${String(error)}`);
    } finally {
      this.reopening = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.watchdog !== undefined) clearInterval(this.watchdog);
    await this.messages?.close();
    await this.loop;
  }

  /** Outputs go out before the state commits, with ids a replay repeats: the stream drops the copies. */
  async publish(agent: string, key: string, seq: number, result: RunResult): Promise<void> {
    const { bucket, prefix, partitions, stream } = this.o;
    const h = bucket.transport.headers();
    h.set(KEY_HEADER, key);
    h.set(SOURCE_AGENT_HEADER, agent);
    await Promise.all(
      result.events.map((event, i) =>
        // The payload as the guest emitted it (one MessagePack value, checked at the boundary).
        bucket.js.publish(partitionSubject(prefix, partitionOf(key, partitions), event.topic), event.bytes, {
          msgID: `${stream}:${seq}:${agent}:${i}`,
          headers: h,
        }),
      ),
    );
  }

  async deadLetter(spec: AgentSpec, key: string, m: LogMessage, reason: string, deliveries: number): Promise<void> {
    const { bucket, prefix, stream, deadLetter } = this.o;
    const h = bucket.transport.headers();
    const origin = { headers: m.headers(), topic: m.topic, reason, deliveryCount: deliveries, group: spec.group };
    for (const [name, value] of Object.entries(deadLetterHeaders(origin, { [KEY_HEADER]: key }))) h.set(name, value);
    await bucket.js.publish(`${prefix}.${deadLetter}`, m.payload, {
      msgID: `${stream}:${m.seq}:${spec.name}:dead`,
      headers: h,
    });
  }

  /** The committed position goes to the bucket (`pos.<p>`): where the next owner starts reading. */
  async commit(position: number): Promise<void> {
    await this.o.bucket.kv.put(keys.position(this.partition), String(position));
  }
}

function headersOf(m: JsMsg): QueueHeaders {
  const own: QueueHeaders = {};
  if (m.headers === undefined) return own;
  for (const name of m.headers.keys()) own[name] = m.headers.get(name);
  return own;
}
