// The dispatcher over the memory queue: outbox (events only for ok runs), ack after publish, retries, dead letters.
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode } from '../../runtime/codec.ts';
import { MESSAGE_ID_HEADER, messageId } from '../../runtime/ops/audit-log.ts';
import { DEAD_LETTER_HEADERS, type QueueMessage } from '../../runtime/queue/types.ts';
import { SOURCE_AGENT_HEADER } from '../../runtime/swarm/dispatcher.ts';
import type { AgentSpec } from '../../runtime/swarm/topology.ts';
import { startRig, stopRig, type Rig } from '../support/dispatcher-rig.ts';
import { fixturePath } from '../support/paths.ts';

function setup(fixture: string, overrides: Partial<AgentSpec> = {}, pipeline?: number): Promise<Rig> {
  return startRig(fixture, overrides, pipeline === undefined ? {} : { pipeline });
}

afterEach(stopRig);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('dispatcher (memory queue)', () => {
  it('publishes the events of ok runs, acks, and does not redeliver acked messages', async () => {
    const { queue, dispatcher, alerts, dead } = await setup('emit-ok');
    for (let i = 0; i < 3; i++) await queue.publish({ topic: `in.m${i}`, payload: encode({ i }), key: `k${i}` });
    await dispatcher.whenIdle(50);
    expect(alerts.map((m) => [m.topic, decode(m.payload)])).toEqual([
      ['alerts.db', { n: 1 }],
      ['alerts.web', 'hi'],
      ['alerts.db', { n: 1 }],
      ['alerts.web', 'hi'],
      ['alerts.db', { n: 1 }],
      ['alerts.web', 'hi'],
    ]);
    expect(alerts[0]!.headers[SOURCE_AGENT_HEADER]).toBe('emit-ok');
    expect(alerts[0]!.key).toBe('k0');
    await sleep(150);
    const [stats] = dispatcher.stats();
    expect(stats).toMatchObject({ runs: { ok: 3 }, acked: 3, retried: 0, deadLettered: 0, eventsPublished: 6 });
    expect(dead).toHaveLength(0);
  });

  it('with inputDigests, has the workers compute each message id the audit trail would hash on the host', async () => {
    const seen: { message: QueueMessage; digest: string | undefined; output: unknown }[] = [];
    const { queue, dispatcher, alerts } = await startRig(
      'emit-ok',
      {},
      {
        inputDigests: true,
        discardOutputs: true,
        onRun: (_agent, message, result) =>
          void seen.push({ message, digest: result.inputDigest, output: result.output }),
      },
    );
    // Published together, so the runs go to the worker as batches (a run sent alone comes back without a digest).
    await queue.publishMany(
      Array.from({ length: 40 }, (_, i) => ({
        topic: `in.m${i % 3}`,
        payload: encode({ i }),
        ...(i % 2 === 0 ? { key: `k${i}` } : {}),
        ...(i % 10 === 9 ? { headers: { [MESSAGE_ID_HEADER]: `given-${i}` } } : {}),
      })),
    );
    await dispatcher.whenIdle(50);
    expect(seen).toHaveLength(40);
    const digested = seen.filter((s) => s.digest !== undefined);
    expect(digested.length).toBeGreaterThanOrEqual(20);
    for (const { message, digest, output } of digested) {
      expect(digest).toBe(messageId(message));
      expect(output).toBeNull();
    }
    // Discarding outputs keeps the events: the outbox published both of every run's.
    expect(alerts).toHaveLength(80);
    // A producer's id is used as it is: nothing is hashed for it.
    for (const { message, digest } of seen)
      if (message.headers[MESSAGE_ID_HEADER] !== undefined) expect(digest).toBeUndefined();
  });

  it('without inputDigests, runs carry no digest', async () => {
    const seen: (string | undefined)[] = [];
    const { queue, dispatcher } = await startRig(
      'emit-ok',
      {},
      { onRun: (_a, _m, r) => void seen.push(r.inputDigest) },
    );
    await queue.publishMany(Array.from({ length: 10 }, (_, i) => ({ topic: 'in.x', payload: encode({ i }) })));
    await dispatcher.whenIdle(50);
    expect(seen).toEqual(Array.from({ length: 10 }, () => undefined));
  });

  it('publishes the bytes the guest emitted, unchanged (no decode and re-encode on the way)', async () => {
    const { queue, dispatcher, alerts } = await setup('emit-input');
    // A map16 holding a float64 1.0: a decode and re-encode would publish the shorter `81 a1 61 01`.
    const bytes = new Uint8Array([0xde, 0x00, 0x01, 0xa1, 0x61, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
    expect([...encode(decode(bytes))]).not.toEqual([...bytes]);
    await queue.publish({ topic: 'in.raw', payload: bytes });
    await dispatcher.whenIdle(50);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.topic).toBe('alerts.input');
    expect([...alerts[0]!.payload]).toEqual([...bytes]);
  });

  it('publishes nothing for failed runs and dead-letters them after maxDeliveries with the reason', async () => {
    const { queue, dispatcher, alerts, dead } = await setup('trap-unreachable');
    await queue.publish({ topic: 'in.a', payload: encode({ poison: 1 }), headers: { 'x-id': 'p1' } });
    await queue.publish({ topic: 'in.b', payload: encode({ poison: 2 }) });
    await dispatcher.whenIdle(50);
    expect(alerts).toHaveLength(0);
    expect(dead).toHaveLength(2);
    const first = dead.find((m) => m.headers['x-id'] === 'p1')!;
    expect(decode(first.payload)).toEqual({ poison: 1 });
    expect(first.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/^trap-unreachable: trap/);
    expect(first.headers[DEAD_LETTER_HEADERS.topic]).toBe('in.a');
    expect(first.headers[DEAD_LETTER_HEADERS.deliveryCount]).toBe('3');
    expect(dispatcher.stats()[0]).toMatchObject({
      runs: { trap: 6 },
      acked: 0,
      retried: 4,
      deadLettered: 2,
      eventsPublished: 0,
    });
  });

  it('a run that emits and then fails publishes none of its events (outbox)', async () => {
    // emit-flood emits until the event limit refuses one: the run ends limit-exceeded with its events withheld.
    const { queue, dispatcher, alerts, dead } = await setup('emit-flood', {
      maxDeliveries: 1,
      limits: { maxEvents: 10 },
    });
    await queue.publish({ topic: 'in.flood', payload: encode(null) });
    await dispatcher.whenIdle(50);
    expect(alerts).toHaveLength(0);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/limit-exceeded/);
  });

  it('dead-letters a payload that is not MessagePack at once, without running the agent', async () => {
    const { queue, dispatcher, dead } = await setup('emit-ok');
    await queue.publish({ topic: 'in.raw', payload: new Uint8Array([0xc1]) });
    await dispatcher.whenIdle(50);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/not MessagePack/);
    expect(dead[0]!.headers[DEAD_LETTER_HEADERS.deliveryCount]).toBe('1');
    expect(dispatcher.stats()[0]!.runs).toEqual({});
  });

  it.each([
    [1, 2],
    [3, 6],
  ])('with pipeline %i, hands at most concurrency × pipeline runs to the instances (%i)', async (pipeline, bound) => {
    const { queue, dispatcher, sandbox } = await setup('echo-input', { concurrency: 2 }, pipeline);
    let running = 0;
    let peak = 0;
    // Watch runs through the sandbox's agents: wrap runEncoded on the instances the dispatcher loaded.
    const seen = new Set<unknown>();
    const orig = Object.getPrototypeOf((await sandbox.load(fixturePath('echo-input'))) as object) as {
      runEncoded: (b: Uint8Array) => Promise<unknown>;
    };
    const run = orig.runEncoded;
    orig.runEncoded = async function (this: unknown, bytes: Uint8Array) {
      seen.add(this);
      running++;
      peak = Math.max(peak, running);
      try {
        return await run.call(this, bytes);
      } finally {
        running--;
      }
    };
    try {
      for (let i = 0; i < 20; i++) await queue.publish({ topic: 'in.x', payload: encode(i), key: `k${i}` });
      await dispatcher.whenIdle(50);
    } finally {
      orig.runEncoded = run;
    }
    expect(dispatcher.stats()[0]).toMatchObject({ runs: { ok: 20 }, acked: 20 });
    expect(peak).toBeLessThanOrEqual(bound);
    if (pipeline === 1) expect(peak).toBe(2);
    else expect(peak).toBeGreaterThan(2);
    expect(seen.size).toBe(2);
  });
});
