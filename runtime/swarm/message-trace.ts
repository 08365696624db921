// The spans of one message's handling by one agent (a consumer span, with the run's span inside it), W3C traceparent in and out.
import type { RunResult } from '../agent/types.ts';
import { spanChannel, type SpanChannelMessage } from '../channels.ts';
import {
  formatTraceParent,
  newSpanId,
  newTraceId,
  parseTraceParent,
  TRACEPARENT_HEADER,
} from '../ops/trace-context.ts';
import type { QueueKind, QueueMessage, Settlement } from '../queue/types.ts';

/** performance.now() to epoch milliseconds, as OpenTelemetry wants span times. */
const epoch = (now: number): number => performance.timeOrigin + now;

/**
 * Made only when the dispatcher traces. The message span continues the trace its `traceparent` names (same
 * trace id, the upstream span as parent) or starts one; the run span is its child, and the parent of every
 * event the run publishes. Spans go to the `sandbox:trace:span` channel when it has subscribers.
 */
export class MessageTrace {
  readonly traceId: string;
  readonly parentSpanId: string | undefined;
  readonly spanId = newSpanId();
  readonly runSpanId = newSpanId();
  private readonly sampled: boolean;
  private result: RunResult | undefined;
  private ranAt = 0;
  settlement: Settlement | undefined;

  constructor(
    private readonly agent: string,
    private readonly queue: QueueKind,
    private readonly message: QueueMessage,
    private readonly receivedAt: number,
  ) {
    const parent = parseTraceParent(message.headers[TRACEPARENT_HEADER]);
    this.traceId = parent?.traceId ?? newTraceId();
    this.parentSpanId = parent?.spanId;
    // A message with no trace context starts a sampled trace: tracing is on because someone wants the spans.
    this.sampled = parent?.sampled ?? true;
  }

  /** The run ended with `result`, now. */
  ran(result: RunResult): void {
    this.result = result;
    this.ranAt = performance.now();
  }

  /** The `traceparent` for events the run emitted: this trace, the run span as their parent. */
  childTraceParent(): string {
    return formatTraceParent(this.traceId, this.runSpanId, this.sampled);
  }

  /** The handling is over: publish the run span (if the agent ran) and the message span. */
  end(): void {
    if (!spanChannel.hasSubscribers) return;
    const endedAt = performance.now();
    const result = this.result;
    if (result !== undefined) {
      const attributes: SpanChannelMessage['attributes'] = {
        'sandbox.agent': this.agent,
        'sandbox.run.status': result.status,
        'sandbox.engine': result.engine,
      };
      if (result.fuelUsed !== null) attributes['sandbox.run.fuel_used'] = result.fuelUsed;
      spanChannel.publish({
        name: `run ${this.agent}`,
        kind: 'internal',
        traceId: this.traceId,
        spanId: this.runSpanId,
        parentSpanId: this.spanId,
        startTime: epoch(this.ranAt - result.durationMs),
        endTime: epoch(this.ranAt),
        status: result.status === 'ok' ? 'ok' : 'error',
        attributes,
      } satisfies SpanChannelMessage);
    }
    const m = this.message;
    const attributes: SpanChannelMessage['attributes'] = {
      'messaging.system': this.queue,
      'messaging.operation.type': 'process',
      'messaging.destination.name': m.topic,
      'sandbox.agent': this.agent,
      'sandbox.delivery_count': m.deliveryCount,
    };
    if (m.key !== undefined) attributes['messaging.message.key'] = m.key;
    if (this.settlement !== undefined) attributes['sandbox.settlement'] = this.settlement;
    spanChannel.publish({
      name: `process ${m.topic}`,
      kind: 'consumer',
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      startTime: epoch(this.receivedAt),
      endTime: epoch(endedAt),
      status: this.settlement === 'ack' ? 'ok' : 'error',
      attributes,
    } satisfies SpanChannelMessage);
  }
}
