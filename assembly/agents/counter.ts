// Agent `counter`: keeps a count in a global, which persists between runs of the same instance; input `{by}` adds by (default 1).
import { handle, Input, Kind, log, output, Writer } from "../sdk";
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "../sdk";

let count: i64 = 0;
const out = new Writer(32);

handle((input: Input): i32 => {
  let by: i64 = 1;
  if (!input.isNil) {
    const fields = input.fields();
    if (fields === null) {
      log.error("counter: input must be nil or a map {by?: integer}");
      return 1;
    }
    const kind = fields.kindOf("by");
    if (kind != Kind.Invalid && kind != Kind.Nil) {
      if (!fields.isInteger("by")) {
        log.error("counter: `by` must be an integer");
        return 2;
      }
      by = fields.getInt("by");
    }
  }
  count += by;
  output(out.reset().map(1).key("count").int(count));
  return 0;
});
