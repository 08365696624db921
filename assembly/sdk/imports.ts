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

/** Status codes the imports return (docs/abi.md). */
export const OK: i32 = 0;
export const E_BOUNDS: i32 = -1;
export const E_LIMIT: i32 = -2;
export const E_INVALID: i32 = -3;
