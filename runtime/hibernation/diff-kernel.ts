// Which words of a 4 KiB memory block differ from the base image, found 16 bytes at a time by a small WebAssembly SIMD module.
//
// Writing a hibernating agent's state scans the blocks where its memory differs from the base (state-image.ts).
// In JavaScript that scan is a loop over 1,024 words per block, and it was most of a write: ~20 µs of the ~50 µs a
// counter's state cost. One v128 compare per 16 bytes does the same work in a fraction of that. The kernel is a
// host-side helper (it never sees agent code, and it is not metered); where WebAssembly or its SIMD is missing
// (`--jitless`, an old engine) `diffKernel()` is null and callers scan in JavaScript, with the same result.

/** diff-kernel.wat, compiled (jco `parse`); test/unit/diff-kernel.test.ts checks the two agree. */
const KERNEL_BASE64 =
  'AGFzbQEAAAABCQFgBH9/f38BfwMCAQAFAwEAAQcRAgZtZW1vcnkCAARzY2FuAAAKegF4AQN/AkADQCAEIAJPDQEgACAEav0ABAAgASAEav0ABAD9Uf1TBEAgBCEFA0AgACAFaigCACABIAVqKAIARwRAIAMgBkECdGogBUECdjYCACAGQQFqIQYLIAVBBGohBSAFIARBEGpJDQALCyAEQRBqIQQMAAsLIAYLAD0EbmFtZQIeAQAHAAFhAQFiAgVieXRlcwMDb3V0BAFpBQFqBgFuAxYBAAMABGRvbmUBBWNodW5rAwR3b3Jk';

export const KERNEL_BLOCK_BYTES = 4096;

// The kernel's memory: the differing word indices it writes, the block being compared (copied in), a block of
// zeros (memory past the base's end is compared with zeros), then the base image.
const OUT = 0;
const SCRATCH = OUT + KERNEL_BLOCK_BYTES;
const ZEROS = SCRATCH + KERNEL_BLOCK_BYTES;
const BASE = ZEROS + KERNEL_BLOCK_BYTES;
const PAGE = 65536;

type Scan = (a: number, b: number, bytes: number, out: number) => number;

export class DiffKernel {
  private bytes: Uint8Array;
  private words: Int32Array;
  /** The base image in the kernel's memory now (bases are per module and never change once made). */
  private base: Uint8Array | null = null;

  private constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly scan: Scan,
  ) {
    this.bytes = new Uint8Array(memory.buffer);
    this.words = new Int32Array(memory.buffer);
  }

  /** A kernel, or null when this runtime cannot compile it (no WebAssembly, or no SIMD). */
  static create(): DiffKernel | null {
    const wa = (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
    if (wa === undefined) return null;
    try {
      const instance = new wa.Instance(new wa.Module(Buffer.from(KERNEL_BASE64, 'base64')));
      const exports = instance.exports as { memory: WebAssembly.Memory; scan: Scan };
      return new DiffKernel(exports.memory, exports.scan);
    } catch {
      return null;
    }
  }

  /**
   * Finds the words of memory block [block, block + 4096) that differ from `base` (zeros past the base's end),
   * which must not end inside the block. Returns how many; their indices (in words, from the memory's start) are
   * `found[0..n)`, in increasing order.
   */
  differingWords(memory: Uint8Array, base: Uint8Array, block: number, found: Int32Array): number {
    const past = block >= base.length;
    if (!past) this.load(base);
    this.bytes.set(memory.subarray(block, block + KERNEL_BLOCK_BYTES), SCRATCH);
    const n = this.scan(SCRATCH, past ? ZEROS : BASE + block, KERNEL_BLOCK_BYTES, OUT);
    const first = block >>> 2;
    const words = this.words;
    for (let k = 0; k < n; k++) found[k] = first + words[k]!;
    return n;
  }

  /** Copies the base into the kernel's memory, unless it is there already. */
  private load(base: Uint8Array): void {
    if (this.base === base) return;
    const need = BASE + base.length;
    const have = this.memory.buffer.byteLength;
    if (need > have) {
      this.memory.grow(Math.ceil((need - have) / PAGE));
      this.bytes = new Uint8Array(this.memory.buffer);
      this.words = new Int32Array(this.memory.buffer);
    }
    this.bytes.set(base, BASE);
    this.base = base;
  }
}

let shared: DiffKernel | null | undefined;

/** This thread's kernel (made on first use), or null where it cannot run. */
export function diffKernel(): DiffKernel | null {
  if (shared === undefined) shared = process.env['SANDBOX_DIFF_KERNEL'] === 'off' ? null : DiffKernel.create();
  return shared;
}
