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
