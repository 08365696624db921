// The QueueBackend contract: what every event-fabric backend (memory, NATS JetStream, Kafka) promises; see docs/queue.md.

/** Header names are lower-case ASCII; values are strings. */
export type QueueHeaders = Record<string, string>;

export interface PublishMessage {
  /** Dot-separated tokens, e.g. `orders.created.eu`; no wildcards, no empty tokens, no whitespace. */
  topic: string;
  payload: Uint8Array;
  /** Messages with the same key are delivered to a subscription in publish order, one at a time. */
  key?: string | undefined;
  headers?: QueueHeaders | undefined;
}

/** One delivery of a message to a subscriber. Settle it exactly once with ack, nak or term. */
export interface QueueMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly key: string | undefined;
  readonly headers: Readonly<QueueHeaders>;
  /** 1 on the first delivery, incremented on every redelivery (nak, handler failure, ack-wait expiry). */
  readonly deliveryCount: number;
  /** Processed: never delivered again to this subscription. */
  ack(): void;
  /** Not processed: redeliver after `delayMs` (default: the subscription's backoff), or dead-letter it once
   *  `maxDeliver` deliveries are used up, with `reason` as the recorded failure. Returns what the queue decided
   *  (`retry` or `dead-letter`; a message settled before keeps its first settlement). */
  nak(delayMs?: number, reason?: string): Settlement;
  /** Will never succeed: dead-letter it now with this reason, no further redelivery. Returns `dead-letter` (or the
   *  first settlement of a message settled before). */
  term(reason: string): Settlement;
}

/** What the queue did with a delivery: acked it, will deliver it again, or dead-lettered it. */
export type Settlement = 'ack' | 'retry' | 'dead-letter';

/** Returning (or resolving) without settling acks the message when `autoAck` is on (the default);
 *  throwing (or rejecting) naks it with the error's message as the failure reason. */
export type MessageHandler = (message: QueueMessage) => void | Promise<void>;

export interface SubscribeOptions {
  /** Subscribers with the same group share the messages (competing consumers); every member of a group must
   *  use the same pattern. Without a group the subscription is private and sees every matching message
   *  published after it started. */
  group?: string | undefined;
  /** Handler invocations running at once (default 1). */
  concurrency?: number | undefined;
  /** Messages delivered to this subscriber but not yet settled, including those waiting behind a busy key
   *  (default max(64, 2 × concurrency)). This is the subscriber's bound on buffered work. */
  prefetch?: number | undefined;
  /** Deliveries before a failing message goes to the dead-letter topic (default 5). */
  maxDeliver?: number | undefined;
  /** An unsettled delivery is redelivered after this long (default 30 000 ms). */
  ackWaitMs?: number | undefined;
  /** First redelivery delay after a failure without an explicit delay; doubles per attempt up to 30 s (default 100 ms). */
  backoffMs?: number | undefined;
  /** Where dead letters go (default `dead-letter`). */
  deadLetterTopic?: string | undefined;
  /** Ack a message whose handler returned without settling it (default true). */
  autoAck?: boolean | undefined;
}

export interface Subscription {
  readonly pattern: string;
  readonly group: string | undefined;
  /** Stops taking new messages, waits for in-flight handlers to finish and their settlements to reach the
   *  backend, then returns. Messages fetched but never handed to the handler are released for redelivery. */
  close(): Promise<void>;
  /** Messages on this subscription not yet acked (published and waiting, delivered and unsettled, waiting
   *  for redelivery), for the `sandbox_queue_lag` metric. Absent where the backend cannot tell; see
   *  docs/operations.md for what each backend counts. */
  lag?(): Promise<number>;
}

export type QueueKind = 'memory' | 'nats' | 'kafka';

export interface QueueBackend {
  readonly kind: QueueKind;
  /** Resolves once the backend has durably accepted the message (memory: once it is queued for every
   *  matching subscription). Waits while a matching subscription's buffer is full: backpressure. */
  publish(message: PublishMessage): Promise<void>;
  /** The same as publishing each in order, with fewer round trips. */
  publishMany(messages: readonly PublishMessage[]): Promise<void>;
  /** Rejects with SANDBOX_INVALID_OPTIONS for an invalid pattern or options. */
  subscribe(pattern: string, handler: MessageHandler, options?: SubscribeOptions): Promise<Subscription>;
  /** Closes every subscription (draining in-flight work), flushes pending publishes, disconnects. */
  close(): Promise<void>;
}

/** Headers the fabric itself sets on a dead letter. */
export const DEAD_LETTER_HEADERS = {
  reason: 'x-dead-letter-reason',
  topic: 'x-original-topic',
  deliveryCount: 'x-delivery-count',
  group: 'x-dead-letter-group',
} as const;

export const DEFAULT_DEAD_LETTER_TOPIC = 'dead-letter';
