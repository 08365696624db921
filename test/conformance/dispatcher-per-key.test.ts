// Per-key agents in a swarm (memory queue, hibernation): one counter per key, per-key order, restarts, keyless and unloadable messages.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decode, encode } from '../../runtime/codec.ts';
import type { RunResult } from '../../runtime/agent/types.ts';
import { createQueue } from '../../runtime/queue/index.ts';
import { DEAD_LETTER_HEADERS, type QueueBackend, type QueueMessage } from '../../runtime/queue/types.ts';
import { Sandbox, type LoadOptions } from '../../runtime/sandbox.ts';
import type { Agent } from '../../runtime/agent/agent.ts';
import { Dispatcher } from '../../runtime/swarm/dispatcher.ts';
import { startSwarm, type Swarm } from '../../runtime/swarm/index.ts';
import { parseTopology } from '../../runtime/swarm/topology.ts';
import { agentPath, requireBuilt } from '../support/paths.ts';

const dirs: string[] = [];
const swarms: Swarm[] = [];
const queues: QueueBackend[] = [];

afterEach(async () => {
  for (const s of swarms.splice(0)) await s.stop();
  for (const q of queues.splice(0)) await q.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-per-key-'));
  dirs.push(dir);
  return dir;
}

/** A per-key counter topology whose store lives in `dir` (given relative to the topology's directory). */
function topology(
  dir: string,
  options: { module?: string; maxResident?: number; subscribe?: string; maxDeliveries?: number } = {},
) {
  return parseTopology(
    `hibernation:
  store: state
  maxResident: ${options.maxResident ?? 8}
  idleMs: 0
agents:
  - name: counter
    module: ${JSON.stringify(requireBuilt(agentPath(options.module ?? 'counter')))}
    instances: per-key
    subscribe: ${options.subscribe ?? 'counts.>'}
    maxDeliveries: ${options.maxDeliveries ?? 3}
    backoffMs: 5
`,
    { baseDir: dir },
  );
}

interface Observed {
  /** Per key: the counter's outputs, in the order runs finished. */
  outputs: Map<string, number[]>;
  results: { key: string | undefined; result: RunResult }[];
  dead: QueueMessage[];
  logs: string[];
}

async function start(
  dir: string,
  options: Parameters<typeof topology>[1] = {},
): Promise<{ swarm: Swarm; seen: Observed }> {
  const queue = await createQueue('memory');
  queues.push(queue);
  const seen: Observed = { outputs: new Map(), results: [], dead: [], logs: [] };
  await queue.subscribe('dead-letter', (m) => void seen.dead.push(m));
  const swarm = await startSwarm(topology(dir, options), {
    queue,
    workers: 2,
    onLog: (line) => void seen.logs.push(line),
    onRun: (_agent, message, result) => {
      seen.results.push({ key: message.key, result });
      if (result.status !== 'ok' || message.key === undefined) return;
      const list = seen.outputs.get(message.key) ?? [];
      list.push((result.output as { count: number }).count);
      seen.outputs.set(message.key, list);
    },
  });
  swarms.push(swarm);
  return { swarm, seen };
}

async function stop(swarm: Swarm): Promise<void> {
  swarms.splice(swarms.indexOf(swarm), 1);
  await swarm.stop();
}

/** Message i (1-based) of a key adds i: outputs must then be the running sums in publish order, 1, 3, 6, 10, ... */
const sums = (from: number, to: number, before = 0): number[] => {
  const out: number[] = [];
  let total = before;
  for (let i = from; i <= to; i++) out.push((total += i));
  return out;
};

describe('per-key agents', () => {
  it('keeps one counter per key, many more keys than resident instances, each key in publish order', async () => {
    const dir = tempDir();
    const { swarm, seen } = await start(dir, { maxResident: 8 });
    const keys = Array.from({ length: 200 }, (_, k) => `customer-${k}`);
    // Round-robin over the keys: every key's messages interleave with every other key's.
    for (let i = 1; i <= 5; i++) {
      await swarm.queue.publishMany(
        keys.map((key) => ({ topic: `counts.${i}`, payload: encode({ by: i, seq: i }), key })),
      );
    }
    await swarm.dispatcher.whenIdle(50);
    for (const key of keys) expect(seen.outputs.get(key), key).toEqual(sums(1, 5));
    const [stats] = swarm.dispatcher.stats();
    expect(stats).toMatchObject({ runs: { ok: 1000 }, acked: 1000, retried: 0, deadLettered: 0, keys: 200 });
    // Different keys ran at once, never more than the inbox bound (concurrency × pipeline = 128).
    expect(stats!.inboxPeak).toBeGreaterThan(1);
    expect(stats!.inboxPeak).toBeLessThanOrEqual(128);
    const residency = swarm.sandbox.residency();
    expect(residency.resident).toBeLessThanOrEqual(8);
    expect(residency.resident + residency.hibernated).toBe(200);
    expect(residency.wakes).toBeGreaterThan(200);
    expect(residency.storeErrors).toBe(0);
  });

  // Issue 17: the dashboard's serve case (maxResident 1, three keys) showed 4 hibernated agents, as if the per-key
  // agent's start-up probe were counted. It is not: the fourth is a fixed agent of the topology, which with state
  // 'keep' hibernates like any stateful agent of the sandbox. residency() counts exactly the loaded stateful agents.
  it('residency counts each key and each stateful fixed agent once, never the per-key probe', async () => {
    const dir = tempDir();
    const queue = await createQueue('memory');
    queues.push(queue);
    const yaml = (fixed: boolean) => `hibernation:
  store: state
  maxResident: 1
  idleMs: 0
agents:
${
  fixed
    ? `  - name: echo
    module: ${JSON.stringify(requireBuilt(agentPath('echo-value')))}
    subscribe: in.x
    group: echo
`
    : ''
}  - name: counter
    module: ${JSON.stringify(requireBuilt(agentPath('counter')))}
    instances: per-key
    subscribe: in.x
    group: counter
`;
    for (const fixed of [false, true]) {
      const swarm = await startSwarm(parseTopology(yaml(fixed), { baseDir: join(dir, String(fixed)) }), {
        queue,
        workers: 1,
      });
      swarms.push(swarm);
      await swarm.queue.publishMany(['a', 'b', 'c'].map((key) => ({ topic: 'in.x', payload: encode({ by: 1 }), key })));
      await swarm.dispatcher.whenIdle(50);
      // The worker reports residency with its answers; the last answer came after the last run.
      const residency = swarm.sandbox.residency();
      expect(residency.resident, `fixed agent: ${fixed}`).toBe(1);
      expect(residency.hibernated, `fixed agent: ${fixed}`).toBe(fixed ? 3 : 2);
      await stop(swarm);
    }
  });

  it("a second swarm on the same store continues every key's count", async () => {
    const dir = tempDir();
    const keys = Array.from({ length: 40 }, (_, k) => `k${k}`);
    const first = await start(dir, { maxResident: 4 });
    for (let i = 1; i <= 3; i++) {
      await first.swarm.queue.publishMany(keys.map((key) => ({ topic: 'counts.x', payload: encode({ by: i }), key })));
    }
    await first.swarm.dispatcher.whenIdle(50);
    for (const key of keys) expect(first.seen.outputs.get(key)).toEqual(sums(1, 3));
    // Stopping drains and closes the sandbox, which writes every state (resident ones included).
    await stop(first.swarm);

    const second = await start(dir, { maxResident: 4 });
    for (let i = 4; i <= 5; i++) {
      await second.swarm.queue.publishMany(keys.map((key) => ({ topic: 'counts.x', payload: encode({ by: i }), key })));
    }
    await second.swarm.dispatcher.whenIdle(50);
    for (const key of keys) expect(second.seen.outputs.get(key), key).toEqual(sums(4, 5, 6));
    expect(second.swarm.dispatcher.stats()[0]).toMatchObject({ runs: { ok: 80 }, acked: 80, keys: 40 });
  });

  it('dead-letters a message without a key at once, with the reason, and still runs keyed ones', async () => {
    const dir = tempDir();
    const { swarm, seen } = await start(dir);
    await swarm.queue.publish({ topic: 'counts.x', payload: encode({ by: 1 }), headers: { 'x-id': 'keyless' } });
    await swarm.queue.publish({ topic: 'counts.x', payload: encode({ by: 1 }), key: 'x'.repeat(400) });
    await swarm.queue.publish({ topic: 'counts.x', payload: encode({ by: 2 }), key: 'alice' });
    await swarm.dispatcher.whenIdle(50);
    expect(seen.dead).toHaveLength(2);
    const keyless = seen.dead.find((m) => m.headers['x-id'] === 'keyless')!;
    expect(keyless.headers[DEAD_LETTER_HEADERS.reason]).toBe(
      'counter: the message has no key (this agent has one instance per key)',
    );
    expect(keyless.headers[DEAD_LETTER_HEADERS.deliveryCount]).toBe('1');
    expect(decode(keyless.payload)).toEqual({ by: 1 });
    expect(seen.dead.find((m) => m.key !== undefined)!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/key is too long/);
    expect(seen.outputs.get('alice')).toEqual([2]);
    expect(swarm.dispatcher.stats()[0]).toMatchObject({ runs: { ok: 1 }, acked: 1, deadLettered: 2, keys: 1 });
  });

  it('a key whose stored state belongs to another module is invalid-module: dead-lettered at once (no retries), the error logged', async () => {
    const dir = tempDir();
    // `echo` keeps state too: its key `counter/bob` then holds echo's state, not counter's.
    const first = await start(dir, { module: 'echo' });
    await first.swarm.queue.publish({ topic: 'counts.x', payload: encode({ by: 1 }), key: 'bob' });
    await first.swarm.dispatcher.whenIdle(50);
    expect(first.swarm.dispatcher.stats()[0]).toMatchObject({ acked: 1, keys: 1 });
    await stop(first.swarm);

    const { swarm, seen } = await start(dir, { maxDeliveries: 2 });
    await swarm.queue.publish({ topic: 'counts.x', payload: encode({ by: 1 }), key: 'bob' });
    await swarm.queue.publish({ topic: 'counts.x', payload: encode({ by: 7 }), key: 'carol' });
    await swarm.dispatcher.whenIdle(50);
    expect(seen.outputs.get('carol')).toEqual([7]);
    const failed = seen.results.filter((r) => r.key === 'bob').map((r) => r.result);
    expect(failed).toHaveLength(1);
    for (const r of failed) {
      expect(r.status).toBe('invalid-module');
      expect(r.message).toMatch(/cannot load the instance for key "bob": SANDBOX_STATE_MISMATCH/);
    }
    expect(seen.dead).toHaveLength(1);
    expect(seen.dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(
      /^counter: invalid-module: cannot load the instance for key "bob": SANDBOX_STATE_MISMATCH/,
    );
    expect(seen.dead[0]!.headers[DEAD_LETTER_HEADERS.deliveryCount]).toBe('1');
    expect(
      seen.logs.some((l) => /counter: cannot load the instance for key "bob": SANDBOX_STATE_MISMATCH/.test(l)),
    ).toBe(true);
    expect(swarm.dispatcher.stats()[0]).toMatchObject({
      runs: { ok: 1, 'invalid-module': 1 },
      acked: 1,
      retried: 0,
      deadLettered: 1,
      keys: 1,
    });
  });

  it('messages of one new key arriving on two subscriptions at once share one load and take turns', async () => {
    const dir = tempDir();
    // Keyed loads that take a while, so the second subscription's message arrives while the first is loading.
    class SlowLoads extends Sandbox {
      loads = 0;
      override async load(source: string | Uint8Array, options: LoadOptions = {}): Promise<Agent> {
        if (options.key === undefined) return super.load(source, options);
        this.loads++;
        await new Promise((r) => setTimeout(r, 30));
        return super.load(source, options);
      }
    }
    const queue = await createQueue('memory');
    queues.push(queue);
    const sandbox = new SlowLoads({ workers: 2, hibernation: { store: join(dir, 'state'), maxResident: 8 } });
    const dispatcher = new Dispatcher({ queue, sandbox, deadLetter: 'dead-letter' });
    const watch = await watchRunsPerAgent(sandbox);
    try {
      // Two patterns are two subscriptions: the queue orders a key's messages within each, not across them.
      await dispatcher.addAgent({
        name: 'counter',
        module: requireBuilt(agentPath('counter')),
        limits: {},
        subscribe: ['a.>', 'b.>'],
        group: 'counter',
        concurrency: 1,
        instances: 'per-key',
        maxDeliveries: 3,
        backoffMs: 5,
      });
      const keys = Array.from({ length: 20 }, (_, k) => `new-${k}`);
      await queue.publishMany(
        keys.flatMap((key) => [
          { topic: 'a.x', payload: encode({ by: 1 }), key },
          { topic: 'b.x', payload: encode({ by: 1 }), key },
        ]),
      );
      await dispatcher.whenIdle(50);
      expect(sandbox.loads).toBe(20);
      expect(dispatcher.stats()[0]).toMatchObject({ runs: { ok: 40 }, acked: 40, retried: 0, keys: 20 });
      // One run at a time per key's instance, never two handed to it at once.
      expect(watch.peakPerAgent()).toBe(1);
    } finally {
      watch.restore();
      await dispatcher.stop();
      await sandbox.close();
    }
  });
});

/** Runs at once per Agent object, by wrapping the agents' runEncoded (shared prototype) for the test's duration. */
async function watchRunsPerAgent(sandbox: Sandbox): Promise<{ peakPerAgent: () => number; restore: () => void }> {
  const probe = await sandbox.load(requireBuilt(agentPath('echo')));
  const proto = Object.getPrototypeOf(probe) as { runEncoded: (b: Uint8Array) => Promise<unknown> };
  probe.close();
  const run = proto.runEncoded;
  const running = new Map<unknown, number>();
  let peak = 0;
  proto.runEncoded = async function (this: unknown, bytes: Uint8Array) {
    const n = (running.get(this) ?? 0) + 1;
    running.set(this, n);
    peak = Math.max(peak, n);
    try {
      return await run.call(this, bytes);
    } finally {
      running.set(this, running.get(this)! - 1);
    }
  };
  return { peakPerAgent: () => peak, restore: () => void (proto.runEncoded = run) };
}
