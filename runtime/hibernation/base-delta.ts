// Moving a reused instance's memory between agents' states by writing only the bytes that differ from the module's base image.
//
// A fresh WebAssembly memory is pages the OS has not committed: a page costs RSS only once something writes it.
// Copying a whole base image into every woken instance committed all of its pages (a 64 KiB counter touches four
// 4 KiB pages of its own). So an instance's memory is described as the base plus a delta — the runs of bytes where
// it differs — and going from one agent's state to another's writes those runs back and the next agent's patches
// over them: work and committed pages in proportion to what agents changed, not to the memory's size.

/** [offset, length] pairs, in increasing offset order: where a memory differs from its module's base image. */
export type Delta = Uint32Array;

/** Memory is compared a block at a time where the delta is not known (one memcmp each). */
const BLOCK_BYTES = 4096;
const ZEROS = Buffer.alloc(BLOCK_BYTES);

/**
 * Makes `memory` equal to `base` (zeros past the base's end). With `known` (where the memory differs from the
 * base), only those runs are written; without it, each 4 KiB block is compared first and written only when it
 * differs, so a block that is zero in both is only read (reading an untouched page does not commit it).
 */
export function revertToBase(memory: Uint8Array, base: Uint8Array, known: Delta | null): void {
  if (known !== null) {
    for (let i = 0; i + 1 < known.length; i += 2) copyFromBase(memory, base, known[i]!, known[i + 1]!);
    return;
  }
  const mem = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  const ref = Buffer.from(base.buffer, base.byteOffset, base.byteLength);
  for (let block = 0; block < mem.length; block += BLOCK_BYTES) {
    const end = Math.min(block + BLOCK_BYTES, mem.length);
    if (end <= ref.length) {
      if (mem.compare(ref, block, end, block, end) !== 0) mem.set(ref.subarray(block, end), block);
    } else if (block >= ref.length) {
      if (mem.compare(ZEROS, 0, end - block, block, end) !== 0) mem.fill(0, block, end);
    } else copyFromBase(memory, base, block, end - block); // the block the base ends in
  }
}

/** Writes `from`'s bytes over the runs of `delta` (both memories as long as the runs reach). */
export function copyRuns(memory: Uint8Array, from: Uint8Array, delta: Delta): void {
  for (let i = 0; i + 1 < delta.length; i += 2) {
    const offset = delta[i]!;
    copyBytes(memory, offset, from, offset, delta[i + 1]!);
  }
}

/** Puts the base's bytes (zeros past its end) back over [offset, offset + length) of memory. */
function copyFromBase(memory: Uint8Array, base: Uint8Array, offset: number, length: number): void {
  const end = Math.min(offset + length, memory.length);
  const common = Math.min(end, base.length);
  if (common > offset) copyBytes(memory, offset, base, offset, common - offset);
  if (end > Math.max(offset, common)) memory.fill(0, Math.max(offset, common), end);
}

/**
 * Copies `length` bytes. Most runs are a few bytes long, and making a subarray to copy them costs more than the
 * copy: short ones go byte by byte.
 */
export function copyBytes(to: Uint8Array, at: number, from: Uint8Array, start: number, length: number): void {
  if (length > 64) {
    to.set(from.subarray(start, start + length), at);
    return;
  }
  for (let i = 0; i < length; i++) to[at + i] = from[start + i]!;
}
