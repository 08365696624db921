// The raw host imports of guest ABI v1 (module `sandbox`); agents use the typed wrappers in host.ts instead.

// @ts-ignore: decorator
@external("sandbox", "output")
export declare function sandbox_output(ptr: usize, len: i32): i32;

// @ts-ignore: decorator
@external("sandbox", "emit")
export declare function sandbox_emit(topicPtr: usize, topicLen: i32, payloadPtr: usize, payloadLen: i32): i32;

// @ts-ignore: decorator
@external("sandbox", "log")
export declare function sandbox_log(level: i32, ptr: usize, len: i32): i32;

// @ts-ignore: decorator
@external("sandbox", "now")
export declare function sandbox_now(): i64;

// @ts-ignore: decorator
@external("sandbox", "random")
export declare function sandbox_random(ptr: usize, len: i32): i32;

// Sends one MessagePack request {method, params} to the graph service; returns the response's byte length or a status.
// @ts-ignore: decorator
@external("sandbox", "graph")
export declare function sandbox_graph(reqPtr: usize, reqLen: i32): i32;

// Copies the response of the last successful `graph` call; `outLen` must be at least its length.
// @ts-ignore: decorator
@external("sandbox", "graph_result")
export declare function sandbox_graph_result(outPtr: usize, outLen: i32): i32;

/** Status codes the imports return (docs/abi.md). */
export const OK: i32 = 0;
export const E_BOUNDS: i32 = -1;
export const E_LIMIT: i32 = -2;
export const E_INVALID: i32 = -3;
/** `graph`: no graph service is configured for this sandbox. */
export const E_UNAVAILABLE: i32 = -4;

// Calls a host function granted to this agent by name with a MessagePack payload; returns the answer's byte length or a status.
// @ts-ignore: decorator
@external("sandbox", "call")
export declare function sandbox_call(namePtr: usize, nameLen: i32, payloadPtr: usize, payloadLen: i32): i32;

// Copies the answer (or, after E_HOST / E_UNAVAILABLE, the error text) of the last `call`; `outLen` must be at least its length.
// @ts-ignore: decorator
@external("sandbox", "call_result")
export declare function sandbox_call_result(outPtr: usize, outLen: i32): i32;

/** `call`: the host function threw or rejected; its message is readable through call_result. */
export const E_HOST: i32 = -5;
