// Fault tests on real servers: a broker restart mid-stream loses nothing; a poison message dead-letters with its reason.
import { afterAll, describe, expect, it } from 'vitest';
import { createQueue, DEAD_LETTER_HEADERS, type QueueBackend, type QueueMessage } from '../../runtime/queue/index.ts';
import { restart, startService, stop, type ServiceInfo, type ServiceKind, skipReason } from '../support/services.ts';
import { waitFor } from '../support/wait-for.ts';

// These tests restart their broker, so they use servers of their own rather than the run's shared ones.
const servers: ServiceInfo[] = [];
afterAll(async () => {
  await Promise.all(servers.map((info) => stop(info)));
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

for (const kind of ['nats', 'kafka'] as const satisfies readonly ServiceKind[]) {
  const missing = skipReason(kind);
  const title = `queue faults: ${kind}${missing ? ` (skipped: ${missing})` : ''}`;

  describe.skipIf(missing !== undefined).sequential(title, { timeout: 180_000 }, () => {
    let info: ServiceInfo;
    let q: QueueBackend;

    it('starts its own server', async () => {
      info = await startService(kind);
      servers.push(info);
      q = await createQueue(info.url);
    });

    it('keeps consuming through a broker restart: every message arrives at least once', async () => {
      const topic = `restart${kind}.events`;
      const n = 3000;
      const seen = new Map<number, number>();
      const sub = await q.subscribe(
        topic,
        async (m) => {
          const id = Number(dec(m.payload));
          seen.set(id, (seen.get(id) ?? 0) + 1);
          await sleep(1);
        },
        { group: 'restart', concurrency: 8, prefetch: 64, ackWaitMs: 5000 },
      );
      await sleep(kind === 'kafka' ? 1000 : 100);
      let published = 0;
      const publishing = (async () => {
        for (let i = 0; i < n; i += 50) {
          const batch = Array.from({ length: Math.min(50, n - i) }, (_, j) => ({
            topic,
            key: `k${(i + j) % 17}`,
            payload: enc(String(i + j)),
          }));
          await q.publishMany(batch);
          published += batch.length;
          await sleep(5);
        }
      })();
      await waitFor('consumption to be under way', () => seen.size >= 300, 60_000);
      const before = seen.size;
      await restart(info, 1000);
      await publishing;
      expect(published).toBe(n);
      await waitFor(`all ${n} messages (have ${seen.size})`, () => seen.size === n, 120_000);
      await sub.close();
      const duplicates = [...seen.values()].reduce((sum, c) => sum + c - 1, 0);
      // At least once: nothing missing; duplicates bounded by what was in flight around the restart.
      expect(before).toBeLessThan(n);
      for (let i = 0; i < n; i++) expect(seen.get(i), `message ${i}`).toBeGreaterThanOrEqual(1);
      expect(duplicates).toBeLessThan(n / 2);
      console.log(`[${kind}] restart: ${n} messages, ${before} before the restart, ${duplicates} duplicates`);
    });

    it('dead-letters a poison message among good ones after maxDeliver, with the reason', async () => {
      const topic = `poison${kind}.orders`;
      const dlq = `poison${kind}-dlq`;
      const good: string[] = [];
      const dead: QueueMessage[] = [];
      let poisonAttempts = 0;
      await q.subscribe(dlq, (m) => void dead.push(m), { group: 'dlq' });
      await q.subscribe(
        topic,
        (m) => {
          const body = dec(m.payload);
          if (body === 'poison') {
            poisonAttempts++;
            throw new Error(`unparseable order (attempt ${m.deliveryCount})`);
          }
          good.push(body);
        },
        { group: 'orders', maxDeliver: 4, backoffMs: 50, deadLetterTopic: dlq, concurrency: 2 },
      );
      await sleep(kind === 'kafka' ? 1000 : 100);
      await q.publishMany(
        ['a', 'b', 'poison', 'c', 'd'].map((body, i) => ({ topic, key: `order-${i}`, payload: enc(body) })),
      );
      await waitFor('the dead letter and the good messages', () => dead.length === 1 && good.length === 4, 30_000);
      await sleep(300);
      expect(poisonAttempts).toBe(4);
      expect(good.sort()).toEqual(['a', 'b', 'c', 'd']);
      expect(dead.length).toBe(1);
      expect(dec(dead[0]!.payload)).toBe('poison');
      expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/unparseable order \(attempt 4\)/);
      expect(dead[0]!.headers[DEAD_LETTER_HEADERS.topic]).toBe(topic);
      expect(dead[0]!.headers[DEAD_LETTER_HEADERS.deliveryCount]).toBe('4');
      await q.close();
    });
  });
}
