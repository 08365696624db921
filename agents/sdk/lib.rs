//! Guest SDK for wasm-agent-sandbox agents written in Rust: guest ABI v1 (docs/abi.md), MessagePack values and host calls.
//!
//! An agent is a `cdylib` for `wasm32-unknown-unknown` that names its handler with [`agent!`]:
//!
//! ```ignore
//! use sandbox_sdk::{agent, output, Error, Value};
//!
//! fn handle(input: Value) -> Result<(), Error> {
//!     let n: u32 = input.field("n")?;
//!     output(&Value::map([("double", Value::from(u64::from(n) * 2))]))?;
//!     Ok(())
//! }
//! agent!(handle);
//! ```
//!
//! The SDK uses `std` rather than `no_std` + `alloc`: on Rust 1.63 a `no_std` crate that allocates needs the
//! unstable `#[alloc_error_handler]`, and std's allocator (dlmalloc) is small and fast enough.

mod abi;
mod call;
mod error;
mod host;
pub mod log;
pub mod msgpack;
mod value;

pub use error::{Error, ERROR_FAILED, ERROR_HOST, ERROR_INVALID_INPUT};
pub use call::{grants, host_call, CallError};
pub use host::{emit, emit_raw, now_ms, output, output_raw, random_bytes, random_u64, HostError};
pub use value::{FromValue, Value};

/// The ABI version this SDK implements; `sandbox_abi_version` returns it.
pub const ABI_VERSION: i32 = 1;

/// Glue for [`agent!`]; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::abi::{alloc_input, handle_raw, handle_value, init};
}

/// Defines the guest ABI exports (`sandbox_abi_version`, `sandbox_alloc`, `sandbox_handle`) in the agent crate.
///
/// The exports must be defined in the agent crate itself: `#[no_mangle]` functions that live in an rlib are
/// not reliably exported from the final `cdylib`.
///
/// - `agent!(handler)` with `fn handler(input: Value) -> Result<(), Error>`: the input is decoded for you.
/// - `agent!(raw handler)` with `fn handler(input: &[u8]) -> Result<(), Error>`: the MessagePack bytes as sent.
/// - Either form may end with `, init = setup` (`fn setup() -> Result<(), Error>`): exported as `sandbox_init`,
///   which the host calls once before the first message. An `Err` is logged and traps, so the load fails.
///
/// An `Err` is logged at level `error` and its code is returned to the host (status `error`). A panic is
/// logged at level `error`, then the run traps (`panic=abort`).
#[macro_export]
macro_rules! agent {
    (raw $handler:path, init = $init:path) => {
        $crate::agent!(raw $handler);
        $crate::__agent_init!($init);
    };
    ($handler:path, init = $init:path) => {
        $crate::agent!($handler);
        $crate::__agent_init!($init);
    };
    (raw $handler:path) => {
        $crate::__agent_common!();
        #[no_mangle]
        pub extern "C" fn sandbox_handle(ptr: i32, len: i32) -> i32 {
            $crate::__private::handle_raw(ptr, len, $handler)
        }
    };
    ($handler:path) => {
        $crate::__agent_common!();
        #[no_mangle]
        pub extern "C" fn sandbox_handle(ptr: i32, len: i32) -> i32 {
            $crate::__private::handle_value(ptr, len, $handler)
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __agent_common {
    () => {
        #[no_mangle]
        pub extern "C" fn sandbox_abi_version() -> i32 {
            $crate::ABI_VERSION
        }
        #[no_mangle]
        pub extern "C" fn sandbox_alloc(len: i32) -> i32 {
            $crate::__private::alloc_input(len)
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __agent_init {
    ($init:path) => {
        #[no_mangle]
        pub extern "C" fn sandbox_init() {
            $crate::__private::init($init)
        }
    };
}
