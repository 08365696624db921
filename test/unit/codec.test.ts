// The MessagePack codec the ABI speaks: exact round trips, and strict refusal of anything that is not one value.
import { describe, expect, it } from 'vitest';
import { decode, encode, isMessagePack } from '../../runtime/codec.ts';

describe('codec', () => {
  it('round-trips maps as plain MessagePack maps (no record extension)', () => {
    const value = { a: 1, b: [true, null, 'x'], c: { d: -5, e: 1.5 } };
    const bytes = encode(value);
    expect(bytes[0]).toBe(0x83); // fixmap of 3
    expect(decode(bytes)).toEqual(value);
  });

  it('keeps 64-bit integers exact: numbers when safe, BigInt beyond 2^53', () => {
    expect(decode(encode({ n: 2n ** 60n }))).toEqual({ n: 2n ** 60n });
    expect(decode(encode({ n: 42 }))).toEqual({ n: 42 });
  });

  it.each([
    ['the never-used byte 0xc1', [0xc1]],
    ['a truncated array', [0x92, 0x01]],
    ['two values', [0x01, 0x02]],
    ['a truncated string', [0xa5, 0x41]],
    ['a map claiming more entries than bytes', [0xdf, 0xff, 0xff, 0xff, 0xff]],
    ['nothing', []],
  ])('rejects %s', (_name, bytes) => {
    expect(isMessagePack(new Uint8Array(bytes))).toBe(false);
    expect(() => decode(new Uint8Array(bytes))).toThrow(RangeError);
  });
});
