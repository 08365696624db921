// The Kafka consumer group's assignor of cluster mode: each partition to the member whose node id rendezvous hashing picks, co-partitioned topics kept together, one owner per node id.
import { describe, expect, it } from 'vitest';
import type { ClusterMetadata, ExtendedGroupProtocolSubscription } from '@platformatic/kafka';
import { rendezvousAssigner } from '../../runtime/cluster/kafka-assignor.ts';
import { ownerOf } from '../../runtime/cluster/rendezvous.ts';

function metadata(topics: Record<string, number>): ClusterMetadata {
  return {
    id: 'test',
    brokers: new Map(),
    controllerId: 1,
    lastUpdate: 0,
    topics: new Map(
      Object.entries(topics).map(([name, count]) => [
        name,
        { id: name, partitionsCount: count, partitions: [], lastUpdate: 0 },
      ]),
    ),
  };
}

function members(nodes: Record<string, string>): Map<string, ExtendedGroupProtocolSubscription> {
  return new Map(
    Object.entries(nodes).map(([memberId, node]) => [memberId, { memberId, version: 1, metadata: Buffer.from(node) }]),
  );
}

/** memberId → topic → partitions, from the assignor's answer. */
function run(nodes: Record<string, string>, topics: Record<string, number>): Record<string, Record<string, number[]>> {
  const out: Record<string, Record<string, number[]>> = {};
  for (const { memberId, assignments } of rendezvousAssigner(
    Object.keys(nodes)[0]!,
    members(nodes),
    new Set(Object.keys(topics)),
    metadata(topics),
  )) {
    out[memberId] = Object.fromEntries([...assignments].map(([topic, a]) => [topic, a.partitions]));
  }
  return out;
}

describe('rendezvous assignor (Kafka cluster mode)', () => {
  it('gives each partition to the member of the node rendezvous hashing picks, every member answered', () => {
    const got = run({ m1: 'node-a', m2: 'node-b', m3: 'node-c' }, { orders: 16 });
    expect(Object.keys(got).sort()).toEqual(['m1', 'm2', 'm3']);
    const owner = new Map<number, string>();
    for (const [memberId, topics] of Object.entries(got))
      for (const p of topics.orders ?? []) owner.set(p, { m1: 'node-a', m2: 'node-b', m3: 'node-c' }[memberId]!);
    expect([...owner.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, p) => p));
    for (const [p, node] of owner) expect(node).toBe(ownerOf(p, ['node-a', 'node-b', 'node-c']));
  });

  it('moves only the leaving node share when a member leaves (member ids may change, node ids do not)', () => {
    const before = run({ m1: 'node-a', m2: 'node-b', m3: 'node-c' }, { orders: 32 });
    const after = run({ x1: 'node-a', x2: 'node-b' }, { orders: 32 });
    for (const p of before.m1!.orders ?? []) expect(after.x1!.orders).toContain(p);
    for (const p of before.m2!.orders ?? []) expect(after.x2!.orders).toContain(p);
  });

  it('keeps co-partitioned topics together: partition p of each topic goes to one member', () => {
    const got = run({ m1: 'node-a', m2: 'node-b' }, { orders: 8, payments: 8 });
    for (const topics of Object.values(got)) expect(topics.orders).toEqual(topics.payments);
  });

  it('gives a node id held by two members (a restarted node, its old session alive) to one of them only', () => {
    const got = run({ 'old-member': 'node-a', 'z-new-member': 'node-a', m2: 'node-b' }, { orders: 16 });
    expect(got['old-member']).toEqual({});
    expect((got['z-new-member']!.orders ?? []).length + (got.m2!.orders ?? []).length).toBe(16);
  });
});
