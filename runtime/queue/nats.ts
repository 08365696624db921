// The NATS JetStream backend: one stream holds every topic (as `<prefix>.<topic>`), a group is a durable pull consumer.
import type * as JetStreamModule from '@nats-io/jetstream';
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type * as TransportModule from '@nats-io/transport-node';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { SandboxError } from '../errors.ts';
import { Delivery, EMPTY_HEADERS, resolveSubscribeOptions, SubscriberCore, type DispatchHooks } from './dispatch.ts';
import { importOptional } from './optional.ts';
import { validatePattern, validateTopic } from './topics.ts';
import type {
  MessageHandler,
  PublishMessage,
  QueueBackend,
  QueueHeaders,
  SubscribeOptions,
  Subscription,
} from './types.ts';

export interface NatsQueueOptions {
  /** `host:port` entries (or one string, comma-separated). */
  servers: string | string[];
  /** JetStream stream that stores every topic (default `SANDBOX`). */
  stream?: string | undefined;
  /** Subject prefix in front of every topic (default `sandbox`), so the stream never captures other traffic. */
  subjectPrefix?: string | undefined;
  storage?: 'file' | 'memory' | undefined;
  /** How long a publish keeps retrying through a disconnect before it fails (default 30 000 ms). */
  publishTimeoutMs?: number | undefined;
  /** Publishes publishMany keeps in flight at once (default 512). */
  publishWindow?: number | undefined;
  /** Connection name shown by the server. */
  name?: string | undefined;
}

const KEY_HEADER = 'Sandbox-Key';
const INTERNAL_HEADERS = new Set([KEY_HEADER.toLowerCase(), 'nats-msg-id']);

type Transport = typeof TransportModule;
type JetStream = typeof JetStreamModule;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isTransient(error: unknown): boolean {
  const e = error as { name?: string; code?: string; message?: string; cause?: unknown };
  // Right after a server restart JetStream may answer "not enabled" (caused by "no responders") for a moment.
  if (e.cause !== undefined && e.cause !== error && isTransient(e.cause)) return true;
  const text = `${e.name ?? ''} ${e.code ?? ''} ${e.message ?? ''}`.toLowerCase();
  if (/jetstreamnotenabled|jetstream not enabled/.test(text)) return true;
  return /timeout|no responders|503|disconnect|connection|closed|reconnect/.test(text) && !/draining/.test(text);
}

export class NatsQueue implements QueueBackend {
  readonly kind = 'nats' as const;
  private readonly subscriptions = new Set<NatsSubscription>();
  private closing = false;
  private closed = false;
  private ephemeralIds = 0;

  private constructor(
    private readonly nats: Transport,
    private readonly js: JetStream,
    private readonly nc: NatsConnection,
    private readonly client: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly prefix: string,
    private readonly publishTimeoutMs: number,
    private readonly publishWindow: number,
  ) {}

  static async connect(options: NatsQueueOptions): Promise<NatsQueue> {
    const nats = await importOptional<Transport>('@nats-io/transport-node', 'the nats queue backend');
    const js = await importOptional<JetStream>('@nats-io/jetstream', 'the nats queue backend');
    const servers = typeof options.servers === 'string' ? options.servers.split(',') : options.servers;
    const stream = options.stream ?? 'SANDBOX';
    const prefix = options.subjectPrefix ?? 'sandbox';
    validateTopic(prefix);
    let nc: NatsConnection;
    try {
      nc = await nats.connect({
        servers,
        name: options.name ?? 'wasm-agent-sandbox',
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        waitOnFirstConnect: false,
      });
    } catch (error) {
      throw new SandboxError('SANDBOX_CONNECTION', `cannot connect to NATS at ${servers.join(',')}: ${String(error)}`, {
        cause: error,
      });
    }
    const jsm = await js.jetstreamManager(nc);
    const subjects = [`${prefix}.>`];
    try {
      const info = await jsm.streams.info(stream);
      if (!info.config.subjects?.includes(subjects[0]!)) {
        throw new SandboxError(
          'SANDBOX_INVALID_OPTIONS',
          `stream ${stream} exists with subjects ${JSON.stringify(info.config.subjects)}, expected ${subjects[0]}`,
        );
      }
    } catch (error) {
      if (error instanceof SandboxError) throw error;
      try {
        await jsm.streams.add({
          name: stream,
          subjects,
          storage: options.storage === 'memory' ? js.StorageType.Memory : js.StorageType.File,
          retention: js.RetentionPolicy.Limits,
        });
      } catch (addError) {
        // Another process created it between our info and add.
        if (!/already in use|exists/i.test(String(addError))) throw addError;
      }
    }
    return new NatsQueue(
      nats,
      js,
      nc,
      js.jetstream(nc),
      jsm,
      stream,
      prefix,
      options.publishTimeoutMs ?? 30_000,
      options.publishWindow ?? 512,
    );
  }

  private toHeaders(message: PublishMessage): MsgHdrs | undefined {
    const own = message.headers;
    if (message.key === undefined && (own === undefined || Object.keys(own).length === 0)) return undefined;
    const h = this.nats.headers();
    if (own !== undefined) for (const name in own) h.set(name, own[name]!);
    if (message.key !== undefined) h.set(KEY_HEADER, message.key);
    return h;
  }

  publish(message: PublishMessage): Promise<void> {
    if (this.closed) return Promise.reject(new SandboxError('SANDBOX_CLOSED', 'the nats queue is closed'));
    try {
      validateTopic(message.topic);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.publishDurably(message);
  }

  private async publishDurably(message: PublishMessage): Promise<void> {
    const subject = `${this.prefix}.${message.topic}`;
    const headers = this.toHeaders(message);
    // A message id makes retries through a reconnect idempotent (the stream's duplicate window drops repeats).
    const msgID = this.nats.nuid.next();
    const deadline = Date.now() + this.publishTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.publish(subject, message.payload, headers === undefined ? { msgID } : { msgID, headers });
        return;
      } catch (error) {
        if (!isTransient(error) || Date.now() >= deadline || this.nc.isClosed()) {
          throw new SandboxError('SANDBOX_CONNECTION', `publish to ${message.topic} failed: ${String(error)}`, {
            cause: error,
          });
        }
        await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
  }

  async publishMany(messages: readonly PublishMessage[]): Promise<void> {
    for (const m of messages) validateTopic(m.topic);
    // JetStream orders by arrival and one connection preserves send order, so a window of pipelined publishes
    // keeps per-key order while avoiding a round trip per message.
    let inFlight: Promise<void>[] = [];
    for (const m of messages) {
      inFlight.push(this.publish(m));
      if (inFlight.length >= this.publishWindow) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
  }

  async subscribe(pattern: string, handler: MessageHandler, options?: SubscribeOptions): Promise<Subscription> {
    if (this.closing) throw new SandboxError('SANDBOX_CLOSED', 'the nats queue is closed');
    validatePattern(pattern);
    const resolved = resolveSubscribeOptions(options);
    const filter = `${this.prefix}.${pattern}`;
    const js = this.js;
    let name: string;
    let ephemeral = false;
    const base = {
      filter_subject: filter,
      ack_policy: js.AckPolicy.Explicit,
      // The client times out unsettled deliveries itself at ackWaitMs; the server's longer wait covers a
      // client that died.
      ack_wait: this.nats.nanos(resolved.ackWaitMs * 2),
      // Redelivery stops at our maxDeliver by dead-lettering, so the server must never stop on its own.
      max_deliver: -1,
      max_ack_pending: -1,
    };
    if (resolved.group !== undefined) {
      name = resolved.group;
      let existing: Awaited<ReturnType<JetStreamManager['consumers']['info']>> | undefined;
      try {
        existing = await this.jsm.consumers.info(this.stream, name);
      } catch {
        existing = undefined;
      }
      if (existing !== undefined && existing.config.filter_subject !== filter) {
        throw new SandboxError(
          'SANDBOX_INVALID_OPTIONS',
          `group ${JSON.stringify(name)} already subscribes to ${JSON.stringify(existing.config.filter_subject?.slice(this.prefix.length + 1))}; every member must use the same pattern`,
        );
      }
      if (existing === undefined) {
        await this.jsm.consumers.add(this.stream, {
          ...base,
          durable_name: name,
          deliver_policy: js.DeliverPolicy.All,
        });
      }
    } else {
      ephemeral = true;
      name = `eph-${this.nats.nuid.next()}-${++this.ephemeralIds}`;
      await this.jsm.consumers.add(this.stream, {
        ...base,
        name,
        deliver_policy: js.DeliverPolicy.New,
        inactive_threshold: this.nats.nanos(60_000),
      });
    }
    const consumer = await this.client.consumers.get(this.stream, name);
    const prefixLength = this.prefix.length + 1;
    const hooks: DispatchHooks = {
      kind: this.kind,
      done: (d) => (d.ref as JsMsg).ack(),
      nakRemote: (d, delayMs) => (d.ref as JsMsg).nak(delayMs),
      deadLetter: (m) => this.publishDurably(m),
      abandon: (d) => (d.ref as JsMsg).nak(),
    };
    const core = new SubscriberCore(resolved, hooks, resolved.prefetch, true);
    const member = core.addMember(handler, resolved.concurrency, resolved.prefetch, resolved.autoAck);
    const messages: ConsumerMessages = await consumer.consume({ max_messages: resolved.prefetch, expires: 5000 });
    const loop = (async () => {
      for await (const m of messages) {
        let headers: QueueHeaders = EMPTY_HEADERS as QueueHeaders;
        let key: string | undefined;
        if (m.headers !== undefined) {
          headers = {};
          for (const k of m.headers.keys()) {
            const lower = k.toLowerCase();
            if (lower === KEY_HEADER.toLowerCase()) key = m.headers.get(k);
            else if (!INTERNAL_HEADERS.has(lower)) headers[k] = m.headers.get(k);
          }
        }
        core.offer(new Delivery(m.subject.slice(prefixLength), m.data, key, headers, m.info.deliveryCount, m));
        if (!core.hasRoom()) await core.waitForRoom();
      }
    })();
    let closed: Promise<void> | undefined;
    const subscription: NatsSubscription = {
      pattern,
      group: resolved.group,
      // One request to the server: messages the consumer has not delivered yet, plus delivered and unacked.
      lag: async () => {
        const info = await this.jsm.consumers.info(this.stream, name);
        return info.num_pending + info.num_ack_pending;
      },
      close: () => {
        closed ??= (async () => {
          this.subscriptions.delete(subscription);
          await messages.close();
          await loop.catch(() => {});
          await core.removeMember(member);
          if (!this.nc.isClosed()) {
            await this.nc.flush().catch(() => {});
            if (ephemeral) await this.jsm.consumers.delete(this.stream, name).catch(() => {});
          }
        })();
        return closed;
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    // Handlers still draining may publish (their outputs); only publishes after the drain are refused.
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    this.closed = true;
    // Draining needs the server; while it is unreachable the client would reconnect forever, holding the process.
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

type NatsSubscription = Subscription;

export function createNatsQueue(options: NatsQueueOptions): Promise<NatsQueue> {
  return NatsQueue.connect(options);
}
