// The stored form of a hibernated agent: differences from the initial image and globals, read back exactly.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isSandboxError } from '../../runtime/errors.ts';
import { applyState, encodeState, readStateImage } from '../../runtime/hibernation/state-image.ts';

function restored(
  image: Uint8Array,
  base: Uint8Array,
): { memory: Uint8Array; globals: (number | bigint)[]; hash: string } {
  const header = readStateImage(image);
  const memory = new Uint8Array(header.memoryBytes).fill(0xee); // garbage the restore must overwrite
  applyState(image, header.patchesAt, base, memory);
  return { memory, globals: header.globals, hash: header.moduleHash };
}

describe('state images', () => {
  const base = new Uint8Array(65536);
  for (let i = 0; i < base.length; i++) base[i] = (i * 7) & 0xff;

  it('stores only the bytes that differ from the base, and restores the memory exactly', () => {
    const memory = base.slice();
    memory[10] = 1;
    memory[5 * 256 + 3] = memory[5 * 256 + 3]! ^ 0xff;
    memory[65535] = memory[65535]! ^ 1;
    const image = encodeState('abc', memory, base, [1, -2.5, 123456789012345678n]);
    expect(image.length).toBeLessThanOrEqual(3 + 3 + 4 + 2 + 27 + 4 + 3 * 7);
    const back = restored(image, base);
    expect(back.hash).toBe('abc');
    expect(back.globals).toEqual([1, -2.5, 123456789012345678n]);
    expect(Buffer.compare(back.memory, memory)).toBe(0);
  });

  it('a run longer than a patch can say is split, and a page of changes restores exactly', () => {
    const memory = base.slice();
    for (let i = 100; i < 65536; i++) memory[i] = memory[i]! ^ 0x5a;
    const back = restored(encodeState('h', memory, base, []), base);
    expect(Buffer.compare(back.memory, memory)).toBe(0);
  });

  it('reads unaligned views byte by byte with the same result', () => {
    const memory = base.slice();
    memory[7] = memory[7]! ^ 1;
    memory[4099] = memory[4099]! ^ 1;
    const shiftedBase = new Uint8Array(base.length + 1).subarray(1);
    shiftedBase.set(base);
    const image = encodeState('h', memory, shiftedBase, []);
    expect(Buffer.compare(image, encodeState('h', memory, base, []))).toBe(0);
  });

  it('an unchanged memory is only a header', () => {
    const image = encodeState('h', base.slice(), base, []);
    expect(image.length).toBeLessThan(32);
    expect(Buffer.compare(restored(image, base).memory, base)).toBe(0);
  });

  it('a memory that grew past the base keeps its new pages, and zero pages cost nothing', () => {
    const memory = new Uint8Array(3 * 65536);
    memory.set(base);
    memory[2 * 65536 + 100] = 42;
    const image = encodeState('h', memory, base, [0n]);
    expect(image.length).toBeLessThan(40);
    const back = restored(image, base);
    expect(back.memory.length).toBe(3 * 65536);
    expect(Buffer.compare(back.memory, memory)).toBe(0);
  });

  it('names corrupt bytes instead of restoring garbage', () => {
    const image = encodeState('h', base.slice(), base, [1]);
    for (const bad of [new Uint8Array(0), image.subarray(0, 5), Uint8Array.of(9, 0, 0)]) {
      try {
        readStateImage(bad);
        expect.unreachable();
      } catch (error) {
        expect(isSandboxError(error, 'SANDBOX_STATE_CORRUPT')).toBe(true);
      }
    }
    const changed = base.slice();
    changed[0] = changed[0]! ^ 1;
    const truncated = encodeState('h', changed, base, []).subarray(0, 14);
    const header = readStateImage(truncated);
    expect(() => applyState(truncated, header.patchesAt, base, new Uint8Array(65536))).toThrow(/past the end/);
  });
  // Issue 12 item 8: encoding collected one JS number per differing byte first, 128 MB for a rewritten 16 MiB
  // memory. In a process whose JS heap is capped at 64 MB, that ran out of memory; runs built as bytes are found
  // need a few KiB of heap (the memory, the base and the image live in ArrayBuffers, outside the heap).
  it('encodes a fully rewritten 16 MiB memory within a 64 MB JS heap', () => {
    const module = path.join(
      path.dirname(fileURLToPath(import.meta.url)),
      '..',
      '..',
      'runtime',
      'hibernation',
      'state-image.ts',
    );
    const script = `
      const { encodeState, readStateImage, applyState } = await import(${JSON.stringify(module)});
      const size = 16 * 1024 * 1024;
      const base = new Uint8Array(size);
      const memory = new Uint8Array(size);
      for (let i = 0; i < size; i++) memory[i] = (i % 251) + 1;
      const image = encodeState('h', memory, base, []);
      const header = readStateImage(image);
      const back = new Uint8Array(header.memoryBytes);
      applyState(image, header.patchesAt, base, back);
      console.log(JSON.stringify({ bytes: image.length, same: Buffer.compare(back, memory) === 0 }));`;
    const child = spawnSync(
      process.execPath,
      ['--max-old-space-size=64', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    expect(child.status, child.stderr.slice(-500)).toBe(0);
    const out = JSON.parse(child.stdout.trim()) as { bytes: number; same: boolean };
    expect(out.same).toBe(true);
    // 256 patches of 65,535 bytes and one of 256: the image is the memory plus 6 bytes a patch.
    expect(out.bytes).toBeLessThan(16 * 1024 * 1024 + 257 * 6 + 64);
  }, 60_000);
});
