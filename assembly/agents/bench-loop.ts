// Benchmark agent `bench-loop`: {n} rounds of an integer xorshift loop; outputs {n, checksum} so the work cannot be skipped.
import { handle, Input, log, output, Writer } from "../sdk";
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "../sdk";

const MAX_N: i64 = 0x7fffffff;
const out = new Writer(32);

handle((input: Input): i32 => {
  const fields = input.fields();
  const n = fields === null ? -1 : fields.getInt("n", -1);
  if (n < 0 || n > MAX_N) {
    log.error("bench-loop: input must be {n: 0.." + MAX_N.toString() + "}");
    return 1;
  }
  let x: u32 = 0x9e3779b9;
  let checksum: u32 = 0;
  for (let i: u32 = 0, end = <u32>n; i < end; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    checksum += x ^ i;
  }
  output(out.reset().map(2).key("n").int(n).key("checksum").uint(checksum));
  return 0;
});
