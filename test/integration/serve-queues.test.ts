// `sandbox serve` as a child process on NATS JetStream and on Kafka: every message becomes a run and its event; poison dead-letters.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { decode, encode } from '../../runtime/codec.ts';
import { createQueue, DEAD_LETTER_HEADERS, type QueueBackend, type QueueMessage } from '../../runtime/queue/index.ts';
import { SOURCE_AGENT_HEADER } from '../../runtime/swarm/dispatcher.ts';
import {
  echoTopology,
  IdCounter,
  sleep,
  startServe,
  summary,
  waitFor,
  type ServeProcess,
} from '../support/serve-process.ts';
import { stop, type ServiceInfo, type ServiceKind, type ServiceSlot, serviceSlot } from '../support/services.ts';

// The global setup starts the servers once per run; without it (a lone run of this file) it starts its own.
const provided = inject('queueServices') as { nats: ServiceSlot; kafka: ServiceSlot } | undefined;
const ownServers: ServiceInfo[] = [];
const slot = (kind: ServiceKind) => serviceSlot(kind, provided, ownServers);
const slots = { nats: await slot('nats'), kafka: await slot('kafka') };
const children: ServeProcess[] = [];
const queues: QueueBackend[] = [];
afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  // Bounded: a Kafka client closed while a consumer reopens its stream never returns (runtime/queue/kafka.ts).
  await Promise.all(queues.map((q) => Promise.race([q.close().catch(() => {}), sleep(10_000)])));
  await Promise.all(ownServers.map((info) => stop(info)));
});

const dir = mkdtempSync(join(tmpdir(), 'sandbox-serve-queues-'));

for (const kind of ['nats', 'kafka'] as const) {
  const s = slots[kind];
  describe.skipIf(s.info === undefined)(
    `sandbox serve on ${kind}${s.missing ? ` (skipped: ${s.missing})` : ''}`,
    { timeout: 60_000 },
    () => {
      it("runs every message once and publishes its event; a trapping agent's messages dead-letter with the reason", async () => {
        const started = Date.now();
        const tag = `${kind}${process.pid}q`;
        const yaml = join(dir, `${tag}.yaml`);
        writeFileSync(yaml, echoTopology(s.info!.url, tag, { maxDeliveries: 3 }));
        const q = await createQueue(s.info!.url);
        queues.push(q);

        // Watchers join groups of their own: a new group starts at the beginning of the stream, so nothing
        // published before their subscription is settled on the broker is missed (a private one starts at the end).
        const events = new IdCounter();
        let wrongSource = 0;
        await q.subscribe(
          `out${tag}.>`,
          (m) => {
            const body = decode(m.payload) as { id: number };
            if (m.headers[SOURCE_AGENT_HEADER] !== 'echo') wrongSource++;
            events.add(body.id);
          },
          { group: `watch${tag}`, concurrency: 4 },
        );
        const dead: QueueMessage[] = [];
        await q.subscribe(`dl${tag}`, (m) => void dead.push(m), { group: `dlwatch${tag}` });

        const serve = startServe([yaml]);
        children.push(serve);
        await serve.ready(30_000);

        const n = 500;
        const bad = 3;
        const ok = Array.from({ length: n }, (_, id) => ({
          topic: `in${tag}.ok`,
          key: `k${id % 8}`,
          payload: encode({ $emit: `out${tag}.evt`, id }),
        }));
        for (let i = 0; i < n; i += 100) await q.publishMany(ok.slice(i, i + 100));
        await q.publishMany(
          Array.from({ length: bad }, (_, id) => ({ topic: `in${tag}.bad`, payload: encode({ id }) })),
        );

        await waitFor(
          () => `${n} events and ${bad} dead letters (have ${events.distinct}, ${dead.length})`,
          () => events.distinct === n && dead.length === bad,
          40_000,
        );
        expect(await serve.stop('SIGTERM')).toBe(0);
        const { stderr } = serve.output();
        const echo = summary(stderr, 'echo');
        const poison = summary(stderr, 'poison');
        expect(echo, stderr).toBeDefined();
        expect(poison, stderr).toBeDefined();

        expect(events.missing(n)).toEqual([]);
        expect(wrongSource).toBe(0);
        // Without a fault every message runs once: no redelivery, no duplicate event.
        expect(echo).toEqual({ runs: n, events: n, acked: n, retried: 0, deadLettered: 0 });
        expect(events.duplicates).toBe(0);
        expect(poison).toEqual({ runs: bad * 3, events: 0, acked: 0, retried: bad * 2, deadLettered: bad });
        expect(dead.map((m) => (decode(m.payload) as { id: number }).id).sort()).toEqual([0, 1, 2]);
        for (const m of dead) {
          expect(m.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/^poison: trap/);
          expect(m.headers[DEAD_LETTER_HEADERS.topic]).toBe(`in${tag}.bad`);
          expect(m.headers[DEAD_LETTER_HEADERS.deliveryCount]).toBe('3');
        }
        console.log(
          `[serve ${kind}] ${n} messages → ${events.total} events (${events.duplicates} duplicates), ${dead.length} dead letters in ${Date.now() - started} ms`,
        );
      });
    },
  );
}
