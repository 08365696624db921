// Benchmark agent `bench-hash`: FNV-1a over {n} bytes (a 64 KiB pseudo-random block, repeated); outputs {n, checksum}.
import { handle, Input, log, output, Writer } from "../sdk";
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "../sdk";

const BLOCK: i32 = 64 * 1024;
const MAX_N: i64 = 0x7fffffff;
const out = new Writer(32);
const block = new StaticArray<u8>(BLOCK);

// The same bytes on every instance, so checksums are reproducible.
let seed: u32 = 0x12345678;
for (let i = 0; i < BLOCK; i++) {
  seed ^= seed << 13;
  seed ^= seed >> 17;
  seed ^= seed << 5;
  unchecked((block[i] = <u8>seed));
}

handle((input: Input): i32 => {
  const fields = input.fields();
  const n = fields === null ? -1 : fields.getInt("n", -1);
  if (n < 0 || n > MAX_N) {
    log.error("bench-hash: input must be {n: 0.." + MAX_N.toString() + "} (bytes to hash)");
    return 1;
  }
  let hash: u32 = 0x811c9dc5;
  const start = changetype<usize>(block);
  let remaining = <u32>n;
  while (remaining > 0) {
    const chunk = remaining < <u32>BLOCK ? remaining : <u32>BLOCK;
    for (let p = start, end = start + <usize>chunk; p < end; p++) {
      hash ^= <u32>load<u8>(p);
      hash *= 0x01000193;
    }
    remaining -= chunk;
  }
  output(out.reset().map(2).key("n").int(n).key("checksum").uint(hash));
  return 0;
});
