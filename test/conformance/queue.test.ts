// Runs the queue conformance cases against memory always, and NATS JetStream and Kafka when their servers are up.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { isSandboxError } from '../../runtime/errors.ts';
import { createQueue, parseQueueUrl } from '../../runtime/queue/index.ts';
import { importOptional } from '../../runtime/queue/optional.ts';
import {
  stop,
  type ServiceInfo,
  type ServiceKind,
  type ServiceSlot,
  skipReason,
  serviceSlot,
} from '../support/services.ts';
import { defineQueueCases } from './queue.cases.ts';
import { waitFor } from '../support/wait-for.ts';

// The global setup (test/support/global-setup.ts) starts the servers once per run; without it this file starts its own.
const provided = inject('queueServices') as { nats: ServiceSlot; kafka: ServiceSlot } | undefined;
const ownServers: ServiceInfo[] = [];
const slot = (kind: ServiceKind) => serviceSlot(kind, provided, ownServers);
if (provided === undefined && process.env.CI === 'true') {
  // Fail before starting anything, so a missing server does not leave the other one half-started.
  for (const kind of ['nats', 'kafka'] as const) {
    skipReason(kind);
  }
}
const [nats, kafka] = await Promise.all([slot('nats'), slot('kafka')]);
afterAll(async () => {
  await Promise.all(ownServers.map((info) => stop(info)));
});

describe('queue: memory', { timeout: 30_000 }, () => {
  defineQueueCases({
    create: () => createQueue({ kind: 'memory', bufferSize: 16 }),
    durable: false,
    orderedRedelivery: true,
    publishWaitsForSubscribers: true,
    settleMs: 0,
  });
});

describe.skipIf(nats.info === undefined)(
  `queue: nats${nats.missing ? ` (skipped: ${nats.missing})` : ''}`,
  { timeout: 30_000 },
  () => {
    defineQueueCases({
      create: () => createQueue(`${nats.info!.url}`),
      durable: true,
      orderedRedelivery: false,
      publishWaitsForSubscribers: false,
      settleMs: 50,
    });
  },
);

describe.skipIf(kafka.info === undefined)(
  `queue: kafka${kafka.missing ? ` (skipped: ${kafka.missing})` : ''}`,
  { timeout: 60_000 },
  () => {
    defineQueueCases({
      create: () => createQueue(kafka.info!.url),
      durable: true,
      orderedRedelivery: true,
      publishWaitsForSubscribers: false,
      settleMs: 500,
    });
  },
);

describe.skipIf(kafka.info === undefined)('queue: kafka batching', { timeout: 60_000 }, () => {
  it('splits a publishMany larger than maxBatch, keeps order, and tells apart topics sharing a Kafka topic', async () => {
    const brokers = [`127.0.0.1:${kafka.info!.port}`];
    const q = await createQueue({ kind: 'kafka', brokers, maxBatch: 7 });
    try {
      const run = `kb${Date.now()}`;
      const got: { topic: string; key: string | undefined; n: number; line: string | undefined }[] = [];
      const sub = await q.subscribe(
        `${run}.a.>`,
        (m) => {
          got.push({ topic: m.topic, key: m.key, n: m.payload[0]!, line: m.headers['x-line'] });
        },
        { group: `g${run}` },
      );
      await new Promise((r) => setTimeout(r, 500));
      // 40 messages alternating between two matching topics and one that is not (same Kafka topic), some with
      // headers, in one call (split into produce requests of 7) and a concurrent single publish after it.
      const topics = [`${run}.a.x`, `${run}.b`, `${run}.a.y`];
      const batch = Array.from({ length: 40 }, (_, i) => ({
        topic: topics[i % 3]!,
        key: 'k',
        payload: new Uint8Array([i]),
        ...(i % 4 === 0 ? { headers: { 'x-line': String(i) } } : {}),
      }));
      const first = q.publishMany(batch);
      // The backend must not read the caller's array after the call returns.
      batch.length = 0;
      await Promise.all([first, q.publish({ topic: `${run}.a.x`, key: 'k', payload: new Uint8Array([40]) })]);
      const expected = [...Array.from({ length: 40 }, (_, i) => i).filter((i) => i % 3 !== 1), 40];
      await waitFor('kafka deliveries', () => got.length >= expected.length, 30_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(got.map((g) => g.n)).toEqual(expected);
      for (const g of got) {
        expect(g.topic).toBe(g.n === 40 ? `${run}.a.x` : topics[g.n % 3]);
        expect(g.key).toBe('k');
        expect(g.line).toBe(g.n % 4 === 0 && g.n < 40 ? String(g.n) : undefined);
      }
      await sub.close();
    } finally {
      await q.close();
    }
  });
});

describe.skipIf(kafka.info === undefined)('queue: kafka record format', { timeout: 60_000 }, () => {
  it('writes the sandbox-topic header only for topics of more than one token, and reads records with or without it', async () => {
    const kafkaClient = await import('@platformatic/kafka');
    const brokers = [`127.0.0.1:${kafka.info!.port}`];
    const run = `kf${Date.now()}`;
    const q = await createQueue({ kind: 'kafka', brokers });
    const always = await createQueue({ kind: 'kafka', brokers, topicHeader: 'always' });
    const producer = new kafkaClient.Producer({ clientId: 'format-raw', bootstrapBrokers: brokers });
    const consumer = new kafkaClient.Consumer({
      clientId: 'format-raw',
      bootstrapBrokers: brokers,
      groupId: `raw${run}`,
    });
    try {
      const plain: { topic: string; n: number; a: string | undefined }[] = [];
      const deep: { topic: string; n: number }[] = [];
      const subs = [
        await q.subscribe(run, (m) => void plain.push({ topic: m.topic, n: m.payload[0]!, a: m.headers['x-a'] }), {
          group: `p${run}`,
        }),
        await q.subscribe(`${run}.>`, (m) => void deep.push({ topic: m.topic, n: m.payload[0]! }), {
          group: `d${run}`,
        }),
      ];
      await q.publishMany([
        { topic: run, payload: new Uint8Array([1]), headers: { 'x-a': '1' } },
        { topic: run, payload: new Uint8Array([2]), key: 'k' },
        { topic: `${run}.deep`, payload: new Uint8Array([3]) },
      ]);
      await always.publish({ topic: run, payload: new Uint8Array([7]) });
      // Records of an earlier version (the header on every record) and of a producer that knows nothing of it.
      const kafkaTopic = `sandbox-${run}`;
      const header = (topic: string) => new Map([[Buffer.from('sandbox-topic'), Buffer.from(topic)]]);
      await producer.send({
        messages: [
          { topic: kafkaTopic, value: Buffer.from([4]), headers: header(run) },
          { topic: kafkaTopic, value: Buffer.from([5]) },
          { topic: kafkaTopic, value: Buffer.from([6]), headers: header(`${run}.old`) },
        ],
      });
      await waitFor('kafka deliveries', () => plain.length >= 5 && deep.length >= 2, 30_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(plain.map((p) => p.n).sort()).toEqual([1, 2, 4, 5, 7]);
      for (const p of plain) {
        expect(p.topic).toBe(run);
        expect(p.a).toBe(p.n === 1 ? '1' : undefined);
      }
      expect(deep.sort((a, b) => a.n - b.n)).toEqual([
        { topic: `${run}.deep`, n: 3 },
        { topic: `${run}.old`, n: 6 },
      ]);
      // What is on the broker: the header where the topic needs it (and with topicHeader 'always'), nothing else.
      const stream = await consumer.consume({
        topics: [kafkaTopic],
        mode: kafkaClient.MessagesStreamModes.EARLIEST,
      });
      const onBroker = new Map<number, string | undefined>();
      stream.on('data', (raw: { value: Buffer; headers: Map<Buffer, Buffer> }) => {
        let topic: string | undefined;
        for (const [k, v] of raw.headers) if (k.toString() === 'sandbox-topic') topic = v.toString();
        onBroker.set(raw.value[0]!, topic);
      });
      await waitFor('raw records', () => onBroker.size >= 7, 30_000);
      await stream.close();
      expect(Object.fromEntries(onBroker)).toEqual({
        1: undefined,
        2: undefined,
        3: `${run}.deep`,
        4: run,
        5: undefined,
        6: `${run}.old`,
        7: run,
      });
      for (const s of subs) await s.close();
    } finally {
      await new Promise<void>((resolve) => {
        consumer.close(true, () => {
          resolve();
        });
      });
      await producer.close();
      await always.close();
      await q.close();
    }
  });
});

describe('createQueue', () => {
  it('parses memory, nats:// and kafka:// URLs and rejects others', () => {
    expect(parseQueueUrl('memory')).toEqual({ kind: 'memory' });
    expect(parseQueueUrl('nats://127.0.0.1:4222,other:4223')).toEqual({
      kind: 'nats',
      servers: ['127.0.0.1:4222', 'other:4223'],
    });
    expect(parseQueueUrl('kafka://broker:9092/')).toEqual({ kind: 'kafka', brokers: ['broker:9092'] });
    for (const bad of ['redis://x:1', 'nats://', 'kafka://host', 'nats://a b:1']) {
      let error: unknown;
      try {
        parseQueueUrl(bad);
      } catch (e) {
        error = e;
      }
      expect(isSandboxError(error, 'SANDBOX_INVALID_OPTIONS'), bad).toBe(true);
    }
  });

  it('names the package to install when an optional client is missing', async () => {
    const error = await importOptional('@nats-io/not-a-real-package', 'the nats queue backend').catch(
      (e: unknown) => e,
    );
    expect(isSandboxError(error, 'SANDBOX_MISSING_DEPENDENCY')).toBe(true);
    expect((error as Error).message).toContain('npm install @nats-io/not-a-real-package');
  });

  it('refuses an unknown kafka topicHeader with SANDBOX_INVALID_OPTIONS, before connecting', async () => {
    const error = await createQueue({
      kind: 'kafka',
      brokers: ['127.0.0.1:1'],
      topicHeader: 'sometimes' as 'always',
    }).catch((e: unknown) => e);
    expect(isSandboxError(error, 'SANDBOX_INVALID_OPTIONS')).toBe(true);
  });

  it('refuses publishes after close with SANDBOX_CLOSED', async () => {
    const q = await createQueue();
    await q.close();
    const error = await q.publish({ topic: 'a', payload: new Uint8Array() }).catch((e: unknown) => e);
    expect(isSandboxError(error, 'SANDBOX_CLOSED')).toBe(true);
  });

  it('reports an unreachable server as SANDBOX_CONNECTION', async () => {
    const error = await createQueue({ kind: 'kafka', brokers: ['127.0.0.1:1'] }).catch((e: unknown) => e);
    expect(isSandboxError(error, 'SANDBOX_CONNECTION')).toBe(true);
  }, 60_000);
});
