// Byte mutations for decoder fuzzing: truncations, bit flips, splices and random bytes, all seeded.

/** One mutated copy of `base` (or fresh random bytes); `rnd` decides which mutation and where. */
export function mutate(base: Uint8Array, rnd: () => number): Uint8Array {
  const at = (n: number) => Math.floor(rnd() * n);
  const r = rnd();
  if (r < 0.25 || base.length === 0) {
    // Truncated anywhere, the commonest damage.
    return base.slice(0, at(base.length + 1));
  }
  const out = base.slice();
  if (r < 0.55) {
    const flips = 1 + at(4);
    for (let i = 0; i < flips; i++) {
      const p = at(out.length);
      out[p] = (out[p] as number) ^ (1 << at(8));
    }
    return out;
  }
  if (r < 0.75) {
    // An interesting byte (LEB128 continuation, 0xff, a big length) written somewhere.
    const v = [0x00, 0x7f, 0x80, 0xff, 0xc1, 0xdd, 0xdf, 0xc9, 0x41, 0x0b, 0x02, 0x40][at(12)] as number;
    const n = 1 + at(5);
    const p = at(out.length);
    for (let i = 0; i < n && p + i < out.length; i++) out[p + i] = v;
    return out;
  }
  if (r < 0.9) {
    // A slice of itself inserted somewhere else (repeated sections, nested containers).
    const from = at(base.length);
    const len = 1 + at(Math.min(64, base.length - from));
    const p = at(base.length + 1);
    const res = new Uint8Array(base.length + len);
    res.set(base.subarray(0, p), 0);
    res.set(base.subarray(from, from + len), p);
    res.set(base.subarray(p), p + len);
    return res;
  }
  // Random bytes after the first few kept (the magic and version, or a container header).
  const keep = Math.min(base.length, at(9));
  const res = new Uint8Array(keep + at(200));
  res.set(base.subarray(0, keep));
  for (let i = keep; i < res.length; i++) res[i] = at(256);
  return res;
}
