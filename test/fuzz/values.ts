// Seeded random MessagePack documents (as the guest ABI speaks it) to mutate for reader fuzzing.

import { encode } from '../../runtime/codec.ts';

function value(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth <= 0 || r < 0.3) {
    const k = Math.floor(rnd() * 9);
    switch (k) {
      case 0:
        return null;
      case 1:
        return rnd() < 0.5;
      case 2:
        return Math.floor(rnd() * 300) - 150;
      case 3:
        return Math.floor(rnd() * 2 ** 40);
      case 4:
        return (rnd() - 0.5) * 1e6;
      case 5:
        return 'x'.repeat(Math.floor(rnd() * 40));
      case 6:
        return new Uint8Array(Math.floor(rnd() * 20)).fill(7);
      case 7:
        return BigInt.asIntN(64, BigInt(Math.floor(rnd() * 2 ** 53)) << 11n);
      default:
        return new Date(Math.floor(rnd() * 2 ** 41));
    }
  }
  const n = Math.floor(rnd() * (r < 0.9 ? 5 : 40));
  if (r < 0.65) return Array.from({ length: n }, () => value(rnd, depth - 1));
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value(rnd, depth - 1)]));
}

/** One encoded document of the seeded shape. */
export function messagePackDocument(rnd: () => number): Uint8Array {
  return encode(value(rnd, 4));
}
