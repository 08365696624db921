// The `node:diagnostics_channel` channels the runtime publishes on (runs, publishes, settlements, spans) and their message shapes; docs/operations.md.
import { channel } from 'node:diagnostics_channel';
import type { RunResult } from './agent/types.ts';
import type { PublishMessage, QueueKind, QueueMessage, Settlement } from './queue/types.ts';
import type { Dispatcher } from './swarm/dispatcher.ts';

/**
 * Publishers check `hasSubscribers` before they build a message, so a channel nobody listens to costs one
 * property read per publication point. Subscribers run synchronously on the publishing thread: keep them cheap,
 * and never throw (diagnostics_channel reports a subscriber's exception as an uncaught exception).
 */

/** One run of a swarm agent on a queue message, published after the run and before its message is settled. */
export interface RunChannelMessage {
  /** The dispatcher that ran it: a process may run several swarms, and a subscriber may want one. */
  dispatcher: Dispatcher;
  /** The agent's name in the topology. */
  agent: string;
  /** The message the agent ran on. */
  message: QueueMessage;
  result: RunResult;
  /** `performance.now()` when the queue handed the message to the dispatcher. */
  receivedAt: number;
  /** Milliseconds between delivery and the start of the run (admission, a free instance, the worker pipeline). */
  waitMs: number;
}

/** The events of a successful run, published once the queue accepted them (before the input is acked). */
export interface PublishChannelMessage {
  dispatcher: Dispatcher;
  /** The agent that emitted them. */
  agent: string;
  /** The message whose run emitted them. */
  message: QueueMessage;
  /** As published: topic, the guest's payload bytes, key and headers (`x-source-agent`, `traceparent`). */
  events: readonly PublishMessage[];
}

/** One settlement of one delivery, decided by the queue core (the same on memory, NATS and Kafka). */
export interface SettleChannelMessage {
  queue: QueueKind;
  topic: string;
  /** The subscription's group; undefined for a private subscription. */
  group: string | undefined;
  key: string | undefined;
  deliveryCount: number;
  settlement: Settlement;
  /** For `retry` and `dead-letter`: why (the nak or term reason). */
  reason?: string;
}

/**
 * A finished span, shaped after OpenTelemetry's (ids as lower-case hex, times in epoch milliseconds): what an
 * OTel bridge turns into a ReadableSpan. Published only when the dispatcher traces (`tracing: true`).
 */
export interface SpanChannelMessage {
  name: string;
  /** 'consumer' for a message's handling, 'internal' for the run inside it. */
  kind: 'consumer' | 'internal';
  /** 32 hex digits, shared by every span of the trace (and carried on in `traceparent` headers). */
  traceId: string;
  /** 16 hex digits. */
  spanId: string;
  /** The span this one is a child of: the upstream span named by the message's `traceparent`, or the message span. */
  parentSpanId: string | undefined;
  /** Epoch milliseconds (fractional). */
  startTime: number;
  endTime: number;
  /** 'error' when the run failed or the message was not acked. */
  status: 'ok' | 'error';
  attributes: Record<string, string | number | boolean>;
}

export const runChannel = channel('sandbox:swarm:run');
export const publishChannel = channel('sandbox:swarm:publish');
export const settleChannel = channel('sandbox:queue:settle');
export const spanChannel = channel('sandbox:trace:span');
