// The fence in storage on a real nats-server: a stale writer's key-state or owner write is refused; and our partitioner agrees with the server's partition().
import { afterAll, describe, expect, inject, it } from 'vitest';
import { openBucket, type ClusterBucket } from '../../runtime/cluster/bucket.ts';
import { FencedWrite, KeyStateStore } from '../../runtime/cluster/key-state.ts';
import { Ownership } from '../../runtime/cluster/ownership.ts';
import { partitionOf } from '../../runtime/cluster/partitioner.ts';
import { isSandboxError } from '../../runtime/errors.ts';
import { serviceSlot, stop, type ServiceInfo, type ServiceKind, type ServiceSlot } from '../support/services.ts';

const provided = inject('queueServices') as Record<ServiceKind, ServiceSlot> | undefined;
const ownServers: ServiceInfo[] = [];
const slot = await serviceSlot('nats', provided, ownServers);
const buckets: ClusterBucket[] = [];
afterAll(async () => {
  for (const b of buckets) {
    await b.kv.destroy().catch(() => {});
    await b.nc.close();
  }
  await Promise.all(ownServers.map((info) => stop(info)));
});

async function bucket(): Promise<ClusterBucket> {
  const servers = [`${slot.info!.host}:${slot.info!.port}`];
  const b = await openBucket({
    servers,
    bucket: `fence-${Date.now().toString(36)}-${buckets.length}`,
    replicas: 1,
    name: 'fence-test',
  });
  buckets.push(b);
  return b;
}

describe.skipIf(slot.missing !== undefined)('cluster fence (NATS KV)', () => {
  it("refuses a stale owner's state write: the key's revision moved on since it read it", async () => {
    const b = await bucket();
    const oldOwner = new KeyStateStore(b.kv);
    const newOwner = new KeyStateStore(b.kv);
    const first = await oldOwner.write('counter', 'alice', new Uint8Array([1]), 10, 0);
    // Both read revision `first`; the new owner commits message 11, then the old one tries to commit its own 11.
    const seen = await oldOwner.read('counter', 'alice');
    expect(seen).toEqual({ image: new Uint8Array([1]), applied: 10, revision: first });
    const second = await newOwner.write('counter', 'alice', new Uint8Array([2]), 11, first);
    expect(second).toBeGreaterThan(first);
    const stale = oldOwner.write('counter', 'alice', new Uint8Array([9]), 11, first);
    await expect(stale).rejects.toBeInstanceOf(FencedWrite);
    await expect(stale).rejects.toSatisfy((e) => isSandboxError(e, 'SANDBOX_CLUSTER_FENCED'));
    // A second creator of a key that exists is refused too.
    await expect(oldOwner.write('counter', 'alice', new Uint8Array([9]), 11, 0)).rejects.toBeInstanceOf(FencedWrite);
    expect(await newOwner.read('counter', 'alice')).toEqual({
      image: new Uint8Array([2]),
      applied: 11,
      revision: second,
    });
  });

  it('makes the owner key revision the epoch: a stale epoch can neither take nor release the partition', async () => {
    const b = await bucket();
    const log = () => {};
    const a = new Ownership(b.kv, b.leader, 'node-a', () => {}, log);
    const c = new Ownership(b.kv, b.leader, 'node-c', () => {}, log);
    const epochA = await a.acquire(5, undefined);
    expect(epochA).toBeGreaterThan(0);
    // node-c saw no owner: its create is refused.
    expect(await c.acquire(5, undefined)).toBeUndefined();
    // node-c takes over from the epoch it read (node-a stopped heart-beating, say).
    const epochC = await c.acquire(5, { node: 'node-a', epoch: epochA! });
    expect(epochC).toBeGreaterThan(epochA!);
    // node-a wakes up: releasing or re-taking at its old epoch is refused.
    expect(await a.release(5, epochA!)).toBe(false);
    expect(await a.acquire(5, { node: 'node-a', epoch: epochA! })).toBeUndefined();
    expect(await a.refresh(5)).toEqual({ node: 'node-c', epoch: epochC });
    expect(await c.release(5, epochC!)).toBe(true);
    expect((await a.refresh(5))!.node).toBe('');
  });

  it("puts keys in the partitions nats-server's partition() transform computes", async (context) => {
    const b = await bucket();
    const version = b.nc.info?.version ?? '0.0.0';
    const [major, minor] = version.split('.').map(Number) as [number, number];
    if (major < 2 || (major === 2 && minor < 10)) context.skip(); // subject transforms on streams came in 2.10
    const name = `PARTS_${Date.now().toString(36)}`;
    await b.jsm.streams.add({
      name,
      subjects: [`${name}.in.*`],
      subject_transform: { src: `${name}.in.*`, dest: `${name}.p.{{partition(32,1)}}.{{wildcard(1)}}` },
    });
    try {
      const keys = ['alice', 'bob', 'user-42', 'order_7', 'x'];
      for (const key of keys) await b.js.publish(`${name}.in.${key}`, new Uint8Array(0));
      for (let seq = 1; seq <= keys.length; seq++) {
        const m = await b.jsm.streams.getMessage(name, { seq });
        const [, , partition, key] = m!.subject.split('.');
        expect(Number(partition)).toBe(partitionOf(key!, 32));
      }
    } finally {
      await b.jsm.streams.delete(name);
    }
  });
});
