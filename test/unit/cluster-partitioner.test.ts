// The cluster's partitioner (FNV-1a as nats-server's partition()) and rendezvous owner assignment: stable values, minimal movement.
import { describe, expect, it } from 'vitest';
import { checkPartitions, fnv1a32, partitionOf, partitionSubject } from '../../runtime/cluster/partitioner.ts';
import { assignment, ownerOf } from '../../runtime/cluster/rendezvous.ts';
import { isSandboxError } from '../../runtime/errors.ts';

const utf8 = new TextEncoder();

describe('partitioner', () => {
  it('is 32-bit FNV-1a (the published test vectors)', () => {
    expect(fnv1a32(utf8.encode(''))).toBe(0x811c9dc5);
    expect(fnv1a32(utf8.encode('a'))).toBe(0xe40c292c);
    expect(fnv1a32(utf8.encode('foobar'))).toBe(0xbf9cf968);
  });

  it('gives stable partitions (a change here moves every deployed key)', () => {
    const keys = ['alice', 'bob', 'user-42', 'é', ''];
    expect(keys.map((k) => partitionOf(k, 32))).toEqual(keys.map((k) => fnv1a32(utf8.encode(k)) % 32));
    expect(keys.map((k) => partitionOf(k, 32))).toMatchInlineSnapshot(`
      [
        7,
        20,
        11,
        1,
        5,
      ]
    `);
    expect(partitionSubject('sandbox', 7, 'orders.placed')).toBe('sandbox.$part.7.orders.placed');
  });

  it('spreads keys over the partitions', () => {
    const counts = new Array<number>(32).fill(0);
    for (let i = 0; i < 32_000; i++) counts[partitionOf(`key-${i}`, 32)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(Math.max(...counts)).toBeLessThan(1200);
  });

  it('refuses a partition count it cannot use', () => {
    for (const bad of [0, -1, 1.5, 5000, Number.NaN]) {
      expect(() => checkPartitions(bad)).toThrow(expect.objectContaining({ code: 'SANDBOX_INVALID_OPTIONS' }));
    }
    let error: unknown;
    try {
      checkPartitions(0);
    } catch (e) {
      error = e;
    }
    expect(isSandboxError(error, 'SANDBOX_INVALID_OPTIONS')).toBe(true);
  });
});

describe('rendezvous owners', () => {
  const members = ['node-a', 'node-b', 'node-c'];

  it('gives each partition one owner, the same whatever the order members are listed in', () => {
    const one = assignment(32, members);
    const other = assignment(32, [...members].reverse());
    expect(one).toEqual(other);
    expect(one.every((m) => m !== undefined && members.includes(m))).toBe(true);
    expect(one).toMatchInlineSnapshot(`
      [
        "node-a",
        "node-a",
        "node-b",
        "node-b",
        "node-a",
        "node-a",
        "node-b",
        "node-c",
        "node-b",
        "node-b",
        "node-b",
        "node-a",
        "node-a",
        "node-c",
        "node-a",
        "node-a",
        "node-a",
        "node-c",
        "node-a",
        "node-b",
        "node-b",
        "node-a",
        "node-b",
        "node-a",
        "node-c",
        "node-c",
        "node-c",
        "node-b",
        "node-a",
        "node-c",
        "node-a",
        "node-b",
      ]
    `);
  });

  it('moves only the leaving member’s partitions, and spreads them', () => {
    const before = assignment(64, members);
    const after = assignment(64, ['node-a', 'node-c']);
    for (let p = 0; p < 64; p++) {
      if (before[p] !== 'node-b') expect(after[p]).toBe(before[p]);
      else expect(after[p]).not.toBe('node-b');
    }
    const joined = assignment(64, [...members, 'node-d']);
    const moved = joined.filter((m, p) => m !== before[p]);
    expect(moved.every((m) => m === 'node-d')).toBe(true);
    expect(moved.length).toBeGreaterThan(5);
    expect(moved.length).toBeLessThan(30);
  });

  it('has no owner without members', () => {
    expect(ownerOf(3, [])).toBeUndefined();
  });
});
