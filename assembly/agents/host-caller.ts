// Agent `host-caller`: calls the host functions its input names and answers what came back (tests and the benchmark).
import { grants, handle, hostCall, hostCallError, hostCallStatus, Input, log, output, Value, Writer } from "../sdk";
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "../sdk";

const out = new Writer(256);

// Input: {call: string, arg?: any, times?: int} calls `call` (`times` times, default 1) and outputs
// {status, result} after a success or {status, error} after a failure; {grants: true} outputs the grants.
handle((input: Input): i32 => {
  const value = input.value();
  if (value === null) return 1;
  if (value.get("grants") !== null) {
    const g = grants();
    if (g === null) return 2;
    output(g);
    return 0;
  }
  const name = value.get("call");
  if (name === null) {
    log.error("host-caller: input must be {call: string, arg?: any, times?: int} or {grants: true}");
    return 1;
  }
  const arg = value.get("arg");
  const timesValue = value.get("times");
  const times = timesValue === null ? 1 : <i32>timesValue.asInt(1);
  let result: Value | null = null;
  for (let i = 0; i < times; i++) {
    result = hostCall(name.asString(), arg);
    if (result === null) break;
  }
  const w = out.reset().map(2);
  w.key("status").int(hostCallStatus());
  if (result !== null) {
    w.key("result");
    result.encode(w);
  } else {
    w.key("error").str(hostCallError());
  }
  output(w);
  return 0;
});
