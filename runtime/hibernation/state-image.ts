// The bytes a hibernated agent is stored as: the memory chunks that differ from its module's initial image, plus globals.
//
// Layout (little-endian): u8 format, u16 module-hash length, the hash (UTF-8), u32 memory bytes, u16 global count,
// each global as u8 tag (0 number as f64, 1 bigint as i64) + 8 bytes, u32 changed-chunk count, the chunk indices
// (u32 each), then the chunks' bytes in that order. The base is the module's memory after its first initialisation
// (kept in the store, so every process decodes against the same bytes); a counter's state differs from it in a few
// chunks, so its stored state is about a kilobyte.
import { SandboxError } from '../errors.ts';

const FORMAT = 1;
/** Small enough that a counter's change costs little, large enough that the index stays short. */
export const CHUNK_BYTES = 256;
/** Memory is compared a block at a time first (one memcmp each), and chunk by chunk only inside blocks that differ. */
const BLOCK_BYTES = 4096;

export interface StateImage {
  /** Content hash of the module the state belongs to: a state never wakes in another module. */
  moduleHash: string;
  memoryBytes: number;
  globals: (number | bigint)[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes `memory` (the agent's whole memory) as its differences from `base` (the module's image, stored once per
 * module). Memory and base may differ in length: past the base's end, memory is compared with zeros.
 */
export function encodeState(moduleHash: string, memory: Uint8Array, base: Uint8Array, globals: (number | bigint)[]): Uint8Array {
  const chunks = changedChunks(memory, base);
  const hash = encoder.encode(moduleHash);
  const size = 1 + 2 + hash.length + 4 + 2 + globals.length * 9 + 4 + chunks.length * 4 + chunks.length * CHUNK_BYTES;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let p = 0;
  out[p++] = FORMAT;
  view.setUint16(p, hash.length, true);
  p += 2;
  out.set(hash, p);
  p += hash.length;
  view.setUint32(p, memory.length, true);
  p += 4;
  view.setUint16(p, globals.length, true);
  p += 2;
  for (const value of globals) {
    if (typeof value === 'bigint') {
      out[p] = 1;
      view.setBigInt64(p + 1, value, true);
    } else {
      out[p] = 0;
      view.setFloat64(p + 1, value, true);
    }
    p += 9;
  }
  view.setUint32(p, chunks.length, true);
  p += 4;
  for (const index of chunks) {
    view.setUint32(p, index, true);
    p += 4;
  }
  for (const index of chunks) {
    const start = index * CHUNK_BYTES;
    out.set(memory.subarray(start, start + CHUNK_BYTES), p);
    p += CHUNK_BYTES;
  }
  return out;
}

/** Reads the header: which module, how much memory, the globals. Throws SandboxError on bytes that are not a state. */
export function readStateImage(bytes: Uint8Array): StateImage & { chunksAt: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (n: number, p: number) => {
    if (p + n > bytes.length) throw corrupt(`it ends at byte ${bytes.length}`);
  };
  need(3, 0);
  if (bytes[0] !== FORMAT) throw corrupt(`format ${bytes[0]} is not ${FORMAT}`);
  const hashLength = view.getUint16(1, true);
  let p = 3;
  need(hashLength + 6, p);
  const moduleHash = decoder.decode(bytes.subarray(p, p + hashLength));
  p += hashLength;
  const memoryBytes = view.getUint32(p, true);
  p += 4;
  const count = view.getUint16(p, true);
  p += 2;
  need(count * 9 + 4, p);
  const globals: (number | bigint)[] = [];
  for (let i = 0; i < count; i++) {
    globals.push(bytes[p] === 1 ? view.getBigInt64(p + 1, true) : view.getFloat64(p + 1, true));
    p += 9;
  }
  return { moduleHash, memoryBytes, globals, chunksAt: p };
}

/** Writes the state into `memory` (already `memoryBytes` long): the base image, then the changed chunks over it. */
export function applyState(bytes: Uint8Array, chunksAt: number, base: Uint8Array, memory: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(chunksAt, true);
  let data = chunksAt + 4 + count * 4;
  if (data + count * CHUNK_BYTES > bytes.length) throw corrupt(`${count} chunks do not fit in ${bytes.length} bytes`);
  const common = Math.min(base.length, memory.length);
  memory.set(common === base.length ? base : base.subarray(0, common));
  if (memory.length > common) memory.fill(0, common);
  for (let i = 0; i < count; i++) {
    const start = view.getUint32(chunksAt + 4 + i * 4, true) * CHUNK_BYTES;
    if (start + CHUNK_BYTES > memory.length) throw corrupt(`chunk at ${start} lies past the memory's ${memory.length} bytes`);
    memory.set(bytes.subarray(data, data + CHUNK_BYTES), start);
    data += CHUNK_BYTES;
  }
}

/** Indices of the chunks of `memory` that differ from `base` (memory past the base's end counts against zeros). */
function changedChunks(memory: Uint8Array, base: Uint8Array): number[] {
  const chunks: number[] = [];
  const mem = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  const ref = Buffer.from(base.buffer, base.byteOffset, base.byteLength);
  const common = Math.min(mem.length, ref.length);
  for (let block = 0; block < mem.length; block += BLOCK_BYTES) {
    const blockEnd = Math.min(block + BLOCK_BYTES, mem.length);
    if (blockEnd <= common && mem.compare(ref, block, blockEnd, block, blockEnd) === 0) continue;
    for (let start = block; start < blockEnd; start += CHUNK_BYTES) {
      const end = start + CHUNK_BYTES;
      const same = end <= common ? mem.compare(ref, start, end, start, end) === 0 : start >= common ? isZero(memory, start, end) : false;
      if (!same) chunks.push(start / CHUNK_BYTES);
    }
  }
  return chunks;
}

function isZero(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

function corrupt(why: string): SandboxError {
  return new SandboxError('SANDBOX_STATE_CORRUPT', `a stored agent state cannot be read: ${why}`);
}
