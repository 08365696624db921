// Queue lag from real servers: NATS JetStream consumer info and Kafka offsets, through the sandbox_queue_lag metric.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { SwarmMetrics } from '../../runtime/ops/metrics.ts';
import { parsePrometheusText, sumSamples } from '../../runtime/ops/prom-text.ts';
import { createQueue } from '../../runtime/queue/index.ts';
import type { AgentLag } from '../../runtime/swarm/dispatcher.ts';
import { serviceSlot, stop, type ServiceInfo, type ServiceKind, type ServiceSlot } from '../support/services.ts';

const provided = inject('queueServices') as { nats: ServiceSlot; kafka: ServiceSlot } | undefined;
const ownServers: ServiceInfo[] = [];
const [nats, kafka] = await Promise.all([
  serviceSlot('nats', provided, ownServers),
  serviceSlot('kafka', provided, ownServers),
]);
afterAll(async () => {
  await Promise.all(ownServers.map((info) => stop(info)));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function lagCase(kind: ServiceKind, url: string): Promise<void> {
  const tag = randomBytes(4).toString('hex');
  const metrics = new SwarmMetrics({ processMetrics: false });
  const queue = await createQueue(url);
  const group = `lag${tag}`;
  const pattern = `lag${tag}.>`;
  const lags: AgentLag[] = [];
  metrics.attach({ stats: () => [], workerRestarts: () => 0, workers: 1, lags: () => lags });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let handled = 0;
  const lag = async () =>
    sumSamples(parsePrometheusText(await metrics.metrics()), 'sandbox_queue_lag', { agent: group, pattern });
  const until = async (what: string, check: (v: number | null) => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let v = await lag();
    while (!check(v)) {
      if (Date.now() > deadline) throw new Error(`${kind}: lag ${String(v)}, waited for ${what}`);
      await sleep(100);
      v = await lag();
    }
    return v;
  };
  try {
    const sub = await queue.subscribe(
      pattern,
      async () => {
        await gate;
        handled++;
      },
      { group, concurrency: 2, prefetch: 4 },
    );
    lags.push({ agent: group, pattern, lag: () => sub.lag!() });
    await queue.publishMany(
      Array.from({ length: 20 }, (_, i) => ({ topic: `lag${tag}.x`, payload: new Uint8Array([i]) })),
    );
    // Nothing acked yet: every message is lag, whether still on the server or held by this subscriber.
    expect(await until('20', (v) => v === 20, 15_000)).toBe(20);
    release();
    while (handled < 20) await sleep(20);
    // Kafka commits acks every 100 ms; NATS acks are asynchronous too.
    expect(await until('0', (v) => v === 0, 15_000)).toBe(0);
  } finally {
    release();
    await queue.close();
    metrics.close();
  }
}

describe.skipIf(nats.info === undefined)(
  `queue lag: nats${nats.missing ? ` (skipped: ${nats.missing})` : ''}`,
  { timeout: 60_000 },
  () => {
    it('counts pending plus unacked messages of the consumer', async () => {
      await lagCase('nats', nats.info!.url);
    });
  },
);

describe.skipIf(kafka.info === undefined)(
  `queue lag: kafka${kafka.missing ? ` (skipped: ${kafka.missing})` : ''}`,
  { timeout: 90_000 },
  () => {
    it('counts records past the group committed offsets', async () => {
      await lagCase('kafka', kafka.info!.url);
    });
  },
);
