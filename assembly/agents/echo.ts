// Agent `echo`: outputs its input unchanged (the input bytes already are the MessagePack the host wants back).
import { handle, Input, outputRaw } from "../sdk";
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "../sdk";

handle((input: Input): i32 => {
  outputRaw(input.ptr, input.len);
  return 0;
});
