// Kafka's partition of a keyed record: toPositive(murmur2(keyBytes)) % partitions, as the Java client's BuiltInPartitioner computes it, so our producers put a key where a Java producer would.
import { SandboxError } from '../errors.ts';

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const utf8 = new TextEncoder();

/**
 * MurmurHash2 (32 bits) with Kafka's seed, as a signed 32-bit integer exactly like Java's `Utils.murmur2`. Java's
 * int arithmetic wraps at 32 bits: Math.imul and `| 0` do the same here.
 */
export function murmur2(bytes: Uint8Array): number {
  const length = bytes.length;
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // The 1 to 3 bytes left over, highest first (Java's switch falls through: each case adds its byte and the lower ones).
  const left = length & 3;
  if (left >= 3) h ^= bytes[whole + 2]! << 16;
  if (left >= 2) h ^= bytes[whole + 1]! << 8;
  if (left >= 1) {
    h ^= bytes[whole]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** Java's `Utils.toPositive`: clears the sign bit (not Math.abs, which Integer.MIN_VALUE would defeat). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition a Java producer's default partitioner picks for a record with this key (UTF-8 for a string). */
export function kafkaPartitionOf(key: string | Uint8Array, partitions: number): number {
  if (!Number.isSafeInteger(partitions) || partitions < 1) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `partitions must be a positive integer, got ${String(partitions)}`,
    );
  }
  return toPositive(murmur2(typeof key === 'string' ? utf8.encode(key) : key)) % partitions;
}
