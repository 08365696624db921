//! The bodies of the guest ABI exports that `agent!` defines: the input buffer and running one message.
use crate::error::{Error, ERROR_INVALID_INPUT};
use crate::{log, msgpack, value::Value};

// Wasm guests are single-threaded and the host never re-enters `sandbox_handle`, so plain statics are sound here.
static mut INPUT: Vec<u8> = Vec::new();
static mut PANIC_HOOK_SET: bool = false;

/// `sandbox_alloc`: one input buffer, reused across runs so steady traffic allocates once.
pub fn alloc_input(len: i32) -> i32 {
    if len < 0 {
        return 0;
    }
    // Never hand out a zero-length allocation: its dangling pointer could be 0, which means "cannot allocate".
    let want = (len as usize).max(1);
    let buf = unsafe { &mut INPUT };
    buf.clear();
    if buf.capacity() < want {
        // Free the old buffer first so the allocator can reuse its space for the bigger one.
        *buf = Vec::new();
        if buf.try_reserve_exact(want).is_err() {
            return 0;
        }
    }
    buf.as_mut_ptr() as usize as i32
}

/// `sandbox_handle` for `agent!(raw handler)`.
pub fn handle_raw(ptr: i32, len: i32, handler: fn(&[u8]) -> Result<(), Error>) -> i32 {
    install_panic_hook();
    match input_bytes(ptr, len) {
        Ok(bytes) => finish(handler(bytes)),
        Err(e) => finish(Err(e)),
    }
}

/// `sandbox_handle` for `agent!(handler)`: decodes the MessagePack input first.
pub fn handle_value(ptr: i32, len: i32, handler: fn(Value) -> Result<(), Error>) -> i32 {
    install_panic_hook();
    let decoded = input_bytes(ptr, len).and_then(|bytes| {
        msgpack::decode(bytes).map_err(|e| Error::new(ERROR_INVALID_INPUT, format!("input is not valid MessagePack: {}", e)))
    });
    match decoded {
        Ok(value) => finish(handler(value)),
        Err(e) => finish(Err(e)),
    }
}

/// `sandbox_init`: its signature cannot carry an error code, so a failed setup logs and traps.
pub fn init(setup: fn() -> Result<(), Error>) {
    install_panic_hook();
    if let Err(e) = setup() {
        log::error(e.message());
        std::process::abort();
    }
}

fn input_bytes<'a>(ptr: i32, len: i32) -> Result<&'a [u8], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    // Address 0 is valid wasm memory but a null Rust pointer; `sandbox_alloc` never returns it.
    if len < 0 || ptr == 0 {
        return Err(Error::invalid_input(format!("sandbox_handle called with ptr={} len={}", ptr, len)));
    }
    Ok(unsafe { std::slice::from_raw_parts(ptr as u32 as usize as *const u8, len as u32 as usize) })
}

fn finish(result: Result<(), Error>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            log::error(e.message());
            e.code()
        }
    }
}

/// Panics log their message at level `error` before `panic=abort` traps, so the host can say what happened.
fn install_panic_hook() {
    unsafe {
        if PANIC_HOOK_SET {
            return;
        }
        PANIC_HOOK_SET = true;
    }
    std::panic::set_hook(Box::new(|info| log::error(&info.to_string())));
}
