// Cluster membership and ownership on a real nats-server: a node id held by a live process is refused to a second one, and a watch that stops delivering is noticed and opened again.
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { openBucket, type ClusterBucket } from '../../runtime/cluster/bucket.ts';
import { Membership, type MemberReport } from '../../runtime/cluster/membership.ts';
import { Ownership } from '../../runtime/cluster/ownership.ts';
import { isSandboxError } from '../../runtime/errors.ts';
import { serviceSlot, stop, type ServiceInfo, type ServiceKind, type ServiceSlot } from '../support/services.ts';
import { sleep } from '../support/wait-for.ts';

const provided = inject('queueServices') as Record<ServiceKind, ServiceSlot> | undefined;
const ownServers: ServiceInfo[] = [];
const slot = await serviceSlot('nats', provided, ownServers);
afterAll(async () => {
  await Promise.all(ownServers.map((info) => stop(info)));
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => {});
});

async function bucket(): Promise<ClusterBucket> {
  const b = await openBucket({
    servers: [`${slot.info!.host}:${slot.info!.port}`],
    bucket: `members-${Date.now().toString(36)}-${cleanups.length}`,
    replicas: 1,
    name: 'membership-test',
  });
  cleanups.push(async () => {
    await b.kv.destroy().catch(() => {});
    await b.nc.close();
  });
  return b;
}

const HEARTBEAT = 100;
const TIMEOUT = 600;
let starts = 0;

/** A member as a ClusterNode makes it: its own process identity (pid, start time) in every heartbeat. */
function member(b: ClusterBucket, node: string, kv: KV = b.kv, logs: string[] = [], timeout = TIMEOUT): Membership {
  const startedAt = Date.now() + starts++; // distinct per member, as two processes' would be
  const report = (): MemberReport => ({ node, pid: process.pid, startedAt, partitions: {} });
  const m = new Membership(
    kv,
    b.leader,
    node,
    HEARTBEAT,
    timeout,
    report,
    () => {},
    (line) => logs.push(line),
  );
  cleanups.push(() => m.stop());
  return m;
}

/** Waits for `predicate`, calling `tick` (what a node's timer does) every 20 ms; fails after `ms`. */
async function until(what: string, predicate: () => boolean, tick: () => void = () => {}, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    tick();
    await sleep(20);
  }
}

/**
 * The bucket, except that its first watch goes silent on `mute()`: no entry, no end, no error (what a watch did after a
 * nats-server died). Later watches are real.
 */
function silencing(kv: KV): { kv: KV; mute(): void } {
  let muted = false;
  let first = true;
  const proxy = Object.create(kv) as KV;
  proxy.watch = (async (opts: Parameters<KV['watch']>[0]) => {
    const real = await kv.watch(opts);
    if (!first) return real;
    first = false;
    let stopped!: () => void;
    const stop = new Promise<void>((resolve) => (stopped = resolve));
    return {
      stop() {
        real.stop();
        stopped();
      },
      async *[Symbol.asyncIterator]() {
        for await (const entry of real as AsyncIterable<KvWatchEntry>) {
          if (muted) break;
          yield entry;
        }
        await stop; // silent until stopped
      },
    };
  }) as unknown as KV['watch'];
  return { kv: proxy, mute: () => (muted = true) };
}

/** The bucket, with every watch entry delivered `ms` late (a loaded machine, a slow link). */
function delaying(kv: KV, ms: number): KV {
  const proxy = Object.create(kv) as KV;
  proxy.watch = (async (opts: Parameters<KV['watch']>[0]) => {
    const real = await kv.watch(opts);
    return {
      stop: () => real.stop(),
      async *[Symbol.asyncIterator]() {
        for await (const entry of real as AsyncIterable<KvWatchEntry>) {
          await sleep(ms);
          yield entry;
        }
      },
    };
  }) as unknown as KV['watch'];
  return proxy;
}

/** The bucket, with its puts failing while `fail(true)` (a stream electing a leader after a nats-server died). */
function failingPuts(kv: KV): { kv: KV; fail(on: boolean): void } {
  let failing = false;
  const proxy = Object.create(kv) as KV;
  proxy.put = (async (...args: Parameters<KV['put']>) => {
    if (failing) throw new Error('injected: JetStream is not available');
    return kv.put(...args);
  }) as KV['put'];
  return { kv: proxy, fail: (on) => (failing = on) };
}

describe.skipIf(slot.missing !== undefined)('cluster membership (NATS)', () => {
  it('takes no one for dead while its own heartbeats fail, and gives each a whole timeout once they are back', async () => {
    const b = await bucket();
    const puts = failingPuts(b.kv);
    const a = member(b, 'node-a', puts.kv, [], 3000);
    await a.start();
    const c = member(b, 'node-c', b.kv, [], 3000);
    await c.start();
    await until('a to see c', () => a.live().includes('node-c'));
    // NATS fails a's writes, and c falls silent (dead, or unable to write either): a cannot tell which.
    puts.fail(true);
    c.stop();
    await sleep(3000 + 1500); // past the member timeout
    expect(a.live()).toContain('node-c');
    const before = a.all().get('node-a')!.at;
    puts.fail(false);
    await until('a to see its own heartbeat again', () => a.all().get('node-a')!.at > before);
    // c's age counts from a's recovery: it still has (most of) a whole timeout to show up.
    expect(a.live()).toContain('node-c');
    await until('a to take c for dead a timeout later', () => !a.live().includes('node-c'));
  });

  it('has every live member in view once it has started, however late its watch delivers', async () => {
    const b = await bucket();
    const c = member(b, 'node-c');
    await c.start();
    const d = member(b, 'node-d');
    await d.start();
    // A node rebalances right after it starts: a member its watch has not delivered yet would look dead.
    const a = member(b, 'node-a', delaying(b.kv, 100));
    await a.start();
    expect(a.live()).toEqual(['node-a', 'node-c', 'node-d']);
  });

  it('refuses a second live process with the same node id, and gives the id to the next one once the first is gone', async () => {
    const b = await bucket();
    const first = member(b, 'node-a');
    await first.start();
    const second = member(b, 'node-a').start();
    await expect(second).rejects.toSatisfy((e) => isSandboxError(e, 'SANDBOX_CLUSTER_NODE_IN_USE'));
    await expect(second).rejects.toThrow(/node-a.*in use by another live process \(pid \d+/);
    // The first is killed (-9: no leave): its heartbeat ages out, and a restart with the same id gets it.
    first.stop();
    await sleep(5 * HEARTBEAT); // a heartbeat it had in flight lands before the next process looks
    const restarted = member(b, 'node-a');
    await restarted.start();
    expect(restarted.live()).toEqual(['node-a']);
    // A graceful leave frees the id at once.
    await restarted.leave();
    const next = member(b, 'node-a');
    await next.start();
    await until('the new heartbeat to be seen', () => next.all().has('node-a'));
  });

  it('gives a member that announced it is leaving no partitions, while it still counts as live', async () => {
    const b = await bucket();
    const a = member(b, 'node-a');
    await a.start();
    const c = member(b, 'node-c');
    await c.start();
    await until('a to see c', () => a.live().includes('node-c'));
    await c.announceLeaving();
    await until('a to see c leaving', () => !a.live().includes('node-c'));
    // Its partitions are still its own until it releases them: no one may take them from it.
    expect(a.isLive('node-c')).toBe(true);
  });

  it('lets one of two processes starting with the same id at once win, and refuses the other', async () => {
    const b = await bucket();
    const results = await Promise.allSettled([member(b, 'node-x').start(), member(b, 'node-x').start()]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected')!;
    expect(isSandboxError(refused.reason, 'SANDBOX_CLUSTER_NODE_IN_USE')).toBe(true);
  });

  it('reopens a membership watch that stopped delivering, and takes no one for dead meanwhile', async () => {
    const b = await bucket();
    const logs: string[] = [];
    const silent = silencing(b.kv);
    // A member timeout far above the stall check's 500 ms: c must not age out before a notices its watch is silent.
    const a = member(b, 'node-a', silent.kv, logs, 5000);
    await a.start();
    const c = member(b, 'node-c');
    await c.start();
    await until('a to see c', () => a.live().includes('node-c'));
    silent.mute();
    // c goes on heart-beating, and a new member joins: a sees neither through its silent watch. While its own
    // heartbeats do not come back, a does not judge c dead, and its check opens the watch again.
    const d = member(b, 'node-d');
    await d.start();
    let judgedDead = false;
    await until(
      'a to see d',
      () => a.live().includes('node-d'),
      () => {
        if (!a.live().includes('node-c')) judgedDead = true;
        a.checkWatch();
      },
    );
    expect(judgedDead).toBe(false);
    expect(a.watchReopened).toBeGreaterThanOrEqual(1);
    expect(logs.join('\n')).toMatch(/membership watch has not delivered this node's own heartbeat/);
  });

  it('reopens an ownership watch that missed an owner change the leader has', async () => {
    const b = await bucket();
    const silent = silencing(b.kv);
    const a = new Ownership(
      silent.kv,
      b.leader,
      'node-a',
      () => {},
      () => {},
    );
    const c = new Ownership(
      b.kv,
      b.leader,
      'node-c',
      () => {},
      () => {},
    );
    cleanups.push(
      () => a.stop(),
      () => c.stop(),
    );
    await a.start();
    await c.start();
    const epoch = await c.acquire(3, undefined);
    await until('a to see c take partition 3', () => a.current(3)?.node === 'node-c');
    silent.mute();
    expect(await c.release(3, epoch!)).toBe(true);
    // a's watch is silent: only the check against the leader finds the release; after the grace it reopens the watch.
    let reopened = false;
    const deadline = Date.now() + 20_000;
    while (!reopened) {
      if (Date.now() > deadline) throw new Error('the ownership watch was not reopened');
      reopened = await a.verify([3], 200);
      await sleep(50);
    }
    expect(a.current(3)!.node).toBe('');
    expect(a.current(3)!.epoch).toBeGreaterThan(epoch!);
    // The reopened watch delivers again: c takes the partition back, and a sees it without any check.
    await c.acquire(3, a.current(3));
    await until('a to see c take partition 3 again', () => a.current(3)?.node === 'node-c');
    expect(a.watchReopened).toBeGreaterThanOrEqual(1);
  });
});
