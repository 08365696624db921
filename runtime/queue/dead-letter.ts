// The headers a dead letter carries: one helper for the queue core, quarantine parking and ingest's rejected lines.
import { DEAD_LETTER_HEADERS, type QueueHeaders } from './types.ts';

/** Where a dead letter came from and why it will not be processed. */
export interface DeadLetterOrigin {
  /** The message's own headers, kept (a trace context, a line number, ...). */
  headers?: Readonly<QueueHeaders> | undefined;
  /** The topic the message was published on (`x-original-topic`). */
  topic: string;
  /** Why it is a dead letter (`x-dead-letter-reason`). */
  reason: string;
  /** Deliveries made before it was given up (`x-delivery-count`); absent when it never was delivered. */
  deliveryCount?: number | undefined;
  /** The subscription group that gave it up (`x-dead-letter-group`). */
  group?: string | undefined;
}

/** The message's headers plus the fabric's dead-letter headers, which win over any the publisher set. */
export function deadLetterHeaders(origin: DeadLetterOrigin, extra?: Readonly<QueueHeaders>): QueueHeaders {
  const headers: QueueHeaders = { ...origin.headers, ...extra };
  headers[DEAD_LETTER_HEADERS.reason] = origin.reason;
  headers[DEAD_LETTER_HEADERS.topic] = origin.topic;
  if (origin.deliveryCount !== undefined) headers[DEAD_LETTER_HEADERS.deliveryCount] = String(origin.deliveryCount);
  if (origin.group !== undefined) headers[DEAD_LETTER_HEADERS.group] = origin.group;
  return headers;
}
