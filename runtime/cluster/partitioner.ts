// Which partition a message key belongs to: FNV-1a (32-bit) of the key's UTF-8 bytes modulo P, the hash nats-server's partition() subject transform uses.
import { SandboxError } from '../errors.ts';

/** Partitions of a deployment unless its `cluster.partitions` says otherwise; fixed for the deployment's life. */
export const DEFAULT_PARTITIONS = 32;
/** The most partitions a deployment may have (each is a consumer and an owner key). */
export const MAX_PARTITIONS = 4096;
/** Keyed messages of a clustered deployment live at `<prefix>.$part.<partition>.<topic>`. */
export const PARTITION_TOKEN = '$part';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const utf8 = new TextEncoder();

/** FNV-1a, 32 bits, as Go's hash/fnv New32a: what nats-server hashes a partition() key with. */
export function fnv1a32(bytes: Uint8Array): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  return h >>> 0;
}

export function checkPartitions(partitions: number): number {
  if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new SandboxError(
      'SANDBOX_INVALID_OPTIONS',
      `partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${String(partitions)}`,
    );
  }
  return partitions;
}

/** The partition of a message key: the same number nats-server's `{{partition(P,…)}}` gives for the same bytes. */
export function partitionOf(key: string, partitions: number): number {
  return fnv1a32(utf8.encode(key)) % partitions;
}

/** The subject a keyed message of `topic` is published on in a clustered deployment. */
export function partitionSubject(prefix: string, partition: number, topic: string): string {
  return `${prefix}.${PARTITION_TOKEN}.${partition}.${topic}`;
}

/** Every subject of one partition (what its owner consumes). */
export function partitionFilter(prefix: string, partition: number): string {
  return `${prefix}.${PARTITION_TOKEN}.${partition}.>`;
}
