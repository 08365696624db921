// The AssemblyScript guest SDK for wasm-agent-sandbox (guest ABI v1): import from here, and re-export the ABI functions.
export { sandbox_abi_version, sandbox_alloc, sandbox_handle, handle, Handler, E_NO_HANDLER } from "./abi";
export { Input } from "./input";
export { Fields } from "./fields";
export { Kind, Reader } from "./msgpack/reader";
export { Writer } from "./msgpack/writer";
export { Value, MAX_DEPTH } from "./value";
export { output, outputRaw, emit, log, now, randomFill, randomBytes, randomU64 } from "./host";
export { equalsUtf8 } from "./utf8";
export { OK, E_BOUNDS, E_LIMIT, E_INVALID, E_UNAVAILABLE, E_HOST } from "./imports";
export { hostCall, grants, hostCallStatus, hostCallError } from "./call";
export {
  graphCall,
  graphCall0,
  graphStatus,
  graphErrorCode,
  graphErrorMessage,
  graphErrorData,
  graphFailure,
  GRAPH_OK,
  GRAPH_SERVICE_ERROR,
  GRAPH_BAD_RESPONSE,
} from "./graph";
