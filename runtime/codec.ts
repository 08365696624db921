// MessagePack as the guest ABI speaks it: plain maps (no msgpackr record extension), 64-bit integers exact.
import { Packr, Unpackr } from 'msgpackr';

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, variableMapSize: true });
// 'auto' (numbers when exact, BigInt beyond 2^53) is supported at runtime but missing from msgpackr's types.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'bigint' });

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes exactly one MessagePack value that spans all of `bytes`; throws a RangeError on anything else. */
export function decode(bytes: Uint8Array): unknown {
  const end = skipValue(bytes, 0);
  if (end !== bytes.length) throw new RangeError(`MessagePack value ends at byte ${end} of ${bytes.length}`);
  return unpackChecked(bytes);
}

/**
 * msgpackr throws Error, TypeError or a stack overflow for what the structural walk lets through (an unknown or
 * malformed extension body, nesting deeper than the JS stack): callers get one error type whatever the bytes.
 */
function unpackChecked(bytes: Uint8Array): unknown {
  try {
    return unpackr.unpack(bytes);
  } catch (error) {
    throw new RangeError(`not decodable MessagePack: ${(error as Error).message}`, { cause: error });
  }
}

export function isMessagePack(bytes: Uint8Array): boolean {
  return checkMessagePack(bytes) === null;
}

/** Why `bytes` are not exactly one MessagePack value, or null when they are. */
export function checkMessagePack(bytes: Uint8Array): string | null {
  try {
    const end = skipValue(bytes, 0);
    return end === bytes.length ? null : `MessagePack value ends at byte ${end} of ${bytes.length}`;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Offsets where each of `count` consecutive MessagePack values starts, followed by the end of the last one. */
export function valueBoundaries(bytes: Uint8Array, start: number, count: number): number[] {
  const offsets = [start];
  let at = start;
  for (let i = 0; i < count; i++) offsets.push((at = skipValue(bytes, at)));
  return offsets;
}

/** Decodes bytes this process produced itself (no structural check first). */
export function decodeTrusted(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

/** Walks one value without building it: returns the offset after it, or throws where the bytes are not MessagePack. */
function skipValue(b: Uint8Array, at: number): number {
  let pos = at;
  // Containers push their element counts here instead of recursing per element.
  let pending = 1;
  while (pending > 0) {
    pending--;
    if (pos >= b.length) throw new RangeError('truncated MessagePack');
    const t = b[pos++]!;
    let skip = 0;
    if (t <= 0x7f || t >= 0xe0) skip = 0;
    else if (t <= 0x8f) pending += (t & 0x0f) * 2;
    else if (t <= 0x9f) pending += t & 0x0f;
    else if (t <= 0xbf) skip = t & 0x1f;
    else {
      switch (t) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break;
        case 0xc1:
          throw new RangeError('0xc1 is never used in MessagePack');
        case 0xc4:
        case 0xd9:
          skip = need(b, pos, 1) && b[pos]!;
          pos += 1;
          break;
        case 0xc5:
        case 0xda:
          skip = need(b, pos, 2) && (b[pos]! << 8) | b[pos + 1]!;
          pos += 2;
          break;
        case 0xc6:
        case 0xdb:
          skip = need(b, pos, 4) && u32(b, pos);
          pos += 4;
          break;
        case 0xc7:
          skip = (need(b, pos, 1) && b[pos]!) + 1;
          pos += 1;
          extType(b, pos);
          break;
        case 0xc8:
          skip = (need(b, pos, 2) && (b[pos]! << 8) | b[pos + 1]!) + 1;
          pos += 2;
          extType(b, pos);
          break;
        case 0xc9:
          skip = (need(b, pos, 4) && u32(b, pos)) + 1;
          pos += 4;
          extType(b, pos);
          break;
        case 0xca:
          skip = 4;
          break;
        case 0xcb:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xd4:
          skip = 2;
          extType(b, pos);
          break;
        case 0xd5:
          skip = 3;
          extType(b, pos);
          break;
        case 0xd6:
          skip = 5;
          extType(b, pos);
          break;
        case 0xd7:
          skip = 9;
          extType(b, pos);
          break;
        case 0xd8:
          skip = 17;
          extType(b, pos);
          break;
        case 0xdc:
          pending += need(b, pos, 2) && (b[pos]! << 8) | b[pos + 1]!;
          pos += 2;
          break;
        case 0xdd:
          pending += need(b, pos, 4) && u32(b, pos);
          pos += 4;
          break;
        case 0xde:
          pending += (need(b, pos, 2) && (b[pos]! << 8) | b[pos + 1]!) * 2;
          pos += 2;
          break;
        case 0xdf:
          pending += (need(b, pos, 4) && u32(b, pos)) * 2;
          pos += 4;
          break;
      }
    }
    pos += skip;
    if (pos > b.length) throw new RangeError('truncated MessagePack');
    // A container count larger than the bytes left cannot be honest; refuse before looping over it.
    if (pending > b.length - pos) throw new RangeError('truncated MessagePack');
  }
  return pos;
}

/**
 * The only extension the guest ABI has is the timestamp (type -1). msgpackr would turn others into host objects
 * chosen by the guest (Error, RegExp, Set, typed arrays, structured-clone references) or throw odd errors.
 */
function extType(b: Uint8Array, pos: number): void {
  need(b, pos, 1);
  if (b[pos] !== 0xff)
    throw new RangeError(
      `MessagePack extension type ${(b[pos]! << 24) >> 24} is not part of the guest ABI (only the timestamp, -1)`,
    );
}

function need(b: Uint8Array, pos: number, n: number): number {
  if (pos + n > b.length) throw new RangeError('truncated MessagePack');
  return 1;
}

function u32(b: Uint8Array, pos: number): number {
  return ((b[pos]! << 24) >>> 0) + ((b[pos + 1]! << 16) | (b[pos + 2]! << 8) | b[pos + 3]!);
}
