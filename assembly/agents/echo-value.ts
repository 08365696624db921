// Agent `echo-value`: the SDK's self-check; decodes its input to a Value and encodes it back, and obeys $-directives.
import { emit, handle, Input, log, output, Value } from "../sdk";
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "../sdk";

// Directives (keys of a map input) exercise the host wrappers:
//   $log: string     log the string at level info
//   $emit: string    emit the whole input as an event on this topic
//   $fail: int       log `message` (if any) at level error and return this code
//   $abort: string   throw an Error with this message (the runtime's abort)
handle((input: Input): i32 => {
  const value = input.value();
  if (value === null) {
    log.error("echo-value: malformed MessagePack or nesting too deep");
    return 2;
  }
  const logLine = value.get("$log");
  if (logLine !== null) log.info(logLine.asString());
  const thrown = value.get("$abort");
  if (thrown !== null) throw new Error(thrown.asString());
  const fail = value.get("$fail");
  if (fail !== null) {
    const message = value.get("message");
    if (message !== null) log.error(message.asString());
    return <i32>fail.asInt(1);
  }
  const topic = value.get("$emit");
  if (topic !== null && emit(topic.asString(), value) != 0) return 3;
  output(value);
  return 0;
});
