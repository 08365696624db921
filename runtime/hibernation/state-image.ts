// The bytes a hibernated agent is stored as: the runs of memory bytes that differ from its module's base image, plus globals.
//
// Layout (little-endian): u8 format, u16 module-hash length, the hash (UTF-8), u32 memory bytes, u16 global count,
// each global as u8 tag (0 number as f64, 1 bigint as i64) + 8 bytes, u32 patch count, then each patch as u32 offset,
// u16 length and its bytes. The base is the module's memory after its first initialisation (kept in the store, so
// every process decodes against the same bytes); a counter's memory differs from it in about a hundred bytes, so
// its stored state is a few hundred bytes, small enough for LMDB's leaf pages without compressing it.
import { SandboxError } from '../errors.ts';
import { copyBytes, revertToBase, type Delta } from './base-delta.ts';
import { diffKernel, KERNEL_BLOCK_BYTES, type DiffKernel } from './diff-kernel.ts';

const FORMAT = 2;
/** Memory is compared a block at a time (one memcmp each), then word by word inside blocks that differ. */
const BLOCK_BYTES = 4096;
/** Differing runs closer than this are stored as one patch: a patch header costs 6 bytes. */
const MERGE_GAP = 8;

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
export function encodeState(
  moduleHash: string,
  memory: Uint8Array,
  base: Uint8Array,
  globals: (number | bigint)[],
): Uint8Array {
  return encodeStateWithDelta(moduleHash, memory, base, globals).image;
}

/** Like encodeState, and also says where the memory differs from the base (the runs the image stores). */
export function encodeStateWithDelta(
  moduleHash: string,
  memory: Uint8Array,
  base: Uint8Array,
  globals: (number | bigint)[],
): { image: Uint8Array; delta: Delta } {
  const runs = findRuns(memory, base);
  const patches = runs.pairs;
  let patchBytes = 0;
  for (let i = 0; i < runs.length; i += 2) patchBytes += 6 + patches[i + 1]!;
  const hash = hashBytes(moduleHash);
  const out = new Uint8Array(1 + 2 + hash.length + 4 + 2 + globals.length * 9 + 4 + patchBytes);
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
  view.setUint32(p, runs.length / 2, true);
  p += 4;
  for (let i = 0; i < runs.length; i += 2) {
    const offset = patches[i]!;
    const length = patches[i + 1]!;
    view.setUint32(p, offset, true);
    view.setUint16(p + 4, length, true);
    copyBytes(out, p + 6, memory, offset, length);
    p += 6 + length;
  }
  return { image: out, delta: runs.pairs.slice(0, runs.length) };
}

/** The UTF-8 bytes of the last module hash encoded: a worker mostly encodes states of one module, over and over. */
let lastHash = '';
let lastHashBytes = new Uint8Array(0);
function hashBytes(moduleHash: string): Uint8Array {
  if (moduleHash !== lastHash) {
    lastHashBytes = encoder.encode(moduleHash);
    lastHash = moduleHash;
  }
  return lastHashBytes;
}

/** Reads the header: which module, how much memory, the globals. Throws SandboxError on bytes that are not a state. */
export function readStateImage(bytes: Uint8Array): StateImage & { patchesAt: number } {
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
  return { moduleHash, memoryBytes, globals, patchesAt: p };
}

/**
 * Writes the state into `memory` (already `memoryBytes` long): the base image, then the patches over it. `known`
 * says where the memory differs from the base now (the previous agent's delta, when the instance is reused), so
 * only those bytes are put back; without it, only the 4 KiB blocks that differ are (base-delta.ts). Returns the
 * state's own delta. Throws SandboxError SANDBOX_STATE_CORRUPT (the memory is then in no particular state).
 */
export function applyState(
  bytes: Uint8Array,
  patchesAt: number,
  base: Uint8Array,
  memory: Uint8Array,
  known: Delta | null = null,
): Delta {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (patchesAt + 4 > bytes.length) throw corrupt(`it ends at byte ${bytes.length}`);
  const count = view.getUint32(patchesAt, true);
  // (Checked before the delta is allocated from it: a damaged count must not ask for gigabytes.)
  if (count > (bytes.length - patchesAt - 4) / 6) throw corrupt(`its ${count} patches lie past the end`);
  revertToBase(memory, base, known);
  const delta = new Uint32Array(count * 2);
  let p = patchesAt + 4;
  for (let i = 0; i < count; i++) {
    if (p + 6 > bytes.length) throw corrupt(`patch ${i} of ${count} lies past the end`);
    const offset = view.getUint32(p, true);
    const length = view.getUint16(p + 4, true);
    if (p + 6 + length > bytes.length) throw corrupt(`patch ${i} of ${count} lies past the end`);
    if (offset + length > memory.length)
      throw corrupt(`a patch at ${offset} lies past the memory's ${memory.length} bytes`);
    copyBytes(memory, offset, bytes, p + 6, length);
    delta[2 * i] = offset;
    delta[2 * i + 1] = length;
    p += 6 + length;
  }
  return delta;
}

/**
 * Where `memory` differs from `base` (from zeros past its end), as encodeState stores it. `kernel` null scans in
 * JavaScript only (the same runs: a test compares the two).
 */
export function differingRuns(memory: Uint8Array, base: Uint8Array, kernel: DiffKernel | null = diffKernel()): Delta {
  const runs = findRuns(memory, base, kernel);
  return runs.pairs.slice(0, runs.length);
}

/**
 * The runs of bytes where `memory` differs from `base` (from zeros past its end), runs closer than MERGE_GAP merged
 * and none longer than a patch can say. One memcmp per 4 KiB block finds the blocks that differ; only those are
 * scanned, 16 bytes at a time by the SIMD kernel (diff-kernel.ts), or a 32-bit word at a time in JavaScript. Runs are built as bytes are found, never one JS number per
 * differing byte: a fully rewritten 16 MiB memory once made 128 MB of them.
 */
function findRuns(memory: Uint8Array, base: Uint8Array, kernel: DiffKernel | null = diffKernel()): Runs {
  const mem = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  const ref = Buffer.from(base.buffer, base.byteOffset, base.byteLength);
  const common = Math.min(mem.length, ref.length);
  const aligned = memory.byteOffset % 4 === 0 && base.byteOffset % 4 === 0;
  const m32 = aligned ? new Int32Array(memory.buffer, memory.byteOffset, memory.length >>> 2) : null;
  const b32 = aligned ? new Int32Array(base.buffer, base.byteOffset, base.length >>> 2) : null;
  // One Runs for every call: callers copy what they need out of it before anything else can run.
  const runs = scratch;
  runs.reset();
  for (let block = 0; block < mem.length; block += BLOCK_BYTES) {
    const blockEnd = Math.min(block + BLOCK_BYTES, mem.length);
    if (blockEnd <= common && mem.compare(ref, block, blockEnd, block, blockEnd) === 0) continue;
    // A whole block, inside the base or past its end: the kernel finds its differing words (diff-kernel.ts).
    if (kernel !== null && blockEnd - block === KERNEL_BLOCK_BYTES && (blockEnd <= common || block >= ref.length)) {
      const n = kernel.differingWords(memory, base, block, foundWords);
      for (let k = 0; k < n; k++) addWord(foundWords[k]! << 2, memory, base, runs);
      continue;
    }
    let i = block;
    if (m32 !== null && b32 !== null && blockEnd <= common) {
      scanWords(m32, b32, block >>> 2, blockEnd >>> 2, memory, base, runs);
      i = blockEnd & ~3;
    }
    for (; i < blockEnd; i++) if (memory[i] !== (i < common ? base[i] : 0)) runs.add(i);
  }
  runs.close();
  return runs;
}

/** [offset, length] pairs in a typed array that doubles as it fills: 8 bytes per run, outside the JS heap. */
class Runs {
  pairs = new Uint32Array(64);

  /** Empties it for another memory; a large array one memory needed is not kept. */
  reset(): void {
    if (this.pairs.length > 4096) this.pairs = new Uint32Array(64);
    this.length = 0;
    this.start = -1;
    this.last = -1;
  }

  /** Used entries of `pairs` (twice the number of runs). */
  length = 0;
  private start = -1;
  private last = -1;

  /** Adds a differing byte; offsets come in increasing order. */
  add(i: number): void {
    if (this.start >= 0 && i - this.last <= MERGE_GAP && i + 1 - this.start <= 0xffff) {
      this.last = i;
      return;
    }
    this.close();
    this.start = this.last = i;
  }

  /**
   * Adds the differing bytes first and last, and any between them (at most a word apart): what add() would do for
   * each, unless that would split a run at the length a patch can say; then returns false and the caller adds
   * them one by one.
   */
  span(first: number, last: number): boolean {
    if (this.start >= 0 && first - this.last <= MERGE_GAP) {
      if (last + 1 - this.start > 0xffff) return false;
      this.last = last;
      return true;
    }
    this.close();
    this.start = first;
    this.last = last;
    return true;
  }

  /** Ends the open run, if any. */
  close(): void {
    if (this.start < 0) return;
    if (this.length + 2 > this.pairs.length) {
      const grown = new Uint32Array(this.pairs.length * 2);
      grown.set(this.pairs);
      this.pairs = grown;
    }
    this.pairs[this.length++] = this.start;
    this.pairs[this.length++] = this.last + 1 - this.start;
    this.start = -1;
  }
}

const scratch = new Runs();

/** Typed arrays use the platform's byte order; the word scan reads byte positions from a word's bits on little-endian. */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Indices of the differing words of one block (BLOCK_BYTES / 4 at most), reused. */
const foundWords = new Int32Array(BLOCK_BYTES >>> 2);

/**
 * Adds the differing bytes of words [from, to), both arrays being that long. First a loop that only compares and
 * notes differing words (no call inside, so the compiler keeps the arrays' bounds out of it), then for each of those
 * its first and last differing bytes from the bits of their XOR (the bytes between are inside the run anyway,
 * MERGE_GAP being larger than a word).
 */
function scanWords(
  m32: Int32Array,
  b32: Int32Array,
  from: number,
  to: number,
  memory: Uint8Array,
  base: Uint8Array,
  runs: Runs,
): void {
  const found = foundWords;
  let n = 0;
  for (let w = from; w < to; w++) if (m32[w] !== b32[w]) found[n++] = w;
  for (let k = 0; k < n; k++) {
    const w = found[k]!;
    const b = w << 2;
    if (LITTLE_ENDIAN) {
      const diff = m32[w]! ^ b32[w]!;
      const first = b + ((31 - Math.clz32(diff & -diff)) >>> 3);
      const last = b + 3 - (Math.clz32(diff) >>> 3);
      if (runs.span(first, last)) continue;
    }
    for (let i = b; i < b + 4; i++) if (memory[i] !== base[i]) runs.add(i);
  }
}

/** Adds the differing bytes of the word at byte offset `b` (compared with zeros past the base's end). */
function addWord(b: number, memory: Uint8Array, base: Uint8Array, runs: Runs): void {
  let first = -1;
  let last = -1;
  for (let i = b; i < b + 4; i++) {
    if (memory[i] !== (i < base.length ? base[i] : 0)) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0 || runs.span(first, last)) return;
  for (let i = first; i <= last; i++) if (memory[i] !== (i < base.length ? base[i] : 0)) runs.add(i);
}

function corrupt(why: string): SandboxError {
  return new SandboxError('SANDBOX_STATE_CORRUPT', `a stored agent state cannot be read: ${why}`);
}
