// The dispatcher and its observers: the queue decides retry vs dead letter, run/publish channels, W3C trace context across agents.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  PublishChannelMessage,
  RunChannelMessage,
  SettleChannelMessage,
  SpanChannelMessage,
} from '../../runtime/channels.ts';
import { encode } from '../../runtime/codec.ts';
import { SwarmMetrics } from '../../runtime/ops/metrics.ts';
import { parsePrometheusText, sumSamples } from '../../runtime/ops/prom-text.ts';
import { createQueue } from '../../runtime/queue/index.ts';
import type { QueueBackend, QueueMessage } from '../../runtime/queue/types.ts';
import { Sandbox } from '../../runtime/sandbox.ts';
import { Dispatcher, type DispatcherOptions } from '../../runtime/swarm/dispatcher.ts';
import { fixtureAgent } from '../support/dispatcher-rig.ts';
import { waitFor } from '../support/wait-for.ts';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function rig(queue: QueueBackend, options: Partial<DispatcherOptions> = {}) {
  const sandbox = new Sandbox({ workers: 1 });
  const dispatcher = new Dispatcher({ queue, sandbox, deadLetter: 'dead.letter', onLog: () => {}, ...options });
  cleanup.push(async () => {
    await dispatcher.stop();
    await queue.close();
    await sandbox.close();
  });
  return { sandbox, dispatcher };
}

/** Collects what a diagnostics channel publishes while a test runs. */
function listen<T>(name: string): T[] {
  const seen: T[] = [];
  const fn = (m: unknown): void => void seen.push(m as T);
  subscribe(name, fn);
  cleanup.push(() => {
    unsubscribe(name, fn);
    return Promise.resolve();
  });
  return seen;
}

describe('dispatcher: settlements, channels and traces', () => {
  it('counts a failed run as retried or dead-lettered by what the queue decided, not by its own maxDeliveries', async () => {
    // A backend whose subscriptions give up after one delivery, whatever maxDeliver the dispatcher asks for.
    const memory = await createQueue('memory');
    const queue: QueueBackend = {
      kind: memory.kind,
      publish: (m) => memory.publish(m),
      publishMany: (m) => memory.publishMany(m),
      close: () => memory.close(),
      subscribe: (pattern, handler, options) => memory.subscribe(pattern, handler, { ...options, maxDeliver: 1 }),
    };
    const { dispatcher } = rig(queue);
    const dead: QueueMessage[] = [];
    await queue.subscribe('dead.letter', (m) => void dead.push(m));
    await dispatcher.addAgent(fixtureAgent('trap-unreachable', { maxDeliveries: 3 }));
    await queue.publish({ topic: 'in.a', payload: encode({ poison: 1 }) });
    await waitFor('the dead letter', () => dead.length === 1);
    // With a retry counted that never comes, whenIdle would wait for it forever.
    await dispatcher.whenIdle(20);
    expect(dispatcher.stats()[0]).toMatchObject({ runs: { trap: 1 }, retried: 0, deadLettered: 1 });
  });

  it('naks a message whose events could not be published and counts the retry the queue makes of it', async () => {
    const memory = await createQueue('memory');
    let failures = 1;
    const queue: QueueBackend = {
      kind: memory.kind,
      publish: (m) => memory.publish(m),
      publishMany: (m) => {
        if (m.some((e) => e.topic.startsWith('alerts.')) && failures-- > 0)
          return Promise.reject(new Error('broker unavailable'));
        return memory.publishMany(m);
      },
      close: () => memory.close(),
      subscribe: (pattern, handler, options) => memory.subscribe(pattern, handler, options),
    };
    const { dispatcher } = rig(queue);
    const settled = listen<SettleChannelMessage>('sandbox:queue:settle');
    await dispatcher.addAgent(fixtureAgent('emit-ok'));
    await queue.publish({ topic: 'in.a', payload: encode(1) });
    await dispatcher.whenIdle(20);
    expect(dispatcher.stats()[0]).toMatchObject({ runs: { ok: 2 }, retried: 1, acked: 1, eventsPublished: 2 });
    const mine = settled.filter((m) => m.group === 'emit-ok');
    expect(mine.map((m) => m.settlement)).toEqual(['retry', 'ack']);
    expect(mine[0]!.reason).toBe('emit-ok: publishing its events failed: broker unavailable');
  });

  it('publishes each run and each outbox publish on its channel, before the message is acked', async () => {
    const runs = listen<RunChannelMessage>('sandbox:swarm:run');
    const publishes = listen<PublishChannelMessage>('sandbox:swarm:publish');
    const queue = await createQueue('memory');
    const { dispatcher } = rig(queue);
    await dispatcher.addAgent(fixtureAgent('emit-ok'));
    await queue.publish({ topic: 'in.x', payload: encode({ i: 1 }), key: 'k1' });
    await dispatcher.whenIdle(50);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ agent: 'emit-ok', result: { status: 'ok' } });
    expect(runs[0]!.message.topic).toBe('in.x');
    expect(runs[0]!.waitMs).toBeGreaterThanOrEqual(0);
    expect(publishes).toHaveLength(1);
    expect(publishes[0]!.agent).toBe('emit-ok');
    expect(publishes[0]!.events.map((e) => [e.topic, e.key])).toEqual([
      ['alerts.db', 'k1'],
      ['alerts.web', 'k1'],
    ]);
  });

  it('feeds SwarmMetrics without onRun or a queue wrapper: runs from the channel, in flight and lag from the dispatcher', async () => {
    const queue = await createQueue('memory');
    const { dispatcher } = rig(queue);
    const metrics = new SwarmMetrics({ processMetrics: false });
    cleanup.push(() => Promise.resolve(metrics.close()));
    metrics.attach({
      dispatcher,
      stats: () => dispatcher.stats(),
      lags: () => dispatcher.lags(),
      workerRestarts: () => 0,
      workers: 1,
    });
    await dispatcher.addAgent(fixtureAgent('emit-ok'));
    for (let i = 0; i < 3; i++) await queue.publish({ topic: `in.m${i}`, payload: encode(i) });
    await dispatcher.whenIdle(50);
    const s = parsePrometheusText(await metrics.metrics());
    expect(sumSamples(s, 'sandbox_runs_total', { agent: 'emit-ok', status: 'ok' })).toBe(3);
    expect(sumSamples(s, 'sandbox_in_flight', { agent: 'emit-ok' })).toBe(0);
    expect(sumSamples(s, 'sandbox_queue_lag', { agent: 'emit-ok', pattern: 'in.>' })).toBe(0);
    expect(sumSamples(s, 'sandbox_inbox_wait_seconds_count', { agent: 'emit-ok' })).toBe(3);
  });

  it('carries a traceparent from an ingested message to the events its agent emits, and on to the next agent', async () => {
    const spans = listen<SpanChannelMessage>('sandbox:trace:span');
    const queue = await createQueue('memory');
    const { dispatcher } = rig(queue, { tracing: true });
    const out: QueueMessage[] = [];
    await queue.subscribe('alerts.>', (m) => void out.push(m));
    // first re-emits its input on alerts.input; second (on alerts.input) emits on alerts.db and alerts.web.
    await dispatcher.addAgent(fixtureAgent('emit-input', { name: 'first', group: 'first' }));
    await dispatcher.addAgent(
      fixtureAgent('emit-ok', { name: 'second', group: 'second', subscribe: ['alerts.input'] }),
    );
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const upstream = '00f067aa0ba902b7';
    await queue.publish({
      topic: 'in.order',
      payload: encode({ id: 7 }),
      headers: { traceparent: `00-${traceId}-${upstream}-01` },
    });
    await waitFor('both agents ran', () => out.length === 3);
    await dispatcher.whenIdle(50);

    const parse = (m: QueueMessage) => /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(m.headers.traceparent ?? '');
    const emitted = out.find((m) => m.topic === 'alerts.input')!;
    const [, emittedTrace, emittedParent] = parse(emitted)!;
    expect(emittedTrace).toBe(traceId);
    expect(emittedParent).not.toBe(upstream);
    // The second agent's events continue the same trace, under a span of their own.
    const downstream = out.filter((m) => m.topic !== 'alerts.input').map((m) => parse(m)!);
    expect(downstream.map((p) => p[1])).toEqual([traceId, traceId]);
    expect(downstream[0]![2]).not.toBe(emittedParent);

    // Spans: first's message span is a child of the upstream span, its run span the parent of the emitted event;
    // second's message span is a child of that run span.
    expect(spans.every((s) => s.traceId === traceId)).toBe(true);
    const firstMessage = spans.find((s) => s.kind === 'consumer' && s.attributes['sandbox.agent'] === 'first')!;
    const firstRun = spans.find((s) => s.kind === 'internal' && s.attributes['sandbox.agent'] === 'first')!;
    const secondMessage = spans.find((s) => s.kind === 'consumer' && s.attributes['sandbox.agent'] === 'second')!;
    expect(firstMessage).toMatchObject({ parentSpanId: upstream, status: 'ok', name: 'process in.order' });
    expect(firstRun).toMatchObject({ parentSpanId: firstMessage.spanId, spanId: emittedParent, status: 'ok' });
    expect(secondMessage.parentSpanId).toBe(emittedParent);
    expect(firstRun.startTime).toBeGreaterThanOrEqual(firstMessage.startTime);
    expect(firstMessage.endTime).toBeGreaterThanOrEqual(firstRun.endTime);
  });

  it('adds no traceparent and publishes no span when tracing is off (the default)', async () => {
    const spans = listen<SpanChannelMessage>('sandbox:trace:span');
    const queue = await createQueue('memory');
    const { dispatcher } = rig(queue);
    const out: QueueMessage[] = [];
    await queue.subscribe('alerts.>', (m) => void out.push(m));
    await dispatcher.addAgent(fixtureAgent('emit-input'));
    await queue.publish({
      topic: 'in.a',
      payload: encode(1),
      headers: { traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` },
    });
    await waitFor('the event', () => out.length === 1);
    expect(out[0]!.headers.traceparent).toBeUndefined();
    expect(spans).toEqual([]);
  });
});
