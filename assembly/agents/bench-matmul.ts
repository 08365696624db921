// Benchmark agent `bench-matmul`: multiplies two deterministic {n}×{n} f64 matrices; outputs {n, checksum} (the sum of the product).
import { handle, Input, log, output, Writer } from "../sdk";
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "../sdk";

// Three 512×512 matrices take 6 MiB, well inside the default 16 MiB memory limit.
const MAX_N: i64 = 512;
const out = new Writer(32);

handle((input: Input): i32 => {
  const fields = input.fields();
  const n64 = fields === null ? -1 : fields.getInt("n", -1);
  if (n64 < 0 || n64 > MAX_N) {
    log.error("bench-matmul: input must be {n: 0.." + MAX_N.toString() + "}");
    return 1;
  }
  const n = <i32>n64;
  const a = new StaticArray<f64>(n * n);
  const b = new StaticArray<f64>(n * n);
  const c = new StaticArray<f64>(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      unchecked((a[i * n + j] = <f64>((i * 7 + j * 3) % 17) / 8.0));
      unchecked((b[i * n + j] = <f64>((i * 5 + j * 11) % 13) / 4.0));
    }
  }
  // i-k-j order walks b and c row by row, which is what the cache wants.
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = unchecked(a[i * n + k]);
      for (let j = 0; j < n; j++) unchecked((c[i * n + j] += aik * b[k * n + j]));
    }
  }
  let checksum: f64 = 0;
  for (let i = 0, m = n * n; i < m; i++) checksum += unchecked(c[i]);
  output(out.reset().map(2).key("n").int(n).key("checksum").float(checksum));
  return 0;
});
