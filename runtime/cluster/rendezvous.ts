// Who should own a partition: rendezvous (highest random weight) hashing over the live members, so a member joining or leaving moves only its share.
import { fnv1a32 } from './partitioner.ts';

const utf8 = new TextEncoder();

/** MurmurHash3's 32-bit finaliser: FNV alone mixes the last bytes poorly, and members differ only there. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The weight of `member` for `partition`; the member with the highest weight owns it. */
export function weight(member: string, partition: number): number {
  return mix(fnv1a32(utf8.encode(`${member}\u0000${partition}`)));
}

/** The member that should own `partition` (ties go to the smaller id), or undefined when there are none. */
export function ownerOf(partition: number, members: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const member of members) {
    const w = weight(member, partition);
    if (w > bestWeight || (w === bestWeight && best !== undefined && member < best)) {
      best = member;
      bestWeight = w;
    }
  }
  return best;
}

/** Every partition's intended owner, by partition number. */
export function assignment(partitions: number, members: readonly string[]): (string | undefined)[] {
  return Array.from({ length: partitions }, (_, p) => ownerOf(p, members));
}
