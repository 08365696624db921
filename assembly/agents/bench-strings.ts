// Benchmark agent `bench-strings`: {n} string builds and Map<string, i32> updates (allocation- and GC-heavy); outputs {n, distinct, checksum}.
import { handle, Input, log, output, Writer } from "../sdk";
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "../sdk";

const MAX_N: i64 = 100_000_000;
const KEYS: i32 = 997;
const out = new Writer(48);

handle((input: Input): i32 => {
  const fields = input.fields();
  const n = fields === null ? -1 : fields.getInt("n", -1);
  if (n < 0 || n > MAX_N) {
    log.error("bench-strings: input must be {n: 0.." + MAX_N.toString() + "}");
    return 1;
  }
  // A fresh map per run: everything built here is garbage once the run ends.
  const counts = new Map<string, i32>();
  let checksum: u32 = 0;
  for (let i: i32 = 0, end = <i32>n; i < end; i++) {
    const key = "key-" + (i % KEYS).toString();
    const seen = counts.has(key) ? counts.get(key) : 0;
    counts.set(key, seen + 1);
    const line = key + ":" + seen.toString();
    checksum = checksum * 31 + <u32>line.length + <u32>line.charCodeAt(line.length - 1);
  }
  output(out.reset().map(3).key("n").int(n).key("distinct").int(counts.size).key("checksum").uint(checksum));
  return 0;
});
