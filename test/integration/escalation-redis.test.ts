// Escalation against a real redis-server: failure counts shared by two dispatchers, and the in-process fallback (logged once) while Redis is down.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, encode } from '../../runtime/codec.ts';
import { createQueue } from '../../runtime/queue/index.ts';
import type { QueueBackend, QueueMessage } from '../../runtime/queue/types.ts';
import { Sandbox } from '../../runtime/sandbox.ts';
import { Dispatcher } from '../../runtime/swarm/dispatcher.ts';
import type { EscalationConfig } from '../../runtime/swarm/escalation.ts';
import { freePort } from '../support/services.ts';
import { redisMissing, startRedis, type RedisServer } from '../support/redis.ts';
import { fixtureAgent } from '../support/dispatcher-rig.ts';
import { waitFor } from '../support/wait-for.ts';

const missing = redisMissing();
const inCI = process.env.CI === 'true';
if (missing !== undefined && !inCI) console.warn(`escalation-redis: skipped: ${missing}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Node {
  queue: QueueBackend;
  dispatcher: Dispatcher;
  alerts: QueueMessage[];
  logs: string[];
}

describe.runIf(missing !== undefined && inCI)('escalation with redis (CI)', () => {
  it('has redis-server installed', () => {
    throw new Error(missing);
  });
});

describe.skipIf(missing !== undefined)('escalation with a real redis-server', () => {
  let redis: RedisServer;
  let sandbox: Sandbox;
  const nodes: Node[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    sandbox = new Sandbox({ workers: 1 });
  });

  afterAll(async () => {
    for (const n of nodes) {
      await n.dispatcher.stop();
      await n.queue.close();
    }
    await sandbox?.close();
    await redis?.stop();
  });

  /** One swarm: its own memory queue and dispatcher running the trapping fixture, one failure per message. */
  async function node(escalation: EscalationConfig): Promise<Node> {
    const queue = await createQueue('memory');
    const logs: string[] = [];
    const dispatcher = new Dispatcher({
      queue,
      sandbox,
      deadLetter: 'dead.letter',
      escalation,
      onLog: (l) => void logs.push(l),
    });
    const alerts: QueueMessage[] = [];
    await queue.subscribe('alerts.>', (m) => void alerts.push(m));
    await dispatcher.addAgent(fixtureAgent('trap-unreachable', { name: 'trap', group: 'trap', maxDeliveries: 1 }));
    const n = { queue, dispatcher, alerts, logs };
    nodes.push(n);
    return n;
  }

  const runs = (n: Node): number => n.dispatcher.stats()[0]!.runs.trap ?? 0;

  it('two dispatchers on one Redis share the failure count: the sum crosses the threshold', async () => {
    const prefix = `t${Date.now()}`;
    const config: EscalationConfig = { redis: redis.url, prefix, window: 30_000, threshold: 4, cooldown: 60_000 };
    const a = await node(config);
    const b = await node(config);
    for (let i = 0; i < 2; i++) await a.queue.publish({ topic: 'in.a', payload: encode(i) });
    await waitFor('the condition', () => runs(a) === 2);
    await a.dispatcher.whenIdle(20);
    for (let i = 0; i < 2; i++) await b.queue.publish({ topic: 'in.b', payload: encode(i) });
    // Alone, neither reached 4; together they did, and the one that saw the fourth failure quarantined.
    await waitFor('the condition', () => b.alerts.length === 1);
    expect(decode(b.alerts[0]!.payload)).toMatchObject({ agent: 'trap', failures: 4, window: 30_000 });
    expect(a.alerts).toHaveLength(0);
    expect(a.logs.concat(b.logs).filter((l) => /unreachable/.test(l))).toEqual([]);
    // The counts really are in Redis, one key per window slice, each expiring.
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys(`${prefix}:fail:trap:*`);
      expect(keys.length).toBeGreaterThanOrEqual(1);
      const values = await client.mget(...keys);
      expect(values.reduce((s, v) => s + Number(v), 0)).toBe(4);
      for (const key of keys) {
        const ttl = await client.pttl(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(33_000);
      }
    } finally {
      client.disconnect();
    }
  });

  it('with Redis unreachable, counts in-process, says so once, and still quarantines', async () => {
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    const n = await node({ redis: nowhere, window: 30_000, threshold: 3, cooldown: 60_000 });
    for (let i = 0; i < 5; i++) await n.queue.publish({ topic: 'in.x', payload: encode(i) });
    await waitFor('the condition', () => n.alerts.length === 1);
    expect(decode(n.alerts[0]!.payload)).toMatchObject({ agent: 'trap', failures: 3 });
    await n.dispatcher.whenIdle(20);
    await sleep(1200); // a reconnect attempt or two fail meanwhile: still one line
    const said = n.logs.filter((l) => /unreachable/.test(l));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/counting failures in this process/);
  });

  it('falls back when Redis goes away and returns to it when it is back', async () => {
    const prefix = `u${Date.now()}`;
    const n = await node({ redis: redis.url, prefix, window: 30_000, threshold: 100, cooldown: 60_000 });
    await n.queue.publish({ topic: 'in.x', payload: encode(0) });
    await waitFor('the condition', () => runs(n) === 1);
    await n.dispatcher.whenIdle(20);
    await redis.stop({ keepDir: true });
    try {
      await n.queue.publish({ topic: 'in.x', payload: encode(1) });
      await waitFor('the condition', () => runs(n) === 2);
      await waitFor('the condition', () => n.logs.some((l) => /unreachable/.test(l)));
    } finally {
      await redis.start();
    }
    await waitFor('the condition', () => n.logs.some((l) => /reachable again/.test(l)), 10_000);
    await n.queue.publish({ topic: 'in.x', payload: encode(2) });
    await waitFor('the condition', () => runs(n) === 3);
    await n.dispatcher.whenIdle(20);
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys(`${prefix}:fail:trap:*`);
      // The server restarted empty (no persistence): only the failure after its return is there.
      const values = await client.mget(...keys);
      expect(values.reduce((s, v) => s + Number(v), 0)).toBe(1);
    } finally {
      client.disconnect();
    }
    expect(n.logs.filter((l) => /unreachable/.test(l))).toHaveLength(1);
  });
});
