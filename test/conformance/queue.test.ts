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
