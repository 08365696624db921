// Kafka's keyed partitioner (murmur2, Java's toPositive, modulo the partition count): the Java client's own test vectors, and the queue backend using it.
import { describe, expect, it } from 'vitest';
import { kafkaPartitionOf, murmur2, toPositive } from '../../runtime/queue/murmur2.ts';
import { isSandboxError } from '../../runtime/errors.ts';

const utf8 = new TextEncoder();

describe('murmur2 (Kafka)', () => {
  it("matches the Java client's Utils.murmur2 on its published test vectors", () => {
    // From Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
    const vectors: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
      // Every remainder length (1 to 3 bytes left over, and none), as other ports check against Kafka's.
      ['1', -1993445489],
      ['12', 126087238],
      ['123', -267702483],
      ['1234', -1614185708],
      ['12345', -1188365604],
    ];
    for (const [key, hash] of vectors) expect([key, murmur2(utf8.encode(key))]).toEqual([key, hash]);
  });

  it('takes the sign bit off as Java does (not Math.abs), so a negative hash picks the same partition', () => {
    expect(toPositive(-973932308)).toBe(-973932308 & 0x7fffffff);
    expect(toPositive(-2147483648)).toBe(0);
    // "21" hashes negative: >>> 0 (what @platformatic/kafka's default partitioner does) would give another partition.
    expect(kafkaPartitionOf('21', 7)).toBe((-973932308 & 0x7fffffff) % 7);
    expect(kafkaPartitionOf('21', 7)).not.toBe((-973932308 >>> 0) % 7);
    expect(kafkaPartitionOf(utf8.encode('foobar'), 16)).toBe(kafkaPartitionOf('foobar', 16));
  });

  it('hashes the UTF-8 bytes of a string key', () => {
    expect(kafkaPartitionOf('é', 1000)).toBe(toPositive(murmur2(new Uint8Array([0xc3, 0xa9]))) % 1000);
  });

  it('refuses a partition count below 1 with a stable code', () => {
    let error: unknown;
    try {
      kafkaPartitionOf('a', 0);
    } catch (e) {
      error = e;
    }
    expect(isSandboxError(error) && error.code).toBe('SANDBOX_INVALID_OPTIONS');
  });
});
